// Replacing the cluster CA without a moment when anything stops trusting anything, in the three
// steps Kubernetes documents for a manual rotation:
// 1. start: a new CA is made beside the current one, and every client is given both (the trust
//    bundle): kubeconfigs, kube-root-ca.crt in every namespace, nodes (which fetch the bundle).
// 2. switch: the new CA signs from now on; control's serving and node-client certificates are made
//    anew by it, nodes renew theirs; certificates of the old CA are still trusted.
// 3. finish: the old CA is dropped from the bundle; what it signed is no longer accepted.
// In control's pki dir: ca.crt/ca.key sign; ca-next.* wait for the switch; ca-previous.crt is the
// old CA while still trusted; ca-bundle.crt is what every client trusts (the signer first).
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errors } from '../api/errors.js';
import { newCertificateAuthorityPem } from '../lib/tls.js';

export type RotationPhase = 'start' | 'switch' | 'finish';
export const ROTATION_PHASES: RotationPhase[] = ['start', 'switch', 'finish'];

const file = (dir: string, name: string) => join(dir, name);

/** Where a rotation stands: none under way, the new CA made (started), or signing (switched). */
export function rotationState(dir: string): 'none' | 'started' | 'switched' {
  if (existsSync(file(dir, 'ca-next.crt'))) return 'started';
  if (existsSync(file(dir, 'ca-previous.crt'))) return 'switched';
  return 'none';
}

/** The PEM certificates every client should trust: the signing CA first. */
export function trustBundle(dir: string): string {
  const bundle = file(dir, 'ca-bundle.crt');
  return readFileSync(existsSync(bundle) ? bundle : file(dir, 'ca.crt'), 'utf8');
}

function writeBundle(dir: string, ...certs: string[]): void {
  writeFileSync(file(dir, 'ca-bundle.crt'), certs.map((c) => c.trimEnd() + '\n').join(''), { mode: 0o644 });
}

function refuse(state: string, phase: RotationPhase, next: string): never {
  throw errors.conflict('certificate authority', 'cluster', `cannot ${phase} a CA rotation that is ${state}; ${next}`);
}

/** Takes the rotation one step; what the step did, for the log and the caller. */
export async function rotateCa(dir: string, phase: RotationPhase): Promise<string> {
  const state = rotationState(dir);
  const current = readFileSync(file(dir, 'ca.crt'), 'utf8');
  if (phase === 'start') {
    if (state !== 'none') refuse(state, phase, state === 'started' ? 'switch it next' : 'finish it first');
    const next = await newCertificateAuthorityPem();
    writeFileSync(file(dir, 'ca-next.key'), next.keyPem, { mode: 0o600 });
    writeFileSync(file(dir, 'ca-next.crt'), next.certPem);
    writeBundle(dir, current, next.certPem);
    return 'a new CA is made and trusted beside the current one; switch once every client has the bundle';
  }
  if (phase === 'switch') {
    if (state !== 'started') refuse(state === 'none' ? 'not under way' : state, phase, state === 'none' ? 'start one' : 'finish it');
    const next = readFileSync(file(dir, 'ca-next.crt'), 'utf8');
    writeFileSync(file(dir, 'ca-previous.crt'), current);
    renameSync(file(dir, 'ca-next.key'), file(dir, 'ca.key'));
    renameSync(file(dir, 'ca-next.crt'), file(dir, 'ca.crt'));
    writeBundle(dir, next, current);
    return 'the new CA signs now; certificates of the old one are still trusted until finish';
  }
  if (state !== 'switched') refuse(state === 'none' ? 'not under way' : state, phase, state === 'none' ? 'start one' : 'switch it first');
  rmSync(file(dir, 'ca-previous.crt'));
  writeBundle(dir, current);
  return 'the old CA is trusted no more';
}
