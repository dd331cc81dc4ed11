import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from '../api/types.js';
import { nodeResolvConf, resolvConfFor } from './resolvconf.js';

const HOST = 'nameserver 127.0.0.53\nsearch corp.example\noptions edns0\n';
const CLUSTER = { ip: '127.77.0.10', domain: 'cluster.local' };

function pod(spec: Record<string, unknown> = {}): Pod {
  return { metadata: { name: 'p', namespace: 'dev' }, spec: { containers: [], ...spec } };
}

test('ClusterFirst: the cluster DNS, the namespace search path, the node search domains, ndots:5', () => {
  assert.equal(resolvConfFor(pod(), CLUSTER, HOST), 'nameserver 127.77.0.10\nsearch dev.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:5\n');
});

test("Default copies the node's; ClusterFirst without a cluster DNS falls back to it", () => {
  assert.equal(resolvConfFor(pod({ dnsPolicy: 'Default' }), CLUSTER, HOST), 'nameserver 127.0.0.53\nsearch corp.example\noptions edns0\n');
  assert.equal(resolvConfFor(pod(), undefined, HOST), 'nameserver 127.0.0.53\nsearch corp.example\noptions edns0\n');
});

test('None uses only dnsConfig; dnsConfig adds to and overrides the policy, within the limits', () => {
  const dnsConfig = { nameservers: ['127.0.0.54'], searches: ['a.example'], options: [{ name: 'ndots', value: '2' }, { name: 'single-request' }] };
  assert.equal(resolvConfFor(pod({ dnsPolicy: 'None', dnsConfig }), CLUSTER, HOST), 'nameserver 127.0.0.54\nsearch a.example\noptions ndots:2 single-request\n');
  assert.equal(
    resolvConfFor(pod({ dnsConfig }), CLUSTER, HOST),
    'nameserver 127.77.0.10\nnameserver 127.0.0.54\nsearch dev.svc.cluster.local svc.cluster.local cluster.local corp.example a.example\noptions ndots:2 single-request\n',
  );
  const many = { nameservers: ['127.0.0.2', '127.0.0.3', '127.0.0.4'] };
  assert.equal(resolvConfFor(pod({ dnsPolicy: 'None', dnsConfig: many }), CLUSTER, HOST), 'nameserver 127.0.0.2\nnameserver 127.0.0.3\nnameserver 127.0.0.4\n');
  assert.equal(resolvConfFor(pod({ dnsPolicy: 'None' }), CLUSTER, HOST), undefined);
});

test("nodeResolvConf is what a pod that adds nothing gets, so the pod's file can be told apart", () => {
  assert.equal(nodeResolvConf(HOST), resolvConfFor(pod({ dnsPolicy: 'Default' }), CLUSTER, HOST));
  assert.equal(nodeResolvConf(HOST), resolvConfFor(pod(), undefined, HOST));
  assert.notEqual(nodeResolvConf(HOST), resolvConfFor(pod(), CLUSTER, HOST));
  assert.notEqual(nodeResolvConf(HOST), resolvConfFor(pod({ dnsConfig: { options: [{ name: 'ndots', value: '2' }] } }), undefined, HOST));
  assert.equal(nodeResolvConf(''), undefined);
});
