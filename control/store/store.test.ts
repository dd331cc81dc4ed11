// One contract suite for every Store backend, plus what only a durable backend can promise.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApiError } from '../../api/errors.js';
import type { KubeObject } from '../../api/types.js';
import { createMemoryStore, openSqliteStore, type ObjectKey, type Store, type StoreEvent } from './index.js';

type Factory = (opts?: { historySize?: number }) => Store;

let dir = '';
let files = 0;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tugboat-store-'));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const backends: [string, Factory][] = [
  ['memory', (opts) => createMemoryStore(opts)],
  ['sqlite', (opts) => openSqliteStore(path.join(dir, `store-${++files}.db`), opts)],
];

function pod(namespace: string, name: string, extra: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec: { containers: [] }, ...extra };
}

function podKey(namespace: string, name: string): ObjectKey {
  return { resource: 'pods', namespace, name };
}

function rv(object: KubeObject | undefined): number {
  return Number(object?.metadata.resourceVersion);
}

function apiError(code: number, reason: string) {
  return (err: unknown) => err instanceof ApiError && err.code === code && err.reason === reason;
}

/** Every event delivered to a watch, as a compact "TYPE ns/name@revision" line. */
function collect(): { events: StoreEvent[]; lines: () => string[]; onEvent: (e: StoreEvent) => void } {
  const events: StoreEvent[] = [];
  return {
    events,
    lines: () => events.map((e) => `${e.type} ${e.key.namespace}/${e.key.name}@${e.revision}`),
    onEvent: (e) => events.push(e),
  };
}

for (const [backend, factory] of backends) {
  describe(`${backend} store`, () => {
    function open(t: TestContext, opts?: { historySize?: number }): Store {
      const store = factory(opts);
      t.after(() => store.close());
      return store;
    }

    it('creates, gets and lists by resource and by namespace', async (t) => {
      const store = open(t);
      assert.equal(store.revision(), 0);
      await store.create(podKey('b', 'web'), pod('b', 'web'));
      await store.create(podKey('a', 'web'), pod('a', 'web'));
      await store.create(podKey('a', 'db'), pod('a', 'db'));
      await store.create({ resource: 'nodes', namespace: '', name: 'n1' }, { kind: 'Node', metadata: { name: 'n1' } });

      const got = await store.get(podKey('a', 'db'));
      assert.equal(got?.metadata.name, 'db');
      assert.deepEqual(got?.spec, { containers: [] });
      assert.equal(await store.get(podKey('a', 'missing')), undefined);
      assert.equal(await store.get({ resource: 'services', namespace: 'a', name: 'db' }), undefined);

      const all = await store.list({ resource: 'pods' });
      assert.deepEqual(all.items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`), ['a/db', 'a/web', 'b/web']);
      assert.equal(all.revision, 4);
      const inA = await store.list({ resource: 'pods', namespace: 'a' });
      assert.deepEqual(inA.items.map((o) => o.metadata.name), ['db', 'web']);
      const nodes = await store.list({ resource: 'nodes' });
      assert.deepEqual(nodes.items.map((o) => o.metadata.name), ['n1']);
      assert.deepEqual((await store.list({ resource: 'services' })).items, []);
    });

    it('sets resourceVersion to the store revision, strictly increasing', async (t) => {
      const store = open(t);
      const a = await store.create(podKey('ns', 'a'), pod('ns', 'a'));
      const b = await store.create(podKey('ns', 'b'), pod('ns', 'b'));
      const a2 = await store.update(podKey('ns', 'a'), a);
      assert.equal(typeof a.metadata.resourceVersion, 'string');
      assert.ok(rv(a) < rv(b) && rv(b) < rv(a2), `${rv(a)} < ${rv(b)} < ${rv(a2)}`);
      assert.equal(store.revision(), rv(a2));
      assert.equal(rv(await store.get(podKey('ns', 'a'))), rv(a2));
      assert.equal((await store.list({ resource: 'pods' })).revision, rv(a2));
    });

    it('keeps stored objects apart from callers', async (t) => {
      const store = open(t);
      const input = pod('ns', 'a', { status: { phase: 'Pending' } });
      const created = await store.create(podKey('ns', 'a'), input);
      assert.equal(input.metadata.resourceVersion, undefined);
      (input.status as { phase: string }).phase = 'mutated input';
      (created.status as { phase: string }).phase = 'mutated result';
      const got = await store.get(podKey('ns', 'a'));
      assert.deepEqual(got?.status, { phase: 'Pending' });
      got!.metadata.labels = { mutated: 'yes' };
      (await store.list({ resource: 'pods' })).items[0]!.metadata.name = 'mutated';
      const again = await store.get(podKey('ns', 'a'));
      assert.equal(again?.metadata.labels, undefined);
      assert.equal(again?.metadata.name, 'a');
    });

    it('refuses a duplicate create with AlreadyExists', async (t) => {
      const store = open(t);
      await store.create(podKey('ns', 'a'), pod('ns', 'a'));
      const revision = store.revision();
      await assert.rejects(store.create(podKey('ns', 'a'), pod('ns', 'a')), apiError(409, 'AlreadyExists'));
      assert.equal(store.revision(), revision, 'a refused write does not use a revision');
      // The same name elsewhere is a different object.
      await store.create(podKey('other', 'a'), pod('other', 'a'));
      await store.create({ resource: 'services', namespace: 'ns', name: 'a' }, { kind: 'Service', metadata: { name: 'a' } });
    });

    it('updates with compare-and-swap on the revision', async (t) => {
      const store = open(t);
      const created = await store.create(podKey('ns', 'a'), pod('ns', 'a'));
      const first = await store.update(podKey('ns', 'a'), pod('ns', 'a', { status: { phase: 'Running' } }), rv(created));
      assert.ok(rv(first) > rv(created));
      assert.deepEqual(first.status, { phase: 'Running' });

      await assert.rejects(
        store.update(podKey('ns', 'a'), pod('ns', 'a', { status: { phase: 'Stale' } }), rv(created)),
        apiError(409, 'Conflict'),
      );
      assert.deepEqual((await store.get(podKey('ns', 'a')))?.status, { phase: 'Running' });

      const unconditional = await store.update(podKey('ns', 'a'), pod('ns', 'a', { status: { phase: 'Succeeded' } }));
      assert.deepEqual((await store.get(podKey('ns', 'a')))?.status, { phase: 'Succeeded' });
      assert.equal(rv(unconditional), store.revision());
    });

    it('answers NotFound for update and delete of a missing object, Conflict for a stale delete', async (t) => {
      const store = open(t);
      await assert.rejects(store.update(podKey('ns', 'nope'), pod('ns', 'nope')), apiError(404, 'NotFound'));
      await assert.rejects(store.delete(podKey('ns', 'nope')), apiError(404, 'NotFound'));
      const created = await store.create(podKey('ns', 'a'), pod('ns', 'a'));
      await store.update(podKey('ns', 'a'), created);
      await assert.rejects(store.delete(podKey('ns', 'a'), rv(created)), apiError(409, 'Conflict'));
      assert.ok(await store.get(podKey('ns', 'a')));
    });

    it('deletes, returning the last state at the deletion revision', async (t) => {
      const store = open(t);
      const created = await store.create(podKey('ns', 'a'), pod('ns', 'a', { status: { phase: 'Running' } }));
      const deleted = await store.delete(podKey('ns', 'a'), rv(created));
      assert.equal(rv(deleted), store.revision());
      assert.ok(rv(deleted) > rv(created));
      assert.deepEqual(deleted.status, { phase: 'Running' });
      assert.equal(await store.get(podKey('ns', 'a')), undefined);
      assert.deepEqual((await store.list({ resource: 'pods' })).items, []);
      // The name is free again and revisions keep climbing.
      const recreated = await store.create(podKey('ns', 'a'), pod('ns', 'a'));
      assert.ok(rv(recreated) > rv(deleted));
    });

    it('replays a watch from a past revision, then delivers live events in order', async (t) => {
      const store = open(t);
      const a = await store.create(podKey('ns', 'a'), pod('ns', 'a'));
      await store.create(podKey('ns', 'b'), pod('ns', 'b'));
      await store.update(podKey('ns', 'a'), a);
      const seen = collect();
      const watch = store.watch({ resource: 'pods' }, rv(a), seen.onEvent);
      t.after(() => watch.stop());
      assert.deepEqual(seen.lines(), ['ADDED ns/b@2', 'MODIFIED ns/a@3'], 'replayed before watch() returns');

      await store.delete(podKey('ns', 'b'));
      await store.create(podKey('ns', 'c'), pod('ns', 'c'));
      assert.deepEqual(seen.lines(), ['ADDED ns/b@2', 'MODIFIED ns/a@3', 'DELETED ns/b@4', 'ADDED ns/c@5']);
      for (const event of seen.events) assert.equal(rv(event.object), event.revision);
      assert.equal(seen.events[2]?.object.metadata.name, 'b');
    });

    it('delivers only live events when watching from the current revision or later', async (t) => {
      const store = open(t);
      await store.create(podKey('ns', 'a'), pod('ns', 'a'));
      const fromNow = collect();
      const fromFuture = collect();
      const w1 = store.watch({ resource: 'pods' }, store.revision(), fromNow.onEvent);
      const w2 = store.watch({ resource: 'pods' }, store.revision() + 1, fromFuture.onEvent);
      t.after(() => (w1.stop(), w2.stop()));
      assert.deepEqual(fromNow.lines(), []);
      await store.create(podKey('ns', 'b'), pod('ns', 'b'));
      await store.create(podKey('ns', 'c'), pod('ns', 'c'));
      assert.deepEqual(fromNow.lines(), ['ADDED ns/b@2', 'ADDED ns/c@3']);
      assert.deepEqual(fromFuture.lines(), ['ADDED ns/c@3']);
    });

    it('filters watches by resource and namespace', async (t) => {
      const store = open(t);
      const pods = collect();
      const podsInA = collect();
      const services = collect();
      const watches = [
        store.watch({ resource: 'pods' }, 0, pods.onEvent),
        store.watch({ resource: 'pods', namespace: 'a' }, 0, podsInA.onEvent),
        store.watch({ resource: 'services' }, 0, services.onEvent),
      ];
      t.after(() => watches.forEach((w) => w.stop()));
      await store.create(podKey('a', 'x'), pod('a', 'x'));
      await store.create(podKey('b', 'y'), pod('b', 'y'));
      await store.create({ resource: 'services', namespace: 'a', name: 'x' }, { kind: 'Service', metadata: { name: 'x' } });
      await store.update(podKey('a', 'x'), pod('a', 'x'));
      assert.deepEqual(pods.lines(), ['ADDED a/x@1', 'ADDED b/y@2', 'MODIFIED a/x@4']);
      assert.deepEqual(podsInA.lines(), ['ADDED a/x@1', 'MODIFIED a/x@4']);
      assert.deepEqual(services.lines(), ['ADDED a/x@3']);
      // Replay filters the same way.
      const replayed = collect();
      store.watch({ resource: 'pods', namespace: 'b' }, 0, replayed.onEvent).stop();
      assert.deepEqual(replayed.lines(), ['ADDED b/y@2']);
    });

    it('answers 410 Gone when the history no longer reaches back far enough', async (t) => {
      const store = open(t, { historySize: 2 });
      for (const name of ['a', 'b', 'c', 'd']) await store.create(podKey('ns', name), pod('ns', name));
      assert.throws(() => store.watch({ resource: 'pods' }, 1, () => {}), apiError(410, 'Expired'));
      assert.throws(() => store.watch({ resource: 'pods' }, 0, () => {}), apiError(410, 'Expired'));
      const seen = collect();
      store.watch({ resource: 'pods' }, 2, seen.onEvent).stop();
      assert.deepEqual(seen.lines(), ['ADDED ns/c@3', 'ADDED ns/d@4']);
      // Missing history is about the revision, not the filter: an unrelated prefix is Gone too.
      assert.throws(() => store.watch({ resource: 'services' }, 1, () => {}), apiError(410, 'Expired'));
    });

    it('stops delivering after stop()', async (t) => {
      const store = open(t);
      const seen = collect();
      const watch = store.watch({ resource: 'pods' }, 0, seen.onEvent);
      await store.create(podKey('ns', 'a'), pod('ns', 'a'));
      watch.stop();
      watch.stop();
      await store.create(podKey('ns', 'b'), pod('ns', 'b'));
      assert.deepEqual(seen.lines(), ['ADDED ns/a@1']);
    });

    it('keeps the writer and other watchers going when a watcher throws', async (t) => {
      const store = open(t);
      const reported = t.mock.method(console, 'error', () => {});
      const before = collect();
      const afterwards = collect();
      const watches = [
        store.watch({ resource: 'pods' }, 0, before.onEvent),
        store.watch({ resource: 'pods' }, 0, () => {
          throw new Error('broken consumer');
        }),
        store.watch({ resource: 'pods' }, 0, afterwards.onEvent),
      ];
      t.after(() => watches.forEach((w) => w.stop()));
      await store.create(podKey('ns', 'a'), pod('ns', 'a'));
      await store.create(podKey('ns', 'b'), pod('ns', 'b'));
      assert.deepEqual(before.lines(), ['ADDED ns/a@1', 'ADDED ns/b@2']);
      assert.deepEqual(afterwards.lines(), ['ADDED ns/a@1', 'ADDED ns/b@2']);
      assert.equal(reported.mock.callCount(), 2);
      assert.ok(await store.get(podKey('ns', 'b')));
    });

    it('keeps every watcher in revision order when a watcher writes from its callback', async (t) => {
      const store = open(t);
      const writes: Promise<unknown>[] = [];
      const seen = collect();
      const watches = [
        store.watch({ resource: 'pods' }, 0, (e) => {
          if (e.key.name === 'a') writes.push(store.create(podKey('ns', 'b'), pod('ns', 'b')));
        }),
        store.watch({ resource: 'pods' }, 0, seen.onEvent),
      ];
      t.after(() => watches.forEach((w) => w.stop()));
      await store.create(podKey('ns', 'a'), pod('ns', 'a'));
      await Promise.all(writes);
      assert.deepEqual(seen.lines(), ['ADDED ns/a@1', 'ADDED ns/b@2']);
    });

    it('delivers read-only events, so no watcher can change what others or the history see', async (t) => {
      const store = open(t);
      let rejected = false;
      const watches = [
        store.watch({ resource: 'pods' }, 0, (e) => {
          try {
            e.object.metadata.name = 'mutated';
          } catch (err) {
            rejected = err instanceof TypeError;
          }
        }),
      ];
      t.after(() => watches.forEach((w) => w.stop()));
      await store.create(podKey('ns', 'a'), pod('ns', 'a'));
      const seen = collect();
      store.watch({ resource: 'pods' }, 0, seen.onEvent).stop();
      assert.equal(rejected, true);
      assert.equal(seen.events[0]?.object.metadata.name, 'a');
      assert.equal((await store.get(podKey('ns', 'a')))?.metadata.name, 'a');
    });
  });
}

describe('sqlite store across restarts', () => {
  it('keeps objects, the revision counter and the event history after close and reopen', async (t) => {
    const file = path.join(dir, 'restart.db');
    const first = openSqliteStore(file);
    t.after(() => first.close());
    await first.create(podKey('ns', 'a'), pod('ns', 'a'));
    const seenByClient = first.revision();
    await first.create(podKey('ns', 'b'), pod('ns', 'b'));
    await first.update(podKey('ns', 'a'), pod('ns', 'a', { status: { phase: 'Running' } }));
    await first.create(podKey('ns', 'newest'), pod('ns', 'newest'));
    const deleted = await first.delete(podKey('ns', 'newest'));
    await first.close();

    const second = openSqliteStore(file);
    t.after(() => second.close());
    assert.equal(second.revision(), rv(deleted), 'the deletion of the newest object still counts');
    assert.deepEqual((await second.list({ resource: 'pods' })).items.map((o) => o.metadata.name), ['a', 'b']);
    assert.deepEqual((await second.get(podKey('ns', 'a')))?.status, { phase: 'Running' });

    const seen = collect();
    const watch = second.watch({ resource: 'pods' }, seenByClient, seen.onEvent);
    t.after(() => watch.stop());
    const created = await second.create(podKey('ns', 'c'), pod('ns', 'c'));
    assert.ok(rv(created) > rv(deleted));
    assert.deepEqual(seen.lines(), [
      'ADDED ns/b@2',
      'MODIFIED ns/a@3',
      'ADDED ns/newest@4',
      'DELETED ns/newest@5',
      'ADDED ns/c@6',
    ]);
  });

  it('keeps only historySize events on disk, so an old revision is Gone after reopening', async (t) => {
    const file = path.join(dir, 'trim.db');
    const first = openSqliteStore(file, { historySize: 2 });
    t.after(() => first.close());
    for (const name of ['a', 'b', 'c']) await first.create(podKey('ns', name), pod('ns', name));
    await first.close();

    const second = openSqliteStore(file, { historySize: 2 });
    t.after(() => second.close());
    assert.throws(() => second.watch({ resource: 'pods' }, 0, () => {}), apiError(410, 'Expired'));
    const seen = collect();
    second.watch({ resource: 'pods' }, 1, seen.onEvent).stop();
    assert.deepEqual(seen.lines(), ['ADDED ns/b@2', 'ADDED ns/c@3']);
  });

  it('keeps committed writes when the process is killed with SIGKILL', async (t) => {
    const file = path.join(dir, 'killed.db');
    const module = new URL('./sqlite.js', import.meta.url).href;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', `
      const { openSqliteStore } = await import(${JSON.stringify(module)});
      const store = openSqliteStore(${JSON.stringify(file)});
      const pod = (name) => ({ kind: 'Pod', metadata: { name, namespace: 'ns' } });
      await store.create({ resource: 'pods', namespace: 'ns', name: 'a' }, pod('a'));
      await store.create({ resource: 'pods', namespace: 'ns', name: 'b' }, pod('b'));
      process.kill(process.pid, 'SIGKILL');
    `], { encoding: 'utf8' });
    assert.equal(child.signal, 'SIGKILL', child.stderr);

    const store = openSqliteStore(file);
    t.after(() => store.close());
    assert.equal(store.revision(), 2);
    assert.deepEqual((await store.list({ resource: 'pods' })).items.map((o) => o.metadata.name), ['a', 'b']);
    const seen = collect();
    store.watch({ resource: 'pods' }, 0, seen.onEvent).stop();
    assert.deepEqual(seen.lines(), ['ADDED ns/a@1', 'ADDED ns/b@2']);
  });
});
