// TLS material made on first start and kept in a state dir: a CA and a serving certificate
// signed by it. The control node serves the API with it (kubectl sends tokens only over TLS); each
// node serves its node API with its own.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { isIP } from 'node:net';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;
/** Serving certificates live a year and are renewed once two thirds of that has passed. */
export const SERVING_CERT_MS = 365 * 24 * 3600 * 1000;

/**
 * What every tugboat TLS server accepts: TLS 1.3, and TLS 1.2 with forward-secret AEAD suites only
 * (no CBC, no SHA-1, no RSA key exchange).
 */
export const TLS_SERVER_OPTIONS = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  honorCipherOrder: true,
} as const;

export interface TlsMaterial {
  caCert: string; // PEM
  cert: string; // PEM, serving certificate
  key: string; // PEM, PKCS#8
}

export function toPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${b64.trimEnd()}\n-----END ${label}-----\n`;
}

export function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f; // a positive serial number
  return bytes.toString('hex');
}

/** The names a serving certificate covers by default: loopback, this host's names and addresses. */
export function defaultSans(extra: string[] = []): string[] {
  const names = new Set<string>(['127.0.0.1', '::1', 'localhost', hostname()]);
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) names.add(a.address);
  }
  for (const e of extra) if (e) names.add(e);
  return [...names];
}

/** A new self-signed CA; a CA made by a rotation has a name of its own (`tugboat-ca@<seconds>`). */
async function makeCa(name = 'tugboat-ca'): Promise<{ cert: x509.X509Certificate; keys: CryptoKeyPair }> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + TEN_YEARS_MS),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys };
}

async function makeLeaf(ca: { cert: x509.X509Certificate; keys: CryptoKeyPair }, sans: string[]) {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: 'CN=tugboat-apiserver',
    issuer: ca.cert.subject,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + SERVING_CERT_MS),
    signingKey: ca.keys.privateKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        sans.map((s) => (isIP(s) ? { type: 'ip' as const, value: s } : { type: 'dns' as const, value: s })),
      ),
    ],
  });
  return { cert, keys };
}

function sansOf(certPem: string): Set<string> {
  const cert = new x509.X509Certificate(certPem);
  const ext = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return new Set((ext?.names.items ?? []).map((n) => n.value));
}

/**
 * Loads the CA and serving certificate from `dir`, creating them on first start. The serving
 * certificate is re-issued by the same CA when a wanted name is missing from it or less than a
 * third of its life is left, so an existing kubeconfig keeps working.
 */
export async function ensureTls(dir: string, sans: string[]): Promise<TlsMaterial> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caCertFile = join(dir, 'ca.crt');
  const caKeyFile = join(dir, 'ca.key');
  const certFile = join(dir, 'apiserver.crt');
  const keyFile = join(dir, 'apiserver.key');

  let ca: { cert: x509.X509Certificate; keys: CryptoKeyPair };
  if (existsSync(caCertFile) && existsSync(caKeyFile)) {
    const cert = new x509.X509Certificate(readFileSync(caCertFile, 'utf8'));
    const der = Buffer.from(readFileSync(caKeyFile, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const privateKey = await webcrypto.subtle.importKey('pkcs8', der, ALGORITHM, true, ['sign']);
    const publicKey = await cert.publicKey.export(ALGORITHM, ['verify']);
    ca = { cert, keys: { privateKey, publicKey } as CryptoKeyPair };
  } else {
    ca = await makeCa();
    writeFileSync(caCertFile, ca.cert.toString('pem') + '\n');
    writeFileSync(caKeyFile, toPem(await webcrypto.subtle.exportKey('pkcs8', ca.keys.privateKey), 'PRIVATE KEY'), { mode: 0o600 });
  }

  if (existsSync(certFile) && existsSync(keyFile)) {
    const current = new x509.X509Certificate(readFileSync(certFile, 'utf8'));
    const have = sansOf(readFileSync(certFile, 'utf8'));
    const life = current.notAfter.getTime() - current.notBefore.getTime();
    const fresh = current.notAfter.getTime() - Date.now() > life / 3;
    // After a CA rotation the serving certificate is made anew by the CA that signs now.
    const bySigner = await current.verify({ publicKey: ca.keys.publicKey, signatureOnly: true }).catch(() => false);
    if (fresh && bySigner && sans.every((s) => have.has(s))) {
      return { caCert: readFileSync(caCertFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
    }
  }
  const leaf = await makeLeaf(ca, sans);
  writeFileSync(certFile, leaf.cert.toString('pem') + '\n');
  writeFileSync(keyFile, toPem(await webcrypto.subtle.exportKey('pkcs8', leaf.keys.privateKey), 'PRIVATE KEY'), { mode: 0o600 });
  return { caCert: readFileSync(caCertFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

/** A new CA as PEM (certificate, PKCS#8 key), named after the time it was made and a random tag (no two share a name). */
export async function newCertificateAuthorityPem(): Promise<{ certPem: string; keyPem: string }> {
  const ca = await makeCa(`tugboat-ca@${Math.floor(Date.now() / 1000)}-${randomBytes(3).toString('hex')}`);
  return { certPem: ca.cert.toString('pem') + '\n', keyPem: toPem(await webcrypto.subtle.exportKey('pkcs8', ca.keys.privateKey), 'PRIVATE KEY') };
}
