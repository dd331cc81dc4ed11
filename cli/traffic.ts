// `tug traffic SERVICE`: a live view of how a Service's load spreads over its endpoints, from
// every node proxy's Prometheus metrics (requests/s, new connections/s and the share of each
// endpoint over the last interval), so a user can watch the spread change while scaling.
import type { ApiClient } from '../api/client.js';
import { resourceOfKind } from '../api/resources.js';
import { sleep } from '../api/timers.js';
import { rates, scrapeNodeMetrics, totalsFor, type EndpointRate, type ProxyScrape } from '../api/traffic.js';
import type { Node } from '../api/types.js';
import type { Out } from './resources-cmd.js';

export function render(title: string, rows: EndpointRate[], width = 30): string {
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

/** Every node's proxy samples; a node that does not answer is left out (and named). */
async function scrape(client: ApiClient): Promise<ProxyScrape> {
  return scrapeNodeMetrics((await client.list<Node>(resourceOfKind('Node'))).items);
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
