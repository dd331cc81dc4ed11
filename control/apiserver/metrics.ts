// API server metrics: requests by verb, resource and code, and their duration. Label values come
// from fixed lists (unknown paths count as "other"), so no client can grow the series.
import { Counter, Histogram, type Registry } from 'prom-client';
import { RESOURCES } from '../../api/resources.js';

const KNOWN_PLURALS = new Set(RESOURCES.map((r) => r.plural));
const NON_RESOURCE_PATHS = new Set(['/', '/api', '/api/v1', '/apis', '/version', '/openapi/v2', '/openapi/v3', '/healthz', '/readyz', '/livez', '/metrics', '/sd/prometheus', '/ui']);
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The Kubernetes verb for a request: list/watch/get/create/update/patch/delete. */
export function verbOf(method: string, hasName: boolean, watch: string | undefined): string {
  switch (method) {
    case 'GET':
      if (watch === 'true' || watch === '1') return 'watch';
      return hasName ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return hasName ? 'delete' : 'deletecollection';
    default:
      return KNOWN_METHODS.has(method) ? method.toLowerCase() : 'other';
  }
}

/**
 * `pods` from `/api/v1/namespaces/ns/pods/x`, or a known non-resource path itself (`/version`;
 * `/apis/{group}`, `/openapi/v3/...` and `/ui/...` as their first part); anything else `other`.
 */
export function resourceOfPath(path: string): { resource: string; hasName: boolean } {
  const m = /^\/(?:api\/v1|apis\/[^/]+\/[^/]+)\/(.*)$/.exec(path);
  if (!m) {
    const top = /^\/(apis|openapi\/v3|ui)\/./.exec(path)?.[1];
    const resource = top ? `/${top}` : NON_RESOURCE_PATHS.has(path) ? path : 'other';
    return { resource, hasName: false };
  }
  let parts = m[1].split('/').filter(Boolean);
  if (parts[0] === 'namespaces' && parts.length >= 3 && !['status', 'finalize'].includes(parts[2])) parts = parts.slice(2);
  const plural = parts[0] ?? '';
  return { resource: KNOWN_PLURALS.has(plural) ? plural : 'other', hasName: parts.length > 1 };
}

export class ApiMetrics {
  private readonly requests: Counter<'verb' | 'resource' | 'code'>;
  private readonly duration: Histogram<'verb' | 'resource'>;
  private readonly rejectedInflight: Counter<'kind'>;

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: 'tug_apiserver_requests_total',
      help: 'API requests by verb, resource and HTTP code',
      labelNames: ['verb', 'resource', 'code'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'tug_apiserver_request_duration_seconds',
      help: 'API request latency (watches: until the stream ends)',
      labelNames: ['verb', 'resource'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
    this.rejectedInflight = new Counter({
      name: 'tug_apiserver_inflight_rejected_total',
      help: 'Requests answered 429 because as many of their kind (readonly or mutating) were already in flight',
      labelNames: ['kind'],
      registers: [registry],
    });
  }

  rejected(kind: 'readonly' | 'mutating'): void {
    this.rejectedInflight.inc({ kind });
  }

  observe(method: string, path: string, watch: string | undefined, code: number, seconds: number): void {
    const { resource, hasName } = resourceOfPath(path);
    const verb = verbOf(method, hasName, watch);
    this.requests.inc({ verb, resource, code: String(code) });
    if (verb !== 'watch') this.duration.observe({ verb, resource }, seconds);
  }
}

/** Connections the API server's listener closed at accept because their client address held its share. */
export function refusedConnectionsCounter(registry: Registry): Counter {
  return new Counter({
    name: 'tug_apiserver_connections_refused_total',
    help: 'Connections closed at accept (their client address held its share) or while still in their TLS handshake (to make room)',
    registers: [registry],
  });
}
