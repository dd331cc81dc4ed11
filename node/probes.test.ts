import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTls } from '../lib/tls.js';
import type { Probe } from '../api/types.js';
import { ContainerProbes, ProbeWorker, probeTiming, runProbeOnce, type ProbeKind, type ProbeResult, type ProbeTarget } from './probes.js';

const HOST = '127.0.0.1';
/** Probe seconds in these tests: 1 "second" = 40 ms. */
const SECOND = 40;

interface TestServer {
  port: number;
  requests: http.IncomingMessage[];
  status: number;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 answering `status` (switchable), with a few fixed routes. */
async function httpServer(): Promise<TestServer> {
  const state = { status: 200, requests: [] as http.IncomingMessage[] };
  const server = http.createServer((req, res) => {
    state.requests.push(req);
    if (req.url === '/hang') return; // never answers
    if (req.url?.startsWith('/redirect-to/')) {
      res.writeHead(302, { Location: decodeURIComponent(req.url.slice('/redirect-to/'.length)) });
      return res.end();
    }
    if (req.url === '/loop') {
      res.writeHead(301, { Location: '/loop' });
      return res.end();
    }
    res.writeHead(req.url === '/bad' ? 500 : state.status);
    res.end('x'.repeat(req.url === '/big' ? 100_000 : 10));
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return Object.assign(state, {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  }) as TestServer;
}

function target(port: number, exec?: ProbeTarget['exec']): ProbeTarget {
  return { host: HOST, resolvePort: (p) => (p === 'http' ? port : typeof p === 'number' ? p : undefined), exec };
}

const until = async (cond: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

test('probeTiming applies the Kubernetes defaults', () => {
  assert.deepEqual(probeTiming({}, 'readiness'), { initialDelayMs: 0, periodMs: 10_000, timeoutMs: 1000, successThreshold: 1, failureThreshold: 3 });
  assert.deepEqual(probeTiming({ periodSeconds: 2, timeoutSeconds: 0, successThreshold: 3, initialDelaySeconds: 5 }, 'liveness', 10), {
    initialDelayMs: 50, periodMs: 20, timeoutMs: 10, successThreshold: 1, failureThreshold: 3,
  });
  assert.equal(probeTiming({ successThreshold: 3 }, 'readiness').successThreshold, 3);
});

test('httpGet: 200-399 pass, path, headers, Host, named ports; others fail', async () => {
  const srv = await httpServer();
  try {
    const probe = (get: Record<string, unknown>): Probe => ({ httpGet: { port: srv.port, ...get } as Probe['httpGet'] });
    assert.deepEqual(await runProbeOnce(probe({ path: '/healthz?full=1' }), target(srv.port), 1000), { result: 'success' });
    const req = srv.requests.at(-1)!;
    assert.equal(req.url, '/healthz?full=1');
    assert.equal(req.headers.host, `${HOST}:${srv.port}`);
    assert.equal(req.headers['user-agent'], 'kube-probe/1.32');
    assert.equal(req.headers.connection, 'close');

    const custom = probe({ port: 'http', path: 'ok', httpHeaders: [{ name: 'Host', value: 'example.test' }, { name: 'X-Probe', value: 'yes' }, { name: 'user-agent', value: 'mine' }] });
    assert.equal((await runProbeOnce(custom, target(srv.port), 1000)).result, 'success');
    assert.equal(srv.requests.at(-1)!.url, '/ok');
    assert.equal(srv.requests.at(-1)!.headers.host, 'example.test');
    assert.equal(srv.requests.at(-1)!.headers['x-probe'], 'yes');
    assert.equal(srv.requests.at(-1)!.headers['user-agent'], 'mine');

    assert.deepEqual(await runProbeOnce(probe({ path: '/bad' }), target(srv.port), 1000), { result: 'failure', message: 'HTTP probe failed with statuscode: 500' });
    srv.status = 399;
    assert.equal((await runProbeOnce(probe({}), target(srv.port), 1000)).result, 'success');
    srv.status = 404;
    assert.equal((await runProbeOnce(probe({}), target(srv.port), 1000)).result, 'failure');
    srv.status = 200;
    assert.equal((await runProbeOnce(probe({ path: '/big' }), target(srv.port), 1000)).result, 'success');
    assert.match((await runProbeOnce(probe({ port: 'nope' }), target(srv.port), 1000)).message!, /port nope not found/);
  } finally {
    await srv.close();
  }
});

test('httpGet redirects: followed on the same host, never to another', async () => {
  const srv = await httpServer();
  try {
    const via = (location: string): Probe => ({ httpGet: { port: srv.port, path: `/redirect-to/${encodeURIComponent(location)}` } });
    assert.equal((await runProbeOnce(via('/bad'), target(srv.port), 1000)).result, 'failure');
    assert.deepEqual(srv.requests.map((r) => r.url!.split('/')[1]), ['redirect-to', 'bad']);
    assert.equal((await runProbeOnce(via(`http://${HOST}:${srv.port}/ok`), target(srv.port), 1000)).result, 'success');
    srv.requests.length = 0;
    // another host (by name): not followed, the 3xx passes
    const other = await runProbeOnce(via(`http://localhost:${srv.port}/bad`), target(srv.port), 1000);
    assert.equal(other.result, 'success');
    assert.match(other.message!, /terminated redirects/);
    assert.equal(srv.requests.length, 1);
    assert.match((await runProbeOnce({ httpGet: { port: srv.port, path: '/loop' } }, target(srv.port), 1000)).message!, /stopped after 10 redirects/);
  } finally {
    await srv.close();
  }
});

test('httpGet HTTPS does not verify the certificate', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tug-probe-'));
  const tls = await ensureTls(dir, [HOST]);
  const server = https.createServer({ cert: tls.cert, key: tls.key }, (_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    assert.deepEqual(await runProbeOnce({ httpGet: { port, scheme: 'HTTPS' } }, target(port), 2000), { result: 'success' });
    assert.equal((await runProbeOnce({ httpGet: { port } }, target(port), 2000)).result, 'failure'); // plain HTTP to a TLS port
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a server that never answers fails after the timeout and keeps no socket', async () => {
  const srv = await httpServer();
  const sockets = new Set<net.Socket>();
  try {
    const began = Date.now();
    const run = await runProbeOnce({ httpGet: { port: srv.port, path: '/hang' } }, target(srv.port), 150);
    const took = Date.now() - began;
    assert.equal(run.result, 'failure');
    assert.match(run.message!, /timed out/);
    assert.ok(took >= 140 && took < 1000, `took ${took} ms`);
    // the server sees the connection closed
    sockets.add(srv.requests[0].socket);
    await until(() => [...sockets].every((s) => s.destroyed));
    // a TCP server that accepts but is never read: tcpSocket passes on connect
    assert.deepEqual(await runProbeOnce({ tcpSocket: { port: srv.port } }, target(srv.port), 150), { result: 'success' });
  } finally {
    await srv.close();
  }
});

test('tcpSocket: connect passes, a closed port fails', async () => {
  const server = net.createServer((s) => s.on('error', () => undefined));
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const port = (server.address() as net.AddressInfo).port;
  assert.deepEqual(await runProbeOnce({ tcpSocket: { port } }, target(port), 1000), { result: 'success' });
  await new Promise((r) => server.close(r));
  const closed = await runProbeOnce({ tcpSocket: { port } }, target(port), 1000);
  assert.equal(closed.result, 'failure');
  assert.match(closed.message!, /ECONNREFUSED/);
});

test('exec: exit 0 passes; other codes, errors, hangs and no exec fail', async () => {
  const codes: Record<string, number> = { ok: 0, bad: 2 };
  const exec = async (command: string[]) => {
    if (command[0] === 'throw') throw new Error('no such container');
    if (command[0] === 'hang') return new Promise<number>(() => undefined);
    return codes[command[0]];
  };
  const t = target(0, exec);
  assert.deepEqual(await runProbeOnce({ exec: { command: ['ok'] } }, t, 1000), { result: 'success' });
  assert.match((await runProbeOnce({ exec: { command: ['bad'] } }, t, 1000)).message!, /exited with 2/);
  assert.match((await runProbeOnce({ exec: { command: ['throw'] } }, t, 1000)).message!, /no such container/);
  assert.match((await runProbeOnce({ exec: { command: ['hang'] } }, t, 50)).message!, /timed out/);
  assert.equal((await runProbeOnce({ exec: { command: ['ok'] } }, target(0), 1000)).result, 'failure');
  assert.equal((await runProbeOnce({ grpc: { port: 1 } }, t, 1000)).result, 'failure');
});

/** A worker plus what it reported. */
function worker(kind: ProbeKind, probe: Probe, t: ProbeTarget) {
  const changes: ProbeResult[] = [];
  const runs: ProbeResult[] = [];
  /** How many runs there had been at each change. */
  const at: number[] = [];
  const w = new ProbeWorker({
    kind, probe, target: t, secondMs: SECOND,
    onChange: (r) => {
      changes.push(r);
      at.push(runs.length);
    },
    onResult: (k, r) => {
      assert.equal(k, kind);
      runs.push(r);
    },
  });
  return { w, changes, runs, at };
}

test('liveness: 3 failures before failure is published, then the worker holds', async () => {
  const srv = await httpServer();
  const { w, changes, runs } = worker('liveness', { httpGet: { port: srv.port }, periodSeconds: 1, failureThreshold: 3 }, target(srv.port));
  try {
    assert.equal(w.result, 'success');
    w.start();
    await until(() => runs.length >= 3);
    assert.deepEqual(changes, []); // the initial success is not published
    srv.status = 500;
    const failuresAt = () => runs.filter((r) => r === 'failure').length;
    await until(() => changes.length === 1);
    assert.deepEqual(changes, ['failure']);
    assert.equal(failuresAt(), 3);
    const seen = runs.length;
    await new Promise((r) => setTimeout(r, 4 * SECOND));
    assert.equal(runs.length, seen, 'a failed liveness probe stops probing');
  } finally {
    await w.stop();
    await srv.close();
  }
});

test('readiness: published on change only; one success flips it back', async () => {
  const srv = await httpServer();
  const { w, changes, runs, at } = worker('readiness', { httpGet: { port: srv.port }, periodSeconds: 1, failureThreshold: 2 }, target(srv.port));
  try {
    assert.equal(w.result, 'failure');
    w.start();
    await until(() => runs.length >= 3);
    assert.deepEqual(changes, ['success']);
    assert.equal(at[0], 1);
    srv.status = 500;
    await until(() => changes.length === 2);
    // published on the second failure in a row
    assert.deepEqual(runs.slice(at[1] - 3, at[1]), ['success', 'failure', 'failure']);
    const n = runs.length;
    await until(() => runs.length >= n + 2);
    assert.deepEqual(changes, ['success', 'failure']);
    srv.status = 200;
    await until(() => changes.length === 3);
    assert.deepEqual(runs.slice(at[2] - 2, at[2]), ['failure', 'success']);
    const m = runs.length;
    await until(() => runs.length >= m + 2);
    assert.deepEqual(changes, ['success', 'failure', 'success']);
    assert.equal(w.result, 'success');
  } finally {
    await w.stop();
    await srv.close();
  }
});

test('initial delay, and a hanging server fails each run after timeoutSeconds', async () => {
  const srv = await httpServer();
  const { w, changes, runs } = worker('liveness', { httpGet: { port: srv.port, path: '/hang' }, initialDelaySeconds: 2, periodSeconds: 1, timeoutSeconds: 2, failureThreshold: 1 }, target(srv.port));
  try {
    const began = Date.now();
    w.start();
    await until(() => changes.length === 1);
    const took = Date.now() - began;
    assert.ok(took >= 4 * SECOND - 5, `took ${took} ms`); // 2 s delay + 2 s timeout
    assert.deepEqual(runs, ['failure']);
    assert.equal(srv.requests.length, 1);
  } finally {
    await w.stop();
    await srv.close();
  }
});

test('startup gates liveness and readiness; no readiness probe means ready once started', async () => {
  const calls: string[] = [];
  let startupCode = 1;
  const exec = async (command: string[]) => {
    calls.push(command[0]);
    return command[0] === 'startup' ? startupCode : 0;
  };
  const events: string[] = [];
  const results: string[] = [];
  const container = {
    name: 'app',
    startupProbe: { exec: { command: ['startup'] }, periodSeconds: 1, failureThreshold: 100 },
    livenessProbe: { exec: { command: ['live'] }, periodSeconds: 1 },
    readinessProbe: { exec: { command: ['ready'] }, periodSeconds: 1 },
  };
  const probes = new ContainerProbes(container, target(0, exec), {
    onStarted: () => events.push('started'),
    onReadiness: (ready) => events.push(`ready=${ready}`),
    onLiveness: (r) => events.push(`live=${r}`),
  }, { secondMs: SECOND, onResult: (kind, r) => results.push(`${kind}:${r}`) });
  probes.start();
  try {
    await until(() => calls.length >= 3);
    assert.deepEqual(new Set(calls), new Set(['startup']));
    assert.equal(events.length, 0);
    assert.equal(probes.result('liveness'), undefined);
    startupCode = 0;
    await until(() => events.includes('ready=true'));
    assert.deepEqual(events, ['started', 'ready=true']);
    await until(() => calls.filter((c) => c === 'live').length >= 2);
    assert.equal(calls.filter((c) => c === 'startup').length, calls.indexOf('live'), 'startup probing ended');
    assert.equal(probes.result('liveness'), 'success');
    assert.ok(results.includes('startup:failure') && results.includes('liveness:success') && results.includes('readiness:success'));
  } finally {
    await probes.stop();
  }

  // no probes at all: ready at once; a failing startup probe is reported as a liveness failure
  const plain: string[] = [];
  const none = new ContainerProbes({ name: 'p' }, target(0), { onStarted: () => plain.push('started'), onReadiness: (r) => plain.push(`ready=${r}`), onLiveness: (r) => plain.push(`live=${r}`) });
  none.start();
  await none.stop();
  assert.deepEqual(plain, ['ready=true']);
  const failing = new ContainerProbes({ name: 'f', startupProbe: { exec: { command: ['x'] }, periodSeconds: 1, failureThreshold: 2 } }, target(0, async () => 1), {
    onStarted: () => plain.push('started'), onReadiness: (r) => plain.push(`ready=${r}`), onLiveness: (r) => plain.push(`live=${r}`),
  }, { secondMs: SECOND });
  failing.start();
  await until(() => plain.length === 2);
  await failing.stop();
  assert.deepEqual(plain, ['ready=true', 'live=failure']);
});

test('stop() ends a probe in flight at once and leaves no timers or sockets', async () => {
  const before = process.getActiveResourcesInfo();
  const srv = await httpServer();
  const workers = (['liveness', 'readiness', 'startup'] as const).map((kind) =>
    worker(kind, { httpGet: { port: srv.port, path: '/hang' }, periodSeconds: 1, timeoutSeconds: 100 }, target(srv.port)),
  );
  for (const { w } of workers) w.start();
  await until(() => srv.requests.length === 3);
  const began = Date.now();
  await Promise.all(workers.map(({ w }) => w.stop()));
  assert.ok(Date.now() - began < 500, 'stop does not wait for the probe timeout');
  for (const { runs, changes } of workers) assert.deepEqual([runs, changes], [[], []]);
  await srv.close();
  // handles close on the next turns of the event loop; `until`'s own timer is the one Timeout allowed
  const count = (list: string[], kind: string) => list.filter((k) => k === kind).length;
  const settled = () => ['TCPSocketWrap', 'TCPServerWrap'].every((kind) => count(process.getActiveResourcesInfo(), kind) === count(before, kind));
  await until(settled, 500);
  assert.ok(count(process.getActiveResourcesInfo(), 'Timeout') <= count(before, 'Timeout'), process.getActiveResourcesInfo().join(','));
});
