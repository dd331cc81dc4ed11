// The Deployment controller's loop: Deployment and ReplicaSet events mark Deployments dirty; one
// loop plans each with reconcileDeployment and applies the plan through the API. Every write is
// compare-and-swap against the cached version, so a stale cache costs a retry, never a wrong write.
import { isApiError } from '../../api/errors.js';
import type { Informer } from '../../api/informer.js';
import { resourceOfKind } from '../../api/resources.js';
import type { Deployment, ReplicaSet } from '../../api/types.js';
import { reconcileDeployment, REVISION } from './deployment.js';
import type { EventRecorder } from './events.js';
import type { Controller, ControllerContext } from './manager.js';
import { adoptOrphans } from './adoption.js';
import { controllerOf } from './podutil.js';
import { fromLabelSelector, matchesLabels } from '../../api/selectors.js';
import { keyOf, splitKey, WorkQueue } from './queue.js';

const DEPLOYMENT = resourceOfKind('Deployment');
const REPLICASET = resourceOfKind('ReplicaSet');

export class DeploymentController implements Controller {
  readonly name = 'deployment-controller';
  private readonly queue = new WorkQueue();
  private readonly deployments: Informer<Deployment>;
  private readonly replicaSets: Informer<ReplicaSet>;
  private readonly events: EventRecorder;

  constructor(private readonly ctx: ControllerContext) {
    this.events = ctx.events('deployment-controller');
    const enqueue = (d: Deployment) => this.queue.add(keyOf(d));
    this.deployments = ctx.informers.of<Deployment>('Deployment', { onAdd: enqueue, onUpdate: (_o, d) => enqueue(d), onDelete: enqueue });
    const owner = (rs: ReplicaSet) => {
      const ref = controllerOf(rs);
      if (ref?.kind === 'Deployment') this.queue.add(`${rs.metadata.namespace}/${ref.name}`);
      else if (!ref) for (const d of this.deployments.list()) if (d.metadata.namespace === rs.metadata.namespace) this.queue.add(keyOf(d));
    };
    this.replicaSets = ctx.informers.of<ReplicaSet>('ReplicaSet', { onAdd: owner, onUpdate: (_o, rs) => owner(rs), onDelete: owner });
  }

  run(signal: AbortSignal): Promise<void> {
    return this.queue.run((key) => this.sync(key), signal, (key, e) => this.ctx.log(`deployment ${key}: ${(e as Error).message}`));
  }

  private async sync(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const d = this.deployments.get(namespace, name);
    if (!d) return;
    const inNamespace = this.replicaSets.list().filter((rs) => rs.metadata.namespace === namespace);
    const owned = inNamespace.filter((rs) => controllerOf(rs)?.uid === d.metadata.uid);
    // ReplicaSets left behind by an orphaning delete are taken over by a Deployment that selects them.
    const selector = fromLabelSelector(d.spec.selector);
    const orphans = d.metadata.deletionTimestamp ? [] : inNamespace.filter((rs) => !controllerOf(rs) && !rs.metadata.deletionTimestamp && matchesLabels(selector, rs.metadata.labels));
    if (orphans.length) {
      // The adopted ones come back through the informer and queue this Deployment again.
      if (await adoptOrphans(this.ctx.client, DEPLOYMENT, d, REPLICASET, orphans)) return;
    }
    const plan = reconcileDeployment(d, owned, Date.now());
    const client = this.ctx.client;
    let result = 'unchanged';
    try {
      if (plan.create) {
        await client.create(REPLICASET, namespace, plan.create).catch((e) => {
          // Already there: the cache has not caught up; the informer will bring it.
          if (!(isApiError(e) && e.code === 409)) throw e;
        });
        result = 'changed';
      }
      for (const rs of plan.update) {
        await client.update(REPLICASET, rs);
        result = 'changed';
      }
      for (const rs of plan.delete) {
        await client.delete(REPLICASET, namespace, rs.metadata.name!).catch((e) => {
          if (!(isApiError(e) && e.code === 404)) throw e;
        });
        result = 'changed';
      }
      for (const ev of plan.events) this.events.record(d, ev.type, ev.reason, ev.message);
      let current = d;
      if (plan.revision) {
        current = await client.patch<Deployment>(DEPLOYMENT, namespace, name, { metadata: { annotations: { [REVISION]: plan.revision }, resourceVersion: d.metadata.resourceVersion } }, 'merge');
        result = 'changed';
      }
      if (plan.status) {
        await client.update(DEPLOYMENT, { ...current, status: plan.status }, 'status');
        result = 'changed';
      }
    } catch (e) {
      // Someone else changed an object first: the informer brings the new version, which queues this again.
      if (isApiError(e) && (e.code === 409 || e.code === 404)) {
        this.ctx.metrics.reconciles.inc({ controller: this.name, result: 'conflict' });
        this.queue.addAfter(key, 50);
        return;
      }
      this.ctx.metrics.reconciles.inc({ controller: this.name, result: 'error' });
      throw e;
    }
    if (plan.requeueAfterMs !== undefined) this.queue.addAfter(key, plan.requeueAfterMs);
    this.ctx.metrics.reconciles.inc({ controller: this.name, result });
  }
}
