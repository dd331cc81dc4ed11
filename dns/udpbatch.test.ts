import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { readdirSync } from 'node:fs';
import { loadUdpBatch, type BatchedUdp, type BatchHandler, type OpenBatched } from './udpbatch.js';
import { needs } from '../test/requirements.js';
import { nativeModule, runChild } from '../test/native-support.js';

/** The native module; every test here needs it (lib/native, built by npm install). */
const NATIVE = await needs('native');

function native(): OpenBatched {
  const loaded = loadUdpBatch();
  if (!loaded.ok) throw new Error(`the batched UDP socket did not load: ${loaded.reason}`);
  return loaded.open;
}

function open(t: TestContext, openBatched: OpenBatched, handler: BatchHandler, host = '127.0.0.1'): { sock: BatchedUdp; errors: unknown[] } {
  const errors: unknown[] = [];
  const sock = openBatched(host, 0, handler, (e) => errors.push(e));
  t.after(() => sock.close());
  return { sock, errors };
}

async function client(t: TestContext, type: 'udp4' | 'udp6' = 'udp4'): Promise<Socket> {
  const c = createSocket(type);
  await new Promise<void>((res) => c.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', res));
  t.after(() => c.close());
  return c;
}

/** Collects `count` datagrams on `c`, failing after 5 s instead of hanging. */
function receive(c: Socket, count: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    const timer = setTimeout(() => { c.off('message', on); reject(new Error(`got ${got.length} of ${count} datagrams`)); }, 5000);
    const on = (m: Buffer): void => {
      got.push(m);
      if (got.length === count) { clearTimeout(timer); c.off('message', on); resolve(got); }
    };
    c.on('message', on);
  });
}

/** Echoes each datagram back with "re:" in front. */
const echo: BatchHandler = (q, _i, out, offset) => out.write('re:', offset) + q.copy(out, offset + 3);

test('a burst from several clients is answered in batches, each answer to its own sender', NATIVE, async (t) => {
  const openBatched = native();
  let largest = 0;
  const { sock, errors } = open(t, openBatched, (q, i, out, offset) => {
    largest = Math.max(largest, i + 1);
    return echo(q, i, out, offset);
  });
  const clients = await Promise.all([0, 1, 2, 3].map(() => client(t)));
  const replies = clients.map((c) => receive(c, 16));
  clients.forEach((c, k) => { for (let n = 0; n < 16; n++) c.send(`c${k}-${n}`, sock.port, '127.0.0.1'); });
  const got = await Promise.all(replies);
  got.forEach((msgs, k) => assert.deepEqual(msgs.map(String).sort(), Array.from({ length: 16 }, (_, n) => `re:c${k}-${n}`).sort()));
  assert.ok(largest > 1, `64 datagrams sent in one turn of the loop arrive in batches (largest ${largest})`);
  assert.deepEqual(errors, []);
});

test('an answer given later goes through peer() and sendTo(); a 0 sends nothing now', NATIVE, async (t) => {
  const openBatched = native();
  const later: { bytes: Buffer; to: { address: string; port: number } }[] = [];
  const { sock } = open(t, openBatched, (q, i) => {
    later.push({ bytes: Buffer.from(q), to: sock.peer(i) });
    return 0;
  });
  const c = await client(t);
  const reply = receive(c, 1);
  c.send('slow', sock.port, '127.0.0.1');
  while (later.length === 0) await new Promise((res) => setTimeout(res, 10));
  assert.deepEqual(later[0].to, { address: '127.0.0.1', port: c.address().port });
  assert.equal(sock.sendTo(Buffer.from(`late:${later[0].bytes}`), later[0].to.port, later[0].to.address), 0);
  assert.equal(String((await reply)[0]), 'late:slow');
  assert.equal(sock.sendTo(Buffer.from('x'), 0, '127.0.0.1'), 22, 'port 0 is EINVAL');
  assert.equal(sock.sendTo(Buffer.from('x'), 53, 'not-an-address'), 22, 'a name is EINVAL');
});

test('a handler that throws loses that answer only; the error is reported and the rest are answered', NATIVE, async (t) => {
  const openBatched = native();
  const { sock, errors } = open(t, openBatched, (q, i, out, offset) => {
    if (String(q) === 'bad') throw new Error('boom');
    return echo(q, i, out, offset);
  });
  const c = await client(t);
  const replies = receive(c, 2);
  for (const m of ['one', 'bad', 'two']) c.send(m, sock.port, '127.0.0.1');
  assert.deepEqual((await replies).map(String).sort(), ['re:one', 're:two']);
  assert.deepEqual(errors.map((e) => (e as Error).message), ['boom']);
});

test('datagrams of any size arrive whole, an empty one too', NATIVE, async (t) => {
  const openBatched = native();
  const sizes: number[] = [];
  const { sock } = open(t, openBatched, (q, _i, out, offset) => {
    sizes.push(q.length);
    return out.write(`${q.length}`, offset);
  });
  const c = await client(t);
  for (const size of [0, 1, 512, 4096, 65_507]) {
    const reply = receive(c, 1);
    c.send(Buffer.alloc(size, 7), sock.port, '127.0.0.1');
    assert.equal(String((await reply)[0]), String(size));
  }
  assert.deepEqual(sizes, [0, 1, 512, 4096, 65_507]);
});

test('IPv6: answers go back to ::1', NATIVE, async (t) => {
  const openBatched = native();
  let sock: BatchedUdp;
  const peers: string[] = [];
  try {
    sock = open(t, openBatched, (q, i, out, offset) => {
      peers.push(sock.peer(i).address);
      return echo(q, i, out, offset);
    }, '::1').sock;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).message.includes('Cannot assign requested address')) return t.skip('no ::1 on this machine');
    throw e;
  }
  const c = await client(t, 'udp6');
  const reply = receive(c, 1);
  c.send('six', sock.port, '::1');
  assert.equal(String((await reply)[0]), 're:six');
  assert.deepEqual(peers, ['::1']);
});

test('a taken port is EADDRINUSE; close() frees the port at once, twice is harmless, and sendTo after it is EBADF', NATIVE, async (t) => {
  const openBatched = native();
  const first = openBatched('127.0.0.1', 0, echo, () => undefined);
  assert.throws(() => openBatched('127.0.0.1', first.port, echo, () => undefined), (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE');
  assert.throws(() => openBatched('localhost', 0, echo, () => undefined), /IP literal/);
  const port = first.port;
  first.close();
  first.close();
  assert.equal(first.sendTo(Buffer.from('x'), 53, '127.0.0.1'), 9);
  const again = createSocket('udp4');
  await new Promise<void>((res, rej) => { again.once('error', rej); again.bind(port, '127.0.0.1', res); });
  await new Promise<void>((res) => again.close(res));
});

interface UdpBatchModule {
  BATCH: number;
  SLOT: number;
  open(host: string, port: number, ipv6: boolean, input: Uint8Array, output: Uint8Array, lens: Int32Array, onbatch: unknown): object;
  port(handle: unknown): number;
  peer(handle: unknown, i: number): string;
  sendTo(handle: unknown, bytes: Uint8Array, port: number, address: string): number;
  close(handle: unknown): void;
}

interface RelayModule {
  listen(host: string, port: number, backlog: number, onaccept: () => boolean): [object, number];
  close(handle: object): void;
}

test('a handle of another kind or another module is a TypeError, never a crash', NATIVE, (t) => {
  const udpbatch = nativeModule<UdpBatchModule>('udpbatch');
  const relay = nativeModule<RelayModule>('relay');
  const [listener] = relay.listen('127.0.0.1', 0, 8, () => false);
  t.after(() => relay.close(listener));
  for (const notASocket of [listener, {}, [], undefined, null, 7, 'handle', () => undefined]) {
    const named = notASocket === listener ? "the relay's listener" : String(notASocket);
    assert.throws(() => udpbatch.port(notASocket), TypeError, `port(${named})`);
    assert.throws(() => udpbatch.peer(notASocket, 0), TypeError, `peer(${named})`);
    assert.throws(() => udpbatch.sendTo(notASocket, Buffer.from('x'), 53, '127.0.0.1'), TypeError, `sendTo(${named})`);
    assert.throws(() => udpbatch.close(notASocket), TypeError, `close(${named})`);
  }
});

test('an onbatch that throws is reported on stderr; the process goes on and the next batch is answered', NATIVE, async () => {
  // Through the wrapper: a handler that throws, and an onError that throws what it is given, so
  // the exception leaves onbatch for the native module.
  const wrapper = new URL('./udpbatch.js', import.meta.url).href;
  const script = `
    import { createSocket } from 'node:dgram';
    const { loadUdpBatch } = await import(${JSON.stringify(wrapper)});
    setTimeout(() => { console.error('the child timed out'); process.exit(3); }, 20000).unref();
    let thrown = 0;
    const sock = loadUdpBatch().open('127.0.0.1', 0, (q, _i, out, offset) => {
      if (String(q) === 'bad') throw new Error('boom');
      return out.write('re:' + q, offset);
    }, (e) => { thrown++; throw e; });
    const c = createSocket('udp4');
    c.on('message', (m) => { console.log(String(m)); c.close(); sock.close(); });
    c.send('bad', sock.port, '127.0.0.1');
    while (thrown === 0) await new Promise((r) => setTimeout(r, 5));
    c.send('good', sock.port, '127.0.0.1');
  `;
  const { code, signal, stdout, stderr } = await runChild(script);
  assert.equal(signal, null, `the child was killed: ${stderr}`);
  assert.equal(code, 0, `the child failed: ${stderr}`);
  assert.equal(stdout.trim(), 're:good');
  assert.match(stderr, /tugboat native udpbatch: a callback threw; serving goes on: Error: boom/);
});

test('sockets that fail to open leave no descriptor behind', NATIVE, (t) => {
  const udpbatch = nativeModule<UdpBatchModule>('udpbatch');
  const { BATCH, SLOT } = udpbatch;
  const input = new Uint8Array(BATCH * SLOT);
  const output = new Uint8Array(BATCH * SLOT);
  const lens = new Int32Array(2 * BATCH);
  const taken = udpbatch.open('127.0.0.1', 0, false, input, output, lens, () => undefined);
  t.after(() => udpbatch.close(taken));
  const port = udpbatch.port(taken);
  const failures: [string, () => unknown, (e: NodeJS.ErrnoException) => boolean][] = [
    ['open on a taken port', () => udpbatch.open('127.0.0.1', port, false, input, output, lens, () => undefined), (e) => e.code === 'EADDRINUSE'],
    ['open with no function to call', () => udpbatch.open('127.0.0.1', 0, false, input, output, lens, 42), (e) => e instanceof TypeError],
  ];
  const before = readdirSync('/proc/self/fd').length;
  for (const [what, call, expected] of failures) {
    for (let i = 0; i < 50; i++) assert.throws(call, expected, what);
    assert.equal(readdirSync('/proc/self/fd').length, before, `${what}, 50 times: no descriptor left open`);
  }
});
