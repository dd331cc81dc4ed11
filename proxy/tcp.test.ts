import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { connect, createServer, Socket, type Server } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { Balancer } from './balancer.js';
import { ProxyMetrics } from './metrics.js';
import { activeRelays } from './relay.js';
import { listenTcp } from './listener.js';
import { createTcpForwarder, type TcpForwarderOptions } from './tcp.js';
import type { Carried, Endpoint, Forwarder } from './types.js';
import { needs } from '../test/requirements.js';
import { ConnectionShares } from '../lib/limits.js';

/** Everything a test opened, closed at its end whatever happened; then no relay may be left. */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  await until(() => activeRelays() === 0, 'every relay of the test to end');
});

interface TestServer {
  port: number;
  endpoint: Endpoint;
  accepted: number;
}

/**
 * An endpoint whose connects hang: a listener in another process whose event loop is blocked,
 * so it accepts nothing, with its accept queue filled. The kernel then drops further SYNs, and a
 * connect neither succeeds nor fails until it times out.
 */
async function unanswered(): Promise<Endpoint> {
  const code = `const s = require('net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => { console.log(s.address().port); for (;;); });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => child.kill('SIGKILL'));
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  // Fill the accept queue: these complete their handshake and wait there; after them, SYNs are dropped.
  for (let i = 0; i < 3; i++) {
    const filler = connect({ port, host: '127.0.0.1' });
    filler.on('error', () => undefined);
    cleanups.push(() => filler.destroy());
    await Promise.race([once(filler, 'connect'), new Promise((r) => setTimeout(r, 200))]);
  }
  return { ip: '127.0.0.1', port };
}

/**
 * A server on 127.0.0.1 whose every socket is destroyed at the end of the test, including the
 * one a handler returns as now carrying the connection (a forwarder's).
 */
async function server(handler: (s: Socket) => Socket | void, opts: { allowHalfOpen?: boolean; pauseOnConnect?: boolean } = {}): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const info = { port: 0, endpoint: { ip: '127.0.0.1', port: 0 }, accepted: 0 };
  const srv: Server = createServer({ allowHalfOpen: opts.allowHalfOpen ?? false, pauseOnConnect: opts.pauseOnConnect ?? false }, (s) => {
    info.accepted++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    const carrier = handler(s);
    if (carrier && carrier !== s) {
      sockets.add(carrier);
      carrier.on('close', () => sockets.delete(carrier));
    }
  });
  srv.on('error', () => undefined);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  info.port = (srv.address() as { port: number }).port;
  info.endpoint.port = info.port;
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => srv.close(() => r()));
  });
  return info;
}

/** A server that answers its name and closes. */
const named = (name: string) => server((s) => s.end(name));

/** A free port nothing listens on. */
async function refusedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * How the forwarders of the running describe relay: natively from the first byte, a descriptor
 * accepted natively (the proxy's listener) or a socket nothing has read (a listener that pauses
 * on connect); natively once the upstream answered (a listener that reads at once); or in
 * JavaScript.
 */
type Mode = 'accepted and relayed natively' | 'from the first byte in the native relay' | 'answered connections in the native relay' | 'relayed in JavaScript';
let mode: Mode = 'answered connections in the native relay';

/** The forwarder behind a front listener on 127.0.0.1, as the proxy sets it up. */
async function front(endpoints: Endpoint[], extra: Partial<TcpForwarderOptions> = {}) {
  const balancer = new Balancer();
  balancer.setEndpoints(endpoints);
  const failures: string[] = [];
  const connections: number[] = [];
  const forwarder: Forwarder = createTcpForwarder({
    service: 'default/test:tcp',
    picker: () => balancer,
    observer: { upstreamFailure: (e, reason) => failures.push(`${e.port}:${reason}`), connection: (e) => connections.push(e.port) },
    nativeRelay: mode !== 'relayed in JavaScript',
    ...extra,
  });
  const carriers: Socket[] = [];
  cleanups.push(() => forwarder.close());
  if (mode === 'accepted and relayed natively') {
    const accepted = await nativeListener(forwarder);
    return { port: accepted.port, balancer, failures, connections, carriers };
  }
  const pauseOnConnect = mode === 'from the first byte in the native relay';
  const srv = await server((s) => { const c = forwarder.handle(s); carriers.push(c); return c; }, { allowHalfOpen: true, pauseOnConnect });
  return { port: srv.port, balancer, failures, connections, carriers };
}

/** Connects, optionally writes and half-closes, and collects everything the peer sends until it closes. */
function exchange(port: number, send?: string): Promise<{ data: string; error?: string }> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    cleanups.push(() => s.destroy());
    let data = '';
    let error: string | undefined;
    s.on('data', (d) => (data += d));
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.on('close', () => resolve({ data, ...(error ? { error } : {}) }));
    s.on('end', () => s.end());
    if (send !== undefined) s.end(send);
  });
}

/** The proxy's listener on 127.0.0.1 (native where `native`), its connections destroyed at the end of the test. */
async function nativeListener(forwarder: Forwarder | undefined, native = true, admit?: (clientIP: string) => (() => void) | undefined) {
  const carried = new Set<Carried>();
  const listener = await listenTcp({ host: '127.0.0.1', port: 0, forwarder: () => forwarder, connections: carried, native, admit });
  cleanups.push(() => {
    listener.close();
    for (const c of carried) c.destroy();
  });
  return { port: listener.port, carried, listener };
}

const MODES: Mode[] = ['accepted and relayed natively', 'from the first byte in the native relay', 'answered connections in the native relay', 'relayed in JavaScript'];
const NATIVE = await needs('native');
for (const m of MODES) describe(`TCP forwarder (${m})`, m === 'relayed in JavaScript' ? {} : NATIVE, () => {
  beforeEach(() => {
    mode = m;
  });

  it('round robin per connection: 300 connections over 3 endpoints give exactly 100 each', async () => {
    const servers = [await named('a'), await named('b'), await named('c')];
    const f = await front(servers.map((s) => s.endpoint));
    const tally: Record<string, number> = {};
    // Ten at a time: connections are picked in accept order whatever the concurrency.
    for (let round = 0; round < 30; round++) {
      const results = await Promise.all(Array.from({ length: 10 }, () => exchange(f.port)));
      for (const r of results) {
        assert.equal(r.error, undefined);
        tally[r.data] = (tally[r.data] ?? 0) + 1;
      }
    }
    assert.deepEqual(tally, { a: 100, b: 100, c: 100 });
    assert.deepEqual(servers.map((s) => s.accepted), [100, 100, 100]);
  });

  it('passes a half-close on and keeps the other direction open', async () => {
    const upstream = await server(
      (s) => {
        let got = '';
        s.on('data', (d) => (got += d));
        // The client's FIN arrives as 'end'; only then does this server answer (like `nc -q`).
        s.on('end', () => s.end(`got:${got}`));
      },
      { allowHalfOpen: true },
    );
    const f = await front([upstream.endpoint]);
    assert.deepEqual(await exchange(f.port, 'abc'), { data: 'got:abc' });
  });

  it('retries a refused endpoint on the next one: the client never sees it, the endpoint is ejected', async () => {
    const dead: Endpoint = { ip: '127.0.0.1', port: await refusedPort() };
    const servers = [await named('a'), await named('b')];
    const f = await front([dead, ...servers.map((s) => s.endpoint)]);
    // The first connection alone, so that no other one is sent to the dead endpoint before it is known dead.
    const results = [await exchange(f.port, 'x'), ...(await Promise.all(Array.from({ length: 29 }, () => exchange(f.port, 'x'))))];
    assert.deepEqual(results.filter((r) => r.error !== undefined || !['a', 'b'].includes(r.data)), []);
    // One failed attempt, then the endpoint sat out its back-off: the rest alternated over a and b.
    assert.deepEqual(f.failures, [`${dead.port}:connect`]);
    assert.equal(f.balancer.ejectedCount(), 1);
    assert.deepEqual(servers.map((s) => s.accepted), [15, 15]);
  });

  it('retries an endpoint that resets before sending any byte, replaying what the client sent', async () => {
    const resetting = await server((s) => s.once('data', () => s.resetAndDestroy()));
    const echo = await server((s) => s.on('data', (d) => s.end(`echo:${d}`)));
    const f = await front([resetting.endpoint, echo.endpoint]);
    assert.deepEqual(await exchange(f.port, 'hello'), { data: 'echo:hello' });
    assert.deepEqual(f.failures, [`${resetting.port}:reset`]);
    assert.equal(resetting.accepted, 1);
  });

  it('retries an endpoint whose connect times out, replaying what the client sent', async () => {
    const hanging = await unanswered();
    const echo = await server((s) => s.on('data', (d) => s.end(`echo:${d}`)));
    const f = await front([hanging, echo.endpoint], { connectTimeoutMs: 200 });
    assert.deepEqual(await exchange(f.port, 'hello'), { data: 'echo:hello' });
    assert.deepEqual(f.failures, [`${hanging.port}:timeout`]);
    assert.deepEqual(f.connections, [echo.port]);
  });

  it('resets the client at once when there is no endpoint', async () => {
    const f = await front([]);
    const r = await exchange(f.port);
    assert.equal(r.error, 'ECONNRESET');
    assert.equal(r.data, '');
  });

  it('resets the client when every endpoint refuses', async () => {
    const f = await front([{ ip: '127.0.0.1', port: await refusedPort() }, { ip: '127.0.0.1', port: await refusedPort() }]);
    const r = await exchange(f.port, 'x');
    assert.equal(r.error, 'ECONNRESET');
    assert.equal(f.failures.length, 2);
  });

  it('passes a mid-stream reset on as a reset', async () => {
    const upstream = await server((s) => {
      s.write('partial');
      const timer = setTimeout(() => s.resetAndDestroy(), 20);
      s.on('close', () => clearTimeout(timer));
    });
    const f = await front([upstream.endpoint]);
    const r = await exchange(f.port);
    assert.equal(r.error, 'ECONNRESET');
  });

  it('closes a connection idle for the timeout', async () => {
    const upstream = await server(() => undefined);
    const f = await front([upstream.endpoint], { idleTimeoutMs: 50 });
    const r = await exchange(f.port); // neither side sends: only the idle timeout ends it
    assert.equal(r.data, '');
  });

  it('closes a connection on which no byte moved within the quiet time, and keeps one that spoke', async () => {
    const upstream = await server((s) => s.on('data', (d) => s.write(d)));
    const f = await front([upstream.endpoint], { idleTimeoutMs: 60_000, quietTimeoutMs: 150 });
    const silent = await exchange(f.port); // never speaks: the quiet time ends it, long before the idle time
    assert.equal(silent.data, '');
    const talker = connect({ port: f.port, host: '127.0.0.1' });
    cleanups.push(() => talker.destroy());
    talker.on('error', () => undefined);
    let closed = false;
    talker.on('close', () => (closed = true));
    const echoed = new Promise<string>((r) => talker.once('data', (d) => r(String(d))));
    talker.write('hi');
    assert.equal(await echoed, 'hi');
    // Well past the quiet time, with no more traffic: a connection that spoke waits for its idle time.
    const gone = await exchange(f.port);
    assert.equal(gone.data, '', 'a second silent one is cut off by the quiet time meanwhile');
    assert.equal(closed, false);
  });

  it('applies back-pressure: a client that does not read stalls the upstream; then every byte arrives in order', async () => {
    const stream = new PatternStream(7);
    const upstream = await server((s) => stream.pump(s));
    const f = await front([upstream.endpoint]);
    const client = connect({ port: f.port, host: '127.0.0.1' });
    cleanups.push(() => client.destroy());
    client.on('error', () => undefined);
    client.pause();
    await new Promise((r) => client.once('connect', r));
    // Let the pipeline fill: socket buffers hold some megabytes, the proxy itself must hold ~nothing.
    await stream.stalled();
    assert.equal(stream.finished, false);
    assert.ok(stream.written < PatternStream.TOTAL / 2, `the upstream could write ${stream.written} bytes to a client that reads nothing`);
    const started = performance.now();
    await stream.check(client);
    const seconds = (performance.now() - started) / 1000;
    console.log(`# 64 MiB through the TCP forwarder at ${(PatternStream.TOTAL / 1024 / 1024 / seconds).toFixed(0)} MiB/s`);
  });

  /** A client writes 64 MiB towards an upstream that reads nothing (after sending `greeting`, if any), then starts reading. */
  async function upstreamStallsClient(step: number, greeting?: string): Promise<void> {
    const stream = new PatternStream(step);
    let upstreamSocket: Socket | undefined;
    const upstream = await server((s) => {
      if (greeting) s.write(greeting);
      s.pause();
      upstreamSocket = s;
    });
    // Relayed from the first answer on, so that the greeting moves the connection to the relay.
    const f = await front([upstream.endpoint], { relayAtRead: 1 });
    const client = connect({ port: f.port, host: '127.0.0.1', allowHalfOpen: true });
    cleanups.push(() => client.destroy());
    client.on('error', () => undefined);
    await new Promise((r) => client.once(greeting ? 'data' : 'connect', r));
    if (greeting && m !== 'relayed in JavaScript') assert.equal(activeRelays(), 1, 'an answered connection is in the native relay');
    stream.pump(client);
    await stream.stalled();
    assert.equal(stream.finished, false);
    assert.ok(stream.written < PatternStream.TOTAL / 2, `the client could write ${stream.written} bytes to an upstream that reads nothing`);
    assert.ok(upstreamSocket);
    await stream.check(upstreamSocket);
  }

  it('applies back-pressure the other way: an upstream that does not read stalls the client; then every byte arrives in order', async () => {
    await upstreamStallsClient(13);
  });

  it('applies back-pressure to the client after the upstream has answered; then every byte arrives in order', async () => {
    await upstreamStallsClient(11, 'ready');
  });
});

/** Resolves once `check` holds, polling every 10 ms; fails after 5 s instead of hanging. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), what);
}

describe('the native relay, taking answered connections', NATIVE, () => {
  beforeEach(() => {
    mode = 'answered connections in the native relay';
  });

  /** A client of an echo upstream behind the forwarder, once its second exchange moved it to the relay. */
  async function relayed(extra: Partial<TcpForwarderOptions> = {}, upstreamHandler?: (s: Socket) => void) {
    const upstreamSockets: Socket[] = [];
    const upstream = await server((s) => {
      upstreamSockets.push(s);
      if (upstreamHandler) upstreamHandler(s);
      else s.on('data', (d) => s.write(d));
    }, { allowHalfOpen: true });
    const f = await front([upstream.endpoint], extra);
    const client = connect({ port: f.port, host: '127.0.0.1', allowHalfOpen: true });
    cleanups.push(() => client.destroy());
    const events: string[] = [];
    let data = '';
    client.on('data', (d) => (data += d));
    client.on('end', () => events.push('end'));
    client.on('error', (e: NodeJS.ErrnoException) => events.push(e.code ?? e.message));
    client.on('close', () => events.push('close'));
    await new Promise((r) => client.once('connect', r));
    const before = activeRelays();
    client.write('one');
    await until(() => data === 'one', 'the first answer');
    assert.equal(activeRelays(), before, 'a connection answered once stays in JavaScript');
    client.write('two');
    await until(() => data === 'onetwo', 'the second answer');
    assert.equal(activeRelays(), before + 1, 'the connection answered twice moved to the native relay');
    return { client, events, data: () => data, f, upstreamSockets, before };
  }

  it('carries the connection on, passes half-closes both ways, and lets go when both sides finished', async () => {
    const registry = new Registry();
    new ProxyMetrics(registry, () => []);
    const gauge = async () => (await registry.getSingleMetric('tug_proxy_native_relay_connections')!.get()).values[0]?.value;
    const c = await relayed({}, (s) => {
      s.on('data', (d) => s.write(d));
      s.on('end', () => s.end('bye'));
    });
    assert.equal(await gauge(), c.before + 1, 'the metric counts the relayed connection');
    c.client.write('three');
    await until(() => c.data() === 'onetwothree', 'the relayed answer');
    c.client.end();
    await until(() => c.events.includes('close'), 'the connection to close');
    assert.equal(c.data(), 'onetwothreebye');
    assert.deepEqual(c.events, ['end', 'close']);
    await until(() => activeRelays() === c.before, 'the relay to end');
    assert.equal(await gauge(), c.before);
    await until(() => c.f.carriers.every((s) => s.destroyed), 'the forwarder to close its sockets');
  });

  it('ends a relayed connection idle for the timeout', async () => {
    const c = await relayed({ idleTimeoutMs: 100 });
    await until(() => c.events.includes('end'), 'the idle connection to be closed');
    assert.equal(activeRelays(), c.before);
  });

  it('passes a reset by the client on to the upstream', async () => {
    const c = await relayed();
    const upstreamEvents: string[] = [];
    c.upstreamSockets[0].on('error', (e: NodeJS.ErrnoException) => upstreamEvents.push(e.code ?? e.message));
    c.upstreamSockets[0].on('close', () => upstreamEvents.push('close'));
    c.client.resetAndDestroy();
    await until(() => upstreamEvents.includes('close'), 'the upstream connection to close');
    assert.deepEqual(upstreamEvents, ['ECONNRESET', 'close']);
    assert.equal(activeRelays(), c.before);
  });

  it('ends when the proxy destroys the client socket it tracks (as on stop)', async () => {
    const c = await relayed();
    c.f.carriers[0].destroy();
    await until(() => c.events.includes('end'), 'the client to see the connection end');
    assert.equal(activeRelays(), c.before);
  });
});

describe('the native relay, from the first byte', NATIVE, () => {
  beforeEach(() => {
    mode = 'from the first byte in the native relay';
  });

  it('takes the connection before any byte, connects the upstream itself, and lets go when both sides finished', async () => {
    const upstream = await server((s) => {
      s.on('data', (d) => s.write(d));
      s.on('end', () => s.end('bye'));
    }, { allowHalfOpen: true });
    const f = await front([upstream.endpoint]);
    const before = activeRelays();
    const client = connect({ port: f.port, host: '127.0.0.1', allowHalfOpen: true });
    cleanups.push(() => client.destroy());
    let data = '';
    const events: string[] = [];
    client.on('data', (d) => (data += d));
    client.on('end', () => events.push('end'));
    client.on('close', () => events.push('close'));
    await new Promise((r) => client.once('connect', r));
    await until(() => activeRelays() === before + 1, 'the accepted connection to be in the relay');
    await until(() => f.connections.length === 1, 'the upstream connection to be reported');
    assert.deepEqual(f.connections, [upstream.port]);
    client.write('one');
    await until(() => data === 'one', 'the answer');
    client.end();
    await until(() => events.includes('close'), 'the connection to close');
    assert.equal(data, 'onebye');
    assert.deepEqual(events, ['end', 'close']);
    await until(() => activeRelays() === before, 'the relay to end');
    assert.deepEqual(f.failures, []);
  });

  it('keeps the client bytes sent while connecting and replays them past a refused endpoint', async () => {
    const refused = { ip: '127.0.0.1', port: await refusedPort() };
    const upstream = await server((s) => s.on('data', (d) => s.write(d)));
    const f = await front([refused, upstream.endpoint]);
    const client = connect({ port: f.port, host: '127.0.0.1' });
    cleanups.push(() => client.destroy());
    let data = '';
    client.on('data', (d) => (data += d));
    const big = 'x'.repeat(40_000);
    client.write(big); // before the proxy even accepted: kept, and sent again to the next endpoint
    await until(() => data.length === big.length, 'the replayed bytes echoed');
    assert.equal(data, big);
    assert.deepEqual(f.failures, [`${refused.port}:connect`]);
    assert.deepEqual(f.connections, [upstream.port]);
  });
});

for (const native of [true, false]) describe(`the proxy's TCP listener (${native ? 'accepting natively' : 'a net.Server'})`, native ? NATIVE : {}, () => {
  it('gives a forwarder that needs a socket an unread, paused one with the client\'s address, and tracks it until it closes', async () => {
    const handed: { flowing: boolean | null; address?: string; port?: number }[] = [];
    const echo: Forwarder = {
      handle: (s) => {
        handed.push({ flowing: s.readableFlowing, address: s.remoteAddress, port: s.remotePort });
        s.on('data', (d) => s.write(d));
        s.on('end', () => s.end());
        s.resume();
        return s;
      },
      close: async () => undefined,
    };
    const l = await nativeListener(echo, native);
    const client = connect({ port: l.port, host: '127.0.0.1', allowHalfOpen: true });
    cleanups.push(() => client.destroy());
    let data = '';
    client.on('data', (d) => (data += d));
    await once(client, 'connect');
    client.write('hello');
    await until(() => data === 'hello', 'the echo');
    assert.deepEqual(handed, [{ flowing: false, address: '127.0.0.1', port: client.localPort }]);
    assert.equal(l.carried.size, 1);
    client.end();
    await once(client, 'close');
    await until(() => l.carried.size === 0, 'the closed connection to leave the set');
  });

  it('resets a connection past the caps it is admitted under, and takes one again once a slot is back', async () => {
    const echo: Forwarder = {
      handle: (s) => {
        s.on('data', (d) => s.write(d));
        s.on('end', () => s.end());
        s.resume();
        return s;
      },
      close: async () => undefined,
    };
    const refused: string[] = [];
    const shares = new ConnectionShares({ max: 10, perSource: 2 }, (reason) => refused.push(reason));
    const l = await nativeListener(echo, native, (ip) => shares.admit(ip));
    const held = [connect({ port: l.port, host: '127.0.0.1' }), connect({ port: l.port, host: '127.0.0.1' })];
    for (const c of held) cleanups.push(() => c.destroy());
    await Promise.all(held.map((c) => once(c, 'connect')));
    await until(() => l.carried.size === 2, 'both connections to be taken');
    assert.deepEqual(await exchange(l.port, 'third'), { data: '', error: 'ECONNRESET' });
    assert.deepEqual(refused, ['per-source']);
    held[0].end();
    await until(() => l.carried.size === 1, 'the first connection to end');
    assert.deepEqual(await exchange(l.port, 'again'), { data: 'again' });
  });

  it('resets a connection when the port has no forwarder', async () => {
    const l = await nativeListener(undefined, native);
    assert.deepEqual(await exchange(l.port, 'hi'), { data: '', error: 'ECONNRESET' });
  });

  it('frees the port at once when closed, while the connections it accepted go on', async () => {
    const upstream = await server((s) => s.on('data', (d) => s.write(d)));
    const balancer = new Balancer();
    balancer.setEndpoints([upstream.endpoint]);
    const forwarder = createTcpForwarder({ service: 'default/test:tcp', picker: () => balancer });
    const l = await nativeListener(forwarder, native);
    const client = connect({ port: l.port, host: '127.0.0.1' });
    cleanups.push(() => client.destroy());
    let data = '';
    client.on('data', (d) => (data += d));
    client.write('one');
    await until(() => data === 'one', 'the first answer');
    l.listener.close();
    assert.equal((await exchange(l.port)).error, 'ECONNREFUSED');
    const again = createServer();
    await new Promise<void>((resolve, reject) => again.once('error', reject).listen(l.port, '127.0.0.1', resolve));
    await new Promise((r) => again.close(r));
    client.write('two');
    await until(() => data === 'onetwo', 'an answer after the listener closed');
  });

  it('rejects a port another socket holds with EADDRINUSE, and a host that is no address of this machine with EADDRNOTAVAIL', async () => {
    const holder = await server(() => undefined);
    const listen = (host: string, port: number) => listenTcp({ host, port, forwarder: () => undefined, connections: new Set(), native });
    await assert.rejects(listen('127.0.0.1', holder.port), { code: 'EADDRINUSE' });
    // A documentation address no interface has: binding it fails here, and sends nothing.
    await assert.rejects(listen('192.0.2.1', 0), { code: 'EADDRNOTAVAIL' });
  });
});

describe('the native listener with the TCP forwarder', NATIVE, () => {

  it('relays a connection with no Node socket; destroying what the listener tracks ends it', async () => {
    const upstream = await server((s) => s.on('data', (d) => s.write(d)));
    const balancer = new Balancer();
    balancer.setEndpoints([upstream.endpoint]);
    const forwarder = createTcpForwarder({ service: 'default/test:tcp', picker: () => balancer });
    cleanups.push(() => forwarder.close());
    const l = await nativeListener(forwarder);
    const before = activeRelays();
    const client = connect({ port: l.port, host: '127.0.0.1' });
    cleanups.push(() => client.destroy());
    let data = '';
    client.on('data', (d) => (data += d));
    client.on('error', () => undefined);
    client.write('ping');
    await until(() => data === 'ping', 'the answer');
    assert.equal(activeRelays(), before + 1);
    assert.equal(l.carried.size, 1);
    const [carried] = l.carried;
    assert.ok(!(carried instanceof Socket), 'the connection has no Node socket');
    carried.destroy();
    await once(client, 'close');
    assert.equal(activeRelays(), before);
    assert.equal(l.carried.size, 0);
  });
});

describe('a proxy process out of descriptors', NATIVE, () => {

  /**
   * A proxy process limited to 64 descriptors: the native listener and the TCP (or HTTP)
   * forwarder in front of `upstream`. A relayed connection takes two descriptors, the client's
   * and the upstream's. Each upstream failure the forwarder reports is in `failures()`.
   *
   * The free descriptors are counted from outside, in /proc/PID/fd, at the moment they matter:
   * only numbers below the limit count, whatever the process inherited above it or opened since
   * it started. The process holds one spare descriptor, which `fill` keeps or lets go so that
   * exactly `left` (0 or 1) is free once the connections are held.
   */
  async function limitedProxy(upstream: Endpoint, mode: 'tcp' | 'http' = 'tcp') {
    const at = (name: string) => new URL(`./${name}.js`, import.meta.url).href;
    const code = `
      const { listenTcp } = await import('${at('listener')}');
      const { createTcpForwarder } = await import('${at('tcp')}');
      const { Balancer } = await import('${at('balancer')}');
      const { HttpForwarder } = await import('${at('http/forwarder')}');
      const { openSync, closeSync } = await import('node:fs');
      const balancer = new Balancer();
      balancer.setEndpoints([{ ip: '127.0.0.1', port: ${upstream.port} }]);
      const observer = { upstreamFailure: (e, reason) => console.log(JSON.stringify({ failure: reason })) };
      const forwarder = '${mode}' === 'http'
        ? new HttpForwarder({ service: 'default/test', picker: () => balancer, observer })
        : createTcpForwarder({ service: 'default/test:tcp', picker: () => balancer, observer });
      const listener = await listenTcp({ host: '127.0.0.1', port: 0, forwarder: () => forwarder, connections: new Set() });
      const spare = [openSync('/dev/null', 'r')];
      process.stdin.setEncoding('utf8').on('data', (command) => {
        for (const c of command.split('\\n').filter(Boolean)) {
          if (c === 'take') spare.push(openSync('/dev/null', 'r'));
          else closeSync(spare.pop());
          console.log(JSON.stringify({ done: c }));
        }
      });
      console.log(JSON.stringify({ port: listener.port }));
    `;
    const child = spawn('bash', ['-c', 'ulimit -n 64 && exec "$0" --input-type=module -e "$1"', process.execPath, code], { stdio: ['pipe', 'pipe', 'inherit'] });
    cleanups.push(() => child.kill('SIGKILL'));
    const lines: Record<string, unknown>[] = [];
    let rest = '';
    child.stdout!.on('data', (d: Buffer) => {
      const parts = (rest + d.toString()).split('\n');
      rest = parts.pop()!;
      for (const p of parts) lines.push(JSON.parse(p) as Record<string, unknown>);
    });
    await until(() => lines.length > 0, 'the proxy process to listen');
    const { port } = lines[0] as { port: number };
    const free = () => 64 - readdirSync(`/proc/${child.pid}/fd`).filter((fd) => Number(fd) < 64).length;
    assert.ok(free() >= 4, `free descriptors in the proxy process: ${free()}`);
    /** Has the proxy process take one more descriptor, or let one go. */
    const command = async (c: 'take' | 'release') => {
      const answers = lines.filter((l) => 'done' in l).length;
      child.stdin!.write(`${c}\n`);
      await until(() => lines.filter((l) => 'done' in l).length > answers, `the proxy process to ${c} a descriptor`);
    };
    /** A client that sends `send` and collects what comes back. */
    const client = (send = 'x') => {
      const s = connect({ port, host: '127.0.0.1' });
      cleanups.push(() => s.destroy());
      const got = { data: '', error: '', closed: false };
      s.on('data', (d) => (got.data += d));
      s.on('error', (e: NodeJS.ErrnoException) => (got.error = e.code ?? e.message));
      s.on('close', () => (got.closed = true));
      s.write(send);
      return { s, got };
    };
    /** Holds relayed connections until `left` descriptors (0 or 1) are free. */
    const fill = async (left: 0 | 1) => {
      const holding = [];
      while (free() >= 2) {
        const c = client();
        await until(() => c.got.data === 'x', `the echo through connection ${holding.length + 1}`);
        holding.push(c);
      }
      if (free() > left) await command('take');
      else if (free() < left) await command('release');
      assert.equal(free(), left, 'free descriptors in the proxy process');
      return holding;
    };
    return { child, client, fill, failures: () => lines.filter((l) => 'failure' in l) };
  }

  it('rests while accept fails, and serves the waiting connections once descriptors are free', async () => {
    const upstream = await server((s) => s.on('data', (d) => s.write(d)));
    const p = await limitedProxy(upstream.endpoint);
    const holding = await p.fill(0);
    // Every descriptor is taken now: these wait in the listen queue while accept fails.
    const waiting = [p.client(), p.client()];
    for (const c of holding) c.s.destroy();
    for (const c of waiting) await until(() => c.got.data === 'x', 'a waiting connection served once descriptors were free');
    assert.equal(p.child.exitCode, null, 'the proxy process is still running');
    assert.ok(waiting.every((c) => !c.got.closed));
  });

  it('resets a connection whose upstream socket cannot be made, without counting it against the endpoint', async () => {
    const upstream = await server((s) => s.on('data', (d) => s.write(d)));
    const p = await limitedProxy(upstream.endpoint);
    const holding = await p.fill(1);
    // One descriptor is left: the client's is accepted, the upstream's cannot be made.
    const refused = p.client();
    await until(() => refused.got.closed, 'the connection without an upstream to end');
    assert.deepEqual([refused.got.data, refused.got.error], ['', 'ECONNRESET']);
    assert.deepEqual(p.failures(), [], 'no upstream failure reported');
    // Once the relay of a closed connection let its descriptors go, a new connection is served;
    // until then, new ones are reset the same way.
    holding[0].s.destroy();
    let served = false;
    for (let attempt = 0; attempt < 50 && !served; attempt++) {
      const next = p.client();
      await until(() => next.got.data === 'x' || next.got.closed, 'a new connection to be served or reset');
      served = next.got.data === 'x';
    }
    assert.ok(served, 'a connection served once descriptors were free');
    assert.deepEqual(p.failures(), [], 'no upstream failure reported');
    assert.equal(p.child.exitCode, null, 'the proxy process is still running');
  });

  it('answers 503 in HTTP mode when the upstream socket cannot be made, without counting it against the endpoint', async () => {
    // Every answer closes its upstream connection, so each request needs a new one.
    const upstream = await server((s) => s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx')));
    const p = await limitedProxy(upstream.endpoint, 'http');
    const request = 'GET / HTTP/1.1\r\nHost: t\r\n\r\n';
    const answered = (c: ReturnType<typeof p.client>) => c.got.data.includes('\r\n\r\n') || c.got.closed;
    // Kept-alive clients take the descriptors one by one, until one's upstream socket cannot be made.
    const held = [];
    let local = '';
    for (let i = 0; i < 80 && !local; i++) {
      const c = p.client(request);
      held.push(c);
      await until(() => answered(c), `an answer to client ${i + 1}`);
      if (c.got.data.startsWith('HTTP/1.1 503')) local = c.got.data;
      else assert.match(c.got.data, /^HTTP\/1\.1 200 /);
    }
    assert.match(local, /the proxy cannot open a connection now \(EMFILE\)/);
    assert.deepEqual(p.failures(), [], 'no upstream failure reported');
    for (const c of held) c.s.destroy();
    let served = false;
    for (let attempt = 0; attempt < 50 && !served; attempt++) {
      const c = p.client(request);
      await until(() => answered(c), 'an answer once descriptors were free');
      served = c.got.data.startsWith('HTTP/1.1 200 ');
    }
    assert.ok(served, 'a request served once descriptors were free');
    assert.deepEqual(p.failures(), []);
    assert.equal(p.child.exitCode, null, 'the proxy process is still running');
  });
});

/** 64 MiB of a byte pattern written with back-pressure, and the check that a reader got it all, in order. */
class PatternStream {
  static readonly TOTAL = 64 * 1024 * 1024;
  readonly chunk = Buffer.alloc(1024 * 1024);
  written = 0;
  finished = false;

  constructor(step: number) {
    for (let i = 0; i < this.chunk.length; i++) this.chunk[i] = (i * step + 5) & 255;
  }

  /** Writes to `s` as fast as it takes the bytes, then ends it. */
  pump(s: Socket): void {
    while (this.written < PatternStream.TOTAL) {
      this.written += this.chunk.length;
      if (!s.write(this.chunk)) return void s.once('drain', () => this.pump(s));
    }
    s.end(() => (this.finished = true));
  }

  /** Resolves once writing has stopped moving for 100 ms. */
  async stalled(): Promise<void> {
    let last = -1;
    while (this.written !== last) {
      last = this.written;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Resumes `reader` and asserts it receives every byte, in order, up to its end. */
  async check(reader: Socket): Promise<void> {
    const hash = createHash('sha256');
    const expected = createHash('sha256');
    for (let i = 0; i < PatternStream.TOTAL / this.chunk.length; i++) expected.update(this.chunk);
    let received = 0;
    reader.on('data', (d: Buffer) => {
      received += d.length;
      hash.update(d);
    });
    reader.resume();
    await new Promise((r) => reader.once('end', r));
    assert.equal(received, PatternStream.TOTAL);
    assert.equal(hash.digest('hex'), expected.digest('hex'));
  }
}
