// The resolv.conf a pod gets, by its dnsPolicy and dnsConfig, as kubelet writes it: ClusterFirst
// (the default) points at the cluster DNS with the namespace's search path and ndots:5; Default
// copies the node's; None uses only dnsConfig. dnsConfig's nameservers, searches and options add to
// (and options override) what the policy gives.
import type { Pod } from '../api/types.js';

export interface ClusterDnsInfo {
  /** The cluster DNS address (resolv.conf has no port: only a server on port 53 can be named). */
  ip: string;
  domain: string;
}

interface DnsConfig {
  nameservers?: string[];
  searches?: string[];
  options?: { name: string; value?: string }[];
}

interface Parsed {
  nameservers: string[];
  searches: string[];
  options: Map<string, string | undefined>;
}

function parse(text: string): Parsed {
  const out: Parsed = { nameservers: [], searches: [], options: new Map() };
  for (const line of text.split('\n')) {
    const [key, ...rest] = line.trim().split(/\s+/);
    if (key === 'nameserver' && rest[0]) out.nameservers.push(rest[0]);
    else if (key === 'search' || key === 'domain') out.searches.push(...rest);
    else if (key === 'options') for (const o of rest) out.options.set(o.split(':')[0], o.includes(':') ? o.slice(o.indexOf(':') + 1) : undefined);
  }
  return out;
}

/** Kubernetes' limits: at most 3 nameservers, 32 search domains. */
const MAX_NAMESERVERS = 3;
const MAX_SEARCHES = 32;

/**
 * The pod's resolv.conf text, or undefined when there is nothing to write (ClusterFirst without a
 * cluster DNS on port 53 falls back to the node's file, as kubelet does without a cluster DNS).
 */
export function resolvConfFor(pod: Pod, cluster: ClusterDnsInfo | undefined, hostResolvConf: string): string | undefined {
  const policy = (pod.spec.dnsPolicy as string | undefined) ?? 'ClusterFirst';
  const host = parse(hostResolvConf);
  let conf: Parsed;
  if (policy === 'None') conf = { nameservers: [], searches: [], options: new Map() };
  else if ((policy === 'ClusterFirst' || policy === 'ClusterFirstWithHostNet') && cluster) {
    const ns = pod.metadata.namespace ?? 'default';
    conf = {
      nameservers: [cluster.ip],
      searches: [`${ns}.svc.${cluster.domain}`, `svc.${cluster.domain}`, cluster.domain, ...host.searches],
      options: new Map([['ndots', '5']]),
    };
  } else conf = host;
  const extra = (pod.spec.dnsConfig ?? {}) as DnsConfig;
  conf.nameservers.push(...(extra.nameservers ?? []));
  conf.searches.push(...(extra.searches ?? []));
  for (const o of extra.options ?? []) conf.options.set(o.name, o.value);
  return render(conf);
}

/** The node's own resolv.conf as a pod with dnsPolicy Default gets it (to tell whether a pod's differs). */
export function nodeResolvConf(hostResolvConf: string): string | undefined {
  return render(parse(hostResolvConf));
}

function render(conf: Parsed): string | undefined {
  const nameservers = [...new Set(conf.nameservers)].slice(0, MAX_NAMESERVERS);
  const searches = [...new Set(conf.searches)].slice(0, MAX_SEARCHES);
  const lines: string[] = [];
  for (const n of nameservers) lines.push(`nameserver ${n}`);
  if (searches.length) lines.push(`search ${searches.join(' ')}`);
  if (conf.options.size) lines.push(`options ${[...conf.options].map(([k, v]) => (v === undefined ? k : `${k}:${v}`)).join(' ')}`);
  return lines.length ? lines.join('\n') + '\n' : undefined;
}
