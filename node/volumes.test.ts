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
    serviceAccountToken: async () => assert.fail('no token asked for'),
  };
  const pod = {
    metadata: { name: 'p', namespace: 'default', uid: 'uid-1' },
    spec: { containers: [], volumes: [{ name: 'app', configMap: { name: 'app' } }, { name: 'creds', secret: { secretName: 'creds' } }] },
  } as unknown as Pod;

  const { paths } = await prepareVolumes(stateDir, pod, sources);
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

test('the API access volume: a token bound to the pod (0600), the CA, the namespace; renewed when due', async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'tug-volumes-'));
  t.after(() => rmSync(stateDir, { recursive: true, force: true }));
  const asked: { audience?: string; seconds: number }[] = [];
  let n = 0;
  const sources: EnvSources = {
    configMap: async (_ns, name) => (name === 'kube-root-ca.crt' ? ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { 'ca.crt': 'CA PEM' } } as KubeObject) : undefined),
    secret: async () => undefined,
    services: () => [],
    serviceAccountToken: async (_pod, audience, seconds) => {
      asked.push({ audience, seconds });
      return { token: `token-${++n}`, refreshAt: 1000 * n };
    },
  };
  const pod = {
    metadata: { name: 'p', namespace: 'dev', uid: 'uid-2', labels: { app: 'web' } },
    spec: {
      containers: [],
      volumes: [
        {
          name: 'kube-api-access-abcde',
          projected: {
            defaultMode: 0o644,
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
              { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
              { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
            ],
          },
        },
        { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }, { path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] } },
      ],
    },
  } as unknown as Pod;
  const first = await prepareVolumes(stateDir, pod, sources);
  const dir = first.paths.get('kube-api-access-abcde')!;
  assert.deepEqual(readdirSync(dir).sort(), ['ca.crt', 'namespace', 'token']);
  assert.equal(readFileSync(join(dir, 'token'), 'utf8'), 'token-1');
  assert.equal(statSync(join(dir, 'token')).mode & 0o777, 0o600);
  assert.equal(readFileSync(join(dir, 'ca.crt'), 'utf8'), 'CA PEM');
  assert.equal(readFileSync(join(dir, 'namespace'), 'utf8'), 'dev');
  assert.deepEqual(asked, [{ audience: undefined, seconds: 3607 }]);
  assert.equal(first.refreshAt, 1000, 'the pod is due for a sync when the token is');
  assert.equal(readFileSync(join(first.paths.get('info')!, 'labels'), 'utf8'), 'app="web"');
  assert.equal(readFileSync(join(first.paths.get('info')!, 'name'), 'utf8'), 'p');
  const second = await prepareVolumes(stateDir, pod, sources);
  assert.equal(readFileSync(join(dir, 'token'), 'utf8'), 'token-2', 'a later sync writes what the source gives now');
  assert.equal(second.refreshAt, 2000);
});
