// The vxlan overlay (`--overlay vxlan`), for nodes that are not on one L2 segment: pod traffic to
// another node's podCIDR is wrapped in UDP (port 4789) to that node's address, as flannel's vxlan
// backend does. Each node's tunnel end (VTEP) has the network address of its podCIDR and a MAC
// made from it, so every node can work out every other node's VTEP from its Node object alone:
// a route per node via its VTEP address (onlink), a permanent neighbour entry for that address,
// and a forwarding entry sending that MAC to the node's address.
import { intToIp, ipToInt, parseCidr } from '../../api/cidr.js';
import { CommandError, run } from './command.js';
import { ROUTE_PROTO, type Route } from './host.js';

export const VXLAN_DEVICE = 'tugvx';
const VXLAN_ID = 4242;
const VXLAN_PORT = 4789;
/** What vxlan adds to every packet (outer IPv4, UDP, vxlan and inner Ethernet headers). */
export const VXLAN_OVERHEAD = 50;

export function vtepAddress(podCidr: string): string {
  return intToIp(parseCidr(podCidr, 'podCIDR', '198.19.0.0/24').base);
}

/** A locally administered MAC holding the VTEP address: 0a:58:a.b.c.d in hex. */
export function vtepMac(podCidr: string): string {
  const n = ipToInt(vtepAddress(podCidr));
  return ['0a', '58', ...[24, 16, 8, 0].map((s) => ((n >>> s) & 255).toString(16).padStart(2, '0'))].join(':');
}

/** The MTU of the interface that carries `nodeIP`, less the vxlan overhead: what pods get. */
export async function overlayMtu(nodeIP: string): Promise<number> {
  const links = JSON.parse(await run(['ip', '-j', 'addr', 'show', 'to', nodeIP])) as { mtu?: number }[];
  return (links[0]?.mtu ?? 1500) - VXLAN_OVERHEAD;
}

/** Creates (or keeps) the node's VTEP for its podCIDR. */
export async function setUpVxlan(nodeIP: string, podCidr: string): Promise<void> {
  const mac = vtepMac(podCidr);
  const existing = await run(['ip', '-j', '-d', 'link', 'show', VXLAN_DEVICE]).then(
    (out) => JSON.parse(out) as { address?: string; linkinfo?: { info_data?: { id?: number; local?: string } } }[],
    (e) => {
      if (e instanceof CommandError) return [];
      throw e;
    },
  );
  const current = existing[0];
  const matches = current?.address === mac && current.linkinfo?.info_data?.local === nodeIP && current.linkinfo?.info_data?.id === VXLAN_ID;
  if (current && !matches) await run(['ip', 'link', 'del', VXLAN_DEVICE]);
  if (!matches) await run(['ip', 'link', 'add', VXLAN_DEVICE, 'type', 'vxlan', 'id', String(VXLAN_ID), 'dstport', String(VXLAN_PORT), 'local', nodeIP, 'nolearning']);
  await run(['ip', '-b', '-'], [`link set ${VXLAN_DEVICE} address ${mac}`, `addr replace ${vtepAddress(podCidr)}/32 dev ${VXLAN_DEVICE}`, `link set ${VXLAN_DEVICE} up`].join('\n'));
}

/** Makes the overlay's routes, neighbours and forwarding entries exactly those of `want`. */
export async function syncOverlay(want: Route[]): Promise<void> {
  const routes = JSON.parse((await run(['ip', '-j', 'route', 'show', 'proto', ROUTE_PROTO])) || '[]') as { dst: string; gateway?: string; dev?: string }[];
  const fdb = JSON.parse((await run(['bridge', '-j', 'fdb', 'show', 'dev', VXLAN_DEVICE])) || '[]') as { mac: string; dst?: string }[];
  const lines: string[] = [];
  const wanted = new Set(want.map((w) => w.cidr));
  for (const r of routes) {
    const keep = wanted.has(r.dst) && r.dev === VXLAN_DEVICE && r.gateway === vtepAddress(r.dst);
    if (!keep) lines.push(`route del ${r.dst} proto ${ROUTE_PROTO}`);
    if (r.dev === VXLAN_DEVICE && !wanted.has(r.dst)) lines.push(`neigh del ${vtepAddress(r.dst)} dev ${VXLAN_DEVICE}`);
  }
  for (const w of want) {
    lines.push(`neigh replace ${vtepAddress(w.cidr)} lladdr ${vtepMac(w.cidr)} dev ${VXLAN_DEVICE} nud permanent`);
    lines.push(`route replace ${w.cidr} via ${vtepAddress(w.cidr)} dev ${VXLAN_DEVICE} onlink proto ${ROUTE_PROTO}`);
  }
  if (lines.length > 0) await run(['ip', '-force', '-b', '-'], lines.join('\n'));
  const fdbLines: string[] = [];
  for (const e of fdb) {
    if (!e.dst || e.mac === '00:00:00:00:00:00') continue;
    if (!want.some((w) => vtepMac(w.cidr) === e.mac && w.via === e.dst)) fdbLines.push(`fdb del ${e.mac} dev ${VXLAN_DEVICE} dst ${e.dst}`);
  }
  for (const w of want) fdbLines.push(`fdb replace ${vtepMac(w.cidr)} dev ${VXLAN_DEVICE} dst ${w.via} self permanent`);
  if (fdbLines.length > 0) await run(['bridge', '-force', '-b', '-'], fdbLines.join('\n'));
}
