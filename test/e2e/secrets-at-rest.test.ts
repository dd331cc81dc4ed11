// Secrets at rest, from the outside: what kubectl stores is not in the database file or its WAL,
// `tug secrets rotate` puts a new key in use and every Secret stays readable, a cluster that stored
// Secrets in plain text encrypts them at its next start, and control's files are its own (0700,
// 0600) whatever mode the data dir had.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { needs } from '../requirements.js';
import { kubectlFor, startControl, tempDir, tug } from './harness.js';

const VALUE = 'hunter2-correct-horse';
const B64 = Buffer.from(VALUE).toString('base64');

/** The database and WAL as bytes: what `strings` would search. */
function stored(dataDir: string): string {
  return ['state.db', 'state.db-wal'].map((f) => join(dataDir, f)).filter(existsSync).map((f) => readFileSync(f).toString('latin1')).join('');
}

const mode = (path: string) => statSync(path).mode & 0o777;

describe('Secrets at rest', { ...(await needs('kubectl')), concurrency: false }, () => {
  const cleanups: (() => unknown)[] = [];
  const scope = { after: (fn: () => unknown) => cleanups.push(fn) };
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  it('keeps no Secret value in the database or WAL, rotates its key keeping every Secret readable, and owns its files', async () => {
    const home = tempDir(scope);
    const dataDir = join(home, 'control');
    mkdirSync(dataDir, { mode: 0o755 });
    chmodSync(dataDir, 0o755);
    let control = await startControl(scope, home, ['--controllers', 'none']);
    const kubectl = kubectlFor(control, home);
    assert.equal((await kubectl(['create', 'secret', 'generic', 'db', `--from-literal=password=${VALUE}`])).code, 0);
    assert.equal((await kubectl(['create', 'configmap', 'visible', '--from-literal=note=stored-in-the-clear'])).code, 0);
    assert.equal(Buffer.from(JSON.parse((await kubectl(['get', 'secret', 'db', '-o', 'json'])).stdout).data.password, 'base64').toString(), VALUE);
    let bytes = stored(dataDir);
    assert.ok(bytes.includes('stored-in-the-clear'), 'the scan sees what is stored in the clear (a ConfigMap)');
    assert.ok(!bytes.includes(VALUE) && !bytes.includes(B64), 'the value is in neither file');
    assert.equal(mode(dataDir), 0o700);
    for (const f of ['state.db', 'state.db-wal', 'encryption-config.yaml', 'admin.token']) assert.equal(mode(join(dataDir, f)), 0o600, f);
    assert.doesNotMatch(control.output(), new RegExp(VALUE));

    const rotated = await tug({ HOME: home, KUBECONFIG: control.kubeconfig }, ['secrets', 'rotate']);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, /^encryption key key-\d+ now writes; \d+ object\(s\) re-encrypted with it/);
    const config = readFileSync(join(dataDir, 'encryption-config.yaml'), 'utf8');
    assert.equal(config.match(/name: key-/g)?.length, 2, 'the old key stays, second, to read what it wrote');
    assert.equal(Buffer.from(JSON.parse((await kubectl(['get', 'secret', 'db', '-o', 'json'])).stdout).data.password, 'base64').toString(), VALUE);

    await control.kill('SIGTERM');
    control = await startControl(scope, home, ['--controllers', 'none']);
    assert.equal(Buffer.from(JSON.parse((await kubectlFor(control, home)(['get', 'secret', 'db', '-o', 'json'])).stdout).data.password, 'base64').toString(), VALUE, 'readable after a restart');
    bytes = stored(dataDir);
    assert.ok(!bytes.includes(VALUE) && !bytes.includes(B64));
    const denied = await tug({ HOME: home, KUBECONFIG: control.kubeconfig }, ['secrets', 'rotate', '--token', 'abcdef.0123456789abcdef']);
    assert.notEqual(denied.code, 0, 'only an admin rotates');
  });

  it('encrypts at its next start what a cluster stored in plain text', async () => {
    const home = tempDir(scope);
    const plain = join(home, 'plain.yaml');
    writeFileSync(plain, 'apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n    providers:\n      - identity: {}\n');
    let control = await startControl(scope, home, ['--controllers', 'none', '--encryption-config', plain]);
    assert.equal((await kubectlFor(control, home)(['create', 'secret', 'generic', 'old', `--from-literal=password=${VALUE}`])).code, 0);
    assert.ok(stored(join(home, 'control')).includes(B64), 'with identity the value is there to find');
    await control.kill('SIGTERM');
    control = await startControl(scope, home, ['--controllers', 'none']);
    assert.ok(!stored(join(home, 'control')).includes(B64), 'the default config encrypted it, history included');
    assert.equal(Buffer.from(JSON.parse((await kubectlFor(control, home)(['get', 'secret', 'old', '-o', 'json'])).stdout).data.password, 'base64').toString(), VALUE);
  });
});
