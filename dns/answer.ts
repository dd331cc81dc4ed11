// Answers for the cluster domain as a pure function of the question and the zone, shared by the
// dns2 path and the encoded-answer fast path so both say the same thing.
import type { Query, Response, WireRecord } from './codec.js';
import { RCODE } from './codec.js';
import { inDomain, TYPE, type Zone, type ZoneRecord } from './records.js';

export interface ZoneAnswer {
  response: Response;
  /**
   * An ExternalName's target outside the domain: its addresses, asked upstream, follow the CNAME
   * (so stub resolvers get addresses in one round trip). Such an answer depends on upstream
   * TTLs and is never cached encoded.
   */
  chase?: string;
}

/** An empty reply to `q`; our OPT (advertising `udpPayload`) when the query had one. */
export function replyTo(q: Query, rcode: number, aa: boolean, udpPayload: number): Response {
  return {
    id: q.id, rd: q.rd, cd: q.cd, aa, rcode,
    question: { name: q.name, type: q.type, class: q.class },
    answers: [], authorities: [], additionals: [],
    edns: q.edns ? { udpPayloadSize: udpPayload } : undefined,
  };
}

/** The answer for `name` (normalized `q.name`) from the zone of `domain`. */
export function zoneAnswer(q: Query, name: string, zone: Zone, domain: string, udpPayload: number): ZoneAnswer {
  const recs = zone.records.get(name);
  const r = replyTo(q, RCODE.NOERROR, true, udpPayload);
  const negative = (rcode: number): ZoneAnswer => {
    r.rcode = rcode;
    r.authorities = [{ ...zone.soa, ttl: Math.min(zone.soa.ttl, zone.soa.minimum) }];
    return { response: r };
  };
  if (!recs) return negative(zone.names.has(name) ? RCODE.NOERROR : RCODE.NXDOMAIN);
  const cname = recs.find((x) => x.type === TYPE.CNAME);
  if (cname && q.type !== TYPE.CNAME) {
    r.answers = [asked(cname, q.name)];
    const chase = cname.type === TYPE.CNAME && (q.type === TYPE.A || q.type === TYPE.AAAA) && !inDomain(cname.domain, domain);
    return { response: r, chase: chase ? cname.domain : undefined };
  }
  const matching = recs.filter((x) => x.type === q.type || q.type === TYPE.ANY);
  if (matching.length === 0) return negative(RCODE.NOERROR);
  r.answers = matching.map((x) => asked(x, q.name));
  r.additionals = additionalFor(matching, zone);
  return { response: r };
}

/** A zone record under the question's spelling of its owner name. */
function asked(r: ZoneRecord, qname: string): WireRecord {
  return { ...r, name: qname } as WireRecord;
}

/** The A/AAAA records of SRV targets and the apex NS name, from the zone. */
function additionalFor(answers: ZoneRecord[], zone: Zone): WireRecord[] {
  const out: WireRecord[] = [];
  const seen = new Set<string>();
  for (const a of answers) {
    const target = a.type === TYPE.SRV ? a.target : a.type === TYPE.NS ? a.ns : undefined;
    if (!target || seen.has(target)) continue;
    seen.add(target);
    for (const x of zone.records.get(target) ?? []) {
      if (x.type === TYPE.A || x.type === TYPE.AAAA) out.push(x as unknown as WireRecord);
    }
  }
  return out;
}
