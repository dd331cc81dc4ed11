// The DNS server's Prometheus metrics (DESIGN.md §7) on the registry it is handed. Label values
// are bounded: qtype is a known type name or OTHER, rcode a known name or a number.
//
// The per-query pair (tug_dns_queries_total, tug_dns_request_duration_seconds) are lib/metrics'
// fast series: prom-client hashes the label object on every inc/observe, which costs as much as
// answering from the fast path.
import { Counter, Registry } from 'prom-client';
import { fastCounter, fastHistogram, type CounterChild, type FastCounter, type FastHistogram, type HistogramChild } from '../lib/metrics.js';
import { RCODE_NAME } from './codec.js';

const QTYPE_NAME: Record<number, string> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 35: 'NAPTR', 43: 'DS', 48: 'DNSKEY', 64: 'SVCB', 65: 'HTTPS', 255: 'ANY',
};

export type DnsZoneLabel = 'cluster' | 'forward' | 'none';
const ZONE_INDEX: Record<DnsZoneLabel, number> = { cluster: 0, forward: 1, none: 2 };
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5];

export class DnsMetrics {
  private readonly queries: FastCounter;
  /** The queries series by a number made of qtype, rcode and zone, so the hot path builds no labels. */
  private readonly queriesByKey = new Map<number, CounterChild>();
  private readonly duration: FastHistogram;
  private readonly durationByZone: Partial<Record<DnsZoneLabel, HistogramChild>> = {};
  readonly cacheHits: Counter;
  readonly upstreamFailures: Counter<'upstream'>;
  readonly staleAnswers: Counter;
  readonly tcpRefused: Counter;

  constructor(registry: Registry = new Registry()) {
    // Reuse what a previous server on the same registry registered (a restart in one process).
    const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
    this.queries = fastCounter(registry, {
      name: 'tug_dns_queries_total', help: 'DNS queries answered, by query type, response code and zone (cluster or forward).',
      labelNames: ['qtype', 'rcode', 'zone'],
    });
    this.duration = fastHistogram(registry, {
      name: 'tug_dns_request_duration_seconds', help: 'Time from receiving a DNS query to sending its answer.',
      labelNames: ['zone'], buckets: BUCKETS,
    });
    this.cacheHits = get('tug_dns_cache_hits_total', () => new Counter({
      name: 'tug_dns_cache_hits_total', help: 'Forwarded questions answered from the cache.', registers: [registry],
    }));
    this.upstreamFailures = get('tug_dns_upstream_failures_total', () => new Counter({
      name: 'tug_dns_upstream_failures_total', help: 'Upstream attempts that failed (timeout, error, SERVFAIL/REFUSED).',
      labelNames: ['upstream'] as const, registers: [registry],
    }));
    this.tcpRefused = get('tug_dns_tcp_refused_total', () => new Counter({
      name: 'tug_dns_tcp_refused_total', help: 'TCP connections turned away because their client already held its share of connections.',
      registers: [registry],
    }));
    this.staleAnswers = get('tug_dns_stale_answers_total', () => new Counter({
      name: 'tug_dns_stale_answers_total', help: 'Cluster answers given from the last known state while the control node was unreachable.',
      registers: [registry],
    }));
  }

  observe(qtype: number, rcode: number, zone: DnsZoneLabel, seconds: number): void {
    const known = QTYPE_NAME[qtype] !== undefined ? qtype : 0;
    const key = (known * 0x10000 + (rcode & 0xffff)) * 4 + ZONE_INDEX[zone];
    // Series are made at first use (a zone never asked about shows none), and again after a reset.
    let series = this.queriesByKey.get(key);
    if (!series || series.removed) {
      series = this.queries.child({ qtype: QTYPE_NAME[known] ?? 'OTHER', rcode: RCODE_NAME[rcode] ?? String(rcode), zone });
      this.queriesByKey.set(key, series);
    }
    series.inc();
    let duration = this.durationByZone[zone];
    if (!duration || duration.removed) this.durationByZone[zone] = duration = this.duration.child({ zone });
    duration.observe(seconds);
  }
}
