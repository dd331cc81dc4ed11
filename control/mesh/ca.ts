// The mesh CA: its own root, apart from the cluster CA, that signs short-lived workload
// certificates. A node asks for one identity at a time with a certificate request whose key it
// made and keeps; the only name in the request is the SPIFFE ID of a ServiceAccount, and the CA
// signs it only when a pod bound to that node runs as that ServiceAccount (the Node authorizer's
// graph of pods, the same one that lets a node ask for that ServiceAccount's tokens).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCertificateAuthority, parseCsr, signCertificate, type CertificateAuthority, type ParsedCsr } from '../../lib/pki.js';
import { parseSpiffeId } from '../../lib/spiffe.js';
import { newCertificateAuthorityPem } from '../../lib/tls.js';

/** A workload certificate's lifetime unless `--mesh-cert-ttl` says otherwise (nodes renew at half). */
export const WORKLOAD_CERT_MS = 24 * 3600_000;

export class MeshCaError extends Error {
  constructor(
    readonly status: 400 | 403,
    message: string,
  ) {
    super(message);
  }
}

export interface IssuedWorkloadCertificate {
  certificate: string;
  caBundle: string;
  trustDomain: string;
  notAfter: string;
}

const EXPECTED = 'spiffe://<trust domain>/ns/<namespace>/sa/<service account>';

export class MeshCa {
  private constructor(
    readonly trustDomain: string,
    private readonly ca: CertificateAuthority,
    private readonly ttlMs: number,
  ) {}

  /** The CA kept in `dir` (mesh-ca.crt, mesh-ca.key), made on first start. */
  static async open(dir: string, trustDomain: string, ttlMs = WORKLOAD_CERT_MS): Promise<MeshCa> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!existsSync(join(dir, 'ca.crt')) || !existsSync(join(dir, 'ca.key'))) {
      const { certPem, keyPem } = await newCertificateAuthorityPem();
      writeFileSync(join(dir, 'ca.key'), keyPem, { mode: 0o600 });
      writeFileSync(join(dir, 'ca.crt'), certPem);
    }
    return new MeshCa(trustDomain, await loadCertificateAuthority(dir), ttlMs);
  }

  /** The roots a workload certificate is checked against. */
  bundle(): string {
    return this.ca.certPem;
  }

  /**
   * Signs the request of node `node`, which must name one workload of this trust domain that
   * `runsAs` says a pod of that node runs as. A bad request is a 400, a workload not on the node a 403.
   */
  async issue(csrPem: string, node: string, runsAs: (namespace: string, serviceAccount: string) => boolean, now = new Date()): Promise<IssuedWorkloadCertificate> {
    let request: ParsedCsr;
    try {
      request = await parseCsr(csrPem);
    } catch (e) {
      throw new MeshCaError(400, `csr: ${(e as Error).message}`);
    }
    const uris = request.uris ?? [];
    if (uris.length !== 1 || request.dnsNames.length > 0 || request.ips.length > 0) {
      throw new MeshCaError(400, `csr: its only subject alternative name must be one SPIFFE ID, ${EXPECTED}`);
    }
    const id = parseSpiffeId(uris[0]);
    if (!id) throw new MeshCaError(400, `csr: "${uris[0]}" is not a workload SPIFFE ID (${EXPECTED})`);
    if (id.trustDomain !== this.trustDomain) throw new MeshCaError(400, `csr: trust domain "${id.trustDomain}" is not this cluster's ("${this.trustDomain}")`);
    if (!runsAs(id.namespace, id.serviceAccount)) {
      throw new MeshCaError(403, `node "${node}" runs no pod as ServiceAccount "${id.namespace}/${id.serviceAccount}": it may only ask for the identities of its own pods`);
    }
    const subject = { ...request, commonName: id.serviceAccount.slice(0, 64), organizations: [id.namespace.slice(0, 64)] };
    const certificate = await signCertificate(this.ca, subject, { usages: ['digital signature', 'key encipherment', 'server auth', 'client auth'], durationMs: this.ttlMs, now });
    const notAfter = new Date(Math.min(now.getTime() + this.ttlMs, this.ca.cert.notAfter.getTime())).toISOString();
    return { certificate, caBundle: this.bundle(), trustDomain: this.trustDomain, notAfter };
  }
}
