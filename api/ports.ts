// The node ports a pod was given in the hostport network mode. Each declared containerPort is
// served on its own port of the node (its hostPort, else one from the node's --port-range); the
// node records the assignment in an annotation before the pod's containers start, so the
// Endpoints controller and `tug` can tell where a pod's port is.
import type { Pod } from './types.js';

export const PORTS_ANNOTATION = 'tugboat.io/ports';

export interface PodPort {
  container: string;
  name?: string;
  containerPort: number;
  /** The port on the node (status.podIP) where containerPort is served. */
  hostPort: number;
  protocol: string;
}

/** The pod's assigned ports; empty when the node has not assigned them (yet). */
export function podPorts(pod: Pod): PodPort[] {
  const text = pod.metadata.annotations?.[PORTS_ANNOTATION];
  if (!text) return [];
  try {
    const parsed = JSON.parse(text) as unknown;
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(
      (p): p is PodPort => !!p && typeof p === 'object' && typeof p.containerPort === 'number' && typeof p.hostPort === 'number' && typeof p.container === 'string',
    );
  } catch {
    return [];
  }
}

export type PortResolution =
  | { port: number }
  /** The port exists but its node port is not known yet (the node has not published it). */
  | { pending: true }
  /** A named targetPort no container declares. */
  | { missing: string };

/**
 * The node port a pod serves `target` (a containerPort number or a port name) on, for `protocol`.
 * A number no container declares is used as it is: in the hostport mode the process may listen
 * on it directly (the node resolves probe ports the same way).
 */
export function allocatedPort(pod: Pod, target: number | string, protocol = 'TCP'): PortResolution {
  const byNumber = typeof target === 'number' || /^\d+$/.test(target);
  const containers = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  for (const c of containers) {
    for (const p of c.ports ?? []) {
      if ((p.protocol ?? 'TCP') !== protocol) continue;
      if (byNumber ? p.containerPort !== Number(target) : p.name !== target) continue;
      const given = podPorts(pod).find((a) => a.container === c.name && a.containerPort === p.containerPort && (a.protocol || 'TCP') === protocol);
      if (given) return { port: given.hostPort };
      if (p.hostPort) return { port: p.hostPort };
      return { pending: true };
    }
  }
  return byNumber ? { port: Number(target) } : { missing: String(target) };
}

export function portsAnnotationValue(ports: PodPort[]): string {
  return JSON.stringify(ports.map((p) => ({ container: p.container, ...(p.name ? { name: p.name } : {}), containerPort: p.containerPort, hostPort: p.hostPort, protocol: p.protocol })));
}
