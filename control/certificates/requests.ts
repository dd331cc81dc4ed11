// CertificateSigningRequests (certificates.k8s.io/v1), the pure parts: who asked (filled in by the
// API server, never taken from the body), what shape of certificate a request is for, and its
// conditions. Nodes get their client and serving certificates this way, as kubelets do.
import type { KubeObject } from '../../api/types.js';
import type { KeyUsage, ParsedCsr } from '../../lib/pki.js';
import { NODE_USER_PREFIX, GROUP, type UserInfo } from '../auth/user.js';

export const SIGNER = {
  kubeletClient: 'kubernetes.io/kube-apiserver-client-kubelet',
  kubeletServing: 'kubernetes.io/kubelet-serving',
  apiserverClient: 'kubernetes.io/kube-apiserver-client',
} as const;
export const KNOWN_SIGNERS: string[] = Object.values(SIGNER);

export interface CsrSpec {
  request?: string;
  signerName?: string;
  usages?: string[];
  expirationSeconds?: number;
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export interface CsrCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastUpdateTime?: string;
  lastTransitionTime?: string;
}

export interface CsrStatus {
  conditions?: CsrCondition[];
  certificate?: string;
}

export const specOf = (csr: KubeObject) => (csr.spec ?? {}) as CsrSpec;
export const statusOf = (csr: KubeObject) => (csr.status ?? {}) as CsrStatus;

/** The request as the API server stores it: the requester's identity from authentication, no status. */
export function withRequester(csr: KubeObject, user: UserInfo): KubeObject {
  const spec = { ...specOf(csr) };
  spec.username = user.username;
  if (user.uid) spec.uid = user.uid;
  else delete spec.uid;
  spec.groups = [...user.groups];
  if (user.extra) spec.extra = user.extra;
  else delete spec.extra;
  const { status: _ignored, ...rest } = csr;
  return { ...rest, spec };
}

export function conditionOf(csr: KubeObject, type: string): CsrCondition | undefined {
  return (statusOf(csr).conditions ?? []).find((c) => c.type === type && c.status === 'True');
}

/** The PEM text of `spec.request` (base64 in JSON). */
export function requestPem(csr: KubeObject): string {
  return Buffer.from(specOf(csr).request ?? '', 'base64').toString('utf8');
}

const NODE_CLIENT_USAGES = new Set(['digital signature', 'key encipherment', 'client auth']);
const NODE_SERVING_USAGES = new Set(['digital signature', 'key encipherment', 'server auth']);

/** The node a request names as its subject (`system:node:<name>` in system:nodes alone), if it does. */
function nodeSubject(req: ParsedCsr): string | undefined {
  if (!req.commonName.startsWith(NODE_USER_PREFIX) || req.organizations.length !== 1 || req.organizations[0] !== GROUP.nodes) return undefined;
  return req.commonName.slice(NODE_USER_PREFIX.length) || undefined;
}

/** Why `req` is not a node client certificate request, or undefined with the node's name when it is. */
export function nodeClientProblem(req: ParsedCsr, usages: string[]): { node?: string; problem?: string } {
  const node = nodeSubject(req);
  if (!node) return { problem: `the subject must be CN=system:node:<name>, O=system:nodes, not CN=${req.commonName}, O=${req.organizations.join('+')}` };
  if (req.dnsNames.length || req.ips.length) return { problem: 'a node client certificate has no subject alternative names' };
  const extra = usages.filter((u) => !NODE_CLIENT_USAGES.has(u));
  if (!usages.includes('client auth') || extra.length) return { problem: `usages must include "client auth" and may add only "digital signature" and "key encipherment", not ${JSON.stringify(usages)}` };
  return { node };
}

/** Why `req` is not a serving certificate request for node `nodeName` at `addresses`, or undefined. */
export function nodeServingProblem(req: ParsedCsr, usages: string[], nodeName: string, addresses: string[]): string | undefined {
  if (nodeSubject(req) !== nodeName) return `the subject must be CN=system:node:${nodeName}, O=system:nodes`;
  const extra = usages.filter((u) => !NODE_SERVING_USAGES.has(u));
  if (!usages.includes('server auth') || extra.length) return `usages must include "server auth" and may add only "digital signature" and "key encipherment", not ${JSON.stringify(usages)}`;
  const names = req.dnsNames.filter((n) => n !== nodeName);
  if (names.length) return `DNS names ${JSON.stringify(names)} are not the node's name`;
  const ips = req.ips.filter((ip) => !addresses.includes(ip));
  if (ips.length) return `IP addresses ${JSON.stringify(ips)} are not among the node's addresses`;
  if (!req.dnsNames.length && !req.ips.length) return 'a serving certificate names the node (DNS) or its addresses (IP)';
  return undefined;
}

/** The usages a signed certificate carries, from the request's (unknown ones dropped). */
export function keyUsages(usages: string[]): KeyUsage[] {
  return usages.filter((u): u is KeyUsage => ['digital signature', 'key encipherment', 'client auth', 'server auth'].includes(u));
}

/** How long a certificate from this request lives: what it asks (at least 10 minutes), at most `maxMs`. */
export function durationOf(csr: KubeObject, maxMs: number): number {
  const asked = specOf(csr).expirationSeconds;
  return typeof asked === 'number' && asked >= 600 ? Math.min(asked * 1000, maxMs) : maxMs;
}
