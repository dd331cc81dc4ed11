// Control's certificates in one place: the CA that signs, the bundle of CAs every client trusts,
// the API serving certificate and control's client certificate towards node APIs. refresh() makes
// anew whatever is near its end or was signed by a CA that no longer signs (after a rotation's
// switch) and tells those who listen; rotate() takes a CA rotation one step and refreshes.
import { ensureSignedCertificate, loadCertificateAuthority, type CertificateAuthority } from '../lib/pki.js';
import { ensureTls, type TlsMaterial } from '../lib/tls.js';
import type { NodeClientCredentials } from './apiserver/nodeproxy.js';
import { GROUP, USER } from './auth/index.js';
import type { CaPublisher } from './auth/service-accounts.js';
import { rotateCa, trustBundle, type RotationPhase } from './ca-rotation.js';
import { MAX_CERTIFICATE_MS } from './controllers/csr.js';

const KUBELET_CLIENT = { commonName: USER.apiserverNodeClient, organizations: [GROUP.masters], dnsNames: [], ips: [] };

/** Control's client certificate towards node APIs (kube-apiserver's kubelet client), kept in `dir`. */
function nodeClientCertificate(ca: CertificateAuthority, dir: string): Promise<{ certPem: string; keyPem: string }> {
  return ensureSignedCertificate(ca, dir, 'apiserver-kubelet-client', KUBELET_CLIENT, ['digital signature', 'client auth'], MAX_CERTIFICATE_MS);
}

export interface PkiChange {
  /** The serving certificate is another one. */
  serving: boolean;
  /** The trust bundle is another one. */
  bundle: boolean;
}

export class ControlPki implements CaPublisher {
  private readonly listeners: ((change: PkiChange) => void)[] = [];

  private constructor(
    private readonly dir: string,
    private readonly sans: string[],
    /** Key and certificate the API serves with (`caCert`: the signing CA alone). */
    readonly tls: TlsMaterial,
    /** The signing CA; the same object throughout, its fields replaced on a switch. */
    readonly ca: CertificateAuthority,
    /** Control's credentials towards node APIs; the same object throughout. */
    readonly nodeClient: NodeClientCredentials,
    private trusted: string,
  ) {}

  static async open(dir: string, sans: string[]): Promise<ControlPki> {
    const tls = await ensureTls(dir, sans);
    const ca = await loadCertificateAuthority(dir);
    const client = await nodeClientCertificate(ca, dir);
    const bundle = trustBundle(dir);
    return new ControlPki(dir, sans, tls, ca, { cert: client.certPem, key: client.keyPem, caCert: bundle }, bundle);
  }

  /** The PEM CAs every client should trust now (the signing one first). */
  bundle(): string {
    return this.trusted;
  }

  onChange(listener: (change: PkiChange) => void): void {
    this.listeners.push(listener);
  }

  async refresh(): Promise<PkiChange> {
    const tls = await ensureTls(this.dir, this.sans);
    Object.assign(this.ca, await loadCertificateAuthority(this.dir));
    const client = await nodeClientCertificate(this.ca, this.dir);
    const bundle = trustBundle(this.dir);
    const change = { serving: tls.cert !== this.tls.cert, bundle: bundle !== this.trusted };
    Object.assign(this.tls, tls);
    Object.assign(this.nodeClient, { cert: client.certPem, key: client.keyPem, caCert: bundle });
    this.trusted = bundle;
    if (change.serving || change.bundle) for (const l of this.listeners) l(change);
    return change;
  }

  async rotate(phase: RotationPhase): Promise<{ phase: RotationPhase; message: string }> {
    const message = await rotateCa(this.dir, phase);
    await this.refresh();
    return { phase, message };
  }
}
