// NodeRestriction on a node's pod CIDR: control assigns it, a node never chooses one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isApiError } from '../../api/errors.js';
import { resourceOfKind } from '../../api/resources.js';
import type { KubeObject } from '../../api/types.js';
import { checkNodeRestriction, type NodeWrite } from './node-restriction.js';
import { authenticatedUser } from './user.js';

const NODE = resourceOfKind('Node');
const user = authenticatedUser('system:node:n1', ['system:nodes']);
const nodeWith = (spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec });
const write = (verb: NodeWrite['verb'], object: KubeObject, old?: KubeObject): NodeWrite => ({ user, verb, resource: NODE, namespace: '', name: 'n1', object, old });
const refused = (w: NodeWrite) => assert.throws(() => checkNodeRestriction(w), (e) => isApiError(e) && e.code === 403 && /node "n1" is not allowed to set its pod CIDR; control assigns it/.test(e.message));

describe('NodeRestriction and pod CIDRs', () => {
  it('refuses a node that registers with a pod CIDR, or changes the one it was given, by either field', () => {
    refused(write('create', nodeWith({ podCIDR: '198.19.9.0/24' })));
    refused(write('create', nodeWith({ podCIDRs: ['198.19.9.0/24'] })));
    const given = nodeWith({ podCIDR: '198.19.1.0/24', podCIDRs: ['198.19.1.0/24'] });
    refused(write('update', nodeWith({ podCIDR: '198.19.9.0/24', podCIDRs: ['198.19.9.0/24'] }), given));
    refused(write('patch', nodeWith({ podCIDR: '198.19.1.0/24', podCIDRs: ['198.19.1.0/24', '198.19.9.0/24'] }), given));
  });

  it('lets through a write that keeps its CIDR, or leaves it out (a stale copy, answered by 409 or validation)', () => {
    const given = nodeWith({ podCIDR: '198.19.1.0/24', podCIDRs: ['198.19.1.0/24'] });
    checkNodeRestriction(write('update', nodeWith({ podCIDR: '198.19.1.0/24', podCIDRs: ['198.19.1.0/24'] }), given));
    checkNodeRestriction(write('update', nodeWith({}), given));
    checkNodeRestriction(write('create', nodeWith({})));
  });
});
