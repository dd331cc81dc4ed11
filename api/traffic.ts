// Per-endpoint traffic of Services, read from every node proxy's Prometheus metrics
// (`tug_proxy_requests_total`, `tug_proxy_connections_total`), scraped at the address each Node
// publishes in its `tugboat.io/metrics-address` annotation. `tug traffic` and the console's
// traffic endpoint both take two readings and turn the difference into rates.
import { request } from 'node:http';
import { METRICS_ADDRESS_ANNOTATION } from './annotations.js';
import type { Node } from './types.js';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Reads the Prometheus text exposition format (the lines tugboat's own metrics use). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
    const value = Number(m[4]);
    if (Number.isFinite(value)) out.push({ name: m[1], labels, value });
  }
  return out;
}

export interface EndpointTotals {
  requests: number;
  connections: number;
}

/** `namespace/service` → endpoint → requests and connections so far, summed over every node and port. */
export function totalsByService(samples: Sample[]): Map<string, Map<string, EndpointTotals>> {
  const out = new Map<string, Map<string, EndpointTotals>>();
  for (const s of samples) {
    const { namespace, service, endpoint } = s.labels;
    if (!namespace || !service || !endpoint) continue;
    const kind = s.name === 'tug_proxy_requests_total' ? 'requests' : s.name === 'tug_proxy_connections_total' ? 'connections' : undefined;
    if (!kind) continue;
    const key = `${namespace}/${service}`;
    let totals = out.get(key);
    if (!totals) out.set(key, (totals = new Map()));
    const t = totals.get(endpoint) ?? { requests: 0, connections: 0 };
    t[kind] += s.value;
    totals.set(endpoint, t);
  }
  return out;
}

/** Per endpoint of one Service: requests and connections so far, summed over every node. */
export function totalsFor(samples: Sample[], namespace: string, service: string): Map<string, EndpointTotals> {
  return totalsByService(samples).get(`${namespace}/${service}`) ?? new Map();
}

export interface EndpointRate {
  endpoint: string;
  requestsPerSecond: number;
  connectionsPerSecond: number;
  /** This endpoint's part of the Service's traffic over the interval, 0..1. */
  share: number;
}

/** Rates between two readings `seconds` apart; an endpoint new in `now` counts from zero. */
export function rates(before: Map<string, EndpointTotals>, now: Map<string, EndpointTotals>, seconds: number): EndpointRate[] {
  const rows: EndpointRate[] = [];
  for (const [endpoint, t] of now) {
    const b = before.get(endpoint) ?? { requests: 0, connections: 0 };
    // A counter that went down was reset (its node restarted): count from zero.
    const dr = t.requests >= b.requests ? t.requests - b.requests : t.requests;
    const dc = t.connections >= b.connections ? t.connections - b.connections : t.connections;
    rows.push({ endpoint, requestsPerSecond: dr / seconds, connectionsPerSecond: dc / seconds, share: 0 });
  }
  // Share of the traffic: requests where there are any (HTTP ports), else connections (TCP ports).
  const total = rows.reduce((n, r) => n + (r.requestsPerSecond || r.connectionsPerSecond), 0);
  for (const r of rows) r.share = total ? (r.requestsPerSecond || r.connectionsPerSecond) / total : 0;
  return rows.sort((a, b) => a.endpoint.localeCompare(b.endpoint));
}

function fetchMetricsText(address: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`http://${address}/metrics`, { timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

export interface ProxyScrape {
  samples: Sample[];
  /** Nodes without a metrics address or whose metrics did not answer. */
  missing: string[];
}

/** Every node's metrics samples; a node that does not answer is left out (and named). */
export async function scrapeNodeMetrics(nodes: Node[], timeoutMs = 2000): Promise<ProxyScrape> {
  const samples: Sample[] = [];
  const missing: string[] = [];
  await Promise.all(
    nodes.map(async (n) => {
      const address = n.metadata.annotations?.[METRICS_ADDRESS_ANNOTATION];
      if (!address) return missing.push(n.metadata.name!);
      try {
        samples.push(...parseMetrics(await fetchMetricsText(address, timeoutMs)));
      } catch {
        missing.push(n.metadata.name!);
      }
    }),
  );
  return { samples, missing: missing.sort() };
}
