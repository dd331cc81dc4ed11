// API server metrics: requests by verb, resource and code, and their duration.
import { Counter, Histogram, type Registry } from 'prom-client';

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
      return method.toLowerCase();
  }
}

/** `pods` from `/api/v1/namespaces/ns/pods/x`, or the non-resource path itself (`/version`). */
export function resourceOfPath(path: string): { resource: string; hasName: boolean } {
  const m = /^\/(?:api\/v1|apis\/[^/]+\/[^/]+)\/(.*)$/.exec(path);
  if (!m) return { resource: path.split('/').slice(0, 3).join('/') || '/', hasName: false };
  let parts = m[1].split('/').filter(Boolean);
  if (parts[0] === 'namespaces' && parts.length >= 3 && !['status', 'finalize'].includes(parts[2])) parts = parts.slice(2);
  return { resource: parts[0] ?? '', hasName: parts.length > 1 };
}

export class ApiMetrics {
  private readonly requests: Counter<'verb' | 'resource' | 'code'>;
  private readonly duration: Histogram<'verb' | 'resource'>;

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
  }

  observe(method: string, path: string, watch: string | undefined, code: number, seconds: number): void {
    const { resource, hasName } = resourceOfPath(path);
    const verb = verbOf(method, hasName, watch);
    this.requests.inc({ verb, resource, code: String(code) });
    if (verb !== 'watch') this.duration.observe({ verb, resource }, seconds);
  }
}
