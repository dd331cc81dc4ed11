// The informer every component will use, against a real API server over HTTPS: list, watch,
// and the events a user's writes produce.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FileCheckpoint } from '../../api/checkpoint.js';
import { ApiClient } from '../../api/client.js';
import { Informer } from '../../api/informer.js';
import { resourceOfKind } from '../../api/resources.js';
import { startControl } from '../../control/index.js';
import { eventually, tempDir } from './harness.js';

const CONFIGMAP = resourceOfKind('ConfigMap');

describe('informer against tug control', () => {
  it('sees existing objects, then creates, updates and deletes, filtered by label', async (t) => {
    const dir = tempDir(t);
    const control = await startControl({ listen: '127.0.0.1:0', dataDir: dir, store: 'memory' });
    t.after(() => control.stop());
    const client = new ApiClient({ server: control.url, caCert: control.caCert, token: control.token });
    t.after(() => client.close());
    const cm = (name: string, team: string, value = '1') => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { team } }, data: { value } });
    await client.create(CONFIGMAP, 'default', cm('before', 'blue'));
    await client.create(CONFIGMAP, 'default', cm('other', 'green'));

    const seen: string[] = [];
    const informer = new Informer(
      client,
      CONFIGMAP,
      {
        onAdd: (o) => seen.push(`add ${o.metadata.name}`),
        onUpdate: (_old, o) => seen.push(`update ${o.metadata.name} ${(o.data as Record<string, string>).value}`),
        onDelete: (o) => seen.push(`delete ${o.metadata.name}`),
      },
      { namespace: 'default', labelSelector: 'team=blue' },
    ).start();
    t.after(() => informer.stop());
    await informer.waitForSync();
    assert.deepEqual(seen, ['add before']);

    await client.create(CONFIGMAP, 'default', cm('after', 'blue'));
    await client.patch(CONFIGMAP, 'default', 'after', { data: { value: '2' } });
    await client.create(CONFIGMAP, 'default', cm('ignored', 'green'));
    await client.delete(CONFIGMAP, 'default', 'before');
    await eventually(async () => (seen.length >= 4 ? true : undefined));
    assert.deepEqual(seen, ['add before', 'add after', 'update after 2', 'delete before']);
    assert.deepEqual(informer.list().map((o) => o.metadata.name), ['after']);
  });
});

describe('informer with a checkpoint', () => {
  it('starts from the checkpoint while the API is away, then reconciles with the API when it is back', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'checkpoints', 'configmaps.json');
    const first = await startControl({ listen: '127.0.0.1:0', dataDir: join(dir, 'control'), store: 'memory' });
    let running = first;
    t.after(() => running.stop());
    const port = new URL(first.url).port;
    const connection = { server: first.url, caCert: first.caCert, token: first.token };
    const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { cp: 'yes' } }, data: { name } });

    // 1. With the API up: everything it lists is saved.
    const client = new ApiClient(connection);
    t.after(() => client.close());
    for (const name of ['a', 'b']) await client.create(CONFIGMAP, 'default', cm(name));
    const saving = new Informer(client, CONFIGMAP, {}, { labelSelector: 'cp=yes', checkpoint: new FileCheckpoint(file), saveEveryMs: 10 }).start();
    await saving.waitForSync();
    await eventually(async () => (new FileCheckpoint(file).load()?.length === 2 ? true : undefined));
    await saving.stop();
    await first.stop();

    // 2. The API is gone: a new informer starts from the checkpoint and says so.
    const deleted: string[] = [];
    const later = new Informer(client, CONFIGMAP, { onDelete: (o) => deleted.push(o.metadata.name!) }, { labelSelector: 'cp=yes', checkpoint: new FileCheckpoint(file), retryMs: 50 }).start();
    t.after(() => later.stop());
    await later.waitForSync();
    assert.equal(later.servesCheckpoint(), true);
    assert.deepEqual(later.list().map((o) => o.metadata.name).sort(), ['a', 'b']);
    assert.match(later.lastError?.message ?? '', /nothing is listening/);

    // 3. The API is back (same address, same CA, an empty store but for one object): the
    //    informer lists it and drops what the checkpoint had that the API no longer has.
    running = await startControl({ listen: `127.0.0.1:${port}`, dataDir: join(dir, 'control'), store: 'memory' });
    await client.create(CONFIGMAP, 'default', cm('c'));
    await eventually(async () => (later.servesCheckpoint() ? undefined : true));
    await eventually(async () => (later.list().length === 1 ? true : undefined));
    assert.deepEqual(later.list().map((o) => o.metadata.name), ['c']);
    assert.deepEqual(deleted.sort(), ['a', 'b']);
  });

  it('a checkpoint that cannot be read is ignored, with the reason logged', () => {
    const dir = tempDir({ after: () => undefined } as never);
    const logged: string[] = [];
    const file = join(dir, 'bad.json');
    writeFileSync(file, '{ not json');
    assert.equal(new FileCheckpoint(file, (m) => logged.push(m)).load(), undefined);
    assert.match(logged[0], /ignoring the checkpoint .*bad\.json/);
    assert.equal(new FileCheckpoint(join(dir, 'missing.json')).load(), undefined);
    rmSync(dir, { recursive: true, force: true });
  });
});
