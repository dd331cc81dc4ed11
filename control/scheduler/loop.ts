// The scheduler's loop (kube-scheduler's job): informer handlers keep a cache of nodes and of what
// is placed on each, and queue unbound pods; one loop decides pod by pod with the pure core, assumes
// each pod onto its node at once (so the next decision sees it before the watch does) and binds
// it by setting spec.nodeName with compare-and-swap, several binds in flight at a time.
import { rfc3339 } from '../../api/time.js';
import { isApiError } from '../../api/errors.js';
import type { Informer } from '../../api/informer.js';
import { resourceOfKind } from '../../api/resources.js';
import type { Condition, Node, Pod } from '../../api/types.js';
import type { EventRecorder } from '../controllers/events.js';
import type { Controller, ControllerContext } from '../controllers/manager.js';
import { keyOf, splitKey, WorkQueue } from '../controllers/queue.js';
import {
  account,
  emptyUsage,
  nodeInfoOf,
  podDemand,
  sameForScheduling,
  schedule,
  type Candidate,
  type NodeUsage,
  type PodDemand,
  type SchedulerStrategy,
} from './scheduler.js';

const POD = resourceOfKind('Pod');
export const SCHEDULER_NAME = 'default-scheduler';

export interface SchedulerOptions {
  strategy: SchedulerStrategy;
  /** Binds (and status writes) in flight at once; decisions are still made one at a time. */
  maxInFlight?: number;
  /** How often a pod that fits nowhere is tried again even if nothing seems to have changed. */
  retryUnschedulableMs?: number;
}

/** Whether this scheduler should place the pod. */
export function needsScheduling(pod: Pod): boolean {
  const spec = pod.spec;
  if (!spec || spec.nodeName || pod.metadata.deletionTimestamp) return false;
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return false;
  if (spec.schedulerName && spec.schedulerName !== SCHEDULER_NAME) return false;
  return !(Array.isArray(spec.schedulingGates) && spec.schedulingGates.length > 0);
}

/** Whether a pod holds resources on its node: bound and not finished. */
function holdsResources(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return !!pod.spec?.nodeName && phase !== 'Succeeded' && phase !== 'Failed';
}

interface Placement {
  node: string;
  demand: PodDemand;
  /** Decided here but not yet seen bound through the watch. */
  assumed: boolean;
}

/** A counting semaphore whose waiters give up when the signal aborts. */
class Slots {
  private free: number;
  private readonly waiters: (() => void)[] = [];
  constructor(size: number) {
    this.free = size;
  }
  acquire(signal: AbortSignal): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.push(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}

export class Scheduler implements Controller {
  readonly name = 'scheduler';
  private readonly queue = new WorkQueue();
  private readonly candidates = new Map<string, Candidate>();
  private readonly usage = new Map<string, NodeUsage>();
  private readonly placements = new Map<string, Placement>();
  /** When each unbound pod was first seen, for the schedule duration histogram. */
  private readonly firstSeen = new Map<string, number>();
  /** Pods that fit nowhere at their last try; retried when the cluster changes. */
  private readonly unschedulable = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly slots: Slots;
  private readonly events: EventRecorder;
  private readonly pods: Informer<Pod>;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly opts: SchedulerOptions,
  ) {
    this.slots = new Slots(opts.maxInFlight ?? 32);
    this.events = ctx.events(SCHEDULER_NAME);
    this.pods = ctx.informers.of<Pod>('Pod', {
      onAdd: (p) => this.onPod(p),
      onUpdate: (_old, p) => this.onPod(p),
      onDelete: (p) => this.onPodDeleted(p),
    });
    ctx.informers.of<Node>('Node', {
      onAdd: (n) => this.onNode(n),
      onUpdate: (_old, n) => this.onNode(n),
      onDelete: (n) => {
        this.candidates.delete(n.metadata.name!);
      },
    });
  }

  async run(signal: AbortSignal): Promise<void> {
    try {
      await this.queue.run((key) => this.scheduleOne(key, signal), signal, (key, e) => {
        this.ctx.metrics.reconciles.inc({ controller: this.name, result: 'error' });
        this.ctx.log(`scheduler: ${key}: ${(e as Error).message}`);
      });
    } finally {
      await Promise.allSettled([...this.inFlight]);
    }
  }

  // ---- informer handlers: bookkeeping only ----

  private usageOf(node: string): NodeUsage {
    let u = this.usage.get(node);
    if (!u) this.usage.set(node, (u = emptyUsage()));
    return u;
  }

  private place(uid: string, placement: Placement): void {
    this.unplace(uid);
    this.placements.set(uid, placement);
    account(this.usageOf(placement.node), placement.demand, 1);
  }

  /** Removes a pod's accounting; true when it held something. */
  private unplace(uid: string): boolean {
    const old = this.placements.get(uid);
    if (!old) return false;
    this.placements.delete(uid);
    account(this.usageOf(old.node), old.demand, -1);
    return true;
  }

  private onPod(pod: Pod): void {
    const uid = pod.metadata.uid!;
    const key = keyOf(pod);
    const placed = this.placements.get(uid);
    if (holdsResources(pod)) {
      if (!placed || placed.assumed || placed.node !== pod.spec.nodeName) this.place(uid, { node: pod.spec.nodeName!, demand: podDemand(pod), assumed: false });
      this.forgetPending(key);
      return;
    }
    // Still unbound while our bind is in flight: keep the assumption.
    if (placed?.assumed && !pod.spec.nodeName) return;
    if (this.unplace(uid)) this.retryUnschedulable(); // it finished: its resources are free
    if (!needsScheduling(pod)) this.forgetPending(key);
    else if (!this.unschedulable.has(key)) {
      // A pod waiting for the cluster to change is not retried on its own updates (such as our
      // PodScheduled condition); the periodic retry still picks up anything else.
      if (!this.firstSeen.has(key)) this.firstSeen.set(key, Date.now());
      this.queue.add(key);
    }
  }

  private onPodDeleted(pod: Pod): void {
    this.forgetPending(keyOf(pod));
    if (this.unplace(pod.metadata.uid!)) this.retryUnschedulable();
  }

  private onNode(node: Node): void {
    const info = nodeInfoOf(node);
    const current = this.candidates.get(info.name);
    if (current && sameForScheduling(current.node, info)) return;
    if (current) current.node = info;
    else this.candidates.set(info.name, { node: info, usage: this.usageOf(info.name) });
    this.retryUnschedulable();
  }

  private forgetPending(key: string): void {
    this.firstSeen.delete(key);
    this.unschedulable.delete(key);
  }

  /** Something changed that may let a waiting pod fit: try them all again. */
  private retryUnschedulable(): void {
    for (const key of this.unschedulable) this.queue.add(key);
    this.unschedulable.clear();
  }

  // ---- the loop ----

  private async scheduleOne(key: string, signal: AbortSignal): Promise<void> {
    const { namespace, name } = splitKey(key);
    const pod = this.pods.get(namespace, name);
    if (!pod || !needsScheduling(pod) || this.placements.has(pod.metadata.uid!)) return;
    await this.slots.acquire(signal);
    if (signal.aborted) return;
    const demand = podDemand(pod);
    const decision = schedule(pod, demand, this.candidates.values(), this.opts.strategy);
    if (decision.node !== undefined) {
      this.place(pod.metadata.uid!, { node: decision.node, demand, assumed: true });
      this.track(this.bind(pod, decision.node));
    } else {
      this.unschedulable.add(key);
      this.queue.addAfter(key, this.opts.retryUnschedulableMs ?? 15_000);
      this.ctx.metrics.reconciles.inc({ controller: this.name, result: 'unschedulable' });
      this.observe(this.firstSeen.get(key), 'unschedulable');
      this.track(this.reportUnschedulable(pod, decision.message));
    }
  }

  /** Runs I/O in a slot, in the background. */
  private track(work: Promise<void>): void {
    const p = work
      .catch((e) => this.ctx.log(`scheduler: ${(e as Error).message}`))
      .finally(() => {
        this.inFlight.delete(p);
        this.slots.release();
      });
    this.inFlight.add(p);
  }

  private observe(since: number | undefined, result: 'scheduled' | 'unschedulable'): void {
    if (since !== undefined) this.ctx.metrics.scheduleDuration.observe({ result }, (Date.now() - since) / 1000);
  }

  /** Sets spec.nodeName with compare-and-swap; re-reads on a conflict and gives up if someone else bound it. */
  private async bind(pod: Pod, node: string): Promise<void> {
    const uid = pod.metadata.uid!;
    const key = keyOf(pod);
    // Read now: the watch may report the pod bound (and forget it) before our PUT returns.
    const since = this.firstSeen.get(key);
    let current = pod;
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.ctx.client.update(POD, { ...current, spec: { ...current.spec, nodeName: node } });
          break;
        } catch (e) {
          if (!isApiError(e) || e.code !== 409 || attempt >= 5) throw e;
          current = await this.ctx.client.get<Pod>(POD, pod.metadata.namespace, pod.metadata.name!);
          if (current.metadata.uid !== uid || !needsScheduling(current)) {
            this.dropAssumption(uid);
            return;
          }
        }
      }
    } catch (e) {
      this.dropAssumption(uid);
      if (isApiError(e) && e.code === 404) return;
      this.ctx.metrics.reconciles.inc({ controller: this.name, result: 'error' });
      this.queue.addAfter(key, 1_000);
      throw new Error(`could not bind pod ${key} to node ${node}: ${(e as Error).message}`, { cause: e });
    }
    this.ctx.metrics.reconciles.inc({ controller: this.name, result: 'scheduled' });
    this.observe(since, 'scheduled');
    this.firstSeen.delete(key);
    this.events.record(pod, 'Normal', 'Scheduled', `Successfully assigned ${key} to ${node}`);
  }

  /** Forgets a pod assumed onto a node whose bind did not happen. */
  private dropAssumption(uid: string): void {
    if (this.placements.get(uid)?.assumed) this.unplace(uid);
  }

  /** PodScheduled=False with Kubernetes' reason text, and a FailedScheduling event (repeats aggregate). */
  private async reportUnschedulable(pod: Pod, message: string): Promise<void> {
    this.events.record(pod, 'Warning', 'FailedScheduling', message);
    const conditions = pod.status?.conditions ?? [];
    const current = conditions.find((c) => c.type === 'PodScheduled');
    if (current?.status === 'False' && current.reason === 'Unschedulable' && current.message === message) return;
    const condition: Condition = {
      type: 'PodScheduled',
      status: 'False',
      reason: 'Unschedulable',
      message,
      lastProbeTime: null,
      lastTransitionTime: current?.status === 'False' && current.lastTransitionTime ? current.lastTransitionTime : rfc3339(),
    };
    const next = [...conditions.filter((c) => c.type !== 'PodScheduled'), condition];
    try {
      await this.ctx.client.patch(POD, pod.metadata.namespace, pod.metadata.name!, { status: { conditions: next } }, 'merge', 'status');
    } catch (e) {
      if (isApiError(e) && e.code === 404) return;
      throw new Error(`could not mark pod ${keyOf(pod)} unschedulable: ${(e as Error).message}`, { cause: e });
    }
  }
}

/** The factory `defaultControllers` lists. */
export function schedulerController(opts: SchedulerOptions): (ctx: ControllerContext) => Controller {
  return (ctx) => new Scheduler(ctx, opts);
}
