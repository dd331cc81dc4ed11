// The scheduler's pure core: which nodes can take a pod (filter) and which of them it should go to
// (score), from the nodes and what is already placed on each. No I/O, no clock: the loop in
// loop.ts feeds it from informers and applies its answer.
import { parseQuantity } from '../../api/quantity.js';
import type { Container, Node, Pod } from '../../api/types.js';

export type SchedulerStrategy = 'spread' | 'binpack';

/** CPU in millicores and memory in bytes, integers so sums do not drift. */
export interface Resources {
  milliCpu: number;
  memory: number;
}

/** What a pod asks of a node, worked out once per pod. */
export interface PodDemand {
  /** Requests as given; a missing request is 0 (what must fit). */
  requests: Resources;
  /** Requests with Kubernetes' non-zero defaults for missing ones (what scoring weighs). */
  scoring: Resources;
  /** `protocol/port` of every hostPort the pod binds. */
  hostPorts: string[];
  /** The uid of the pod's controller (its ReplicaSet, …), whose pods spread across nodes. */
  owner?: string;
}

export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
}

export interface Taint {
  key: string;
  value?: string;
  effect: string;
}

/** A Node reduced to what scheduling looks at, parsed once per node update. */
export interface NodeInfo {
  name: string;
  ready: boolean;
  unschedulable: boolean;
  taints: Taint[];
  labels: Record<string, string>;
  allocatable: Resources & { pods: number };
}

/** What is placed on one node: bound (or assumed) pods that have not finished. */
export interface NodeUsage {
  requested: Resources;
  scoring: Resources;
  pods: number;
  hostPorts: Map<string, number>;
  owners: Map<string, number>;
}

/** Kubernetes' defaults for a container without requests, used only when scoring. */
export const DEFAULT_MILLI_CPU = 100;
export const DEFAULT_MEMORY = 200 * 1024 * 1024;

/** The taint Kubernetes puts on cordoned nodes; a pod tolerating it may still go there (DaemonSets). */
const UNSCHEDULABLE_TAINT: Taint = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' };

export const REASONS = {
  notReady: 'node(s) were not ready',
  unschedulable: 'node(s) were unschedulable',
  selector: "node(s) didn't match Pod's node affinity/selector",
  ports: "node(s) didn't have free ports for the requested pod ports",
  cpu: 'Insufficient cpu',
  memory: 'Insufficient memory',
  pods: 'Too many pods',
  taint: (t: Taint) => `node(s) had untolerated taint {${t.key}: ${t.value ?? ''}}`,
} as const;

function quantity(v: string | number | undefined, scale: number): number {
  if (v === undefined) return 0;
  try {
    return Math.round(parseQuantity(v) * scale);
  } catch {
    return 0; // validation rejects bad quantities on write; an odd stored one counts as none
  }
}

function containerRequests(c: Container): { cpu?: number; memory?: number } {
  const req = c.resources?.requests ?? {};
  // As in Kubernetes, a limit without a request means a request equal to the limit.
  const lim = c.resources?.limits ?? {};
  const cpu = req.cpu ?? lim.cpu;
  const memory = req.memory ?? lim.memory;
  return { cpu: cpu === undefined ? undefined : quantity(cpu, 1000), memory: memory === undefined ? undefined : quantity(memory, 1) };
}

/**
 * A pod's demand: the sum over its containers, or the largest init container when that is more
 * (init containers run one at a time, before the others).
 */
export function podDemand(pod: Pod): PodDemand {
  const requests: Resources = { milliCpu: 0, memory: 0 };
  const scoring: Resources = { milliCpu: 0, memory: 0 };
  const hostPorts: string[] = [];
  for (const c of pod.spec?.containers ?? []) {
    const r = containerRequests(c);
    requests.milliCpu += r.cpu ?? 0;
    requests.memory += r.memory ?? 0;
    scoring.milliCpu += r.cpu ?? DEFAULT_MILLI_CPU;
    scoring.memory += r.memory ?? DEFAULT_MEMORY;
    for (const p of c.ports ?? []) if (p.hostPort) hostPorts.push(`${p.protocol ?? 'TCP'}/${p.hostPort}`);
  }
  for (const c of pod.spec?.initContainers ?? []) {
    const r = containerRequests(c);
    requests.milliCpu = Math.max(requests.milliCpu, r.cpu ?? 0);
    requests.memory = Math.max(requests.memory, r.memory ?? 0);
  }
  const owner = pod.metadata.ownerReferences?.find((o) => o.controller)?.uid;
  return { requests, scoring, hostPorts, ...(owner ? { owner } : {}) };
}

export function nodeInfoOf(node: Node): NodeInfo {
  const alloc = node.status?.allocatable ?? node.status?.capacity ?? {};
  return {
    name: node.metadata.name!,
    ready: node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    unschedulable: node.spec?.unschedulable === true,
    taints: (node.spec?.taints ?? []).filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute'),
    labels: node.metadata.labels ?? {},
    allocatable: { milliCpu: quantity(alloc.cpu, 1000), memory: quantity(alloc.memory, 1), pods: quantity(alloc.pods ?? '110', 1) },
  };
}

/** Whether two NodeInfos schedule alike (a heartbeat changes nothing that matters). */
export function sameForScheduling(a: NodeInfo, b: NodeInfo): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function emptyUsage(): NodeUsage {
  return { requested: { milliCpu: 0, memory: 0 }, scoring: { milliCpu: 0, memory: 0 }, pods: 0, hostPorts: new Map(), owners: new Map() };
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n > 0) map.set(key, n);
  else map.delete(key);
}

/** Adds (sign 1) or removes (sign -1) a pod's demand on a node. */
export function account(usage: NodeUsage, d: PodDemand, sign: 1 | -1): void {
  usage.requested.milliCpu += sign * d.requests.milliCpu;
  usage.requested.memory += sign * d.requests.memory;
  usage.scoring.milliCpu += sign * d.scoring.milliCpu;
  usage.scoring.memory += sign * d.scoring.memory;
  usage.pods += sign;
  for (const p of d.hostPorts) bump(usage.hostPorts, p, sign);
  if (d.owner) bump(usage.owners, d.owner, sign);
}

/** Kubernetes' Toleration.ToleratesTaint. */
export function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  if (t.operator === 'Exists') return true;
  if (!t.operator || t.operator === 'Equal') return (t.value ?? '') === (taint.value ?? '');
  return false;
}

function tolerationsOf(pod: Pod): Toleration[] {
  return Array.isArray(pod.spec.tolerations) ? (pod.spec.tolerations as Toleration[]) : [];
}

interface NodeSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

function matchesRequirement(r: NodeSelectorRequirement, labels: Record<string, string>): boolean {
  const v = labels[r.key];
  switch (r.operator) {
    case 'In':
      return v !== undefined && (r.values ?? []).includes(v);
    case 'NotIn':
      return v === undefined || !(r.values ?? []).includes(v);
    case 'Exists':
      return v !== undefined;
    case 'DoesNotExist':
      return v === undefined;
    case 'Gt':
    case 'Lt': {
      const n = Number(v);
      const bound = Number(r.values?.[0]);
      if (v === undefined || !Number.isInteger(n) || !Number.isInteger(bound)) return false;
      return r.operator === 'Gt' ? n > bound : n < bound;
    }
    default:
      return false;
  }
}

/** `spec.nodeSelector` and required node affinity (terms ORed, expressions ANDed). */
export function matchesNodeSelector(pod: Pod, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(pod.spec.nodeSelector ?? {})) if (labels[k] !== v) return false;
  const affinity = pod.spec.affinity as { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: { matchExpressions?: NodeSelectorRequirement[] }[] } } } | undefined;
  const terms = affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (!terms?.length) return true;
  return terms.some((term) => (term.matchExpressions ?? []).every((r) => matchesRequirement(r, labels)));
}

/**
 * Why `node` cannot take the pod, as Kubernetes words it (a node short of both CPU and memory
 * gives both), or an empty list when it can. Checks run in Kubernetes' filter order and stop at
 * the first failing kind, as its plugins do.
 */
export function filterReasons(pod: Pod, demand: PodDemand, node: NodeInfo, usage: NodeUsage): readonly string[] {
  if (!node.ready) return [REASONS.notReady];
  const tolerations = tolerationsOf(pod);
  if (node.unschedulable && !tolerations.some((t) => tolerates(t, UNSCHEDULABLE_TAINT))) return [REASONS.unschedulable];
  const untolerated = node.taints.find((taint) => !tolerations.some((t) => tolerates(t, taint)));
  if (untolerated) return [REASONS.taint(untolerated)];
  if (!matchesNodeSelector(pod, node.labels)) return [REASONS.selector];
  if (demand.hostPorts.some((p) => usage.hostPorts.has(p))) return [REASONS.ports];
  const { milliCpu, memory } = demand.requests;
  const tooMany = usage.pods + 1 > node.allocatable.pods;
  const cpu = milliCpu > 0 && milliCpu > node.allocatable.milliCpu - usage.requested.milliCpu;
  const mem = memory > 0 && memory > node.allocatable.memory - usage.requested.memory;
  if (!tooMany && !cpu && !mem) return FITS;
  return [...(tooMany ? [REASONS.pods] : []), ...(cpu ? [REASONS.cpu] : []), ...(mem ? [REASONS.memory] : [])];
}

const FITS: readonly string[] = [];

/** 0..100: how much of the node would be left free (spread) or used (binpack) with the pod on it. */
function resourceScore(demand: PodDemand, node: NodeInfo, usage: NodeUsage, strategy: SchedulerStrategy): number {
  const fraction = (used: number, alloc: number) => (alloc <= 0 ? 1 : Math.min(1, used / alloc));
  const cpu = fraction(usage.scoring.milliCpu + demand.scoring.milliCpu, node.allocatable.milliCpu);
  const mem = fraction(usage.scoring.memory + demand.scoring.memory, node.allocatable.memory);
  const used = (cpu + mem) / 2;
  return 100 * (strategy === 'binpack' ? used : 1 - used);
}

/** How much more the owner term weighs than the resource term under `spread` (Kubernetes gives topology spread 2). */
const OWNER_SPREAD_WEIGHT = 2;

export interface Candidate {
  node: NodeInfo;
  usage: NodeUsage;
}

export type Decision = { node: string; score: number } | { node?: undefined; message: string };

/**
 * Picks a node for the pod, or says why none fits in Kubernetes' words
 * (`0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient memory.`).
 * Ties go to the node whose name sorts first, so the answer depends only on the inputs.
 */
export function schedule(pod: Pod, demand: PodDemand, candidates: Iterable<Candidate>, strategy: SchedulerStrategy): Decision {
  const feasible: Candidate[] = [];
  const histogram = new Map<string, number>();
  let total = 0;
  for (const c of candidates) {
    total++;
    const reasons = filterReasons(pod, demand, c.node, c.usage);
    if (!reasons.length) feasible.push(c);
    else for (const r of reasons) histogram.set(r, (histogram.get(r) ?? 0) + 1);
  }
  if (!feasible.length) return { message: unschedulableMessage(total, histogram) };

  let maxOwned = 0;
  if (strategy === 'spread' && demand.owner) for (const c of feasible) maxOwned = Math.max(maxOwned, c.usage.owners.get(demand.owner) ?? 0);
  let best: { node: string; score: number } | undefined;
  for (const c of feasible) {
    let score = resourceScore(demand, c.node, c.usage, strategy);
    if (maxOwned > 0) score += OWNER_SPREAD_WEIGHT * 100 * ((maxOwned - (c.usage.owners.get(demand.owner!) ?? 0)) / maxOwned);
    if (!best || score > best.score || (score === best.score && c.node.name < best.node)) best = { node: c.node.name, score };
  }
  return best!;
}

/** Kubernetes' FitError text: counts per reason, the "N reason" strings sorted as strings. */
export function unschedulableMessage(total: number, histogram: Map<string, number>): string {
  if (total === 0) return 'no nodes available to schedule pods';
  const parts = [...histogram].map(([reason, n]) => `${n} ${reason}`).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return `0/${total} nodes are available: ${parts.join(', ')}.`;
}
