// Requests in flight, limited as kube-apiserver's --max-requests-inflight and
// --max-mutating-requests-inflight do: past the limit a request gets 429 with Retry-After at
// once, instead of queueing until the server falls over. Long-running requests (watches, followed
// logs) are not counted; they are bounded by the connection limits instead.
import type { MiddlewareHandler } from 'hono';
import { errors } from '../../api/errors.js';

export interface InflightLimits {
  /** Reads (GET, HEAD) at once. Kubernetes' default: 400. */
  readonly: number;
  /** Writes (POST, PUT, PATCH, DELETE) at once. Kubernetes' default: 200. */
  mutating: number;
  /** Called for each request turned away (for metrics). */
  onRejected?(kind: 'readonly' | 'mutating'): void;
}

export const DEFAULT_INFLIGHT: InflightLimits = { readonly: 400, mutating: 200 };

function longRunning(url: URL): boolean {
  const watch = url.searchParams.get('watch');
  return watch === 'true' || watch === '1' || (url.pathname.endsWith('/log') && url.searchParams.get('follow') === 'true');
}

export function inflightLimiter(limits: InflightLimits): MiddlewareHandler {
  const inflight = { readonly: 0, mutating: 0 };
  return async (c, next) => {
    const url = new URL(c.req.url);
    if (longRunning(url)) return next();
    const kind = c.req.method === 'GET' || c.req.method === 'HEAD' ? 'readonly' : 'mutating';
    if (inflight[kind] >= limits[kind]) {
      limits.onRejected?.(kind);
      c.header('Retry-After', '1');
      throw errors.tooManyRequests(`too many requests in flight (${limits[kind]} ${kind === 'mutating' ? 'writes' : 'reads'} at once); try again in a second`, 1);
    }
    inflight[kind]++;
    try {
      await next();
    } finally {
      inflight[kind]--;
    }
  };
}
