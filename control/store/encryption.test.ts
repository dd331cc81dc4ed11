// Encryption at rest: the EncryptionConfiguration format, AES-GCM bound to the object's key, key
// rotation with every old value still readable, and a SQLite store whose files (database and WAL)
// never hold a Secret's value.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { defaultEncryptionConfig, encryptionConfigYaml, newAesGcmKey, parseEncryptionConfig, ValueTransformer, withNewKey } from './encryption.js';
import { openSqliteStore } from './sqlite.js';

const KEY = { resource: 'secrets', namespace: 'dev', name: 'db' };

describe('EncryptionConfiguration', () => {
  it('reads the Kubernetes format and writes it back the same', () => {
    const config = defaultEncryptionConfig();
    const again = parseEncryptionConfig(encryptionConfigYaml(config));
    assert.deepEqual(again, config);
    assert.match(encryptionConfigYaml(config), /^apiVersion: apiserver\.config\.k8s\.io\/v1\nkind: EncryptionConfiguration\n/);
  });

  it('says which field is wrong', () => {
    const bad = (yaml: string) => () => parseEncryptionConfig(yaml, 'enc.yaml');
    assert.throws(bad('kind: Other'), /enc\.yaml: must be apiVersion apiserver\.config\.k8s\.io\/v1, kind EncryptionConfiguration/);
    const head = 'apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n';
    assert.throws(bad(`${head}resources: [{resources: [secrets], providers: [{kms: {}}]}]`), /resources\[0\]\.providers\[0\]: only aesgcm and identity providers are supported/);
    assert.throws(bad(`${head}resources: [{resources: [secrets], providers: [{aesgcm: {keys: [{name: k, secret: c2hvcnQ=}]}}]}]`), /aesgcm\.keys\[0\]: needs a name and a base64 secret of 16, 24 or 32 bytes/);
  });
});

describe('the AES-GCM transformer', () => {
  const config = defaultEncryptionConfig();
  const t = new ValueTransformer(config);

  it('encrypts what the config names, each write with its own nonce, and opens it again', () => {
    const a = t.toStorage(KEY, '{"data":{"password":"czNjcmV0"}}');
    const b = t.toStorage(KEY, '{"data":{"password":"czNjcmV0"}}');
    assert.match(a, /^k8s:enc:aesgcm:v1:key-\d+:/);
    assert.notEqual(a, b);
    assert.ok(!a.includes('czNjcmV0'));
    assert.equal(t.fromStorage(KEY, a), '{"data":{"password":"czNjcmV0"}}');
    assert.equal(t.toStorage({ ...KEY, resource: 'configmaps' }, '{"x":1}'), '{"x":1}', 'other resources stay plain');
    assert.equal(t.fromStorage(KEY, '{"plain":true}'), '{"plain":true}', 'identity still reads plain text');
  });

  it('binds a value to its object: moved under another name it does not open', () => {
    const sealed = t.toStorage(KEY, '{"a":1}');
    assert.throws(() => t.fromStorage({ ...KEY, name: 'other' }, sealed));
  });

  it('after a rotation writes with the new key, reads both, and says which values are stale', () => {
    const old = t.toStorage(KEY, '{"a":1}');
    const rotated = new ValueTransformer(withNewKey(config, { ...newAesGcmKey(), name: 'key-new' }));
    const fresh = rotated.toStorage(KEY, '{"a":2}');
    assert.match(fresh, /^k8s:enc:aesgcm:v1:key-new:/);
    assert.equal(rotated.fromStorage(KEY, old), '{"a":1}');
    assert.equal(rotated.stale(KEY, old), true);
    assert.equal(rotated.stale(KEY, fresh), false);
    const onlyNew = new ValueTransformer({ rules: [{ resources: ['secrets'], providers: [{ aesgcm: [{ name: 'key-new', secret: Buffer.alloc(32, 1) }] }] }] });
    assert.throws(() => onlyNew.fromStorage(KEY, old), /encrypted with key "key-\d+", which the encryption config no longer has/);
  });
});

describe('a SQLite store with encryption', () => {
  const VALUE = 'correct-horse-battery-staple';
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'dev' }, data: { password: Buffer.from(VALUE).toString('base64') } };

  function fileBytes(dir: string): Buffer {
    return Buffer.concat(['state.db', 'state.db-wal'].map((f) => join(dir, f)).filter(existsSync).map((f) => readFileSync(f)));
  }

  it('keeps no Secret value in the database or its WAL, reads it back, and rewrites it under a new key', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tug-enc-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const config = defaultEncryptionConfig();
    const transformer = new ValueTransformer(config);
    let store = openSqliteStore(join(dir, 'state.db'), { transformer });
    await store.create(KEY, secret);
    await store.create({ resource: 'configmaps', namespace: 'dev', name: 'cm' }, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'dev' }, data: { note: 'plain' } });
    const bytes = fileBytes(dir);
    assert.ok(bytes.includes('plain'), 'the check can see what is stored in the clear');
    assert.ok(!bytes.includes(VALUE) && !bytes.includes(secret.data.password), 'neither the value nor its base64 is in the files');
    assert.equal(statSync(join(dir, 'state.db')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'state.db-wal')).mode & 0o777, 0o600);
    assert.deepEqual((await store.get(KEY))?.data, secret.data);
    await store.close();

    store = openSqliteStore(join(dir, 'state.db'), { transformer });
    assert.deepEqual((await store.get(KEY))?.data, secret.data, 'read back after a reopen');
    const newKey = { ...newAesGcmKey(), name: 'key-rotated' };
    const rotated = withNewKey(config, newKey);
    transformer.use(rotated);
    assert.equal(await store.rewriteStale!('secrets'), 1);
    assert.equal(await store.rewriteStale!('secrets'), 0, 'nothing left to rewrite');
    await store.close();

    // Only the new key left: the Secret and its history open, so both really were rewritten with it.
    store = openSqliteStore(join(dir, 'state.db'), { transformer: new ValueTransformer({ rules: [{ resources: ['secrets'], providers: [{ aesgcm: [newKey] }] }] }) });
    assert.deepEqual((await store.get(KEY))?.data, secret.data);
    await store.close();
  });
});
