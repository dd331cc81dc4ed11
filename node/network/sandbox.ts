// A pod's network sandbox in the bridge mode: its own network namespace (`ip netns`, so it
// outlives the node daemon and a restarted one finds it by name), `lo` up, and one end of a veth
// pair as its eth0 with the pod's address; the other end is a port of the node's bridge, whose
// address (the first of the podCIDR) is the pod's default gateway.
//
// Service addresses sit on the node's loopback (127.77.0.0/16 by default), which inside the pod's
// namespace would be the pod's own `lo`. So the pod's local routes cover 127.0.0.0/8 except the
// service CIDR, the service CIDR is routed to the gateway, and route_localnet lets such packets
// leave eth0; the node accepts them on the bridge (route_localnet there too) and delivers them
// to the proxy and DNS listening on those addresses, which see the pod's own address as source.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { cidrMinus, formatCidr, parseCidr, type Cidr } from '../../api/cidr.js';
import { CommandError, run } from './command.js';

export const NETNS_PREFIX = 'tug-';
const NETNS_DIR = '/run/netns';
const LOOPBACK: Cidr = parseCidr('127.0.0.0/8', 'loopback');

export interface SandboxNetwork {
  bridge: string;
  gateway: string;
  /** The podCIDR's prefix length (the pod's eth0 is on that subnet). */
  prefix: number;
  serviceCidr: string;
  /** The pods' MTU, when less than the default (an overlay takes its share). */
  mtu?: number;
}

export interface Sandbox {
  /** `ip netns` name. */
  name: string;
  /** What a process joins (nsenter --net, setns). */
  path: string;
  /** The node's end of the veth pair. */
  hostVeth: string;
  ip: string;
}

/**
 * The sandbox at address `ip` on the node whose `scope` this is. It is named by its address, not
 * by its pod: a sandbox made ahead of its pod (warm.ts) keeps its name, and the node's address
 * book (ipam.ts) says which pod holds it. Namespace names are shared by every network namespace
 * of the machine, so several nodes on one machine keep theirs apart by scope.
 */
export function sandboxFor(scope: string, ip: string): Sandbox {
  const name = `${NETNS_PREFIX}${scope}-${ip}`;
  // Interface names hold 15 bytes: a hash keeps them unique and short.
  const hostVeth = `tv${createHash('sha256').update(`${scope}/${ip}`).digest('hex').slice(0, 12)}`;
  return { name, path: `${NETNS_DIR}/${name}`, hostVeth, ip };
}

/** A short name for a node's sandboxes, from the node's name. */
export function sandboxScope(nodeName: string): string {
  return createHash('sha256').update(nodeName).digest('hex').slice(0, 8);
}

/** The address of a sandbox of this scope, or undefined for a namespace that is not one. */
export function addressOfSandbox(scope: string, name: string): string | undefined {
  const prefix = `${NETNS_PREFIX}${scope}-`;
  return name.startsWith(prefix) ? name.slice(prefix.length) : undefined;
}

/** Routes inside the pod: service CIDR out through the gateway, the rest of 127/8 local. */
function podRoutes(net: SandboxNetwork, ip: string): string[] {
  const service = parseCidr(net.serviceCidr);
  const lines = [`route add default via ${net.gateway}`];
  if (!isLoopback(service)) return lines;
  return [
    ...lines,
    'route del local 127.0.0.0/8 dev lo table local',
    ...cidrMinus(LOOPBACK, service).map((c) => `route add local ${formatCidr(c)} dev lo table local`),
    `route add ${formatCidr(service)} via ${net.gateway} dev eth0 src ${ip}`,
  ];
}

function isLoopback(c: Cidr): boolean {
  return c.base >= LOOPBACK.base && c.base < LOOPBACK.base + LOOPBACK.size;
}

/**
 * Makes the sandbox; a half-made one (from a failure or a crash) is removed first. With
 * `holderPid` the namespace is that process's (a pause container's), named here; else a new one.
 */
export async function createSandbox(s: Sandbox, net: SandboxNetwork, holderPid?: number): Promise<void> {
  // Spawning a process is the cost here (about 6 ms each): clean up only what is there.
  // Hairpin on the node's end: a pod's packet to its own hostPort, turned back to it by DNAT while
  // bridged (br_netfilter), leaves through the port it came in by.
  if (existsSync(s.path)) await deleteSandbox(s);
  const namespace = holderPid === undefined ? `netns add ${s.name}` : `netns attach ${s.name} ${holderPid}`;
  const mtu = net.mtu ? ` mtu ${net.mtu}` : '';
  await run(['ip', '-b', '-'], [namespace, `link add ${s.hostVeth}${mtu} type veth peer name eth0${mtu} netns ${s.name}`, `link set ${s.hostVeth} master ${net.bridge} up`, `link set ${s.hostVeth} type bridge_slave hairpin on`].join('\n'));
  const inside = [`addr add ${s.ip}/${net.prefix} dev eth0`, 'link set lo up', 'link set eth0 up', ...podRoutes(net, s.ip)].join('\n');
  // Sysctls of the pod's namespace, written from inside it before the routes: route_localnet for
  // the Service addresses, and no IPv6 (NetworkPolicy is enforced for IPv4; link-local IPv6
  // between pods of one bridge would pass around it).
  const sysctls = ['ipv4/conf/eth0/route_localnet=1', 'ipv6/conf/all/disable_ipv6=1', 'ipv6/conf/default/disable_ipv6=1'];
  const script = `${sysctls.map((kv) => `echo ${kv.split('=')[1]} >/proc/sys/net/${kv.split('=')[0]}`).join(' && ')} && exec ip -b -`;
  try {
    await run(['nsenter', `--net=${s.path}`, '/bin/sh', '-c', script], inside);
  } catch (e) {
    await deleteSandbox(s);
    throw e;
  }
}

/** Whether the sandbox exists with the pod's address on its eth0 (a restarted node adopts it then). */
export async function sandboxIntact(s: Sandbox): Promise<boolean> {
  try {
    const out = await run(['ip', '-n', s.name, '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
    if (!out.includes(` ${s.ip}/`)) return false;
    await run(['ip', 'link', 'show', s.hostVeth]);
    return true;
  } catch (e) {
    if (e instanceof CommandError) return false;
    throw e;
  }
}

/** Removes the veth pair and the namespace (one `ip` run); a missing one is not an error. */
export async function deleteSandbox(s: Pick<Sandbox, 'name' | 'hostVeth'>): Promise<void> {
  await run(['ip', '-force', '-b', '-'], `link del ${s.hostVeth}\nnetns del ${s.name}\n`).catch(ignoreMissing);
}

const MISSING = /Cannot find device|No such file|does not exist|Cannot remove namespace file|^Command failed/;

function ignoreMissing(e: unknown): void {
  if (e instanceof CommandError && e.stderr.split('\n').every((line) => !line.trim() || MISSING.test(line))) return;
  throw e;
}

/** The addresses of this scope's sandboxes on this machine. */
export async function sandboxAddresses(scope: string): Promise<string[]> {
  const out = await run(['ip', 'netns', 'list']);
  return out
    .split('\n')
    .map((l) => addressOfSandbox(scope, l.split(' ')[0]))
    .filter((ip): ip is string => ip !== undefined);
}

/** Whether the sandbox's named namespace is the network namespace of process `pid`. */
export async function holdsNamespaceOf(s: Sandbox, pid: number): Promise<boolean> {
  try {
    const [named, held] = await Promise.all([stat(s.path), stat(`/proc/${pid}/ns/net`)]);
    return named.ino === held.ino && named.dev === held.dev;
  } catch {
    return false;
  }
}
