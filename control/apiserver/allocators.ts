// ClusterIP and NodePort allocation for Services. The pickers are pure; the allocator reads the
// Services already stored to know what is taken. Callers serialise Service writes (see
// Registry) so two Services never get the same address.
import { errors } from '../../api/errors.js';
import { type ResourceInfo, resourceOfKind } from '../../api/resources.js';
import type { KubeObject, ServiceSpec } from '../../api/types.js';
import { cidrContains, intToIp, ipToInt, parseCidr } from '../../api/cidr.js';


const SERVICE: ResourceInfo = resourceOfKind('Service');

export interface AllocatorConfig {
  serviceCidr: string; // e.g. 127.77.0.0/16
  nodePortRange: [number, number]; // inclusive
}

export const DEFAULT_ALLOCATOR_CONFIG: AllocatorConfig = { serviceCidr: '127.77.0.0/16', nodePortRange: [30000, 32767] };

/** The first and last address of a CIDR are never a ClusterIP (as Kubernetes' allocator). */
function isNetworkOrBroadcast(cidr: string, ip: string): boolean {
  const { base, size } = parseCidr(cidr);
  const n = ipToInt(ip);
  return n === base || n === base + size - 1;
}

/** The well-known addresses: .1 is the `kubernetes` Service, .10 is cluster DNS (as kubeadm). */
export function reservedClusterIP(cidr: string, offset: 1 | 10): string {
  return intToIp(parseCidr(cidr).base + offset);
}

/** Picks a free ClusterIP, starting past the reserved low addresses; throws when the range is full. */
export function pickClusterIP(cidr: string, used: Set<string>): string {
  const { base, size } = parseCidr(cidr);
  // Start at a random place so that deleted addresses are not handed out again at once.
  const first = 16;
  const span = size - first - 1;
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < span; i++) {
    const ip = intToIp(base + first + ((start + i) % span));
    if (!used.has(ip)) return ip;
  }
  throw errors.internal(`no free ClusterIP left in ${cidr}; delete unused Services or start control with a larger --service-cidr`);
}

export function pickNodePort(range: [number, number], used: Set<number>): number {
  const span = range[1] - range[0] + 1;
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < span; i++) {
    const port = range[0] + ((start + i) % span);
    if (!used.has(port)) return port;
  }
  throw errors.internal(`no free NodePort left in ${range[0]}-${range[1]}; delete unused NodePort Services`);
}

interface ServiceLister {
  list(r: ResourceInfo, namespace: string | undefined): Promise<{ items: KubeObject[] }>;
}

/**
 * Gives a Service its ClusterIP (unless headless or ExternalName) and NodePorts (for NodePort and
 * LoadBalancer types), and rejects a requested address that another Service holds.
 */
export async function allocateServiceAddresses(lister: ServiceLister, svc: KubeObject, config: AllocatorConfig = DEFAULT_ALLOCATOR_CONFIG): Promise<void> {
  const spec = (svc.spec ??= {}) as ServiceSpec;
  const { items } = await lister.list(SERVICE, undefined);
  const others = items.filter((o) => !(o.metadata.namespace === svc.metadata.namespace && o.metadata.name === svc.metadata.name));
  const usedIPs = new Set(others.map((o) => (o.spec as ServiceSpec)?.clusterIP).filter((ip): ip is string => !!ip && ip !== 'None'));
  const usedPorts = new Set(others.flatMap((o) => ((o.spec as ServiceSpec)?.ports ?? []).map((p) => p.nodePort)).filter((p): p is number => !!p));
  const name = svc.metadata.name ?? '';

  if (spec.type === 'ExternalName') {
    delete spec.clusterIP;
    delete spec.clusterIPs;
  } else if (spec.clusterIP !== 'None') {
    if (spec.clusterIP) {
      if (!cidrContains(config.serviceCidr, spec.clusterIP) || isNetworkOrBroadcast(config.serviceCidr, spec.clusterIP)) {
        throw errors.invalid('Service', name, [{ field: 'spec.clusterIP', message: `Invalid value: "${spec.clusterIP}": provided IP is not in the valid range. The range of valid IPs is ${config.serviceCidr}` }]);
      }
      if (usedIPs.has(spec.clusterIP)) {
        throw errors.invalid('Service', name, [{ field: 'spec.clusterIP', message: `Invalid value: "${spec.clusterIP}": provided IP is already allocated` }]);
      }
    } else {
      spec.clusterIP = pickClusterIP(config.serviceCidr, usedIPs);
    }
    spec.clusterIPs = [spec.clusterIP];
  } else {
    spec.clusterIPs = ['None'];
  }

  if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') {
    // One Service may use a node port once per protocol (53/UDP and 53/TCP); validation has
    // already rejected a port repeated for the same protocol.
    const own = new Set<number>();
    const requested = new Set((spec.ports ?? []).map((p) => p.nodePort).filter((p): p is number => !!p));
    (spec.ports ?? []).forEach((p, i) => {
      if (p.nodePort) {
        if (usedPorts.has(p.nodePort)) {
          throw errors.invalid('Service', name, [{ field: `spec.ports[${i}].nodePort`, message: `Invalid value: ${p.nodePort}: provided port is already allocated` }]);
        }
        const [lo, hi] = config.nodePortRange;
        if (p.nodePort < lo || p.nodePort > hi) {
          throw errors.invalid('Service', name, [{ field: `spec.ports[${i}].nodePort`, message: `Invalid value: ${p.nodePort}: provided port is not in the valid range. The range of valid ports is ${lo}-${hi}` }]);
        }
      } else {
        p.nodePort = pickNodePort(config.nodePortRange, new Set([...usedPorts, ...own, ...requested]));
      }
      own.add(p.nodePort);
    });
  }
}
