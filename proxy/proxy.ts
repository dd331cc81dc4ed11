// The node's service proxy (kube-proxy's shape): informers on Services and Endpoints whose
// handlers only record; one rate-limited loop builds the whole table as data, swaps it in, and
// makes the listeners match it (ClusterIP:port per Service port, 0.0.0.0:nodePort for NodePort
// Services). A bind failure is an Event and a metric, retried later, never a crash.
import { ENDPOINTS_TRIGGER_TIME_ANNOTATION } from '../api/annotations.js';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import type { Registry } from 'prom-client';
import { checkpointIn } from '../api/checkpoint.js';
import type { ApiClient } from '../api/client.js';
import { Informer } from '../api/informer.js';
import { resourceOfKind } from '../api/resources.js';
import { sleep } from '../api/timers.js';
import type { Endpoints, Event as KubeEvent, Service } from '../api/types.js';
import { AdmittingPicker, Balancer, type Admission } from './balancer.js';
import { createForwarder, type ForwarderSettings } from './forwarders.js';
import { listenTcp } from './listener.js';
import { ProxyMetrics } from './metrics.js';
import { relayUnavailable } from './relay.js';
import { connectionBudget, ConnectionShares } from '../lib/limits.js';
import { buildTable, listenAddresses, type ForwardMode, type ListenAddress, type ServicePortEntry } from './table.js';
import type { Carried, Forwarder } from './types.js';
import { UdpForwarder } from './udp.js';
import { GarbageCollections } from '../lib/internals.js';

const SERVICE = resourceOfKind('Service');
const ENDPOINTS = resourceOfKind('Endpoints');
const EVENT = resourceOfKind('Event');

export interface ProxyOptions {
  client: ApiClient;
  nodeName: string;
  nodeIP: string;
  metrics: Registry;
  log?: (message: string) => void;
  /** After each applied sync: the Endpoints revision this proxy now serves. */
  onProgrammed?(revision: string): void;
  /** Least time between the starts of two syncs (default 30 ms); a sync after a quiet spell runs at once. */
  minSyncIntervalMs?: number;
  /** First retry of failed binds (default 1 s), doubling up to 10 s while they keep failing. */
  bindRetryMs?: number;
  tcp?: ForwarderSettings;
  udpIdleTimeoutMs?: number;
  /** Where Services and Endpoints are checkpointed, so a restart while control is away still serves. */
  checkpointDir?: string;
  /**
   * TCP connections the proxy carries at once (default: half the descriptors the open file limit
   * leaves after a reserve, as each costs two), and how many one client address may hold (1024).
   */
  connections?: { max?: number; perSource?: number };
  /** NetworkPolicy: whether a client may reach an endpoint (unset: every client may). */
  admits?: Admission;
}

export interface RunningProxy {
  stop(): Promise<void>;
  /** The Endpoints revision of the table being served ('' before the first sync). */
  programmedRevision(): string;
}

interface PortState {
  entry: ServicePortEntry;
  balancer: Balancer;
  mode: ForwardMode;
  forwarder?: Forwarder;
  udp?: UdpForwarder;
}

interface Listener {
  addr: ListenAddress;
  close(): Promise<void>;
}

export async function startProxy(opts: ProxyOptions): Promise<RunningProxy> {
  const proxy = new ServiceProxy(opts);
  proxy.start();
  return { stop: () => proxy.stop(), programmedRevision: () => proxy.programmed };
}

/** Whether revision a is newer than b (store revisions are decimal strings). */
function newer(a: string, b: string): boolean {
  if (!b) return a !== '';
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return BigInt(a) > BigInt(b);
  return a !== b;
}

/** ns/name|ip:port of every ready address × port of an Endpoints (for the programming latency). */
function readyKeys(eps: Endpoints | undefined): string[] {
  if (!eps) return [];
  const prefix = `${eps.metadata.namespace ?? 'default'}/${eps.metadata.name}|`;
  const out: string[] = [];
  for (const s of eps.subsets ?? []) for (const a of s.addresses ?? []) for (const p of s.ports ?? []) out.push(`${prefix}${a.ip}:${p.port}`);
  return out;
}

class ServiceProxy {
  programmed = '';
  private readonly log: (m: string) => void;
  private readonly abort = new AbortController();
  private readonly services: Informer<Service>;
  private readonly endpoints: Informer<Endpoints>;
  private readonly metrics: ProxyMetrics;
  private ports = new Map<string, PortState>();
  private readonly listeners = new Map<string, Listener>();
  /** Client connections of every listener, so stop() leaves none open. */
  private readonly clients = new Set<Carried>();
  /** Connection slots shared by every TCP listener: a cap per client address and in all. */
  private readonly shares: ConnectionShares;
  private readonly collections = new GarbageCollections();
  /** Listen addresses whose bind failed, with the error code the Event was sent for. */
  private readonly bindFailures = new Map<string, string>();
  private bindRetryMs: number;
  private dirty = true;
  private wake?: () => void;
  private seenRevision = '';
  /** Ready endpoints seen in Endpoints updates and not yet served: key → when they became ready. */
  private pendingReady = new Map<string, number>();
  private loop?: Promise<void>;
  /** Forwarders of Service ports that left the table, still closing (awaited on stop). */
  private readonly closing = new Set<Promise<void>>();

  constructor(private readonly opts: ProxyOptions) {
    this.log = opts.log ?? ((m) => console.error(`tug proxy: ${m}`));
    this.bindRetryMs = opts.bindRetryMs ?? 1000;
    this.metrics = new ProxyMetrics(opts.metrics, () => this.endpointCounts());
    const refused = this.metrics.refusedConnections;
    // After a flood the heap V8 grew for it is given back at once, not whenever V8 next collects.
    this.shares = new ConnectionShares(
      { max: opts.connections?.max ?? Math.floor(connectionBudget() / 2), perSource: opts.connections?.perSource ?? 1024 },
      (reason) => refused.inc({ reason }),
      () => this.collections.request(),
    );
    const record = () => this.kick();
    this.services = new Informer<Service>(opts.client, SERVICE, { onAdd: record, onUpdate: record, onDelete: record }, checkpointIn<Service>(opts.checkpointDir, 'proxy-services.json', this.log));
    this.endpoints = new Informer<Endpoints>(opts.client, ENDPOINTS, {
      onAdd: (e) => this.recordEndpoints(undefined, e),
      onUpdate: (o, e) => this.recordEndpoints(o, e),
      onDelete: (e) => this.recordEndpoints(e, undefined),
    }, checkpointIn<Endpoints>(opts.checkpointDir, 'proxy-endpoints.json', this.log));
  }

  start(): void {
    const noRelay = relayUnavailable();
    if (noRelay) this.log(`the native relay is not available (${noRelay}); TCP connections are relayed in JavaScript`);
    this.services.start();
    this.endpoints.start();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.wake?.();
    await Promise.all([this.services.stop(), this.endpoints.stop()]);
    await this.loop;
    await Promise.all([...this.listeners.values()].map((l) => l.close()));
    this.listeners.clear();
    // The node is going away: open connections end now, not after the forwarders' grace periods.
    for (const c of this.clients) c.destroy();
    this.clients.clear();
    await Promise.all([...this.ports.values()].map((st) => this.closeForwarders(st)));
    this.ports.clear();
    await Promise.all(this.closing);
    this.collections.stop();
  }

  // ---- handlers: bookkeeping only ----

  private kick(): void {
    this.dirty = true;
    this.wake?.();
  }

  private recordEndpoints(old: Endpoints | undefined, eps: Endpoints | undefined): void {
    const rv = (eps ?? old)?.metadata.resourceVersion ?? '';
    if (newer(rv, this.seenRevision)) this.seenRevision = rv;
    // The initial list is the state at start, not a change this proxy could be slow to apply.
    if (eps && this.endpoints.hasSynced()) {
      const before = new Set(readyKeys(old));
      let at = Date.now();
      const trigger = Date.parse(eps.metadata.annotations?.[ENDPOINTS_TRIGGER_TIME_ANNOTATION] ?? '');
      if (Number.isFinite(trigger) && trigger <= at && trigger > at - 300_000) at = trigger;
      for (const k of readyKeys(eps)) if (!before.has(k) && !this.pendingReady.has(k)) this.pendingReady.set(k, at);
    }
    this.kick();
  }

  // ---- the loop ----

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    await Promise.all([this.services.waitForSync(), this.endpoints.waitForSync()]);
    const minInterval = this.opts.minSyncIntervalMs ?? 30;
    while (!signal.aborted) {
      this.dirty = false;
      const started = performance.now();
      try {
        await this.sync();
      } catch (e) {
        // Keep serving the last good table; try again shortly rather than in a tight loop.
        this.log(`sync failed, retrying in 1 s: ${(e as Error).message}`);
        this.dirty = true;
        await sleep(1000, signal);
      }
      if (signal.aborted) break;
      await sleep(Math.max(0, minInterval - (performance.now() - started)), signal);
      await this.waitForWork(this.bindFailures.size ? this.nextBindRetry() : undefined);
    }
  }

  private nextBindRetry(): number {
    const ms = this.bindRetryMs;
    this.bindRetryMs = Math.min(ms * 2, 10_000);
    return ms;
  }

  /** Resolves on a recorded change, on stop, or after `timeoutMs` (a bind retry). */
  private waitForWork(timeoutMs?: number): Promise<void> {
    const signal = this.abort.signal;
    if (this.dirty || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wake = undefined;
        resolve();
      };
      const timer = timeoutMs === undefined ? undefined : setTimeout(done, timeoutMs);
      this.wake = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Builds the table from the informers' contents, swaps it in, and makes the listeners match. */
  private async sync(): Promise<void> {
    const revision = this.seenRevision;
    const pending = this.pendingReady;
    this.pendingReady = new Map();
    const table = buildTable(this.services.list(), this.endpoints.list());

    const next = new Map<string, PortState>();
    for (const entry of table) next.set(entry.key, this.stateFor(entry));
    for (const [key, st] of this.ports) if (!next.has(key)) this.closeInBackground(st);
    this.ports = next;
    const swappedAt = Date.now();
    this.observeProgramming(table, pending, swappedAt);
    this.metrics.retain(table);

    // Listeners: one per ClusterIP:port and per nodePort; the first Service port claiming an address keeps it.
    const desired = new Map<string, ListenAddress>();
    for (const entry of table) for (const a of listenAddresses(entry)) if (!desired.has(a.key)) desired.set(a.key, a);
    const closing: Promise<void>[] = [];
    for (const [key, l] of this.listeners) {
      const want = desired.get(key);
      if (!want || want.entryKey !== l.addr.entryKey) {
        this.listeners.delete(key);
        closing.push(l.close());
      }
    }
    for (const key of this.bindFailures.keys()) if (!desired.has(key)) this.bindFailures.delete(key);
    await Promise.all(closing);
    await Promise.all([...desired.values()].filter((a) => !this.listeners.has(a.key)).map((a) => this.bind(a)));
    if (this.bindFailures.size === 0) this.bindRetryMs = this.opts.bindRetryMs ?? 1000;

    this.programmed = revision;
    this.opts.onProgrammed?.(revision);
  }

  private stateFor(entry: ServicePortEntry): PortState {
    let st = this.ports.get(entry.key);
    if (!st) {
      st = { entry, balancer: new Balancer({ affinityTimeoutSeconds: entry.affinityTimeoutSeconds }), mode: entry.mode };
      this.makeForwarders(st);
    } else if (st.mode !== entry.mode) {
      this.closeInBackground(st);
      st.mode = entry.mode;
      st.entry = entry;
      this.makeForwarders(st);
    }
    st.entry = entry;
    st.balancer.setAffinity(entry.affinityTimeoutSeconds);
    st.balancer.setEndpoints(entry.endpoints);
    return st;
  }

  private makeForwarders(st: PortState): void {
    const { entry, balancer } = st;
    const target = { namespace: entry.namespace, service: entry.service, port: entry.portName || String(entry.port) };
    const observer = this.metrics.observerFor(entry);
    const admits = this.opts.admits;
    const chosen = admits ? new AdmittingPicker(balancer, admits, entry.protocol) : balancer;
    const picker = () => chosen;
    if (st.mode === 'udp') st.udp = new UdpForwarder({ service: `${target.namespace}/${target.service}:${target.port}`, picker, observer, idleTimeoutMs: this.opts.udpIdleTimeoutMs });
    else st.forwarder = createForwarder(st.mode, target, picker, observer, this.opts.tcp);
  }

  /** Open connections of a removed or re-moded port finish on the old forwarder while the sync goes on. */
  private closeInBackground(st: PortState): void {
    const p = this.closeForwarders(st).finally(() => this.closing.delete(p));
    this.closing.add(p);
  }

  private async closeForwarders(st: PortState): Promise<void> {
    const { forwarder, udp } = st;
    st.forwarder = undefined;
    st.udp = undefined;
    await Promise.all([forwarder?.close(), udp?.close()]);
  }

  private observeProgramming(table: ServicePortEntry[], pending: Map<string, number>, now: number): void {
    if (pending.size === 0) return;
    for (const entry of table) {
      const prefix = `${entry.namespace}/${entry.service}|`;
      for (const e of entry.endpoints) {
        const key = `${prefix}${e.ip}:${e.port}`;
        const at = pending.get(key);
        if (at === undefined) continue;
        pending.delete(key);
        this.metrics.programmingLatency.observe(Math.max(0, now - at) / 1000);
      }
    }
  }

  private *endpointCounts() {
    for (const st of this.ports.values()) yield { entry: st.entry, ready: st.entry.endpoints.length, ejected: st.balancer.ejectedCount() };
  }

  // ---- listeners ----

  private async bind(addr: ListenAddress): Promise<void> {
    try {
      const listener = addr.protocol === 'UDP' ? await this.bindUdp(addr) : await this.bindTcp(addr);
      if (this.abort.signal.aborted) {
        await listener.close();
        return;
      }
      this.listeners.set(addr.key, listener);
      if (this.bindFailures.delete(addr.key)) this.log(`now listening on ${addr.host}:${addr.port}/${addr.protocol} for ${addr.entryKey}`);
    } catch (e) {
      this.bindFailed(addr, e as NodeJS.ErrnoException);
    }
  }

  private async bindTcp(addr: ListenAddress): Promise<Listener> {
    const listener = await listenTcp({
      host: addr.host,
      port: addr.port,
      forwarder: () => (this.abort.signal.aborted ? undefined : this.ports.get(addr.entryKey)?.forwarder),
      connections: this.clients,
      onError: (e) => this.log(`listener ${addr.host}:${addr.port}: ${e.message}`),
      admit: (clientIP) => this.shares.admit(clientIP),
    });
    // Closing frees the port at once; connections already accepted finish on their own.
    return { addr, close: async () => listener.close() };
  }

  private bindUdp(addr: ListenAddress): Promise<Listener> {
    const socket: UdpSocket = createSocket('udp4');
    return new Promise((resolve, reject) => {
      const failed = (e: Error) => {
        socket.close();
        reject(e);
      };
      socket.once('error', failed);
      socket.bind(addr.port, addr.host, () => {
        socket.off('error', failed);
        socket.on('error', (e) => this.log(`listener ${addr.host}:${addr.port}/UDP: ${e.message}`));
        socket.on('message', (msg, rinfo) => this.ports.get(addr.entryKey)?.udp?.handle(socket, msg, rinfo));
        resolve({ addr, close: () => new Promise<void>((r) => socket.close(() => r())) });
      });
    });
  }

  private bindFailed(addr: ListenAddress, e: NodeJS.ErrnoException): void {
    const code = e.code ?? 'ERROR';
    const st = this.ports.get(addr.entryKey);
    if (st) this.metrics.bindError(st.entry, code);
    if (this.bindFailures.get(addr.key) === code) return;
    this.bindFailures.set(addr.key, code);
    const why = code === 'EADDRINUSE' ? 'the port is in use by another process' : code === 'EACCES' ? 'no permission (ports below 1024 need root or CAP_NET_BIND_SERVICE)' : e.message;
    const message = `could not listen on ${addr.host}:${addr.port}/${addr.protocol} (${code}): ${why}; the proxy retries, other Services are unaffected`;
    this.log(`${addr.entryKey}: ${message}`);
    if (st) this.warn(st.entry, 'FailedToBindPort', message);
  }

  private warn(entry: ServicePortEntry, reason: string, message: string): void {
    const svc = this.services.get(entry.namespace, entry.service);
    const ts = new Date().toISOString();
    const event: KubeEvent = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${entry.service}.`, namespace: entry.namespace },
      involvedObject: { kind: 'Service', apiVersion: 'v1', namespace: entry.namespace, name: entry.service, uid: svc?.metadata.uid },
      reason,
      message,
      type: 'Warning',
      source: { component: 'tug-proxy', host: this.opts.nodeName },
      firstTimestamp: ts,
      lastTimestamp: ts,
      count: 1,
    };
    this.opts.client.create(EVENT, entry.namespace, event).catch((err) => this.log(`could not record event ${reason}: ${(err as Error).message}`));
  }
}
