// The node's side of the bridge network: the bridge that every pod's veth joins (the gateway
// address on it), forwarding, masquerade for traffic leaving the cluster, and host-gw routes to
// the other nodes' podCIDRs. Each step is idempotent, so a restarted node re-applies them over
// what it left behind.
import { writeFile } from 'node:fs/promises';
import { CommandError, run } from './command.js';

/** The routing protocol number that marks the routes tugboat owns (`ip route show proto 77`). */
export const ROUTE_PROTO = '77';
export const NAT_TABLE = 'tugboat_nat';

export interface BridgeConfig {
  bridge: string;
  /** gateway/prefix, e.g. 198.19.0.1/24 */
  gatewayCidr: string;
  clusterCidr: string;
}

/** Creates the bridge (or keeps it), gives it only the gateway address, turns on forwarding. */
export async function setUpBridge(c: BridgeConfig): Promise<void> {
  await run(['ip', 'link', 'add', c.bridge, 'type', 'bridge']).catch((e) => {
    if (!(e instanceof CommandError && /File exists/.test(e.stderr))) throw e;
  });
  const current = await run(['ip', '-o', '-4', 'addr', 'show', 'dev', c.bridge]);
  if (!current.includes(` ${c.gatewayCidr} `)) await run(['ip', 'addr', 'flush', 'dev', c.bridge]);
  await run(['ip', '-b', '-'], [`addr replace ${c.gatewayCidr} dev ${c.bridge}`, `link set ${c.bridge} up`].join('\n'));
  await writeFile('/proc/sys/net/ipv4/ip_forward', '1');
  // Pods reach Service addresses on the node's loopback through the bridge (see sandbox.ts).
  await writeFile(`/proc/sys/net/ipv4/conf/${c.bridge}/route_localnet`, '1');
  // Packets between pods of this node cross the bridge: NetworkPolicy sees them in the forward hook.
  await writeFile('/proc/sys/net/bridge/bridge-nf-call-iptables', '1').catch(() => undefined);
  await programMasquerade(c.clusterCidr);
  await allowForwarding(c.clusterCidr);
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

/** Pod traffic to anything outside the cluster CIDR leaves with the node's address; pod to pod keeps its own. */
export async function programMasquerade(clusterCidr: string): Promise<void> {
  // Declaring, deleting and defining the table in one transaction swaps it atomically.
  const rules = [
    `table ip ${NAT_TABLE}`,
    `delete table ip ${NAT_TABLE}`,
    `table ip ${NAT_TABLE} {`,
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip saddr ${clusterCidr} ip daddr != ${clusterCidr} masquerade`,
    '  }',
    '}',
  ].join('\n');
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
  if (lines.length > 0) await run(['ip', '-b', '-'], lines.join('\n'));
}
