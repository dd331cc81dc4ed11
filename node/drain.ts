// Acknowledged draining: before a terminating pod gets SIGTERM, its node waits until no proxy
// in the cluster sends it new traffic. The pod is already marked not ready; the Endpoints
// controller then drops it from the ready addresses; every node's proxy reports the Endpoints
// revision it has programmed (an annotation on its Lease); once every Ready node has reached the
// revision that dropped the pod, in-flight requests can finish and nothing new arrives. Capped, so
// a node that never reports cannot hold a pod forever. Kubernetes users need a preStop sleep for this.
import type { ApiClient } from '../api/client.js';
import { Informer } from '../api/informer.js';
import { resourceOfKind } from '../api/resources.js';
import type { Endpoints, KubeObject, Node, Pod } from '../api/types.js';

export const PROXY_REVISION_ANNOTATION = 'tugboat.io/proxy-revision';
export const DEFAULT_DRAIN_CAP_MS = 5_000;

type Lease = KubeObject;

function mentions(ep: Endpoints, pod: Pod, ready: boolean): boolean {
  return (ep.subsets ?? []).some((s) => (ready ? s.addresses : s.notReadyAddresses)?.some((a) => a.targetRef?.uid === pod.metadata.uid || (a.targetRef?.name === pod.metadata.name && !a.targetRef?.uid)));
}

function isReadyNode(node: Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/**
 * Whether traffic to `pod` has stopped everywhere: no Endpoints list it as ready, and every Ready
 * node's proxy has programmed the newest of the Endpoints that held it. `holding` are the
 * Endpoints (namespace/name) that listed the pod when the wait began. Pure.
 */
export function unrouted(pod: Pod, holding: ReadonlySet<string>, endpoints: Endpoints[], nodes: Node[], leases: Lease[]): boolean {
  let target = 0;
  for (const ep of endpoints) {
    if (ep.metadata.namespace !== pod.metadata.namespace) continue;
    if (mentions(ep, pod, true)) return false;
    if (holding.has(ep.metadata.name!) || mentions(ep, pod, false)) target = Math.max(target, Number(ep.metadata.resourceVersion) || 0);
  }
  if (!target) return true;
  const reported = new Map(leases.map((l) => [l.metadata.name!, Number(l.metadata.annotations?.[PROXY_REVISION_ANNOTATION])]));
  return nodes.filter(isReadyNode).every((n) => {
    const rev = reported.get(n.metadata.name!);
    // A node whose proxy never reported runs none: nothing to wait for.
    return rev === undefined || Number.isNaN(rev) || rev >= target;
  });
}

export class DrainBarrier {
  private readonly endpoints: Informer<Endpoints>;
  private readonly nodes: Informer<Node>;
  private readonly leases: Informer<Lease>;
  private readonly waiters = new Set<() => void>();

  constructor(client: ApiClient, private readonly capMs = DEFAULT_DRAIN_CAP_MS) {
    const changed = { onAdd: () => this.wake(), onUpdate: () => this.wake(), onDelete: () => this.wake() };
    this.endpoints = new Informer<Endpoints>(client, resourceOfKind('Endpoints'), changed);
    this.nodes = new Informer<Node>(client, resourceOfKind('Node'), changed);
    this.leases = new Informer<Lease>(client, resourceOfKind('Lease'), changed, { namespace: 'kube-node-lease' });
  }

  start(): void {
    this.endpoints.start();
    this.nodes.start();
    this.leases.start();
  }

  async stop(): Promise<void> {
    await Promise.all([this.endpoints.stop(), this.nodes.stop(), this.leases.stop()]);
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** The Endpoints that route to the pod now; taken before the pod is marked not ready. */
  holders(pod: Pod): Set<string> {
    return new Set(this.endpoints.list().filter((ep) => ep.metadata.namespace === pod.metadata.namespace && (mentions(ep, pod, true) || mentions(ep, pod, false))).map((ep) => ep.metadata.name!));
  }

  /**
   * Waits until no proxy routes new traffic to `pod` (see `unrouted`), at most the cap; resolves
   * with how long it waited. Without synced caches (control node unreachable) it waits the cap.
   */
  async waitUntilUnrouted(pod: Pod, holding: ReadonlySet<string>, signal?: AbortSignal): Promise<number> {
    const started = performance.now();
    const synced = () => this.endpoints.hasSynced() && this.nodes.hasSynced() && this.leases.hasSynced();
    if (synced() && !holding.size) return 0;
    await new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
        signal?.removeEventListener('abort', finish);
        resolve();
      };
      const check = () => {
        if (synced() && unrouted(pod, holding, this.endpoints.list(), this.nodes.list(), this.leases.list())) finish();
      };
      const timer = setTimeout(finish, this.capMs);
      signal?.addEventListener('abort', finish, { once: true });
      this.waiters.add(check);
      check();
    });
    return performance.now() - started;
  }
}
