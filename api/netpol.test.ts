import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PolicyIndex, type PolicyPod } from './netpol.js';
import type { NetworkPolicy } from './types.js';

function pod(name: string, ip: string, labels: Record<string, string>, namespace = 'default'): PolicyPod {
  return { namespace, name, ip, labels, ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'dns', containerPort: 53, protocol: 'UDP' }] };
}

function policy(name: string, spec: NetworkPolicy['spec'], namespace = 'default'): NetworkPolicy {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec };
}

const db = pod('db', '198.19.0.2', { role: 'db' });
const frontend = pod('frontend', '198.19.0.3', { role: 'frontend' });
const other = pod('other', '198.19.1.2', { role: 'other' });
const inProject = pod('tool', '198.19.1.3', { role: 'tool' }, 'myproject');
const namespaces = new Map<string, Record<string, string>>([
  ['default', { 'kubernetes.io/metadata.name': 'default' }],
  ['myproject', { 'kubernetes.io/metadata.name': 'myproject', project: 'myproject' }],
]);

describe('NetworkPolicy model', () => {
  it('no policy admits everything; a policy isolates only the pods it selects, in its direction', () => {
    const open = new PolicyIndex([], [db, frontend], namespaces);
    assert.equal(open.admits(frontend.ip, db.ip, 8080, 'TCP'), true);
    const deny = new PolicyIndex([policy('default-deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] })], [db, frontend, inProject], namespaces);
    assert.equal(deny.admits(frontend.ip, db.ip, 8080, 'TCP'), false);
    assert.equal(deny.admits(db.ip, '203.0.113.9', 443, 'TCP'), true, 'egress stays open');
    assert.equal(deny.admits(db.ip, inProject.ip, 8080, 'TCP'), true, 'another namespace is not isolated');
  });

  it('the upstream test-network-policy: ipBlock with except, namespace and pod selectors, ports', () => {
    const p = policy('test-network-policy', {
      podSelector: { matchLabels: { role: 'db' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          from: [{ ipBlock: { cidr: '172.17.0.0/16', except: ['172.17.1.0/24'] } }, { namespaceSelector: { matchLabels: { project: 'myproject' } } }, { podSelector: { matchLabels: { role: 'frontend' } } }],
          ports: [{ protocol: 'TCP', port: 6379 }],
        },
      ],
      egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ protocol: 'TCP', port: 5978 }] }],
    });
    const index = new PolicyIndex([p], [db, frontend, other, inProject], namespaces);
    assert.equal(index.admits(frontend.ip, db.ip, 6379, 'TCP'), true);
    assert.equal(index.admits(frontend.ip, db.ip, 6380, 'TCP'), false, 'another port');
    assert.equal(index.admits(frontend.ip, db.ip, 6379, 'UDP'), false, 'another protocol');
    assert.equal(index.admits(inProject.ip, db.ip, 6379, 'TCP'), true, 'a pod of a selected namespace');
    assert.equal(index.admits(other.ip, db.ip, 6379, 'TCP'), false, 'an unselected pod');
    assert.equal(index.admits('172.17.2.5', db.ip, 6379, 'TCP'), true, 'inside the block');
    assert.equal(index.admits('172.17.1.5', db.ip, 6379, 'TCP'), false, 'in the exception');
    assert.equal(index.admits(db.ip, '10.0.0.7', 5978, 'TCP'), true);
    assert.equal(index.admits(db.ip, '10.0.1.7', 5978, 'TCP'), false);
    assert.equal(index.admits(db.ip, frontend.ip, 8080, 'TCP'), false, 'egress to a pod is not allowed');
  });

  it('named ports resolve on the destination pod; endPort gives a range', () => {
    const named = policy('named', { podSelector: { matchLabels: { role: 'db' } }, ingress: [{ ports: [{ protocol: 'TCP', port: 'http' }] }] });
    const egress = policy('egress', { podSelector: { matchLabels: { role: 'frontend' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: {} }], ports: [{ protocol: 'UDP', port: 'dns' }, { protocol: 'TCP', port: 9000, endPort: 9100 }] }] });
    const index = new PolicyIndex([named, egress], [db, frontend, other], namespaces);
    assert.equal(index.admits(other.ip, db.ip, 8080, 'TCP'), true);
    assert.equal(index.admits(other.ip, db.ip, 8081, 'TCP'), false);
    assert.equal(index.admits(frontend.ip, other.ip, 53, 'UDP'), true);
    assert.equal(index.admits(frontend.ip, other.ip, 9050, 'TCP'), true);
    assert.equal(index.admits(frontend.ip, other.ip, 9101, 'TCP'), false);
    assert.equal(index.admits(frontend.ip, db.ip, 8080, 'TCP'), false, 'egress allows only UDP dns and 9000-9100; ingress of db would allow it');
  });
});
