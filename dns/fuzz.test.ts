// Garbage at the server: 100,000 random and mutated packets must neither crash nor stall it, and
// every one that deserves an answer gets a well-formed one. The same packets go through the
// decoders and the fast path in process, where whatever the fast parser accepts must read the
// same through dns2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { Packet } from 'dns2';
import { replyTo } from './answer.js';
import { decodeQuery, decodeResponse, encodeResponse } from './codec.js';
import { EncodedAnswers } from './fastpath.js';
import { buildZone, TYPE } from './records.js';
import { startDns } from './server.js';
import { ask, encodedAnswer, fakeUpstream, makeQuery } from './testutil.js';
import { newPlainQuestion, parsePlainQuestion, questionName } from './wire.js';

const COUNT = 100_000;

/** A small seeded PRNG (mulberry32) so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function packets(count: number, seed: number): Buffer[] {
  const r = rng(seed);
  const int = (n: number) => Math.floor(r() * n);
  const cookie = (q: Buffer): Buffer => {
    const b = Buffer.concat([q, Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8])]);
    b.writeUInt16BE(1, 10);
    return b;
  };
  const valid = [
    makeQuery('web.default.svc.cluster.local', TYPE.A),
    makeQuery('_http._tcp.web.default.svc.cluster.local', TYPE.SRV, { edns: 1232 }),
    makeQuery('example.org', TYPE.AAAA, { edns: 4096 }),
    cookie(makeQuery('nope.default.svc.cluster.local', TYPE.A)),
  ];
  const names = ['web.default.svc.cluster.local', 'default.svc.cluster.local', 'cluster.local', '7.0.77.127.in-addr.arpa', 'dns-version.cluster.local'];
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const base = valid[int(valid.length)];
    let b: Buffer;
    switch (i % 8) {
      case 7: { // well-formed questions the fast path takes: any spelling, ID, flags, type, OPT size
        const name = r() < 0.7 ? names[int(names.length)] : `x${int(5000)}.default.svc.cluster.local`;
        const spelled = [...name].map((c) => (r() < 0.5 ? c.toUpperCase() : c)).join('');
        const type = [TYPE.A, TYPE.AAAA, TYPE.SRV, TYPE.PTR, TYPE.TXT, TYPE.SOA, TYPE.NS, TYPE.ANY, int(0x10000)][int(9)];
        const q = makeQuery(spelled, type, { id: int(0x10000), edns: r() < 0.5 ? int(0x10000) || 1 : undefined });
        q[2] = (q[2] & 0x80) | (int(256) & 0x07); // AA/TC/RD noise, QR and opcode kept
        q[3] = int(256); // RA/Z/AD/CD/RCODE noise
        b = r() < 0.2 ? cookie(q) : q;
        break;
      }
      case 0: { // random bytes
        b = Buffer.alloc(int(600));
        for (let j = 0; j < b.length; j++) b[j] = int(256);
        break;
      }
      case 1: { // bit and byte flips of a valid query
        b = Buffer.from(base);
        for (let k = 1 + int(6); k > 0; k--) b[int(b.length)] ^= 1 << int(8);
        break;
      }
      case 2: // truncated (including inside the header)
        b = base.subarray(0, int(base.length));
        break;
      case 3: { // compression loops and chains
        const h = Buffer.from(base.subarray(0, 12));
        h.writeUInt16BE(1, 4);
        const ptrs = Buffer.alloc(2 * (1 + int(40)));
        for (let j = 0; j < ptrs.length; j += 2) ptrs.writeUInt16BE(0xc000 | (12 + int(ptrs.length + 4)), j);
        b = Buffer.concat([h, ptrs, Buffer.from([0, 1, 0, 1])]);
        break;
      }
      case 4: { // huge counts
        b = Buffer.from(base);
        for (const off of [4, 6, 8, 10]) if (r() < 0.6) b.writeUInt16BE(int(0x10000), off);
        break;
      }
      case 5: { // bad labels: reserved length bits, overlong labels, dots inside labels
        const h = Buffer.from(base.subarray(0, 12));
        const labels: number[] = [];
        for (let k = int(6); k >= 0; k--) {
          const len = [0x40 + int(0x80), 63 + int(10), 1 + int(20)][int(3)];
          labels.push(len);
          for (let j = 0; j < Math.min(len, 80); j++) labels.push(r() < 0.2 ? 0x2e : 97 + int(26));
        }
        b = Buffer.concat([h, Buffer.from(labels), Buffer.from([0, 0, 1, 0, 1])]);
        break;
      }
      default: { // a valid header with a garbage OPT / additional section
        b = Buffer.concat([base, Buffer.from([0, 0, 41, int(256), int(256), int(256), int(256), int(256), int(256), int(256), int(256)])]);
        b.writeUInt16BE(1 + int(2), 10);
      }
    }
    out.push(b);
  }
  return out;
}

test(`the decoders and the fast path never throw on ${COUNT.toLocaleString('en')} garbage packets; the fast parser agrees with dns2`, () => {
  const zone = buildZone([{ metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '127.77.0.7', ports: [{ name: 'http', port: 80 }] } }], []);
  const fast = new EncodedAnswers({ domain: 'cluster.local', udpPayload: 1232 });
  const q = newPlainQuestion();
  let accepted = 0;
  let answered = 0;
  for (const p of packets(COUNT, 1)) {
    const d = decodeQuery(p);
    decodeResponse(p);
    if (parsePlainQuestion(p, q)) {
      accepted++;
      assert.equal(d.kind, 'query', 'the fast parser accepts only what dns2 reads as a query');
      if (d.kind === 'query') {
        assert.equal(questionName(p, q.nameEnd), d.query.name.toLowerCase());
        assert.deepEqual([q.qtype, q.qclass, q.edns ? q.udpPayloadSize : undefined], [d.query.type, d.query.class, d.query.edns?.udpPayloadSize]);
      }
    }
    for (const udp of [true, false]) {
      const out = encodedAnswer(fast, p, udp, zone);
      if (!out) continue;
      answered++;
      assert.equal(out.readUInt16BE(0), p.readUInt16BE(0), 'the asker\'s ID');
      assert.equal(Packet.parse(out).errors.length, 0, 'a well-formed answer');
      if (udp) assert.ok(out.length <= 1232);
    }
  }
  assert.ok(accepted > COUNT / 10 && answered > COUNT / 10, `the fast path saw real traffic (${accepted} parsed, ${answered} answered)`);
});

test(`${COUNT.toLocaleString('en')} garbage packets at the server: no crash, every answerable one answered well-formed, then correct answers`, async (t) => {
  const up = await fakeUpstream();
  t.after(() => up.close());
  const zone = buildZone([{ metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '127.77.0.7', ports: [{ name: 'http', port: 80 }] } }], []);
  const dns = await startDns({ addr: '127.0.0.1:0', upstreams: [`127.0.0.1:${up.port}`], zone: () => zone, log: (m) => { if (process.env.DNS_DEBUG) console.error(m); }, upstreamTimeoutMs: 200 });
  t.after(() => dns.stop());
  const all = packets(COUNT, 2);
  // What deserves an answer: anything with a readable header, unless even a SERVFAIL for its
  // question cannot be encoded (a name dns2 reads but cannot write); those are dropped and logged.
  const answerable = all.filter((p) => {
    const d = decodeQuery(p);
    if (d.kind !== 'query') return d.kind === 'error';
    try {
      encodeResponse(replyTo(d.query, 2, false, 1232));
      return true;
    } catch {
      return false;
    }
  }).length;
  let replies = 0;
  const malformed: Buffer[] = [];
  let burst = 0;
  let sentinelSeen: (() => void) | undefined;
  const sentinel = (n: number): string => `s${n}.sentinel.cluster.local`;
  const sock = createSocket('udp4');
  sock.on('error', () => undefined);
  sock.on('message', (m) => {
    const a = decodeResponse(m);
    if (a?.question?.name === sentinel(burst)) return sentinelSeen?.();
    if (a?.question?.name.endsWith('.sentinel.cluster.local')) return; // a resent one, answered twice
    replies++;
    if (!a) malformed.push(m);
  });
  t.after(() => new Promise<void>((res) => sock.close(() => res())));
  for (let i = 0; i < all.length; i += 64, burst++) {
    // Bursts of 64 (well within a default socket buffer), each followed by a sentinel question:
    // the server reads its socket in order, so the sentinel's answer means the burst was read.
    for (const p of all.slice(i, i + 64)) sock.send(p, dns.port, '127.0.0.1');
    await new Promise<void>((res) => {
      const q = makeQuery(sentinel(burst), TYPE.A);
      let timer: NodeJS.Timeout | undefined;
      const send = (): void => {
        sock.send(q, dns.port, '127.0.0.1');
        timer = setTimeout(send, 250);
      };
      sentinelSeen = () => { clearTimeout(timer); sentinelSeen = undefined; res(); };
      send();
    });
  }
  // Forwarded garbage waits for the upstream; stop waiting once replies stop coming.
  for (let last = -1; replies < answerable && replies !== last;) {
    last = replies;
    await new Promise((res) => setTimeout(res, 1000));
  }
  assert.deepEqual(malformed, [], 'every answer parses');
  assert.equal(replies, answerable, 'every answerable packet answered');
  const r = await ask(dns.port, 'WEB.default.svc.cluster.local', TYPE.A);
  assert.equal(r.header.rcode, 0);
  assert.deepEqual(r.answers.map((a) => [a.name, a.address]), [['WEB.default.svc.cluster.local', '127.77.0.7']]);
  const tcp = await ask(dns.port, 'web.default.svc.cluster.local', TYPE.A, { tcp: true });
  assert.deepEqual(tcp.answers.map((a) => a.address), ['127.77.0.7']);
  assert.equal((await ask(dns.port, 'example.org', TYPE.A)).answers[0]?.address, '192.0.2.1', 'forwarding still works');
});
