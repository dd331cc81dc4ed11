// The proxy's Prometheus metrics (DESIGN.md §7) on the registry it is handed. Forwarders report
// through a ForwardObserver bound to one Service port; series of endpoints and ports that left the
// table are removed at the next sync, so label sets stay bounded by what is live. What every
// request or connection touches is a lib/metrics fast series, looked up once per endpoint.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { FastCounter, FastHistogram, type CounterChild } from '../lib/metrics.js';
import { activeRelays } from './relay.js';
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

export class ProxyMetrics {
  private readonly connections: FastCounter;
  private readonly requests: FastCounter;
  private readonly duration: FastHistogram;
  private readonly failures: Counter<'namespace' | 'service' | 'port' | 'reason'>;
  private readonly bindErrors: Counter<'namespace' | 'service' | 'port' | 'code'>;
  readonly refusedConnections: Counter<'reason'>;
  readonly programmingLatency: Histogram<string>;
  /** Per Service port: the label sets with an endpoint label that exist, to remove them later. */
  private readonly series = new Map<string, { labels: PortLabels; endpoints: Map<string, Set<string>> }>();

  constructor(registry: Registry, endpointCounts: () => Iterable<EndpointCounts>) {
    const registers = [registry];
    this.connections = new FastCounter({
      name: 'tug_proxy_connections_total',
      help: 'Connections (TCP) and flows (UDP) the proxy opened to an endpoint',
      labelNames: ['namespace', 'service', 'port', 'endpoint'],
      registers,
    });
    this.requests = new FastCounter({
      name: 'tug_proxy_requests_total',
      help: 'HTTP requests forwarded, by endpoint and response code',
      labelNames: ['namespace', 'service', 'port', 'endpoint', 'code'],
      registers,
    });
    this.duration = new FastHistogram({
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
    this.refusedConnections = new Counter({
      name: 'tug_proxy_connections_refused_total',
      help: 'TCP connections reset at accept: their client address held its share (per-source), or the proxy carried all it may (capacity)',
      labelNames: ['reason'],
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
    new Gauge({
      name: 'tug_proxy_native_relay_connections',
      help: 'TCP connections this proxy carries in its native relay now (0 everywhere when lib/native did not build)',
      registers,
      collect() {
        this.set(activeRelays());
      },
    });
  }

  /** What the forwarders of one Service port report to. */
  observerFor(entry: ServicePortEntry): ForwardObserver {
    const labels = portLabels(entry);
    const tracked = this.track(entry.key, labels);
    // Series by endpoint, made at first use; made again when retain() removed them (an endpoint
    // that left and came back), whichever observer of the port sees that first.
    const connectionsByEndpoint = new Map<string, CounterChild>();
    const requestsByEndpoint = new Map<string, Map<number, CounterChild>>();
    let duration = this.duration.child(labels);
    return {
      connection: (e) => {
        const name = endpointLabel(e);
        let child = connectionsByEndpoint.get(name);
        if (!child || child.removed) {
          child = this.connections.child({ ...labels, endpoint: name });
          connectionsByEndpoint.set(name, child);
          this.remember(tracked, name, '');
        }
        child.inc();
      },
      request: (e, code, seconds) => {
        const name = e ? endpointLabel(e) : 'none';
        let byCode = requestsByEndpoint.get(name);
        if (!byCode) requestsByEndpoint.set(name, (byCode = new Map()));
        let child = byCode.get(code);
        if (!child || child.removed) {
          const codeLabel = String(code);
          child = this.requests.child({ ...labels, endpoint: name, code: codeLabel });
          byCode.set(code, child);
          this.remember(tracked, name, codeLabel);
        }
        child.inc();
        if (duration.removed) duration = this.duration.child(labels);
        duration.observe(seconds);
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
