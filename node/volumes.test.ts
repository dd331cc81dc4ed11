// ConfigMap and Secret projections are redone at every pod sync while the pod's processes read
// them: unchanged files must stay untouched, changed ones be replaced whole, removed keys go.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { KubeObject, Pod } from '../api/types.js';
import type { EnvSources } from './podenv.js';
import { prepareVolumes } from './volumes.js';

test('a projection leaves unchanged files alone, replaces changed ones whole, and drops removed keys', async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'tug-volumes-'));
  t.after(() => rmSync(stateDir, { recursive: true, force: true }));
  let data: Record<string, string> = { 'app.js': 'console.log(1)\n', 'extra.txt': 'x' };
  const sources: EnvSources = {
    configMap: async (_ns, name) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data }) as KubeObject,
    secret: async (_ns, name) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, data: { token: Buffer.from('s3cret').toString('base64') } }) as KubeObject,
    services: () => [],
  };
  const pod = {
    metadata: { name: 'p', namespace: 'default', uid: 'uid-1' },
    spec: { containers: [], volumes: [{ name: 'app', configMap: { name: 'app' } }, { name: 'creds', secret: { secretName: 'creds' } }] },
  } as unknown as Pod;

  const paths = await prepareVolumes(stateDir, pod, sources);
  const app = join(paths.get('app')!, 'app.js');
  const token = join(paths.get('creds')!, 'token');
  assert.equal(readFileSync(app, 'utf8'), 'console.log(1)\n');
  assert.equal(statSync(app).mode & 0o777, 0o644);
  assert.equal(readFileSync(token, 'utf8'), 's3cret');
  assert.equal(statSync(token).mode & 0o777, 0o400);
  const first = statSync(app);

  await prepareVolumes(stateDir, pod, sources);
  const again = statSync(app);
  assert.equal(again.ino, first.ino, 'an unchanged file is the same file');
  assert.equal(again.mtimeMs, first.mtimeMs, 'and was not rewritten');

  data = { 'app.js': 'console.log(2)\n' };
  await prepareVolumes(stateDir, pod, sources);
  assert.equal(readFileSync(app, 'utf8'), 'console.log(2)\n');
  assert.notEqual(statSync(app).ino, first.ino, 'a changed file is replaced by a new one (renamed over the old)');
  assert.deepEqual(readdirSync(paths.get('app')!), ['app.js'], 'the removed key is gone, no temporary file is left');
});
