// The native relay module (lib/native/relay.c) where it meets what it did not make: handles of
// another kind or module, JavaScript callbacks that throw, and calls that fail half-way. The
// relaying itself is tested through the TCP forwarder (tcp.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, fstatSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { openDescriptors } from '../lib/limits.js';
import { needs } from '../test/requirements.js';
import { nativeModule, runChild } from '../test/native-support.js';

/** The native module; every test here needs it (lib/native, built by npm install). */
const NATIVE = await needs('native');

interface RelayModule {
  start(fdA: number, fdB: number, idleMs: number, onevent: unknown): object;
  connect(fdClient: number, ip: string, port: number, idleMs: number, connectTimeoutMs: number, replayLimit: number, onevent: unknown, owned: boolean): object;
  retry(handle: unknown, ip: string, port: number): void;
  listen(host: string, port: number, backlog: number, onaccept: unknown): [object, number];
  close(handle: unknown): void;
}

interface UdpBatchModule {
  BATCH: number;
  SLOT: number;
  open(host: string, port: number, ipv6: boolean, input: Uint8Array, output: Uint8Array, lens: Int32Array, onbatch: (count: number) => void): object;
  close(handle: object): void;
}

test('a handle of another kind or another module is a TypeError, never a crash', NATIVE, (t) => {
  const relay = nativeModule<RelayModule>('relay');
  const udpbatch = nativeModule<UdpBatchModule>('udpbatch');
  const [listener] = relay.listen('127.0.0.1', 0, 8, () => false);
  t.after(() => relay.close(listener));
  const { BATCH, SLOT } = udpbatch;
  const socket = udpbatch.open('127.0.0.1', 0, false, new Uint8Array(BATCH * SLOT), new Uint8Array(BATCH * SLOT), new Int32Array(2 * BATCH), () => undefined);
  t.after(() => udpbatch.close(socket));

  assert.throws(() => relay.close(socket), TypeError, "udpbatch's socket is not a relay's handle");
  assert.throws(() => relay.retry(socket, '127.0.0.1', 1), TypeError);
  assert.throws(() => relay.retry(listener, '127.0.0.1', 1), TypeError, 'a listener is not a relay');
  for (const notAHandle of [{}, [], undefined, null, 7, 'handle', () => undefined]) {
    assert.throws(() => relay.close(notAHandle), TypeError, `close(${String(notAHandle)})`);
    assert.throws(() => relay.retry(notAHandle, '127.0.0.1', 1), TypeError, `retry(${String(notAHandle)})`);
  }
  relay.close(listener);
  relay.close(listener);
});

test('accept and event callbacks that throw are reported on stderr; the process goes on and later connections are served', NATIVE, async () => {
  const wrapper = new URL('./relay.js', import.meta.url).href;
  // Connection 1: the accept callback throws (the client gets an RST). 2: relayed to an echo
  // server, with connected() and end() throwing. 3: relayed to a refused port, failed() throwing
  // (an RST, then the end). 4: relayed as usual.
  const script = `
    import { connect, createServer } from 'node:net';
    const { listenNative, relayDescriptor } = await import(${JSON.stringify(wrapper)});
    setTimeout(() => { console.error('the child timed out'); process.exit(3); }, 20000).unref();
    const echo = createServer((s) => s.pipe(s));
    await new Promise((r) => echo.listen(0, '127.0.0.1', r));
    const upstream = { ip: '127.0.0.1', port: echo.address().port };
    const gone = createServer();
    await new Promise((r) => gone.listen(0, '127.0.0.1', r));
    const refused = { ip: '127.0.0.1', port: gone.address().port };
    await new Promise((r) => gone.close(r));
    const opts = { idleMs: 0, connectTimeoutMs: 2000, replayLimit: 65536 };
    const ends = [];
    const plans = [
      () => { throw new Error('accept boom'); },
      (fd) => relayDescriptor(fd, upstream, opts, {
        connected() { throw new Error('connected boom'); },
        failed: () => undefined,
        end(e) { ends.push(e); throw new Error('end boom'); },
      }) !== undefined,
      (fd) => relayDescriptor(fd, refused, opts, { connected() {}, failed() { throw new Error('failed boom'); }, end(e) { ends.push(e); } }) !== undefined,
      (fd) => relayDescriptor(fd, upstream, opts, { connected() {}, failed: () => undefined, end(e) { ends.push(e); } }) !== undefined,
    ];
    let accepted = 0;
    const listener = listenNative('127.0.0.1', 0, 16, (fd) => plans[accepted++](fd));
    const exchange = (text) => new Promise((resolve) => {
      const c = connect(listener.port, '127.0.0.1');
      let got = '';
      c.on('data', (d) => { got += d; c.end(); });
      c.on('error', () => resolve('reset'));
      c.on('close', () => resolve(got));
      c.write(text);
    });
    const answers = [];
    for (const text of ['one', 'ping', 'three', 'pong']) answers.push(await exchange(text));
    while (ends.length < 3) await new Promise((r) => setTimeout(r, 10));
    listener.close();
    echo.close();
    console.log(JSON.stringify({ answers, ends: ends.sort() }));
  `;
  const { code, signal, stdout, stderr } = await runChild(script);
  assert.equal(signal, null, `the child was killed: ${stderr}`);
  assert.equal(code, 0, `the child failed: ${stderr}`);
  assert.deepEqual(JSON.parse(stdout), { answers: ['reset', 'ping', 'reset', 'pong'], ends: ['closed', 'closed', 'no upstream'] });
  for (const thrown of ['accept boom', 'connected boom', 'end boom', 'failed boom']) {
    assert.match(stderr, new RegExp(`tugboat native relay: a callback threw; serving goes on: Error: ${thrown}`), `${thrown} is reported`);
  }
});

test('listens, starts and connects that fail half-way leave no descriptor behind', NATIVE, async (t) => {
  const relay = nativeModule<RelayModule>('relay');
  const taken = createServer();
  await new Promise<void>((res) => taken.listen(0, '127.0.0.1', res));
  t.after(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  // The relays connect to nothing: an accepted connection would be a descriptor of this process too.
  const gone = createServer();
  await new Promise<void>((res) => gone.listen(0, '127.0.0.1', res));
  const refused = (gone.address() as { port: number }).port;
  await new Promise<void>((res) => gone.close(() => res()));
  // A descriptor epoll cannot poll: the relay is made, then its first poll fails.
  const devNull = openSync('/dev/null', 'r');
  t.after(() => closeSync(devNull));
  const noop = (): void => undefined;
  const failures: [string, () => unknown, (e: NodeJS.ErrnoException) => boolean][] = [
    ['listen on a taken port', () => relay.listen('127.0.0.1', port, 8, noop), (e) => e.code === 'EADDRINUSE'],
    ['listen on an address not here', () => relay.listen('192.0.2.1', 0, 8, noop), (e) => e.code === 'EADDRNOTAVAIL'],
    ['start on descriptors epoll cannot poll', () => relay.start(devNull, devNull, 0, noop), (e) => e.code === 'EPERM'],
    ['connect a client epoll cannot poll', () => relay.connect(devNull, '127.0.0.1', refused, 0, 1000, 1000, noop, false), (e) => e.code === 'EPERM'],
    ['connect an owned client epoll cannot poll', () => relay.connect(devNull, '127.0.0.1', refused, 0, 1000, 1000, noop, true), (e) => e.code === 'EPERM'],
    ['start with no function to call', () => relay.start(devNull, devNull, 0, 42), (e) => e instanceof TypeError],
    ['listen with no function to call', () => relay.listen('127.0.0.1', 0, 8, 42), (e) => e instanceof TypeError],
  ];
  // The epoll set of the relays is made at the first call and kept: made before counting.
  relay.close(relay.listen('127.0.0.1', 0, 8, noop)[0]);
  const before = openDescriptors();
  for (const [what, call, expected] of failures) {
    for (let i = 0; i < 50; i++) assert.throws(call, expected, what);
    assert.equal(openDescriptors(), before, `${what}, 50 times: no descriptor left open`);
  }
  assert.doesNotThrow(() => fstatSync(devNull), "an owned descriptor stays the caller's when connect throws");
});
