import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoints, Service } from '../api/types.js';
import { buildZone, endpointLabel, reverseName, TYPE, type ZoneRecord } from './records.js';

function svc(name: string, spec: Service['spec'], ns = 'default'): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec };
}
function eps(name: string, subsets: Endpoints['subsets'], ns = 'default'): Endpoints {
  return { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace: ns }, subsets };
}
const of = (recs: ZoneRecord[] | undefined, type: number) => (recs ?? []).filter((r) => r.type === type);

test('ClusterIP service: A, SRV per named port, PTR', () => {
  const z = buildZone([svc('web', { clusterIP: '127.77.0.7', ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { port: 81 }, { name: 'dns', port: 53, protocol: 'UDP' }] })], []);
  const fqdn = 'web.default.svc.cluster.local';
  assert.deepEqual(of(z.records.get(fqdn), TYPE.A).map((r) => 'address' in r && r.address), ['127.77.0.7']);
  const srv = z.records.get(`_http._tcp.${fqdn}`)!;
  assert.equal(srv.length, 1);
  assert.deepEqual({ ...srv[0] }, { name: `_http._tcp.${fqdn}`, ttl: 5, class: 1, type: TYPE.SRV, priority: 0, weight: 100, port: 80, target: fqdn });
  assert.ok(z.records.has(`_dns._udp.${fqdn}`));
  assert.equal([...z.records.keys()].filter((k) => k.startsWith('_') && k.endsWith(fqdn)).length, 2, 'unnamed port has no SRV');
  const ptr = z.records.get('7.0.77.127.in-addr.arpa')!;
  assert.deepEqual(ptr.map((r) => r.type === TYPE.PTR && r.domain), [fqdn]);
  // empty non-terminals exist (NODATA, not NXDOMAIN)
  for (const n of ['default.svc.cluster.local', 'svc.cluster.local', `_tcp.${fqdn}`]) assert.ok(z.names.has(n), n);
  assert.ok(!z.names.has('other.default.svc.cluster.local'));
});

test('headless service: one A per distinct ready address, per-endpoint names and SRV with real ports', () => {
  const z = buildZone(
    [svc('db', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] })],
    [eps('db', [
      // hostport mode: two pods on the node IP, each its own port
      { addresses: [{ ip: '127.0.0.1', targetRef: { kind: 'Pod', name: 'db-0' }, hostname: 'db-0' }], ports: [{ name: 'pg', port: 30001, protocol: 'TCP' }] },
      { addresses: [{ ip: '127.0.0.1', targetRef: { kind: 'Pod', name: 'db-1' } }], ports: [{ name: 'pg', port: 30002, protocol: 'TCP' }] },
      { addresses: [{ ip: '127.0.1.5' }], notReadyAddresses: [{ ip: '127.0.1.9', targetRef: { kind: 'Pod', name: 'db-2' } }], ports: [{ name: 'pg', port: 5432 }] },
    ])],
  );
  const fqdn = 'db.default.svc.cluster.local';
  assert.deepEqual(of(z.records.get(fqdn), TYPE.A).map((r) => 'address' in r && r.address).sort(), ['127.0.0.1', '127.0.1.5']);
  const srv = z.records.get(`_pg._tcp.${fqdn}`)!.map((r) => r.type === TYPE.SRV && `${r.port} ${r.target}`).sort();
  assert.deepEqual(srv, [`30001 db-0.${fqdn}`, `30002 db-1.${fqdn}`, `5432 127-0-1-5.${fqdn}`]);
  assert.ok(z.records.has(`db-0.${fqdn}`) && z.records.has(`db-1.${fqdn}`) && z.records.has(`127-0-1-5.${fqdn}`));
  assert.ok(!z.records.has(`db-2.${fqdn}`), 'not-ready endpoint has no name');
  assert.equal([...z.records.values()].flat().filter((r) => r.type === TYPE.A && r.address === '127.0.1.9').length, 0);
  assert.ok(![...z.records.keys()].some((k) => k.endsWith('in-addr.arpa') && k !== reverseName('127.77.0.10')), 'no PTR for headless');
});

test('headless service without endpoints still exists (NODATA)', () => {
  const z = buildZone([svc('empty', { clusterIP: 'None' })], []);
  assert.ok(!z.records.has('empty.default.svc.cluster.local'));
  assert.ok(z.names.has('empty.default.svc.cluster.local'));
});

test('ExternalName → CNAME; service without a ClusterIP yet has no records', () => {
  const z = buildZone([svc('ext', { type: 'ExternalName', externalName: 'Example.COM.' }), svc('pending', {})], []);
  assert.deepEqual(z.records.get('ext.default.svc.cluster.local')!.map((r) => r.type === TYPE.CNAME && r.domain), ['example.com']);
  assert.ok(!z.names.has('pending.default.svc.cluster.local'));
});

test('apex SOA and NS, dns-version TXT, custom domain, ttl and serial, case-insensitive', () => {
  const z = buildZone([svc('Web', { clusterIP: 'fd00::7' }, 'Dev')], [], { domain: 'Tug.Internal.', ttl: 30, serial: 42, nsAddress: '127.77.0.10' });
  assert.equal(z.domain, 'tug.internal');
  assert.equal(z.soa.serial, 42);
  assert.equal(z.soa.minimum, 30);
  assert.equal(z.soa.primary, 'ns.dns.tug.internal');
  assert.deepEqual(z.records.get('tug.internal')!.map((r) => r.type).sort(), [TYPE.NS, TYPE.SOA]);
  assert.deepEqual(z.records.get('ns.dns.tug.internal')!.map((r) => r.type === TYPE.A && r.address), ['127.77.0.10']);
  assert.deepEqual(z.records.get('dns-version.tug.internal')!.map((r) => r.type === TYPE.TXT && r.data), [['1.1.0']]);
  const aaaa = z.records.get('web.dev.svc.tug.internal')!;
  assert.deepEqual(aaaa.map((r) => r.type), [TYPE.AAAA]);
  assert.ok(aaaa.every((r) => r.ttl === 30));
  assert.ok(z.records.has(reverseName('fd00::7')!));
});

test('reverseName and endpointLabel', () => {
  assert.equal(reverseName('127.77.0.1'), '1.0.77.127.in-addr.arpa');
  assert.equal(reverseName('::1'), `1.${'0.'.repeat(31)}ip6.arpa`);
  assert.equal(reverseName('nope'), undefined);
  assert.equal(endpointLabel({ ip: '127.0.3.1', hostname: 'h' }), 'h');
  assert.equal(endpointLabel({ ip: '127.0.3.1', targetRef: { name: 'Pod-A' } }), 'pod-a');
  assert.equal(endpointLabel({ ip: '127.0.3.1', targetRef: { name: 'a.b' } }), '127-0-3-1');
});

test('invalid names are skipped, duplicates collapse', () => {
  const z = buildZone([svc('bad_name', { clusterIP: '127.0.3.1' }), svc('a', { clusterIP: '127.0.3.2', clusterIPs: ['127.0.3.2', '127.0.3.2'] })], []);
  assert.ok(![...z.records.keys()].some((k) => k.includes('bad_name')));
  assert.equal(z.records.get('a.default.svc.cluster.local')!.length, 1);
});
