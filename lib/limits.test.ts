// Connection limits with real sockets: a client address past its share is closed at accept while
// others get in; clients that never finish their TLS handshake cannot crowd out one that does.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { connectionBudget, ConnectionShares, limitConnections, limitPendingHandshakes, openDescriptors, openFileLimit } from './limits.js';
import { ensureTls } from './tls.js';

/** A connection from `localAddress`; `closed` settles when the server ends it. */
async function client(t: TestContext, port: number, localAddress = '127.0.0.1') {
  const sock = connect({ host: '127.0.0.1', port, localAddress });
  t.after(() => sock.destroy());
  sock.on('error', () => undefined);
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  await new Promise<void>((r) => sock.once('connect', () => r()));
  return { sock, closed };
}

describe('connection limits', () => {
  it('closes a client address past its share at once; other addresses still get in', async (t) => {
    const held: Socket[] = [];
    const server = createServer((s) => {
      held.push(s);
      s.on('data', (d) => s.write(d));
      s.on('error', () => undefined);
    });
    let refused = 0;
    limitConnections(server, { maxConnections: 100, perSource: 2, onRefused: () => refused++ });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => {
      for (const s of held) s.destroy();
      server.close();
    });
    const port = (server.address() as { port: number }).port;
    await client(t, port);
    await client(t, port);
    const third = await client(t, port);
    await third.closed;
    assert.equal(refused, 1);
    const other = await client(t, port, '127.0.0.2');
    const echoed = new Promise<string>((r) => other.sock.once('data', (d) => r(String(d))));
    other.sock.write('hi');
    assert.equal(await echoed, 'hi', 'another address is let in and served');
  });

  it('makes room for a client that handshakes by closing the longest-waiting silent ones', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tug-limits-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const tls = await ensureTls(dir, ['127.0.0.1']);
    const server = createHttpsServer({ key: tls.key, cert: tls.cert }, (_req, res) => res.end('ok'));
    let evicted = 0;
    limitPendingHandshakes(server, 5, () => evicted++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const port = (server.address() as { port: number }).port;
    const silent = [];
    for (let i = 0; i < 5; i++) silent.push(await client(t, port, '127.0.0.3'));
    // The sixth connection (a real client) pushes the oldest silent one out, and is served.
    const answer = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, ca: tls.caCert }, () => {
        s.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      });
      let text = '';
      s.on('data', (d) => (text += d));
      s.on('end', () => resolve(text));
      s.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 200 OK/);
    await silent[0].closed;
    assert.equal(evicted, 1);
    assert.equal(silent[1].sock.destroyed, false, 'only the oldest went');
  });

  it('shares slots: a cap per client address and one in all, each slot back when released', () => {
    const refused: string[] = [];
    const shares = new ConnectionShares({ max: 3, perSource: 2 }, (why) => refused.push(why));
    const a1 = shares.admit('127.0.0.11');
    const a2 = shares.admit('127.0.0.11');
    assert.ok(a1 && a2);
    assert.equal(shares.admit('127.0.0.11'), undefined);
    const b1 = shares.admit('127.0.0.12');
    assert.ok(b1);
    assert.equal(shares.admit('127.0.0.13'), undefined);
    assert.deepEqual(refused, ['per-source', 'capacity']);
    a1!();
    assert.ok(shares.admit('127.0.0.13'), 'a released slot is free again');
  });

  it('tells when a flood has drained: that many connections ended since the most there were', () => {
    let drained = 0;
    const shares = new ConnectionShares({ max: 100, perSource: 100, drainedAfter: 3 }, undefined, () => drained++);
    const releases = Array.from({ length: 5 }, () => shares.admit('127.0.0.11')!);
    releases[0]();
    releases[1]();
    assert.equal(drained, 0);
    releases[2]();
    assert.equal(drained, 1, 'three of the five ended');
    const more = [shares.admit('127.0.0.11')!, shares.admit('127.0.0.11')!];
    releases[3]();
    releases[4]();
    assert.equal(drained, 1, 'two ended since the new most of four');
    more[0]();
    assert.equal(drained, 2);
  });

  it('counts the descriptors it may hand out below the open file limit, keeping a reserve', () => {
    const limit = openFileLimit();
    assert.ok(limit === undefined || limit > 0);
    if (limit !== undefined) assert.equal(connectionBudget(256, 1), Math.max(1, limit - openDescriptors() - 256));
  });
});
