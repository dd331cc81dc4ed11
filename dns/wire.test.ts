import { test } from 'node:test';
import assert from 'node:assert/strict';
import { replyTo, zoneAnswer } from './answer.js';
import { decodeQuery, encodeResponse, type Query } from './codec.js';
import { buildZone, TYPE } from './records.js';
import { makeQuery, parse } from './testutil.js';
import { encodeWire, ipv6Bytes, newPlainQuestion, parsePlainQuestion, questionHash, questionName } from './wire.js';

const read = (b: Buffer) => {
  const q = newPlainQuestion();
  return parsePlainQuestion(b, q) ? { ...q } : undefined;
};

/** A dig-style query: EDNS with a COOKIE option. */
function withCookie(name: string): Buffer {
  const q = makeQuery(name, TYPE.A);
  const opt = Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
  const out = Buffer.concat([q, opt]);
  out.writeUInt16BE(1, 10);
  return out;
}

test('parsePlainQuestion reads a plain query, with and without OPT', () => {
  const plain = makeQuery('web.default.svc.cluster.local', TYPE.A);
  const hash = questionHash(plain, plain.length - 4);
  assert.deepEqual(read(plain), { nameEnd: plain.length - 4, qtype: TYPE.A, qclass: 1, edns: false, udpPayloadSize: 0, hash });
  const edns = makeQuery('Web.Default.svc.cluster.local', TYPE.SRV, { edns: 4096 });
  assert.deepEqual(read(edns), { nameEnd: 12 + 31, qtype: TYPE.SRV, qclass: 1, edns: true, udpPayloadSize: 4096, hash: questionHash(edns, 12 + 31) });
  assert.equal(read(makeQuery('WEB.default.svc.cluster.LOCAL', TYPE.A))?.hash, hash, 'the hash ignores case');
  assert.notEqual(read(makeQuery('web.default.svc.cluster.local', TYPE.AAAA))?.hash, hash);
  assert.equal(read(withCookie('web.default.svc.cluster.local'))?.udpPayloadSize, 1232, 'EDNS options are skipped');
  assert.equal(questionName(edns, 12 + 31), 'web.default.svc.cluster.local');
});

test('parsePlainQuestion leaves everything unusual to the dns2 path', () => {
  const q = makeQuery('web.default.svc.cluster.local', TYPE.A, { edns: 1232 });
  const mutate = (f: (b: Buffer) => Buffer | void): Buffer => {
    const b = Buffer.from(q);
    return f(b) ?? b;
  };
  const cases: Record<string, Buffer> = {
    response: mutate((b) => { b[2] |= 0x80; }),
    'opcode NOTIFY': mutate((b) => { b[2] |= 4 << 3; }),
    'two questions': mutate((b) => { b[5] = 2; }),
    'an answer': mutate((b) => { b[7] = 1; }),
    'an authority': mutate((b) => { b[9] = 1; }),
    'two additionals': mutate((b) => { b[11] = 2; }),
    'no additional but an OPT present': mutate((b) => { b[11] = 0; }),
    'a pointer in the name': Buffer.concat([q.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]),
    'a reserved label type': mutate((b) => { b[12] = 0x43; }),
    'a dot inside a label': mutate((b) => { b[14] = 0x2e; }),
    'a non-ASCII byte': mutate((b) => { b[14] = 0xc9; }),
    'a space': mutate((b) => { b[14] = 0x20; }),
    'the root name': Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]),
    'EDNS version 1': mutate((b) => { b[b.length - 5] = 1; }),
    'OPT with another type': mutate((b) => { b[b.length - 9] = 40; }),
    'OPT RDATA longer than the packet': mutate((b) => { b[b.length - 1] = 4; }),
    'trailing bytes': Buffer.concat([q, Buffer.from([0])]),
    'a broken EDNS option': (() => { const b = withCookie('a.cluster.local'); b.writeUInt16BE(20, b.length - 10); return b; })(),
  };
  for (const [what, b] of Object.entries(cases)) assert.equal(read(b), undefined, what);
  for (let n = 0; n < q.length; n++) assert.equal(read(q.subarray(0, n)), undefined, `cut at ${n}`);
  const long = makeQuery(`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`, TYPE.A);
  assert.ok(read(long), '255 octets is the limit');
  const tooLong = Buffer.concat([long.subarray(0, 12), Buffer.from([1, 0x61]), long.subarray(12)]);
  assert.equal(read(tooLong), undefined, '257 octets');
});

test('whatever parsePlainQuestion accepts, codec.ts reads the same way', () => {
  const samples = [
    makeQuery('web.default.svc.cluster.local', TYPE.A),
    makeQuery('WEB.default.svc.cluster.local', TYPE.AAAA, { edns: 512 }),
    makeQuery('x_y-z.example', 255, { edns: 65535 }),
    withCookie('web.default.svc.cluster.local'),
  ];
  for (const b of samples) {
    const mine = read(b)!;
    const d = decodeQuery(b);
    assert.equal(d.kind, 'query');
    if (d.kind !== 'query') continue;
    assert.equal(questionName(b, mine.nameEnd), d.query.name.toLowerCase());
    assert.equal(mine.qtype, d.query.type);
    assert.equal(mine.qclass, d.query.class);
    assert.equal(mine.edns ? mine.udpPayloadSize : undefined, d.query.edns?.udpPayloadSize);
  }
});

test('encodeWire says what the dns2 encoder says, and truncates the same way', () => {
  const zone = buildZone([
    { metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '127.77.0.7', ports: [{ name: 'http', port: 80 }] } },
    { metadata: { name: 'six', namespace: 'default' }, spec: { clusterIP: 'fd00::7', clusterIPs: ['fd00::7', 'fd00::1:0:0:8'] } },
    { metadata: { name: 'ext', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'example.org' } },
    { metadata: { name: 'many', namespace: 'default' }, spec: { clusterIP: 'None' } },
  ], [{ metadata: { name: 'many', namespace: 'default' }, subsets: [{ addresses: Array.from({ length: 100 }, (_, i) => ({ ip: `127.1.0.${i}` })) }] }], { nsAddress: '127.0.0.53' });
  const questions: [string, number][] = [
    ['Web.Default.svc.cluster.local', TYPE.A], ['_http._tcp.web.default.svc.cluster.local', TYPE.SRV], ['nope.cluster.local', TYPE.A],
    ['web.default.svc.cluster.local', TYPE.AAAA], ['six.default.svc.cluster.local', TYPE.AAAA], ['dns-version.cluster.local', TYPE.TXT],
    ['7.0.77.127.in-addr.arpa', TYPE.PTR], ['cluster.local', TYPE.NS], ['cluster.local', TYPE.SOA], ['cluster.local', TYPE.ANY],
    ['ext.default.svc.cluster.local', TYPE.CNAME], ['many.default.svc.cluster.local', TYPE.A],
  ];
  for (const [name, type] of questions) {
    for (const edns of [undefined, { udpPayloadSize: 4096, version: 0, doFlag: false }]) {
      const q: Query = { id: 99, rd: 1, cd: 1, name, type, class: 1, edns };
      const r = zoneAnswer(q, name.toLowerCase(), zone, 'cluster.local', 1232).response;
      const mine = encodeWire(r);
      for (const limit of [512, 1232, 65535]) {
        const theirs = parse(encodeResponse(r, limit));
        const ours = parse(mine.whole.length <= limit ? mine.whole : mine.truncated);
        assert.deepEqual(normalize(ours), normalize(theirs), `${name}/${type} edns=${!!edns} limit=${limit}`);
      }
    }
  }
  const servfail = encodeWire(replyTo({ id: 1, rd: 0, cd: 0, name: 'a.b', type: 1, class: 1 }, 2, false, 1232)).whole;
  assert.deepEqual(normalize(parse(servfail)), normalize(parse(encodeResponse(replyTo({ id: 1, rd: 0, cd: 0, name: 'a.b', type: 1, class: 1 }, 2, false, 1232)))));
});

/** A parsed message with names lower-cased (compression may carry the question's case or not). */
function normalize(p: ReturnType<typeof parse>): unknown {
  return JSON.parse(JSON.stringify(p, (k, v: unknown) => (typeof v === 'string' && ['name', 'target', 'domain', 'ns', 'primary', 'admin'].includes(k) ? v.toLowerCase() : v)));
}

test('ipv6Bytes expands :: and a dotted IPv4 tail', () => {
  assert.equal(ipv6Bytes('fd00::7').toString('hex'), 'fd000000000000000000000000000007');
  assert.equal(ipv6Bytes('::').toString('hex'), '0'.repeat(32));
  assert.equal(ipv6Bytes('::ffff:127.0.0.1').toString('hex'), '00000000000000000000ffff7f000001');
  assert.equal(ipv6Bytes('1:2:3:4:5:6:7:8').toString('hex'), '00010002000300040005000600070008');
  assert.throws(() => ipv6Bytes('127.0.0.1'));
});
