// The DNS server's Prometheus metrics (DESIGN.md §7) on the registry it is handed. Label values
// are bounded: qtype is a known type name or OTHER, rcode a known name or a number.
//
// The per-query pair (tug_dns_queries_total, tug_dns_request_duration_seconds) is counted in
// plain arrays and exposed through the registry's metric interface: prom-client hashes the label
// object on every inc/observe, which costs as much as answering from the fast path.
import { Counter, Registry, type Metric } from 'prom-client';
import { RCODE_NAME } from './codec.js';

const QTYPE_NAME: Record<number, string> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 35: 'NAPTR', 43: 'DS', 48: 'DNSKEY', 64: 'SVCB', 65: 'HTTPS', 255: 'ANY',
};

export type DnsZoneLabel = 'cluster' | 'forward' | 'none';
const ZONES: readonly DnsZoneLabel[] = ['cluster', 'forward', 'none'];
const ZONE_INDEX: Record<DnsZoneLabel, number> = { cluster: 0, forward: 1, none: 2 };
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5];

/** What a registry reads from a metric (prom-client's get()). */
interface Exported {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: { labels: Record<string, string | number>; value: number; metricName?: string }[];
}

/** tug_dns_queries_total{qtype,rcode,zone}, keyed by numbers on the hot path. */
class QueryCounter {
  readonly name = 'tug_dns_queries_total';
  readonly help = 'DNS queries answered, by query type, response code and zone (cluster or forward).';
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private readonly counts = new Map<number, { labels: { qtype: string; rcode: string; zone: DnsZoneLabel }; value: number }>();

  inc(qtype: number, rcode: number, zone: DnsZoneLabel): void {
    const known = QTYPE_NAME[qtype] !== undefined ? qtype : 0;
    const key = ((known * 0x10000 + (rcode & 0xffff)) * 4) + ZONE_INDEX[zone];
    const c = this.counts.get(key);
    if (c) c.value++;
    else this.counts.set(key, { labels: { qtype: QTYPE_NAME[known] ?? 'OTHER', rcode: RCODE_NAME[rcode] ?? String(rcode), zone }, value: 1 });
  }

  async get(): Promise<Exported> {
    return {
      name: this.name, help: this.help, type: this.type, aggregator: this.aggregator,
      values: [...this.counts.values()].map((c) => ({ labels: { ...c.labels }, value: c.value })),
    };
  }

  reset(): void {
    this.counts.clear();
  }
}

/** tug_dns_request_duration_seconds{zone}: cumulative buckets per zone, the same as prom-client's Histogram exposes. */
class DurationHistogram {
  readonly name = 'tug_dns_request_duration_seconds';
  readonly help = 'Time from receiving a DNS query to sending its answer.';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  /** Per zone: a count per bucket (the last is +Inf only), then sum, then count. */
  private readonly data = ZONES.map(() => new Float64Array(BUCKETS.length + 3));

  observe(zone: DnsZoneLabel, seconds: number): void {
    const d = this.data[ZONE_INDEX[zone]];
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]) i++;
    d[i]++;
    d[BUCKETS.length + 1] += seconds;
    d[BUCKETS.length + 2]++;
  }

  async get(): Promise<Exported> {
    const values: Exported['values'] = [];
    ZONES.forEach((zone, z) => {
      const d = this.data[z];
      if (d[BUCKETS.length + 2] === 0) return;
      let acc = 0;
      BUCKETS.forEach((le, i) => {
        acc += d[i];
        values.push({ labels: { le, zone }, value: acc, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', zone }, value: d[BUCKETS.length + 2], metricName: `${this.name}_bucket` });
      values.push({ labels: { zone }, value: d[BUCKETS.length + 1], metricName: `${this.name}_sum` });
      values.push({ labels: { zone }, value: d[BUCKETS.length + 2], metricName: `${this.name}_count` });
    });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const d of this.data) d.fill(0);
  }
}

export class DnsMetrics {
  private readonly queries: QueryCounter;
  private readonly duration: DurationHistogram;
  readonly cacheHits: Counter;
  readonly upstreamFailures: Counter<'upstream'>;
  readonly staleAnswers: Counter;

  constructor(registry: Registry = new Registry()) {
    // Reuse what a previous server on the same registry registered (a restart in one process).
    const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
    const own = <T extends QueryCounter | DurationHistogram>(name: string, make: () => T): T =>
      get(name, () => {
        const m = make();
        registry.registerMetric(m as unknown as Metric);
        return m;
      });
    this.queries = own('tug_dns_queries_total', () => new QueryCounter());
    this.duration = own('tug_dns_request_duration_seconds', () => new DurationHistogram());
    this.cacheHits = get('tug_dns_cache_hits_total', () => new Counter({
      name: 'tug_dns_cache_hits_total', help: 'Forwarded questions answered from the cache.', registers: [registry],
    }));
    this.upstreamFailures = get('tug_dns_upstream_failures_total', () => new Counter({
      name: 'tug_dns_upstream_failures_total', help: 'Upstream attempts that failed (timeout, error, SERVFAIL/REFUSED).',
      labelNames: ['upstream'] as const, registers: [registry],
    }));
    this.staleAnswers = get('tug_dns_stale_answers_total', () => new Counter({
      name: 'tug_dns_stale_answers_total', help: 'Cluster answers given from the last known state while the control node was unreachable.',
      registers: [registry],
    }));
  }

  observe(qtype: number, rcode: number, zone: DnsZoneLabel, seconds: number): void {
    this.queries.inc(qtype, rcode, zone);
    this.duration.observe(zone, seconds);
  }
}
