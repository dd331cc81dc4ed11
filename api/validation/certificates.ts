// Validation of CertificateSigningRequests: a PEM request, a signer, known key usages, a
// lifetime of at least ten minutes if one is asked; the spec never changes after creation, and
// a request is never both Approved and Denied, nor loses either once it has it.
import type { KubeObject } from '../types.js';
import { cause, checkArray, checkInt, checkObject, checkString, sameValue, type Causes } from './causes.js';

export const KEY_USAGES = [
  'signing', 'digital signature', 'content commitment', 'key encipherment', 'key agreement', 'data encipherment', 'cert sign', 'crl sign',
  'encipher only', 'decipher only', 'any', 'server auth', 'client auth', 'code signing', 'email protection', 's/mime', 'ipsec end system',
  'ipsec tunnel', 'ipsec user', 'timestamping', 'ocsp signing', 'microsoft sgc', 'netscape sgc',
];

function validateSpec(causes: Causes, spec: Record<string, unknown>): void {
  if (checkString(causes, 'spec.request', spec.request, { required: true })) {
    const pem = Buffer.from(spec.request as string, 'base64').toString('utf8');
    if (!pem.includes('-----BEGIN CERTIFICATE REQUEST-----')) causes.push(cause.invalid('spec.request', '<request>', 'must be a PEM-encoded PKCS#10 CERTIFICATE REQUEST, base64-encoded in JSON'));
  }
  if (checkString(causes, 'spec.signerName', spec.signerName, { required: true }) && !/^[a-z0-9.-]+\/[A-Za-z0-9._/-]+$/.test(spec.signerName as string)) {
    causes.push(cause.invalid('spec.signerName', spec.signerName, 'must be a fully qualified domain and path of the form "example.com/signer-name"'));
  }
  const usages = checkArray(causes, 'spec.usages', spec.usages);
  if (spec.usages === undefined || usages.length === 0) causes.push(cause.required('spec.usages', 'at least one usage'));
  usages.forEach((u, i) => {
    if (typeof u !== 'string' || !KEY_USAGES.includes(u)) causes.push(cause.notSupported(`spec.usages[${i}]`, u, KEY_USAGES));
  });
  if (spec.expirationSeconds !== undefined && checkInt(causes, 'spec.expirationSeconds', spec.expirationSeconds) && (spec.expirationSeconds as number) < 600) {
    causes.push(cause.invalid('spec.expirationSeconds', spec.expirationSeconds, 'may not specify a duration less than 600 seconds (10 minutes)'));
  }
}

function trueConditions(obj: KubeObject | undefined): Set<string> {
  const list = ((obj?.status as { conditions?: { type?: string; status?: string }[] } | undefined)?.conditions ?? []);
  return new Set(list.filter((c) => c?.status === 'True').map((c) => String(c.type)));
}

export function validateCertificateSigningRequest(obj: KubeObject, old?: KubeObject): Causes {
  const causes: Causes = [];
  if (checkObject(causes, 'spec', obj.spec, { required: true })) validateSpec(causes, obj.spec as Record<string, unknown>);
  if (old && !sameValue(old.spec, obj.spec)) causes.push(cause.forbidden('spec', 'updates to a certificate signing request spec are forbidden'));
  checkArray(causes, 'status.conditions', (obj.status as { conditions?: unknown } | undefined)?.conditions).forEach((c, i) => {
    if (!checkObject(causes, `status.conditions[${i}]`, c, { required: true })) return;
    checkString(causes, `status.conditions[${i}].type`, c.type, { required: true });
    if (!['True', 'False', 'Unknown'].includes(c.status as string)) causes.push(cause.notSupported(`status.conditions[${i}].status`, c.status, ['True', 'False', 'Unknown']));
  });
  const now = trueConditions(obj);
  if (now.has('Approved') && now.has('Denied')) causes.push(cause.invalid('status.conditions', 'Approved,Denied', 'Approved and Denied conditions are mutually exclusive'));
  const before = trueConditions(old);
  for (const kept of ['Approved', 'Denied']) if (before.has(kept) && !now.has(kept)) causes.push(cause.forbidden('status.conditions', `the ${kept} condition may not be removed`));
  return causes;
}
