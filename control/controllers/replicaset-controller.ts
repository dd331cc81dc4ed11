// The ReplicaSet controller's loop: pod and ReplicaSet events mark ReplicaSets dirty; one loop
// reconciles each and applies the plan. Expectations remember the pods it has just created or
// deleted until the informer shows them, so a second pass never acts twice on a stale cache.
import { isApiError } from '../../api/errors.js';
import { resourceOfKind } from '../../api/resources.js';
import type { Pod, ReplicaSet } from '../../api/types.js';
import type { EventRecorder } from './events.js';
import type { Controller, ControllerContext } from './manager.js';
import { adoptOrphans } from './adoption.js';
import { controllerOf } from './podutil.js';
import { keyOf, splitKey, WorkQueue } from './queue.js';
import { podFromTemplate, reconcileReplicaSet } from './replicaset.js';
import type { Informer } from '../../api/informer.js';

const POD = resourceOfKind('Pod');
const REPLICASET = resourceOfKind('ReplicaSet');
/** How long unconfirmed creations and deletions hold back further ones (Kubernetes: 5 min). */
const EXPECTATION_TIMEOUT_MS = 10_000;
const MAX_BURST = 64;

interface Expectation {
  creates: Set<string>;
  deletes: Set<string>;
  until: number;
}

export class ReplicaSetController implements Controller {
  readonly name = 'replicaset-controller';
  private readonly queue = new WorkQueue();
  private readonly replicaSets: Informer<ReplicaSet>;
  private readonly pods: Informer<Pod>;
  /** Pod keys by the uid of the object that controls them. */
  private readonly byOwner = new Map<string, Set<string>>();
  /** Pod keys without a controller, by namespace: adoption candidates. */
  private readonly orphans = new Map<string, Set<string>>();
  private readonly expectations = new Map<string, Expectation>();
  private readonly events: EventRecorder;

  constructor(private readonly ctx: ControllerContext) {
    this.events = ctx.events('replicaset-controller');
    this.replicaSets = ctx.informers.of<ReplicaSet>('ReplicaSet', {
      onAdd: (rs) => this.queue.add(keyOf(rs)),
      onUpdate: (_o, rs) => this.queue.add(keyOf(rs)),
      onDelete: (rs) => this.queue.add(keyOf(rs)),
    });
    this.pods = ctx.informers.of<Pod>('Pod', {
      onAdd: (p) => this.podChanged(undefined, p),
      onUpdate: (o, p) => this.podChanged(o, p),
      onDelete: (p) => this.podChanged(p, undefined),
    });
  }

  private podChanged(old: Pod | undefined, pod: Pod | undefined): void {
    for (const p of [old, pod]) if (p) this.unindex(p);
    if (pod) this.index(pod);
    const seen = pod ?? old!;
    const ref = controllerOf(seen);
    if (ref?.kind === 'ReplicaSet') {
      const key = `${seen.metadata.namespace}/${ref.name}`;
      const exp = this.expectations.get(key);
      if (exp) {
        if (pod && !old) exp.creates.delete(pod.metadata.name!);
        if (!pod || pod.metadata.deletionTimestamp) exp.deletes.delete(seen.metadata.name!);
      }
      // Only changes that matter to a ReplicaSet's count or status wake it.
      if (!old || !pod || old.metadata.deletionTimestamp !== pod.metadata.deletionTimestamp || JSON.stringify(old.status?.conditions) !== JSON.stringify(pod.status?.conditions) || old.status?.phase !== pod.status?.phase) {
        this.queue.add(key);
      }
    } else if (!ref && pod && !pod.metadata.deletionTimestamp) {
      for (const rs of this.replicaSets.list()) if (rs.metadata.namespace === pod.metadata.namespace) this.queue.add(keyOf(rs));
    }
  }

  private index(pod: Pod): void {
    const uid = controllerOf(pod)?.uid;
    const key = keyOf(pod);
    if (uid) getOrAdd(this.byOwner, uid).add(key);
    else getOrAdd(this.orphans, pod.metadata.namespace ?? '').add(key);
  }

  private unindex(pod: Pod): void {
    const uid = controllerOf(pod)?.uid;
    const key = keyOf(pod);
    const set = uid ? this.byOwner.get(uid) : this.orphans.get(pod.metadata.namespace ?? '');
    set?.delete(key);
    if (set && !set.size) (uid ? this.byOwner : this.orphans).delete(uid ?? pod.metadata.namespace ?? '');
  }

  private podsFor(rs: ReplicaSet): Pod[] {
    const keys = [...(this.byOwner.get(rs.metadata.uid!) ?? []), ...(this.orphans.get(rs.metadata.namespace ?? '') ?? [])];
    return keys.map((k) => {
      const { namespace, name } = splitKey(k);
      return this.pods.get(namespace, name);
    }).filter((p): p is Pod => !!p);
  }

  run(signal: AbortSignal): Promise<void> {
    return this.queue.run((key) => this.sync(key), signal, (key, e) => this.ctx.log(`replicaset ${key}: ${(e as Error).message}`));
  }

  private async sync(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const rs = this.replicaSets.get(namespace, name);
    if (!rs) {
      this.expectations.delete(key);
      return;
    }
    const now = Date.now();
    const plan = reconcileReplicaSet(rs, this.podsFor(rs), now);
    if (plan.adopt.length) {
      // Counting would include the orphans; act on the count once they are ours for sure.
      await adoptOrphans(this.ctx.client, REPLICASET, rs, POD, plan.adopt);
      this.queue.addAfter(key, 1000);
      this.ctx.metrics.reconciles.inc({ controller: this.name, result: 'adopted' });
      return;
    }
    let result = 'unchanged';
    const exp = this.expectations.get(key);
    const settled = !exp || (!exp.creates.size && !exp.deletes.size) || exp.until < now;
    if (settled && (plan.create || plan.delete.length)) {
      const next: Expectation = { creates: new Set(), deletes: new Set(plan.delete.map((p) => p.metadata.name!)), until: now + EXPECTATION_TIMEOUT_MS };
      this.expectations.set(key, next);
      await this.deletePods(rs, plan.delete, next);
      await this.createPods(rs, plan.create, next);
      result = 'changed';
    }
    if (plan.status) {
      await this.writeStatus(rs, plan.status);
      result = 'changed';
    }
    if (plan.requeueAfterMs !== undefined) this.queue.addAfter(key, plan.requeueAfterMs);
    if (!settled) this.queue.addAfter(key, Math.max(0, exp!.until - now));
    this.ctx.metrics.reconciles.inc({ controller: this.name, result });
  }

  /** Creates pods in growing batches (1, 2, 4, ...) so a template that cannot work fails fast. */
  private async createPods(rs: ReplicaSet, count: number, exp: Expectation): Promise<void> {
    let batch = 1;
    for (let done = 0; done < count; ) {
      const n = Math.min(batch, count - done, MAX_BURST);
      const results = await Promise.allSettled(Array.from({ length: n }, () => this.ctx.client.create<Pod>(POD, rs.metadata.namespace, podFromTemplate(rs))));
      for (const r of results) {
        if (r.status === 'fulfilled') {
          const podName = r.value.metadata.name!;
          if (!this.pods.get(rs.metadata.namespace, podName)) exp.creates.add(podName);
          this.events.record(rs, 'Normal', 'SuccessfulCreate', `Created pod: ${podName}`);
        }
      }
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) {
        this.events.record(rs, 'Warning', 'FailedCreate', `Error creating: ${(failed.reason as Error).message}`);
        throw failed.reason;
      }
      done += n;
      batch *= 2;
    }
  }

  private async deletePods(rs: ReplicaSet, pods: Pod[], exp: Expectation): Promise<void> {
    await Promise.all(
      pods.map(async (pod) => {
        try {
          await this.ctx.client.request('DELETE', this.ctx.client.pathFor(POD, pod.metadata.namespace, pod.metadata.name), { body: { preconditions: { uid: pod.metadata.uid } } });
          this.events.record(rs, 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name}`);
        } catch (e) {
          exp.deletes.delete(pod.metadata.name!);
          if (!(isApiError(e) && (e.code === 404 || e.code === 409))) throw e;
        }
      }),
    );
  }

  private async writeStatus(rs: ReplicaSet, status: NonNullable<ReplicaSet['status']>): Promise<void> {
    try {
      await this.ctx.client.update(REPLICASET, { ...rs, status }, 'status');
    } catch (e) {
      // A newer version is on its way through the informer and will be reconciled again.
      if (isApiError(e) && (e.code === 409 || e.code === 404)) return;
      throw e;
    }
  }
}

function getOrAdd<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set;
}
