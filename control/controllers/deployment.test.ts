import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Deployment, ReplicaSet } from '../../api/types.js';
import { reconcileDeployment, REVISION, rollingLimits, templateHash, TEMPLATE_HASH } from './deployment.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');

function deployment(replicas: number, env = '1', strategy: Deployment['spec']['strategy'] = { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } }): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', uid: 'd-uid', generation: 1, annotations: { 'kubernetes.io/change-cause': 'first' } },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'i', env: [{ name: 'V', value: env }] }] } },
      strategy,
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 60,
    },
  };
}

/** Stores what a plan creates and updates, as the API would; ReplicaSets get a creation time. */
function apply(rss: ReplicaSet[], plan: ReturnType<typeof reconcileDeployment>, now: number): ReplicaSet[] {
  let next = rss.map((rs) => plan.update.find((u) => u.metadata.name === rs.metadata.name) ?? rs);
  next = next.filter((rs) => !plan.delete.some((d) => d.metadata.name === rs.metadata.name));
  if (plan.create) next.push({ ...structuredClone(plan.create), metadata: { ...plan.create.metadata, uid: `rs-${next.length}`, creationTimestamp: new Date(now).toISOString() }, status: {} });
  return next;
}

/** The ReplicaSet controller and nodes, idealised: pods appear at once and become available one step later. */
function settle(rss: ReplicaSet[], readyTemplate: (rs: ReplicaSet) => boolean): ReplicaSet[] {
  return rss.map((rs) => {
    const want = rs.spec.replicas ?? 0;
    const had = rs.status?.replicas ?? 0;
    const avail = readyTemplate(rs) ? Math.min(want, had) : 0;
    return { ...rs, status: { replicas: want, readyReplicas: avail, availableReplicas: avail, observedGeneration: 1 } };
  });
}

describe('templateHash', () => {
  it('ignores the pod-template-hash label and empty or null fields, not real changes', () => {
    const a = deployment(1).spec.template;
    const b = structuredClone(a);
    b.metadata!.labels![TEMPLATE_HASH] = 'xyz';
    b.metadata!.creationTimestamp = null;
    b.spec.containers[0].resources = {};
    assert.equal(templateHash(a), templateHash(b));
    assert.notEqual(templateHash(a), templateHash(deployment(1, '2').spec.template));
    assert.match(templateHash(a), /^[bcdfghjklmnpqrstvwxz2456789]{6,10}$/);
  });
});

describe('rollingLimits', () => {
  it('rounds surge up and unavailability down; never both zero', () => {
    assert.deepEqual(rollingLimits(deployment(10)), { maxSurge: 3, maxUnavailable: 2 });
    assert.deepEqual(rollingLimits(deployment(2)), { maxSurge: 1, maxUnavailable: 0 });
    assert.deepEqual(rollingLimits(deployment(4, '1', { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } })), { maxSurge: 0, maxUnavailable: 1 });
    assert.deepEqual(rollingLimits(deployment(4, '1', { type: 'RollingUpdate', rollingUpdate: { maxSurge: 2, maxUnavailable: '50%' } })), { maxSurge: 2, maxUnavailable: 2 });
  });
});

describe('reconcileDeployment', () => {
  it('creates the first ReplicaSet: hash label and selector, revision 1, controller reference, copied annotations', () => {
    const plan = reconcileDeployment(deployment(3), [], T0);
    const rs = plan.create!;
    const hash = templateHash(deployment(3).spec.template);
    assert.equal(rs.metadata.name, `web-${hash}`);
    assert.equal(rs.spec.replicas, 3);
    assert.equal(rs.metadata.annotations?.[REVISION], '1');
    assert.equal(rs.metadata.annotations?.['kubernetes.io/change-cause'], 'first');
    assert.equal(rs.spec.selector.matchLabels?.[TEMPLATE_HASH], hash);
    assert.equal(rs.spec.template?.metadata?.labels?.[TEMPLATE_HASH], hash);
    assert.deepEqual(rs.metadata.ownerReferences?.[0], { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd-uid', controller: true, blockOwnerDeletion: true });
    assert.equal(plan.revision, '1');
    assert.equal(plan.status?.conditions?.find((c) => c.type === 'Progressing')?.reason, 'NewReplicaSetCreated');
  });

  for (const [surge, unavailable, replicas] of [
    [1, 0, 4],
    [0, 1, 4],
    ['25%', '25%', 8],
    [2, 2, 5],
    [3, 0, 3],
  ] as const) {
    it(`rolls out within maxSurge ${surge} / maxUnavailable ${unavailable} of ${replicas} replicas, and finishes`, () => {
      const strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: surge, maxUnavailable: unavailable } };
      let d = deployment(replicas, '1', strategy);
      let rss: ReplicaSet[] = [];
      let now = T0;
      // Bring revision 1 up.
      for (let i = 0; i < 10; i++) {
        const plan = reconcileDeployment(d, rss, now);
        rss = settle(apply(rss, plan, now), () => true);
        if (plan.status) d = { ...d, status: plan.status };
        now += 1000;
      }
      assert.equal(d.status?.availableReplicas, replicas);
      const limits = rollingLimits(d);
      d = { ...deployment(replicas, '2', strategy), status: d.status, metadata: { ...d.metadata, generation: 2 } };
      let maxPods = 0;
      let minAvailable = Infinity;
      for (let i = 0; i < 50; i++) {
        const plan = reconcileDeployment(d, rss, now);
        rss = settle(apply(rss, plan, now), () => true);
        if (plan.status) d = { ...d, status: plan.status };
        maxPods = Math.max(maxPods, rss.reduce((n, rs) => n + (rs.spec.replicas ?? 0), 0));
        minAvailable = Math.min(minAvailable, rss.reduce((n, rs) => n + (rs.status?.availableReplicas ?? 0), 0));
        now += 1000;
      }
      assert.ok(maxPods <= replicas + limits.maxSurge, `at most ${replicas + limits.maxSurge} pods, saw ${maxPods}`);
      assert.ok(minAvailable >= replicas - limits.maxUnavailable, `at least ${replicas - limits.maxUnavailable} available, saw ${minAvailable}`);
      const newHash = templateHash(d.spec.template);
      assert.deepEqual(rss.map((rs) => [rs.metadata.labels?.[TEMPLATE_HASH] === newHash, rs.spec.replicas]).sort(), [[false, 0], [true, replicas]]);
      assert.equal(d.status?.updatedReplicas, replicas);
      assert.equal(d.status?.conditions?.find((c) => c.type === 'Progressing')?.reason, 'NewReplicaSetAvailable');
      assert.equal(d.metadata.annotations?.[REVISION] ?? rss.find((rs) => rs.metadata.labels?.[TEMPLATE_HASH] === newHash)?.metadata.annotations?.[REVISION], '2');
    });
  }

  it('keeps the old pods when the new ones never become ready, then reports ProgressDeadlineExceeded', () => {
    const strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
    let d = deployment(2, '1', strategy);
    let rss: ReplicaSet[] = [];
    let now = T0;
    for (let i = 0; i < 5; i++) {
      const plan = reconcileDeployment(d, rss, now);
      rss = settle(apply(rss, plan, now), () => true);
      if (plan.status) d = { ...d, status: plan.status };
    }
    d = { ...deployment(2, 'broken', strategy), status: d.status, metadata: { ...d.metadata, generation: 2 } };
    const goodHash = templateHash(deployment(2, '1').spec.template);
    let requeue: number | undefined;
    for (let i = 0; i < 70; i++) {
      const plan = reconcileDeployment(d, rss, now);
      rss = settle(apply(rss, plan, now), (rs) => rs.metadata.labels?.[TEMPLATE_HASH] === goodHash);
      if (plan.status) d = { ...d, status: plan.status };
      requeue = plan.requeueAfterMs;
      now += 1000;
    }
    const progressing = d.status?.conditions?.find((c) => c.type === 'Progressing');
    assert.equal(progressing?.status, 'False');
    assert.equal(progressing?.reason, 'ProgressDeadlineExceeded');
    assert.equal(requeue, undefined);
    const old = rss.find((rs) => rs.metadata.labels?.[TEMPLATE_HASH] === goodHash)!;
    assert.equal(old.spec.replicas, 2, 'the old pods keep serving');
    assert.equal(d.status?.availableReplicas, 2);
  });

  it('Recreate scales the old ReplicaSet to zero first and creates the new one once its pods are gone', () => {
    const strategy = { type: 'Recreate' };
    const d = deployment(3, '2', strategy);
    const old: ReplicaSet = { ...structuredClone(reconcileDeployment(deployment(3, '1', strategy), [], T0).create!), status: { replicas: 3, availableReplicas: 3 } };
    old.metadata.uid = 'old';
    const first = reconcileDeployment(d, [old], T0);
    assert.equal(first.create, undefined);
    assert.deepEqual(first.update.map((rs) => rs.spec.replicas), [0]);
    const gone = { ...first.update[0], status: { replicas: 0, observedGeneration: 1 } };
    const second = reconcileDeployment(d, [gone], T0);
    assert.equal(second.create?.spec.replicas, 3);
    assert.equal(second.create?.metadata.annotations?.[REVISION], '2');
  });

  it('rollout undo makes the old ReplicaSet current again with the next revision, creating nothing', () => {
    const v1 = { ...structuredClone(reconcileDeployment(deployment(2, '1'), [], T0).create!), status: { replicas: 0 } };
    v1.spec.replicas = 0;
    v1.metadata.creationTimestamp = '2026-01-01T00:00:00Z';
    const v2 = { ...structuredClone(reconcileDeployment(deployment(2, '2'), [], T0).create!), status: { replicas: 2, availableReplicas: 2 } };
    v2.metadata.annotations![REVISION] = '2';
    v2.metadata.creationTimestamp = '2026-01-01T00:01:00Z';
    // What `kubectl rollout undo` writes: revision 1's template without the hash label.
    const undone = deployment(2, '1');
    undone.spec.template = structuredClone(v1.spec.template!);
    delete undone.spec.template.metadata!.labels![TEMPLATE_HASH];
    const plan = reconcileDeployment(undone, [v1, v2], T0);
    assert.equal(plan.create, undefined);
    const revived = plan.update.find((rs) => rs.metadata.name === v1.metadata.name)!;
    assert.equal(revived.metadata.annotations?.[REVISION], '3');
    assert.equal(revived.spec.replicas, 1, 'scaled up within maxSurge');
    assert.equal(plan.revision, '3');
  });

  it('prunes idle old ReplicaSets beyond revisionHistoryLimit, oldest revisions first', () => {
    const d = deployment(1);
    d.spec.revisionHistoryLimit = 1;
    const current = { ...structuredClone(reconcileDeployment(d, [], T0).create!), status: { replicas: 1, availableReplicas: 1, readyReplicas: 1 } };
    current.metadata.annotations![REVISION] = '4';
    const idle = [1, 2, 3].map((r) => {
      const rs = structuredClone(reconcileDeployment(deployment(1, `v${r}`), [], T0).create!);
      rs.spec.replicas = 0;
      rs.status = { replicas: 0 };
      rs.metadata.annotations![REVISION] = String(r);
      return rs;
    });
    const plan = reconcileDeployment(d, [...idle, current], T0);
    assert.deepEqual(plan.delete.map((rs) => rs.metadata.annotations?.[REVISION]), ['1', '2']);
  });

  it('starts no rollout while paused, but still scales', () => {
    const d = deployment(5, '2');
    d.spec.paused = true;
    const old = { ...structuredClone(reconcileDeployment(deployment(3, '1'), [], T0).create!), status: { replicas: 3, availableReplicas: 3 } };
    const plan = reconcileDeployment(d, [old], T0);
    assert.equal(plan.create, undefined);
    assert.deepEqual(plan.update.map((rs) => rs.spec.replicas), [5]);
    assert.equal(plan.status?.conditions?.find((c) => c.type === 'Progressing')?.reason, 'DeploymentPaused');
  });

  it('scales a settled Deployment straight up and down', () => {
    const rs = { ...structuredClone(reconcileDeployment(deployment(3), [], T0).create!), status: { replicas: 3, availableReplicas: 3 } };
    assert.deepEqual(reconcileDeployment(deployment(8), [rs], T0).update.map((r) => r.spec.replicas), [8]);
    assert.deepEqual(reconcileDeployment(deployment(2), [rs], T0).update.map((r) => r.spec.replicas), [2]);
  });
});
