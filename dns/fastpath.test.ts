import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoints, Service } from '../api/types.js';
import { zoneAnswer } from './answer.js';
import { decodeQuery, encodeResponse } from './codec.js';
import { EncodedAnswers } from './fastpath.js';
import { buildZone, TYPE } from './records.js';
import { encodedAnswer, makeQuery, parse } from './testutil.js';
import { questionHash } from './wire.js';

const services: Service[] = [
  { metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '127.77.0.7', ports: [{ name: 'http', port: 80 }] } },
  { metadata: { name: 'many', namespace: 'default' }, spec: { clusterIP: 'None' } },
  { metadata: { name: 'ext', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'example.org' } },
];
const endpoints: Endpoints[] = [
  { metadata: { name: 'many', namespace: 'default' }, subsets: [{ addresses: Array.from({ length: 200 }, (_, i) => ({ ip: `127.2.${i >> 8}.${i & 255}` })) }] },
];
const zone = buildZone(services, endpoints);
const fresh = () => new EncodedAnswers({ domain: 'cluster.local', udpPayload: 1232 });

test('the second asker gets its own ID, RD/CD bits and spelling from the cached bytes', () => {
  const fast = fresh();
  const first = encodedAnswer(fast, makeQuery('web.default.svc.cluster.local', TYPE.A, { id: 1 }), true, zone)!;
  assert.equal(fast.size, 1);
  const q = makeQuery('WEB.Default.svc.CLUSTER.local', TYPE.A, { id: 0xbeef });
  q[2] &= ~0x01; // RD off
  q[3] |= 0x10; // CD on
  const second = parse(encodedAnswer(fast, q, true, zone)!);
  assert.equal(fast.size, 1, 'one entry for both spellings');
  assert.equal(second.header.id, 0xbeef);
  assert.equal((second.header as unknown as { rd: number }).rd, 0);
  assert.equal((second.header as unknown as { cd: number }).cd, 1);
  assert.equal(second.header.aa, 1);
  assert.deepEqual(second.questions.map((x) => x.name), ['WEB.Default.svc.CLUSTER.local']);
  assert.deepEqual(second.answers.map((a) => [a.name, a.address, a.ttl]), [['WEB.Default.svc.CLUSTER.local', '127.77.0.7', 5]]);
  const again = parse(first);
  assert.equal(again.header.id, 1, 'a cached answer is copied, not patched in place');
  assert.equal(again.questions[0].name, 'web.default.svc.cluster.local');
});

test('answers match the dns2 path for names, types, NXDOMAIN and NODATA', () => {
  const fast = fresh();
  const questions: [string, number][] = [
    ['web.default.svc.cluster.local', TYPE.A], ['Web.default.svc.cluster.local', TYPE.AAAA], ['nope.default.svc.cluster.local', TYPE.A],
    ['default.svc.cluster.local', TYPE.A], ['_http._tcp.web.default.svc.cluster.local', TYPE.SRV], ['7.0.77.127.in-addr.arpa', TYPE.PTR],
    ['dns-version.cluster.local', TYPE.TXT], ['cluster.local', TYPE.SOA], ['ext.default.svc.cluster.local', TYPE.CNAME],
    ['ext.default.svc.cluster.local', TYPE.TXT],
  ];
  for (const [name, type] of questions) {
    for (const edns of [undefined, 4096]) {
      const msg = makeQuery(name, type, { edns, id: 7 });
      const d = decodeQuery(msg);
      assert.equal(d.kind, 'query');
      if (d.kind !== 'query') continue;
      const expected = parse(encodeResponse(zoneAnswer(d.query, name.toLowerCase(), zone, 'cluster.local', 1232).response, edns ? 1232 : 512));
      const got = parse(encodedAnswer(fast, msg, true, zone)!);
      const lower = (p: ReturnType<typeof parse>) => JSON.parse(JSON.stringify(p, (k, v: unknown) => (typeof v === 'string' && ['name', 'target'].includes(k) ? v.toLowerCase() : v)));
      assert.deepEqual(lower(got), lower(expected), `${name}/${type} edns=${edns}`);
    }
  }
});

test('EDNS: our OPT only when asked, a table per kind; big answers truncate by the asked size, whole over TCP', () => {
  const fast = fresh();
  const plain = parse(encodedAnswer(fast, makeQuery('web.default.svc.cluster.local', TYPE.A), true, zone)!);
  assert.equal(plain.additionals.length, 0);
  const edns = parse(encodedAnswer(fast, makeQuery('web.default.svc.cluster.local', TYPE.A, { edns: 4096 }), true, zone)!);
  assert.deepEqual(edns.additionals.map((x) => [x.type, x.class]), [[TYPE.OPT, 1232]]);
  assert.equal(fast.size, 2);
  const many = 'many.default.svc.cluster.local';
  const small = parse(encodedAnswer(fast, makeQuery(many, TYPE.A), true, zone)!);
  assert.deepEqual([small.header.tc, small.answers.length], [1, 0]);
  const capped = parse(encodedAnswer(fast, makeQuery(many, TYPE.A, { edns: 65000 }), true, zone)!);
  assert.deepEqual([capped.header.tc, capped.answers.length], [1, 0], '200 A records exceed our 1232 cap');
  assert.ok(capped.additionals.some((x) => x.type === TYPE.OPT));
  const tcp = parse(encodedAnswer(fast, makeQuery(many, TYPE.A, { edns: 512 }), false, zone)!);
  assert.deepEqual([tcp.header.tc, tcp.answers.length], [0, 200]);
  const roomy = new EncodedAnswers({ domain: 'cluster.local', udpPayload: 4096 });
  const fits = parse(encodedAnswer(roomy, makeQuery(many, TYPE.A, { edns: 4096 }), true, zone)!);
  assert.deepEqual([fits.header.tc, fits.answers.length], [0, 200], '3.2 kB fit a 4096 payload');
});

test('a new zone object drops every encoded answer', () => {
  const fast = fresh();
  const q = makeQuery('web.default.svc.cluster.local', TYPE.A);
  assert.equal(parse(encodedAnswer(fast, q, true, zone)!).answers[0]?.address, '127.77.0.7');
  encodedAnswer(fast, makeQuery('nope.default.svc.cluster.local', TYPE.A), true, zone);
  assert.equal(fast.size, 2);
  const moved = buildZone([{ metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '127.77.0.8' } }], [], { serial: 2 });
  assert.equal(parse(encodedAnswer(fast, q, true, moved)!).answers[0]?.address, '127.77.0.8');
  assert.equal(fast.size, 1);
  const gone = buildZone([], [], { serial: 3 });
  assert.equal(parse(encodedAnswer(fast, q, true, gone)!).header.rcode, 3);
});

test('left to the dns2 path: malformed, forwarded, chased ExternalName, other classes, zone transfers', () => {
  const fast = fresh();
  const q = makeQuery('web.default.svc.cluster.local', TYPE.A);
  const twoQuestions = Buffer.from(q);
  twoQuestions[5] = 2;
  const chaos = Buffer.from(q);
  chaos.writeUInt16BE(3, chaos.length - 2);
  for (const [what, msg] of [
    ['garbage', Buffer.from([1, 2, 3])],
    ['two questions', twoQuestions],
    ['a truncated query', q.subarray(0, q.length - 1)],
    ['a forwarded name', makeQuery('example.org', TYPE.A)],
    ['an ExternalName whose target is asked upstream', makeQuery('ext.default.svc.cluster.local', TYPE.A)],
    ['class CH', chaos],
    ['AXFR', makeQuery('cluster.local', 252)],
  ] as const) {
    assert.equal(encodedAnswer(fast, msg, true, zone), undefined, what);
  }
  assert.equal(fast.size, 0, 'nothing cached');
});

test('a flood of made-up names stays within maxEntries', () => {
  const fast = new EncodedAnswers({ domain: 'cluster.local', udpPayload: 1232, maxEntries: 50 });
  for (let i = 0; i < 500; i++) assert.equal(parse(encodedAnswer(fast, makeQuery(`x${i}.cluster.local`, TYPE.A), true, zone)!).header.rcode, 3);
  assert.equal(fast.size, 50);
});

test('two questions with the same hash each get their own answer', () => {
  // Found by search: FNV-1a of these two A questions is the same 32-bit number.
  const pair = ['h805070.default.svc.cluster.local', 'h1112000.default.svc.cluster.local'];
  const [a, b] = pair.map((name) => makeQuery(name, TYPE.A));
  assert.equal(questionHash(a, a.length - 4), questionHash(b, b.length - 4));
  const services = pair.map((name, i) => ({ metadata: { name: name.split('.')[0], namespace: 'default' }, spec: { clusterIP: `127.77.9.${i + 1}` } }));
  const z = buildZone(services, []);
  const fast = fresh();
  for (let round = 0; round < 3; round++) {
    pair.forEach((name, i) => {
      assert.deepEqual(parse(encodedAnswer(fast, makeQuery(name.toUpperCase(), TYPE.A), true, z)!).answers.map((x) => x.address), [`127.77.9.${i + 1}`], name);
    });
  }
  assert.equal(fast.size, 1, 'they share one slot');
});
