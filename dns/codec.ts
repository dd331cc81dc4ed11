// The wire format, through dns2 3.1.1 (pinned: 3.0.0 stalls on malformed packets). Everything
// that touches untrusted bytes goes through here and never throws: a header we can read but a
// body we cannot gives FORMERR, anything less is dropped.
import { Packet } from 'dns2';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;
export const RCODE_NAME: Record<number, string> = Object.fromEntries(Object.entries(RCODE).map(([k, v]) => [v, k]));

/** A resource record as dns2 reads and writes it (type-specific fields alongside). */
export interface WireRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  [field: string]: unknown;
}

export interface Query {
  id: number;
  rd: number;
  cd: number;
  name: string;
  type: number;
  class: number;
  /** The client's EDNS0 OPT, if any. */
  edns?: { udpPayloadSize: number; version: number; doFlag: boolean };
}

export type DecodeResult =
  | { kind: 'query'; query: Query }
  | { kind: 'error'; id: number; rd: number; rcode: number }
  | { kind: 'drop' };

const HEADER = 12;

/** Decode a query: never throws. */
export function decodeQuery(msg: Buffer): DecodeResult {
  if (msg.length < HEADER) return { kind: 'drop' };
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000) return { kind: 'drop' }; // a response: answering it invites loops
  const rd = (flags >> 8) & 1;
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) return { kind: 'error', id, rd, rcode: RCODE.NOTIMP };
  const qd = msg.readUInt16BE(4), an = msg.readUInt16BE(6), ns = msg.readUInt16BE(8), ar = msg.readUInt16BE(10);
  // A standard query has one question and at most OPT (+ TSIG) in additional; refuse to walk
  // anything else, so huge counts cost nothing.
  if (qd !== 1 || an !== 0 || ns !== 0 || ar > 2) return { kind: 'error', id, rd, rcode: RCODE.FORMERR };
  let packet: InstanceType<typeof Packet>;
  try {
    packet = Packet.parse(msg);
  } catch {
    return { kind: 'error', id, rd, rcode: RCODE.FORMERR };
  }
  const q = packet.questions[0] as { name?: unknown; type?: unknown; class?: unknown } | undefined;
  if (packet.errors.length > 0 || !q || typeof q.name !== 'string' || typeof q.type !== 'number' || typeof q.class !== 'number') {
    return { kind: 'error', id, rd, rcode: RCODE.FORMERR };
  }
  // A label holding a dot cannot round-trip through a dotted name string.
  if (!nameRoundTrips(msg, q.name)) return { kind: 'error', id, rd, rcode: RCODE.FORMERR };
  const query: Query = { id, rd, cd: (flags >> 4) & 1, name: q.name, type: q.type, class: q.class };
  const opts = (packet.additionals as unknown as WireRecord[]).filter((r) => r && r.type === 41);
  if (opts.length > 1) return { kind: 'error', id, rd, rcode: RCODE.FORMERR };
  if (opts.length === 1) {
    const o = opts[0];
    query.edns = { udpPayloadSize: o.class, version: Number(o.version ?? 0), doFlag: Boolean(o.doFlag) };
  }
  return { kind: 'query', query };
}

/** The question name in wire form starts right after the header; check each label is dot-free. */
function nameRoundTrips(msg: Buffer, name: string): boolean {
  let off = HEADER;
  let labels = 0;
  while (off < msg.length) {
    const len = msg[off];
    if (len === 0) break;
    if (len & 0xc0) return false; // a pointer in the question is legal but never sent by stubs
    const label = msg.subarray(off + 1, off + 1 + len);
    if (label.includes(0x2e)) return false;
    off += 1 + len;
    labels++;
  }
  return labels === (name === '' ? 0 : name.split('.').length);
}

export interface Response {
  id: number;
  rd: number;
  cd?: number;
  aa: boolean;
  tc?: boolean;
  rcode: number;
  question?: { name: string; type: number; class: number };
  answers: WireRecord[];
  authorities: WireRecord[];
  additionals: WireRecord[];
  /** Our EDNS0 OPT (present when the query had one). */
  edns?: { udpPayloadSize: number };
}

/** A bare header reply (FORMERR/NOTIMP for something we could not or would not parse). */
export function errorHeader(id: number, rd: number, rcode: number): Buffer {
  const b = Buffer.alloc(HEADER);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(0x8000 | (rd << 8) | 0x80 | (rcode & 0xf), 2);
  return b;
}

function toPacket(r: Response, withRecords: boolean): Buffer {
  const p = new Packet();
  p.header = new Packet.Header({
    id: r.id, qr: 1, opcode: 0, aa: r.aa ? 1 : 0, tc: r.tc || !withRecords ? 1 : 0, rd: r.rd ? 1 : 0, ra: 1, rcode: r.rcode,
  });
  (p.header as unknown as { cd: number }).cd = r.cd ? 1 : 0;
  if (r.question) p.questions = [new Packet.Question(r.question.name, r.question.type, r.question.class)];
  if (withRecords) {
    p.answers = r.answers as never;
    p.authorities = r.authorities as never;
    p.additionals = r.additionals.filter((x) => x.type !== 41) as never;
  }
  if (r.edns) p.additionals.push(Packet.Resource.EDNS([], { udpPayloadSize: r.edns.udpPayloadSize }) as never);
  return p.toBuffer();
}

/**
 * Encode a response within `limit` octets: when it does not fit, the same header with TC set and
 * no records (the client retries over TCP). Throws only on records we cannot encode.
 */
export function encodeResponse(r: Response, limit = 65535): Buffer {
  const full = toPacket(r, true);
  if (full.length <= limit) return full;
  return toPacket(r, false);
}

/** Encode a plain recursive query for an upstream. */
export function encodeQuery(id: number, name: string, type: number, cls: number, udpPayloadSize: number): Buffer {
  const p = new Packet();
  p.header = new Packet.Header({ id, rd: 1 });
  p.questions = [new Packet.Question(name, type, cls)];
  p.additionals = [Packet.Resource.EDNS([], { udpPayloadSize }) as never];
  return p.toBuffer();
}

export interface UpstreamAnswer {
  id: number;
  tc: boolean;
  rcode: number;
  question?: { name: string; type: number; class: number };
  answers: WireRecord[];
  authorities: WireRecord[];
  additionals: WireRecord[];
}

/** Decode an upstream's response; undefined when it is not a clean response. */
export function decodeResponse(msg: Buffer): UpstreamAnswer | undefined {
  if (msg.length < HEADER || !(msg[2] & 0x80)) return undefined;
  try {
    const p = Packet.parse(msg);
    if (p.errors.length > 0) return undefined;
    const q = p.questions[0] as unknown as { name: string; type: number; class: number } | undefined;
    return {
      id: p.header.id,
      tc: Boolean(p.header.tc),
      rcode: p.header.rcode & 0xf,
      question: q ? { name: q.name, type: q.type, class: q.class } : undefined,
      answers: p.answers as unknown as WireRecord[],
      authorities: p.authorities as unknown as WireRecord[],
      additionals: (p.additionals as unknown as WireRecord[]).filter((x) => x.type !== 41),
    };
  } catch {
    return undefined;
  }
}
