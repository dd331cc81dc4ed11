// Deployments end to end with the real kubectl, `tug control` (scheduler and controllers) and a
// `tug node` running pods with the process runtime: bring-up, scaling, self-healing, rolling
// updates within maxSurge/maxUnavailable, history and undo, a stalled rollout, and bad input.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ApiClient } from '../../api/client.js';
import { Informer } from '../../api/informer.js';
import { readKubeconfig } from '../../api/kubeconfig.js';
import { resourceOfKind } from '../../api/resources.js';
import type { Pod } from '../../api/types.js';
import { NodeCluster, pidsWith, webDeployment } from './node-support.js';
import { needs } from '../requirements.js';

const POD = resourceOfKind('Pod');

function isReady(p: Pod): boolean {
  return !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
}

describe('deployments', { ...(await needs('kubectl')), timeout: 240_000 }, () => {
  const cluster = new NodeCluster();
  let client: ApiClient;
  let marker = '';

  before(async () => {
    await cluster.start();
    await cluster.startNode({ name: 'w1', portRange: '24100-24199' });
    client = new ApiClient(readKubeconfig(cluster.control.kubeconfig));
    marker = cluster.marker('web');
  });
  after(async () => {
    client?.close();
    await cluster.cleanup();
  });

  const web = (replicas: number, extra: Parameters<typeof webDeployment>[2] extends infer O ? Partial<O> : never = {}) =>
    webDeployment('web', replicas, { marker, flag: cluster.flag(marker), readiness: '/', grace: 2, ...extra });

  /** The deployment's pods: those not being deleted, and all. */
  async function pods(): Promise<{ active: Pod[]; all: Pod[] }> {
    const list = await client.list<Pod>(POD, 'default', { labelSelector: 'app=web' });
    return { active: list.items.filter((p) => !p.metadata.deletionTimestamp), all: list.items };
  }

  /** Waits until exactly `n` pods exist (terminated ones gone) and all are Running and Ready. */
  function converged(n: number) {
    return cluster.waitFor(`${n} ready pods`, async () => {
      const { active, all } = await pods();
      // Both counts: right after a delete, the terminating pod and the survivors can make n
      // before the replacement exists.
      return all.length === n && active.length === n && active.every((p) => p.status?.phase === 'Running' && isReady(p)) ? active : undefined;
    }, 300);
  }

  it('brings up 3 replicas, Running and Ready', async (t) => {
    const started = Date.now();
    await cluster.apply(web(3, { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } }));
    const ready = await converged(3);
    t.diagnostic(`3 replicas Ready ${Date.now() - started} ms after kubectl apply`);
    assert.ok(ready.every((p) => p.spec.nodeName === 'w1'));
    const rs = await cluster.kubectl(['get', 'rs', '-l', 'app=web', '-o', 'jsonpath={.items[*].metadata.annotations.deployment\\.kubernetes\\.io/revision}']);
    assert.equal(rs.stdout, '1');
    const status = await cluster.kubectl(['rollout', 'status', 'deploy/web', '--timeout=30s']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /successfully rolled out/);
  });

  it('scales to 8 and back to 2, ending with exactly as many pods as asked', async (t) => {
    for (const n of [8, 2]) {
      const started = Date.now();
      const r = await cluster.kubectl(['scale', 'deploy/web', `--replicas=${n}`]);
      assert.equal(r.code, 0, r.stderr);
      await converged(n);
      t.diagnostic(`scaled to ${n} in ${Date.now() - started} ms`);
    }
    const events = await cluster.eventsFor('web');
    assert.ok(events.some((e) => e.reason === 'ScalingReplicaSet' && /Scaled up replica set web-\w+ from 3 to 8/.test(e.message)), JSON.stringify(events));
    assert.ok(events.some((e) => e.reason === 'ScalingReplicaSet' && /Scaled down replica set web-\w+ from 8 to 2/.test(e.message)));
  });

  it('heals: a killed process restarts in place, a deleted pod is replaced', async () => {
    const [victim] = (await pods()).active;
    // The app's own process, not the runtime's shell shim around it.
    const pidsOfVictim = pidsWith(marker).filter((p) => fileOf(`/proc/${p}/environ`).includes(`HOSTNAME=${victim.metadata.name}\0`) && !fileOf(`/proc/${p}/cmdline`).includes('tugboat-shim'));
    assert.equal(pidsOfVictim.length, 1, 'found the pod process');
    process.kill(pidsOfVictim[0], 'SIGKILL');
    await cluster.waitFor('restart counted', async () => {
      const p = await cluster.podJson(victim.metadata.name!);
      return p.status.containerStatuses?.[0]?.restartCount >= 1 && isReady(p) ? true : undefined;
    }, 300);

    const del = await cluster.kubectl(['delete', 'pod', victim.metadata.name!, '--wait=false']);
    assert.equal(del.code, 0, del.stderr);
    const replaced = await converged(2);
    assert.ok(!replaced.some((p) => p.metadata.name === victim.metadata.name));
  });

  it('rolls out a template change within maxSurge 1 / maxUnavailable 0, records history, and undoes it', async (t) => {
    // Watch every pod change during the rollout: count pods that exist and those that serve.
    let maxPods = 0;
    let minReady = Infinity;
    /** The pods as seen when fewest were ready, for the failure message. */
    let atMinimum = '';
    const seen = new Informer<Pod>(client, POD, {
      onAdd: () => measure(),
      onUpdate: () => measure(),
      onDelete: () => measure(),
    }, { namespace: 'default', labelSelector: 'app=web' });
    const measure = () => {
      const live = seen.list().filter((p) => !p.metadata.deletionTimestamp);
      maxPods = Math.max(maxPods, live.length);
      const ready = live.filter(isReady).length;
      if (seen.hasSynced() && ready < minReady) {
        minReady = ready;
        atMinimum = live.map((p) => `${p.metadata.name} rv ${p.metadata.resourceVersion} ready ${isReady(p)} restarts ${p.status?.containerStatuses?.[0]?.restartCount ?? 0}`).join('; ');
      }
    };
    seen.start();
    await seen.waitForSync();
    measure();
    try {
      const set = await cluster.kubectl(['set', 'env', 'deploy/web', 'GREETING=two']);
      assert.equal(set.code, 0, set.stderr);
      const status = await cluster.kubectl(['rollout', 'status', 'deploy/web', '--timeout=60s']);
      assert.equal(status.code, 0, status.stdout + status.stderr);
      const now = await converged(2);
      assert.ok(now.every((p) => p.spec.containers[0].env?.some((e) => e.name === 'GREETING' && e.value === 'two')));
    } finally {
      await seen.stop();
    }
    t.diagnostic(`during the rollout: at most ${maxPods} pods, at least ${minReady} ready (replicas 2, maxSurge 1, maxUnavailable 0)`);
    assert.ok(maxPods <= 3, `at most replicas + maxSurge = 3 pods, saw ${maxPods}`);
    assert.ok(minReady >= 2, `at least replicas - maxUnavailable = 2 ready, saw ${minReady}: ${atMinimum}`);

    const history = await cluster.kubectl(['rollout', 'history', 'deploy/web']);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /^1\s/m);
    assert.match(history.stdout, /^2\s/m);

    const undo = await cluster.kubectl(['rollout', 'undo', 'deploy/web']);
    assert.equal(undo.code, 0, undo.stderr);
    assert.match(undo.stdout, /rolled back/);
    const status = await cluster.kubectl(['rollout', 'status', 'deploy/web', '--timeout=60s']);
    assert.equal(status.code, 0, status.stderr);
    const back = await converged(2);
    assert.ok(back.every((p) => !p.spec.containers[0].env?.some((e) => e.name === 'GREETING')), 'the previous template is back');
    const rs = await cluster.kubectl(['get', 'rs', '-l', 'app=web', '-o', 'json']);
    const sets = JSON.parse(rs.stdout).items as { spec: { replicas: number }; metadata: { annotations: Record<string, string> } }[];
    assert.equal(sets.length, 2, 'undo reuses the first ReplicaSet');
    assert.deepEqual(sets.map((s) => [s.metadata.annotations['deployment.kubernetes.io/revision'], s.spec.replicas]).sort(), [['2', 0], ['3', 2]]);
  });

  it('a rollout whose pods never get ready stalls, keeps the old pods serving, and reports ProgressDeadlineExceeded', async () => {
    const before = (await pods()).active.map((p) => p.metadata.name).sort();
    const patch = { spec: { progressDeadlineSeconds: 3, template: { spec: { containers: [{ name: 'web', readinessProbe: { httpGet: { path: '/never', port: 1 }, periodSeconds: 1 } }] } } } };
    const r = await cluster.kubectl(['patch', 'deploy/web', '-p', JSON.stringify(patch)]);
    assert.equal(r.code, 0, r.stderr);
    const status = await cluster.kubectl(['rollout', 'status', 'deploy/web', '--timeout=60s']);
    assert.notEqual(status.code, 0);
    assert.match(status.stderr, /exceeded its progress deadline/);
    const d = JSON.parse((await cluster.kubectl(['get', 'deploy', 'web', '-o', 'json'])).stdout);
    const progressing = d.status.conditions.find((c: { type: string }) => c.type === 'Progressing');
    assert.equal(progressing.reason, 'ProgressDeadlineExceeded');
    const { active } = await pods();
    const old = active.filter((p) => before.includes(p.metadata.name));
    assert.equal(old.length, 2, 'the old pods are still there');
    assert.ok(old.every(isReady), 'and still ready');
    const undo = await cluster.kubectl(['rollout', 'undo', 'deploy/web']);
    assert.equal(undo.code, 0, undo.stderr);
    await converged(2);
  });

  it('pause holds a template change back, resume rolls it out; rollout restart and Recreate replace every pod', async () => {
    const rsNames = async () => JSON.parse((await cluster.kubectl(['get', 'rs', '-l', 'app=web', '-o', 'json'])).stdout).items.map((r: { metadata: { name: string } }) => r.metadata.name).sort();
    assert.equal((await cluster.kubectl(['rollout', 'pause', 'deploy/web'])).code, 0);
    const before = await rsNames();
    const set = await cluster.kubectl(['set', 'image', 'deploy/web', 'web=local/echo:2']);
    assert.equal(set.code, 0, set.stderr);
    const paused = await cluster.waitFor('paused condition', async () => {
      const d = JSON.parse((await cluster.kubectl(['get', 'deploy', 'web', '-o', 'json'])).stdout);
      return d.status.observedGeneration === d.metadata.generation ? d : undefined;
    });
    assert.equal(paused.status.conditions.find((c: { type: string }) => c.type === 'Progressing').reason, 'DeploymentPaused');
    assert.deepEqual(await rsNames(), before, 'no new ReplicaSet while paused');
    assert.equal((await cluster.kubectl(['rollout', 'resume', 'deploy/web'])).code, 0);
    const resumed = await cluster.kubectl(['rollout', 'status', 'deploy/web', '--timeout=60s']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.ok((await converged(2)).every((p) => p.spec.containers[0].image === 'local/echo:2'));

    const old = (await pods()).active.map((p) => p.metadata.name);
    assert.equal((await cluster.kubectl(['rollout', 'restart', 'deploy/web'])).code, 0);
    const restarted = await cluster.kubectl(['rollout', 'status', 'deploy/web', '--timeout=60s']);
    assert.equal(restarted.code, 0, restarted.stderr);
    const fresh = await converged(2);
    assert.ok(fresh.every((p) => !old.includes(p.metadata.name) && p.metadata.annotations?.['kubectl.kubernetes.io/restartedAt']));

    // Recreate: every old pod is gone before a new one starts.
    const strategy = { spec: { strategy: { type: 'Recreate', rollingUpdate: null } } };
    assert.equal((await cluster.kubectl(['patch', 'deploy/web', '-p', JSON.stringify(strategy)])).code, 0);
    let overlap = false;
    const current = new Set(fresh.map((p) => p.metadata.name));
    const watch = new Informer<Pod>(client, POD, {
      onAdd: (p) => {
        if (!current.has(p.metadata.name!) && watch.list().some((o) => current.has(o.metadata.name!) && o.status?.phase === 'Running' && !o.metadata.deletionTimestamp)) overlap = true;
      },
    }, { namespace: 'default', labelSelector: 'app=web' });
    watch.start();
    await watch.waitForSync();
    try {
      assert.equal((await cluster.kubectl(['set', 'env', 'deploy/web', 'MODE=recreate'])).code, 0);
      const done = await cluster.kubectl(['rollout', 'status', 'deploy/web', '--timeout=60s']);
      assert.equal(done.code, 0, done.stderr);
      await converged(2);
    } finally {
      await watch.stop();
    }
    assert.equal(overlap, false, 'no new pod while an old one still ran');
    const back = { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } } };
    assert.equal((await cluster.kubectl(['patch', 'deploy/web', '-p', JSON.stringify(back)])).code, 0);
  });

  it('rejects bad input with 422 naming the field, and changes nothing', async () => {
    const before = JSON.parse((await cluster.kubectl(['get', 'deploy', 'web', '-o', 'json'])).stdout);
    const cases: [unknown, RegExp][] = [
      [{ spec: { replicas: -1 } }, /spec\.replicas: Invalid value: -1: must be greater than or equal to 0/],
      [{ spec: { selector: { matchLabels: { app: 'other' } }, template: { metadata: { labels: { app: 'other' } } } } }, /spec\.selector: Invalid value: .*field is immutable/],
      [{ spec: { strategy: { rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } } } }, /spec\.strategy\.rollingUpdate\.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0/],
    ];
    for (const [patch, message] of cases) {
      const r = await cluster.kubectl(['patch', 'deploy/web', '-p', JSON.stringify(patch)]);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, /is invalid/);
      assert.match(r.stderr, message);
    }
    const after = JSON.parse((await cluster.kubectl(['get', 'deploy', 'web', '-o', 'json'])).stdout);
    assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion);
    assert.equal(after.metadata.generation, before.metadata.generation);
  });
  it('an orphaning delete leaves the pods running, and a re-applied Deployment adopts them', async () => {
    const before = (await pods()).active.map((p) => p.metadata.uid).sort();
    const rsBefore = JSON.parse((await cluster.kubectl(['get', 'rs', '-l', 'app=web', '-o', 'json'])).stdout).items.map((r: { metadata: { name: string } }) => r.metadata.name).sort();
    const current = JSON.parse((await cluster.kubectl(['get', 'deploy', 'web', '-o', 'json'])).stdout);
    const del = await cluster.kubectl(['delete', 'deploy', 'web', '--cascade=orphan']);
    assert.equal(del.code, 0, del.stderr);
    const orphaned = JSON.parse((await cluster.kubectl(['get', 'rs', '-l', 'app=web', '-o', 'json'])).stdout).items;
    assert.ok(orphaned.every((r: { metadata: { ownerReferences?: unknown[] } }) => !r.metadata.ownerReferences?.length));
    // The same Deployment again (a new object with the template the pods run).
    await cluster.apply({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: current.spec });
    const status = await cluster.kubectl(['rollout', 'status', 'deploy/web', '--timeout=60s']);
    assert.equal(status.code, 0, status.stderr);
    const after = (await converged(2)).map((p) => p.metadata.uid).sort();
    assert.deepEqual(after, before, 'the same pods, not new ones');
    const sets = JSON.parse((await cluster.kubectl(['get', 'rs', '-l', 'app=web', '-o', 'json'])).stdout).items;
    assert.deepEqual(sets.map((r: { metadata: { name: string } }) => r.metadata.name).sort(), rsBefore);
    assert.ok(sets.every((r: { metadata: { ownerReferences?: { kind: string; controller?: boolean }[] } }) => r.metadata.ownerReferences?.some((o) => o.kind === 'Deployment' && o.controller)));
  });
});

function fileOf(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
