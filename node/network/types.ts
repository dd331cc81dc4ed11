// How a pod is put on the network (DESIGN.md §4), whatever the mode: its address, where each of
// its ports is served, and the network namespace its containers join.
import type { PodPort } from '../../api/ports.js';
import type { Pod } from '../../api/types.js';

export interface PodAttachment {
  /** status.podIP: the node's address (hostport) or the pod's own (bridge). */
  podIP: string;
  /** Each declared containerPort and the port it is served on at podIP. */
  ports: PodPort[];
  /** The network namespace the pod's containers join (bridge mode). */
  netns?: string;
}

export interface PodNetwork {
  readonly mode: 'hostport' | 'bridge';
  /** Whether pods of this runtime can join this network (else they share the node's). */
  carries(runtime: string): boolean;
  start(): void;
  stop(): Promise<void>;
  /**
   * Puts the pod on the network (idempotent per pod uid; an adopted pod keeps what it had);
   * `runtime` is the name of the runtime its containers run in.
   */
  attach(pod: Pod, runtime: string): Promise<PodAttachment>;
  /**
   * Whether the pod's sandbox is gone from under its containers (its pause container stopped);
   * the next attach then makes a new one, with the same address.
   */
  sandboxLost?(uid: string, runtime: string): Promise<boolean>;
  /** Takes the pod off the network once its containers are gone. */
  detach(uid: string): Promise<void>;
  /** Frees what pods this node no longer runs still hold (pods deleted while the node was down). */
  collect(isKept: (uid: string) => boolean): Promise<void>;
}

/** The pod cannot be put on the network (yet): kubelet's FailedCreatePodSandBox. */
export class SandboxError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SandboxError';
  }
}

/** In a pod's own network namespace every containerPort is served on itself. */
export function declaredPorts(pod: Pod): PodPort[] {
  const out: PodPort[] = [];
  for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
    for (const p of c.ports ?? []) out.push({ container: c.name, ...(p.name ? { name: p.name } : {}), containerPort: p.containerPort, hostPort: p.containerPort, protocol: p.protocol ?? 'TCP' });
  }
  return out;
}

/** Keeps a pod's network namespace in a container of its own (the docker runtime's pause containers). */
export interface SandboxHolder {
  /** Starts (or finds) the holder; resolves with the pid whose network namespace is the pod's. */
  ensure(podUid: string, labels: { podName: string; namespace: string }): Promise<number>;
  remove(podUid: string): Promise<void>;
  /** Whether the pod's holder is running. */
  alive(podUid: string): Promise<boolean>;
  /** The pod uids that have a holder on this node. */
  pods(): Promise<string[]>;
}
