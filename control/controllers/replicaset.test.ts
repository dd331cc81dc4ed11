import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Pod, ReplicaSet } from '../../api/types.js';
import { podFromTemplate, reconcileReplicaSet } from './replicaset.js';

const NOW = Date.parse('2026-01-01T00:10:00Z');

function rs(replicas: number, extra: Partial<ReplicaSet['spec']> = {}): ReplicaSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'web-abc', namespace: 'default', uid: 'rs-uid', generation: 2 },
    spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'i' }] } }, ...extra },
  };
}

interface PodOpts {
  owner?: string | null;
  ready?: boolean;
  readySince?: string;
  phase?: string;
  node?: string;
  created?: string;
  deleting?: boolean;
  labels?: Record<string, string>;
}

function pod(name: string, o: PodOpts = {}): Pod {
  const owner = o.owner === undefined ? 'rs-uid' : o.owner;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      labels: o.labels ?? { app: 'web' },
      creationTimestamp: o.created ?? '2026-01-01T00:00:00Z',
      ...(owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'x', uid: owner, controller: true }] } : {}),
      ...(o.deleting ? { deletionTimestamp: '2026-01-01T00:09:00Z' } : {}),
    },
    spec: { containers: [{ name: 'c' }], nodeName: o.node ?? 'n1' },
    status: {
      phase: o.phase ?? 'Running',
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True', lastTransitionTime: o.readySince ?? '2026-01-01T00:00:00Z' }],
    },
  };
}

describe('reconcileReplicaSet', () => {
  it('creates the missing pods and reports what exists', () => {
    const plan = reconcileReplicaSet(rs(3), [pod('a')], NOW);
    assert.equal(plan.create, 2);
    assert.deepEqual(plan.delete, []);
    assert.deepEqual(plan.status, { replicas: 1, fullyLabeledReplicas: 1, readyReplicas: 1, availableReplicas: 1, observedGeneration: 2 });
  });

  it('does not count terminating or finished pods, and deletes finished ones', () => {
    const plan = reconcileReplicaSet(rs(2), [pod('a'), pod('b', { deleting: true }), pod('c', { phase: 'Failed' })], NOW);
    assert.equal(plan.create, 1);
    assert.deepEqual(plan.delete.map((p) => p.metadata.name), ['c']);
    assert.equal(plan.status?.replicas, 1);
  });

  it('on scale-down deletes unscheduled, then not-ready, then the newest pods first', () => {
    const pods = [
      pod('old-ready', { created: '2026-01-01T00:00:00Z' }),
      pod('new-ready', { created: '2026-01-01T00:05:00Z' }),
      pod('not-ready', { ready: false }),
      pod('unscheduled', { node: '', phase: 'Pending', ready: false }),
    ];
    assert.deepEqual(reconcileReplicaSet(rs(3), pods, NOW).delete.map((p) => p.metadata.name), ['unscheduled']);
    assert.deepEqual(reconcileReplicaSet(rs(1), pods, NOW).delete.map((p) => p.metadata.name), ['unscheduled', 'not-ready', 'new-ready']);
  });

  it('adopts orphans its selector matches and leaves pods of other controllers alone', () => {
    const plan = reconcileReplicaSet(rs(2), [pod('orphan', { owner: null }), pod('other', { owner: 'someone-else' }), pod('stranger', { owner: null, labels: { app: 'db' } })], NOW);
    assert.deepEqual(plan.adopt.map((p) => p.metadata.name), ['orphan']);
    assert.equal(plan.create, 1);
  });

  it('counts a pod available only after minReadySeconds, and asks to come back then', () => {
    const plan = reconcileReplicaSet(rs(2, { minReadySeconds: 30 }), [pod('a', { readySince: '2026-01-01T00:09:50Z' }), pod('b')], NOW);
    assert.equal(plan.status?.readyReplicas, 2);
    assert.equal(plan.status?.availableReplicas, 1);
    assert.equal(plan.requeueAfterMs, 20_000 + 10);
  });

  it('writes no status when nothing changed', () => {
    const current = rs(1);
    current.status = { replicas: 1, fullyLabeledReplicas: 1, readyReplicas: 1, availableReplicas: 1, observedGeneration: 2 };
    const plan = reconcileReplicaSet(current, [pod('a')], NOW);
    assert.equal(plan.status, undefined);
    assert.equal(plan.create, 0);
  });

  it('creates and deletes nothing while it is being deleted', () => {
    const deleting = rs(3);
    deleting.metadata.deletionTimestamp = '2026-01-01T00:09:00Z';
    const plan = reconcileReplicaSet(deleting, [pod('orphan', { owner: null })], NOW);
    assert.equal(plan.create, 0);
    assert.deepEqual(plan.adopt, []);
  });

  it('makes pods from the template, controlled by the ReplicaSet', () => {
    const p = podFromTemplate(rs(1));
    assert.equal(p.metadata.generateName, 'web-abc-');
    assert.deepEqual(p.metadata.labels, { app: 'web' });
    assert.deepEqual(p.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'rs-uid', controller: true, blockOwnerDeletion: true }]);
  });
});
