// `tug control`: opens the store, serves the Kubernetes API over HTTPS and writes a kubeconfig
// for kubectl and tugboat's own clients.
import { serve } from '@hono/node-server';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Registry as MetricsRegistry, collectDefaultMetrics } from 'prom-client';
import { writeKubeconfig } from '../api/kubeconfig.js';
import { DEFAULT_ALLOCATOR_CONFIG, parseCidr } from './apiserver/allocators.js';
import { createApiApp } from './apiserver/app.js';
import { Registry } from './apiserver/registry.js';
import { createMemoryStore, openSqliteStore, type Store } from './store/index.js';
import { defaultSans, ensureTls } from './tls.js';

export interface ControlOptions {
  listen: string; // host:port; port 0 picks a free one
  dataDir: string;
  store: 'sqlite' | 'memory';
  kubeconfig?: string; // where to write the admin kubeconfig
  tlsSans?: string[];
  serviceCidr?: string;
  metrics?: MetricsRegistry;
}

export interface RunningControl {
  url: string;
  kubeconfig?: string;
  token: string;
  caCert: string;
  registry: Registry;
  metrics: MetricsRegistry;
  stop(): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen);
  if (!m) throw new Error(`--listen "${listen}" is not host:port (for example 127.0.0.1:6443)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port: Number(m[3]) };
}

function loadOrCreateToken(dataDir: string): string {
  const file = join(dataDir, 'admin.token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, token + '\n', { mode: 0o600 });
  return token;
}

function openStore(opts: ControlOptions): Store {
  if (opts.store === 'memory') return createMemoryStore();
  if (opts.store === 'sqlite') return openSqliteStore(join(opts.dataDir, 'state.db'));
  throw new Error(`--store "${opts.store}" is not known; use sqlite or memory`);
}

export async function startControl(opts: ControlOptions): Promise<RunningControl> {
  const { host, port } = parseListen(opts.listen);
  if (opts.serviceCidr) parseCidr(opts.serviceCidr);
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const tls = await ensureTls(join(opts.dataDir, 'pki'), defaultSans([...(opts.tlsSans ?? []), ...(host === '0.0.0.0' || host === '::' ? [] : [host])]));
  const token = loadOrCreateToken(opts.dataDir);
  const store = openStore(opts);
  const registry = new Registry(store, { allocator: { ...DEFAULT_ALLOCATOR_CONFIG, ...(opts.serviceCidr ? { serviceCidr: opts.serviceCidr } : {}) } });
  const metrics = opts.metrics ?? new MetricsRegistry();
  if (!opts.metrics) collectDefaultMetrics({ register: metrics });

  try {
    await registry.start();
  } catch (e) {
    await store.close();
    throw e;
  }

  let address = '';
  const app = createApiApp({ registry, tokens: () => [token], metrics, serverAddress: () => address });
  const server = serve({ fetch: app.fetch, hostname: host, port, createServer, serverOptions: { key: tls.key, cert: tls.cert } });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(e.code === 'EADDRINUSE' ? `cannot listen on ${opts.listen}: the address is in use; pick another with --listen` : `cannot listen on ${opts.listen}: ${e.message}`, { cause: e })),
    );
  }).catch(async (e) => {
    await store.close();
    throw e;
  });
  server.on('error', (e) => console.error('tug control: server error:', e));
  const bound = server.address() as AddressInfo;
  const clientHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  address = `${clientHost.includes(':') ? `[${clientHost}]` : clientHost}:${bound.port}`;
  const url = `https://${address}`;
  if (opts.kubeconfig) writeKubeconfig(opts.kubeconfig, { server: url, caCert: tls.caCert, token });

  return {
    url,
    kubeconfig: opts.kubeconfig,
    token,
    caCert: tls.caCert,
    registry,
    metrics,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await registry.close();
      await store.close();
    },
  };
}
