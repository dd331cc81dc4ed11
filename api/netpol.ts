// NetworkPolicy semantics (networking.k8s.io/v1), pure: which pods a policy isolates, and what
// each isolated pod admits (ingress) or may reach (egress). A pod no policy selects for a
// direction is open in it; an isolated pod allows the union of its policies' rules. Both the
// node's nftables rules and the node proxy's check read this one model.
import { ipToInt, tryParseCidr, type Cidr } from './cidr.js';
import { fromLabelSelector, matchesLabels, type LabelRequirement } from './selectors.js';
import type { LabelSelector, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, Pod } from './types.js';

/** A pod with an address of its own, as policies see it. */
export interface PolicyPod {
  namespace: string;
  name: string;
  ip: string;
  labels: Record<string, string>;
  ports: { name?: string; containerPort: number; protocol: string }[];
}

export interface PortMatch {
  protocol: string;
  /** Unset: every port of the protocol. */
  port?: number;
  endPort?: number;
  /** A named port, resolved on the destination pod. */
  name?: string;
}

export interface Block {
  cidr: Cidr;
  except: Cidr[];
}

/** One rule: from/to these peers (any, pod addresses, address blocks), on these ports (unset: all). */
export interface Allow {
  any: boolean;
  ips: string[];
  blocks: Block[];
  ports?: PortMatch[];
}

export interface Isolation {
  /** Unset: the pod admits everything. */
  ingress?: Allow[];
  /** Unset: the pod may reach everything. */
  egress?: Allow[];
}

/** The pod as policies see it, or undefined when it has no address of its own (hostport pods share the node's). */
export function policyPod(pod: Pod): PolicyPod | undefined {
  const ip = pod.status?.podIP;
  const phase = pod.status?.phase;
  if (!ip || ip === pod.status?.hostIP || phase === 'Succeeded' || phase === 'Failed') return undefined;
  const ports = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].flatMap((c) => (c.ports ?? []).map((p) => ({ name: p.name, containerPort: p.containerPort, protocol: p.protocol ?? 'TCP' })));
  return { namespace: pod.metadata.namespace ?? 'default', name: pod.metadata.name!, ip, labels: pod.metadata.labels ?? {}, ports };
}

/** Parsed selectors, kept per selector object (a model is rebuilt on every change; its objects are reused). */
const parsed = new WeakMap<LabelSelector, LabelRequirement[] | undefined>();

function selects(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  let reqs = parsed.get(selector);
  if (!parsed.has(selector)) {
    try {
      reqs = fromLabelSelector(selector);
    } catch {
      reqs = undefined; // a stored selector that no longer parses selects nothing
    }
    parsed.set(selector, reqs);
  }
  return reqs !== undefined && matchesLabels(reqs, labels);
}

function inCidr(c: Cidr, ip: string): boolean {
  const n = ipToInt(ip);
  return n >= c.base && n < c.base + c.size;
}

/** The port a match stands for on `pod` (a named port resolved there), or undefined when it has none. */
export function resolvePortMatch(m: PortMatch, pod: PolicyPod | undefined): PortMatch | undefined {
  if (m.name === undefined) return m;
  const found = pod?.ports.find((p) => p.name === m.name && p.protocol === m.protocol);
  return found ? { protocol: m.protocol, port: found.containerPort } : undefined;
}

export class PolicyIndex {
  private readonly byIP = new Map<string, PolicyPod>();
  private readonly cache = new Map<PolicyPod, Isolation>();

  constructor(
    private readonly policies: NetworkPolicy[],
    readonly pods: PolicyPod[],
    private readonly namespaceLabels: Map<string, Record<string, string>>,
  ) {
    for (const p of pods) this.byIP.set(p.ip, p);
  }

  podAt(ip: string): PolicyPod | undefined {
    return this.byIP.get(ip);
  }

  /** What the policies selecting `pod` allow it, per direction. */
  isolation(pod: PolicyPod): Isolation {
    let iso = this.cache.get(pod);
    if (iso) return iso;
    iso = {};
    for (const policy of this.policies) {
      if ((policy.metadata.namespace ?? 'default') !== pod.namespace || !selects(policy.spec.podSelector, pod.labels)) continue;
      const types = policy.spec.policyTypes ?? ['Ingress'];
      if (types.includes('Ingress')) (iso.ingress ??= []).push(...(policy.spec.ingress ?? []).map((r) => this.allow(policy, r.from, r.ports)));
      if (types.includes('Egress')) (iso.egress ??= []).push(...(policy.spec.egress ?? []).map((r) => this.allow(policy, r.to, r.ports)));
    }
    this.cache.set(pod, iso);
    return iso;
  }

  /** Whether a connection from srcIP to dstIP:port/protocol passes both ends' policies. */
  admits(srcIP: string, dstIP: string, port: number, protocol: string): boolean {
    if (this.policies.length === 0) return true;
    const src = this.byIP.get(srcIP);
    const dst = this.byIP.get(dstIP);
    const egress = src && this.isolation(src).egress;
    if (egress && !egress.some((a) => this.matches(a, dstIP, port, protocol, dst))) return false;
    const ingress = dst && this.isolation(dst).ingress;
    if (ingress && !ingress.some((a) => this.matches(a, srcIP, port, protocol, dst))) return false;
    return true;
  }

  private matches(a: Allow, peerIP: string, port: number, protocol: string, destination: PolicyPod | undefined): boolean {
    const peerOk = a.any || a.ips.includes(peerIP) || a.blocks.some((b) => inCidr(b.cidr, peerIP) && !b.except.some((e) => inCidr(e, peerIP)));
    if (!peerOk) return false;
    if (!a.ports) return true;
    return a.ports.some((m) => {
      const r = resolvePortMatch(m, destination);
      return !!r && r.protocol === protocol && (r.port === undefined || (port >= r.port && port <= (r.endPort ?? r.port)));
    });
  }

  private allow(policy: NetworkPolicy, peers: NetworkPolicyPeer[] | undefined, ports: NetworkPolicyPort[] | undefined): Allow {
    const allow: Allow = { any: !peers || peers.length === 0, ips: [], blocks: [] };
    const ns = policy.metadata.namespace ?? 'default';
    for (const peer of peers ?? []) {
      if (peer.ipBlock) {
        const cidr = tryParseCidr(peer.ipBlock.cidr);
        if (cidr) allow.blocks.push({ cidr, except: (peer.ipBlock.except ?? []).map(tryParseCidr).filter((c): c is Cidr => !!c) });
        continue;
      }
      for (const pod of this.pods) {
        const nsOk = peer.namespaceSelector ? selects(peer.namespaceSelector, this.namespaceLabels.get(pod.namespace) ?? {}) : pod.namespace === ns;
        if (nsOk && (!peer.podSelector || selects(peer.podSelector, pod.labels))) allow.ips.push(pod.ip);
      }
    }
    if (ports && ports.length > 0) {
      allow.ports = ports.map((p) => {
        const protocol = p.protocol ?? 'TCP';
        if (typeof p.port === 'string') return { protocol, name: p.port };
        return p.port === undefined ? { protocol } : { protocol, port: p.port, ...(p.endPort ? { endPort: p.endPort } : {}) };
      });
    }
    return allow;
  }
}
