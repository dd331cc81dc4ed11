// Workload certificates on a node: one per identity (ServiceAccount) its pods run as, each with a
// key made here that never leaves the node (kept in its state dir, 0600), signed by control's mesh
// CA. A certificate is renewed half way to its end, asked for as soon as a pod needs an identity the
// node does not hold yet, and dropped once no pod of the node runs as it. Control signs only the
// identities of pods bound to this node, so a pod that has just arrived may be refused for a
// moment: the node asks again after a short pause.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiClient } from '../../api/client.js';
import type { Pod } from '../../api/types.js';
import { certificateInfo, createKeyAndCsr, issuedBy } from '../../lib/pki.js';
import { Coalesced } from '../../lib/coalesce.js';
import { MESH_BUNDLE_PATH, MESH_CERTIFICATES_PATH, spiffeId } from '../../lib/spiffe.js';

/** How soon a refused or failed request is tried again. */
const RETRY_MS = 2000;

export interface WorkloadCertificate {
  /** The SPIFFE ID. */
  id: string;
  keyPem: string;
  certPem: string;
  notBefore: Date;
  notAfter: Date;
  /** Half way from when it was received (or found at start) to its end. */
  renewAt: number;
}

export interface WorkloadCertificateOptions {
  client: ApiClient;
  /** The pods bound to this node (the agent's informer). */
  pods: () => Pod[];
  /** Where keys and certificates are kept. */
  dir: string;
  log: (message: string) => void;
  now?: () => number;
}

/** The ServiceAccount a pod runs as. */
export function serviceAccountOf(pod: Pod): string {
  return (pod.spec.serviceAccountName as string | undefined) || (pod.spec as { serviceAccount?: string }).serviceAccount || 'default';
}

export class WorkloadCertificates {
  private readonly held = new Map<string, WorkloadCertificate>();
  private trustDomain?: string;
  private caBundle?: string;
  private starting?: Promise<void>;
  private readonly syncs = new Coalesced(() => (this.stopped ? Promise.resolve() : this.sync()));
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly opts: WorkloadCertificateOptions) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * Learns the trust domain and roots (again and again while control cannot say), takes up the
   * certificates kept from before, and syncs.
   */
  start(): void {
    if (this.stopped) return;
    this.starting = (async () => {
      const { trustDomain, caBundle } = await this.opts.client.request<{ trustDomain: string; caBundle: string }>('GET', MESH_BUNDLE_PATH);
      this.trustDomain = trustDomain;
      this.caBundle = caBundle;
      mkdirSync(this.opts.dir, { recursive: true, mode: 0o700 });
      await this.loadKept();
    })()
      .catch((e) => {
        this.opts.log(`mesh: cannot learn the mesh CA's roots (trying again in ${RETRY_MS / 1000} s): ${(e as Error).message}`);
        this.timer = setTimeout(() => this.start(), RETRY_MS);
      })
      .finally(() => {
        this.starting = undefined;
        this.changed();
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.starting;
    await this.syncs.idle();
  }

  /** The certificate of identity `id` (a SPIFFE ID), while a pod of this node runs as it. */
  get(id: string): WorkloadCertificate | undefined {
    return this.held.get(id);
  }

  /** The mesh CA's roots. */
  bundle(): string | undefined {
    return this.caBundle;
  }

  /** The SPIFFE ID of a pod of this node. */
  identityOf(pod: Pod): string | undefined {
    return this.trustDomain ? spiffeId({ trustDomain: this.trustDomain, namespace: pod.metadata.namespace!, serviceAccount: serviceAccountOf(pod) }) : undefined;
  }

  /** The certificates held now. */
  list(): WorkloadCertificate[] {
    return [...this.held.values()];
  }

  /** The identities held now. */
  identities(): string[] {
    return [...this.held.keys()].sort();
  }

  /** The node's pods changed: identities may be needed or no longer. Coalesced, one sync at a time. */
  changed(): void {
    if (this.stopped || !this.trustDomain) return;
    this.syncs.request();
  }

  private wanted(): Set<string> {
    const live = this.opts.pods().filter((p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
    return new Set(live.map((p) => this.identityOf(p)!));
  }

  private async sync(): Promise<void> {
    const wanted = this.wanted();
    for (const id of this.held.keys()) if (!wanted.has(id)) this.drop(id);
    let retry = false;
    for (const id of wanted) {
      const cert = this.held.get(id);
      if (cert && this.now() < cert.renewAt) continue;
      try {
        await this.request(id);
      } catch (e) {
        retry = true;
        this.opts.log(`mesh: cannot get the certificate of ${id} (trying again in ${RETRY_MS / 1000} s): ${(e as Error).message}`);
      }
    }
    this.schedule(retry);
  }

  /** Wakes up for the next renewal, or soon after a failure. */
  private schedule(retry: boolean): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const next = Math.min(retry ? this.now() + RETRY_MS : Infinity, ...[...this.held.values()].map((c) => c.renewAt));
    if (next === Infinity) return;
    this.timer = setTimeout(() => this.changed(), Math.max(0, Math.min(next - this.now(), 2 ** 31 - 1)));
    this.timer.unref();
  }

  private async request(id: string): Promise<void> {
    const { keyPem, csrPem } = await createKeyAndCsr({ commonName: id.split('/').pop()!, uris: [id] });
    const issued = await this.opts.client.request<{ certificate: string; caBundle: string }>('POST', MESH_CERTIFICATES_PATH, { body: { csr: csrPem } });
    this.caBundle = issued.caBundle;
    const info = certificateInfo(issued.certificate);
    const cert = { id, keyPem, certPem: issued.certificate, notBefore: info.notBefore, notAfter: info.notAfter, renewAt: halfWay(this.now(), info.notAfter) };
    const base = join(this.opts.dir, fileName(id));
    writeFileSync(`${base}.key`, keyPem, { mode: 0o600 });
    writeFileSync(`${base}.crt`, issued.certificate, { mode: 0o600 });
    this.held.set(id, cert);
  }

  private drop(id: string): void {
    this.held.delete(id);
    const base = join(this.opts.dir, fileName(id));
    rmSync(`${base}.key`, { force: true });
    rmSync(`${base}.crt`, { force: true });
  }

  /** Certificates kept in the state dir that the mesh CA signed and that have not run out. */
  private async loadKept(): Promise<void> {
    for (const file of readdirSync(this.opts.dir).filter((f) => f.endsWith('.crt'))) {
      const base = join(this.opts.dir, file.slice(0, -4));
      try {
        const certPem = readFileSync(`${base}.crt`, 'utf8');
        const info = certificateInfo(certPem);
        const id = info.uris?.[0];
        if (id && info.notAfter.getTime() > this.now() && (await issuedBy(certPem, this.caBundle!))) {
          this.held.set(id, { id, keyPem: readFileSync(`${base}.key`, 'utf8'), certPem, notBefore: info.notBefore, notAfter: info.notAfter, renewAt: halfWay(this.now(), info.notAfter) });
          continue;
        }
      } catch {
        // unreadable: made anew when needed
      }
      rmSync(`${base}.crt`, { force: true });
      rmSync(`${base}.key`, { force: true });
    }
  }
}

function halfWay(now: number, notAfter: Date): number {
  return now + (notAfter.getTime() - now) / 2;
}

function fileName(id: string): string {
  return id.replace(/^spiffe:\/\//, '').replace(/[^A-Za-z0-9.-]+/g, '_');
}
