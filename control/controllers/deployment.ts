// The Deployment controller's pure core (Kubernetes' rolling and recreate algorithms): given a
// Deployment, the ReplicaSets it controls and `now`, which ReplicaSet to create, how to scale
// each one, which old ones to prune, and the status and conditions to publish.
import type { Condition, Deployment, DeploymentStatus, ReplicaSet } from '../../api/types.js';
import { controllerRefTo } from './podutil.js';
import { rfc3339 } from '../../api/time.js';

export const REVISION = 'deployment.kubernetes.io/revision';
export const DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas';
export const TEMPLATE_HASH = 'pod-template-hash';

/** Deployment annotations that are the controller's own and are not copied to ReplicaSets. */
const NOT_COPIED = new Set([REVISION, DESIRED_REPLICAS, MAX_REPLICAS, 'kubectl.kubernetes.io/last-applied-configuration', 'deployment.kubernetes.io/revision-history']);

export interface ScalingEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface DeploymentPlan {
  create?: ReplicaSet;
  /** ReplicaSets with a new spec.replicas or new annotations (complete objects, resourceVersion kept). */
  update: ReplicaSet[];
  delete: ReplicaSet[];
  /** The Deployment's revision annotation, when it changes. */
  revision?: string;
  status?: DeploymentStatus;
  events: ScalingEvent[];
  requeueAfterMs?: number;
}

// ---------------------------------------------------------------------------------------------
// Template identity

const HASH_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** Drops what does not change a template's meaning: nulls, empty objects and lists; sorts keys. */
function normalized(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalized);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const n = normalized((v as Record<string, unknown>)[k]);
      if (n === null || n === undefined) continue;
      if (Array.isArray(n) && !n.length) continue;
      if (typeof n === 'object' && !Array.isArray(n) && !Object.keys(n as object).length) continue;
      out[k] = n;
    }
    return out;
  }
  return v;
}

function withoutHashLabel(template: ReplicaSet['spec']['template']): unknown {
  if (!template) return {};
  const labels = { ...(template.metadata?.labels ?? {}) };
  delete labels[TEMPLATE_HASH];
  return { ...template, metadata: { ...template.metadata, labels } };
}

/** A short, name-safe hash of a pod template (FNV-1a 32, spelled like Kubernetes' hashes). */
export function templateHash(template: ReplicaSet['spec']['template']): string {
  const text = JSON.stringify(normalized(withoutHashLabel(template)));
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return [...String(h)].map((c) => HASH_ALPHABET[c.charCodeAt(0) % HASH_ALPHABET.length]).join('');
}

/**
 * Whether a ReplicaSet runs the template with this hash: by its pod-template-hash label (robust
 * to server-side defaulting), or by its template (a template restored by `rollout undo`).
 */
function isNewFor(rs: ReplicaSet, hash: string): boolean {
  return rs.metadata.labels?.[TEMPLATE_HASH] === hash || templateHash(rs.spec.template) === hash;
}

// ---------------------------------------------------------------------------------------------
// Numbers

export function revisionOf(rs: ReplicaSet): number {
  return Number(rs.metadata.annotations?.[REVISION] ?? 0) || 0;
}

function resolve(value: number | string | undefined, total: number, roundUp: boolean, fallback: string): number {
  const v = value ?? fallback;
  if (typeof v === 'number') return v;
  const pct = parseInt(v, 10);
  const exact = (pct * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/** maxSurge and maxUnavailable as pod counts (percentages: surge rounded up, unavailable down). */
export function rollingLimits(d: Deployment): { maxSurge: number; maxUnavailable: number } {
  const replicas = d.spec.replicas ?? 1;
  if (d.spec.strategy?.type === 'Recreate') return { maxSurge: 0, maxUnavailable: 0 };
  const r = d.spec.strategy?.rollingUpdate ?? {};
  const maxSurge = resolve(r.maxSurge, replicas, true, '25%');
  let maxUnavailable = resolve(r.maxUnavailable, replicas, false, '25%');
  // Both zero would stall a rollout forever; Kubernetes lets one pod go.
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable: Math.min(maxUnavailable, replicas) };
}

const specReplicas = (rs: ReplicaSet) => rs.spec.replicas ?? 0;
const sum = (rss: ReplicaSet[], f: (rs: ReplicaSet) => number) => rss.reduce((n, rs) => n + f(rs), 0);
const available = (rs: ReplicaSet) => rs.status?.availableReplicas ?? 0;

// ---------------------------------------------------------------------------------------------
// The plan

/** The ReplicaSet a Deployment's current template asks for. */
export function newReplicaSetFor(d: Deployment, replicas: number, revision: number): ReplicaSet {
  const hash = templateHash(d.spec.template);
  const template = structuredClone(d.spec.template);
  template.metadata = { ...(template.metadata ?? {}), labels: { ...(template.metadata?.labels ?? {}), [TEMPLATE_HASH]: hash } };
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) if (!NOT_COPIED.has(k)) annotations[k] = v;
  const { maxSurge } = rollingLimits(d);
  annotations[REVISION] = String(revision);
  annotations[DESIRED_REPLICAS] = String(d.spec.replicas ?? 1);
  annotations[MAX_REPLICAS] = String((d.spec.replicas ?? 1) + maxSurge);
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: `${d.metadata.name}-${hash}`,
      namespace: d.metadata.namespace,
      labels: { ...(d.spec.template.metadata?.labels ?? {}), [TEMPLATE_HASH]: hash },
      annotations,
      ownerReferences: [controllerRefTo(d)],
    },
    spec: {
      replicas,
      minReadySeconds: d.spec.minReadySeconds ?? 0,
      selector: { ...d.spec.selector, matchLabels: { ...(d.spec.selector.matchLabels ?? {}), [TEMPLATE_HASH]: hash } },
      template,
    },
  };
}

export function reconcileDeployment(d: Deployment, replicaSets: ReplicaSet[], now: number): DeploymentPlan {
  const plan: DeploymentPlan = { update: [], delete: [], events: [] };
  if (d.metadata.deletionTimestamp) return plan;
  const replicas = d.spec.replicas ?? 1;
  const hash = templateHash(d.spec.template);
  const byAge = [...replicaSets].sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || revisionOf(a) - revisionOf(b));
  // Work on copies; `changed` collects the ones whose spec or annotations moved.
  const working = byAge.map((rs) => structuredClone(rs));
  const changed = new Set<ReplicaSet>();
  let newRS = working.find((rs) => isNewFor(rs, hash));
  const old = working.filter((rs) => rs !== newRS);
  const maxRevision = Math.max(0, ...replicaSets.map(revisionOf));
  const { maxSurge, maxUnavailable } = rollingLimits(d);
  const paused = !!d.spec.paused;

  const scale = (rs: ReplicaSet, to: number) => {
    const from = specReplicas(rs);
    if (from === to) return;
    rs.spec.replicas = to;
    changed.add(rs);
    plan.events.push({ type: 'Normal', reason: 'ScalingReplicaSet', message: `Scaled ${to > from ? 'up' : 'down'} replica set ${rs.metadata.name} from ${from} to ${to}` });
  };

  if (newRS && revisionOf(newRS) < maxRevision) {
    // An older template is current again (rollout undo, or a change reverted): it becomes the newest revision.
    newRS.metadata.annotations = { ...newRS.metadata.annotations, [REVISION]: String(maxRevision + 1) };
    changed.add(newRS);
  }

  if (paused) {
    // No rollout while paused; a change of replicas still scales the current ReplicaSet.
    const active = working.filter((rs) => specReplicas(rs) > 0);
    const target = newRS ?? (active.length === 1 ? active[0] : undefined);
    if (target && active.every((rs) => rs === target)) scale(target, replicas);
  } else if (d.spec.strategy?.type === 'Recreate') {
    for (const rs of old) scale(rs, 0);
    const oldRunning = sum(old, (rs) => rs.status?.replicas ?? 0) > 0 || old.some((rs) => (rs.status?.observedGeneration ?? 0) < (rs.metadata.generation ?? 1));
    if (!oldRunning && !old.some((rs) => changed.has(rs))) {
      if (!newRS) plan.create = newReplicaSetFor(d, replicas, maxRevision + 1);
      else scale(newRS, replicas);
    }
  } else {
    if (!newRS) {
      const current = sum(working, specReplicas);
      const start = Math.max(0, Math.min(replicas + maxSurge - current, replicas));
      plan.create = newReplicaSetFor(d, start, maxRevision + 1);
      newRS = plan.create;
      if (start > 0) plan.events.push({ type: 'Normal', reason: 'ScalingReplicaSet', message: `Scaled up replica set ${newRS.metadata.name} from 0 to ${start}` });
    } else {
      scale(newRS, newReplicaCount(newRS, working, replicas, maxSurge));
    }
    scaleDownOld(old, plan.create ? [...working, plan.create] : working, newRS, replicas, maxUnavailable, scale);
  }

  // Keep the ReplicaSets' replica annotations in step with the Deployment.
  if (newRS && !plan.create) {
    const want = { [DESIRED_REPLICAS]: String(replicas), [MAX_REPLICAS]: String(replicas + maxSurge) };
    if (Object.entries(want).some(([k, v]) => newRS!.metadata.annotations?.[k] !== v)) {
      newRS.metadata.annotations = { ...newRS.metadata.annotations, ...want };
      changed.add(newRS);
    }
  }
  plan.update = working.filter((rs) => changed.has(rs));

  const revision = plan.create ? plan.create.metadata.annotations![REVISION] : newRS?.metadata.annotations?.[REVISION];
  if (revision && d.metadata.annotations?.[REVISION] !== revision) plan.revision = revision;

  const status = statusOf(d, replicaSets, plan.create ? undefined : replicaSets.find((rs) => isNewFor(rs, hash)));
  const progressing = progressingCondition(d, status, newRS, !!plan.create, plan.events.length > 0, now);
  status.conditions = mergeConditions(d.status?.conditions, [availableCondition(status, replicas, maxUnavailable, now), progressing.condition], now);
  if (JSON.stringify(status) !== JSON.stringify(normalizeStatus(d.status))) plan.status = status;
  plan.requeueAfterMs = progressing.requeueAfterMs;

  // Prune old ReplicaSets beyond revisionHistoryLimit once they have no pods.
  if (!plan.create && !plan.update.length) {
    const limit = d.spec.revisionHistoryLimit ?? 10;
    const idle = old.filter((rs) => specReplicas(rs) === 0 && (rs.status?.replicas ?? 0) === 0 && !rs.metadata.deletionTimestamp);
    idle.sort((a, b) => revisionOf(a) - revisionOf(b));
    plan.delete = idle.slice(0, Math.max(0, idle.length - limit));
  }
  return plan;
}

/** How big the new ReplicaSet may be now: up to replicas + maxSurge pods in all. */
function newReplicaCount(newRS: ReplicaSet, all: ReplicaSet[], replicas: number, maxSurge: number): number {
  const current = specReplicas(newRS);
  if (current >= replicas) return replicas;
  const total = sum(all, specReplicas);
  const room = replicas + maxSurge - total;
  if (room <= 0) return current;
  return current + Math.min(room, replicas - current);
}

/**
 * Scales old ReplicaSets down as far as availability allows: first their pods that are not
 * available anyway, then available ones while at least replicas - maxUnavailable stay available.
 */
function scaleDownOld(old: ReplicaSet[], all: ReplicaSet[], newRS: ReplicaSet, replicas: number, maxUnavailable: number, scale: (rs: ReplicaSet, to: number) => void): void {
  if (sum(old, specReplicas) === 0) return;
  const minAvailable = replicas - maxUnavailable;
  const newUnavailable = Math.max(0, specReplicas(newRS) - available(newRS));
  let budget = sum(all, specReplicas) - minAvailable - newUnavailable;
  if (budget <= 0) return;
  for (const rs of old) {
    if (budget <= 0) break;
    const unhealthy = specReplicas(rs) - Math.min(available(rs), specReplicas(rs));
    if (unhealthy <= 0) continue;
    const n = Math.min(unhealthy, budget);
    scale(rs, specReplicas(rs) - n);
    budget -= n;
  }
  let surplus = sum(all, (rs) => Math.min(available(rs), specReplicas(rs))) - minAvailable;
  for (const rs of old) {
    if (surplus <= 0) break;
    const n = Math.min(specReplicas(rs), surplus);
    if (n <= 0) continue;
    scale(rs, specReplicas(rs) - n);
    surplus -= n;
  }
}

// ---------------------------------------------------------------------------------------------
// Status and conditions

function normalizeStatus(s: DeploymentStatus | undefined): unknown {
  return JSON.parse(JSON.stringify(s ?? {}));
}

function statusOf(d: Deployment, rss: ReplicaSet[], newRS: ReplicaSet | undefined): DeploymentStatus {
  const total = sum(rss, (rs) => rs.status?.replicas ?? 0);
  const availableReplicas = sum(rss, available);
  const status: DeploymentStatus = {
    observedGeneration: d.metadata.generation ?? 1,
    replicas: total,
    updatedReplicas: newRS?.status?.replicas ?? 0,
    readyReplicas: sum(rss, (rs) => rs.status?.readyReplicas ?? 0),
    availableReplicas,
    unavailableReplicas: Math.max(0, sum(rss, specReplicas) - availableReplicas),
  };
  // Kubernetes leaves zero counts out of the status.
  for (const k of ['replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'unavailableReplicas'] as const) if (!status[k]) delete status[k];
  return status;
}

function availableCondition(status: DeploymentStatus, replicas: number, maxUnavailable: number, now: number): Condition {
  const ok = (status.availableReplicas ?? 0) >= replicas - maxUnavailable;
  return ok
    ? { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.', lastUpdateTime: rfc3339(now) }
    : { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.', lastUpdateTime: rfc3339(now) };
}

/** Progressing, with Kubernetes' reasons, and when to look again for a progress deadline. */
function progressingCondition(
  d: Deployment,
  status: DeploymentStatus,
  newRS: ReplicaSet | undefined,
  created: boolean,
  scaled: boolean,
  now: number,
): { condition: Condition; requeueAfterMs?: number } {
  const current = d.status?.conditions?.find((c) => c.type === 'Progressing');
  const replicas = d.spec.replicas ?? 1;
  const rsName = newRS?.metadata.name ?? '';
  const at = rfc3339(now);
  const make = (s: string, reason: string, message: string, update = true): Condition => ({
    type: 'Progressing',
    status: s,
    reason,
    message,
    lastUpdateTime: update || !current?.lastUpdateTime ? at : current.lastUpdateTime,
  });
  if (d.spec.paused) return { condition: make('Unknown', 'DeploymentPaused', 'Deployment is paused', current?.reason !== 'DeploymentPaused') };
  const complete =
    !created &&
    (status.updatedReplicas ?? 0) === replicas &&
    (status.replicas ?? 0) === replicas &&
    (status.availableReplicas ?? 0) === replicas;
  if (complete) {
    const done = current?.reason === 'NewReplicaSetAvailable';
    return { condition: make('True', 'NewReplicaSetAvailable', `ReplicaSet "${rsName}" has successfully progressed.`, !done) };
  }
  if (created) return { condition: make('True', 'NewReplicaSetCreated', `Created new replica set "${rsName}"`) };
  if (current?.reason === 'DeploymentPaused') return { condition: make('Unknown', 'DeploymentResumed', 'Deployment is resumed') };
  const before = d.status ?? {};
  const oldOf = (s: DeploymentStatus) => (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
  const progressed =
    scaled ||
    (status.updatedReplicas ?? 0) > (before.updatedReplicas ?? 0) ||
    oldOf(status) < oldOf(before) ||
    (status.readyReplicas ?? 0) > (before.readyReplicas ?? 0) ||
    (status.availableReplicas ?? 0) > (before.availableReplicas ?? 0) ||
    (current?.reason === 'NewReplicaSetAvailable');
  if (progressed) return { condition: make('True', 'ReplicaSetUpdated', `ReplicaSet "${rsName}" is progressing.`), requeueAfterMs: deadlineMs(d) };
  if (current?.reason === 'ProgressDeadlineExceeded') return { condition: current };
  const since = Date.parse(current?.lastUpdateTime ?? '') || now;
  const left = since + deadlineMs(d) - now;
  if (left <= 0) return { condition: make('False', 'ProgressDeadlineExceeded', `ReplicaSet "${rsName}" has timed out progressing.`) };
  return { condition: current ?? make('True', 'ReplicaSetUpdated', `ReplicaSet "${rsName}" is progressing.`), requeueAfterMs: left + 10 };
}

function deadlineMs(d: Deployment): number {
  return (d.spec.progressDeadlineSeconds ?? 600) * 1000;
}

/** New conditions replace old ones of their type; lastTransitionTime moves only when the status does. */
function mergeConditions(old: Condition[] | undefined, fresh: Condition[], now: number): Condition[] {
  const result: Condition[] = [];
  for (const c of fresh) {
    const prev = old?.find((o) => o.type === c.type);
    const sameAsBefore = prev && prev.status === c.status && prev.reason === c.reason && prev.message === c.message;
    result.push({
      ...c,
      lastUpdateTime: sameAsBefore && c.type === 'Available' ? prev.lastUpdateTime : c.lastUpdateTime,
      lastTransitionTime: prev && prev.status === c.status ? (prev.lastTransitionTime ?? rfc3339(now)) : rfc3339(now),
    });
  }
  for (const o of old ?? []) if (!fresh.some((c) => c.type === o.type)) result.push(o);
  return result;
}
