// The model of security.istio.io/v1 AuthorizationPolicy, as Istio decides with it: a DENY policy
// that matches refuses the request; else, when ALLOW policies apply to the workload, one of them
// must match; a workload no ALLOW policy selects takes everything. A policy applies to the
// workloads of its own namespace its selector picks (all of them without one). A policy matches
// when one of its rules does: a rule needs one of its sources (`from`) and one of its operations
// (`to`), a source or operation all of its fields, and a field one of its values (`not` fields:
// none of them; a value the request lacks, such as the principal of a plaintext client, is none of
// them, as in Istio, so `notPrincipals: ["*"]` in a DENY refuses plaintext). Values match exactly, or as a prefix (`abc*`) or suffix (`*abc`); `*` needs a value.
// Plain TCP carries no method, path or host: an ALLOW rule that names one does not match it, and a
// DENY rule is taken without those fields (so TCP is refused more, never less).
import { cidrContains } from './cidr.js';
import { fromLabelSelector, matchesLabels } from './selectors.js';
import type { KubeObject, LabelSelector } from './types.js';

export interface AuthorizationPolicy extends KubeObject {
  spec?: {
    selector?: LabelSelector;
    action?: 'ALLOW' | 'DENY';
    rules?: AuthzRule[];
  };
}

interface AuthzRule {
  from?: { source: Record<string, string[]> }[];
  to?: { operation: Record<string, string[]> }[];
}

export interface AuthzRequest {
  /** The client: its SPIFFE ID when it proved one (mTLS), its namespace then, and its address. */
  source: { principal?: string; namespace?: string; ip: string };
  destination: { namespace: string; labels: Record<string, string>; port: number };
  /** Set for HTTP requests. */
  http?: { method: string; path: string; host?: string };
}

export interface AuthzDecision {
  allowed: boolean;
  /** The policy that decided (`namespace/name`), when one did. */
  policy?: string;
  reason: string;
}

const HTTP_FIELDS = ['methods', 'notMethods', 'paths', 'notPaths', 'hosts', 'notHosts'];

export class AuthorizationIndex {
  constructor(private readonly policies: AuthorizationPolicy[]) {}

  decide(req: AuthzRequest): AuthzDecision {
    const applying = this.policies.filter((p) => p.metadata.namespace === req.destination.namespace && matchesLabels(fromLabelSelector(p.spec?.selector ?? {}), req.destination.labels));
    const name = (p: AuthorizationPolicy) => `${p.metadata.namespace}/${p.metadata.name}`;
    const denying = applying.find((p) => p.spec?.action === 'DENY' && matches(p, req, 'DENY'));
    if (denying) return { allowed: false, policy: name(denying), reason: `denied by AuthorizationPolicy ${name(denying)}` };
    const allows = applying.filter((p) => (p.spec?.action ?? 'ALLOW') === 'ALLOW');
    if (allows.length === 0) return { allowed: true, reason: 'no ALLOW policy selects the workload' };
    const allowing = allows.find((p) => matches(p, req, 'ALLOW'));
    if (allowing) return { allowed: true, policy: name(allowing), reason: `allowed by AuthorizationPolicy ${name(allowing)}` };
    return { allowed: false, reason: `no ALLOW policy of ${allows.map(name).join(', ')} matches` };
  }
}

function matches(p: AuthorizationPolicy, req: AuthzRequest, action: 'ALLOW' | 'DENY'): boolean {
  return (p.spec?.rules ?? []).some((rule) => {
    const sources = rule.from ?? [];
    const operations = rule.to ?? [];
    if (sources.length > 0 && !sources.some((f) => sourceMatches(f.source, req))) return false;
    return operations.length === 0 || operations.some((t) => operationMatches(t.operation, req, action));
  });
}

function sourceMatches(s: Record<string, string[]>, req: AuthzRequest): boolean {
  const principal = req.source.principal?.replace(/^spiffe:\/\//, '');
  return (
    field(s.principals, s.notPrincipals, principal) &&
    field(s.namespaces, s.notNamespaces, req.source.namespace) &&
    field(s.ipBlocks, s.notIpBlocks, req.source.ip, (block, ip) => cidrContains(block.includes('/') ? block : `${block}/32`, ip))
  );
}

function operationMatches(o: Record<string, string[]>, req: AuthzRequest, action: 'ALLOW' | 'DENY'): boolean {
  if (!req.http && Object.keys(o).some((k) => HTTP_FIELDS.includes(k))) {
    if (action === 'ALLOW') return false;
    o = Object.fromEntries(Object.entries(o).filter(([k]) => !HTTP_FIELDS.includes(k)));
  }
  return (
    field(o.ports, o.notPorts, String(req.destination.port), (a, b) => a === b) &&
    field(o.methods, o.notMethods, req.http?.method) &&
    field(o.paths, o.notPaths, req.http?.path) &&
    field(o.hosts, o.notHosts, req.http?.host?.toLowerCase(), (pattern, v) => wildcard(pattern.toLowerCase(), v))
  );
}

/** A field and its `not` form: one of `values` matches (when given), none of `nots` does. */
function field(values: string[] | undefined, nots: string[] | undefined, value: string | undefined, match: (pattern: string, value: string) => boolean = wildcard): boolean {
  if (values && (value === undefined || !values.some((v) => match(v, value)))) return false;
  return !(nots && value !== undefined && nots.some((v) => match(v, value)));
}

function wildcard(pattern: string, value: string): boolean {
  if (pattern === '*') return value.length > 0;
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  return pattern === value;
}
