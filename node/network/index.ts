// Pod networking on the node: the hostport mode (pods share the node's network) and the bridge
// mode (each pod its own namespace and address). Only this file is imported from outside.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { cidrsOverlap, parseCidr } from '../../api/cidr.js';

export { BridgeNetwork, type BridgeOptions } from './bridge.js';
export { HostportNetwork } from './hostport.js';
export { NodeRoutes } from './routes.js';
export type { PodAttachment, PodNetwork } from './types.js';
export { SandboxError } from './types.js';

export type NetworkMode = 'hostport' | 'bridge';

const TOOLS: Record<string, string> = { ip: 'iproute2', nsenter: 'util-linux', nft: 'nftables' };

function onPath(command: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Why this host cannot run the bridge mode, or undefined when it can. */
export function bridgeProblem(): string | undefined {
  if (process.platform !== 'linux') return `the bridge network needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'the bridge network needs root (it makes network namespaces, veths and routes)';
  const missing = Object.keys(TOOLS).filter((t) => !onPath(t));
  if (missing.length > 0) return `the bridge network needs ${missing.join(', ')} (Debian: apt-get install ${[...new Set(missing.map((t) => TOOLS[t]))].join(' ')})`;
  return undefined;
}

/** Checks --cluster-cidr and --service-cidr of a node: each valid, and apart. */
export function checkNodeCidrs(clusterCidr: string, serviceCidr: string): void {
  const cluster = parseCidr(clusterCidr, '--cluster-cidr', '198.19.0.0/16');
  const service = parseCidr(serviceCidr, '--service-cidr', '127.77.0.0/16');
  if (cidrsOverlap(cluster, service)) throw new Error(`--cluster-cidr ${clusterCidr} overlaps --service-cidr ${serviceCidr}: pod and Service addresses must come from separate ranges`);
}
