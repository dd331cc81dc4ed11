// Pre-encoded answers for the cluster domain: the first plain question about a name is answered
// through zoneAnswer and encoded once; later ones copy those bytes and patch the ID, the RD/CD
// bits and the question's spelling (names in the answer point at the question, so they follow
// its case). Keyed by a hash of the lower-cased question (no string per query) and whether it
// had an OPT; the UDP size only picks the whole or the truncated form. Dropped wholesale when
// the zone object changes. Forwarded names are never held here: their TTLs age in the
// forwarder's cache.
import type { Query } from './codec.js';
import { zoneAnswer } from './answer.js';
import { inDomain, type Zone } from './records.js';
import { encodeWire, newPlainQuestion, parsePlainQuestion, questionName } from './wire.js';

interface Entry {
  /** The lower-cased question (QNAME, QTYPE, QCLASS) as sent, to tell hash collisions apart. */
  question: Buffer;
  whole: Buffer;
  truncated: Buffer;
  rcode: number;
}

export interface EncodedAnswersOptions {
  /** The cluster domain, normalized. */
  domain: string;
  /** The UDP size our OPT advertises and the cap on UDP answers. */
  udpPayload: number;
  /** Entries per OPT/no-OPT table; the oldest goes first (a flood of made-up names stays bounded). */
  maxEntries?: number;
}

const HEADER = 12;

export class EncodedAnswers {
  /** The query type and response code of the last answer given (for metrics, without allocating). */
  qtype = 0;
  rcode = 0;
  private zone: Zone | undefined;
  private readonly plain = new Map<number, Entry>();
  private readonly withOpt = new Map<number, Entry>();
  private readonly q = newPlainQuestion();
  private readonly maxEntries: number;

  constructor(private readonly opts: EncodedAnswersOptions) {
    this.maxEntries = opts.maxEntries ?? 10_000;
  }

  get size(): number {
    return this.plain.size + this.withOpt.size;
  }

  /**
   * Writes the answer to `msg` from `zone` into `out` at `offset` and returns its length, or
   * returns 0 when it is not a plain IN question about the zone (the caller takes the dns2
   * path). Never throws.
   */
  answerInto(msg: Buffer, udp: boolean, zone: Zone, out: Buffer, offset: number): number {
    const src = this.lookup(msg, udp, zone);
    if (src === undefined) return 0;
    this.patch(src, msg, out, offset);
    return src.length;
  }

  /** The stored answer to `msg` (whole or truncated to its UDP size), built on first use. */
  private lookup(msg: Buffer, udp: boolean, zone: Zone): Buffer | undefined {
    const q = this.q;
    if (!parsePlainQuestion(msg, q) || q.qclass !== 1 || q.qtype === 251 || q.qtype === 252) return undefined;
    if (zone !== this.zone) {
      this.plain.clear();
      this.withOpt.clear();
      this.zone = zone;
    }
    const hash = q.hash;
    const table = q.edns ? this.withOpt : this.plain;
    let e = table.get(hash);
    if (e === undefined || !sameQuestion(e.question, msg, q.nameEnd)) {
      e = this.build(msg, zone);
      if (e === undefined) return undefined;
      table.delete(hash); // a colliding question takes the slot and moves to the young end
      if (table.size >= this.maxEntries) table.delete(table.keys().next().value!);
      table.set(hash, e);
    }
    this.qtype = q.qtype;
    this.rcode = e.rcode;
    const limit = !udp ? 0xffff : q.edns ? Math.min(this.opts.udpPayload, Math.max(512, q.udpPayloadSize)) : 512;
    return e.whole.length <= limit ? e.whole : e.truncated;
  }

  /** Copies `src` to `out` with the query's ID, RD and CD bits and the question's spelling. */
  private patch(src: Buffer, msg: Buffer, out: Buffer, offset: number): void {
    src.copy(out, offset);
    out[offset] = msg[0];
    out[offset + 1] = msg[1];
    out[offset + 2] |= msg[2] & 0x01; // RD
    out[offset + 3] |= msg[3] & 0x10; // CD
    msg.copy(out, offset + HEADER, HEADER, this.q.nameEnd);
  }

  private build(msg: Buffer, zone: Zone): Entry | undefined {
    const { domain, udpPayload } = this.opts;
    const q = this.q;
    const name = questionName(msg, q.nameEnd);
    if (!inDomain(name, domain) && !zone.records.has(name)) return undefined;
    const query: Query = {
      id: 0, rd: 0, cd: 0, name, type: q.qtype, class: q.qclass,
      edns: q.edns ? { udpPayloadSize: q.udpPayloadSize, version: 0, doFlag: false } : undefined,
    };
    const { response, chase } = zoneAnswer(query, name, zone, domain, udpPayload);
    if (chase !== undefined) return undefined;
    try {
      const { whole, truncated } = encodeWire(response);
      const question = Buffer.from(msg.subarray(HEADER, q.nameEnd + 4));
      for (let i = 0; i < question.length - 4; i++) if (question[i] >= 0x41 && question[i] <= 0x5a) question[i] |= 0x20;
      return { question, whole, truncated, rcode: response.rcode };
    } catch {
      return undefined; // a record we cannot encode: the dns2 path answers SERVFAIL and logs it
    }
  }
}

/** Whether `msg` asks `question` (lower case), its QNAME compared case-insensitively. */
function sameQuestion(question: Buffer, msg: Buffer, nameEnd: number): boolean {
  if (nameEnd + 4 - HEADER !== question.length) return false;
  for (let i = 0; i < question.length; i++) {
    const c = msg[HEADER + i];
    if ((HEADER + i < nameEnd && c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== question[i]) return false;
  }
  return true;
}
