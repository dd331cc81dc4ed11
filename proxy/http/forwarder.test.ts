import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import { activeRelays } from '../relay.js';
import { endpointKey } from '../types.js';
import { allClosed, Harness, HOST, PULL_BLOCK, refusedPort, type TestServer } from './harness.js';
import { needs } from '../../test/requirements.js';

/** A forwarder in front of `servers` upstreams; `native`: behind the native listener where it is built (the proxy's way), else a net.Server. */
async function harness(t: TestContext, servers: number, opts = {}, native = true): Promise<{ h: Harness; ups: TestServer[] }> {
  const h = new Harness();
  t.after(() => h.close());
  const ups: TestServer[] = [];
  for (let i = 0; i < servers; i++) ups.push(await h.server(`up${i}`));
  await h.start(
    ups.map((u) => u.endpoint),
    opts,
    native,
  );
  return { h, ups };
}

for (const native of [true, false]) test(`300 requests over one keep-alive client connection spread exactly 100 per upstream (${native ? 'accepted natively' : 'accepted by a net.Server'})`, async (t) => {
  const { h } = await harness(t, 3, {}, native);
  const c = await h.client();
  const counts = new Map<string, number>();
  for (let i = 0; i < 300; i++) {
    const r = await c.get('/name');
    assert.equal(r.status, 200);
    counts.set(r.text, (counts.get(r.text) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(counts), { up0: 100, up1: 100, up2: 100 });
  assert.equal(h.accepted.size, 1);
  assert.equal(c.closed, false);
  const carried = [...h.accepted] as net.Socket[];
  c.close();
  await allClosed(new Set(carried));
  assert.equal(h.accepted.size, 0, 'the closed connection left the listener\'s set');
  // Keep-alive upstream: a handful of connections, not one per request.
  assert.ok(h.observer.connections.length <= 6, `upstream connections: ${h.observer.connections.length}`);
  assert.equal(h.observer.requests.length, 300);
  assert.ok(h.observer.requests.every((r) => r.code === 200));
});

test('pipelined requests are answered in order', async (t) => {
  const { h } = await harness(t, 3);
  const c = await h.client();
  let batch = '';
  for (let i = 0; i < 20; i++) batch += `GET /p${i} HTTP/1.1\r\nHost: test\r\n\r\n`;
  c.send(batch);
  for (let i = 0; i < 20; i++) {
    const r = await c.response();
    assert.equal(r.text, `up${i % 3} /p${i}`);
  }
  // The same, one byte at a time.
  const bytes = Buffer.from('GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n');
  for (const b of bytes) c.send(Buffer.from([b]));
  assert.match((await c.response()).text, / \/a$/);
  assert.match((await c.response()).text, / \/b$/);
});

test('chunked request and response bodies pass through, then the connection carries on', async (t) => {
  const { h } = await harness(t, 1);
  const c = await h.client();
  c.send('POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
  c.send('6;ext=1\r\n world\r\n');
  c.send('0\r\nX-Trailer: yes\r\n\r\n');
  const r = await c.response();
  assert.equal(r.headers['transfer-encoding'], 'chunked');
  assert.equal(r.text, 'hello world');
  // Content-Length body split over writes.
  c.send('POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234');
  c.send('56789GET /name HTTP/1.1\r\nHost: t\r\n\r\n');
  assert.equal((await c.response()).text, '0123456789');
  assert.equal((await c.response()).text, 'up0');
});

test('large bodies stream with back-pressure both ways', async (t) => {
  let blocked: () => void = () => {};
  const upstreamBlocked = new Promise<void>((resolve) => (blocked = resolve));
  const h = new Harness();
  t.after(() => h.close());
  const up = await h.server('up0', { onBlocked: () => blocked() });
  await h.start([up.endpoint]);
  const c = await h.client();

  // 8 MB up and back through an echo.
  const big = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  c.send(`POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: ${big.length}\r\n\r\n`);
  c.send(big);
  const echoed = await c.response();
  assert.equal(echoed.body.length, big.length);
  assert.ok(echoed.body.equals(big));

  // A client that does not read: the upstream must feel it (the proxy does not buffer 64 MB).
  c.socket.pause();
  c.send('GET /pull?n=67108864 HTTP/1.1\r\nHost: t\r\n\r\n');
  await upstreamBlocked;
  c.socket.resume();
  const pulled = await c.response();
  assert.equal(pulled.body.length, 64 * 1024 * 1024);
  for (let at = 0; at < pulled.body.length; at += PULL_BLOCK.length) {
    assert.ok(pulled.body.subarray(at, at + PULL_BLOCK.length).equals(PULL_BLOCK), `bytes ${at}.. arrived intact`);
  }
  assert.equal((await c.get('/name')).text, 'up0');
});

test('HEAD, 204 and 304 responses have no body and keep framing', async (t) => {
  const { h } = await harness(t, 1);
  const c = await h.client();
  c.send('HEAD /big?n=1000 HTTP/1.1\r\nHost: t\r\n\r\n');
  const head = await c.response('HEAD');
  assert.equal(head.headers['content-length'], '1000');
  assert.equal(head.body.length, 0);
  assert.equal((await c.get('/status/204')).status, 204);
  assert.equal((await c.get('/status/304')).status, 304);
  const last = await c.get('/name');
  assert.equal(last.text, 'up0');
});

test('HTTP/1.0 clients: closed after the response unless they ask for keep-alive', async (t) => {
  const { h } = await harness(t, 1);
  const c = await h.client();
  c.send('GET /name HTTP/1.0\r\n\r\n');
  const r = await c.response();
  assert.equal(r.text, 'up0');
  assert.equal(r.headers.connection, 'close');
  await c.closedPromise;

  const k = await h.client();
  k.send('GET /name HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  const r1 = await k.response();
  assert.equal(r1.headers.connection, 'keep-alive');
  k.send('GET /headers HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  const r2 = await k.response();
  assert.equal(JSON.parse(r2.text).connection, 'keep-alive');
  assert.equal(k.closed, false);
});

test('a client Connection: close is answered and then the connection ends', async (t) => {
  const { h } = await harness(t, 1);
  const c = await h.client();
  c.send('GET /name HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: t\r\n\r\n');
  const r = await c.response();
  assert.equal(r.headers.connection, 'close');
  assert.equal(await c.rest(), '');
  // A client that half-closes right after its request still gets the answer.
  const d = await h.client();
  d.socket.end('GET /name HTTP/1.1\r\nHost: t\r\n\r\n');
  assert.equal((await d.response()).text, 'up0');
  await d.closedPromise;
});

test('upstreams that close after each response still work', async (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const node = await h.server('up0');
  // Read-until-close framing: no Content-Length, no chunked, then FIN.
  const raw = await h.raw((s) => {
    s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nraw-body'));
  });
  await h.start([node.endpoint]);
  const c = await h.client();
  for (let i = 0; i < 10; i++) assert.equal((await c.get('/close')).text, 'up0');
  assert.equal(c.closed, false);
  assert.equal(h.observer.connections.length, 10);

  h.picker.endpoints = [raw.endpoint];
  const r = await c.get('/');
  assert.equal(r.text, 'raw-body');
  assert.equal(r.headers.connection, 'close');
  await c.closedPromise;
});

test('a refused endpoint is retried on the next one: no client errors', async (t) => {
  const { h, ups } = await harness(t, 2);
  const refused = { ip: HOST, port: await refusedPort() };
  h.picker.endpoints = [refused, ups[0].endpoint, ups[1].endpoint];
  const c = await h.client();
  for (let i = 0; i < 30; i++) {
    const r = await c.get('/name');
    assert.equal(r.status, 200);
  }
  // The same for a request with a (buffered) body.
  c.send('POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc');
  assert.equal((await c.response()).text, 'abc');
  assert.ok(h.picker.failures.length > 0);
  assert.ok(h.picker.failures.every((f) => f === endpointKey(refused)));
  assert.ok(h.observer.failures.every((f) => f.reason === 'connect'));
  assert.ok(h.observer.requests.every((r) => r.code === 200));
});

test('a pooled connection the upstream closed under a new request is retried on a fresh one', async (t) => {
  const h = new Harness();
  t.after(() => h.close());
  // Answers the first request of every connection, then drops the connection at the second.
  const flaky = await h.raw((s) => {
    let n = 0;
    s.on('data', () => {
      if (n++ === 0) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      else s.destroy();
    });
  });
  await h.start([flaky.endpoint]);
  const c = await h.client();
  for (let i = 0; i < 10; i++) assert.equal((await c.get('/')).text, 'ok');
  c.send('POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody');
  assert.equal((await c.response()).text, 'ok');
  assert.equal(h.picker.failures.length, 0);
});

test('no endpoints: 503 naming the service, connection kept', async (t) => {
  const { h } = await harness(t, 0);
  const c = await h.client();
  const r = await c.get('/');
  assert.equal(r.status, 503);
  assert.match(r.text, /no endpoints available for service "default\/web"/);
  c.send('POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n');
  c.send('12345');
  assert.equal((await c.response()).status, 503);
  assert.equal((await c.get('/')).status, 503);
  assert.equal(c.closed, false);
  assert.deepEqual(
    h.observer.requests.map((r) => r.code),
    [503, 503, 503],
  );
});

for (const native of [true, false]) test(`X-Forwarded-For is added or appended; hop-by-hop fields are dropped (${native ? 'accepted natively' : 'accepted by a net.Server'})`, async (t) => {
  const { h } = await harness(t, 1, {}, native);
  const c = await h.client();
  const plain = JSON.parse((await c.get('/headers')).text);
  assert.equal(plain['x-forwarded-for'], '127.0.0.1');
  const r = await c.get(
    '/headers',
    'X-Forwarded-For: 127.0.3.1\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=300\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nX-Kept: yes\r\n',
  );
  const seen = JSON.parse(r.text);
  assert.equal(seen['x-forwarded-for'], '127.0.3.1, 127.0.0.1');
  assert.equal(seen['x-secret'], undefined);
  assert.equal(seen['keep-alive'], undefined);
  assert.equal(seen['proxy-connection'], undefined);
  assert.equal(seen.te, 'trailers');
  assert.equal(seen['x-kept'], 'yes');
  // The upstream's own Keep-Alive field does not reach the client.
  assert.equal(r.headers['keep-alive'], undefined);
  // A Connection option cannot remove the framing fields.
  c.send('POST /echo HTTP/1.1\r\nHost: t\r\nConnection: Content-Length\r\nContent-Length: 3\r\n\r\nabc');
  assert.equal((await c.response()).text, 'abc');
});

/** An upstream that answers an upgrade request with 101 and then echoes every byte; `heads` collects what it was sent before. */
async function echoingUpgrade(h: Harness): Promise<{ ws: TestServer; heads: () => string }> {
  let upgradeHead = '';
  const ws = await h.raw((s) => {
    const onData = (c: Buffer): void => {
      upgradeHead += c.toString('latin1');
      const end = upgradeHead.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      const early = Buffer.from(upgradeHead.slice(end + 4), 'latin1');
      if (early.length > 0) s.write(early);
      s.pipe(s);
    };
    s.on('data', onData);
  });
  return { ws, heads: () => upgradeHead };
}

const NATIVE = await needs('native');

for (const nativeRelay of [true, false]) {
  test(`websocket-style upgrade: 101, then raw bytes both ways until one side closes (${nativeRelay ? 'tunnel in the native relay' : 'tunnel relayed in JavaScript'})`, nativeRelay ? NATIVE : {}, async (t) => {
    const h = new Harness();
    t.after(() => h.close());
    const { ws, heads } = await echoingUpgrade(h);
    await h.start([ws.endpoint], { nativeRelay });
    const before = activeRelays();
    const c = await h.client();
    c.send('GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\nearly');
    const r = await c.response();
    assert.equal(r.status, 101);
    assert.equal(r.headers.upgrade, 'websocket');
    c.send('hello');
    assert.equal((await c.bytes(10)).toString(), 'earlyhello');
    assert.equal(activeRelays(), before + (nativeRelay ? 1 : 0), 'tunnels in the native relay');
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    c.send(big);
    assert.ok((await c.bytes(big.length)).equals(big));
    assert.match(heads(), /^GET \/ws HTTP\/1.1\r\n/);
    assert.match(heads(), /\r\nUpgrade: websocket\r\n/);
    assert.match(heads(), /\r\nConnection: upgrade\r\n/);
    assert.equal(h.observer.requests[0].code, 101);
    c.socket.end();
    await c.closedPromise;
    await allClosed(ws.sockets);
    assert.equal(h.forwarder.pool.size.live, 0);
    assert.equal(activeRelays(), before, 'the relay let the tunnel go');
  });
}

test('a tunnel in the native relay ends when the forwarder closes', NATIVE, async (t) => {
  const h = new Harness();
  t.after(() => h.close());
  const { ws } = await echoingUpgrade(h);
  await h.start([ws.endpoint], { closeGraceMs: 100 });
  const before = activeRelays();
  const c = await h.client();
  c.send('GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  assert.equal((await c.response()).status, 101);
  c.send('ping');
  assert.equal((await c.bytes(4)).toString(), 'ping');
  assert.equal(activeRelays(), before + 1);
  await h.forwarder.close();
  await c.closedPromise;
  await allClosed(ws.sockets);
  assert.equal(activeRelays(), before);
});

test('every ambiguous or invalid request head gets 400 (or 431/505) and reaches no upstream', async (t) => {
  const { h, ups } = await harness(t, 1);
  const cases: [string, number][] = [
    ['POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 6\r\n\r\nhello!', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0x10\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1e3\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5 5\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\x0b\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n\r\n', 400],
    ['POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n', 400],
    ['GET / HTTP/1.1\nHost: t\n\n', 400],
    ['GET / HTTP/1.1\r\nHost: t\nX: y\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: t\rX: y\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n  folded\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n\tfolded\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\n Host: t\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: t\r\nBad\x00: x\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: t\r\n: x\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: t\r\nX-Nul: a\x00b\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: t\r\nno-colon\r\n\r\n', 400],
    ['GET  / HTTP/1.1\r\nHost: t\r\n\r\n', 400],
    ['GET / HTTP/1.1 x\r\nHost: t\r\n\r\n', 400],
    ['GET /a b HTTP/1.1\r\nHost: t\r\n\r\n', 400],
    ['GET / http/1.1\r\nHost: t\r\n\r\n', 400],
    ['G(T / HTTP/1.1\r\nHost: t\r\n\r\n', 400],
    ['GET /\x7f HTTP/1.1\r\nHost: t\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
    ['GET / HTTP/2.0\r\nHost: t\r\n\r\n', 505],
    ['GET / HTTP/0.9\r\nHost: t\r\n\r\n', 505],
    [`GET / HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`, 431],
    [`GET / HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(70 * 1024)}`, 431],
    // Bad chunked bodies.
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\ng\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n', 400],
    ['POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n folded: x\r\n\r\n', 400],
  ];
  for (const [request, status] of cases) {
    const c = await h.client();
    c.send(request);
    const text = await c.rest();
    const label = JSON.stringify(request.slice(0, 120));
    assert.match(text, new RegExp(`^HTTP/1\\.1 ${status} `), label);
    assert.match(text, /\r\nConnection: close\r\n/, label);
    // Nothing after the answer: a smuggled second request never got out.
    assert.equal(text.match(/HTTP\/1\.1 /g)?.length, 1, label);
  }
  assert.equal(ups[0].completed, 0);
});

test('garbage never crashes the forwarder; good requests still work after it', async (t) => {
  const { h } = await harness(t, 1);
  let seed = 42;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  const pieces = ['GET ', 'POST ', '/ ', 'HTTP/1.1', '\r\n', '\n', '\r', ': ', 'Host', 'Content-Length', 'Transfer-Encoding', 'chunked', '0', '5', 'ffff', ' ', '\t', ',', ';', '\x00', '\xff'];
  for (let i = 0; i < 150; i++) {
    const c = await h.client();
    let junk = '';
    const n = rand() % 40;
    for (let j = 0; j < n; j++) junk += rand() % 3 === 0 ? String.fromCharCode(rand() % 256) : pieces[rand() % pieces.length];
    c.send(junk);
    c.socket.end();
    const text = await c.rest();
    assert.ok(text === '' || /^HTTP\/1\.1 \d{3} /.test(text), JSON.stringify(text.slice(0, 80)));
  }
  const c = await h.client();
  assert.equal((await c.get('/name')).text, 'up0');
});

test('close(): idle connections and pooled sockets go, in-flight requests finish, nothing leaks', async (t) => {
  const { h, ups } = await harness(t, 3);
  const idle = await h.client();
  for (let i = 0; i < 6; i++) await idle.get('/name');
  const busy = await h.client();
  busy.send('POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhal');
  await busy.some(); // the echo has begun: the request is in flight
  const closing = h.forwarder.close();
  busy.send('f!');
  const r = await busy.response();
  assert.equal(r.text, 'half!'); // its head went out before close(): no Connection: close, but the end
  await closing;
  await Promise.all([idle.closedPromise, busy.closedPromise]);
  assert.equal(h.forwarder.connectionCount, 0);
  assert.deepEqual(h.forwarder.pool.size, { idle: 0, live: 0 });
  for (const up of ups) await allClosed(up.sockets);
  // New clients of a closed forwarder are dropped.
  const late = await h.client();
  await late.closedPromise;
});
