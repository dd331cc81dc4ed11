// Decodes the Kubernetes protobuf request bodies that `kubectl create namespace|configmap|secret
// generic|deployment|service …` send (KUBECTL.md §2.6), so those commands work without a JSON
// detour. Envelope: the magic bytes "k8s\0", then a runtime.Unknown message whose `raw` field
// holds the object's own message. Field numbers come from the upstream generated.proto files
// (k8s.io/api core/v1 and apps/v1, apimachinery meta/v1, runtime, util/intstr, api/resource).
//
// proto2 as Kubernetes uses it has no field presence for plain (non-pointer) Go fields: kubectl
// sends "", 0 and false explicitly. Those are dropped so defaulting and validation see what a JSON
// body would carry; pointer fields (replicas, immutable, …) are marked `keepZero` and kept as sent.
// Empty messages stay as `{}` (like `resources: {}` in JSON); status is not decoded.

import { ApiError, errors } from '../../api/errors.js';
import type { KubeObject } from '../../api/types.js';
import { KINDS, PROTOBUF_KINDS } from './protobuf-kinds.js';
import { int32, int64, msg, str, type Field, type MapValue, type MessageSchema } from './protobuf-schema.js';

export { PROTOBUF_KINDS };

export const KUBE_PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf';

const MAGIC = [0x6b, 0x38, 0x73, 0x00];

const JSON_HINT =
  'send JSON or YAML instead, e.g. `kubectl create deployment web --image=nginx --dry-run=client -o yaml | kubectl apply -f -`';

function malformed(detail: string): ApiError {
  return errors.badRequest(`malformed protobuf request body: ${detail}; ${JSON_HINT}`);
}

// runtime.Unknown, the envelope, and its runtime.TypeMeta (apiVersion 1, kind 2).
const Unknown: MessageSchema = {
  1: msg('typeMeta', { 1: str('apiVersion'), 2: str('kind') }),
  3: str('contentEncoding'),
  4: str('contentType'),
};

// ---------------------------------------------------------------------------------------------
// Wire reader: every read is bounded by the end of the enclosing message.

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH = 2;
const WIRE_FIXED32 = 5;

class Reader {
  pos: number;
  constructor(readonly buf: Uint8Array, start: number) {
    this.pos = start;
  }

  varint(end: number): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) throw malformed(`truncated varint at byte ${this.pos}`);
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
    throw malformed(`varint longer than 10 bytes at byte ${this.pos}`);
  }

  /** Returns the [start, end) of a length-delimited field after checking it fits. */
  span(end: number, field: number): [number, number] {
    const length = this.varint(end);
    const start = this.pos;
    if (length > BigInt(end - start)) {
      throw malformed(`field ${field} declares ${length} bytes at byte ${start} but only ${end - start} remain`);
    }
    this.pos = start + Number(length);
    return [start, this.pos];
  }

  skip(wire: number, end: number, field: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint(end);
        return;
      case WIRE_FIXED64:
      case WIRE_FIXED32: {
        const size = wire === WIRE_FIXED64 ? 8 : 4;
        if (end - this.pos < size) throw malformed(`truncated fixed${size * 8} field ${field} at byte ${this.pos}`);
        this.pos += size;
        return;
      }
      case WIRE_LENGTH:
        this.span(end, field);
        return;
      default:
        throw malformed(`unsupported wire type ${wire} for field ${field} at byte ${this.pos}`);
    }
  }
}

const utf8 = new TextDecoder('utf-8');

function base64(buf: Uint8Array, start: number, end: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('base64');
}

function rfc3339(seconds: bigint): string {
  const ms = Number(seconds) * 1000;
  const date = new Date(ms);
  if (!Number.isFinite(ms) || Number.isNaN(date.getTime())) throw malformed(`timestamp ${seconds} is out of range`);
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function expectWire(field: Field, no: number, wire: number, want: number): void {
  if (wire !== want) throw malformed(`field ${no} (${field.name}) has wire type ${wire}, expected ${want}`);
}

/** Decodes one field value; `undefined` means "zero value, leave the field out". */
function readField(r: Reader, end: number, no: number, wire: number, field: Field): unknown {
  const t = field.type;
  if (t === 'int32' || t === 'int64' || t === 'bool') {
    expectWire(field, no, wire, WIRE_VARINT);
    const v = r.varint(end);
    const value = t === 'bool' ? v !== 0n : Number(BigInt.asIntN(t === 'int32' ? 32 : 64, v));
    return value === 0 || value === false ? (field.keepZero ? value : undefined) : value;
  }

  expectWire(field, no, wire, WIRE_LENGTH);
  const [start, stop] = r.span(end, no);
  if (t === 'string') {
    const s = utf8.decode(r.buf.subarray(start, stop));
    return s === '' && !field.keepZero ? undefined : s;
  }
  if (t === 'bytes') return base64(r.buf, start, stop);
  if (t === 'quantity') return readQuantity(r.buf, start, stop);
  if (t === 'time') return readTime(r.buf, start, stop);
  if (t === 'intOrString') return readIntOrString(r.buf, start, stop, field.keepZero ?? false);
  if ('map' in t) return readMapEntry(r.buf, start, stop, t.map);
  return decodeMessage(r.buf, start, stop, t.message);
}

const QuantitySchema: MessageSchema = { 1: { name: 'string', type: 'string', keepZero: true } };
const IntOrStringSchema: MessageSchema = {
  1: int64('type', true),
  2: int32('intVal', true),
  3: { name: 'strVal', type: 'string', keepZero: true },
};

function readQuantity(buf: Uint8Array, start: number, end: number): string {
  const q = decodeMessage(buf, start, end, QuantitySchema);
  return typeof q.string === 'string' ? q.string : '';
}

function readTime(buf: Uint8Array, start: number, end: number): string | undefined {
  // metav1.Time marshals at second precision; a zero time is JSON `null`, i.e. unset.
  const r = new Reader(buf, start);
  let seconds = 0n;
  while (r.pos < end) {
    const tag = r.varint(end);
    const no = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (no === 1 && wire === WIRE_VARINT) seconds = BigInt.asIntN(64, r.varint(end));
    else r.skip(wire, end, no);
  }
  return seconds === 0n ? undefined : rfc3339(seconds);
}

function readIntOrString(buf: Uint8Array, start: number, end: number, keepZero: boolean): number | string | undefined {
  const v = decodeMessage(buf, start, end, IntOrStringSchema);
  const value = v.type === 1 ? (typeof v.strVal === 'string' ? v.strVal : '') : typeof v.intVal === 'number' ? v.intVal : 0;
  return (value === 0 || value === '') && !keepZero ? undefined : value;
}

function readMapEntry(buf: Uint8Array, start: number, end: number, valueType: MapValue): [string, string] {
  const r = new Reader(buf, start);
  let key = '';
  let value = '';
  while (r.pos < end) {
    const tag = r.varint(end);
    const no = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if ((no === 1 || no === 2) && wire === WIRE_LENGTH) {
      const [s, e] = r.span(end, no);
      if (no === 1) key = utf8.decode(buf.subarray(s, e));
      else if (valueType === 'bytes') value = base64(buf, s, e);
      else if (valueType === 'quantity') value = readQuantity(buf, s, e);
      else value = utf8.decode(buf.subarray(s, e));
    } else {
      r.skip(wire, end, no);
    }
  }
  return [key, value];
}

function decodeMessage(buf: Uint8Array, start: number, end: number, schema: MessageSchema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const r = new Reader(buf, start);
  while (r.pos < end) {
    const tag = r.varint(end);
    const no = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (no === 0) throw malformed(`field number 0 at byte ${r.pos}`);
    const field = Object.hasOwn(schema, no) ? schema[no] : undefined;
    if (!field) {
      r.skip(wire, end, no);
      continue;
    }
    const value = readField(r, end, no, wire, field);
    const t = field.type;
    if (typeof t === 'object' && 'map' in t) {
      const [k, v] = value as [string, string];
      const entries = (out[field.name] ??= {}) as Record<string, string>;
      // Own data property even for a "__proto__" key (a plain assignment would drop it).
      Object.defineProperty(entries, k, { value: v, writable: true, enumerable: true, configurable: true });
    } else if (field.inline) {
      Object.assign(out, value as Record<string, unknown>);
    } else if (field.repeated) {
      // A repeated element is kept even when it is a zero value (e.g. `args: [""]`).
      const list = (out[field.name] ??= []) as unknown[];
      list.push(value === undefined ? zeroOf(field) : value);
    } else if (value === undefined) {
      delete out[field.name];
    } else {
      out[field.name] = value;
    }
  }
  return out;
}

function zeroOf(field: Field): unknown {
  switch (field.type) {
    case 'string':
    case 'bytes':
    case 'quantity':
      return '';
    case 'int32':
    case 'int64':
      return 0;
    case 'bool':
      return false;
    default:
      return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Envelope

function readEnvelope(body: Uint8Array): { apiVersion: string; kind: string; raw: [number, number] | undefined; contentEncoding: string; contentType: string } {
  const r = new Reader(body, MAGIC.length);
  const end = body.length;
  let raw: [number, number] | undefined;
  const meta: Record<string, unknown> = {};
  while (r.pos < end) {
    const tag = r.varint(end);
    const no = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (no === 2 && wire === WIRE_LENGTH) {
      raw = r.span(end, no);
    } else if (Object.hasOwn(Unknown, no)) {
      const value = readField(r, end, no, wire, Unknown[no]);
      if (value !== undefined) meta[Unknown[no].name] = value;
    } else {
      r.skip(wire, end, no);
    }
  }
  const typeMeta = (meta.typeMeta ?? {}) as Record<string, unknown>;
  return {
    apiVersion: typeof typeMeta.apiVersion === 'string' ? typeMeta.apiVersion : '',
    kind: typeof typeMeta.kind === 'string' ? typeMeta.kind : '',
    raw,
    contentEncoding: typeof meta.contentEncoding === 'string' ? meta.contentEncoding : '',
    contentType: typeof meta.contentType === 'string' ? meta.contentType : '',
  };
}

/**
 * Decodes a `application/vnd.kubernetes.protobuf` request body into the JSON shape the API
 * handlers use. Throws a 400 ApiError for a body that is not a well-formed envelope and a 415
 * for a kind it has no schema for; both say to send JSON or YAML instead.
 */
export function decodeKubeProtobuf(body: Uint8Array): KubeObject {
  if (body.length < MAGIC.length || MAGIC.some((b, i) => body[i] !== b)) {
    throw errors.badRequest(
      `the request body is not a Kubernetes protobuf envelope (it must start with the bytes 6b 38 73 00, "k8s\\0"); ${JSON_HINT}`,
    );
  }
  const envelope = readEnvelope(body);
  const { apiVersion, kind } = envelope;
  if (!kind || !apiVersion) throw malformed('the envelope names no apiVersion and kind');
  if (envelope.contentEncoding !== '' || (envelope.contentType !== '' && envelope.contentType !== KUBE_PROTOBUF_MEDIA_TYPE)) {
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `protobuf bodies with contentEncoding "${envelope.contentEncoding}" and contentType "${envelope.contentType}" are not supported; ${JSON_HINT}`,
    );
  }
  const schema = Object.hasOwn(KINDS, `${apiVersion}/${kind}`) ? KINDS[`${apiVersion}/${kind}`] : undefined;
  if (!schema) {
    const known = PROTOBUF_KINDS.map((k) => k.slice(k.lastIndexOf('/') + 1)).join(', ');
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `tugboat decodes protobuf bodies only for ${known}, not ${apiVersion} ${kind}; ${JSON_HINT}`,
      { kind },
    );
  }
  if (!envelope.raw) throw malformed(`the envelope for ${apiVersion} ${kind} carries no object (field 2 "raw" is missing)`);

  const decoded = decodeMessage(body, envelope.raw[0], envelope.raw[1], schema);
  const metadata = (decoded.metadata ?? {}) as KubeObject['metadata'];
  return { apiVersion, kind, ...decoded, metadata };
}
