// The proxy's Prometheus metrics (DESIGN.md §7) on the registry it is handed. Forwarders report
// through a ForwardObserver bound to one Service port; series of endpoints and ports that left the
// table are removed at the next sync, so label sets stay bounded by what is live.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ServicePortEntry } from './table.js';
import { endpointKey, type Endpoint, type ForwardObserver } from './types.js';

type PortLabels = { namespace: string; service: string; port: string };

export interface EndpointCounts {
  entry: ServicePortEntry;
  ready: number;
  ejected: number;
}

/** The endpoint label: the pod's name when the Endpoints say it, else ip:port. */
export function endpointLabel(e: Endpoint): string {
  return e.pod ?? endpointKey(e);
}

function portLabels(entry: ServicePortEntry): PortLabels {
  return { namespace: entry.namespace, service: entry.service, port: entry.portName || String(entry.port) };
}

const FAILURE_REASONS = ['connect', 'reset', 'timeout'] as const;

/**
 * Requests counted in plain numbers and added to the Counter when it is collected (a scrape):
 * prom-client hashes the label object on every inc, even through labels(), which cost a few µs
 * per proxied request.
 */
interface RequestCell {
  labels: Record<'namespace' | 'service' | 'port' | 'endpoint' | 'code', string>;
  pending: number;
  /** Its series was removed (the endpoint left): the observer makes a new cell. */
  removed: boolean;
}

const cellKey = (portKey: string, endpoint: string, code: string) => `${portKey}\0${endpoint}\0${code}`;

export class ProxyMetrics {
  private readonly connections: Counter<'namespace' | 'service' | 'port' | 'endpoint'>;
  private readonly requests: Counter<'namespace' | 'service' | 'port' | 'endpoint' | 'code'>;
  private readonly duration: Histogram<'namespace' | 'service' | 'port'>;
  private readonly failures: Counter<'namespace' | 'service' | 'port' | 'reason'>;
  private readonly bindErrors: Counter<'namespace' | 'service' | 'port' | 'code'>;
  readonly programmingLatency: Histogram<string>;
  /** Per Service port: the label sets with an endpoint label that exist, to remove them later. */
  private readonly series = new Map<string, { labels: PortLabels; endpoints: Map<string, Set<string>> }>();
  private readonly requestCells = new Map<string, RequestCell>();

  constructor(registry: Registry, endpointCounts: () => Iterable<EndpointCounts>) {
    const registers = [registry];
    this.connections = new Counter({
      name: 'tug_proxy_connections_total',
      help: 'Connections (TCP) and flows (UDP) the proxy opened to an endpoint',
      labelNames: ['namespace', 'service', 'port', 'endpoint'],
      registers,
    });
    const cells = this.requestCells;
    this.requests = new Counter({
      name: 'tug_proxy_requests_total',
      help: 'HTTP requests forwarded, by endpoint and response code',
      labelNames: ['namespace', 'service', 'port', 'endpoint', 'code'],
      registers,
      collect() {
        for (const cell of cells.values()) {
          if (cell.pending === 0) continue;
          this.inc(cell.labels, cell.pending);
          cell.pending = 0;
        }
      },
    });
    this.duration = new Histogram({
      name: 'tug_proxy_request_duration_seconds',
      help: 'HTTP request duration through the proxy, until the response ended',
      labelNames: ['namespace', 'service', 'port'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.failures = new Counter({
      name: 'tug_proxy_upstream_failures_total',
      help: 'Failed upstream attempts (connect refused or timed out, reset before any byte); each was retried elsewhere when possible',
      labelNames: ['namespace', 'service', 'port', 'reason'],
      registers,
    });
    this.bindErrors = new Counter({
      name: 'tug_proxy_bind_errors_total',
      help: 'Failed attempts to bind a Service listener (port taken, no permission)',
      labelNames: ['namespace', 'service', 'port', 'code'],
      registers,
    });
    this.programmingLatency = new Histogram({
      name: 'tug_proxy_programming_latency_seconds',
      help: 'From an endpoint becoming ready in Endpoints to this proxy serving it',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    new Gauge({
      name: 'tug_proxy_endpoints',
      help: 'Endpoints per Service port as this proxy sees them: ready (listed ready and not ejected), ejected (passive health), not_ready',
      labelNames: ['namespace', 'service', 'port', 'state'],
      registers,
      collect() {
        this.reset();
        for (const c of endpointCounts()) {
          const l = portLabels(c.entry);
          this.set({ ...l, state: 'ready' }, c.ready - c.ejected);
          this.set({ ...l, state: 'ejected' }, c.ejected);
          this.set({ ...l, state: 'not_ready' }, c.entry.notReady);
        }
      },
    });
  }

  /** What the forwarders of one Service port report to. */
  observerFor(entry: ServicePortEntry): ForwardObserver {
    const labels = portLabels(entry);
    const tracked = this.track(entry.key, labels);
    const connectionsByEndpoint = new Map<string, Counter.Internal>();
    const cellsByEndpoint = new Map<string, Map<number, RequestCell>>();
    const durationChild = this.duration.labels(labels);
    return {
      connection: (e) => {
        const name = endpointLabel(e);
        let child = connectionsByEndpoint.get(name);
        if (!child || !tracked.endpoints.has(name)) {
          child = this.connections.labels({ ...labels, endpoint: name });
          connectionsByEndpoint.set(name, child);
          this.remember(tracked, name, '');
        }
        child.inc();
      },
      request: (e, code, seconds) => {
        const name = e ? endpointLabel(e) : 'none';
        let byCode = cellsByEndpoint.get(name);
        if (!byCode) cellsByEndpoint.set(name, (byCode = new Map()));
        let cell = byCode.get(code);
        if (!cell || cell.removed) {
          const codeLabel = String(code);
          cell = { labels: { ...labels, endpoint: name, code: codeLabel }, pending: 0, removed: false };
          byCode.set(code, cell);
          this.requestCells.set(cellKey(entry.key, name, codeLabel), cell);
          this.remember(tracked, name, codeLabel);
        }
        cell.pending++;
        durationChild.observe(seconds);
      },
      upstreamFailure: (_e, reason) => this.failures.inc({ ...labels, reason }),
    };
  }

  bindError(entry: ServicePortEntry, code: string): void {
    this.bindErrors.inc({ ...portLabels(entry), code });
  }

  /** Removes the series of endpoints no longer in the table, and of Service ports that left it. */
  retain(entries: readonly ServicePortEntry[]): void {
    const live = new Map(entries.map((e) => [e.key, new Set(e.endpoints.map(endpointLabel))]));
    for (const [key, s] of this.series) {
      const endpoints = live.get(key);
      for (const [name, codes] of s.endpoints) {
        if (endpoints?.has(name)) continue;
        s.endpoints.delete(name);
        for (const code of codes) {
          if (code === '') {
            this.connections.remove({ ...s.labels, endpoint: name });
            continue;
          }
          this.requests.remove({ ...s.labels, endpoint: name, code });
          const cell = this.requestCells.get(cellKey(key, name, code));
          if (cell) cell.removed = true;
          this.requestCells.delete(cellKey(key, name, code));
        }
      }
      if (!endpoints) {
        this.series.delete(key);
        this.duration.remove(s.labels);
        for (const reason of FAILURE_REASONS) this.failures.remove({ ...s.labels, reason });
      }
    }
  }

  private track(key: string, labels: PortLabels) {
    let s = this.series.get(key);
    if (!s || s.labels.port !== labels.port) {
      s = { labels, endpoints: new Map() };
      this.series.set(key, s);
    }
    return s;
  }

  private remember(s: { endpoints: Map<string, Set<string>> }, endpoint: string, code: string): void {
    let codes = s.endpoints.get(endpoint);
    if (!codes) s.endpoints.set(endpoint, (codes = new Set()));
    codes.add(code);
  }
}
