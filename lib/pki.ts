// Certificates on request: keys and PKCS#10 certificate signing requests made where the key will
// live (a node), and certificates signed by the cluster CA from a verified request (control's
// CertificateSigningRequest signer). Node's WebCrypto with ECDSA P-256, through @peculiar/x509.
// tls.js first: it loads reflect-metadata and sets the crypto provider x509 needs.
import { ALGORITHM, serial, toPem } from './tls.js';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

export interface CertificateAuthority {
  certPem: string;
  cert: x509.X509Certificate;
  privateKey: CryptoKey;
}

export interface Subject {
  commonName: string;
  organizations: string[];
  dnsNames: string[];
  ips: string[];
  /** URI names (a workload's SPIFFE ID). */
  uris?: string[];
}

export type KeyUsage = 'digital signature' | 'key encipherment' | 'client auth' | 'server auth';

/** The CA that `ensureTls` made in `dir` (ca.crt, ca.key). */
export async function loadCertificateAuthority(dir: string): Promise<CertificateAuthority> {
  const certPem = readFileSync(join(dir, 'ca.crt'), 'utf8');
  const der = Buffer.from(readFileSync(join(dir, 'ca.key'), 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, ALGORITHM, false, ['sign']);
  return { certPem, cert: new x509.X509Certificate(certPem), privateKey: privateKey as unknown as CryptoKey };
}

function nameOf(s: Pick<Subject, 'commonName' | 'organizations'>): x509.JsonName {
  return [{ CN: [s.commonName] }, ...(s.organizations.length ? [{ O: s.organizations }] : [])];
}

function sanExtension(s: Pick<Subject, 'dnsNames' | 'ips' | 'uris'>): x509.Extension[] {
  const names = [
    ...s.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...s.ips.map((value) => ({ type: 'ip' as const, value })),
    ...(s.uris ?? []).map((value) => ({ type: 'url' as const, value })),
  ];
  return names.length ? [new x509.SubjectAlternativeNameExtension(names)] : [];
}

/** A new private key (PKCS#8 PEM) and a certificate request for `subject`, signed with it. */
export async function createKeyAndCsr(subject: Partial<Subject> & { commonName: string }): Promise<{ keyPem: string; csrPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: nameOf({ commonName: subject.commonName, organizations: subject.organizations ?? [] }),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: sanExtension({ dnsNames: subject.dnsNames ?? [], ips: subject.ips ?? [], uris: subject.uris ?? [] }),
  });
  return { keyPem: toPem(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY'), csrPem: csr.toString('pem') };
}

const SAN_OID = '2.5.29.17';

function sanOf(ext: x509.Extension | null): x509.SubjectAlternativeNameExtension | null {
  return ext ? new x509.SubjectAlternativeNameExtension(ext.rawData) : null;
}

function sansOf(ext: x509.SubjectAlternativeNameExtension | null): Pick<Subject, 'dnsNames' | 'ips' | 'uris'> {
  const items = ext?.names.items ?? [];
  const of = (type: string) => items.filter((n) => n.type === type).map((n) => n.value);
  return { dnsNames: of('dns'), ips: of('ip'), uris: of('url') };
}

export interface ParsedCsr extends Subject {
  csr: x509.Pkcs10CertificateRequest;
}

/** Parses a PEM certificate request and checks its self-signature; throws a readable Error otherwise. */
export async function parseCsr(pem: string): Promise<ParsedCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch (e) {
    throw new Error(`not a PEM CERTIFICATE REQUEST: ${(e as Error).message}`, { cause: e });
  }
  if (!(await csr.verify().catch(() => false))) throw new Error('the request is not signed by the key it carries');
  return {
    csr,
    commonName: csr.subjectName.getField('CN')[0] ?? '',
    organizations: csr.subjectName.getField('O'),
    ...sansOf(sanOf(csr.getExtension(SAN_OID))),
  };
}

const EKU: Partial<Record<KeyUsage, string>> = { 'client auth': x509.ExtendedKeyUsage.clientAuth, 'server auth': x509.ExtendedKeyUsage.serverAuth };

/** A certificate for a verified request, signed by `ca`, valid from an hour ago for `durationMs`. */
export async function signCertificate(ca: CertificateAuthority, request: ParsedCsr, opts: { usages: KeyUsage[]; durationMs: number; now?: Date }): Promise<string> {
  const now = (opts.now ?? new Date()).getTime();
  let keyUsage = 0;
  if (opts.usages.includes('digital signature')) keyUsage |= x509.KeyUsageFlags.digitalSignature;
  if (opts.usages.includes('key encipherment')) keyUsage |= x509.KeyUsageFlags.keyEncipherment;
  const eku = opts.usages.map((u) => EKU[u]).filter((u): u is string => !!u);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: nameOf(request),
    issuer: ca.cert.subject,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(Math.min(now + opts.durationMs, ca.cert.notAfter.getTime())),
    signingKey: ca.privateKey,
    publicKey: request.csr.publicKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(keyUsage, true),
      ...(eku.length ? [new x509.ExtendedKeyUsageExtension(eku)] : []),
      ...sanExtension(request),
    ],
  });
  return cert.toString('pem') + '\n';
}

export interface CertificateInfo extends Subject {
  notBefore: Date;
  notAfter: Date;
}

export function certificateInfo(pem: string): CertificateInfo {
  const cert = new x509.X509Certificate(pem);
  return {
    commonName: cert.subjectName.getField('CN')[0] ?? '',
    organizations: cert.subjectName.getField('O'),
    ...sansOf(cert.getExtension(x509.SubjectAlternativeNameExtension)),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}

/** Whether `ip` is an IP address literal (for SAN checks). */
export const isIpAddress = (ip: string) => isIP(ip) !== 0;

/** Whether `certPem` is signed by the CA in `caPem` (and the CA's own dates hold). */
/** The PEM certificates in `bundle`, each with its own BEGIN and END lines. */
export function pemCertificates(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g)?.map((pem) => pem + '\n') ?? [];
}

/** Whether `certPem` was signed by the CA in `caPem`, or by any of them when it is a bundle. */
export async function issuedBy(certPem: string, caPem: string): Promise<boolean> {
  for (const pem of pemCertificates(caPem)) {
    try {
      const ca = new x509.X509Certificate(pem);
      if (await new x509.X509Certificate(certPem).verify({ publicKey: ca.publicKey, signatureOnly: true })) return true;
    } catch {
      // not a certificate, or not this CA's
    }
  }
  return false;
}

/**
 * A key and certificate for `subject` signed by `ca`, kept as `<base>.crt`/`<base>.key` in `dir`:
 * the saved pair while it has more than a third of its life left, else a new one.
 */
export async function ensureSignedCertificate(ca: CertificateAuthority, dir: string, base: string, subject: Subject, usages: KeyUsage[], durationMs: number): Promise<{ certPem: string; keyPem: string }> {
  const certFile = join(dir, `${base}.crt`);
  const keyFile = join(dir, `${base}.key`);
  try {
    const certPem = readFileSync(certFile, 'utf8');
    const info = certificateInfo(certPem);
    const left = info.notAfter.getTime() - Date.now();
    const life = info.notAfter.getTime() - info.notBefore.getTime();
    if (info.commonName === subject.commonName && left > life / 3 && (await issuedBy(certPem, ca.certPem))) return { certPem, keyPem: readFileSync(keyFile, 'utf8') };
  } catch {
    // none yet, or unreadable: make a new one
  }
  const { keyPem, csrPem } = await createKeyAndCsr(subject);
  const certPem = await signCertificate(ca, await parseCsr(csrPem), { usages, durationMs });
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  writeFileSync(certFile, certPem, { mode: 0o600 });
  return { certPem, keyPem };
}
