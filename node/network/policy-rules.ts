// NetworkPolicy as nftables rules for the pods of one node (bridge mode), in a table of its own
// (`inet tugboat_policy`), rebuilt from the model on every change and swapped in one transaction,
// as kube-proxy's nftables mode does with its table. The forward hook sees every packet between
// pods, bridged (br_netfilter) or routed: replies of admitted connections pass at once; a packet
// from an isolated local pod goes through its egress chain, one to an isolated local pod through
// its ingress chain. An allowed packet `return`s (so ingress is checked after egress); the end of
// a chain rejects (TCP reset, else ICMP). Packets from nodes pass ingress: they are the node
// proxies, which check the policy of the real client before connecting (and kubelet-style probes).
import { formatCidr } from '../../api/cidr.js';
import { resolvePortMatch, type Allow, type PolicyIndex, type PolicyPod, type PortMatch } from '../../api/netpol.js';

export const POLICY_TABLE = 'tugboat_policy';

function portClause(m: PortMatch): string {
  const proto = m.protocol.toLowerCase();
  if (m.port === undefined) return `meta l4proto ${proto}`;
  return `meta l4proto ${proto} th dport ${m.endPort && m.endPort !== m.port ? `${m.port}-${m.endPort}` : m.port}`;
}

function set(items: string[]): string {
  return items.length === 1 ? items[0] : `{ ${items.join(', ')} }`;
}

/** The rules of one Allow as seen from `pod`; `dir` says which address is the peer. */
function allowRules(a: Allow, dir: 'saddr' | 'daddr', pod: PolicyPod, index: PolicyIndex): string[] {
  const peers: { clause: string; destination?: PolicyPod }[] = [];
  if (a.any) peers.push({ clause: '' });
  else {
    // Egress named ports resolve on each peer pod: those peers get a rule of their own.
    const perPeer = dir === 'daddr' && a.ports?.some((m) => m.name !== undefined);
    if (perPeer) for (const ip of a.ips) peers.push({ clause: `ip daddr ${ip}`, destination: index.podAt(ip) });
    else if (a.ips.length > 0) peers.push({ clause: `ip ${dir} ${set([...new Set(a.ips)])}` });
    for (const b of a.blocks) {
      const except = b.except.length > 0 ? ` ip ${dir} != ${set(b.except.map(formatCidr))}` : '';
      peers.push({ clause: `ip ${dir} ${formatCidr(b.cidr)}${except}` });
    }
  }
  const rules: string[] = [];
  for (const peer of peers) {
    const destination = dir === 'saddr' ? pod : peer.destination;
    const ports = a.ports?.map((m) => resolvePortMatch(m, destination)).filter((m): m is PortMatch => !!m);
    if (a.ports && ports!.length === 0) continue; // only named ports this destination lacks
    for (const port of ports ?? [undefined]) rules.push(`    ${[peer.clause, port ? portClause(port) : '', 'return'].filter(Boolean).join(' ')}`);
  }
  return rules;
}

/** The whole table for the node's pods (`local`), given the cluster's model and the node addresses. */
export function policyTable(index: PolicyIndex, local: PolicyPod[], nodeIPs: string[]): string {
  const chains: string[] = [];
  const ingressMap: string[] = [];
  const egressMap: string[] = [];
  local.forEach((pod, i) => {
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
  return [`table inet ${POLICY_TABLE}`, `delete table inet ${POLICY_TABLE}`, `table inet ${POLICY_TABLE} {`, ...forward, ...chains, '}', ''].join('\n');
}

function chain(name: string, pod: PolicyPod, rules: string[]): string {
  return [`  chain ${name} {`, `    # ${pod.namespace}/${pod.name}`, ...rules, '    meta l4proto tcp reject with tcp reset', '    reject', '  }'].join('\n');
}
