// The node's service proxy end to end: a control process, one `tug node` (node IP 127.0.0.1),
// Services without a selector whose hand-written Endpoints point at small TCP servers this test
// runs on 127.0.0.1. Traffic goes only to 127.0.0.0/8 (ClusterIPs are 127.77.x.x).
import assert from 'node:assert/strict';
import { Agent, createServer as createHttpServer, request } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { NodeCluster } from './node-support.js';
import { needs } from '../requirements.js';

interface NamedServer {
  name: string;
  port: number;
  hits: number;
}

const cluster = new NodeCluster();
const servers: Server[] = [];
const sockets = new Set<Socket>();
let metricsPort = 0;

/** A TCP server on 127.0.0.1 that answers its name and closes. */
async function namedServer(name: string): Promise<NamedServer> {
  const info = { name, port: 0, hits: 0 };
  const srv = createServer((s) => {
    info.hits++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    s.end(name);
  });
  srv.on('error', () => undefined);
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  info.port = (srv.address() as { port: number }).port;
  return info;
}

/** Connects, reads until the peer closes; resolves with what came, or the error code. */
function fetchFrom(host: string, port: number): Promise<{ data: string; error?: string }> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    sockets.add(s);
    let data = '';
    let error: string | undefined;
    s.on('data', (d) => (data += d));
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.on('close', () => {
      sockets.delete(s);
      resolve({ data, ...(error ? { error } : {}) });
    });
  });
}

/** An HTTP/1.1 keep-alive server on 127.0.0.1 answering its name. */
async function httpServer(name: string): Promise<NamedServer> {
  const info = { name, port: 0, hits: 0 };
  const srv = createHttpServer((req, res) => {
    info.hits++;
    res.end(name);
  });
  srv.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  srv.on('error', () => undefined);
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  info.port = (srv.address() as { port: number }).port;
  return info;
}

/** One GET through `agent`; resolves with the status, the body and whether the socket was reused. */
function get(agent: Agent, host: string, port: number): Promise<{ status: number; body: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/', agent }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function service(name: string, spec: Record<string, unknown>) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ports: [{ name: 'tcp', port: 7000, protocol: 'TCP' }], ...spec } };
}

function endpoints(name: string, targets: NamedServer[]) {
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name },
    subsets: targets.map((t) => ({ addresses: [{ ip: '127.0.0.1', targetRef: { kind: 'Pod', name: t.name } }], ports: [{ name: 'tcp', port: t.port }] })),
  };
}

async function serviceJson(name: string): Promise<{ spec: { clusterIP: string; ports: { nodePort?: number }[] } }> {
  const r = await cluster.kubectl(['get', 'service', name, '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** Waits until connections reach every one of `targets` (the proxy has programmed them all). */
async function untilServing(host: string, port: number, targets: NamedServer[]): Promise<void> {
  const seen = new Set<string>();
  await cluster.waitFor(`${host}:${port} serving ${targets.map((t) => t.name).join(',')}`, async () => {
    const r = await fetchFrom(host, port);
    if (r.data) seen.add(r.data);
    return targets.every((t) => seen.has(t.name)) ? true : undefined;
  });
}

function metrics(): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: metricsPort, path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A port in the NodePort range that nothing on this host listens on right now. */
async function freeNodePort(): Promise<number> {
  for (;;) {
    const port = 30000 + Math.floor(Math.random() * 2768);
    const srv = createServer();
    const ok = await new Promise<boolean>((r) => {
      srv.once('error', () => r(false));
      srv.listen(port, '0.0.0.0', () => r(true));
    });
    if (ok) {
      await new Promise<void>((r) => srv.close(() => r()));
      return port;
    }
  }
}

describe('service proxy in tug node', await needs('kubectl'), () => {
  before(async () => {
    await cluster.start();
    const node = await cluster.startNode({ name: 'proxy-a', portRange: '26100-26199' });
    metricsPort = Number(/metrics on port (\d+)/.exec(node.output())?.[1]);
    assert.ok(metricsPort > 0, node.output());
  });

  after(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    await cluster.cleanup();
  });

  it('spreads 300 connections through the ClusterIP exactly over 3 endpoints, and counts them per pod', async () => {
    const targets = [await namedServer('web-a'), await namedServer('web-b'), await namedServer('web-c')];
    await cluster.apply(endpoints('web', targets));
    await cluster.apply(service('web', {}));
    const ip = (await serviceJson('web')).spec.clusterIP;
    assert.match(ip, /^127\.77\./);
    await untilServing(ip, 7000, targets);
    for (const t of targets) t.hits = 0;
    const tally: Record<string, number> = {};
    for (let round = 0; round < 30; round++) {
      for (const r of await Promise.all(Array.from({ length: 10 }, () => fetchFrom(ip, 7000)))) {
        assert.equal(r.error, undefined);
        tally[r.data] = (tally[r.data] ?? 0) + 1;
      }
    }
    assert.deepEqual(tally, { 'web-a': 100, 'web-b': 100, 'web-c': 100 });
    const text = await metrics();
    for (const t of targets) assert.match(text, new RegExp(`tug_proxy_connections_total\\{namespace="default",service="web",port="tcp",endpoint="${t.name}"[^}]*\\} \\d+`));
    assert.match(text, /tug_proxy_endpoints\{namespace="default",service="web",port="tcp",state="ready"[^}]*\} 3/);
  });

  it('spreads 300 requests on ONE keep-alive connection over 3 endpoints of an appProtocol http port', async () => {
    const targets = [await httpServer('api-a'), await httpServer('api-b'), await httpServer('api-c')];
    await cluster.apply({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'api' },
      subsets: targets.map((t) => ({ addresses: [{ ip: '127.0.0.1', targetRef: { kind: 'Pod', name: t.name } }], ports: [{ name: 'web', port: t.port }] })),
    });
    await cluster.apply(service('api', { ports: [{ name: 'web', port: 7080, protocol: 'TCP', appProtocol: 'http' }] }));
    const ip = (await serviceJson('api')).spec.clusterIP;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // Until the proxy serves all three, answers may come from fewer (or be refused/reset).
      const seen = new Set<string>();
      await cluster.waitFor('api serving all 3', async () => {
        const r = await get(agent, ip, 7080).catch(() => undefined);
        if (r?.status === 200) seen.add(r.body);
        return seen.size === 3 ? true : undefined;
      });
      agent.destroy();
      const one = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const tally: Record<string, number> = {};
        let fresh = 0;
        for (let i = 0; i < 300; i++) {
          const r = await get(one, ip, 7080);
          assert.equal(r.status, 200);
          tally[r.body] = (tally[r.body] ?? 0) + 1;
          if (!r.reused) fresh++;
        }
        assert.equal(fresh, 1, 'all 300 requests went over one client connection');
        assert.deepEqual(tally, { 'api-a': 100, 'api-b': 100, 'api-c': 100 });
      } finally {
        one.destroy();
      }
    } finally {
      agent.destroy();
    }
    assert.match(await metrics(), /tug_proxy_requests_total\{namespace="default",service="api",port="web",endpoint="api-a",code="200"[^}]*\} \d+/);
  });

  it('answers 503 naming the Service on an http port without endpoints', async () => {
    await cluster.apply(service('api-empty', { ports: [{ name: 'http', port: 7080, protocol: 'TCP' }] }));
    const ip = (await serviceJson('api-empty')).spec.clusterIP;
    const agent = new Agent({ keepAlive: false });
    try {
      const r = await cluster.waitFor('api-empty listener', () => get(agent, ip, 7080).catch(() => undefined));
      assert.equal(r.status, 503);
      assert.match(r.body, /default\/api-empty/);
    } finally {
      agent.destroy();
    }
  });

  it('answers a NodePort Service on 127.0.0.1:nodePort', async () => {
    const target = await namedServer('np-a');
    await cluster.apply(endpoints('np', [target]));
    await cluster.apply(service('np', { type: 'NodePort' }));
    const svc = await serviceJson('np');
    const nodePort = svc.spec.ports[0].nodePort!;
    assert.ok(nodePort >= 30000 && nodePort <= 32767);
    await untilServing('127.0.0.1', nodePort, [target]);
    await untilServing(svc.spec.clusterIP, 7000, [target]);
  });

  it('resets at once when a Service has no endpoints', async () => {
    await cluster.apply(service('empty', {}));
    const ip = (await serviceJson('empty')).spec.clusterIP;
    // Refused until the listener is bound; then every connection is reset, not left hanging.
    const r = await cluster.waitFor('empty service listener', async () => {
      const got = await fetchFrom(ip, 7000);
      return got.error === 'ECONNREFUSED' ? undefined : got;
    });
    assert.deepEqual(r, { data: '', error: 'ECONNRESET' });
  });

  it('closes the listener of a deleted Service', async () => {
    const target = await namedServer('gone-a');
    await cluster.apply(endpoints('gone', [target]));
    await cluster.apply(service('gone', {}));
    const ip = (await serviceJson('gone')).spec.clusterIP;
    await untilServing(ip, 7000, [target]);
    const r = await cluster.kubectl(['delete', 'service', 'gone']);
    assert.equal(r.code, 0, r.stderr);
    await cluster.waitFor('listener closed', async () => ((await fetchFrom(ip, 7000)).error === 'ECONNREFUSED' ? true : undefined));
  });

  it('a port taken by another process gives a Warning Event; the proxy keeps serving, and binds once the port is free', async () => {
    const nodePort = await freeNodePort();
    const squatter = createServer((s) => s.destroy());
    squatter.on('error', () => undefined);
    await new Promise<void>((r) => squatter.listen(nodePort, '0.0.0.0', r));
    try {
      const target = await namedServer('taken-a');
      await cluster.apply(endpoints('taken', [target]));
      await cluster.apply(service('taken', { type: 'NodePort', ports: [{ name: 'tcp', port: 7000, protocol: 'TCP', nodePort }] }));
      const events = await cluster.waitFor('FailedToBindPort event', async () => {
        const list = await cluster.eventsFor('taken');
        return list.some((e) => e.reason === 'FailedToBindPort') ? list : undefined;
      });
      const event = events.find((e) => e.reason === 'FailedToBindPort')!;
      assert.equal(event.type, 'Warning');
      assert.match(event.message, new RegExp(`0\\.0\\.0\\.0:${nodePort}/TCP \\(EADDRINUSE\\)`));
      // Its ClusterIP, and every other Service, still serve.
      await untilServing((await serviceJson('taken')).spec.clusterIP, 7000, [target]);
      const web = await serviceJson('web');
      assert.equal((await fetchFrom(web.spec.clusterIP, 7000)).error, undefined);
      assert.match(await metrics(), new RegExp(`tug_proxy_bind_errors_total\\{namespace="default",service="taken",port="tcp",code="EADDRINUSE"[^}]*\\} [1-9]`));
      await new Promise<void>((r) => squatter.close(() => r()));
      await untilServing('127.0.0.1', nodePort, [target]);
      assert.equal((await cluster.eventsFor('taken')).filter((e) => e.reason === 'FailedToBindPort').length, 1);
    } finally {
      if (squatter.listening) await new Promise<void>((r) => squatter.close(() => r()));
    }
  });
});
