// The CA rotation's steps on disk: which CA signs, what the bundle holds, and the order enforced.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isApiError } from '../api/errors.js';
import { certificateInfo, issuedBy, pemCertificates } from '../lib/pki.js';
import { ensureTls } from '../lib/tls.js';
import { rotateCa, rotationState, trustBundle } from './ca-rotation.js';

describe('CA rotation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tug-ca-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');

  async function refused(phase: 'start' | 'switch' | 'finish', message: RegExp): Promise<void> {
    await assert.rejects(rotateCa(dir, phase), (e) => isApiError(e) && e.code === 409 && message.test(e.message));
  }

  it('trusts the CA alone before any rotation, and refuses switch and finish', async () => {
    await ensureTls(dir, ['127.0.0.1']);
    assert.equal(rotationState(dir), 'none');
    assert.equal(trustBundle(dir), read('ca.crt'));
    await refused('switch', /cannot switch a CA rotation that is not under way; start one/);
    await refused('finish', /cannot finish a CA rotation that is not under way; start one/);
  });

  it('goes start → switch → finish, the signing CA always first in the bundle, and serves again from the new CA', async () => {
    const first = read('ca.crt');
    await rotateCa(dir, 'start');
    assert.equal(rotationState(dir), 'started');
    const next = read('ca-next.crt');
    assert.equal(statSync(join(dir, 'ca-next.key')).mode & 0o777, 0o600);
    assert.deepEqual(pemCertificates(trustBundle(dir)), [...pemCertificates(first), ...pemCertificates(next)]);
    assert.equal(read('ca.crt'), first, 'the old CA still signs');
    await refused('start', /that is started; switch it next/);
    await refused('finish', /that is started; switch it first/);

    await rotateCa(dir, 'switch');
    assert.equal(rotationState(dir), 'switched');
    assert.equal(read('ca.crt'), next);
    assert.equal(read('ca-previous.crt'), first);
    assert.ok(!existsSync(join(dir, 'ca-next.key')));
    assert.deepEqual(pemCertificates(trustBundle(dir)), [...pemCertificates(next), ...pemCertificates(first)]);
    const tls = await ensureTls(dir, ['127.0.0.1']);
    assert.ok(await issuedBy(tls.cert, next), 'the serving certificate is made anew by the CA that signs');
    assert.ok(!(await issuedBy(tls.cert, first)));
    await refused('start', /that is switched; finish it first/);

    await rotateCa(dir, 'finish');
    assert.equal(rotationState(dir), 'none');
    assert.deepEqual(pemCertificates(trustBundle(dir)), pemCertificates(next));
    assert.ok(!existsSync(join(dir, 'ca-previous.crt')));
  });

  it('names each new CA apart, so a bundle never holds two CAs of one name', async () => {
    await rotateCa(dir, 'start');
    const [a, b] = pemCertificates(trustBundle(dir)).map((pem) => certificateInfo(pem).commonName);
    assert.match(b, /^tugboat-ca@\d+-[0-9a-f]{6}$/);
    assert.notEqual(a, b);
  });
});
