import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PolicyIndex, type PolicyPod } from '../../api/netpol.js';
import { policyTable } from './policy-rules.js';

const web: PolicyPod = { namespace: 'default', name: 'web', ip: '198.19.0.2', labels: { app: 'web' }, ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] };
const client: PolicyPod = { namespace: 'default', name: 'client', ip: '198.19.1.2', labels: { app: 'client' }, ports: [] };
const ns = new Map([['default', {}]]);

describe('NetworkPolicy as nftables rules', () => {
  it('no policy: a forward chain that accepts, and no pod chain', () => {
    const table = policyTable(new PolicyIndex([], [web, client], ns), [web], ['198.18.0.1'], '127.77.0.0/16');
    assert.match(table, /^table inet tugboat_policy\ndelete table inet tugboat_policy\ntable inet tugboat_policy \{/);
    assert.doesNotMatch(table, /chain ing_|chain egr_|vmap/);
  });

  it('an ingress rule: nodes pass, the allowed peers on the named port return, the rest is rejected', () => {
    const allow = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'a', namespace: 'default' }, spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }, { ipBlock: { cidr: '203.0.113.0/24', except: ['203.0.113.128/25'] } }], ports: [{ protocol: 'TCP', port: 'http' }] }] } };
    const table = policyTable(new PolicyIndex([allow], [web, client], ns), [web], ['198.18.0.1', '198.18.0.2'], '127.77.0.0/16');
    assert.match(table, /ip daddr vmap \{ 198\.19\.0\.2 : jump ing_0 \}/);
    assert.match(table, /chain ing_0 \{\n    # default\/web\n    ip saddr \{ 198\.18\.0\.1, 198\.18\.0\.2 \} return\n/);
    assert.match(table, /    ip saddr 198\.19\.1\.2 meta l4proto tcp th dport 8080 return\n/);
    assert.match(table, /    ip saddr 203\.0\.113\.0\/24 ip saddr != 203\.0\.113\.128\/25 meta l4proto tcp th dport 8080 return\n/);
    assert.match(table, /    meta l4proto tcp reject with tcp reset\n    reject\n  \}/);
  });

  it('default deny egress: an egress chain with no allowance', () => {
    const deny = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'd', namespace: 'default' }, spec: { podSelector: {}, policyTypes: ['Egress' as const] } };
    const table = policyTable(new PolicyIndex([deny], [web, client], ns), [web], [], '127.77.0.0/16');
    assert.match(table, /ip saddr vmap \{ 198\.19\.0\.2 : jump egr_0 \}/);
    assert.match(table, /chain egr_0 \{\n    # default\/web\n    meta l4proto tcp reject with tcp reset\n    reject\n  \}/);
    // To the node itself: the Service addresses pass, the rest goes through the same egress chain.
    assert.match(table, /chain input \{\n    type filter hook input priority filter; policy accept;\n    ct state established,related accept\n    ip daddr 127\.77\.0\.0\/16 accept\n    ip saddr vmap \{ 198\.19\.0\.2 : jump egr_0 \}\n  \}/);
  });

  it('nested exceptions keep only the outer one (an nft set may not overlap), and one address gets one chain', () => {
    const p = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'n', namespace: 'default' }, spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.2.0/24', '10.1.0.0/16', '10.1.0.0/16'] } }] }] } };
    const again = { ...web, name: 'web-old' };
    const table = policyTable(new PolicyIndex([p], [web, client], ns), [web, again], [], '127.77.0.0/16');
    assert.match(table, /ip saddr 10\.0\.0\.0\/8 ip saddr != 10\.1\.0\.0\/16 return/);
    assert.doesNotMatch(table, /10\.1\.2\.0/);
    assert.equal(table.match(/chain ing_/g)?.length, 1);
  });

  it('an egress named port to anywhere allows that port of every pod that names it, and numbered ports anywhere', () => {
    const p = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'e', namespace: 'default' }, spec: { podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Egress' as const], egress: [{ ports: [{ protocol: 'TCP', port: 'http' }, { protocol: 'UDP', port: 53 }] }] } };
    const table = policyTable(new PolicyIndex([p], [web, client], ns), [client], [], '127.77.0.0/16');
    assert.match(table, /chain egr_0 \{\n    # default\/client\n    meta l4proto udp th dport 53 return\n    ip daddr 198\.19\.0\.2 meta l4proto tcp th dport 8080 return\n    meta l4proto tcp reject/);
  });
});
