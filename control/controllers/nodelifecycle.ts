// The node lifecycle controller (kube-controller-manager's node-lifecycle-controller): a node
// whose Lease stops changing for the grace period turns Ready=Unknown, is tainted unreachable
// and its pods lose readiness (so endpoints drop them); after the eviction timeout its pods are
// deleted so their controllers replace them elsewhere. A Lease that changes again makes the node
// Ready. Freshness is judged by this control node's clock (when a change was *seen*), never by
// the Lease's renewTime, which comes from the node's clock.
import { rfc3339 } from '../../api/time.js';
import { isApiError } from '../../api/errors.js';
import type { Informer } from '../../api/informer.js';
import { resourceOfKind, type ResourceInfo } from '../../api/resources.js';
import type { Condition, KubeObject, Node, Pod } from '../../api/types.js';
import type { EventRecorder, EventType } from './events.js';
import type { Controller, ControllerContext, ControllerSettings } from './manager.js';
import { keyOf, splitKey, WorkQueue } from './queue.js';

const NODE = resourceOfKind('Node');
const POD = resourceOfKind('Pod');
const LEASE_NAMESPACE = 'kube-node-lease';

export const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';
export const NODE_STATUS_UNKNOWN = 'NodeStatusUnknown';
export const NODE_STATUS_UNKNOWN_MESSAGE = 'Kubelet stopped posting node status.';

export interface Taint {
  key: string;
  value?: string;
  effect: string;
  timeAdded?: string;
}

/** What the controller knows about one node's heartbeat. */
export interface LeaseObservation {
  /** When (this control node's clock, ms) the node's Lease was last seen changing, or first seen. */
  changedAt: number;
  /**
   * Whether a change has actually been seen since the controller started. Leases that merely
   * existed at start count as fresh (no flapping after a control restart) but do not prove a
   * NotReady node is back.
   */
  changed: boolean;
}

export interface NodeLifecycleTimings {
  nodeMonitorGraceMs: number;
  podEvictionTimeoutMs: number;
}

export type NodeAction =
  | { type: 'setReady'; status: 'True' | 'Unknown'; reason: string; message: string }
  | { type: 'setTaints'; taints: Taint[] }
  | { type: 'markPodNotReady'; pod: Pod }
  | { type: 'evictPod'; pod: Pod }
  | { type: 'event'; object: KubeObject; eventType: EventType; reason: string; message: string }
  | { type: 'requeueAfter'; ms: number };

function readyOf(node: Node): Condition | undefined {
  return node.status?.conditions?.find((c) => c.type === 'Ready');
}

function taintsOf(node: Node): Taint[] {
  return (node.spec?.taints ?? []) as Taint[];
}

function isUnreachableTaint(t: Taint): boolean {
  return t.key === UNREACHABLE_TAINT && (t.effect === 'NoSchedule' || t.effect === 'NoExecute');
}

function podReady(pod: Pod): boolean {
  return pod.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' || pod.status?.conditions?.find((c) => c.type === 'ContainersReady')?.status === 'True';
}

/**
 * Decides what to do about one node. `node` undefined means the Node was deleted from the API:
 * its pods are orphans and go. `pods` are the pods bound to the node.
 */
export function reconcileNode(node: Node | undefined, lease: LeaseObservation, pods: Pod[], timings: NodeLifecycleTimings, now: number): NodeAction[] {
  const actions: NodeAction[] = [];
  if (!node) {
    for (const pod of pods) {
      actions.push({ type: 'evictPod', pod });
      actions.push({ type: 'event', object: pod, eventType: 'Normal', reason: 'NodeLost', message: `Node ${pod.spec.nodeName} which was running pod ${pod.metadata.name} was deleted; deleting the pod` });
    }
    return actions;
  }
  const name = node.metadata.name!;
  const ready = readyOf(node);
  const taints = taintsOf(node);
  const staleFor = now - lease.changedAt;

  if (staleFor >= timings.nodeMonitorGraceMs) {
    if (ready?.status !== 'Unknown') {
      actions.push({ type: 'setReady', status: 'Unknown', reason: NODE_STATUS_UNKNOWN, message: NODE_STATUS_UNKNOWN_MESSAGE });
      actions.push({ type: 'event', object: node, eventType: 'Normal', reason: 'NodeNotReady', message: `Node ${name} status is now: NodeNotReady` });
      for (const pod of pods) actions.push({ type: 'event', object: pod, eventType: 'Warning', reason: 'NodeNotReady', message: 'Node is not ready' });
    }
    const missing = ['NoSchedule', 'NoExecute'].filter((effect) => !taints.some((t) => t.key === UNREACHABLE_TAINT && t.effect === effect));
    let noExecute = taints.find((t) => t.key === UNREACHABLE_TAINT && t.effect === 'NoExecute');
    if (missing.length) {
      const added = missing.map((effect): Taint => ({ key: UNREACHABLE_TAINT, effect, ...(effect === 'NoExecute' ? { timeAdded: rfc3339(now) } : {}) }));
      noExecute ??= added.find((t) => t.effect === 'NoExecute');
      actions.push({ type: 'setTaints', taints: [...taints, ...added] });
    }
    for (const pod of pods) if (!pod.metadata.deletionTimestamp && podReady(pod)) actions.push({ type: 'markPodNotReady', pod });
    // Eviction counts from the node's last heartbeat (so the defaults, 10 s and 20 s, replace a lost
    // node's pods about 20 s after it went silent). After a control restart the heartbeat time is
    // unknown; the NoExecute taint's timeAdded (which survives it) says when the node went silent
    // at the latest. Never before the node is NotReady.
    const taintedAt = Date.parse(noExecute?.timeAdded ?? '');
    const silentSince = Number.isFinite(taintedAt) ? Math.min(lease.changedAt, taintedAt - timings.nodeMonitorGraceMs) : lease.changedAt;
    const evictAt = Math.max(silentSince + timings.podEvictionTimeoutMs, lease.changedAt + timings.nodeMonitorGraceMs);
    if (now >= evictAt) {
      for (const pod of pods) {
        actions.push({ type: 'evictPod', pod });
        actions.push({ type: 'event', object: pod, eventType: 'Normal', reason: 'TaintManagerEviction', message: `Marking for deletion Pod ${pod.metadata.namespace}/${pod.metadata.name}` });
      }
    } else {
      actions.push({ type: 'requeueAfter', ms: evictAt - now });
    }
    return actions;
  }

  // Fresh. A node this controller marked unreachable comes back only on a change it has seen.
  if (lease.changed) {
    if (ready?.status === 'Unknown' && ready.reason === NODE_STATUS_UNKNOWN) {
      actions.push({ type: 'setReady', status: 'True', reason: 'KubeletReady', message: 'tug node is posting ready status' });
      actions.push({ type: 'event', object: node, eventType: 'Normal', reason: 'NodeReady', message: `Node ${name} status is now: NodeReady` });
    }
    if (taints.some(isUnreachableTaint)) actions.push({ type: 'setTaints', taints: taints.filter((t) => !isUnreachableTaint(t)) });
  }
  actions.push({ type: 'requeueAfter', ms: timings.nodeMonitorGraceMs - staleFor });
  return actions;
}

/** A condition list with `condition` in place of the one of its type (lastTransitionTime kept when the status is). */
export function withCondition(conditions: Condition[] | undefined, condition: Condition): Condition[] {
  const list = conditions ?? [];
  const old = list.find((c) => c.type === condition.type);
  const next = { ...condition, ...(old && old.status === condition.status && old.lastTransitionTime ? { lastTransitionTime: old.lastTransitionTime } : {}) };
  return old ? list.map((c) => (c === old ? next : c)) : [...list, next];
}

export class NodeLifecycleController implements Controller {
  readonly name = 'node-lifecycle';
  private readonly queue = new WorkQueue();
  private readonly nodes: Informer<Node>;
  private readonly pods: Informer<Pod>;
  private readonly leases = new Map<string, LeaseObservation>();
  /** Pod keys by the node they are bound to. */
  private readonly podsByNode = new Map<string, Set<string>>();
  /** Nodes seen deleted from the API whose pods still have to go. */
  private readonly deleted = new Set<string>();
  private readonly events: EventRecorder;
  private running = false;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly timings: NodeLifecycleTimings,
    private readonly clock: () => number = Date.now,
  ) {
    this.events = ctx.events('node-controller');
    this.nodes = ctx.informers.of<Node>('Node', {
      onAdd: (n) => this.nodeSeen(n),
      onUpdate: (_o, n) => this.queue.add(n.metadata.name!),
      onDelete: (n) => {
        this.deleted.add(n.metadata.name!);
        this.leases.delete(n.metadata.name!);
        this.queue.add(n.metadata.name!);
      },
    });
    ctx.informers.of<KubeObject>('Lease', {
      onAdd: (l) => this.leaseChanged(l, !this.running),
      onUpdate: (o, l) => {
        if (JSON.stringify(o.spec) !== JSON.stringify(l.spec)) this.leaseChanged(l, false);
      },
    });
    this.pods = ctx.informers.of<Pod>('Pod', {
      onAdd: (p) => this.podChanged(undefined, p),
      onUpdate: (o, p) => this.podChanged(o, p),
      onDelete: (p) => this.podChanged(p, undefined),
    });
  }

  private nodeSeen(node: Node): void {
    const name = node.metadata.name!;
    this.deleted.delete(name);
    // A node without a Lease yet gets the grace period from when it was first seen.
    if (!this.leases.has(name)) this.leases.set(name, { changedAt: this.clock(), changed: false });
    this.queue.add(name);
  }

  private leaseChanged(lease: KubeObject, initial: boolean): void {
    if (lease.metadata.namespace !== LEASE_NAMESPACE) return;
    const name = lease.metadata.name!;
    const before = this.leases.get(name);
    const now = this.clock();
    this.leases.set(name, { changedAt: now, changed: before?.changed || !initial });
    // A healthy node's timer already runs; only a node that was (or looked) unhealthy needs a pass now.
    const node = this.nodes.get(undefined, name);
    const stale = !before || now - before.changedAt >= this.timings.nodeMonitorGraceMs;
    if (stale || (node && needsRecovery(node))) this.queue.add(name);
  }

  private podChanged(old: Pod | undefined, pod: Pod | undefined): void {
    const key = keyOf((pod ?? old)!);
    const before = old?.spec.nodeName;
    const after = pod?.spec.nodeName;
    if (before && before !== after) this.podsByNode.get(before)?.delete(key);
    if (after) getOrAdd(this.podsByNode, after).add(key);
    if (!pod && before) {
      const set = this.podsByNode.get(before);
      set?.delete(key);
      if (set && !set.size) this.podsByNode.delete(before);
    }
    // Pods matter to a node only while it is unreachable (or gone).
    if (after && (this.deleted.has(after) || this.isStale(after))) this.queue.add(after);
  }

  private isStale(node: string): boolean {
    const seen = this.leases.get(node);
    return !!seen && this.clock() - seen.changedAt >= this.timings.nodeMonitorGraceMs;
  }

  private podsOn(node: string): Pod[] {
    return [...(this.podsByNode.get(node) ?? [])]
      .map((k) => {
        const { namespace, name } = splitKey(k);
        return this.pods.get(namespace, name);
      })
      .filter((p): p is Pod => !!p && p.spec.nodeName === node);
  }

  run(signal: AbortSignal): Promise<void> {
    // Every Lease that existed before now was listed at start and counts as seen now.
    this.running = true;
    const now = this.clock();
    for (const seen of this.leases.values()) seen.changedAt = Math.max(seen.changedAt, now);
    return this.queue.run((name) => this.sync(name), signal, (name, e) => this.ctx.log(`node-lifecycle ${name}: ${(e as Error).message}`));
  }

  private async sync(name: string): Promise<void> {
    const node = this.nodes.get(undefined, name);
    if (!node && !this.deleted.has(name)) return;
    const lease = this.leases.get(name) ?? { changedAt: this.clock(), changed: false };
    if (!this.leases.has(name)) this.leases.set(name, lease);
    const now = this.clock();
    const actions = reconcileNode(node, lease, this.podsOn(name), this.timings, now);
    let changed = false;
    for (const action of actions) {
      if (action.type !== 'requeueAfter') changed = true;
      await this.apply(name, action);
    }
    if (!node && !this.podsOn(name).length) this.deleted.delete(name);
    this.ctx.metrics.reconciles.inc({ controller: this.name, result: changed ? 'changed' : 'unchanged' });
  }

  private async apply(name: string, action: NodeAction): Promise<void> {
    const now = this.clock();
    switch (action.type) {
      case 'requeueAfter':
        this.queue.addAfter(name, action.ms);
        return;
      case 'event':
        this.events.record(action.object, action.eventType, action.reason, action.message);
        return;
      case 'setReady': {
        const ts = rfc3339(now);
        const condition: Condition = { type: 'Ready', status: action.status, reason: action.reason, message: action.message, lastHeartbeatTime: ts, lastTransitionTime: ts };
        if (action.status === 'Unknown') this.ctx.log(`node ${name} stopped renewing its lease: marking it NotReady`);
        else this.ctx.log(`node ${name} renews its lease again: marking it Ready`);
        await this.change<Node>(NODE, undefined, name, 'status', (n) => {
          const wanted = withCondition(n.status?.conditions, condition);
          if (JSON.stringify(wanted) === JSON.stringify(n.status?.conditions)) return undefined;
          return { ...n, status: { ...n.status, conditions: wanted } };
        });
        return;
      }
      case 'setTaints':
        await this.change<Node>(NODE, undefined, name, undefined, (n) => {
          // Re-derive from the current object so a concurrent cordon or taint is kept.
          const current = taintsOf(n);
          const others = current.filter((t) => !isUnreachableTaint(t));
          const ours = action.taints.filter(isUnreachableTaint);
          const wanted = [...others, ...ours.map((t) => current.find((c) => c.key === t.key && c.effect === t.effect) ?? t)];
          if (JSON.stringify(wanted) === JSON.stringify(current)) return undefined;
          const { taints: _old, ...rest } = n.spec ?? {};
          return { ...n, spec: wanted.length ? { ...rest, taints: wanted } : rest };
        });
        return;
      case 'markPodNotReady': {
        const ts = rfc3339(now);
        const pod = action.pod;
        await this.change<Pod>(POD, pod.metadata.namespace, pod.metadata.name!, 'status', (p) => {
          if (p.metadata.uid !== pod.metadata.uid) return undefined;
          let conditions = p.status?.conditions ?? [];
          for (const type of ['Ready', 'ContainersReady']) {
            if (conditions.some((c) => c.type === type && c.status !== 'False') || !conditions.some((c) => c.type === type)) {
              conditions = withCondition(conditions, { type, status: 'False', reason: 'NodeNotReady', message: 'Node is not ready', lastProbeTime: null, lastTransitionTime: ts });
            }
          }
          if (JSON.stringify(conditions) === JSON.stringify(p.status?.conditions)) return undefined;
          return { ...p, status: { ...p.status, conditions } };
        });
        return;
      }
      case 'evictPod': {
        const pod = action.pod;
        try {
          await this.ctx.client.request('DELETE', this.ctx.client.pathFor(POD, pod.metadata.namespace, pod.metadata.name), {
            body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } },
          });
        } catch (e) {
          if (!(isApiError(e) && (e.code === 404 || e.code === 409))) throw e;
        }
        return;
      }
    }
  }

  /** Read, change, write with compare-and-swap; `change` returns undefined when nothing is to be done. */
  private async change<T extends KubeObject>(r: ResourceInfo, namespace: string | undefined, name: string, subresource: 'status' | undefined, change: (obj: T) => T | undefined): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      let current: T;
      try {
        current = await this.ctx.client.get<T>(r, namespace, name);
      } catch (e) {
        if (isApiError(e) && e.code === 404) return;
        throw e;
      }
      const next = change(structuredClone(current));
      if (!next) return;
      try {
        await this.ctx.client.update(r, next, subresource);
        return;
      } catch (e) {
        if (isApiError(e) && e.code === 404) return;
        if (!(isApiError(e) && e.code === 409) || attempt >= 5) throw e;
      }
    }
  }
}

/** Whether a node carries marks of this controller that a fresh Lease should clear. */
function needsRecovery(node: Node): boolean {
  const ready = readyOf(node);
  return (ready?.status === 'Unknown' && ready.reason === NODE_STATUS_UNKNOWN) || taintsOf(node).some(isUnreachableTaint);
}

function getOrAdd<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set;
}

export function nodeLifecycleController(settings: Pick<ControllerSettings, 'nodeMonitorGraceMs' | 'podEvictionTimeoutMs'>) {
  return (ctx: ControllerContext): Controller => new NodeLifecycleController(ctx, { nodeMonitorGraceMs: settings.nodeMonitorGraceMs, podEvictionTimeoutMs: settings.podEvictionTimeoutMs });
}
