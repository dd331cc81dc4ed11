import assert from 'node:assert/strict';
import { connect, createServer, type OnReadOpts, type Server, type Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { READ_BUFFER_BYTES, ReadBuffer, readInto } from './readinto.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A listener on 127.0.0.1 handing each accepted socket to `onSocket`; closed at the end of the test. */
async function listen(onSocket: (s: Socket) => void): Promise<{ port: number; server: Server }> {
  const server = createServer({ allowHalfOpen: true }, onSocket);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as { port: number }).port, server };
}

async function client(port: number): Promise<Socket> {
  const c = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  cleanups.push(() => c.destroy());
  c.on('error', () => undefined);
  await new Promise((r) => c.once('connect', r));
  return c;
}

const received = (s: Socket): Promise<string> =>
  new Promise((resolve) => {
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString()));
    s.on('end', () => resolve(text));
  });

/** Reads into `buffer`, each read's text pushed on `chunks`; the callback answers `more`. */
function collecting(chunks: string[], buffer: ReadBuffer, more: boolean): OnReadOpts {
  return {
    buffer: buffer.next,
    callback: (bytes, buf) => {
      chunks.push(Buffer.from(buf.subarray(0, bytes)).toString());
      return more;
    },
  };
}

describe('readInto', () => {
  it('moves an accepted connection into a socket that reads into the given buffer, half-close included', async () => {
    const buffer = new ReadBuffer(64);
    const seen: Uint8Array[] = [];
    let carrier: Socket | undefined;
    let accepted: Socket | undefined;
    const { port, server } = await listen((s) => {
      accepted = s;
      carrier = readInto(s, {
        buffer: buffer.next,
        callback: (bytes, buf) => {
          seen.push(buf);
          carrier!.write(Buffer.from(buf.subarray(0, bytes)).toString().toUpperCase());
          return true;
        },
      }, true);
      carrier.on('end', () => carrier!.end('|bye'));
      cleanups.push(() => carrier!.destroy());
    });
    const c = await client(port);
    const text = received(c);
    c.write('hello');
    await new Promise((r) => setTimeout(r, 20));
    c.end('world');
    assert.equal(await text, 'HELLOWORLD|bye');
    assert.notEqual(carrier, accepted, 'the connection moved to a new socket');
    assert.ok(accepted!.destroyed);
    assert.equal(seen.length, 2);
    assert.equal(seen[0], seen[1], 'both reads went into the one reused buffer');
    // The accepted socket left the server's count: it no longer holds server.close() back.
    const count = await new Promise<number>((r) => server.getConnections((_e, n) => r(n)));
    assert.equal(count, 0);
  });

  it('pauses reading while the callback says false, until resume()', async () => {
    let carrier: Socket | undefined;
    const chunks: string[] = [];
    const { port } = await listen((s) => {
      carrier = readInto(s, collecting(chunks, new ReadBuffer(4), false), true);
      cleanups.push(() => carrier!.destroy());
    });
    const c = await client(port);
    c.write('abcdefgh');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(chunks, ['abcd'], 'one read of 4 bytes, then nothing while paused');
    carrier!.resume();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(chunks, ['abcd', 'efgh']);
  });

  it('falls back to data events for a socket already being read, with the same callback', async () => {
    let carrier: Socket | undefined;
    let accepted: Socket | undefined;
    const chunks: string[] = [];
    const { port } = await listen((s) => {
      accepted = s;
      s.on('data', () => undefined); // someone reads it already: the handle must stay where it is
      carrier = readInto(s, collecting(chunks, new ReadBuffer(64), true), true);
      cleanups.push(() => carrier!.destroy());
    });
    const c = await client(port);
    c.write('plain');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(carrier, accepted);
    assert.deepEqual(chunks, ['plain']);
  });
});

describe('ReadBuffer', () => {
  it('hands out the same buffer until one is held, then a fresh one', () => {
    const b = new ReadBuffer(16);
    const first = b.next();
    assert.equal(b.next(), first);
    b.hold();
    const second = b.next();
    assert.notEqual(second, first);
    assert.equal(second.length, 16);
    assert.equal(b.next(), second);
  });

  it("hands a released connection's buffer to the next connection, unless it is held", () => {
    const closed = new ReadBuffer();
    const buffer = closed.next();
    closed.release();
    const next = new ReadBuffer();
    assert.equal(next.next(), buffer, 'the released buffer is reused');

    next.hold();
    next.release();
    const other = new ReadBuffer();
    assert.notEqual(other.next(), buffer, 'a held buffer is never handed out again');
    assert.equal(other.next().length, READ_BUFFER_BYTES);

    const small = new ReadBuffer(16);
    const smallBuffer = small.next();
    small.release();
    assert.notEqual(new ReadBuffer().next(), smallBuffer, 'only buffers of the default size are kept');
  });
});
