// Durability of `tug control` with its default sqlite store: objects written before a SIGKILL are
// all there after a restart on the same data dir, the revision counter carries on where it
// stopped, a watch from an old resourceVersion replays exactly the changes made after it, and the
// kubeconfig written before the crash (token, CA, address) still works, for kubectl too.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ApiClient } from '../../api/client.js';
import { readKubeconfig, type Connection } from '../../api/kubeconfig.js';
import { resourceByPlural } from '../../api/resources.js';
import type { KubeObject, WatchEvent } from '../../api/types.js';
import { eventually, kubectlFor, startControl, tempDir, type ControlProcess } from './harness.js';
import { needs } from '../requirements.js';

const NS = 'durable';
const NAMESPACES = resourceByPlural('', 'v1', 'namespaces')!;
const CONFIGMAPS = resourceByPlural('', 'v1', 'configmaps')!;
const SECRETS = resourceByPlural('', 'v1', 'secrets')!;
const DEPLOYMENTS = resourceByPlural('apps', 'v1', 'deployments')!;

const cmName = (i: number) => `cm-${String(i).padStart(2, '0')}`;

function configMap(name: string, data: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NS, labels: { set: 'durable' } }, data };
}

/** One change as a watcher must see it: what happened, to which object, at which revision. */
interface Change {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  name: string;
  resourceVersion: string;
}

const changeOf = (type: Change['type'], obj: KubeObject): Change => ({ type, name: obj.metadata.name!, resourceVersion: obj.metadata.resourceVersion! });

describe('tug control survives SIGKILL with the sqlite store', { ...(await needs('kubectl')), concurrency: false }, () => {
  let dir: string;
  let first: ControlProcess;
  let second: ControlProcess;
  let kubeconfigBefore: string;
  let connBefore: Connection;
  let client: ApiClient;
  /** The list resourceVersion the watch replays from. */
  let from: string;
  /** Every change to configmaps in NS after `from`, in the order made. */
  const changes: Change[] = [];
  let highestSeen = 0;
  let configMapsBefore: KubeObject[];
  let others: { deployment: KubeObject; secret: KubeObject; namespace: KubeObject };
  const cleanups: (() => unknown)[] = [];
  const scope = { after: (fn: () => unknown) => cleanups.push(fn) };

  const seen = (obj: KubeObject): KubeObject => {
    highestSeen = Math.max(highestSeen, Number(obj.metadata.resourceVersion));
    return obj;
  };

  before(async () => {
    dir = tempDir(scope);
    // The API server alone: the test counts every write, so no controller may add its own.
    first = await startControl(scope, dir, ['--controllers', 'none']);
    kubeconfigBefore = readFileSync(first.kubeconfig, 'utf8');
    connBefore = readKubeconfig(first.kubeconfig);
    client = new ApiClient(connBefore);
    cleanups.push(() => client.close());

    seen(await client.create(NAMESPACES, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }));
    for (let i = 0; i < 20; i++) seen(await client.create(CONFIGMAPS, NS, configMap(cmName(i), { index: String(i), text: `value ${i} ${'·'.repeat(i)}` })));
    seen(await client.create(SECRETS, NS, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds' }, stringData: { password: 's3cret' } } as KubeObject));
    seen(
      await client.create(DEPLOYMENTS, NS, {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'local/echo:1', ports: [{ containerPort: 8080 }] }] } },
        },
      }),
    );
    // kubectl caches discovery under HOME; the same HOME is used after the restart.
    const listed = await kubectlFor(first, dir)(['get', 'cm', '-n', NS]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^cm-19\s+2\s+\d+s$/m);
  });

  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  it('records the list revision, then creates, updates and deletes after it', async () => {
    const list = await client.list(CONFIGMAPS, NS);
    from = list.metadata.resourceVersion!;
    assert.equal(Number(from), highestSeen, 'the list revision is the newest write');

    const added = seen(await client.create(CONFIGMAPS, NS, configMap('cm-20', { index: '20' })));
    changes.push(changeOf('ADDED', added));

    const current = await client.get(CONFIGMAPS, NS, 'cm-03');
    const replaced = seen(await client.update(CONFIGMAPS, { ...current, data: { index: '3', replaced: 'yes' } }));
    changes.push(changeOf('MODIFIED', replaced));
    assert.deepEqual(replaced.data, { index: '3', replaced: 'yes' });

    const patched = seen(await client.patch(CONFIGMAPS, NS, 'cm-05', { data: { patched: 'yes' } }));
    changes.push(changeOf('MODIFIED', patched));

    const deleted = seen((await client.delete(CONFIGMAPS, NS, 'cm-07')) as KubeObject);
    changes.push(changeOf('DELETED', deleted));

    // A change to another resource moves the revision but is no configmap event.
    seen(await client.patch(DEPLOYMENTS, NS, 'web', { spec: { replicas: 3 } }));

    const updatedAgain = seen(await client.patch(CONFIGMAPS, NS, 'cm-20', { data: { index: '20', again: 'yes' } }));
    changes.push(changeOf('MODIFIED', updatedAgain));

    // The last write is a delete, so no stored object carries the newest revision.
    const lastDeleted = seen((await client.delete(CONFIGMAPS, NS, 'cm-11')) as KubeObject);
    changes.push(changeOf('DELETED', lastDeleted));

    const versions = changes.map((c) => Number(c.resourceVersion));
    assert.deepEqual(
      versions,
      [...versions].sort((a, b) => a - b),
      'revisions grow with each write',
    );
    assert.ok(versions[0] > Number(from));
    assert.equal(Number(lastDeleted.metadata.resourceVersion), highestSeen);

    configMapsBefore = (await client.list(CONFIGMAPS, NS)).items;
    assert.equal(configMapsBefore.length, 19);
    others = {
      deployment: await client.get(DEPLOYMENTS, NS, 'web'),
      secret: await client.get(SECRETS, NS, 'creds'),
      namespace: await client.get(NAMESPACES, undefined, NS),
    };
    assert.equal((others.deployment.spec as { replicas: number }).replicas, 3);
  });

  it('restarts after SIGKILL on the same data dir and address, with the same token and CA', async () => {
    await first.kill('SIGKILL');
    assert.equal(first.child.signalCode, 'SIGKILL');
    client.close();

    const port = new URL(first.url).port;
    second = await startControl(scope, dir, ['--controllers', 'none', '--listen', `127.0.0.1:${port}`]);
    assert.equal(second.url, first.url);
    // Same address, token and CA: the kubeconfig written again is byte for byte the one from before.
    assert.equal(readFileSync(second.kubeconfig, 'utf8'), kubeconfigBefore);

    client = new ApiClient(connBefore);
    const version = await client.request<{ gitVersion: string }>('GET', '/version');
    assert.match(version.gitVersion, /^v1\./);
  });

  it('has every object, with the same content and resourceVersion, and a revision no lower than before', async () => {
    const list = await client.list(CONFIGMAPS, NS);
    assert.deepEqual(list.items, configMapsBefore);
    assert.deepEqual(await client.get(DEPLOYMENTS, NS, 'web'), others.deployment);
    assert.deepEqual(await client.get(SECRETS, NS, 'creds'), others.secret);
    assert.deepEqual(await client.get(NAMESPACES, undefined, NS), others.namespace);
    await assert.rejects(client.get(CONFIGMAPS, NS, 'cm-11'), { code: 404 });
    // The newest revision was a deletion, which no stored object carries; the counter must not go
    // back below it (startup may write more, e.g. the default/kubernetes Service).
    assert.ok(Number(list.metadata.resourceVersion) >= highestSeen, `${list.metadata.resourceVersion} < ${highestSeen}`);
  });

  it('gives a new write a resourceVersion above any seen before the crash', async () => {
    const created = await client.create(CONFIGMAPS, NS, configMap('after-restart', { index: '21' }));
    assert.ok(Number(created.metadata.resourceVersion) > highestSeen, `${created.metadata.resourceVersion} <= ${highestSeen}`);
    changes.push(changeOf('ADDED', created));
    highestSeen = Number(created.metadata.resourceVersion);
  });

  it('replays exactly the changes made after the recorded revision, in order, from a watch', async () => {
    const events: WatchEvent[] = [];
    const stop = new AbortController();
    const deadline = setTimeout(() => stop.abort(), 30_000);
    let failure: unknown;
    const watching = client
      .watch(
        CONFIGMAPS,
        NS,
        { resourceVersion: from },
        (event) => {
          events.push(event);
          if (event.object.metadata.name === 'marker') stop.abort();
        },
        stop.signal,
      )
      .catch((e) => {
        failure = e;
      });
    try {
      await eventually(async () => (events.length >= changes.length || stop.signal.aborted || failure ? true : undefined), 300);
      if (failure) throw failure;
      // A live write after the replay: once it arrives, anything else would have arrived before it.
      const marker = await client.create(CONFIGMAPS, NS, configMap('marker', {}));
      await watching;
      if (failure) throw failure;
      const got = events.map((e) => changeOf(e.type as Change['type'], e.object));
      assert.deepEqual(got, [...changes, changeOf('ADDED', marker)], `events after ${from}`);
      const replayedDelete = events.find((e) => e.type === 'DELETED' && e.object.metadata.name === 'cm-07');
      assert.deepEqual(replayedDelete?.object.data, { index: '7', text: `value 7 ${'·'.repeat(7)}` });
    } finally {
      clearTimeout(deadline);
      stop.abort();
      await watching;
    }
  });

  it('still serves kubectl with the cached discovery in the same HOME', async () => {
    const kubectl = kubectlFor(second, dir);
    const got = await kubectl(['get', 'cm', '-n', NS, '-o', 'name']);
    assert.equal(got.code, 0, got.stderr);
    const names = got.stdout.trim().split('\n');
    assert.ok(names.includes('configmap/cm-00') && names.includes('configmap/after-restart'), got.stdout);
    assert.ok(!names.includes('configmap/cm-07') && !names.includes('configmap/cm-11'), got.stdout);
    const data = await kubectl(['get', 'cm', 'cm-03', '-n', NS, '-o', 'jsonpath={.data.replaced}']);
    assert.equal(data.stdout, 'yes');
    const table = await kubectl(['get', 'deploy', 'web', '-n', NS]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^web\s+\d+\/3\s/m);
    assert.doesNotMatch(second.output(), /error/i);
  });
});
