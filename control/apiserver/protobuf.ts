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

export const KUBE_PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf';

const MAGIC = [0x6b, 0x38, 0x73, 0x00];

const JSON_HINT =
  'send JSON or YAML instead, e.g. `kubectl create deployment web --image=nginx --dry-run=client -o yaml | kubectl apply -f -`';

function malformed(detail: string): ApiError {
  return errors.badRequest(`malformed protobuf request body: ${detail}; ${JSON_HINT}`);
}

// ---------------------------------------------------------------------------------------------
// Schema tables

type Scalar = 'string' | 'bytes' | 'int32' | 'int64' | 'bool';
type Special = 'time' | 'quantity' | 'intOrString';
type MapValue = 'string' | 'bytes' | 'quantity';

interface Field {
  name: string;
  type: Scalar | Special | { message: MessageSchema } | { map: MapValue };
  repeated?: boolean;
  /** A Go pointer field: present on the wire only when set, so a zero is meaningful. */
  keepZero?: boolean;
  /** An embedded Go struct (`json:",inline"`): its fields land in the parent object. */
  inline?: boolean;
}

type MessageSchema = Readonly<Record<number, Field>>;

const str = (name: string): Field => ({ name, type: 'string' });
const strs = (name: string): Field => ({ name, type: 'string', repeated: true });
const int32 = (name: string, keepZero = false): Field => ({ name, type: 'int32', keepZero });
const int64 = (name: string, keepZero = false): Field => ({ name, type: 'int64', keepZero });
const bool = (name: string, keepZero = false): Field => ({ name, type: 'bool', keepZero });
const msg = (name: string, message: MessageSchema, repeated = false): Field => ({ name, type: { message }, repeated });
const map = (name: string, value: MapValue): Field => ({ name, type: { map: value } });

// apimachinery pkg/apis/meta/v1
const OwnerReference: MessageSchema = {
  1: str('kind'),
  3: str('name'),
  4: str('uid'),
  5: str('apiVersion'),
  6: bool('controller', true),
  7: bool('blockOwnerDeletion', true),
};

const ObjectMeta: MessageSchema = {
  1: str('name'),
  2: str('generateName'),
  3: str('namespace'),
  5: str('uid'),
  6: str('resourceVersion'),
  7: int64('generation'),
  8: { name: 'creationTimestamp', type: 'time' },
  9: { name: 'deletionTimestamp', type: 'time' },
  10: int64('deletionGracePeriodSeconds', true),
  11: map('labels', 'string'),
  12: map('annotations', 'string'),
  13: msg('ownerReferences', OwnerReference, true),
  14: strs('finalizers'),
};

const LabelSelectorRequirement: MessageSchema = { 1: str('key'), 2: str('operator'), 3: strs('values') };
const LabelSelector: MessageSchema = {
  1: map('matchLabels', 'string'),
  2: msg('matchExpressions', LabelSelectorRequirement, true),
};

// k8s.io/api core/v1
const ContainerPort: MessageSchema = {
  1: str('name'),
  2: int32('hostPort'),
  3: int32('containerPort'),
  4: str('protocol'),
  5: str('hostIP'),
};
const EnvVar: MessageSchema = { 1: str('name'), 2: str('value') };
const ResourceRequirements: MessageSchema = { 1: map('limits', 'quantity'), 2: map('requests', 'quantity') };
const VolumeMount: MessageSchema = {
  1: str('name'),
  2: bool('readOnly'),
  3: str('mountPath'),
  4: str('subPath'),
  5: str('mountPropagation'),
  6: str('subPathExpr'),
};

const Container: MessageSchema = {
  1: str('name'),
  2: str('image'),
  3: strs('command'),
  4: strs('args'),
  5: str('workingDir'),
  6: msg('ports', ContainerPort, true),
  7: msg('env', EnvVar, true),
  8: msg('resources', ResourceRequirements),
  9: msg('volumeMounts', VolumeMount, true),
  13: str('terminationMessagePath'),
  14: str('imagePullPolicy'),
  16: bool('stdin'),
  17: bool('stdinOnce'),
  18: bool('tty'),
  20: str('terminationMessagePolicy'),
};

const LocalObjectReference: MessageSchema = { 1: str('name') };
const VolumeSource: MessageSchema = {
  1: msg('hostPath', { 1: str('path'), 2: str('type') }),
  2: msg('emptyDir', { 1: str('medium'), 2: { name: 'sizeLimit', type: 'quantity' } }),
  19: msg('configMap', {
    1: { name: 'localObjectReference', type: { message: LocalObjectReference }, inline: true },
    3: int32('defaultMode', true),
    4: bool('optional', true),
  }),
};
const Volume: MessageSchema = {
  1: str('name'),
  2: { name: 'volumeSource', type: { message: VolumeSource }, inline: true },
};

const Toleration: MessageSchema = {
  1: str('key'),
  2: str('operator'),
  3: str('value'),
  4: str('effect'),
  5: int64('tolerationSeconds', true),
};
const HostAlias: MessageSchema = { 1: str('ip'), 2: strs('hostnames') };

const PodSpec: MessageSchema = {
  1: msg('volumes', Volume, true),
  2: msg('containers', Container, true),
  3: str('restartPolicy'),
  4: int64('terminationGracePeriodSeconds', true),
  5: int64('activeDeadlineSeconds', true),
  6: str('dnsPolicy'),
  7: map('nodeSelector', 'string'),
  8: str('serviceAccountName'),
  9: str('serviceAccount'),
  10: str('nodeName'),
  11: bool('hostNetwork'),
  12: bool('hostPID'),
  13: bool('hostIPC'),
  15: msg('imagePullSecrets', LocalObjectReference, true),
  16: str('hostname'),
  17: str('subdomain'),
  19: str('schedulerName'),
  20: msg('initContainers', Container, true),
  21: bool('automountServiceAccountToken', true),
  22: msg('tolerations', Toleration, true),
  23: msg('hostAliases', HostAlias, true),
  24: str('priorityClassName'),
  25: int32('priority', true),
  27: bool('shareProcessNamespace', true),
  29: str('runtimeClassName'),
  30: bool('enableServiceLinks', true),
  31: str('preemptionPolicy'),
  35: bool('setHostnameAsFQDN', true),
};

const PodTemplateSpec: MessageSchema = { 1: msg('metadata', ObjectMeta), 2: msg('spec', PodSpec) };

const NamespaceCondition: MessageSchema = {
  1: str('type'),
  2: str('status'),
  4: { name: 'lastTransitionTime', type: 'time' },
  5: str('reason'),
  6: str('message'),
};
const Namespace: MessageSchema = {
  1: msg('metadata', ObjectMeta),
  2: msg('spec', { 1: strs('finalizers') }),
  3: msg('status', { 1: str('phase'), 2: msg('conditions', NamespaceCondition, true) }),
};

const ConfigMap: MessageSchema = {
  1: msg('metadata', ObjectMeta),
  2: map('data', 'string'),
  3: map('binaryData', 'bytes'),
  4: bool('immutable', true),
};

const Secret: MessageSchema = {
  1: msg('metadata', ObjectMeta),
  2: map('data', 'bytes'),
  3: str('type'),
  4: map('stringData', 'string'),
  5: bool('immutable', true),
};

const ServicePort: MessageSchema = {
  1: str('name'),
  2: str('protocol'),
  3: int32('port'),
  4: { name: 'targetPort', type: 'intOrString' },
  5: int32('nodePort'),
  6: str('appProtocol'),
};
const ServiceSpec: MessageSchema = {
  1: msg('ports', ServicePort, true),
  2: map('selector', 'string'),
  3: str('clusterIP'),
  4: str('type'),
  5: strs('externalIPs'),
  7: str('sessionAffinity'),
  8: str('loadBalancerIP'),
  9: strs('loadBalancerSourceRanges'),
  10: str('externalName'),
  11: str('externalTrafficPolicy'),
  12: int32('healthCheckNodePort'),
  13: bool('publishNotReadyAddresses'),
  17: str('ipFamilyPolicy'),
  18: strs('clusterIPs'),
  19: strs('ipFamilies'),
  20: bool('allocateLoadBalancerNodePorts', true),
  21: str('loadBalancerClass'),
  22: str('internalTrafficPolicy'),
};
const Service: MessageSchema = { 1: msg('metadata', ObjectMeta), 2: msg('spec', ServiceSpec) };

const Pod: MessageSchema = { 1: msg('metadata', ObjectMeta), 2: msg('spec', PodSpec) };

// k8s.io/api apps/v1
const DeploymentStrategy: MessageSchema = {
  1: str('type'),
  2: msg('rollingUpdate', {
    1: { name: 'maxUnavailable', type: 'intOrString', keepZero: true },
    2: { name: 'maxSurge', type: 'intOrString', keepZero: true },
  }),
};
const DeploymentSpec: MessageSchema = {
  1: int32('replicas', true),
  2: msg('selector', LabelSelector),
  3: msg('template', PodTemplateSpec),
  4: msg('strategy', DeploymentStrategy),
  5: int32('minReadySeconds'),
  6: int32('revisionHistoryLimit', true),
  7: bool('paused'),
  9: int32('progressDeadlineSeconds', true),
};
const Deployment: MessageSchema = { 1: msg('metadata', ObjectMeta), 2: msg('spec', DeploymentSpec) };

const ReplicaSetSpec: MessageSchema = {
  1: int32('replicas', true),
  2: msg('selector', LabelSelector),
  3: msg('template', PodTemplateSpec),
  4: int32('minReadySeconds'),
};
const ReplicaSet: MessageSchema = { 1: msg('metadata', ObjectMeta), 2: msg('spec', ReplicaSetSpec) };

// The Eviction that `kubectl drain` POSTs to pods/{name}/eviction (policy/v1 generated.proto, and
// DeleteOptions from apimachinery meta/v1).
const Preconditions: MessageSchema = { 1: str('uid'), 2: str('resourceVersion') };
const DeleteOptions: MessageSchema = {
  1: int64('gracePeriodSeconds', true),
  2: msg('preconditions', Preconditions),
  3: bool('orphanDependents', true),
  4: str('propagationPolicy'),
  5: strs('dryRun'),
};
const Eviction: MessageSchema = { 1: msg('metadata', ObjectMeta), 2: msg('deleteOptions', DeleteOptions) };

/** Keyed by `apiVersion/kind` as found in the envelope's typeMeta. */
const KINDS: Readonly<Record<string, MessageSchema>> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/Pod': Pod,
  'apps/v1/Deployment': Deployment,
  'apps/v1/ReplicaSet': ReplicaSet,
  'policy/v1/Eviction': Eviction,
  // client-go sends DeleteOptions under the resource's group version or meta.k8s.io's.
  'v1/DeleteOptions': DeleteOptions,
  'meta.k8s.io/v1/DeleteOptions': DeleteOptions,
  'apps/v1/DeleteOptions': DeleteOptions,
};

/** `apiVersion/kind` pairs this module can decode. */
export const PROTOBUF_KINDS: readonly string[] = Object.keys(KINDS);

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
