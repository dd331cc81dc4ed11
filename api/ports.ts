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

/**
 * Where a Service's targetPort (a number or a port name) is served for this pod: the assigned
 * node port, or undefined when no container declares it (a numeric targetPort that no container
 * declares is served on that same port, as with host networking).
 */
export function resolveTargetPort(pod: Pod, targetPort: number | string, protocol = 'TCP'): number | undefined {
  const ports = podPorts(pod).filter((p) => (p.protocol || 'TCP') === protocol);
  if (typeof targetPort === 'string') return ports.find((p) => p.name === targetPort)?.hostPort;
  return ports.find((p) => p.containerPort === targetPort)?.hostPort ?? targetPort;
}

export function portsAnnotationValue(ports: PodPort[]): string {
  return JSON.stringify(ports.map((p) => ({ container: p.container, ...(p.name ? { name: p.name } : {}), containerPort: p.containerPort, hostPort: p.hostPort, protocol: p.protocol })));
}
