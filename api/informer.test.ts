import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ApiClient, ListOptions, WatchOptions } from './client.js';
import { ApiError } from './errors.js';
import { Informer } from './informer.js';
import { resourceOfKind } from './resources.js';
import type { KubeList, KubeObject, WatchEvent } from './types.js';

const CONFIGMAP = resourceOfKind('ConfigMap');

const cm = (name: string, rv: number, value = 'a'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'default', resourceVersion: String(rv) },
  data: { value },
});

type WatchScript = (opts: WatchOptions, emit: (e: WatchEvent) => void, signal?: AbortSignal) => Promise<void>;

/** A scripted stand-in for the API: each list returns the next snapshot, each watch runs the next script. */
class FakeClient {
  lists: KubeList[] = [];
  watches: WatchScript[] = [];
  listCalls: ListOptions[] = [];
  watchCalls: WatchOptions[] = [];

  async list(_r: unknown, _ns: unknown, opts: ListOptions): Promise<KubeList> {
    this.listCalls.push(opts);
    const next = this.lists.shift();
    if (!next) throw new Error('no more lists scripted');
    return next;
  }

  async watch(_r: unknown, _ns: unknown, opts: WatchOptions, onEvent: (e: WatchEvent) => void, signal?: AbortSignal): Promise<void> {
    this.watchCalls.push(opts);
    const script = this.watches.shift() ?? untilAborted;
    await script(opts, onEvent, signal);
  }
}

const untilAborted: WatchScript = (_o, _e, signal) =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    signal?.addEventListener('abort', () => resolve(), { once: true });
  });

function list(rv: number, items: KubeObject[]): KubeList {
  return { apiVersion: 'v1', kind: 'ConfigMapList', metadata: { resourceVersion: String(rv) }, items };
}

function recorder() {
  const seen: string[] = [];
  return {
    seen,
    handlers: {
      onAdd: (o: KubeObject) => seen.push(`add ${o.metadata.name}@${o.metadata.resourceVersion}`),
      onUpdate: (_old: KubeObject, o: KubeObject) => seen.push(`update ${o.metadata.name}@${o.metadata.resourceVersion}`),
      onDelete: (o: KubeObject) => seen.push(`delete ${o.metadata.name}`),
    },
  };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(check(), 'condition not reached');
}

describe('Informer', () => {
  it('lists, then watches from the list revision, and applies events in order', async (t) => {
    const fake = new FakeClient();
    fake.lists.push(list(10, [cm('a', 5), cm('b', 7)]));
    fake.watches.push(async (opts, emit, signal) => {
      assert.equal(opts.resourceVersion, '10');
      emit({ type: 'MODIFIED', object: cm('a', 11, 'changed') });
      emit({ type: 'ADDED', object: cm('c', 12) });
      emit({ type: 'DELETED', object: cm('b', 13) });
      await untilAborted(opts, emit, signal);
    });
    const rec = recorder();
    const informer = new Informer(fake as unknown as ApiClient, CONFIGMAP, rec.handlers).start();
    t.after(() => informer.stop());
    await informer.waitForSync();
    assert.equal(informer.hasSynced(), true);
    await until(() => rec.seen.length === 5);
    assert.deepEqual(rec.seen, ['add a@5', 'add b@7', 'update a@11', 'add c@12', 'delete b']);
    assert.deepEqual(informer.list().map((o) => o.metadata.name).sort(), ['a', 'c']);
    assert.equal(informer.get('default', 'a')?.data && (informer.get('default', 'a')!.data as Record<string, string>).value, 'changed');
    await informer.stop();
  });

  it('reopens an ended watch from the last revision it saw, without relisting', async (t) => {
    const fake = new FakeClient();
    fake.lists.push(list(3, [cm('a', 3)]));
    fake.watches.push(async (_o, emit) => emit({ type: 'MODIFIED', object: cm('a', 4) }));
    const informer = new Informer(fake as unknown as ApiClient, CONFIGMAP, {}, { retryMs: 1 }).start();
    t.after(() => informer.stop());
    await until(() => fake.watchCalls.length === 2);
    assert.equal(fake.watchCalls[1].resourceVersion, '4');
    assert.equal(fake.listCalls.length, 1);
    await informer.stop();
  });

  it('relists on 410 Gone and reports objects deleted while it was away', async (t) => {
    const fake = new FakeClient();
    fake.lists.push(list(5, [cm('a', 2), cm('b', 5)]));
    fake.watches.push(async () => {
      throw new ApiError(410, 'Expired', 'too old resource version: 5 (900)');
    });
    fake.lists.push(list(1000, [cm('a', 950, 'new'), cm('d', 990)]));
    const rec = recorder();
    const informer = new Informer(fake as unknown as ApiClient, CONFIGMAP, rec.handlers, { retryMs: 1 }).start();
    t.after(() => informer.stop());
    await until(() => fake.watchCalls.length === 2);
    assert.equal(fake.listCalls.length, 2);
    assert.equal(fake.watchCalls[1].resourceVersion, '1000');
    assert.deepEqual(rec.seen, ['add a@2', 'add b@5', 'update a@950', 'add d@990', 'delete b']);
    await informer.stop();
  });

  it('retries a failed first list and only then reports synced', async (t) => {
    const fake = new FakeClient();
    const informer = new Informer(fake as unknown as ApiClient, CONFIGMAP, {}, { retryMs: 1 }).start();
    t.after(() => informer.stop());
    await until(() => informer.lastError !== undefined);
    assert.equal(informer.hasSynced(), false);
    assert.match(String(informer.lastError?.message), /no more lists/);
    fake.lists.push(list(1, []));
    await informer.waitForSync();
    assert.equal(informer.hasSynced(), true);
    await informer.stop();
  });
});
