// The informer every component will use, against a real API server over HTTPS: list, watch,
// and the events a user's writes produce.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
