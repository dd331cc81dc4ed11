// The hot path's wire format, without dns2: a strict parser for the one shape stub resolvers
// send (a header, one question, at most an OPT) and an encoder for answers built from the zone.
// The parser accepts only what codec.ts would read the same way; anything else (several
// questions, another opcode, a response, pointers, odd bytes in labels, EDNS version > 0,
// trailing bytes) is left to codec.ts, which answers FORMERR/NOTIMP/BADVERS or drops it.
import { isIPv4, isIPv6 } from 'node:net';
import type { Response, WireRecord } from './codec.js';
import { TYPE } from './records.js';

const HEADER = 12;
const MAX_NAME = 255;
const MAX_LABEL = 63;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** What the parser read; one object is reused per call (the hot path does not allocate). */
export interface PlainQuestion {
  /** Offset just past QNAME (the question's type follows). */
  nameEnd: number;
  qtype: number;
  qclass: number;
  /** Whether the query carries an OPT record. */
  edns: boolean;
  /** The OPT's advertised UDP payload size (0 without OPT). */
  udpPayloadSize: number;
  /** FNV-1a of QNAME (ASCII letters folded to lower case), QTYPE and QCLASS. */
  hash: number;
}

export function newPlainQuestion(): PlainQuestion {
  return { nameEnd: 0, qtype: 0, qclass: 0, edns: false, udpPayloadSize: 0, hash: 0 };
}

/**
 * Reads a standard query of one question into `q`. Returns false (leaving `q` undefined in
 * part) for anything that is not exactly that; never throws and never reads past `msg`.
 */
export function parsePlainQuestion(msg: Uint8Array, q: PlainQuestion): boolean {
  const len = msg.length;
  if (len < HEADER + 6) return false;
  if ((msg[2] & 0xf8) !== 0) return false; // QR set or an opcode other than QUERY
  if (msg[4] !== 0 || msg[5] !== 1 || (msg[6] | msg[7] | msg[8] | msg[9] | msg[10]) !== 0 || msg[11] > 1) return false;
  let off = HEADER;
  let hash = FNV_OFFSET;
  for (;;) {
    if (off >= len) return false;
    const l = msg[off];
    if (l === 0) break;
    if (l > MAX_LABEL) return false; // pointers and reserved label types
    const end = off + 1 + l;
    if (end > len) return false;
    hash = Math.imul(hash ^ l, FNV_PRIME);
    for (let i = off + 1; i < end; i++) {
      const c = msg[i];
      // Printable ASCII only, no dot inside a label: what round-trips through a dotted name.
      if (c <= 0x20 || c >= 0x7f || c === 0x2e) return false;
      hash = Math.imul(hash ^ (c >= 0x41 && c <= 0x5a ? c | 0x20 : c), FNV_PRIME);
    }
    off = end;
  }
  if (off === HEADER) return false; // the root name
  const nameEnd = off + 1;
  if (nameEnd - HEADER > MAX_NAME || nameEnd + 4 > len) return false;
  let p = nameEnd + 4;
  let edns = false;
  let size = 0;
  if (msg[11] === 1) {
    // OPT: root owner, type 41, class = UDP payload size, TTL = ext-rcode/version/flags, RDATA.
    if (p + 11 > len || msg[p] !== 0 || msg[p + 1] !== 0 || msg[p + 2] !== TYPE.OPT) return false;
    if (msg[p + 6] !== 0) return false; // EDNS version > 0: BADVERS, from codec.ts
    size = (msg[p + 3] << 8) | msg[p + 4];
    const rdEnd = p + 11 + ((msg[p + 9] << 8) | msg[p + 10]);
    if (rdEnd !== len) return false;
    // The options must tile the RDATA exactly.
    for (p += 11; p < rdEnd; p += 4 + ((msg[p + 2] << 8) | msg[p + 3])) {
      if (p + 4 > rdEnd) return false;
    }
    if (p !== rdEnd) return false;
    edns = true;
  } else if (p !== len) {
    return false;
  }
  for (let i = off; i < nameEnd + 4; i++) hash = Math.imul(hash ^ msg[i], FNV_PRIME);
  q.hash = hash;
  q.nameEnd = nameEnd;
  q.qtype = (msg[nameEnd] << 8) | msg[nameEnd + 1];
  q.qclass = (msg[nameEnd + 2] << 8) | msg[nameEnd + 3];
  q.edns = edns;
  q.udpPayloadSize = size;
  return true;
}

/** The `hash` parsePlainQuestion gives, for a question in any message (QNAME ends at `nameEnd`). */
export function questionHash(msg: Uint8Array, nameEnd: number): number {
  let hash = FNV_OFFSET;
  for (let i = HEADER; i < nameEnd + 4; i++) {
    const c = msg[i];
    hash = Math.imul(hash ^ (i < nameEnd && c >= 0x41 && c <= 0x5a ? c | 0x20 : c), FNV_PRIME);
  }
  return hash;
}

/** QNAME of a parsed question as a dotted, lower-case name (no trailing dot). */
export function questionName(msg: Uint8Array, nameEnd: number): string {
  const parts: string[] = [];
  for (let off = HEADER; off < nameEnd - 1; off += 1 + msg[off]) {
    parts.push(String.fromCharCode(...msg.subarray(off + 1, off + 1 + msg[off])).toLowerCase());
  }
  return parts.join('.');
}

/** Writes a message into one growing buffer, compressing names against earlier ones (RFC 1035 §4.1.4). */
class Writer {
  buf = Buffer.alloc(512);
  len = 0;
  private readonly names = new Map<string, number>();

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    if (this.len + n > 0xffff) throw new RangeError('DNS message longer than 65535 octets');
    const next = Buffer.alloc(Math.min(0xffff, Math.max(this.buf.length * 2, this.len + n)));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v;
  }

  u16(v: number): void {
    this.room(2);
    this.buf.writeUInt16BE(v & 0xffff, this.len);
    this.len += 2;
  }

  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** A domain name; `compress` false still records it as a target for later names. */
  name(name: string, compress = true): void {
    const labels = name.split('.').filter((l) => l.length > 0);
    let octets = 1;
    for (const l of labels) {
      if (l.length > MAX_LABEL || !/^[\x21-\x7e]+$/.test(l)) throw new Error(`cannot encode the name "${name}"`);
      octets += 1 + l.length;
    }
    if (octets > MAX_NAME) throw new Error(`the name "${name}" is longer than ${MAX_NAME} octets`);
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels.slice(i).join('.').toLowerCase();
      const at = this.names.get(suffix);
      if (compress && at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.len < 0x4000 && at === undefined) this.names.set(suffix, this.len);
      this.u8(labels[i].length);
      this.bytes(Buffer.from(labels[i], 'latin1'));
    }
    this.u8(0);
  }

  /** Runs `body` as RDATA behind a 16-bit length. */
  rdata(body: () => void): void {
    const at = this.len;
    this.u16(0);
    body();
    this.buf.writeUInt16BE(this.len - at - 2, at);
  }

  done(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

function record(w: Writer, r: WireRecord): void {
  w.name(r.name);
  w.u16(r.type);
  w.u16(r.class);
  w.u32(r.ttl);
  const f = r as Record<string, unknown>;
  w.rdata(() => {
    switch (r.type) {
      case TYPE.A:
        if (typeof f.address !== 'string' || !isIPv4(f.address)) throw new Error(`bad A address ${String(f.address)}`);
        for (const o of f.address.split('.')) w.u8(Number(o));
        break;
      case TYPE.AAAA:
        w.bytes(ipv6Bytes(String(f.address)));
        break;
      case TYPE.NS:
        w.name(String(f.ns));
        break;
      case TYPE.CNAME:
      case TYPE.PTR:
        w.name(String(f.domain));
        break;
      case TYPE.TXT:
        for (const s of f.data as string[]) {
          const b = Buffer.from(s, 'utf8');
          if (b.length > 255) throw new Error('TXT string longer than 255 octets');
          w.u8(b.length);
          w.bytes(b);
        }
        break;
      case TYPE.SRV:
        w.u16(Number(f.priority));
        w.u16(Number(f.weight));
        w.u16(Number(f.port));
        w.name(String(f.target), false); // RFC 2782: the target is not compressed
        break;
      case TYPE.SOA:
        w.name(String(f.primary));
        w.name(String(f.admin));
        for (const k of ['serial', 'refresh', 'retry', 'expiration', 'minimum']) w.u32(Number(f[k]));
        break;
      default:
        throw new Error(`no encoder for record type ${r.type}`);
    }
  });
}

/** The 16 octets of an IPv6 address (`::` and a dotted IPv4 tail allowed). */
export function ipv6Bytes(ip: string): Buffer {
  if (!isIPv6(ip)) throw new Error(`bad AAAA address ${ip}`);
  let text = ip;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const o = dotted[1].split('.').map(Number);
    text = `${text.slice(0, -dotted[1].length)}${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/**
 * A response as bytes, the same message codec.ts builds with dns2 (names compressed, our OPT
 * last): whole, and truncated (TC, question and OPT only) for when the whole one is too big.
 */
export function encodeWire(r: Response): { whole: Buffer; truncated: Buffer } {
  const build = (withRecords: boolean): Buffer => {
    const w = new Writer();
    const additionals = withRecords ? r.additionals.filter((x) => x.type !== TYPE.OPT) : [];
    const answers = withRecords ? r.answers : [];
    const authorities = withRecords ? r.authorities : [];
    w.u16(r.id);
    w.u8(0x80 | (r.aa ? 0x04 : 0) | (r.tc || !withRecords ? 0x02 : 0) | (r.rd ? 0x01 : 0));
    w.u8(0x80 | (r.cd ? 0x10 : 0) | (r.rcode & 0xf));
    w.u16(r.question ? 1 : 0);
    w.u16(answers.length);
    w.u16(authorities.length);
    w.u16(additionals.length + (r.edns ? 1 : 0));
    if (r.question) {
      w.name(r.question.name);
      w.u16(r.question.type);
      w.u16(r.question.class);
    }
    for (const x of answers) record(w, x);
    for (const x of authorities) record(w, x);
    for (const x of additionals) record(w, x);
    if (r.edns) {
      w.u8(0);
      w.u16(TYPE.OPT);
      w.u16(r.edns.udpPayloadSize);
      w.u32(0);
      w.u16(0);
    }
    return w.done();
  };
  return { whole: build(true), truncated: build(false) };
}
