import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { Registry } from 'prom-client';
import type { Endpoints, Service } from '../api/types.js';
import { AnswerCache } from './cache.js';
import { buildZone, TYPE, type Zone } from './records.js';
import { startDns, type DnsOptions } from './server.js';
import { ask, fakeUpstream, makeQuery, parse, tcpExchange, udpExchange, type FakeUpstream } from './testutil.js';
import { needs } from '../test/requirements.js';

const services: Service[] = [
  { metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '127.77.0.7', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } },
  { metadata: { name: 'db', namespace: 'default' }, spec: { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] } },
  { metadata: { name: 'many', namespace: 'default' }, spec: { clusterIP: 'None' } },
  { metadata: { name: 'ext', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'example.org' } },
];
const endpoints: Endpoints[] = [
  { metadata: { name: 'db', namespace: 'default' }, subsets: [
    { addresses: [{ ip: '127.0.0.1', hostname: 'db-0' }], ports: [{ name: 'pg', port: 30001 }] },
    { addresses: [{ ip: '127.0.0.1', hostname: 'db-1' }], ports: [{ name: 'pg', port: 30002 }] },
  ] },
  { metadata: { name: 'many', namespace: 'default' }, subsets: [
    { addresses: Array.from({ length: 200 }, (_, i) => ({ ip: `127.2.${i >> 8}.${i & 255}` })), ports: [{ port: 80 }] },
  ] },
];

async function setup(t: TestContext, extra: Partial<DnsOptions> = {}) {
  const up: FakeUpstream = await fakeUpstream();
  t.after(() => up.close());
  const registry = new Registry();
  let zone: Zone | undefined = buildZone(services, endpoints);
  const dns = await startDns({
    addr: '127.0.0.1:0', upstreams: [`127.0.0.1:${up.port}`], zone: () => zone, metrics: registry, log: () => undefined, ...extra,
  });
  t.after(() => dns.stop());
  return { up, dns, registry, setZone: (z: Zone | undefined) => { zone = z; } };
}

async function counter(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values ?? []).filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((a, v) => a + v.value, 0);
}

test('A for a ClusterIP service over UDP and TCP, keeping the question case', async (t) => {
  const { dns, registry } = await setup(t);
  for (const tcp of [false, true]) {
    const r = await ask(dns.port, 'Web.Default.SVC.cluster.local', TYPE.A, { tcp });
    assert.equal(r.header.rcode, 0);
    assert.equal(r.header.aa, 1);
    assert.deepEqual(r.answers.map((a) => [a.name, a.address, a.ttl]), [['Web.Default.SVC.cluster.local', '127.77.0.7', 5]]);
  }
  assert.equal(await counter(registry, 'tug_dns_queries_total', { qtype: 'A', rcode: 'NOERROR', zone: 'cluster' }), 2);
});

test('NXDOMAIN with SOA, NODATA for another type and for empty non-terminals', async (t) => {
  const { dns } = await setup(t);
  const nx = await ask(dns.port, 'nope.default.svc.cluster.local', TYPE.A);
  assert.equal(nx.header.rcode, 3);
  assert.equal(nx.answers.length, 0);
  assert.deepEqual(nx.authorities.map((a) => [a.type, a.name]), [[TYPE.SOA, 'cluster.local']]);
  for (const [name, type] of [['web.default.svc.cluster.local', TYPE.AAAA], ['default.svc.cluster.local', TYPE.A]] as const) {
    const nd = await ask(dns.port, name, type);
    assert.equal(nd.header.rcode, 0, name);
    assert.equal(nd.answers.length, 0);
    assert.equal(nd.authorities[0]?.type, TYPE.SOA);
  }
});

test('SRV with additional A, headless per-endpoint ports, PTR, TXT, SOA and NS at the apex', async (t) => {
  const { dns } = await setup(t);
  const srv = await ask(dns.port, '_http._tcp.web.default.svc.cluster.local', TYPE.SRV);
  assert.deepEqual(srv.answers.map((a) => [a.priority, a.weight, a.port, a.target]), [[0, 100, 80, 'web.default.svc.cluster.local']]);
  assert.deepEqual(srv.additionals.filter((a) => a.type === TYPE.A).map((a) => a.address), ['127.77.0.7']);
  const hs = await ask(dns.port, '_pg._tcp.db.default.svc.cluster.local', TYPE.SRV);
  assert.deepEqual(hs.answers.map((a) => `${a.port} ${a.target}`).sort(), ['30001 db-0.db.default.svc.cluster.local', '30002 db-1.db.default.svc.cluster.local']);
  assert.equal(hs.additionals.filter((a) => a.type === TYPE.A).length, 2);
  const a = await ask(dns.port, 'db.default.svc.cluster.local', TYPE.A);
  assert.deepEqual(a.answers.map((x) => x.address), ['127.0.0.1'], 'one A per distinct address');
  const ptr = await ask(dns.port, '7.0.77.127.in-addr.arpa', TYPE.PTR);
  assert.deepEqual(ptr.answers.map((x) => x.domain), ['web.default.svc.cluster.local']);
  const txt = await ask(dns.port, 'dns-version.cluster.local', TYPE.TXT);
  assert.deepEqual(txt.answers.map((x) => x.data), [['1.1.0']]);
  assert.equal((await ask(dns.port, 'cluster.local', TYPE.SOA)).answers[0]?.type, TYPE.SOA);
  assert.equal((await ask(dns.port, 'cluster.local', TYPE.NS)).answers[0]?.ns, 'ns.dns.cluster.local');
});

test('SERVFAIL for the cluster domain until the first sync; stale answers are counted', async (t) => {
  let stale = false;
  const { dns, setZone, registry } = await setup(t, { isStale: () => stale });
  setZone(undefined);
  assert.equal((await ask(dns.port, 'web.default.svc.cluster.local', TYPE.A)).header.rcode, 2);
  assert.equal((await ask(dns.port, 'nope.default.svc.cluster.local', TYPE.A)).header.rcode, 2, 'never a wrong NXDOMAIN');
  setZone(buildZone(services, endpoints));
  stale = true;
  assert.equal((await ask(dns.port, 'web.default.svc.cluster.local', TYPE.A)).answers.length, 1);
  assert.equal(await counter(registry, 'tug_dns_stale_answers_total'), 1);
});

test('EDNS0: OPT echoed; big answers truncate over UDP and come whole over TCP', async (t) => {
  const { dns } = await setup(t);
  const plain = await ask(dns.port, 'many.default.svc.cluster.local', TYPE.A);
  assert.equal(plain.header.tc, 1);
  assert.equal(plain.answers.length, 0);
  const edns = await ask(dns.port, 'many.default.svc.cluster.local', TYPE.A, { edns: 4096 });
  assert.equal(edns.header.tc, 1, '200 A records exceed the 1232 cap');
  const opt = edns.additionals.find((x) => x.type === 41);
  assert.equal(opt?.class, 1232);
  const raw = await udpExchange(dns.port, makeQuery('web.default.svc.cluster.local', TYPE.A, { edns: 4096 }));
  assert.ok(parse(raw).additionals.some((x) => x.type === 41));
  const full = await ask(dns.port, 'many.default.svc.cluster.local', TYPE.A, { tcp: true });
  assert.equal(full.header.tc, 0);
  assert.equal(full.answers.length, 200);
});

test('TCP: several queries on one connection', async (t) => {
  const { dns } = await setup(t);
  const out = await tcpExchange(dns.port, [
    makeQuery('web.default.svc.cluster.local', TYPE.A, { id: 1 }),
    makeQuery('nope.default.svc.cluster.local', TYPE.A, { id: 2 }),
    makeQuery('dns-version.cluster.local', TYPE.TXT, { id: 3 }),
  ]);
  assert.deepEqual(out.map((b) => parse(b)).map((p) => [p.header.id, p.header.rcode]).sort(), [[1, 0], [2, 3], [3, 0]]);
});

test('forwarding: answered through the upstream, then from the cache; coalesced; negative cache', async (t) => {
  const { dns, up, registry } = await setup(t);
  const first = await ask(dns.port, 'Example.ORG', TYPE.A);
  assert.deepEqual(first.answers.map((a) => [a.name, a.address]), [['Example.ORG', '192.0.2.1']]);
  assert.equal(first.header.aa, 0);
  const second = await ask(dns.port, 'example.org', TYPE.A);
  assert.deepEqual(second.answers.map((a) => a.address), ['192.0.2.1']);
  assert.deepEqual(up.seen.filter((s) => s === 'example.org/1'), ['example.org/1'], 'upstream asked once');
  assert.equal(await counter(registry, 'tug_dns_cache_hits_total'), 1);
  await Promise.all(Array.from({ length: 10 }, () => ask(dns.port, 'same.example', TYPE.A)));
  assert.equal(up.seen.filter((s) => s === 'same.example/1').length, 1, 'coalesced');
  assert.equal((await ask(dns.port, 'nx.example', TYPE.A)).header.rcode, 3);
  const nx2 = await ask(dns.port, 'nx.example', TYPE.A);
  assert.equal(nx2.header.rcode, 3);
  assert.equal(nx2.authorities[0]?.type, TYPE.SOA);
  assert.equal(up.seen.filter((s) => s === 'nx.example/1').length, 1, 'negative answer cached');
  assert.equal(await counter(registry, 'tug_dns_queries_total', { zone: 'forward', rcode: 'NXDOMAIN' }), 2);
});

test('forwarding: TC from the upstream retries over TCP', async (t) => {
  const { dns, up } = await setup(t);
  const r = await ask(dns.port, 'big.example', TYPE.A, { tcp: true });
  assert.equal(r.answers.length, 100);
  assert.equal(up.seen.filter((s) => s === 'big.example/1').length, 2, 'once over UDP, once over TCP');
});

test('forwarding: SERVFAIL when every upstream fails; failures counted', async (t) => {
  const { dns, up, registry } = await setup(t, { upstreamTimeoutMs: 50 });
  assert.equal((await ask(dns.port, 'fail.example', TYPE.A)).header.rcode, 2);
  up.silent = true;
  assert.equal((await ask(dns.port, 'dead.example', TYPE.A)).header.rcode, 2);
  assert.equal(await counter(registry, 'tug_dns_upstream_failures_total'), 2);
  up.silent = false;
  assert.equal((await ask(dns.port, 'dead.example', TYPE.A)).header.rcode, 0, 'failures are not cached');
});

test('cache expiry follows TTLs with an injected clock', async (t) => {
  let now = 1_000_000;
  const cache = new AnswerCache({ now: () => now });
  const { dns, up } = await setup(t, { cache });
  await ask(dns.port, 'ttl.example', TYPE.A);
  now += 30_000;
  const aged = await ask(dns.port, 'ttl.example', TYPE.A);
  assert.equal(aged.answers[0]?.ttl, 30, 'TTL lowered by the age');
  now += 31_000;
  await ask(dns.port, 'ttl.example', TYPE.A);
  assert.equal(up.seen.filter((s) => s === 'ttl.example/1').length, 2, 'expired after 60 s');
  await ask(dns.port, 'nx.example', TYPE.A);
  now += 29_000;
  await ask(dns.port, 'nx.example', TYPE.A);
  now += 2_000;
  await ask(dns.port, 'nx.example', TYPE.A);
  assert.equal(up.seen.filter((s) => s === 'nx.example/1').length, 2, 'negative TTL = SOA minimum (30 s)');
});

test('malformed packets: FORMERR when the header is readable, dropped otherwise; server keeps answering', async (t) => {
  const { dns } = await setup(t);
  const q = makeQuery('web.default.svc.cluster.local', TYPE.A, { id: 77 });
  const bad = Buffer.from(q);
  bad.writeUInt16BE(3, 4); // qdcount 3
  const r = parse(await udpExchange(dns.port, bad));
  assert.equal(r.header.rcode, 1);
  assert.equal(r.header.id, 77);
  const loop = Buffer.concat([q.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]); // pointer to itself
  assert.equal(parse(await udpExchange(dns.port, loop)).header.rcode, 1);
  const [tcpShort] = await tcpExchange(dns.port, [Buffer.from([1, 2, 3]), q], 1);
  assert.equal(parse(tcpShort).header.id, 77, 'a short TCP frame is dropped, the next one answered');
  assert.equal((await ask(dns.port, 'web.default.svc.cluster.local', TYPE.A)).answers.length, 1);
});

test('ExternalName: CNAME, chased through the upstream for A', async (t) => {
  const { dns } = await setup(t);
  const r = await ask(dns.port, 'ext.default.svc.cluster.local', TYPE.A);
  assert.equal(r.header.rcode, 0);
  assert.deepEqual(r.answers.map((a) => [a.type, a.domain ?? a.address]), [[TYPE.CNAME, 'example.org'], [TYPE.A, '192.0.2.1']]);
});

test('TCP: an idle connection is closed', async (t) => {
  const { dns } = await setup(t, { tcpIdleMs: 20 });
  const s = connect({ host: '127.0.0.1', port: dns.port });
  s.on('error', () => undefined);
  t.after(() => s.destroy());
  await new Promise<void>((res) => s.on('close', () => res()));
});

test('stop() leaves no sockets or timers behind, with a forward and a TCP connection in flight', async () => {
  const kinds = ['UDPWRAP', 'TCPWRAP', 'TCPSERVERWRAP', 'TCPSocketWrap', 'TCPServerWrap', 'Timeout'];
  const count = () => process.getActiveResourcesInfo().filter((k) => kinds.includes(k)).length;
  const before = count();
  const up = await fakeUpstream();
  up.silent = true;
  const dns = await startDns({ addr: '127.0.0.1:0', upstreams: [`127.0.0.1:${up.port}`], zone: () => undefined, log: () => undefined, upstreamTimeoutMs: 600_000 });
  const client = createSocket('udp4');
  client.on('error', () => undefined);
  const tcp = connect({ host: '127.0.0.1', port: dns.port });
  tcp.on('error', () => undefined);
  try {
    await new Promise<void>((res) => tcp.on('connect', () => res()));
    await new Promise<void>((res) => client.send(makeQuery('slow.example', TYPE.A), dns.port, '127.0.0.1', () => res()));
    await new Promise<void>((res) => { const tick = () => (up.received ? res() : setTimeout(tick, 5)); tick(); });
  } finally {
    await dns.stop();
    await up.close();
    await new Promise<void>((res) => client.close(() => res()));
    await new Promise<void>((res) => { tcp.on('close', () => res()); tcp.destroy(); });
  }
  await new Promise((res) => setImmediate(res));
  assert.ok(count() <= before, `left behind: ${process.getActiveResourcesInfo().join(", ")}`);
});

test('the encoded fast path and the dns2 path (fastPath: false) answer alike, over UDP and TCP', async (t) => {
  const fast = await setup(t);
  const slow = await setup(t, { fastPath: false });
  const questions: [string, number, number | undefined][] = [
    ['Web.Default.svc.cluster.local', TYPE.A, undefined], ['nope.default.svc.cluster.local', TYPE.A, 1232],
    ['_pg._tcp.db.default.svc.cluster.local', TYPE.SRV, 4096], ['many.default.svc.cluster.local', TYPE.A, 4096],
    ['7.0.77.127.in-addr.arpa', TYPE.PTR, undefined], ['default.svc.cluster.local', TYPE.TXT, 1232],
  ];
  const lower = (p: unknown) => JSON.parse(JSON.stringify(p, (k, v: unknown) => (typeof v === 'string' && ['name', 'target'].includes(k) ? v.toLowerCase() : v)));
  for (const [name, type, edns] of questions) {
    for (const tcp of [false, true]) {
      const [a, b] = await Promise.all([ask(fast.dns.port, name, type, { tcp, edns }), ask(slow.dns.port, name, type, { tcp, edns })]);
      assert.deepEqual(lower(a), lower(b), `${name}/${type} tcp=${tcp}`);
    }
  }
  assert.equal(
    await counter(fast.registry, 'tug_dns_queries_total', { zone: 'cluster' }),
    await counter(slow.registry, 'tug_dns_queries_total', { zone: 'cluster' }),
    'both count their answers',
  );
});

test('batched UDP and dgram give the same bytes: zone answers, truncation, forwarded names, FORMERR', await needs('native'), async (t) => {
  const batched = await setup(t);
  const plain = await setup(t, { udpBatch: false });
  assert.equal(plain.dns.udpBatched, false);
  assert.equal(batched.dns.udpBatched, true, 'the batched UDP socket is in use');
  const formerr = makeQuery('web.default.svc.cluster.local', TYPE.A, { id: 9 });
  formerr.writeUInt16BE(2, 4); // qdcount 2
  const queries = [
    makeQuery('WEB.default.svc.cluster.local', TYPE.A, { id: 1 }),
    makeQuery('nope.default.svc.cluster.local', TYPE.A, { id: 2, edns: 1232 }),
    makeQuery('many.default.svc.cluster.local', TYPE.A, { id: 3 }), // truncated at 512 bytes
    makeQuery('many.default.svc.cluster.local', TYPE.A, { id: 4, edns: 4096 }),
    makeQuery('_pg._tcp.db.default.svc.cluster.local', TYPE.SRV, { id: 5 }),
    makeQuery('ext.default.svc.cluster.local', TYPE.A, { id: 6 }), // chased through the upstream
    makeQuery('outside.example', TYPE.A, { id: 7 }), // forwarded
    formerr,
  ];
  for (const q of queries) {
    const [a, b] = await Promise.all([udpExchange(batched.dns.port, q), udpExchange(plain.dns.port, q)]);
    assert.deepEqual(a, b, `query ${q.readUInt16BE(0)}`);
  }
  assert.equal(parse(await udpExchange(batched.dns.port, queries[2])).header.tc, 1);
  assert.equal(parse(await udpExchange(batched.dns.port, formerr)).header.rcode, 1);
  assert.deepEqual(batched.up.seen.filter((s) => s.startsWith('outside.example')), ['outside.example/1'], 'forwarded once, through the later answer');
});

/** A TCP connection from `localAddress`, resolved once connected; `closed` settles when the server ends it. */
async function tcpClient(t: TestContext, port: number, localAddress = '127.0.0.1') {
  const sock = connect({ host: '127.0.0.1', port, localAddress });
  t.after(() => sock.destroy());
  sock.on('error', () => undefined);
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  await new Promise<void>((r, rej) => {
    sock.once('connect', r);
    sock.once('error', rej);
  });
  return { sock, closed };
}

test('DNS over TCP: a message that trickles in past its deadline is cut off, whatever the pace', async (t) => {
  const { dns } = await setup(t, { tcpMessageMs: 300, tcpIdleMs: 10_000 });
  const slow = await tcpClient(t, dns.port);
  const q = makeQuery('web.default.svc.cluster.local', TYPE.A, { id: 5 });
  const framed = Buffer.concat([Buffer.from([0, q.length]), q]);
  let answered = false;
  slow.sock.on('data', () => (answered = true));
  // One byte every 50 ms: never idle, but the whole message would take far longer than 300 ms.
  let sent = 0;
  const drip = setInterval(() => {
    if (sent < framed.length && !slow.sock.destroyed) slow.sock.write(framed.subarray(sent, ++sent));
  }, 50);
  t.after(() => clearInterval(drip));
  await slow.closed;
  clearInterval(drip);
  assert.ok(sent < framed.length, `closed after ${sent} of ${framed.length} bytes`);
  assert.equal(answered, false);
  const r = await ask(dns.port, 'web.default.svc.cluster.local', TYPE.A, { tcp: true });
  assert.equal(r.answers[0].address, '127.77.0.7', 'others are still answered');
});

test('DNS over TCP: one client address holds at most its share of connections; others still get in', async (t) => {
  const { dns, registry } = await setup(t, { tcpPerSource: 3 });
  const held = [];
  for (let i = 0; i < 3; i++) held.push(await tcpClient(t, dns.port));
  const fourth = await tcpClient(t, dns.port);
  await fourth.closed;
  assert.equal(await counter(registry, 'tug_dns_tcp_refused_total'), 1);
  const other = await tcpClient(t, dns.port, '127.0.0.2');
  const q = makeQuery('web.default.svc.cluster.local', TYPE.A, { id: 6 });
  const answer = new Promise<Buffer>((r) => other.sock.once('data', r));
  other.sock.write(Buffer.concat([Buffer.from([0, q.length]), q]));
  assert.equal(parse((await answer).subarray(2)).header.id, 6, 'another address is answered');
  held[0].sock.destroy();
  await held[0].closed;
  // The server frees the share when it sees the close: ask until it has.
  let id = 0;
  for (let attempt = 0; attempt < 100 && id !== 7; attempt++) {
    const again = await tcpClient(t, dns.port);
    const q2 = makeQuery('web.default.svc.cluster.local', TYPE.A, { id: 7 });
    const reply = new Promise<Buffer | undefined>((r) => {
      again.sock.once('data', r);
      void again.closed.then(() => r(undefined));
    });
    again.sock.write(Buffer.concat([Buffer.from([0, q2.length]), q2]));
    const got = await reply;
    id = got ? parse(got.subarray(2)).header.id : 0;
    again.sock.destroy();
  }
  assert.equal(id, 7, 'a freed share is usable again');
});
