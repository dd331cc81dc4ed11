// `tug control`: opens the store, serves the Kubernetes API over HTTPS and writes a kubeconfig
// for kubectl and tugboat's own clients.
import { MeshCa } from './mesh/ca.js';
import { DEFAULT_TRUST_DOMAIN } from '../lib/spiffe.js';
import { serve } from '@hono/node-server';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Registry as MetricsRegistry, collectDefaultMetrics } from 'prom-client';
import { writeKubeconfig } from '../api/kubeconfig.js';
import { sleep } from '../api/timers.js';
import { type ResourceInfo, resourceOfKind } from '../api/resources.js';
import type { KubeObject } from '../api/types.js';
import { parseCidr } from '../api/cidr.js';
import { DEFAULT_ALLOCATOR_CONFIG, reservedClusterIP } from './apiserver/allocators.js';
import { createApiApp } from './apiserver/app.js';
import { AuditLog } from './apiserver/audit.js';
import { registerClusterMetrics } from './apiserver/cluster-metrics.js';
import { Registry } from './apiserver/registry.js';
import { createMemoryStore, encryptionConfigYaml, loadOrCreateEncryptionConfig, openSqliteStore, ValueTransformer, withNewKey, type Store } from './store/index.js';
import { defaultSans, TLS_SERVER_OPTIONS } from '../lib/tls.js';
import { ControlPki } from './control-pki.js';
import { connectionBudget, limitConnections, limitPendingHandshakes } from '../lib/limits.js';
import { refusedConnectionsCounter } from './apiserver/metrics.js';
import type { Server as NetServer } from 'node:net';
import { relayExecUpgrade, type NodeClientCredentials } from './apiserver/nodeproxy.js';
import { errors, toApiError } from '../api/errors.js';
import { authenticatedUser, forbidden, impersonated, requestAttributes, ServiceAccountTokens, startClusterAuth, USER, type ClusterAuth } from './auth/index.js';
import type { Pod } from '../api/types.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { defaultControllers } from './controllers/all.js';
import { clusterNetworkProblem, DEFAULT_CLUSTER_NETWORK, type ClusterNetwork } from './controllers/node-ipam.js';
import { DEFAULT_CONTROLLER_SETTINGS, startControllers, type ControllerSettings, type RunningControllers } from './controllers/manager.js';

export interface ControlOptions {
  listen: string; // host:port; port 0 picks a free one
  dataDir: string;
  store: 'sqlite' | 'memory';
  kubeconfig?: string; // where to write the admin kubeconfig
  tlsSans?: string[];
  serviceCidr?: string;
  /** Where pod addresses come from, and each node's share (default 198.19.0.0/16 in /24s). */
  clusterNetwork?: Partial<ClusterNetwork>;
  metrics?: MetricsRegistry;
  /** Where the audit log goes (JSON lines); unset, nothing is audited. */
  auditLogPath?: string;
  /** An audit.k8s.io/v1 Policy (default: every request at Metadata, health checks not at all). */
  auditPolicyFile?: string;
  /** Connections one client address may hold (default 1024); more are closed at accept. */
  connectionsPerSource?: number;
  /** The EncryptionConfiguration for data at rest (default: made in the data dir with a new key). */
  encryptionConfig?: string;
  /** Scheduler and controller settings; `false` runs the API server alone. */
  controllers?: Partial<ControllerSettings> | false;
  /** The mesh CA: its trust domain (default cluster.local) and workload certificates' lifetime (default 24 h). */
  mesh?: { trustDomain?: string; certTtlMs?: number };
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

function openStore(opts: ControlOptions, transformer: ValueTransformer): Store {
  if (opts.store === 'memory') return createMemoryStore();
  if (opts.store === 'sqlite') return openSqliteStore(join(opts.dataDir, 'state.db'), { transformer });
  throw new Error(`--store "${opts.store}" is not known; use sqlite or memory`);
}

/**
 * Puts a new key first in the encryption config file (the old ones still read) and rewrites
 * every object the old keys guarded, so that afterwards only the new key is in use.
 */
async function rotateEncryptionKey(file: string, transformer: ValueTransformer, store: Store): Promise<{ key: string; rewritten: number }> {
  const config = withNewKey(loadOrCreateEncryptionConfig(file));
  writeFileSync(`${file}.tmp`, encryptionConfigYaml(config), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  transformer.use(config);
  let rewritten = 0;
  for (const resource of transformer.resources) rewritten += (await store.rewriteStale?.(resource)) ?? 0;
  const first = config.rules[0].providers[0];
  return { key: 'aesgcm' in first ? first.aesgcm[0].name : 'identity', rewritten };
}

const SERVICE = resourceOfKind('Service');
const HANDSHAKE_TIMEOUT_MS = 10_000;
const CONNECTIONS_PER_SOURCE = 1024;
/** Connections still in their TLS handshake at once; past this the longest waiting one goes. */
const PENDING_HANDSHAKES = 512;
const ENDPOINTS = resourceOfKind('Endpoints');
const ENDPOINT_SLICE = resourceOfKind('EndpointSlice');

/**
 * The `default/kubernetes` Service (the first ClusterIP of the range, port 443), whose Endpoints
 * point at this API server, so that workloads find the API the way they do in Kubernetes.
 */
async function publishApiService(registry: Registry, cidr: string, ip: string, port: number): Promise<void> {
  const ports = [{ name: 'https', port: 443, protocol: 'TCP', targetPort: port }];
  await ensureObject(registry, SERVICE, {
    metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } },
    spec: { type: 'ClusterIP', clusterIP: reservedClusterIP(cidr, 1), ports, sessionAffinity: 'None' },
  }, (svc) => ({ ...svc, spec: { ...(svc.spec as object), ports } }));
  const subsets = [{ addresses: [{ ip }], ports: [{ name: 'https', port, protocol: 'TCP' }] }];
  await ensureObject(registry, ENDPOINTS, { metadata: { name: 'kubernetes', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } }, subsets }, (ep) => ({ ...ep, subsets }));
  const endpoints = [{ addresses: [ip], conditions: { ready: true, serving: true, terminating: false } }];
  const slicePorts = [{ name: 'https', port, protocol: 'TCP' }];
  await ensureObject(
    registry,
    ENDPOINT_SLICE,
    {
      metadata: { name: 'kubernetes', labels: { 'kubernetes.io/service-name': 'kubernetes', 'endpointslice.kubernetes.io/managed-by': 'tugboat' } },
      addressType: 'IPv4',
      endpoints,
      ports: slicePorts,
    },
    (cur) => ({ ...cur, endpoints, ports: slicePorts }),
  );
}

/** Creates `wanted` in default, or brings the stored one up to date; writes nothing when it already is. */
async function ensureObject(registry: Registry, r: ResourceInfo, wanted: KubeObject, update: (cur: KubeObject) => KubeObject): Promise<void> {
  const name = wanted.metadata.name!;
  const current = await registry.get(r, 'default', name).catch(() => undefined);
  if (!current) {
    await registry.create(r, 'default', wanted);
    return;
  }
  if (JSON.stringify(update(structuredClone(current))) === JSON.stringify(current)) return;
  await registry.modify(r, 'default', name, update);
}

const POD = resourceOfKind('Pod');

/** Upgraded connections: only `pods/{name}/exec`, authorized like any request, relayed to the pod's node. */
async function handleUpgrade(registry: Registry, auth: ClusterAuth, req: IncomingMessage, socket: Duplex, head: Buffer, nodeClient: NodeClientCredentials): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://control');
  const authenticated = await auth.authenticator.authenticate(req.socket as TLSSocket, req.headers.authorization);
  if (!authenticated) throw errors.unauthorized();
  const user = impersonated(authenticated, (name) => [req.headers[name]].flat().join(',') || undefined, auth.authorizer);
  const attributes = requestAttributes('GET', url);
  if (!auth.authorizer.authorize(user, attributes).allowed) throw forbidden(user, attributes);
  const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/.exec(url.pathname);
  if (!m) throw errors.notFoundPath();
  const pod = (await registry.get(POD, decodeURIComponent(m[1]), decodeURIComponent(m[2]))) as Pod;
  await relayExecUpgrade(registry, req, socket, head, pod, nodeClient);
}

export async function startControl(opts: ControlOptions): Promise<RunningControl> {
  const { host, port } = parseListen(opts.listen);
  if (opts.serviceCidr) parseCidr(opts.serviceCidr);
  const network = { ...DEFAULT_CLUSTER_NETWORK, ...opts.clusterNetwork };
  const networkProblem = clusterNetworkProblem(network, opts.serviceCidr ?? DEFAULT_ALLOCATOR_CONFIG.serviceCidr);
  if (networkProblem) throw new Error(networkProblem);
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  // A data dir made before (by anyone, with any mode) holds keys and the store: its owner's only.
  chmodSync(opts.dataDir, 0o700);
  const pkiDir = join(opts.dataDir, 'pki');
  // In-cluster clients reach the API as https://kubernetes.default.svc (its ClusterIP).
  const inCluster = [reservedClusterIP(opts.serviceCidr ?? DEFAULT_ALLOCATOR_CONFIG.serviceCidr, 1), 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];
  const sans = defaultSans([...(opts.tlsSans ?? []), ...inCluster, ...(host === '0.0.0.0' || host === '::' ? [] : [host])]);
  const pki = await ControlPki.open(pkiDir, sans);
  const meshCa = await MeshCa.open(join(pkiDir, 'mesh'), opts.mesh?.trustDomain ?? DEFAULT_TRUST_DOMAIN, opts.mesh?.certTtlMs);
  const token = loadOrCreateToken(opts.dataDir);
  const encryptionFile = opts.encryptionConfig ?? join(opts.dataDir, 'encryption-config.yaml');
  const transformer = new ValueTransformer(loadOrCreateEncryptionConfig(encryptionFile));
  const store = openStore(opts, transformer);
  const registry = new Registry(store, { allocator: { ...DEFAULT_ALLOCATOR_CONFIG, ...(opts.serviceCidr ? { serviceCidr: opts.serviceCidr } : {}) } });
  const metrics = opts.metrics ?? new MetricsRegistry();
  if (!opts.metrics) collectDefaultMetrics({ register: metrics });
  registerClusterMetrics(metrics, registry);

  // The controllers and scheduler run in this process as system:kube-controller-manager, with a
  // token that exists only in memory.
  const controllerToken = randomBytes(32).toString('base64url');
  let auth: ClusterAuth;
  try {
    await registry.start();
    // Values written before (in plain text, or under a key no longer first) are encrypted now.
    for (const resource of transformer.resources) await store.rewriteStale?.(resource);
    auth = await startClusterAuth(registry, {
      adminToken: token,
      componentTokens: new Map([[controllerToken, authenticatedUser(USER.controllerManager)]]),
      serviceAccountTokens: ServiceAccountTokens.load(pkiDir),
      // The loop that gives namespaces their defaults is a controller: none with --controllers none.
      caCert: opts.controllers === false ? undefined : pki,
    });
  } catch (e) {
    await registry.close();
    await store.close();
    throw e;
  }

  let address = '';
  // Control's own client certificate towards node APIs (kube-apiserver's kubelet client).
  const nodeClient = pki.nodeClient;
  const audit = opts.auditLogPath ? AuditLog.open(opts.auditLogPath, opts.auditPolicyFile) : undefined;
  const app = createApiApp({ registry, auth, nodeClient, metrics, audit, serverAddress: () => address, rotateEncryptionKey: () => rotateEncryptionKey(encryptionFile, transformer, store), rotateCa: (phase) => pki.rotate(phase), caBundle: () => pki.bundle(), meshCa });
  const server = serve({
    fetch: app.fetch,
    hostname: host,
    port,
    createServer,
    // A client that has not finished its TLS handshake within 10 s is gone (it holds a descriptor).
    serverOptions: { ...TLS_SERVER_OPTIONS, key: pki.tls.key, cert: pki.tls.cert, ca: pki.bundle(), requestCert: true, rejectUnauthorized: false, handshakeTimeout: HANDSHAKE_TIMEOUT_MS },
  });
  const refused = refusedConnectionsCounter(metrics);
  limitConnections(server as unknown as NetServer, { maxConnections: connectionBudget(), perSource: opts.connectionsPerSource ?? CONNECTIONS_PER_SOURCE, onRefused: () => refused.inc() });
  limitPendingHandshakes(server as unknown as TlsServer, PENDING_HANDSHAKES, () => refused.inc());
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(e.code === 'EADDRINUSE' ? `cannot listen on ${opts.listen}: the address is in use; pick another with --listen` : `cannot listen on ${opts.listen}: ${e.message}`, { cause: e })),
    );
  }).catch(async (e) => {
    await auth.stop();
    await registry.close();
    await store.close();
    throw e;
  });
  server.on('error', (e) => console.error('tug control: server error:', e));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    void handleUpgrade(registry, auth, req, socket, head, nodeClient).catch((e) => {
      const status = toApiError(e).toStatus();
      const body = JSON.stringify(status);
      socket.end(`HTTP/1.1 ${status.code} ${status.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    });
  });
  const bound = server.address() as AddressInfo;
  const clientHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  address = `${clientHost.includes(':') ? `[${clientHost}]` : clientHost}:${bound.port}`;
  const url = `https://${address}`;
  if (opts.kubeconfig) writeKubeconfig(opts.kubeconfig, { server: url, caCert: pki.bundle(), token });
  try {
    await publishApiService(registry, opts.serviceCidr ?? DEFAULT_ALLOCATOR_CONFIG.serviceCidr, clientHost, bound.port);
  } catch (e) {
    console.error('tug control: could not publish the kubernetes Service:', e);
  }

  // Serving and kubelet-client certificates are renewed while control runs, a third of their life
  // before they end, and made anew at once by a CA rotation; every client gets a new bundle.
  pki.onChange((change) => {
    (server as unknown as TlsServer).setSecureContext({ ...TLS_SERVER_OPTIONS, key: pki.tls.key, cert: pki.tls.cert, ca: pki.bundle() });
    if (change.serving) console.error('tug control: made a new API serving certificate');
    if (!change.bundle) return;
    if (opts.kubeconfig) writeKubeconfig(opts.kubeconfig, { server: url, caCert: pki.bundle(), token });
    controllers?.trust(pki.bundle());
    console.error('tug control: the trusted CAs changed; kubeconfig and kube-root-ca.crt carry the new bundle');
  });
  const renewal = new AbortController();
  const renewing = keepCertificatesFresh(renewal.signal, () => pki.refresh().then(() => undefined));

  let controllers: RunningControllers | undefined;
  if (opts.controllers !== false) {
    const settings = { ...DEFAULT_CONTROLLER_SETTINGS, ...(opts.controllers ?? {}) };
    try {
      controllers = await startControllers({ server: url, caCert: pki.bundle(), token: controllerToken }, metrics, defaultControllers(settings, pki.ca, network));
    } catch (e) {
      await closeServer(server);
      await auth.stop();
      await registry.close();
      await store.close();
      throw e;
    }
  }

  return {
    url,
    kubeconfig: opts.kubeconfig,
    token,
    caCert: pki.bundle(),
    registry,
    metrics,
    async stop() {
      renewal.abort();
      await renewing;
      await controllers?.stop();
      await closeServer(server);
      await auth.stop();
      await audit?.close();
      await registry.close();
      await store.close();
    },
  };
}

/** Runs `renew` every hour until `signal` aborts; a failure is logged and tried again the next hour. */
async function keepCertificatesFresh(signal: AbortSignal, renew: () => Promise<void>): Promise<void> {
  while (!signal.aborted) {
    await sleep(3600_000, signal);
    if (signal.aborted) return;
    await renew().catch((e) => console.error(`tug control: renewing certificates: ${(e as Error).message}`));
  }
}

function closeServer(server: { close(cb: () => void): unknown }): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}
