// The node's own identity, as kubelet's TLS bootstrapping gives it one: the credential the node
// was started with (a join token, or a kubeconfig) is used once, to ask control for a client
// certificate for `system:node:<name>` through a CertificateSigningRequest; from then on the node
// authenticates with that certificate (its key never leaves the state dir) and renews it itself
// when 80% of its life has passed. A node restarted with a valid certificate needs control for
// nothing before it starts serving.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../api/client.js';
import { isApiError } from '../api/errors.js';
import type { Connection } from '../api/kubeconfig.js';
import { resourceOfKind } from '../api/resources.js';
import { sleep } from '../api/timers.js';
import type { KubeObject } from '../api/types.js';
import { certificateInfo, createKeyAndCsr, issuedBy, type Subject } from '../lib/pki.js';

const CSR = resourceOfKind('CertificateSigningRequest');
export const KUBELET_CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client-kubelet';
export const KUBELET_SERVING_SIGNER = 'kubernetes.io/kubelet-serving';
const RENEW_AT = 0.8;

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
}

export interface CertificateRequest {
  signerName: string;
  subject: Partial<Subject> & { commonName: string };
  usages: string[];
}

function conditionOf(csr: KubeObject, type: string): { reason?: string; message?: string } | undefined {
  const conditions = ((csr.status as { conditions?: { type: string; status: string; reason?: string; message?: string }[] } | undefined)?.conditions ?? []);
  return conditions.find((c) => c.type === type && c.status === 'True');
}

/**
 * Asks control for a certificate: makes a key here, sends a CertificateSigningRequest with
 * `client`'s credentials and waits until it is issued (or denied, or failed: an Error saying why).
 */
export async function requestCertificate(client: ApiClient, req: CertificateRequest, log: (m: string) => void, signal?: AbortSignal): Promise<IssuedCertificate> {
  const { keyPem, csrPem } = await createKeyAndCsr(req.subject);
  const created = await client.create(CSR, undefined, {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { generateName: 'node-csr-' },
    spec: { request: Buffer.from(csrPem).toString('base64'), signerName: req.signerName, usages: req.usages },
  });
  const name = created.metadata.name!;
  for (let i = 0; !signal?.aborted; i++) {
    const csr = await client.get(CSR, undefined, name);
    const certificate = (csr.status as { certificate?: string } | undefined)?.certificate;
    if (certificate) return { certPem: Buffer.from(certificate, 'base64').toString('utf8'), keyPem };
    const refused = conditionOf(csr, 'Denied') ?? conditionOf(csr, 'Failed');
    if (refused) throw new Error(`certificate request ${name} (${req.signerName}) was refused: ${refused.reason ?? ''} ${refused.message ?? ''}`.trim());
    // Not auto-approved within a few seconds: a person has to approve it.
    if (i === 20) log(`waiting for certificate request ${name} (${req.signerName}) to be approved: kubectl certificate approve ${name}`);
    await sleep(Math.min(250 * 2 ** Math.floor(i / 20), 5000), signal);
  }
  throw new Error(`stopped while waiting for certificate request ${name}`);
}

/** Writes a key and certificate pair (key first, each 0600, each replaced atomically). */
export function saveCertificate(dir: string, base: string, issued: IssuedCertificate): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [file, text] of [[`${base}.key`, issued.keyPem], [`${base}.crt`, issued.certPem]] as const) {
    const path = join(dir, file);
    writeFileSync(`${path}.tmp`, text, { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
  }
}

/** The pair saved under `base` when it is for `commonName`, issued by `caCert` and not yet expired. */
export async function loadCertificate(dir: string, base: string, commonName: string, caCert: string | undefined, now = new Date()): Promise<IssuedCertificate | undefined> {
  const cert = join(dir, `${base}.crt`);
  const key = join(dir, `${base}.key`);
  if (!existsSync(cert) || !existsSync(key)) return undefined;
  try {
    const certPem = readFileSync(cert, 'utf8');
    const info = certificateInfo(certPem);
    if (info.commonName !== commonName || info.notAfter <= now) return undefined;
    if (caCert && !(await issuedBy(certPem, caCert))) return undefined;
    return { certPem, keyPem: readFileSync(key, 'utf8') };
  } catch {
    return undefined;
  }
}

/** When a certificate should be renewed: 80% of the way through its life. */
export function renewalTime(certPem: string): Date {
  const { notBefore, notAfter } = certificateInfo(certPem);
  return new Date(notBefore.getTime() + RENEW_AT * (notAfter.getTime() - notBefore.getTime()));
}

export interface NodeCredentialOptions {
  /** What the node was started with: a join token or a kubeconfig. */
  connection: Connection;
  nodeName: string;
  /** Where the key and certificate live (the node's state dir `pki/`). */
  dir: string;
  log: (message: string) => void;
  signal?: AbortSignal;
}

const CLIENT_BASE = 'node-client';

function clientRequest(nodeName: string): CertificateRequest {
  return { signerName: KUBELET_CLIENT_SIGNER, subject: { commonName: `system:node:${nodeName}`, organizations: ['system:nodes'] }, usages: ['digital signature', 'client auth'] };
}

function asNode(conn: Connection, issued: IssuedCertificate): Connection {
  return { server: conn.server, caCert: conn.caCert, insecureSkipTlsVerify: conn.insecureSkipTlsVerify, clientCert: issued.certPem, clientKey: issued.keyPem };
}

/**
 * The connection the node works with: its saved certificate when it has a valid one, else a new
 * one requested with the credential it was started with (retrying while control is unreachable).
 */
export async function nodeConnection(opts: NodeCredentialOptions): Promise<Connection> {
  const saved = await loadCertificate(opts.dir, CLIENT_BASE, `system:node:${opts.nodeName}`, opts.connection.caCert);
  if (saved) return asNode(opts.connection, saved);
  const bootstrap = new ApiClient(opts.connection);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        const issued = await requestCertificate(bootstrap, clientRequest(opts.nodeName), opts.log, opts.signal);
        saveCertificate(opts.dir, CLIENT_BASE, issued);
        opts.log(`has its own client certificate as system:node:${opts.nodeName} (valid until ${certificateInfo(issued.certPem).notAfter.toISOString()})`);
        return asNode(opts.connection, issued);
      } catch (e) {
        // A refusal (401, 403, denied) will not change by itself: say so and stop.
        if (isApiError(e) || /was refused/.test((e as Error).message) || opts.signal?.aborted) throw new Error(`cannot get a node certificate: ${(e as Error).message}`, { cause: e });
        if (attempt % 10 === 0) opts.log(`cannot reach control for a node certificate yet (${(e as Error).message}); retrying`);
        await sleep(Math.min(500 * 2 ** attempt, 5000), opts.signal);
      }
    }
  } finally {
    bootstrap.close();
  }
}

export interface RenewedCertificate {
  /** What the certificate is for, in log lines. */
  what: string;
  /** The certificate in use now. */
  current(): string | undefined;
  request(signal: AbortSignal): Promise<IssuedCertificate>;
  /** Puts the new certificate to use (after it is saved). */
  use(issued: IssuedCertificate): void;
}

/** What keepRenewed needs of the node's trust (NodeTrust): whether a CA rotation left a certificate behind. */
export interface SignerWatch {
  stale(certPem: string): Promise<boolean>;
  /** Waits `ms`, or less when the CAs trusted change first. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/**
 * Renews a certificate when 80% of its life has passed, or at once when `signer` says a CA other
 * than the signing one issued it (a rotated CA), until `signal` aborts; a failure is retried each minute.
 */
export async function keepRenewed(cert: RenewedCertificate, log: (m: string) => void, signal: AbortSignal, signer?: SignerWatch): Promise<void> {
  while (!signal.aborted) {
    const current = cert.current();
    if (!current) return;
    const stale = (await signer?.stale(current)) ?? false;
    const wait = stale ? 0 : renewalTime(current).getTime() - Date.now();
    if (wait > 0) {
      await (signer ? signer.sleep(Math.min(wait, 2 ** 31 - 1), signal) : sleep(Math.min(wait, 2 ** 31 - 1), signal));
      continue;
    }
    try {
      const issued = await cert.request(signal);
      cert.use(issued);
      log(`renewed its ${cert.what}${stale ? ' from the new cluster CA' : ''} (valid until ${certificateInfo(issued.certPem).notAfter.toISOString()})`);
      if (stale && (await signer?.stale(issued.certPem))) throw new Error('control still signs with a CA other than the first of its bundle');
    } catch (e) {
      if (!signal.aborted) log(`could not renew its ${cert.what}: ${(e as Error).message}; retrying in a minute`);
      await sleep(60_000, signal);
    }
  }
}

/** The node's client certificate, renewed with the node's own credential and put to use in `client`. */
export function renewableClientCertificate(client: ApiClient, nodeName: string, dir: string, log: (m: string) => void): RenewedCertificate {
  return {
    what: 'client certificate',
    current: () => client.conn.clientCert,
    request: async (signal) => {
      const issued = await requestCertificate(client, clientRequest(nodeName), log, signal);
      saveCertificate(dir, CLIENT_BASE, issued);
      return issued;
    },
    use: (issued) => client.useCredentials({ clientCert: issued.certPem, clientKey: issued.keyPem, token: undefined }),
  };
}

const SERVING_BASE = 'node-serving';

function servingRequest(nodeName: string): CertificateRequest {
  // Named by the node's name alone: control reaches a node by its Node object's address and
  // checks the name, so the certificate needs no address and can be issued before registration.
  return { signerName: KUBELET_SERVING_SIGNER, subject: { commonName: `system:node:${nodeName}`, organizations: ['system:nodes'], dnsNames: [nodeName] }, usages: ['digital signature', 'server auth'] };
}

/** The node API's serving certificate, signed by the cluster CA for the node's name: the saved one while valid, else a new one. */
export async function nodeServingCertificate(client: ApiClient, nodeName: string, dir: string, log: (m: string) => void, signal?: AbortSignal): Promise<IssuedCertificate> {
  const saved = await loadCertificate(dir, SERVING_BASE, `system:node:${nodeName}`, client.conn.caCert);
  if (saved) return saved;
  const issued = await requestCertificate(client, servingRequest(nodeName), log, signal);
  saveCertificate(dir, SERVING_BASE, issued);
  return issued;
}

/** The serving certificate, renewed the same way; `use` swaps it into the running server. */
export function renewableServingCertificate(client: ApiClient, nodeName: string, dir: string, log: (m: string) => void, current: () => string, use: (issued: IssuedCertificate) => void): RenewedCertificate {
  return {
    what: 'serving certificate',
    current,
    request: async (signal) => {
      const issued = await requestCertificate(client, servingRequest(nodeName), log, signal);
      saveCertificate(dir, SERVING_BASE, issued);
      return issued;
    },
    use,
  };
}
