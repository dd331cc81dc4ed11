import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Node, Pod } from '../../api/types.js';
import { NODE_STATUS_UNKNOWN, NODE_STATUS_UNKNOWN_MESSAGE, reconcileNode, UNREACHABLE_TAINT, withCondition, type NodeAction, type Taint } from './nodelifecycle.js';

const GRACE = 10_000;
const EVICT = 20_000;
const timings = { nodeMonitorGraceMs: GRACE, podEvictionTimeoutMs: EVICT };
const T0 = Date.parse('2025-01-01T00:00:00Z');

function node(opts: { ready?: string; reason?: string; taints?: Taint[] } = {}): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'n1', uid: 'node-uid' },
    spec: opts.taints ? { taints: opts.taints } : {},
    status: { conditions: [{ type: 'Ready', status: opts.ready ?? 'True', reason: opts.reason ?? 'KubeletReady' }] },
  };
}

function pod(name: string, opts: { ready?: boolean; deleting?: boolean } = {}): Pod {
  const status = opts.ready === false ? 'False' : 'True';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, ...(opts.deleting ? { deletionTimestamp: '2025-01-01T00:00:00Z' } : {}) },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x' }] },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status }, { type: 'ContainersReady', status }] },
  };
}

const unreachable = (timeAdded: number): Taint[] => [
  { key: UNREACHABLE_TAINT, effect: 'NoSchedule' },
  { key: UNREACHABLE_TAINT, effect: 'NoExecute', timeAdded: new Date(timeAdded).toISOString().replace(/\.\d{3}Z$/, 'Z') },
];

const types = (actions: NodeAction[]) => actions.map((a) => a.type);
const of = <K extends NodeAction['type']>(actions: NodeAction[], type: K) => actions.filter((a): a is Extract<NodeAction, { type: K }> => a.type === type);

describe('reconcileNode', () => {
  it('does nothing to a node whose lease changed within the grace period, and checks again when it would expire', () => {
    const actions = reconcileNode(node(), { changedAt: T0, changed: true }, [pod('a')], timings, T0 + 4_000);
    assert.deepEqual(actions, [{ type: 'requeueAfter', ms: 6_000 }]);
  });

  it('a lease that has not changed for the grace period: Ready Unknown, unreachable taints, pods not ready, events', () => {
    const pods = [pod('a'), pod('b', { ready: false })];
    const now = T0 + GRACE;
    const actions = reconcileNode(node(), { changedAt: T0, changed: true }, pods, timings, now);
    const [ready] = of(actions, 'setReady');
    assert.deepEqual(ready, { type: 'setReady', status: 'Unknown', reason: NODE_STATUS_UNKNOWN, message: NODE_STATUS_UNKNOWN_MESSAGE });
    const [taints] = of(actions, 'setTaints');
    assert.deepEqual(
      taints.taints.map((t) => [t.key, t.effect]),
      [
        [UNREACHABLE_TAINT, 'NoSchedule'],
        [UNREACHABLE_TAINT, 'NoExecute'],
      ],
    );
    assert.equal(Date.parse(taints.taints[1].timeAdded!), now);
    // Only the pod that is still ready needs its condition changed.
    assert.deepEqual(of(actions, 'markPodNotReady').map((a) => a.pod.metadata.name), ['a']);
    const events = of(actions, 'event').map((e) => [e.object.kind, e.object.metadata.name, e.reason, e.message]);
    assert.deepEqual(events, [
      ['Node', 'n1', 'NodeNotReady', 'Node n1 status is now: NodeNotReady'],
      ['Pod', 'a', 'NodeNotReady', 'Node is not ready'],
      ['Pod', 'b', 'NodeNotReady', 'Node is not ready'],
    ]);
    assert.deepEqual(of(actions, 'requeueAfter'), [{ type: 'requeueAfter', ms: EVICT - GRACE }]);
    assert.equal(of(actions, 'evictPod').length, 0);
  });

  it('one millisecond short of the grace period is still fine (no flapping on a brief pause)', () => {
    const actions = reconcileNode(node(), { changedAt: T0, changed: true }, [pod('a')], timings, T0 + GRACE - 1);
    assert.deepEqual(types(actions), ['requeueAfter']);
  });

  it('keeps other taints, and does not repeat what is already done', () => {
    const cordon = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' };
    const first = reconcileNode(node({ taints: [cordon] }), { changedAt: T0, changed: true }, [], timings, T0 + GRACE);
    assert.deepEqual(of(first, 'setTaints')[0].taints.map((t) => t.key), ['node.kubernetes.io/unschedulable', UNREACHABLE_TAINT, UNREACHABLE_TAINT]);

    const marked = node({ ready: 'Unknown', reason: NODE_STATUS_UNKNOWN, taints: [cordon, ...unreachable(T0 + GRACE)] });
    const again = reconcileNode(marked, { changedAt: T0, changed: true }, [pod('a', { ready: false })], timings, T0 + GRACE + 5_000);
    assert.deepEqual(again, [{ type: 'requeueAfter', ms: EVICT - GRACE - 5_000 }]);
  });

  it('evicts every pod of the node once the eviction timeout has passed since its last heartbeat, terminating ones too', () => {
    const marked = node({ ready: 'Unknown', reason: NODE_STATUS_UNKNOWN, taints: unreachable(T0 + GRACE) });
    const pods = [pod('a', { ready: false }), pod('b', { ready: false, deleting: true })];
    assert.deepEqual(types(reconcileNode(marked, { changedAt: T0, changed: true }, pods, timings, T0 + EVICT - 1)), ['requeueAfter']);
    const actions = reconcileNode(marked, { changedAt: T0, changed: true }, pods, timings, T0 + EVICT);
    assert.deepEqual(of(actions, 'evictPod').map((a) => a.pod.metadata.name), ['a', 'b']);
    assert.deepEqual(of(actions, 'event').map((e) => [e.reason, e.message]), [
      ['TaintManagerEviction', 'Marking for deletion Pod default/a'],
      ['TaintManagerEviction', 'Marking for deletion Pod default/b'],
    ]);
    assert.equal(of(actions, 'requeueAfter').length, 0);
  });

  it('after a control restart, an old taint evicts once a full grace period has passed without a heartbeat', () => {
    // The taint is an hour old, but this controller started (and saw the lease) just now.
    const restartedAt = T0 + 3_600_000;
    const marked = node({ ready: 'Unknown', reason: NODE_STATUS_UNKNOWN, taints: unreachable(T0) });
    const lease = { changedAt: restartedAt, changed: false };
    assert.deepEqual(types(reconcileNode(marked, lease, [pod('a', { ready: false })], timings, restartedAt + 1_000)), ['requeueAfter']);
    assert.deepEqual(types(reconcileNode(marked, lease, [pod('a', { ready: false })], timings, restartedAt + GRACE - 1)), ['requeueAfter']);
    assert.ok(types(reconcileNode(marked, lease, [pod('a', { ready: false })], timings, restartedAt + GRACE)).includes('evictPod'));
  });

  it('a lease that was only seen at start does not make an unreachable node Ready', () => {
    const marked = node({ ready: 'Unknown', reason: NODE_STATUS_UNKNOWN, taints: unreachable(T0) });
    const actions = reconcileNode(marked, { changedAt: T0 + 100, changed: false }, [], timings, T0 + 200);
    assert.deepEqual(types(actions), ['requeueAfter']);
  });

  it('a lease that changes again: Ready True and the unreachable taints go, other taints stay', () => {
    const cordon = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' };
    const marked = node({ ready: 'Unknown', reason: NODE_STATUS_UNKNOWN, taints: [cordon, ...unreachable(T0)] });
    const actions = reconcileNode(marked, { changedAt: T0 + 60_000, changed: true }, [pod('a', { ready: false })], timings, T0 + 60_000);
    assert.deepEqual(of(actions, 'setReady'), [{ type: 'setReady', status: 'True', reason: 'KubeletReady', message: 'tug node is posting ready status' }]);
    assert.deepEqual(of(actions, 'setTaints'), [{ type: 'setTaints', taints: [cordon] }]);
    assert.deepEqual(of(actions, 'event').map((e) => e.reason), ['NodeReady']);
    assert.equal(of(actions, 'markPodNotReady').length + of(actions, 'evictPod').length, 0);
  });

  it('leaves alone a node that is NotReady for reasons of its own', () => {
    const actions = reconcileNode(node({ ready: 'False', reason: 'KubeletNotReady' }), { changedAt: T0, changed: true }, [], timings, T0 + 1_000);
    assert.deepEqual(types(actions), ['requeueAfter']);
  });

  it('a node deleted from the API: its pods are deleted', () => {
    const actions = reconcileNode(undefined, { changedAt: T0, changed: true }, [pod('a'), pod('b')], timings, T0);
    assert.deepEqual(of(actions, 'evictPod').map((a) => a.pod.metadata.name), ['a', 'b']);
  });
});

describe('withCondition', () => {
  it('replaces the condition of its type, keeping lastTransitionTime when the status stays', () => {
    const list = [
      { type: 'Ready', status: 'True', lastTransitionTime: 'then' },
      { type: 'MemoryPressure', status: 'False' },
    ];
    assert.deepEqual(withCondition(list, { type: 'Ready', status: 'True', reason: 'x', lastTransitionTime: 'now' }), [
      { type: 'Ready', status: 'True', reason: 'x', lastTransitionTime: 'then' },
      { type: 'MemoryPressure', status: 'False' },
    ]);
    assert.equal(withCondition(list, { type: 'Ready', status: 'Unknown', lastTransitionTime: 'now' })[0].lastTransitionTime, 'now');
    assert.deepEqual(withCondition(undefined, { type: 'Ready', status: 'False' }), [{ type: 'Ready', status: 'False' }]);
  });
});
