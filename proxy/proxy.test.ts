import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { ApiClient } from '../api/client.js';
import type { ResourceInfo } from '../api/resources.js';
import type { Endpoints, KubeList, KubeObject, Service, WatchEvent } from '../api/types.js';
import { startProxy, type RunningProxy } from './proxy.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A stand-in for the API: lists what the test put in, streams what it emits, records creates. */
class FakeApi {
  readonly objects = new Map<string, KubeObject[]>([['services', []], ['endpoints', []]]);
  readonly created: KubeObject[] = [];
  private readonly watchers = new Map<string, (e: WatchEvent) => void>();
  private rv = 10;
  private release!: () => void;
  /** Lists answer once the test opens this gate (to see that nothing is bound before the sync). */
  readonly gate = new Promise<void>((r) => (this.release = r));

  open(): void {
    this.release();
  }

  async list(r: ResourceInfo): Promise<KubeList> {
    await this.gate;
    return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: String(this.rv) }, items: [...this.objects.get(r.plural)!] };
  }

  async watch(r: ResourceInfo, _ns: unknown, _opts: unknown, onEvent: (e: WatchEvent) => void, signal?: AbortSignal): Promise<void> {
    this.watchers.set(r.plural, onEvent);
    await new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
  }

  async create(_r: ResourceInfo, _ns: unknown, obj: KubeObject): Promise<KubeObject> {
    this.created.push(obj);
    return obj;
  }

  /** Sets an object before the lists, or streams its change after them. */
  put(plural: 'services' | 'endpoints', obj: KubeObject, type: 'ADDED' | 'MODIFIED' | 'DELETED' = 'ADDED'): string {
    const rv = String(++this.rv);
    const object = { ...obj, metadata: { ...obj.metadata, resourceVersion: rv } };
    const watcher = this.watchers.get(plural);
    if (watcher) watcher({ type, object });
    else this.objects.get(plural)!.push(object);
    return rv;
  }
}

interface Upstream {
  name: string;
  port: number;
  hits: number;
}

async function upstream(name: string): Promise<Upstream> {
  const info = { name, port: 0, hits: 0 };
  const sockets = new Set<Socket>();
  const srv: Server = createServer((s) => {
    info.hits++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    s.end(name);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  info.port = (srv.address() as { port: number }).port;
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => srv.close(() => r()));
  });
  return info;
}

function fetchFrom(host: string, port: number): Promise<{ data: string; error?: string }> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    let data = '';
    let error: string | undefined;
    s.on('data', (d) => (data += d));
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code));
    s.on('close', () => resolve({ data, ...(error ? { error } : {}) }));
  });
}

/** A ClusterIP and port unlikely to be used by anything else running on this host. */
function address(): { ip: string; port: number } {
  return { ip: `127.77.254.${10 + Math.floor(Math.random() * 240)}`, port: 40000 + Math.floor(Math.random() * 20000) };
}

const svc = (name: string, spec: Service['spec']): Service => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default', uid: `uid-${name}` }, spec });
const eps = (name: string, ports: number[], protocol = 'TCP', pods?: string[]): Endpoints => ({
  apiVersion: 'v1',
  kind: 'Endpoints',
  metadata: { name, namespace: 'default' },
  subsets: ports.map((port, i) => ({ addresses: [{ ip: '127.0.0.1', targetRef: { kind: 'Pod', name: pods?.[i] ?? `${name}-${i}` } }], ports: [{ name: 'p', port, protocol }] })),
});

async function start(api: FakeApi) {
  const registry = new Registry();
  const revisions: string[] = [];
  const waiters: (() => void)[] = [];
  const proxy: RunningProxy = await startProxy({
    client: api as unknown as ApiClient,
    nodeName: 'n1',
    nodeIP: '127.0.0.1',
    metrics: registry,
    log: () => undefined,
    bindRetryMs: 20,
    onProgrammed: (rv) => {
      revisions.push(rv);
      for (const w of waiters.splice(0)) w();
    },
  });
  cleanups.push(() => proxy.stop());
  /** Resolves after a sync that programmed at least revision `rv`. */
  const programmed = async (rv: string) => {
    while (!(BigInt(proxy.programmedRevision() || '0') >= BigInt(rv))) await new Promise<void>((r) => waiters.push(r));
  };
  const nextSync = () => new Promise<void>((r) => waiters.push(r));
  return { proxy, registry, revisions, programmed, nextSync };
}

describe('startProxy', () => {
  it('binds nothing before the informers synced, then serves and reports the Endpoints revision', async () => {
    const api = new FakeApi();
    const a = address();
    const up = await upstream('u');
    api.put('services', svc('web', { clusterIP: a.ip, ports: [{ name: 'p', port: a.port }] }));
    const epRv = api.put('endpoints', eps('web', [up.port]));
    const p = await start(api);
    assert.equal((await fetchFrom(a.ip, a.port)).error, 'ECONNREFUSED');
    assert.equal(p.proxy.programmedRevision(), '');
    api.open();
    await p.nextSync();
    assert.equal(p.proxy.programmedRevision(), epRv);
    assert.deepEqual(await fetchFrom(a.ip, a.port), { data: 'u' });
  });

  it('keeps round robin going across syncs, and measures the programming latency of a new endpoint', async () => {
    const api = new FakeApi();
    api.open();
    const a = address();
    const ups = [await upstream('a'), await upstream('b'), await upstream('c'), await upstream('d')];
    // The table orders endpoints by ip:port.
    const order = (list: Upstream[]) => [...list].sort((x, y) => x.port - y.port).map((u) => u.name);
    api.put('services', svc('web', { clusterIP: a.ip, ports: [{ name: 'p', port: a.port }] }));
    const rv = api.put('endpoints', eps('web', ups.slice(0, 3).map((u) => u.port), 'TCP', ups.slice(0, 3).map((u) => u.name)));
    const p = await start(api);
    await p.programmed(rv);
    const got = [(await fetchFrom(a.ip, a.port)).data];
    // An unrelated change: the position must not go back to the first endpoint.
    const synced = p.nextSync();
    api.put('services', svc('other', { clusterIP: address().ip, ports: [{ name: 'p', port: address().port }] }));
    await synced;
    got.push((await fetchFrom(a.ip, a.port)).data);
    assert.deepEqual(got, order(ups.slice(0, 3)).slice(0, 2));
    // A grown set: the round goes on from where it was, and covers the new endpoint once per round.
    await p.programmed(api.put('endpoints', eps('web', ups.map((u) => u.port), 'TCP', ups.map((u) => u.name)), 'MODIFIED'));
    const round: string[] = [];
    for (let i = 0; i < 4; i++) round.push((await fetchFrom(a.ip, a.port)).data);
    assert.equal(round[0], order(ups.slice(0, 3))[2]);
    assert.deepEqual([...round].sort(), ['a', 'b', 'c', 'd']);
    const latency = await p.registry.getSingleMetric('tug_proxy_programming_latency_seconds')!.get();
    assert.equal((latency.values as { metricName?: string; value: number }[]).find((v) => v.metricName === 'tug_proxy_programming_latency_seconds_count')?.value, 1);
  });

  it('moves a NodePort listener when the nodePort changes, and closes a deleted Service', async () => {
    const api = new FakeApi();
    api.open();
    const a = address();
    const up = await upstream('u');
    const first = 30000 + Math.floor(Math.random() * 1300);
    const second = first + 1400;
    const service = (nodePort: number) => svc('np', { type: 'NodePort', clusterIP: a.ip, ports: [{ name: 'p', port: a.port, nodePort }] });
    api.put('services', service(first));
    const rv = api.put('endpoints', eps('np', [up.port]));
    const p = await start(api);
    await p.programmed(rv);
    assert.equal((await fetchFrom('127.0.0.1', first)).data, 'u');
    let synced = p.nextSync();
    api.put('services', service(second), 'MODIFIED');
    await synced;
    assert.equal((await fetchFrom('127.0.0.1', first)).error, 'ECONNREFUSED');
    assert.equal((await fetchFrom('127.0.0.1', second)).data, 'u');
    synced = p.nextSync();
    api.put('services', service(second), 'DELETED');
    await synced;
    assert.equal((await fetchFrom('127.0.0.1', second)).error, 'ECONNREFUSED');
    assert.equal((await fetchFrom(a.ip, a.port)).error, 'ECONNREFUSED');
  });

  it('relays UDP through the ClusterIP', async () => {
    const api = new FakeApi();
    api.open();
    const a = address();
    const echo = createSocket('udp4');
    echo.on('error', () => undefined);
    echo.on('message', (m, r) => echo.send(`echo:${m}`, r.port, r.address));
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => echo.close(() => r())));
    api.put('services', svc('dns', { clusterIP: a.ip, ports: [{ name: 'p', port: a.port, protocol: 'UDP' }] }));
    const rv = api.put('endpoints', eps('dns', [echo.address().port], 'UDP'));
    const p = await start(api);
    await p.programmed(rv);
    const client = createSocket('udp4');
    client.on('error', () => undefined);
    cleanups.push(() => new Promise<void>((r) => client.close(() => r())));
    const reply = new Promise<string>((r) => client.once('message', (m) => r(String(m))));
    client.send('hi', a.port, a.ip);
    assert.equal(await reply, 'echo:hi');
  });

  it('a bind failure is one Warning Event and a metric, retried until the port is free', async () => {
    const api = new FakeApi();
    api.open();
    const a = address();
    const up = await upstream('u');
    const squatter = createServer();
    squatter.on('error', () => undefined);
    await new Promise<void>((r) => squatter.listen(a.port, a.ip, r));
    api.put('services', svc('taken', { clusterIP: a.ip, ports: [{ name: 'p', port: a.port }] }));
    api.put('endpoints', eps('taken', [up.port]));
    const p = await start(api);
    // A few retries fail while the port is held.
    while (p.revisions.length < 3) await p.nextSync();
    assert.equal(api.created.length, 1);
    const event = api.created[0] as KubeObject & { reason: string; type: string; involvedObject: { name: string; uid: string } };
    assert.deepEqual([event.reason, event.type, event.involvedObject.name, event.involvedObject.uid], ['FailedToBindPort', 'Warning', 'taken', 'uid-taken']);
    assert.match((event as unknown as { message: string }).message, /\(EADDRINUSE\): the port is in use by another process/);
    const errors = await p.registry.getSingleMetric('tug_proxy_bind_errors_total')!.get();
    assert.ok(errors.values[0].value >= 3);
    await new Promise<void>((r) => squatter.close(() => r()));
    while ((await fetchFrom(a.ip, a.port)).data !== 'u') await p.nextSync();
    assert.equal(api.created.length, 1);
  });
});
