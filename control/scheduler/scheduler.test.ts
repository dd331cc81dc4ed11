// Unit tests of the scheduler's pure core: demand, filters, scoring and Kubernetes' reason text.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Node, Pod } from '../../api/types.js';
import {
  account,
  DEFAULT_MEMORY,
  emptyUsage,
  filterReasons,
  nodeInfoOf,
  podDemand,
  sameForScheduling,
  schedule,
  tolerates,
  unschedulableMessage,
  type Candidate,
  type NodeUsage,
} from './scheduler.js';

interface NodeOpts {
  cpu?: string;
  memory?: string;
  pods?: string;
  ready?: boolean;
  unschedulable?: boolean;
  taints?: { key: string; value?: string; effect: string }[];
  labels?: Record<string, string>;
}

function node(name: string, o: NodeOpts = {}): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...o.labels } },
    spec: { ...(o.unschedulable ? { unschedulable: true } : {}), ...(o.taints ? { taints: o.taints } : {}) },
    status: {
      allocatable: { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: o.pods ?? '110' },
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
    },
  };
}

interface PodOpts {
  cpu?: string;
  memory?: string;
  containers?: number;
  hostPort?: number;
  protocol?: string;
  owner?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: unknown[];
  init?: { cpu?: string; memory?: string };
  affinity?: unknown;
}

function pod(name: string, o: PodOpts = {}): Pod {
  const requests: Record<string, string> = {};
  if (o.cpu) requests.cpu = o.cpu;
  if (o.memory) requests.memory = o.memory;
  const container = (i: number) => ({
    name: `c${i}`,
    image: 'x',
    ...(o.cpu || o.memory ? { resources: { requests } } : {}),
    ...(o.hostPort && i === 0 ? { ports: [{ containerPort: 80, hostPort: o.hostPort, ...(o.protocol ? { protocol: o.protocol } : {}) }] } : {}),
  });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      ...(o.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: o.owner, controller: true }] } : {}),
    },
    spec: {
      containers: Array.from({ length: o.containers ?? 1 }, (_, i) => container(i)),
      ...(o.init ? { initContainers: [{ name: 'init', image: 'x', resources: { requests: { ...o.init } } }] } : {}),
      ...(o.nodeSelector ? { nodeSelector: o.nodeSelector } : {}),
      ...(o.tolerations ? { tolerations: o.tolerations } : {}),
      ...(o.affinity ? { affinity: o.affinity } : {}),
    },
  };
}

/** A small cluster: nodes plus what is placed on them, fed the way the loop feeds the core. */
class Cluster {
  readonly candidates = new Map<string, Candidate>();
  add(n: Node): this {
    this.candidates.set(n.metadata.name!, { node: nodeInfoOf(n), usage: emptyUsage() });
    return this;
  }
  place(p: Pod, on: string): this {
    account(this.candidates.get(on)!.usage, podDemand(p), 1);
    return this;
  }
  usage(name: string): NodeUsage {
    return this.candidates.get(name)!.usage;
  }
  /** Schedules and places each pod in turn; returns the chosen node names. */
  run(pods: Pod[], strategy: 'spread' | 'binpack'): string[] {
    return pods.map((p) => {
      const d = schedule(p, podDemand(p), this.candidates.values(), strategy);
      if (d.node === undefined) throw new Error(d.message);
      this.place(p, d.node);
      return d.node;
    });
  }
}

function decide(p: Pod, c: Cluster, strategy: 'spread' | 'binpack' = 'spread') {
  return schedule(p, podDemand(p), c.candidates.values(), strategy);
}

describe('podDemand', () => {
  it('sums container requests in millicores and bytes', () => {
    const d = podDemand(pod('a', { cpu: '250m', memory: '64Mi', containers: 2 }));
    assert.deepEqual(d.requests, { milliCpu: 500, memory: 2 * 64 * 1024 * 1024 });
    assert.deepEqual(d.scoring, d.requests);
  });

  it('counts missing requests as 0 for fit and as the non-zero defaults for scoring', () => {
    const d = podDemand(pod('a', { containers: 2 }));
    assert.deepEqual(d.requests, { milliCpu: 0, memory: 0 });
    assert.deepEqual(d.scoring, { milliCpu: 200, memory: 2 * DEFAULT_MEMORY });
  });

  it('uses a limit as the request when only the limit is set', () => {
    const p = pod('a');
    p.spec.containers[0].resources = { limits: { cpu: '1', memory: '1Gi' } };
    assert.deepEqual(podDemand(p).requests, { milliCpu: 1000, memory: 1024 ** 3 });
  });

  it('takes the largest init container when it asks more than the containers together', () => {
    assert.deepEqual(podDemand(pod('a', { cpu: '100m', init: { cpu: '2' } })).requests, { milliCpu: 2000, memory: 0 });
    assert.deepEqual(podDemand(pod('a', { cpu: '3', init: { cpu: '2' } })).requests, { milliCpu: 3000, memory: 0 });
  });

  it('collects hostPorts with their protocol and the controller owner uid', () => {
    const d = podDemand(pod('a', { hostPort: 8080, owner: 'rs-1' }));
    assert.deepEqual(d.hostPorts, ['TCP/8080']);
    assert.equal(d.owner, 'rs-1');
    const p = pod('b');
    p.metadata.ownerReferences = [{ apiVersion: 'v1', kind: 'Thing', name: 't', uid: 'not-controller' }];
    assert.equal(podDemand(p).owner, undefined);
  });
});

describe('nodeInfoOf', () => {
  it('parses allocatable, readiness, cordon and the scheduling taints only', () => {
    const info = nodeInfoOf(node('n1', { cpu: '2500m', memory: '1Gi', pods: '3', unschedulable: true, taints: [{ key: 'a', effect: 'PreferNoSchedule' }, { key: 'b', value: 'v', effect: 'NoExecute' }] }));
    assert.deepEqual(info.allocatable, { milliCpu: 2500, memory: 1024 ** 3, pods: 3 });
    assert.equal(info.ready, true);
    assert.equal(info.unschedulable, true);
    assert.deepEqual(info.taints, [{ key: 'b', value: 'v', effect: 'NoExecute' }]);
  });

  it('treats a node without a Ready=True condition as not ready', () => {
    const n = node('n1');
    n.status!.conditions = [];
    assert.equal(nodeInfoOf(n).ready, false);
    assert.equal(nodeInfoOf(node('n2', { ready: false })).ready, false);
  });

  it('sees a heartbeat as no change and a cordon as one', () => {
    const a = node('n1');
    const b = structuredClone(a);
    b.status!.conditions![0].lastHeartbeatTime = '2026-01-01T00:00:10Z';
    assert.ok(sameForScheduling(nodeInfoOf(a), nodeInfoOf(b)));
    b.spec!.unschedulable = true;
    assert.ok(!sameForScheduling(nodeInfoOf(a), nodeInfoOf(b)));
  });
});

describe('tolerates (Kubernetes ToleratesTaint)', () => {
  const taint = { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' };
  it('matches Equal on key, value and effect', () => {
    assert.ok(tolerates({ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }, taint));
    assert.ok(tolerates({ key: 'dedicated', value: 'gpu' }, taint), 'operator defaults to Equal; an empty effect matches all');
    assert.ok(!tolerates({ key: 'dedicated', value: 'cpu' }, taint));
    assert.ok(!tolerates({ key: 'dedicated', value: 'gpu', effect: 'NoExecute' }, taint));
    assert.ok(!tolerates({ key: 'other', value: 'gpu' }, taint));
  });
  it('matches Exists on the key whatever the value; an empty key with Exists tolerates everything', () => {
    assert.ok(tolerates({ key: 'dedicated', operator: 'Exists' }, taint));
    assert.ok(tolerates({ operator: 'Exists' }, taint));
    assert.ok(!tolerates({ operator: 'Exists', effect: 'NoExecute' }, taint));
    assert.ok(!tolerates({ key: 'dedicated', operator: 'Sometimes' }, taint));
  });
});

describe('filters', () => {
  const fits = (p: Pod, n: Node, usage = emptyUsage()) => filterReasons(p, podDemand(p), nodeInfoOf(n), usage);

  it('rejects not-ready and cordoned nodes, unless the pod tolerates the unschedulable taint', () => {
    assert.deepEqual(fits(pod('a'), node('n', { ready: false })), ['node(s) were not ready']);
    assert.deepEqual(fits(pod('a'), node('n', { unschedulable: true })), ['node(s) were unschedulable']);
    const ds = pod('a', { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] });
    assert.deepEqual(fits(ds, node('n', { unschedulable: true })), []);
  });

  it('rejects NoSchedule and NoExecute taints the pod does not tolerate, naming the first', () => {
    const n = node('n', { taints: [{ key: 'soft', effect: 'PreferNoSchedule' }, { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }, { key: 'x', effect: 'NoExecute' }] });
    assert.deepEqual(fits(pod('a'), n), ['node(s) had untolerated taint {dedicated: gpu}']);
    const some = pod('a', { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }] });
    assert.deepEqual(fits(some, n), ['node(s) had untolerated taint {x: }']);
    const all = pod('a', { tolerations: [{ key: 'dedicated', operator: 'Exists' }, { key: 'x', operator: 'Exists', effect: 'NoExecute' }] });
    assert.deepEqual(fits(all, n), []);
  });

  it('requires every nodeSelector label', () => {
    const n = node('n', { labels: { disk: 'ssd', zone: 'a' } });
    assert.deepEqual(fits(pod('a', { nodeSelector: { disk: 'ssd' } }), n), []);
    assert.deepEqual(fits(pod('a', { nodeSelector: { disk: 'ssd', zone: 'b' } }), n), ["node(s) didn't match Pod's node affinity/selector"]);
  });

  it('honours required node affinity: terms ORed, expressions ANDed', () => {
    const n = node('n', { labels: { zone: 'a', gen: '5' } });
    const affinity = (exprs: unknown[][]) => ({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: exprs.map((e) => ({ matchExpressions: e })) } } });
    const ok = (exprs: unknown[][]) => fits(pod('a', { affinity: affinity(exprs) }), n).length === 0;
    assert.ok(ok([[{ key: 'zone', operator: 'In', values: ['a', 'b'] }]]));
    assert.ok(!ok([[{ key: 'zone', operator: 'NotIn', values: ['a'] }]]));
    assert.ok(ok([[{ key: 'zone', operator: 'NotIn', values: ['a'] }], [{ key: 'gen', operator: 'Gt', values: ['4'] }]]));
    assert.ok(!ok([[{ key: 'gen', operator: 'Lt', values: ['5'] }, { key: 'zone', operator: 'Exists' }]]));
    assert.ok(ok([[{ key: 'gpu', operator: 'DoesNotExist' }]]));
  });

  it('rejects a hostPort already taken with the same protocol only', () => {
    const usage = emptyUsage();
    account(usage, podDemand(pod('b', { hostPort: 8080 })), 1);
    assert.deepEqual(fits(pod('a', { hostPort: 8080 }), node('n'), usage), ["node(s) didn't have free ports for the requested pod ports"]);
    assert.deepEqual(fits(pod('a', { hostPort: 8080, protocol: 'UDP' }), node('n'), usage), []);
    assert.deepEqual(fits(pod('a', { hostPort: 8081 }), node('n'), usage), []);
  });

  it('checks cpu, memory and pod count against allocatable minus what is requested, reporting each', () => {
    const n = node('n', { cpu: '1', memory: '1Gi', pods: '2' });
    const usage = emptyUsage();
    account(usage, podDemand(pod('b', { cpu: '600m', memory: '600Mi' })), 1);
    assert.deepEqual(fits(pod('a', { cpu: '400m', memory: '424Mi' }), n, usage), [], 'exactly full fits');
    assert.deepEqual(fits(pod('a', { cpu: '401m' }), n, usage), ['Insufficient cpu']);
    assert.deepEqual(fits(pod('a', { cpu: '2', memory: '2Gi' }), n, usage), ['Insufficient cpu', 'Insufficient memory']);
    account(usage, podDemand(pod('c')), 1);
    assert.deepEqual(fits(pod('a'), n, usage), ['Too many pods']);
  });

  it('lets pods without requests fit however much the others requested', () => {
    const n = node('n', { cpu: '1', memory: '1Gi' });
    const usage = emptyUsage();
    account(usage, podDemand(pod('b', { cpu: '1', memory: '1Gi' })), 1);
    assert.deepEqual(fits(pod('a'), n, usage), []);
  });

  it('frees what a pod took when it is removed', () => {
    const usage = emptyUsage();
    const d = podDemand(pod('b', { cpu: '1', hostPort: 80, owner: 'rs' }));
    account(usage, d, 1);
    account(usage, d, -1);
    assert.deepEqual(usage, emptyUsage());
  });
});

describe('unschedulable message', () => {
  it('counts nodes per reason and sorts the "N reason" strings as Kubernetes does', () => {
    const c = new Cluster()
      .add(node('a', { unschedulable: true }))
      .add(node('b', { memory: '1Gi' }))
      .add(node('c', { memory: '1Gi' }));
    const d = decide(pod('p', { memory: '2Gi' }), c);
    assert.equal(d.node, undefined);
    assert.equal((d as { message: string }).message, '0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient memory.');
  });

  it('counts a node short of cpu and memory under both reasons', () => {
    const c = new Cluster().add(node('a', { cpu: '1', memory: '1Gi' })).add(node('b', { cpu: '1', memory: '1Gi', taints: [{ key: 'k', value: 'v', effect: 'NoSchedule' }] }));
    const d = decide(pod('p', { cpu: '1000', memory: '2Gi' }), c);
    assert.equal((d as { message: string }).message, '0/2 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 node(s) had untolerated taint {k: v}.');
  });

  it('says 2 Insufficient cpu for a pod asking 1000 CPUs of two nodes', () => {
    const c = new Cluster().add(node('a')).add(node('b'));
    assert.equal((decide(pod('p', { cpu: '1000' }), c) as { message: string }).message, '0/2 nodes are available: 2 Insufficient cpu.');
  });

  it('sorts as strings (so 10 comes before 2), and says so when there are no nodes', () => {
    assert.equal(unschedulableMessage(12, new Map([['Insufficient cpu', 2], ['node(s) were not ready', 10]])), '0/12 nodes are available: 10 node(s) were not ready, 2 Insufficient cpu.');
    assert.equal(unschedulableMessage(0, new Map()), 'no nodes available to schedule pods');
  });
});

describe('scoring', () => {
  it('spread: puts a pod on the least allocated node', () => {
    const c = new Cluster().add(node('a')).add(node('b')).place(pod('x', { cpu: '2' }), 'a');
    assert.equal(decide(pod('p', { cpu: '100m' }), c).node, 'b');
  });

  it('spread: breaks ties by node name, so the answer is deterministic', () => {
    const c = new Cluster().add(node('b')).add(node('a')).add(node('c'));
    assert.equal(decide(pod('p', { cpu: '100m' }), c).node, 'a');
  });

  it('spread: 4 replicas of one owner go 2/2 on two equal nodes, also without requests', () => {
    for (const cpu of ['100m', undefined]) {
      const c = new Cluster().add(node('a')).add(node('b'));
      const placed = c.run([1, 2, 3, 4].map((i) => pod(`p${i}`, { cpu, owner: 'rs' })), 'spread');
      assert.deepEqual(placed.sort(), ['a', 'a', 'b', 'b']);
    }
  });

  it('spread: prefers a node with fewer pods of the same owner over a somewhat emptier node', () => {
    // b is emptier, but already holds a replica of the owner; a holds unrelated pods.
    const c = new Cluster().add(node('a')).add(node('b')).place(pod('x', { cpu: '1500m' }), 'a').place(pod('r1', { cpu: '100m', owner: 'rs' }), 'b');
    assert.equal(decide(pod('p', { cpu: '100m', owner: 'rs' }), c).node, 'a');
    // Without an owner, least allocated wins.
    assert.equal(decide(pod('q', { cpu: '100m' }), c).node, 'b');
  });

  it('binpack: fills one node while the pods fit, then opens the next', () => {
    const c = new Cluster().add(node('a', { cpu: '1' })).add(node('b', { cpu: '1' }));
    const placed = c.run([1, 2, 3, 4, 5, 6].map((i) => pod(`p${i}`, { cpu: '250m', owner: 'rs' })), 'binpack');
    assert.deepEqual(placed, ['a', 'a', 'a', 'a', 'b', 'b']);
  });

  it('binpack: prefers the fuller node that still fits', () => {
    const c = new Cluster().add(node('a')).add(node('b')).place(pod('x', { cpu: '3' }), 'b');
    assert.equal(decide(pod('p', { cpu: '500m' }), c, 'binpack').node, 'b');
    assert.equal(decide(pod('p', { cpu: '1500m' }), c, 'binpack').node, 'a');
  });

  it('binpack works without requests too (non-zero defaults)', () => {
    const c = new Cluster().add(node('a')).add(node('b')).place(pod('x'), 'b');
    assert.equal(decide(pod('p'), c, 'binpack').node, 'b');
    assert.equal(decide(pod('p'), c, 'spread').node, 'a');
  });

  it('never picks an infeasible node however good its score', () => {
    const c = new Cluster().add(node('a', { unschedulable: true })).add(node('b')).place(pod('x', { cpu: '3' }), 'b');
    assert.equal(decide(pod('p', { cpu: '500m' }), c).node, 'b');
  });
});
