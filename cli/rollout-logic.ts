// The pure half of `tug rollout` (kubectl's DeploymentStatusViewer, history and rollback): judging
// a Deployment's rollout, listing its revisions, and building the undo patch. No I/O here.
import type { Condition, Deployment, PodTemplateSpec, ReplicaSet } from '../api/types.js';

export const REVISION = 'deployment.kubernetes.io/revision';
export const CHANGE_CAUSE = 'kubernetes.io/change-cause';
export const TEMPLATE_HASH = 'pod-template-hash';
export const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

/** Annotations a rollback never copies from the ReplicaSet onto the Deployment (kubectl's list). */
const ROLLBACK_SKIPPED = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION,
  'deployment.kubernetes.io/revision-history',
  'deployment.kubernetes.io/desired-replicas',
  'deployment.kubernetes.io/max-replicas',
  'deprecated.deployment.rollback.to',
]);

export interface RolloutVerdict {
  done: boolean;
  message: string;
  /** Set when the rollout cannot finish (its progress deadline passed). */
  error?: string;
}

function condition(d: Deployment, type: string): Condition | undefined {
  return d.status?.conditions?.find((c) => c.type === type);
}

/** kubectl's rollout status for a Deployment, message for message. */
export function rolloutStatus(d: Deployment): RolloutVerdict {
  const name = d.metadata.name;
  const st = d.status ?? {};
  if ((d.metadata.generation ?? 0) > (st.observedGeneration ?? 0)) return { done: false, message: 'Waiting for deployment spec update to be observed...' };
  if (condition(d, 'Progressing')?.reason === 'ProgressDeadlineExceeded') {
    return { done: false, message: `deployment "${name}" exceeded its progress deadline`, error: `deployment "${name}" exceeded its progress deadline` };
  }
  const want = d.spec.replicas ?? 1;
  const updated = st.updatedReplicas ?? 0;
  const total = st.replicas ?? 0;
  const available = st.availableReplicas ?? 0;
  if (updated < want) return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${want} new replicas have been updated...` };
  if (total > updated) return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${total - updated} old replicas are pending termination...` };
  if (available < updated) return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${available} of ${updated} updated replicas are available...` };
  return { done: true, message: `deployment "${name}" successfully rolled out` };
}

export function revisionOf(o: { metadata: { annotations?: Record<string, string> } }): number {
  const n = Number(o.metadata.annotations?.[REVISION]);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/** The ReplicaSets the Deployment controls (controller ownerReference with its uid), by revision. */
export function ownedReplicaSets(d: Deployment, all: ReplicaSet[]): ReplicaSet[] {
  return all
    .filter((rs) => rs.metadata.ownerReferences?.some((o) => o.controller && o.uid === d.metadata.uid))
    .sort((a, b) => revisionOf(a) - revisionOf(b));
}

export interface HistoryEntry {
  revision: number;
  changeCause?: string;
  replicaSet: ReplicaSet;
}

export function history(d: Deployment, all: ReplicaSet[]): HistoryEntry[] {
  return ownedReplicaSets(d, all)
    .filter((rs) => revisionOf(rs) > 0)
    .map((rs) => ({ revision: revisionOf(rs), changeCause: rs.metadata.annotations?.[CHANGE_CAUSE], replicaSet: rs }));
}

export function formatHistory(entries: HistoryEntry[]): string {
  const rows = [['REVISION', 'CHANGE-CAUSE'], ...entries.map((e) => [String(e.revision), e.changeCause ?? '<none>'])];
  const width = Math.max(...rows.map((r) => r[0].length));
  return rows.map((r) => `${r[0].padEnd(width)}  ${r[1]}`).join('\n');
}

/** A copy of a template without the `pod-template-hash` label (the controller adds it per ReplicaSet). */
export function withoutHash(template: PodTemplateSpec): PodTemplateSpec {
  const copy = structuredClone(template);
  if (copy.metadata?.labels) {
    delete copy.metadata.labels[TEMPLATE_HASH];
    if (!Object.keys(copy.metadata.labels).length) delete copy.metadata.labels;
  }
  return copy;
}

/** JSON with object keys sorted and empty objects, nulls and empty strings left out, for comparing templates. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = canonical((value as Record<string, unknown>)[k]);
      if (v === null || v === undefined || v === '' || (typeof v === 'object' && !Array.isArray(v) && !Object.keys(v as object).length)) continue;
      out[k] = v;
    }
    return out;
  }
  return value;
}

export function sameTemplate(a: PodTemplateSpec, b: PodTemplateSpec): boolean {
  return JSON.stringify(canonical(withoutHash(a))) === JSON.stringify(canonical(withoutHash(b)));
}

export type UndoPlan =
  | { kind: 'patch'; revision: number; patch: unknown[] }
  | { kind: 'skip'; revision: number; message: string }
  | { kind: 'error'; message: string };

/**
 * What `rollout undo [--to-revision=N]` does: back to `toRevision`, or (0) to the second-newest
 * revision. The patch is kubectl's JSON patch of spec.template and the annotations.
 */
export function planUndo(d: Deployment, all: ReplicaSet[], toRevision = 0): UndoPlan {
  const name = d.metadata.name;
  if (d.spec.paused) return { kind: 'error', message: `you cannot rollback a paused deployment; resume it first with \`tug rollout resume deployment/${name}\` and try again` };
  const entries = history(d, all);
  if (!entries.length) return { kind: 'error', message: `no rollout history found for deployment "${name}"` };
  let target: HistoryEntry | undefined;
  if (toRevision > 0) {
    target = entries.find((e) => e.revision === toRevision);
    if (!target) return { kind: 'error', message: `unable to find specified revision ${toRevision} in history; \`tug rollout history deployment/${name}\` lists them` };
  } else {
    // The second-newest revision, as kubectl picks it (whatever the Deployment's own annotation says).
    target = entries.length > 1 ? entries[entries.length - 2] : undefined;
    if (!target) return { kind: 'error', message: `no rollout history found for deployment "${name}": it has only revision ${entries[0].revision}` };
  }
  const template = target.replicaSet.spec.template;
  if (!template) return { kind: 'error', message: `replicaset "${target.replicaSet.metadata.name}" (revision ${target.revision}) has no pod template` };
  if (sameTemplate(template, d.spec.template)) {
    return { kind: 'skip', revision: target.revision, message: `skipped rollback (current template already matches revision ${target.revision})` };
  }
  const annotations = { ...(d.metadata.annotations ?? {}) };
  for (const [k, v] of Object.entries(target.replicaSet.metadata.annotations ?? {})) if (!ROLLBACK_SKIPPED.has(k)) annotations[k] = v;
  return {
    kind: 'patch',
    revision: target.revision,
    patch: [
      { op: 'replace', path: '/spec/template', value: withoutHash(template) },
      { op: d.metadata.annotations ? 'replace' : 'add', path: '/metadata/annotations', value: annotations },
    ],
  };
}

