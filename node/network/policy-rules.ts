// NetworkPolicy as nftables rules for the pods of one node (bridge mode), in a table of its own
// (`inet tugboat_policy`), rebuilt from the model on every change and swapped in one transaction,
// as kube-proxy's nftables mode does with its table. The forward hook sees every packet between
// pods, bridged (br_netfilter) or routed: replies of admitted connections pass at once; a packet
// from an isolated local pod goes through its egress chain, one to an isolated local pod through
// its ingress chain. An allowed packet `return`s (so ingress is checked after egress); the end of
// a chain rejects (TCP reset, else ICMP). Packets from nodes pass ingress: they are the node
// proxies, which check the policy of the real client before connecting (and kubelet-style probes).
// The input hook applies a pod's egress rules to the node's own addresses too, apart from the
// Service addresses on its loopback (the proxy and the cluster DNS).
import { formatCidr, type Cidr } from '../../api/cidr.js';
import { swapTable } from './command.js';
import { resolvePortMatch, type Allow, type PolicyIndex, type PolicyPod, type PortMatch } from '../../api/netpol.js';

export const POLICY_TABLE = 'tugboat_policy';

function portClause(m: PortMatch): string {
  const proto = m.protocol.toLowerCase();
  if (m.port === undefined) return `meta l4proto ${proto}`;
  return `meta l4proto ${proto} th dport ${m.endPort && m.endPort !== m.port ? `${m.port}-${m.endPort}` : m.port}`;
}

/** The exceptions that no other one holds: an nft set may not have overlapping intervals. */
function outermost(cidrs: Cidr[]): Cidr[] {
  const sorted = [...cidrs].sort((x, y) => x.prefix - y.prefix);
  const kept: Cidr[] = [];
  for (const c of sorted) if (!kept.some((k) => c.base >= k.base && c.base < k.base + k.size)) kept.push(c);
  return kept;
}

function set(items: string[]): string {
  return items.length === 1 ? items[0] : `{ ${items.join(', ')} }`;
}

/** The rules of one Allow as seen from `pod`; `dir` says which address is the peer. */
function allowRules(a: Allow, dir: 'saddr' | 'daddr', pod: PolicyPod, index: PolicyIndex): string[] {
  const peers: { clause: string; destination?: PolicyPod }[] = [];
  // Egress named ports resolve on each peer pod: those peers (every pod, for "to anywhere") get a rule of their own.
  const perPeer = dir === 'daddr' && a.ports?.some((m) => m.name !== undefined);
  if (a.any && perPeer) {
    peers.push({ clause: '' }); // the numbered ports, to anywhere
    for (const p of index.pods) peers.push({ clause: `ip daddr ${p.ip}`, destination: p });
  } else if (a.any) peers.push({ clause: '' });
  else {
    if (perPeer) for (const ip of new Set(a.ips)) peers.push({ clause: `ip daddr ${ip}`, destination: index.podAt(ip) });
    else if (a.ips.length > 0) peers.push({ clause: `ip ${dir} ${set([...new Set(a.ips)])}` });
    for (const b of a.blocks) {
      const except = outermost(b.except);
      peers.push({ clause: `ip ${dir} ${formatCidr(b.cidr)}${except.length > 0 ? ` ip ${dir} != ${set(except.map(formatCidr))}` : ''}` });
    }
  }
  const rules: string[] = [];
  for (const peer of peers) {
    const destination = dir === 'saddr' ? pod : peer.destination;
    // A peer rule with no destination pod carries the numbered ports; per-pod rules the named ones.
    const matches = perPeer && a.any ? a.ports!.filter((m) => (peer.destination ? m.name !== undefined : m.name === undefined)) : a.ports;
    const ports = matches?.map((m) => resolvePortMatch(m, destination)).filter((m): m is PortMatch => !!m);
    if (a.ports && ports!.length === 0) continue; // only named ports this destination lacks
    for (const port of ports ?? [undefined]) rules.push(`    ${[peer.clause, port ? portClause(port) : '', 'return'].filter(Boolean).join(' ')}`);
  }
  return rules;
}

/**
 * The whole table for the node's pods (`local`), given the cluster's model, the node addresses
 * and the service CIDR.
 */
export function policyTable(index: PolicyIndex, local: PolicyPod[], nodeIPs: string[], serviceCidr: string): string {
  const chains: string[] = [];
  const ingressMap: string[] = [];
  const egressMap: string[] = [];
  // One chain per address: a pod whose address was just reused by another counts once.
  const byIP = [...new Map(local.map((p) => [p.ip, p])).values()];
  byIP.forEach((pod, i) => {
    const iso = index.isolation(pod);
    if (iso.ingress) {
      const rules = iso.ingress.flatMap((a) => allowRules(a, 'saddr', pod, index));
      chains.push(chain(`ing_${i}`, pod, [...(nodeIPs.length > 0 ? [`    ip saddr ${set(nodeIPs)} return`] : []), ...rules]));
      ingressMap.push(`${pod.ip} : jump ing_${i}`);
    }
    if (iso.egress) {
      chains.push(chain(`egr_${i}`, pod, iso.egress.flatMap((a) => allowRules(a, 'daddr', pod, index))));
      egressMap.push(`${pod.ip} : jump egr_${i}`);
    }
  });
  const forward = [
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    '    ct state established,related accept',
    ...(egressMap.length > 0 ? [`    ip saddr vmap { ${egressMap.join(', ')} }`] : []),
    ...(ingressMap.length > 0 ? [`    ip daddr vmap { ${ingressMap.join(', ')} }`] : []),
    '  }',
  ];
  // Packets from pods to the node itself: its Service addresses (the proxy judges both ends
  // itself; the cluster DNS answers every pod) pass, the rest obeys the pod's egress rules.
  const input = [
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    '    ct state established,related accept',
    `    ip daddr ${serviceCidr} accept`,
    ...(egressMap.length > 0 ? [`    ip saddr vmap { ${egressMap.join(', ')} }`] : []),
    '  }',
  ];
  return swapTable('inet', POLICY_TABLE, [...forward, ...input, ...chains]);
}

function chain(name: string, pod: PolicyPod, rules: string[]): string {
  return [`  chain ${name} {`, `    # ${pod.namespace}/${pod.name}`, ...rules, '    meta l4proto tcp reject with tcp reset', '    reject', '  }'].join('\n');
}
