// The garbage collector (kube-controller-manager's garbage-collector-controller). The API server
// already cascades deletions as they happen; this controller finishes what has to wait and
// catches what a cascade missed:
// - an owner deleted in the foreground (finalizer `foregroundDeletion`) loses the finalizer, and
//   so goes, once its last dependent is gone; dependents created meanwhile are deleted too;
// - an owner with the `orphan` finalizer has its dependents' ownerReferences removed, then the
//   finalizer;
// - an object whose owners are all gone (a crash mid-cascade, an ownerReference to a uid that
//   never existed) is deleted; one that lost only some owners loses those ownerReferences.
// Absence is confirmed with a live read before anything is deleted: informers of different kinds
// can lag each other, and a dependent may be seen before its owner.
import { isApiError } from '../../api/errors.js';
import type { Informer } from '../../api/informer.js';
import { RESOURCES, STORED_RESOURCES, resourceByKind, type ResourceInfo } from '../../api/resources.js';
import type { KubeObject, OwnerReference } from '../../api/types.js';
import type { Controller, ControllerContext } from './manager.js';
import { WorkQueue } from './queue.js';

export const FOREGROUND_FINALIZER = 'foregroundDeletion';
export const ORPHAN_FINALIZER = 'orphan';

export type OwnerState = 'present' | 'absent' | 'deletingInForeground';

export interface OwnerStatus {
  ref: OwnerReference;
  state: OwnerState;
}

export type GcAction =
  /** Delete `object`; `unlessOwners` are owners to confirm absent first (skip the delete if one exists). */
  | { type: 'delete'; object: KubeObject; policy: 'Background' | 'Foreground'; unlessOwners?: OwnerReference[] }
  /** Remove the ownerReferences with these uids from `object`, once confirmed absent. */
  | { type: 'removeOwnerReferences'; object: KubeObject; owners: OwnerReference[] }
  /** Remove the ownerReference to `ownerUid` from `object` (the owner orphans it). */
  | { type: 'orphan'; object: KubeObject; ownerUid: string }
  | { type: 'removeFinalizer'; object: KubeObject; finalizer: string };

/**
 * What the garbage collector does about one object, given the state of each of its owners and
 * the objects that name it as their owner.
 */
export function reconcileGarbage(object: KubeObject, owners: OwnerStatus[], dependents: KubeObject[]): GcAction[] {
  const actions: GcAction[] = [];
  const meta = object.metadata;
  const finalizers = meta.finalizers ?? [];
  if (meta.deletionTimestamp && finalizers.includes(ORPHAN_FINALIZER)) {
    for (const dep of dependents) actions.push({ type: 'orphan', object: dep, ownerUid: meta.uid! });
    actions.push({ type: 'removeFinalizer', object, finalizer: ORPHAN_FINALIZER });
  } else if (meta.deletionTimestamp && finalizers.includes(FOREGROUND_FINALIZER)) {
    for (const dep of dependents) if (!dep.metadata.deletionTimestamp) actions.push({ type: 'delete', object: dep, policy: 'Foreground' });
    if (!dependents.length) actions.push({ type: 'removeFinalizer', object, finalizer: FOREGROUND_FINALIZER });
  }
  if (meta.deletionTimestamp || !owners.length) return actions;
  const absent = owners.filter((o) => o.state === 'absent').map((o) => o.ref);
  if (absent.length === owners.length) {
    actions.push({ type: 'delete', object, policy: 'Background', unlessOwners: absent });
  } else if (owners.some((o) => o.state === 'deletingInForeground')) {
    // Made while its owner waits for its dependents (say, a pod a ReplicaSet created just then).
    actions.push({ type: 'delete', object, policy: 'Foreground' });
  } else if (absent.length) {
    actions.push({ type: 'removeOwnerReferences', object, owners: absent });
  }
  return actions;
}

/** `kind|namespace|name`: the work queue key of any object. */
function itemKey(kind: string, obj: KubeObject): string {
  return `${kind}|${obj.metadata.namespace ?? ''}|${obj.metadata.name}`;
}

/** The catalogue entry an ownerReference points at (by apiVersion and kind, else kind alone). */
function resourceOfRef(ref: OwnerReference): ResourceInfo | undefined {
  return resourceByKind(ref.apiVersion, ref.kind) ?? RESOURCES.find((r) => r.kind === ref.kind);
}

const ownerRefsOf = (obj: KubeObject) => obj.metadata.ownerReferences ?? [];

export class GarbageCollector implements Controller {
  readonly name = 'garbage-collector';
  private readonly queue = new WorkQueue();
  private readonly informers = new Map<string, Informer<KubeObject>>();
  /** Every object's key by uid (what "the owner exists" is judged by). */
  private readonly byUid = new Map<string, string>();
  /** Dependents' keys by owner uid. */
  private readonly dependents = new Map<string, Set<string>>();

  constructor(private readonly ctx: ControllerContext) {
    // Events never own anything and are the busiest kind; everything else may be an owner or a dependent.
    for (const r of STORED_RESOURCES) {
      if (r.kind === 'Event') continue;
      const kind = r.kind;
      this.informers.set(
        kind,
        ctx.informers.of<KubeObject>(kind, {
          onAdd: (o) => this.changed(kind, undefined, o),
          onUpdate: (old, o) => this.changed(kind, old, o),
          onDelete: (o) => this.changed(kind, o, undefined),
        }),
      );
    }
  }

  private changed(kind: string, old: KubeObject | undefined, obj: KubeObject | undefined): void {
    const key = itemKey(kind, (obj ?? old)!);
    if (old) {
      if (this.byUid.get(old.metadata.uid!) === key) this.byUid.delete(old.metadata.uid!);
      for (const ref of ownerRefsOf(old)) {
        const set = this.dependents.get(ref.uid);
        set?.delete(key);
        if (set && !set.size) this.dependents.delete(ref.uid);
      }
    }
    if (obj) {
      this.byUid.set(obj.metadata.uid!, key);
      for (const ref of ownerRefsOf(obj)) getOrAdd(this.dependents, ref.uid).add(key);
      const interesting = (o: KubeObject | undefined) =>
        JSON.stringify([o?.metadata.ownerReferences, o?.metadata.finalizers, o?.metadata.deletionTimestamp]);
      if ((ownerRefsOf(obj).length || obj.metadata.finalizers?.length) && (!old || interesting(old) !== interesting(obj))) this.queue.add(key);
    } else {
      // Gone: its dependents may now be garbage, and an owner waiting in the foreground may be free.
      for (const dep of this.dependents.get(old!.metadata.uid!) ?? []) this.queue.add(dep);
      for (const ref of ownerRefsOf(old!)) {
        const ownerKey = this.byUid.get(ref.uid);
        if (ownerKey) this.queue.add(ownerKey);
      }
    }
  }

  private lookup(key: string): { r: ResourceInfo; obj: KubeObject } | undefined {
    const [kind, namespace, name] = key.split('|');
    const informer = this.informers.get(kind);
    const found = informer?.get(namespace || undefined, name);
    const r = RESOURCES.find((x) => x.kind === kind);
    if (!found || !r) return undefined;
    // List items may come without their kind; the actions need it.
    return { r, obj: found.kind ? found : { ...found, kind } };
  }

  private ownerState(ref: OwnerReference): OwnerState {
    const key = this.byUid.get(ref.uid);
    const owner = key ? this.lookup(key)?.obj : undefined;
    // A kind this server does not serve cannot be judged: leave its dependents alone.
    if (!owner) return resourceOfRef(ref) ? 'absent' : 'present';
    return owner.metadata.deletionTimestamp && owner.metadata.finalizers?.includes(FOREGROUND_FINALIZER) ? 'deletingInForeground' : 'present';
  }

  run(signal: AbortSignal): Promise<void> {
    return this.queue.run((key) => this.sync(key), signal, (key, e) => this.ctx.log(`garbage-collector ${key}: ${(e as Error).message}`));
  }

  private async sync(key: string): Promise<void> {
    const item = this.lookup(key);
    if (!item) return;
    const { obj } = item;
    const owners = ownerRefsOf(obj).map((ref) => ({ ref, state: this.ownerState(ref) }));
    const dependents = [...(this.dependents.get(obj.metadata.uid!) ?? [])]
      .map((k) => this.lookup(k)?.obj)
      .filter((d): d is KubeObject => !!d && ownerRefsOf(d).some((ref) => ref.uid === obj.metadata.uid));
    const actions = reconcileGarbage(obj, owners, dependents);
    let changed = false;
    for (const action of actions) if (await this.apply(action)) changed = true;
    this.ctx.metrics.reconciles.inc({ controller: this.name, result: changed ? 'changed' : 'unchanged' });
  }

  /** Applies one action; false when it turned out to be unnecessary. */
  private async apply(action: GcAction): Promise<boolean> {
    const client = this.ctx.client;
    const obj = action.object;
    const r = resourceOfKind(obj);
    if (!r) return false;
    const { namespace, name, uid } = obj.metadata;
    switch (action.type) {
      case 'delete': {
        let preconditions: { uid?: string; resourceVersion?: string } = { uid };
        if (action.unlessOwners) {
          // The cache may be behind (an orphaning delete may have just removed the reference):
          // judge the object as it is now, and delete exactly that version.
          const live = await this.current(r, obj);
          const refs = live ? ownerRefsOf(live) : [];
          if (!live || !refs.length) return false;
          for (const ref of refs) if (await this.ownerExists(ref, namespace)) return false;
          preconditions = { uid, resourceVersion: live.metadata.resourceVersion };
          const owners = refs.map((o) => `${o.kind} ${o.name} (uid ${o.uid})`).join(', ');
          this.ctx.log(`deleting ${r.kind} ${namespace ? `${namespace}/` : ''}${name}: its owners are gone: ${owners}`);
        }
        const deletion = client.request('DELETE', client.pathFor(r, namespace, name), { body: { propagationPolicy: action.policy, preconditions } });
        // Changed since it was read (a status write, say): throw, and the queue tries again.
        return action.unlessOwners ? ignoreGone(deletion) : ignoreGoneOrReplaced(deletion);
      }
      case 'removeOwnerReferences': {
        const absent: string[] = [];
        for (const ref of action.owners) if (!(await this.ownerExists(ref, namespace))) absent.push(ref.uid);
        if (!absent.length) return false;
        return this.editMetadata(r, obj, (meta) => {
          meta.ownerReferences = (meta.ownerReferences ?? []).filter((o) => !absent.includes(o.uid));
        });
      }
      case 'orphan':
        return this.editMetadata(r, obj, (meta) => {
          meta.ownerReferences = (meta.ownerReferences ?? []).filter((o) => o.uid !== action.ownerUid);
        });
      case 'removeFinalizer':
        return this.editMetadata(r, obj, (meta) => {
          meta.finalizers = (meta.finalizers ?? []).filter((f) => f !== action.finalizer);
        });
    }
  }

  /** The object as the API has it now, if it is still the same object (same uid). */
  private async current(r: ResourceInfo, obj: KubeObject): Promise<KubeObject | undefined> {
    try {
      const live = await this.ctx.client.get(r, obj.metadata.namespace, obj.metadata.name!);
      return live.metadata.uid === obj.metadata.uid ? live : undefined;
    } catch (e) {
      if (isApiError(e) && e.code === 404) return undefined;
      throw e;
    }
  }

  /** Whether the owner exists, read from the API (not the cache), matching the uid. */
  private async ownerExists(ref: OwnerReference, namespace: string | undefined): Promise<boolean> {
    const r = resourceOfRef(ref);
    if (!r) return true;
    try {
      const owner = await this.ctx.client.get(r, r.namespaced ? namespace : undefined, ref.name);
      return owner.metadata.uid === ref.uid;
    } catch (e) {
      if (isApiError(e) && e.code === 404) return false;
      throw e;
    }
  }

  /**
   * Changes ownerReferences or finalizers with a JSON patch that first tests their current value
   * (and the uid), so a concurrent change is never overwritten; a failed test throws and the key
   * is retried from the informer's newer copy.
   */
  private async editMetadata(r: ResourceInfo, obj: KubeObject, edit: (meta: KubeObject['metadata']) => void): Promise<boolean> {
    const meta = structuredClone(obj.metadata);
    edit(meta);
    const ops: unknown[] = [{ op: 'test', path: '/metadata/uid', value: obj.metadata.uid }];
    let changes = 0;
    for (const field of ['ownerReferences', 'finalizers'] as const) {
      const before = obj.metadata[field];
      if (JSON.stringify(meta[field] ?? []) === JSON.stringify(before ?? [])) continue;
      changes++;
      const path = `/metadata/${field}`;
      ops.push({ op: 'test', path, value: before });
      ops.push(meta[field]?.length ? { op: 'replace', path, value: meta[field] } : { op: 'remove', path });
    }
    if (!changes) return false;
    try {
      await this.ctx.client.patch(r, obj.metadata.namespace, obj.metadata.name!, ops, 'json');
      return true;
    } catch (e) {
      if (isApiError(e) && e.code === 404) return false;
      throw e;
    }
  }
}

function resourceOfKind(obj: KubeObject): ResourceInfo | undefined {
  return RESOURCES.find((r) => r.kind === obj.kind);
}

/** Runs a delete whose target may have gone (404) or been replaced by a namesake (409, uid precondition). */
async function ignoreGoneOrReplaced(work: Promise<unknown>): Promise<boolean> {
  try {
    await work;
    return true;
  } catch (e) {
    if (isApiError(e) && (e.code === 404 || e.code === 409)) return false;
    throw e;
  }
}

async function ignoreGone(work: Promise<unknown>): Promise<boolean> {
  try {
    await work;
    return true;
  } catch (e) {
    if (isApiError(e) && e.code === 404) return false;
    throw e;
  }
}

function getOrAdd<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set;
}

export function garbageCollector() {
  return (ctx: ControllerContext): Controller => new GarbageCollector(ctx);
}
