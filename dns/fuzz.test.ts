// Garbage at the server: random and mutated packets must neither crash nor stall it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { decodeQuery, decodeResponse } from './codec.js';
import { buildZone, TYPE } from './records.js';
import { startDns } from './server.js';
import { ask, fakeUpstream, makeQuery } from './testutil.js';

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
  const valid = [
    makeQuery('web.default.svc.cluster.local', TYPE.A),
    makeQuery('_http._tcp.web.default.svc.cluster.local', TYPE.SRV, { edns: 1232 }),
    makeQuery('example.org', TYPE.AAAA, { edns: 4096 }),
  ];
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const base = valid[int(valid.length)];
    let b: Buffer;
    switch (i % 7) {
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

test('the decoders never throw on 20,000 garbage packets', () => {
  for (const p of packets(20_000, 1)) {
    decodeQuery(p);
    decodeResponse(p);
  }
});

test('20,000 garbage packets at the server: no crash, it still answers correctly', async (t) => {
  const up = await fakeUpstream();
  t.after(() => up.close());
  const zone = buildZone([{ metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '127.77.0.7', ports: [{ name: 'http', port: 80 }] } }], []);
  const dns = await startDns({ addr: '127.0.0.1:0', upstreams: [`127.0.0.1:${up.port}`], zone: () => zone, log: (m) => { if (process.env.DNS_DEBUG) console.error(m); }, upstreamTimeoutMs: 200 });
  t.after(() => dns.stop());
  const sock = createSocket('udp4');
  sock.on('error', () => undefined);
  sock.on('message', () => undefined); // replies are read and dropped
  t.after(() => new Promise<void>((res) => sock.close(() => res())));
  const all = packets(20_000, 2);
  for (let i = 0; i < all.length; i += 200) {
    // batches, each awaited, so the kernel buffers are not the thing being tested
    await Promise.all(all.slice(i, i + 200).map((p) => new Promise<void>((res) => sock.send(p, dns.port, '127.0.0.1', () => res()))));
    await new Promise((res) => setImmediate(res));
  }
  const r = await ask(dns.port, 'web.default.svc.cluster.local', TYPE.A);
  assert.equal(r.header.rcode, 0);
  assert.deepEqual(r.answers.map((a) => a.address), ['127.77.0.7']);
  const tcp = await ask(dns.port, 'web.default.svc.cluster.local', TYPE.A, { tcp: true });
  assert.deepEqual(tcp.answers.map((a) => a.address), ['127.77.0.7']);
});
