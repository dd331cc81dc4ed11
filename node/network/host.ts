// The node's side of the bridge network: the bridge that every pod's veth joins (the gateway
// address on it), forwarding, masquerade for traffic leaving the cluster, and host-gw routes to
// the other nodes' podCIDRs. Each step is idempotent, so a restarted node re-applies them over
// what it left behind.
import { writeFile } from 'node:fs/promises';
import { CommandError, run, swapTable } from './command.js';

/** The routing protocol number that marks the routes tugboat owns (`ip route show proto 77`). */
export const ROUTE_PROTO = '77';
export const HOST_TABLE = 'tugboat_host';

export interface BridgeConfig {
  bridge: string;
  /** gateway/prefix, e.g. 198.19.0.1/24 */
  gatewayCidr: string;
  clusterCidr: string;
  serviceCidr: string;
  /** The cluster's node addresses: pod traffic to them keeps its source (policy sees the real pod). */
  nodeIPs?: string[];
}

/**
 * Creates the bridge (or keeps it), gives it only the gateway address, turns on forwarding.
 * Resolves with a warning to log when pods of one node pass around NetworkPolicy.
 */
export async function setUpBridge(c: BridgeConfig): Promise<string | undefined> {
  await run(['ip', 'link', 'add', c.bridge, 'type', 'bridge']).catch((e) => {
    if (!(e instanceof CommandError && /File exists/.test(e.stderr))) throw e;
  });
  const current = await run(['ip', '-o', '-4', 'addr', 'show', 'dev', c.bridge]);
  if (!current.includes(` ${c.gatewayCidr} `)) await run(['ip', 'addr', 'flush', 'dev', c.bridge]);
  await run(['ip', '-b', '-'], [`addr replace ${c.gatewayCidr} dev ${c.bridge}`, `link set ${c.bridge} up`].join('\n'));
  await writeFile('/proc/sys/net/ipv4/ip_forward', '1');
  // Pods reach Service addresses on the node's loopback through the bridge (see sandbox.ts).
  await writeFile(`/proc/sys/net/ipv4/conf/${c.bridge}/route_localnet`, '1');
  await programHostTable(c);
  await allowForwarding(c.clusterCidr);
  // Packets between pods of this node cross the bridge: NetworkPolicy sees them in the forward hook
  // only through br_netfilter.
  await run(['modprobe', 'br_netfilter']).catch(() => undefined);
  const seen = await writeFile('/proc/sys/net/bridge/bridge-nf-call-iptables', '1').then(() => true, () => false);
  return seen ? undefined : 'br_netfilter is missing (/proc/sys/net/bridge does not exist): NetworkPolicy is not enforced between pods of this node';
}

/**
 * A host firewall that drops forwarded packets by default (Docker sets iptables' FORWARD policy
 * to DROP, and its br_netfilter makes even bridged packets pass FORWARD) would cut pods off from
 * each other: traffic from and to the cluster CIDR is accepted there, as flannel does.
 */
async function allowForwarding(clusterCidr: string): Promise<void> {
  const policy = await run(['iptables', '-S', 'FORWARD']).catch(() => '');
  if (!policy.startsWith('-P FORWARD DROP')) return;
  for (const match of [['-s', clusterCidr], ['-d', clusterCidr]]) {
    const rule = ['FORWARD', ...match, '-m', 'comment', '--comment', 'tugboat pods', '-j', 'ACCEPT'];
    const present = await run(['iptables', '-C', ...rule]).then(() => true, () => false);
    if (!present) await run(['iptables', '-I', ...rule]);
  }
}

/**
 * The node's own table: pod traffic to anything outside the cluster CIDR and the cluster's nodes
 * leaves with the node's address (pod to pod, and pod to a node, keeps its own: a hostPort or
 * NodePort on another node then sees, and its policy judges, the real pod), and from the bridge
 * only the Service addresses of the node's loopback are reachable (route_localnet would otherwise
 * let a pod reach whatever listens on 127.0.0.1 there, the API server under `tug up` included).
 */
export async function programHostTable(c: BridgeConfig): Promise<void> {
  const nodes = c.nodeIPs?.length ? ` ip daddr != { ${[...new Set(c.nodeIPs)].sort().join(', ')} }` : '';
  const rules = swapTable('ip', HOST_TABLE, [
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip saddr ${c.clusterCidr} ip daddr != ${c.clusterCidr}${nodes} masquerade`,
    '  }',
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    // Replies pass: a hostPort reached from the node's loopback comes back to 127.0.0.1 by the bridge.
    '    ct state established,related accept',
    `    iifname "${c.bridge}" ip daddr 127.0.0.0/8 ip daddr != ${c.serviceCidr} drop`,
    '  }',
  ]);
  await run(['nft', '-f', '-'], rules);
}

export interface Route {
  cidr: string;
  via: string;
}

/** Makes the node's host-gw routes exactly `want` (routes of other owners are left alone). */
export async function syncRoutes(want: Route[]): Promise<void> {
  const have = JSON.parse((await run(['ip', '-j', 'route', 'show', 'proto', ROUTE_PROTO])) || '[]') as { dst: string; gateway?: string }[];
  const lines: string[] = [];
  for (const r of have) {
    if (!want.some((w) => w.cidr === r.dst && w.via === r.gateway)) lines.push(`route del ${r.dst} proto ${ROUTE_PROTO}`);
  }
  for (const w of want) {
    if (!have.some((r) => r.dst === w.cidr && r.gateway === w.via)) lines.push(`route replace ${w.cidr} via ${w.via} proto ${ROUTE_PROTO}`);
  }
  // -force: one route the kernel refuses (a node on another subnet) does not hold up the others.
  if (lines.length > 0) await run(['ip', '-force', '-b', '-'], lines.join('\n'));
}
