// The mesh tunnel on loopback with real workload certificates from a mesh CA: data flows both
// ways, each end sees the other's SPIFFE ID, many connections share one TLS session, and the
// handshake fails for a stranger's certificate, an expired one, or a server that is not the
// workload asked for.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { MeshCa } from '../control/mesh/ca.js';
import { createKeyAndCsr } from '../lib/pki.js';
import { serverNameOf, TunnelClient, TunnelServer, type TunnelIdentity } from './tunnel.js';

const CLIENT = 'spiffe://cluster.local/ns/shop/sa/web';
const SERVER = 'spiffe://cluster.local/ns/shop/sa/api';
const OTHER = 'spiffe://cluster.local/ns/shop/sa/db';

async function issue(ca: MeshCa, id: string, now?: Date): Promise<TunnelIdentity> {
  const { keyPem, csrPem } = await createKeyAndCsr({ commonName: 'w', uris: [id] });
  return { id, keyPem, certPem: (await ca.issue(csrPem, 'n', () => true, now)).certificate };
}

async function roundTrip(stream: Duplex, text: string): Promise<string> {
  stream.write(text);
  let got = '';
  for await (const chunk of stream) {
    got += chunk;
    if (got.length >= text.length) break;
  }
  return got;
}

describe('the mesh tunnel', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tug-tunnel-'));
  let ca: MeshCa;
  let echo: Server;
  let echoPort = 0;
  const certs = new Map<string, TunnelIdentity>();
  const seen: { peer: string; local: string; target: string }[] = [];
  let server: TunnelServer;
  let port = 0;
  let refuse = 0;
  let sessions = 0;
  const clients: TunnelClient[] = [];
  const client = (extra: Partial<ConstructorParameters<typeof TunnelClient>[0]> = {}) => {
    const c = new TunnelClient({ certificateFor: (id) => certs.get(id), bundle: () => ca.bundle(), ...extra });
    clients.push(c);
    return c;
  };

  before(async () => {
    ca = await MeshCa.open(join(dir, 'ca'), 'cluster.local', 3600_000);
    for (const id of [CLIENT, SERVER]) certs.set(id, await issue(ca, id));
    echo = createServer((s) => s.pipe(s));
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    echoPort = (echo.address() as { port: number }).port;
    server = new TunnelServer({
      certificateFor: (id) => (id === SERVER ? certs.get(SERVER) : undefined),
      identities: () => [SERVER],
      bundle: () => ca.bundle(),
      connect: async (target, peer, local) => {
        seen.push({ peer, local, target: `${target.host}:${target.port}` });
        if (refuse) return refuse;
        const s = connect(target.port, target.host);
        await once(s, 'connect');
        return s;
      },
    });
    port = await server.listen('127.0.0.1', 0);
    (server as unknown as { server: { on(e: string, f: () => void): void } }).server.on('secureConnection', () => sessions++);
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
    echo.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('carries a connection both ways; the server sees the client workload, the client checked the server', async () => {
    const c = client();
    const stream = await c.open({ host: '127.0.0.1', port }, CLIENT, SERVER, { host: '127.0.0.1', port: echoPort });
    assert.equal(await roundTrip(stream, 'marker-through-the-tunnel'), 'marker-through-the-tunnel');
    stream.destroy();
    assert.deepEqual(seen.at(-1), { peer: CLIENT, local: SERVER, target: `127.0.0.1:${echoPort}` });
  });

  it('multiplexes: 20 connections at once over one TLS session', async () => {
    const c = client();
    const before = sessions;
    const streams = await Promise.all(Array.from({ length: 20 }, () => c.open({ host: '127.0.0.1', port }, CLIENT, SERVER, { host: '127.0.0.1', port: echoPort })));
    const answers = await Promise.all(streams.map((s, i) => roundTrip(s, `stream-${i}`)));
    assert.deepEqual(answers, streams.map((_, i) => `stream-${i}`));
    assert.equal(sessions - before, 1, 'one handshake');
    assert.equal(c.sessionCount, 1);
    for (const s of streams) s.destroy();
  });

  it('2,000 connections opened and ended one after another on one session: none fails', async () => {
    // Each ends as a TCP client does (END_STREAM, no RST_STREAM): a peer that receives a burst of
    // resets takes it for the HTTP/2 rapid-reset attack and closes the session.
    const c = client();
    let ok = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 250; i++) {
          const stream = await c.open({ host: '127.0.0.1', port }, CLIENT, SERVER, { host: '127.0.0.1', port: echoPort });
          stream.write('x'.repeat(64));
          let got = 0;
          while (got < 64) got += ((await once(stream, 'data'))[0] as Buffer).length;
          stream.end();
          stream.resume();
          await once(stream, 'close');
          ok++;
        }
      }),
    );
    assert.equal(ok, 2000);
    assert.equal(c.sessionCount, 1);
  });

  it('refused by the server: the status comes back to the client', async () => {
    refuse = 403;
    try {
      await assert.rejects(client().open({ host: '127.0.0.1', port }, CLIENT, SERVER, { host: '127.0.0.1', port: echoPort }), /refused the connection to 127\.0\.0\.1:\d+: HTTP 403/);
    } finally {
      refuse = 0;
    }
  });

  it('a destination this node has no workload for fails the handshake', async () => {
    certs.set(OTHER, await issue(ca, OTHER));
    await assert.rejects(client().open({ host: '127.0.0.1', port }, CLIENT, OTHER, { host: '127.0.0.1', port: echoPort }));
  });

  it('a server that presents another workload than the one asked for is refused by the client', async () => {
    // A lying node: it answers the name of OTHER with the certificate of SERVER.
    const liar = new TunnelServer({ certificateFor: () => certs.get(SERVER), identities: () => [OTHER], bundle: () => ca.bundle(), connect: async () => 500 });
    const liarPort = await liar.listen('127.0.0.1', 0);
    try {
      await assert.rejects(client().open({ host: '127.0.0.1', port: liarPort }, CLIENT, OTHER, { host: '127.0.0.1', port: echoPort }), /is not spiffe:\/\/cluster\.local\/ns\/shop\/sa\/db \(its certificate names spiffe:\/\/cluster\.local\/ns\/shop\/sa\/api\)/);
    } finally {
      await liar.close();
    }
  });

  it("a client certificate of another CA, or one past its lifetime, is refused", async () => {
    const stranger = await MeshCa.open(join(dir, 'stranger'), 'cluster.local');
    const foreign = await issue(stranger, CLIENT);
    const count = seen.length;
    await assert.rejects(client({ certificateFor: (id) => (id === CLIENT ? foreign : certs.get(id)) }).open({ host: '127.0.0.1', port }, CLIENT, SERVER, { host: '127.0.0.1', port: echoPort }));
    const expired = await issue(ca, CLIENT, new Date(Date.now() - 2 * 3600_000));
    await assert.rejects(client({ certificateFor: (id) => (id === CLIENT ? expired : certs.get(id)) }).open({ host: '127.0.0.1', port }, CLIENT, SERVER, { host: '127.0.0.1', port: echoPort }));
    assert.equal(seen.length, count, 'neither reached the server');
  });

  it('names a workload for the server as <sa>.<ns>.sa.<trust domain>', () => {
    assert.equal(serverNameOf(SERVER), 'api.shop.sa.cluster.local');
    assert.throws(() => serverNameOf('spiffe://cluster.local/api'), /not a workload SPIFFE ID/);
  });
});
