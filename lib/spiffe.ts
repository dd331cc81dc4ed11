// Workload identities of the mesh, as SPIFFE IDs: `spiffe://<trust domain>/ns/<namespace>/sa/<service
// account>`, the form Istio and Linkerd give a pod that runs as that ServiceAccount.

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
/** Control's mesh CA: nodes post certificate requests here, and read its roots. */
export const MESH_CERTIFICATES_PATH = '/tugboat/mesh/certificates';
export const MESH_BUNDLE_PATH = '/tugboat/mesh/bundle';

export interface WorkloadIdentity {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

/** A trust domain is a DNS-like name: lowercase letters, digits, dots, dashes and underscores. */
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
/** Kubernetes names of namespaces and ServiceAccounts (DNS subdomains). */
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export function checkTrustDomain(trustDomain: string): void {
  if (!TRUST_DOMAIN.test(trustDomain)) throw new Error(`trust domain "${trustDomain}" must be lowercase letters, digits, ".", "-" and "_" (for example cluster.local)`);
}

export function spiffeId(id: WorkloadIdentity): string {
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/** The identity a SPIFFE ID names, or undefined when it is not of the workload form. */
export function parseSpiffeId(uri: string): WorkloadIdentity | undefined {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  if (!m || !TRUST_DOMAIN.test(m[1]) || !NAME.test(m[2]) || !NAME.test(m[3])) return undefined;
  return { trustDomain: m[1], namespace: m[2], serviceAccount: m[3] };
}
