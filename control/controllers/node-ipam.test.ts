// Node CIDRs: which cluster networks are refused at start, which CIDR a node gets, and what a
// Node's podCIDR may be.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyDefaults } from '../../api/defaults.js';
import { resourceOfKind } from '../../api/resources.js';
import type { KubeObject } from '../../api/types.js';
import { validateObject } from '../../api/validation.js';
import { clusterNetworkProblem, DEFAULT_CLUSTER_NETWORK, freeNodeCidr } from './node-ipam.js';

const NODE = resourceOfKind('Node');

function node(spec: Record<string, unknown>): KubeObject {
  const n = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec } as KubeObject;
  applyDefaults(NODE, n);
  return n;
}

describe('node CIDRs', () => {
  it('accepts the default cluster network beside the default service range, and refuses bad or overlapping ones naming both', () => {
    assert.equal(clusterNetworkProblem(DEFAULT_CLUSTER_NETWORK, '127.77.0.0/16'), undefined);
    assert.equal(
      clusterNetworkProblem({ clusterCidr: '127.77.128.0/17', nodeCidrMaskSize: 24 }, '127.77.0.0/16'),
      '--cluster-cidr 127.77.128.0/17 overlaps --service-cidr 127.77.0.0/16: pod and Service addresses must come from separate ranges',
    );
    assert.match(clusterNetworkProblem({ clusterCidr: '198.19.0.0', nodeCidrMaskSize: 24 }, '127.77.0.0/16')!, /invalid --cluster-cidr "198\.19\.0\.0": expected an IPv4 CIDR such as 198\.19\.0\.0\/16/);
    assert.equal(clusterNetworkProblem({ clusterCidr: '198.19.0.0/16', nodeCidrMaskSize: 8 }, '127.77.0.0/16'), '--node-cidr-mask-size 8 must be a whole number from 16 (the prefix of --cluster-cidr 198.19.0.0/16) to 30');
    assert.match(clusterNetworkProblem({ clusterCidr: '198.19.0.0/16', nodeCidrMaskSize: NaN }, '127.77.0.0/16')!, /--node-cidr-mask-size NaN must be a whole number/);
  });

  it('gives the lowest free CIDR, skips taken ones, and none when all are taken', () => {
    const net = { clusterCidr: '198.19.0.0/22', nodeCidrMaskSize: 24 };
    assert.equal(freeNodeCidr(net, new Set()), '198.19.0.0/24');
    assert.equal(freeNodeCidr(net, new Set(['198.19.0.0/24', '198.19.2.0/24'])), '198.19.1.0/24');
    assert.equal(freeNodeCidr(net, new Set(['198.19.0.0/24', '198.19.1.0/24', '198.19.2.0/24'])), '198.19.3.0/24');
    assert.equal(freeNodeCidr(net, new Set(['198.19.0.0/24', '198.19.1.0/24', '198.19.2.0/24', '198.19.3.0/24'])), undefined);
    assert.equal(freeNodeCidr({ clusterCidr: '198.19.5.7/16', nodeCidrMaskSize: 26 }, new Set(['198.19.0.0/26'])), '198.19.0.64/26', 'counted from the network address');
  });

  it('keeps podCIDR and podCIDRs in step, checks they are CIDRs, and never lets one change once set', () => {
    assert.deepEqual((node({ podCIDR: '198.19.1.0/24' }).spec as any).podCIDRs, ['198.19.1.0/24']);
    assert.equal((node({ podCIDRs: ['198.19.1.0/24'] }).spec as any).podCIDR, '198.19.1.0/24');
    assert.deepEqual(validateObject(NODE, node({ podCIDR: '198.19.1.0/24' })), []);
    const bad = validateObject(NODE, node({ podCIDR: '198.19.1.0' }));
    assert.ok(bad.some((c) => c.field === 'spec.podCIDR' && /must be a valid CIDR/.test(c.message!)), JSON.stringify(bad));
    const mismatch = validateObject(NODE, node({ podCIDR: '198.19.1.0/24', podCIDRs: ['198.19.2.0/24'] }));
    assert.ok(mismatch.some((c) => c.field === 'spec.podCIDRs' && /must match spec.podCIDR/.test(c.message!)));
    const old = node({ podCIDR: '198.19.1.0/24' });
    assert.deepEqual(validateObject(NODE, node({ podCIDR: '198.19.1.0/24' }), old), []);
    assert.deepEqual(validateObject(NODE, node({ podCIDR: '198.19.1.0/24' }), node({})), [], 'from none to one');
    const changed = validateObject(NODE, node({ podCIDR: '198.19.2.0/24' }), old);
    assert.deepEqual(changed, [{ reason: 'FieldValueForbidden', field: 'spec.podCIDRs', message: 'Forbidden: node updates may not change podCIDR except from "" to valid' }]);
    assert.ok(validateObject(NODE, node({}), old).some((c) => c.field === 'spec.podCIDRs'), 'nor be taken away');
  });
});
