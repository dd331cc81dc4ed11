// For tests of the HTTP layer: the API app over a registry, with the cluster's authentication and
// RBAC started on it, `token` as the admin token and a ServiceAccount signing key of its own.
// stop() ends RBAC's watches and loops.
import type { Hono } from 'hono';
import { ServiceAccountTokens, startClusterAuth } from '../auth/index.js';
import { createApiApp, type ApiEnv, type ApiServerOptions } from './app.js';
import type { Registry } from './registry.js';

export async function startTestApp(registry: Registry, token: string, extra: Partial<ApiServerOptions> = {}): Promise<{ app: Hono<ApiEnv>; stop(): Promise<void> }> {
  const auth = await startClusterAuth(registry, { adminToken: token, serviceAccountTokens: ServiceAccountTokens.ephemeral(), caCert: 'test CA', log: () => undefined });
  return { app: createApiApp({ registry, auth, ...extra }), stop: () => auth.stop() };
}
