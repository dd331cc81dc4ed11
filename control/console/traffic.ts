// Per-endpoint request rates for the console. Browsers cannot reach the nodes' plain-HTTP metrics
// addresses, so control scrapes them on request and answers with rates. Each answer compares the
// fresh scrape with a recent earlier one kept from a previous request (the page polls every few
// seconds); with none recent enough, the request itself waits and scrapes a second time. Nothing
// runs between requests: there is no timer to stop.
import { sleep } from '../../api/timers.js';
import { rates, totalsByService, type EndpointRate, type EndpointTotals, type ProxyScrape } from '../../api/traffic.js';

export interface Reading {
  /** Milliseconds on the sampler's clock. */
  at: number;
  totals: Map<string, Map<string, EndpointTotals>>;
  missing: string[];
}

export interface ServiceTraffic {
  namespace: string;
  service: string;
  endpoints: EndpointRate[];
}

export interface TrafficReport {
  /** The interval the rates are measured over. */
  windowSeconds: number;
  services: ServiceTraffic[];
  /** Nodes whose metrics could not be read in the newer scrape. */
  missingNodes: string[];
}

/** Rates of every Service seen in `now` (optionally only `only`, as `namespace/service`) since `before`. */
export function trafficReport(before: Reading, now: Reading, only?: string): TrafficReport {
  const seconds = (now.at - before.at) / 1000;
  const services: ServiceTraffic[] = [];
  for (const [key, totals] of now.totals) {
    if (only !== undefined && key !== only) continue;
    const [namespace, service] = key.split('/');
    services.push({ namespace, service, endpoints: rates(before.totals.get(key) ?? new Map(), totals, seconds) });
  }
  services.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.service.localeCompare(b.service));
  return { windowSeconds: seconds, services, missingNodes: now.missing };
}

/** The newest reading at least `minMs` older than `at` and at most `maxMs` old. */
export function baselineFor(readings: Reading[], at: number, minMs: number, maxMs: number): Reading | undefined {
  let best: Reading | undefined;
  for (const r of readings) {
    const age = at - r.at;
    if (age >= minMs && age <= maxMs && (!best || r.at > best.at)) best = r;
  }
  return best;
}

export interface TrafficSamplerOptions {
  scrape: () => Promise<ProxyScrape>;
  /** Monotonic milliseconds. */
  clock?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** The shortest interval a rate is measured over. */
  minWindowMs?: number;
  /** Readings older than this are dropped: a rate over a long quiet gap says little about now. */
  maxAgeMs?: number;
}

const KEPT_READINGS = 8;

export class TrafficSampler {
  private readings: Reading[] = [];
  /** The scrape under way: requests arriving meanwhile (several open pages) share it. */
  private scraping?: Promise<Reading>;
  private readonly clock: () => number;
  private readonly minWindowMs: number;
  private readonly maxAgeMs: number;

  constructor(private readonly opts: TrafficSamplerOptions) {
    this.clock = opts.clock ?? (() => performance.now());
    this.minWindowMs = opts.minWindowMs ?? 1000;
    this.maxAgeMs = opts.maxAgeMs ?? 30_000;
  }

  private read(): Promise<Reading> {
    this.scraping ??= this.opts
      .scrape()
      .then(({ samples, missing }) => {
        const reading = { at: this.clock(), totals: totalsByService(samples), missing };
        this.readings = [...this.readings.filter((r) => reading.at - r.at <= this.maxAgeMs), reading].slice(-KEPT_READINGS);
        return reading;
      })
      .finally(() => (this.scraping = undefined));
    return this.scraping;
  }

  /** A fresh reading and the baseline it is compared with (at most one short wait: `minWindowMs`). */
  async sample(): Promise<{ before: Reading; now: Reading }> {
    const first = await this.read();
    const before = baselineFor(this.readings, first.at, this.minWindowMs, this.maxAgeMs);
    if (before) return { before, now: first };
    await (this.opts.sleep ?? sleep)(this.minWindowMs);
    return { before: first, now: await this.read() };
  }
}
