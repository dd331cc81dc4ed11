import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { resourceOfKind } from '../../api/resources.js';
import type { KubeObject, OwnerReference } from '../../api/types.js';
import { Registry } from '../apiserver/registry.js';
import { createMemoryStore } from '../store/index.js';
import { FOREGROUND_FINALIZER, ORPHAN_FINALIZER, reconcileGarbage, type GcAction, type OwnerStatus } from './gc.js';

function obj(name: string, meta: Partial<KubeObject['metadata']> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', uid: `uid-${name}`, ...meta } };
}

function ref(name: string): OwnerReference {
  return { apiVersion: 'v1', kind: 'ConfigMap', name, uid: `uid-${name}` };
}

const owner = (name: string, state: OwnerStatus['state']): OwnerStatus => ({ ref: ref(name), state });
const summary = (actions: GcAction[]) =>
  actions.map((a) => {
    const target = a.object.metadata.name;
    if (a.type === 'delete') return `delete ${target} ${a.policy}${a.unlessOwners ? ` unless ${a.unlessOwners.map((o) => o.name).join(',')}` : ''}`;
    if (a.type === 'removeOwnerReferences') return `unown ${target} from ${a.owners.map((o) => o.name).join(',')}`;
    if (a.type === 'orphan') return `orphan ${target}`;
    return `unfinalize ${target} ${a.finalizer}`;
  });

describe('reconcileGarbage', () => {
  it('leaves an object without owners, or with owners present, alone', () => {
    assert.deepEqual(reconcileGarbage(obj('a'), [], []), []);
    assert.deepEqual(reconcileGarbage(obj('a', { ownerReferences: [ref('o')] }), [owner('o', 'present')], []), []);
  });

  it('deletes an object whose owners are all gone (once confirmed)', () => {
    const dep = obj('d', { ownerReferences: [ref('o1'), ref('o2')] });
    assert.deepEqual(summary(reconcileGarbage(dep, [owner('o1', 'absent'), owner('o2', 'absent')], [])), ['delete d Background unless o1,o2']);
  });

  it('removes only the dangling ownerReferences when some owner remains', () => {
    const dep = obj('d', { ownerReferences: [ref('o1'), ref('o2')] });
    assert.deepEqual(summary(reconcileGarbage(dep, [owner('o1', 'absent'), owner('o2', 'present')], [])), ['unown d from o1']);
  });

  it('deletes in the foreground a dependent of an owner that waits for its dependents', () => {
    const dep = obj('d', { ownerReferences: [ref('o')] });
    assert.deepEqual(summary(reconcileGarbage(dep, [owner('o', 'deletingInForeground')], [])), ['delete d Foreground']);
  });

  it('an owner deleted in the foreground: deletes its dependents not yet deleting; drops the finalizer only when none remain', () => {
    const o = obj('o', { deletionTimestamp: '2025-01-01T00:00:00Z', finalizers: [FOREGROUND_FINALIZER] });
    const deps = [obj('d1', { ownerReferences: [ref('o')] }), obj('d2', { ownerReferences: [ref('o')], deletionTimestamp: '2025-01-01T00:00:00Z' })];
    assert.deepEqual(summary(reconcileGarbage(o, [], deps)), ['delete d1 Foreground']);
    assert.deepEqual(summary(reconcileGarbage(o, [], [deps[1]])), []);
    assert.deepEqual(summary(reconcileGarbage(o, [], [])), ['unfinalize o foregroundDeletion']);
  });

  it('an owner with the orphan finalizer: orphans its dependents, then drops the finalizer', () => {
    const o = obj('o', { deletionTimestamp: '2025-01-01T00:00:00Z', finalizers: [ORPHAN_FINALIZER] });
    const deps = [obj('d1', { ownerReferences: [ref('o')] })];
    assert.deepEqual(summary(reconcileGarbage(o, [], deps)), ['orphan d1', 'unfinalize o orphan']);
  });

  it('an object being deleted is not deleted again for lost owners', () => {
    const dep = obj('d', { ownerReferences: [ref('o')], deletionTimestamp: '2025-01-01T00:00:00Z' });
    assert.deepEqual(reconcileGarbage(dep, [owner('o', 'absent')], []), []);
  });
});

describe('registry deletion semantics (finalizers, propagation)', () => {
  const CM = resourceOfKind('ConfigMap');
  const POD = resourceOfKind('Pod');
  let registry: Registry;
  const store = () => registry.store;

  beforeEach(async () => {
    registry = new Registry(createMemoryStore());
    await registry.start();
  });
  afterEach(async () => {
    await registry.close();
    await store().close();
  });

  const configMap = (name: string, meta: Partial<KubeObject['metadata']> = {}) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...meta } }) as KubeObject;
  const ownerRef = (o: KubeObject): OwnerReference => ({ apiVersion: 'v1', kind: 'ConfigMap', name: o.metadata.name!, uid: o.metadata.uid!, blockOwnerDeletion: true });
  const exists = async (r = CM, name: string) => !!(await registry.get(r, 'default', name).catch(() => undefined));
  const boundPod = (name: string, owner: KubeObject) =>
    ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, ownerReferences: [ownerRef(owner)] }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x' }] } }) as KubeObject;

  it('an object with finalizers gets a deletionTimestamp and goes when the last finalizer is removed', async () => {
    await registry.create(CM, 'default', configMap('f', { finalizers: ['example.com/a', 'example.com/b'] }));
    const marked = await registry.delete(CM, 'default', 'f');
    assert.ok(marked.metadata.deletionTimestamp);
    assert.equal(marked.metadata.deletionGracePeriodSeconds, 0);
    assert.ok(await exists(CM, 'f'));
    // Deleting again changes nothing.
    const again = await registry.delete(CM, 'default', 'f');
    assert.equal(again.metadata.resourceVersion, marked.metadata.resourceVersion);
    await registry.modify(CM, 'default', 'f', (cur) => ({ ...cur, metadata: { ...cur.metadata, finalizers: ['example.com/b'] } }));
    assert.ok(await exists(CM, 'f'));
    await registry.modify(CM, 'default', 'f', (cur) => ({ ...cur, metadata: { ...cur.metadata, finalizers: [] } }));
    assert.equal(await exists(CM, 'f'), false);
  });

  it('no new finalizer may be added to an object being deleted', async () => {
    await registry.create(CM, 'default', configMap('g', { finalizers: ['example.com/a'] }));
    await registry.delete(CM, 'default', 'g');
    await assert.rejects(
      registry.modify(CM, 'default', 'g', (cur) => ({ ...cur, metadata: { ...cur.metadata, finalizers: ['example.com/a', 'example.com/new'] } })),
      (e: { code?: number; message?: string }) => e.code === 422 && /no new finalizers/.test(e.message ?? ''),
    );
  });

  it('removing a finalizer from an object that is not being deleted just updates it', async () => {
    await registry.create(CM, 'default', configMap('h', { finalizers: ['example.com/a'] }));
    await registry.modify(CM, 'default', 'h', (cur) => ({ ...cur, metadata: { ...cur.metadata, finalizers: [] } }));
    assert.ok(await exists(CM, 'h'));
  });

  it('Background: the owner goes at once and its dependents with it', async () => {
    const o = await registry.create(CM, 'default', configMap('bg'));
    await registry.create(CM, 'default', configMap('bg-dep', { ownerReferences: [ownerRef(o)] }));
    await registry.delete(CM, 'default', 'bg', { propagationPolicy: 'Background' });
    assert.equal(await exists(CM, 'bg'), false);
    assert.equal(await exists(CM, 'bg-dep'), false);
  });

  it('Background with a finalizer: the dependents stay until the owner really goes', async () => {
    const o = await registry.create(CM, 'default', configMap('bgf', { finalizers: ['example.com/a'] }));
    await registry.create(CM, 'default', configMap('bgf-dep', { ownerReferences: [ownerRef(o)] }));
    await registry.delete(CM, 'default', 'bgf');
    assert.ok(await exists(CM, 'bgf-dep'));
    await registry.modify(CM, 'default', 'bgf', (cur) => ({ ...cur, metadata: { ...cur.metadata, finalizers: undefined } }));
    assert.equal(await exists(CM, 'bgf'), false);
    assert.equal(await exists(CM, 'bgf-dep'), false);
  });

  it('Foreground with dependents that go at once: owner and dependents are gone when the call returns', async () => {
    const o = await registry.create(CM, 'default', configMap('fg'));
    const mid = await registry.create(CM, 'default', configMap('fg-mid', { ownerReferences: [ownerRef(o)] }));
    await registry.create(CM, 'default', configMap('fg-leaf', { ownerReferences: [ownerRef(mid)] }));
    await registry.delete(CM, 'default', 'fg', { propagationPolicy: 'Foreground' });
    for (const name of ['fg', 'fg-mid', 'fg-leaf']) assert.equal(await exists(CM, name), false, name);
  });

  it('Foreground waits for a dependent pod its node is stopping, then the finalizer removal deletes the owner', async () => {
    const o = await registry.create(CM, 'default', configMap('fgp'));
    await registry.create(POD, 'default', boundPod('fgp-pod', o));
    const marked = await registry.delete(CM, 'default', 'fgp', { propagationPolicy: 'Foreground' });
    assert.ok(marked.metadata.deletionTimestamp);
    assert.deepEqual(marked.metadata.finalizers, [FOREGROUND_FINALIZER]);
    const pod = await registry.get(POD, 'default', 'fgp-pod');
    assert.ok(pod.metadata.deletionTimestamp, 'the pod is terminating');
    // The node finishes the pod; the garbage collector then removes the finalizer.
    await registry.delete(POD, 'default', 'fgp-pod', { gracePeriodSeconds: 0 });
    assert.ok(await exists(CM, 'fgp'), 'the registry leaves the owner to the garbage collector');
    await registry.modify(CM, 'default', 'fgp', (cur) => ({ ...cur, metadata: { ...cur.metadata, finalizers: [] } }));
    assert.equal(await exists(CM, 'fgp'), false);
  });

  it('a pod with a finalizer stays after its node finishes it, until the finalizer goes', async () => {
    const o = await registry.create(CM, 'default', configMap('pf'));
    const pod = boundPod('pf-pod', o);
    pod.metadata.finalizers = ['example.com/keep'];
    await registry.create(POD, 'default', pod);
    await registry.delete(POD, 'default', 'pf-pod');
    await registry.delete(POD, 'default', 'pf-pod', { gracePeriodSeconds: 0 });
    const left = await registry.get(POD, 'default', 'pf-pod');
    assert.equal(left.metadata.deletionGracePeriodSeconds, 0);
    await registry.modify(POD, 'default', 'pf-pod', (cur) => ({ ...cur, metadata: { ...cur.metadata, finalizers: [] } }));
    assert.equal(await exists(POD, 'pf-pod'), false);
  });

  it('Orphan keeps the dependents and removes their ownerReference', async () => {
    const o = await registry.create(CM, 'default', configMap('or'));
    await registry.create(CM, 'default', configMap('or-dep', { ownerReferences: [ownerRef(o)] }));
    await registry.delete(CM, 'default', 'or', { propagationPolicy: 'Orphan' });
    assert.equal(await exists(CM, 'or'), false);
    const dep = await registry.get(CM, 'default', 'or-dep');
    assert.equal(dep.metadata.ownerReferences, undefined);
  });

  it('Orphan marks the owner deleted (finalizer orphan) before it lets the dependents go', async () => {
    const o = await registry.create(CM, 'default', configMap('or2'));
    await registry.create(CM, 'default', configMap('or2-dep', { ownerReferences: [ownerRef(o)] }));
    const seen: { type: string; object: KubeObject }[] = [];
    const watch = registry.watch(CM, 'default', Number(o.metadata.resourceVersion), {}, (e) => seen.push(e));
    await registry.delete(CM, 'default', 'or2', { propagationPolicy: 'Orphan' });
    watch.stop();
    const order = seen.map(({ type, object: x }) => `${type} ${x.metadata.name}${x.metadata.finalizers ? `:${x.metadata.finalizers}` : ''}${x.metadata.ownerReferences ? '(owned)' : ''}`);
    assert.deepEqual(order.slice(-3), ['MODIFIED or2:orphan', 'MODIFIED or2-dep', 'DELETED or2:orphan']);
    assert.ok(await exists(CM, 'or2-dep'));
  });

  it('removing the orphan finalizer (say, by the garbage collector first) orphans rather than deletes', async () => {
    const o = await registry.create(CM, 'default', configMap('or3', { finalizers: [ORPHAN_FINALIZER] }));
    await registry.create(CM, 'default', configMap('or3-dep', { ownerReferences: [ownerRef(o)] }));
    await registry.delete(CM, 'default', 'or3');
    await registry.modify(CM, 'default', 'or3', (cur) => ({ ...cur, metadata: { ...cur.metadata, finalizers: [] } }));
    assert.equal(await exists(CM, 'or3'), false);
    assert.equal((await registry.get(CM, 'default', 'or3-dep')).metadata.ownerReferences, undefined);
  });
});
