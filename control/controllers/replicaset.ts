// The ReplicaSet controller's pure core: given a ReplicaSet, the pods it could own and `now`,
// what to do: adopt orphans it selects, create or delete pods to reach `replicas`, and the
// status to publish. The loop around it lives in replicaset-controller.ts.
import { fromLabelSelector, matchesLabels } from '../../api/selectors.js';
import type { Pod, ReplicaSet } from '../../api/types.js';
import { controllerOf, controllerRefTo, isActive, isAvailable, isReady, msUntilAvailable } from './podutil.js';

export type ReplicaSetStatus = NonNullable<ReplicaSet['status']>;

export interface ReplicaSetPlan {
  /** Orphaned pods the selector matches: this ReplicaSet becomes their controller. */
  adopt: Pod[];
  /** How many pods to create from the template. */
  create: number;
  /** Pods to delete: extra ones on scale-down (worst first) and finished ones. */
  delete: Pod[];
  /** The status to write, when it differs from the stored one. */
  status?: ReplicaSetStatus;
  /** Come back after this long (a ready pod reaches minReadySeconds). */
  requeueAfterMs?: number;
}

/** Kubernetes' order for which pod goes first on scale-down: the least useful pod first. */
export function deletionOrder(a: Pod, b: Pod): number {
  const rank = (p: Pod) => [
    p.spec.nodeName ? 1 : 0, // unscheduled first
    { Pending: 0, Unknown: 1, Running: 2 }[p.status?.phase ?? 'Pending'] ?? 0,
    isReady(p) ? 1 : 0, // not ready before ready
  ];
  const ra = rank(a);
  const rb = rank(b);
  for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i] - rb[i];
  const restarts = (p: Pod) => (p.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0);
  if (restarts(a) !== restarts(b)) return restarts(b) - restarts(a); // more restarts first
  // Newer pods first: they have done the least work (and caches are warmest in old ones).
  const created = (p: Pod) => Date.parse(p.metadata.creationTimestamp ?? '') || 0;
  if (created(a) !== created(b)) return created(b) - created(a);
  return (b.metadata.name ?? '').localeCompare(a.metadata.name ?? '');
}

/**
 * `pods` are the pods of the ReplicaSet's namespace that it controls or could adopt (its
 * selector matches and no one controls them).
 */
export function reconcileReplicaSet(rs: ReplicaSet, pods: Pod[], now: number): ReplicaSetPlan {
  const selector = fromLabelSelector(rs.spec.selector);
  const adopt: Pod[] = [];
  const owned: Pod[] = [];
  for (const pod of pods) {
    const ref = controllerOf(pod);
    if (ref?.uid === rs.metadata.uid) owned.push(pod);
    else if (!ref && !pod.metadata.deletionTimestamp && matchesLabels(selector, pod.metadata.labels)) {
      adopt.push(pod);
      owned.push(pod);
    }
  }
  const finished = owned.filter((p) => !p.metadata.deletionTimestamp && !isActive(p));
  const active = owned.filter(isActive);
  const wanted = rs.spec.replicas ?? 1;
  const plan: ReplicaSetPlan = { adopt: rs.metadata.deletionTimestamp ? [] : adopt, create: 0, delete: [...finished] };
  if (!rs.metadata.deletionTimestamp) {
    if (active.length < wanted) plan.create = wanted - active.length;
    else if (active.length > wanted) plan.delete.push(...[...active].sort(deletionOrder).slice(0, active.length - wanted));
  }

  const minReady = rs.spec.minReadySeconds ?? 0;
  const templateLabels = rs.spec.template?.metadata?.labels ?? {};
  const status: ReplicaSetStatus = {
    replicas: active.length,
    fullyLabeledReplicas: active.filter((p) => Object.entries(templateLabels).every(([k, v]) => p.metadata.labels?.[k] === v)).length,
    readyReplicas: active.filter(isReady).length,
    availableReplicas: active.filter((p) => isAvailable(p, minReady, now)).length,
    observedGeneration: rs.metadata.generation ?? 1,
  };
  if (!sameStatus(rs.status, status)) plan.status = { ...(rs.status ?? {}), ...status };
  const waits = active.map((p) => msUntilAvailable(p, minReady, now)).filter((ms): ms is number => ms !== undefined);
  if (waits.length) plan.requeueAfterMs = Math.min(...waits) + 10;
  return plan;
}

function sameStatus(a: ReplicaSet['status'], b: ReplicaSetStatus): boolean {
  return (Object.keys(b) as (keyof ReplicaSetStatus)[]).every((k) => (a?.[k] ?? 0) === (b[k] ?? 0));
}

/** The pod a ReplicaSet creates from its template: named after it, controlled by it. */
export function podFromTemplate(rs: ReplicaSet): Pod {
  const template = rs.spec.template!;
  const meta = template.metadata ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${rs.metadata.name}-`,
      namespace: rs.metadata.namespace,
      ...(meta.labels ? { labels: { ...meta.labels } } : {}),
      ...(meta.annotations ? { annotations: { ...meta.annotations } } : {}),
      ownerReferences: [controllerRefTo(rs)],
    },
    spec: structuredClone(template.spec),
  };
}
