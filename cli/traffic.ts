// `tug traffic SERVICE`: a live view of how a Service's load spreads over its endpoints, from
// every node proxy's Prometheus metrics (requests/s, new connections/s and the share of each
// endpoint over the last interval), so a user can watch the spread change while scaling.
import { request } from 'node:http';
import type { ApiClient } from '../api/client.js';
import { resourceOfKind } from '../api/resources.js';
import { sleep } from '../api/timers.js';
import type { Node } from '../api/types.js';
import type { Out } from './resources-cmd.js';

import { METRICS_ADDRESS_ANNOTATION } from '../api/annotations.js';

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

/** Per endpoint of one Service: requests and connections so far, summed over every node. */
export function totalsFor(samples: Sample[], namespace: string, service: string): Map<string, EndpointTotals> {
  const totals = new Map<string, EndpointTotals>();
  for (const s of samples) {
    if (s.labels.namespace !== namespace || s.labels.service !== service || !s.labels.endpoint) continue;
    const kind = s.name === 'tug_proxy_requests_total' ? 'requests' : s.name === 'tug_proxy_connections_total' ? 'connections' : undefined;
    if (!kind) continue;
    const t = totals.get(s.labels.endpoint) ?? { requests: 0, connections: 0 };
    t[kind] += s.value;
    totals.set(s.labels.endpoint, t);
  }
  return totals;
}

export interface Row {
  endpoint: string;
  requestsPerSecond: number;
  connectionsPerSecond: number;
  share: number;
}

/** Rates between two readings `seconds` apart; an endpoint new in `now` counts from zero. */
export function rates(before: Map<string, EndpointTotals>, now: Map<string, EndpointTotals>, seconds: number): Row[] {
  const rows: Row[] = [];
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

export function render(title: string, rows: Row[], width = 30): string {
  const lines = [title, ''];
  const name = Math.max(8, ...rows.map((r) => r.endpoint.length));
  lines.push(`${'ENDPOINT'.padEnd(name)}  ${'REQ/S'.padStart(8)}  ${'CONN/S'.padStart(8)}  SHARE`);
  for (const r of rows) {
    const bar = '█'.repeat(Math.round(r.share * width));
    lines.push(`${r.endpoint.padEnd(name)}  ${r.requestsPerSecond.toFixed(1).padStart(8)}  ${r.connectionsPerSecond.toFixed(1).padStart(8)}  ${bar} ${(r.share * 100).toFixed(0)}%`);
  }
  if (!rows.length) lines.push('(no traffic through the proxies yet)');
  return lines.join('\n');
}

function fetchText(address: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`http://${address}/metrics`, { timeout: timeoutMs }, (res) => {
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

/** Every node's proxy samples; a node that does not answer is left out (and named). */
async function scrape(client: ApiClient): Promise<{ samples: Sample[]; missing: string[] }> {
  const nodes = await client.list<Node>(resourceOfKind('Node'));
  const samples: Sample[] = [];
  const missing: string[] = [];
  await Promise.all(
    nodes.items.map(async (n) => {
      const address = n.metadata.annotations?.[METRICS_ADDRESS_ANNOTATION];
      if (!address) return missing.push(n.metadata.name!);
      try {
        samples.push(...parseMetrics(await fetchText(address, 2000)));
      } catch {
        missing.push(n.metadata.name!);
      }
    }),
  );
  return { samples, missing };
}

export interface TrafficOptions {
  service: string;
  namespace: string;
  intervalMs: number;
  /** Stop after this many views (undefined: until the signal). */
  count?: number;
  signal?: AbortSignal;
  /** Redraw in place (a terminal) instead of printing one view after another. */
  redraw: boolean;
}

export async function trafficCommand(client: ApiClient, io: Out, o: TrafficOptions): Promise<number> {
  await client.get(resourceOfKind('Service'), o.namespace, o.service);
  let before = totalsFor((await scrape(client)).samples, o.namespace, o.service);
  let at = performance.now();
  for (let shown = 0; o.count === undefined || shown < o.count; shown++) {
    await sleep(o.intervalMs, o.signal);
    if (o.signal?.aborted) break;
    const { samples, missing } = await scrape(client);
    const now = totalsFor(samples, o.namespace, o.service);
    const elapsed = (performance.now() - at) / 1000;
    at = performance.now();
    const title = `service ${o.namespace}/${o.service}: traffic over the last ${elapsed.toFixed(1)} s${missing.length ? ` (no metrics from node ${missing.join(', ')})` : ''}`;
    const view = render(title, rates(before, now, elapsed));
    io.out(o.redraw ? `\x1b[H\x1b[2J${view}` : `${view}\n`);
    before = now;
  }
  return 0;
}
