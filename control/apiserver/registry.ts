// The API's object semantics, independent of HTTP: create (names, uid, defaults, validation),
// update (compare-and-swap, generation, status), delete (cascade to dependents and namespace
// contents), list with selectors, and watch. Both the REST layer and in-process controllers
// use it, so every write goes through the same rules.
import { rfc3339 } from '../../api/time.js';
import { nextTurn } from '../../api/timers.js';
import { randomUUID, randomInt } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { applyDefaults } from '../../api/defaults.js';
import { errors } from '../../api/errors.js';
import { STORED_RESOURCES, apiVersionOf, qualifiedName, type ResourceInfo, resourceOfKind } from '../../api/resources.js';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from '../../api/selectors.js';
import type { KubeObject, PodSpec } from '../../api/types.js';
import { validateObject } from '../../api/validation.js';
import type { ObjectKey, Store, StoreEvent, StoreWatch } from '../store/index.js';
import { allocateServiceAddresses, DEFAULT_ALLOCATOR_CONFIG, type AllocatorConfig } from './allocators.js';

export interface ListQuery {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface WriteOptions {
  dryRun?: boolean;
  /** The body was large (body.ts LARGE_BODY_BYTES): the event loop gets a turn between checking and storing it. */
  large?: boolean;
}

const NAME_SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const NAMESPACE = resourceOfKind('Namespace');
const NAMESPACE_CLEANUP_DELAY_MS = 1500;
/** The finalizer an owner deleted with Foreground propagation waits with for its dependents. */
export const FOREGROUND_FINALIZER = 'foregroundDeletion';
/** The finalizer an owner deleted with Orphan propagation holds while its dependents are orphaned. */
export const ORPHAN_FINALIZER = 'orphan';

/** Resources whose `spec` changes bump metadata.generation (and whose status is a subresource). */
function hasStatusSubresource(r: ResourceInfo): boolean {
  return (r.subresources ?? []).includes('status');
}

function revisionOf(obj: KubeObject | undefined): number | undefined {
  const rv = obj?.metadata?.resourceVersion;
  if (rv === undefined || rv === '') return undefined;
  const n = Number(rv);
  if (!Number.isInteger(n) || n < 0) throw errors.badRequest(`metadata.resourceVersion: invalid value "${rv}": must be a resourceVersion returned by this server`);
  return n;
}

/** Everything but metadata and status: what a generation counts changes of. */
function specPart(obj: KubeObject): string {
  const { metadata: _m, status: _s, ...rest } = obj;
  return JSON.stringify(rest);
}

export function keyFor(r: ResourceInfo, namespace: string | undefined, name: string): ObjectKey {
  return { resource: qualifiedName(r), namespace: r.namespaced ? (namespace ?? '') : '', name };
}

export interface RegistryOptions {
  now?: () => Date;
  allocator?: AllocatorConfig;
}

export class Registry {
  private readonly now: () => Date;
  private readonly allocator: AllocatorConfig;
  /** Service writes run one at a time so address allocation never hands out one address twice. */
  private serviceWrites: Promise<unknown> = Promise.resolve();
  private readonly cleanupTimers = new Map<string, NodeJS.Timeout>();
  private readonly pending = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    readonly store: Store,
    opts: RegistryOptions = {},
  ) {
    this.now = opts.now ?? (() => new Date());
    this.allocator = opts.allocator ?? DEFAULT_ALLOCATOR_CONFIG;
  }

  private serialized<T>(r: ResourceInfo, work: () => Promise<T>): Promise<T> {
    if (r.kind !== 'Service') return work();
    const result = this.serviceWrites.then(work);
    this.serviceWrites = result.catch(() => undefined);
    return result;
  }

  async get(r: ResourceInfo, namespace: string | undefined, name: string): Promise<KubeObject> {
    const obj = await this.store.get(keyFor(r, namespace, name));
    if (!obj) throw errors.notFound(qualifiedName(r), name);
    return obj;
  }

  async list(r: ResourceInfo, namespace: string | undefined, query: ListQuery = {}): Promise<{ items: KubeObject[]; revision: number }> {
    const filter = this.filterFor(query);
    const { items, revision } = await this.store.list({ resource: qualifiedName(r), namespace: r.namespaced ? namespace || undefined : undefined });
    return { items: items.filter(filter), revision };
  }

  /** A predicate for label and field selectors; throws BadRequest for a malformed selector. */
  filterFor(query: ListQuery): (obj: KubeObject) => boolean {
    const labels = query.labelSelector ? parseLabelSelector(query.labelSelector) : [];
    const fields = query.fieldSelector ? parseFieldSelector(query.fieldSelector) : [];
    return (obj) => matchesLabels(labels, obj.metadata.labels) && matchesFields(fields, obj);
  }

  async create(r: ResourceInfo, namespace: string | undefined, input: KubeObject, opts: WriteOptions = {}): Promise<KubeObject> {
    const obj = this.prepareNew(r, namespace, input);
    if (opts.large) await nextTurn();
    if (r.namespaced) await this.requireActiveNamespace(obj.metadata.namespace!);
    return this.serialized(r, async () => {
      if (r.kind === 'Service') await allocateServiceAddresses(this, obj, this.allocator);
      if (opts.dryRun) return obj;
      return this.insert(r, input, obj);
    });
  }

  private async insert(r: ResourceInfo, input: KubeObject, obj: KubeObject): Promise<KubeObject> {
    if (!input.metadata?.name && input.metadata?.generateName) {
      // A generated name can collide; try a few fresh suffixes before giving up.
      for (let attempt = 0; ; attempt++) {
        try {
          return await this.store.create(keyFor(r, obj.metadata.namespace, obj.metadata.name!), obj);
        } catch (e) {
          if (attempt >= 4 || (e as { code?: number }).code !== 409) throw e;
          obj.metadata.name = input.metadata.generateName + randomSuffix();
        }
      }
    }
    return this.store.create(keyFor(r, obj.metadata.namespace, obj.metadata.name!), obj);
  }

  /** Fills identity, defaults and metadata of a new object and validates it. */
  private prepareNew(r: ResourceInfo, namespace: string | undefined, input: KubeObject): KubeObject {
    const obj = structuredClone(input);
    this.checkTypeMeta(r, obj);
    obj.metadata ??= {};
    const meta = obj.metadata;
    if (r.namespaced) {
      if (meta.namespace && namespace && meta.namespace !== namespace) {
        throw errors.badRequest(`the namespace of the provided object (${meta.namespace}) does not match the namespace sent on the request (${namespace})`);
      }
      meta.namespace = meta.namespace || namespace || 'default';
    } else {
      delete meta.namespace;
    }
    if (!meta.name && meta.generateName) meta.name = meta.generateName + randomSuffix();
    meta.uid = randomUUID();
    meta.creationTimestamp = rfc3339(this.now());
    meta.generation = 1;
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.managedFields;
    applyDefaults(r, obj);
    initialStatus(r, obj);
    this.validate(r, obj);
    return obj;
  }

  private checkTypeMeta(r: ResourceInfo, obj: KubeObject): void {
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw errors.badRequest(`the request body must be a ${r.kind} object`);
    if (obj.metadata !== undefined && (obj.metadata === null || typeof obj.metadata !== 'object' || Array.isArray(obj.metadata))) {
      throw errors.invalid(r.kind, '', [{ field: 'metadata', reason: 'FieldValueTypeInvalid', message: 'Invalid value: must be an object' }]);
    }
    // A map sent as null is no map, as in Kubernetes (where it decodes to nil and is left out).
    for (const field of ['labels', 'annotations'] as const) if (obj.metadata?.[field] === null) delete obj.metadata[field];
    const apiVersion = apiVersionOf(r);
    if ((obj.kind && obj.kind !== r.kind) || (obj.apiVersion && obj.apiVersion !== apiVersion)) {
      throw errors.badRequest(
        `the object's apiVersion/kind (${obj.apiVersion ?? '?'}/${obj.kind ?? '?'}) does not match the resource ${qualifiedName(r)} (${apiVersion}/${r.kind}) it was sent to`,
      );
    }
    obj.apiVersion = apiVersion;
    obj.kind = r.kind;
  }

  private validate(r: ResourceInfo, obj: KubeObject, old?: KubeObject): void {
    const causes = validateObject(r, obj, old);
    if (causes.length) throw errors.invalid(r.kind, obj.metadata?.name ?? '', causes, r.group || undefined);
  }

  private async requireActiveNamespace(name: string): Promise<void> {
    const ns = await this.store.get(keyFor(NAMESPACE, undefined, name));
    if (!ns) throw errors.notFound('namespaces', name);
    if (ns.metadata.deletionTimestamp) {
      throw errors.forbidden(`unable to create new content in namespace ${name} because it is being terminated`);
    }
  }

  /**
   * Replaces an object (PUT). With `subresource: 'status'` only the status changes; otherwise the
   * status is kept for resources that have a status subresource. A stale resourceVersion in the
   * body is a Conflict.
   */
  async update(
    r: ResourceInfo,
    namespace: string | undefined,
    name: string,
    input: KubeObject,
    opts: WriteOptions & { subresource?: 'status' } = {},
  ): Promise<KubeObject> {
    const obj = structuredClone(input);
    this.checkTypeMeta(r, obj);
    obj.metadata ??= {};
    if (obj.metadata.name && obj.metadata.name !== name) {
      throw errors.badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`);
    }
    if (r.namespaced && obj.metadata.namespace && namespace && obj.metadata.namespace !== namespace) {
      throw errors.badRequest(`the namespace of the provided object (${obj.metadata.namespace}) does not match the namespace sent on the request (${namespace})`);
    }
    const expected = revisionOf(obj);
    let finished: KubeObject | undefined;
    const result = await this.serialized(r, async () => {
      const old = await this.get(r, namespace, name);
      if (expected !== undefined && String(expected) !== old.metadata.resourceVersion) {
        throw errors.conflict(qualifiedName(r), name);
      }
      const next = this.merged(r, old, obj, opts.subresource);
      if (r.kind === 'Service' && opts.subresource !== 'status') await allocateServiceAddresses(this, next, this.allocator);
      if (opts.dryRun) return next;
      // Removing the last finalizer of an object that is being deleted deletes it.
      if (deletionFinished(old, next)) {
        await this.store.delete(keyFor(r, namespace, name), Number(old.metadata.resourceVersion));
        finished = old;
        return next;
      }
      // A write that changes nothing keeps the resourceVersion and sends no watch event, as in
      // Kubernetes; `apply` relies on it to report "unchanged".
      if (sameContent(old, next)) return old;
      return this.store.update(keyFor(r, namespace, name), next, Number(old.metadata.resourceVersion));
    });
    // Its dependents follow (background propagation; the garbage collector catches any left),
    // or are let go if it was being deleted with Orphan propagation.
    if (finished?.metadata.finalizers?.includes(ORPHAN_FINALIZER)) await this.orphanDependents(finished);
    else if (finished) await this.deleteDependents(finished);
    return result;
  }

  /** Builds the object to store from the old one and a full replacement. */
  private merged(r: ResourceInfo, old: KubeObject, obj: KubeObject, subresource?: 'status'): KubeObject {
    let next: KubeObject;
    if (subresource === 'status') {
      next = structuredClone(old);
      if (obj.status === undefined) delete next.status;
      else next.status = obj.status;
    } else {
      next = obj;
      const meta = next.metadata;
      meta.name = old.metadata.name;
      if (r.namespaced) meta.namespace = old.metadata.namespace;
      else delete meta.namespace;
      meta.uid = old.metadata.uid;
      meta.creationTimestamp = old.metadata.creationTimestamp;
      meta.generation = old.metadata.generation ?? 1;
      if (old.metadata.deletionTimestamp) {
        meta.deletionTimestamp = old.metadata.deletionTimestamp;
        const added = (meta.finalizers ?? []).filter((f) => !(old.metadata.finalizers ?? []).includes(f));
        if (added.length) {
          throw errors.invalid(r.kind, old.metadata.name!, [
            { field: 'metadata.finalizers', reason: 'FieldValueForbidden', message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}` },
          ], r.group || undefined);
        }
      }
      if (old.metadata.deletionGracePeriodSeconds !== undefined) meta.deletionGracePeriodSeconds = old.metadata.deletionGracePeriodSeconds;
      if (hasStatusSubresource(r)) {
        if (old.status === undefined) delete next.status;
        else next.status = old.status;
      }
      applyDefaults(r, next);
      if (r.kind === 'Service') preserveServiceAddresses(old, next);
      if (specPart(next) !== specPart(old)) meta.generation = (old.metadata.generation ?? 1) + 1;
    }
    delete next.metadata.resourceVersion;
    this.validate(r, next, old);
    return next;
  }

  /**
   * Reads, changes and writes back with compare-and-swap, retrying when another writer got in
   * between. `change` returns the complete new object.
   */
  async modify(
    r: ResourceInfo,
    namespace: string | undefined,
    name: string,
    change: (current: KubeObject) => KubeObject,
    opts: WriteOptions & { subresource?: 'status' } = {},
  ): Promise<KubeObject> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.get(r, namespace, name);
      const wanted = change(structuredClone(current));
      this.checkTypeMeta(r, wanted);
      wanted.metadata ??= {};
      wanted.metadata.resourceVersion = current.metadata.resourceVersion;
      try {
        return await this.update(r, namespace, name, wanted, opts);
      } catch (e) {
        if (attempt >= 8 || (e as { reason?: string }).reason !== 'Conflict') throw e;
      }
    }
  }

  /**
   * Deletes an object, as Kubernetes does. Dependents (objects whose ownerReferences name it) are
   * deleted too (Background: right after it; Foreground: first, while it waits with the
   * `foregroundDeletion` finalizer), unless the policy is Orphan, in which case their
   * ownerReference is removed. An object with finalizers only gets a deletionTimestamp and goes
   * when its last finalizer is removed. A namespace takes everything in it along.
   */
  async delete(
    r: ResourceInfo,
    namespace: string | undefined,
    name: string,
    opts: WriteOptions & { propagationPolicy?: string; preconditionRevision?: string; preconditionUid?: string; gracePeriodSeconds?: number } = {},
  ): Promise<KubeObject> {
    const obj = await this.get(r, namespace, name);
    if (opts.preconditionRevision && opts.preconditionRevision !== obj.metadata.resourceVersion) {
      throw errors.conflict(qualifiedName(r), name, `Precondition failed: ResourceVersion in precondition: ${opts.preconditionRevision}, ResourceVersion in object meta: ${obj.metadata.resourceVersion}`);
    }
    if (opts.preconditionUid && opts.preconditionUid !== obj.metadata.uid) {
      throw errors.conflict(qualifiedName(r), name, `Precondition failed: UID in precondition: ${opts.preconditionUid}, UID in object meta: ${obj.metadata.uid}`);
    }
    if (opts.dryRun) return obj;
    if (r.kind === 'Namespace') return this.terminateNamespace(obj);
    if (r.kind === 'Pod') {
      const graceful = await this.deletePodGracefully(obj, opts.gracePeriodSeconds);
      if (graceful) return graceful;
    }
    const policy = opts.propagationPolicy ?? 'Background';
    if (policy === 'Orphan') return this.deleteOrphaning(r, obj);
    if (policy === 'Foreground') return this.deleteInForeground(r, obj);
    if (obj.metadata.finalizers?.length) return this.markDeleting(r, obj);
    await this.deleteDependents(obj);
    try {
      return await this.store.delete(keyFor(r, namespace, name));
    } catch (e) {
      // Deleted concurrently by someone else: the outcome the caller wanted.
      if ((e as { code?: number }).code === 404) return obj;
      throw e;
    }
  }

  /**
   * Foreground propagation: the owner stays (deletionTimestamp, finalizer `foregroundDeletion`)
   * until its dependents are gone; they are deleted in the foreground too, so a Deployment waits
   * for its ReplicaSets, which wait for their pods. Whatever cannot go at once (a pod its node is
   * stopping, an object with finalizers) is waited for by the garbage collector, which removes
   * the finalizer when the last dependent is gone.
   */
  private async deleteInForeground(r: ResourceInfo, obj: KubeObject): Promise<KubeObject> {
    const dependents = await this.dependentsOf(obj);
    if (!dependents.length) {
      if (obj.metadata.finalizers?.length) return this.markDeleting(r, obj);
      return this.store.delete(keyFor(r, obj.metadata.namespace, obj.metadata.name!)).catch((e) => {
        if ((e as { code?: number }).code === 404) return obj;
        throw e;
      });
    }
    const marked = await this.markDeleting(r, obj, FOREGROUND_FINALIZER);
    for (const dep of dependents) {
      await this.delete(dep.r, dep.obj.metadata.namespace, dep.obj.metadata.name!, { propagationPolicy: 'Foreground' }).catch((e) => {
        if ((e as { code?: number }).code !== 404) throw e;
      });
    }
    if ((await this.dependentsOf(marked)).length) return marked;
    return this.modify(r, marked.metadata.namespace, marked.metadata.name!, (cur) => {
      cur.metadata.finalizers = (cur.metadata.finalizers ?? []).filter((f) => f !== FOREGROUND_FINALIZER);
      return cur;
    }).catch((e) => {
      if ((e as { code?: number }).code === 404) return marked;
      throw e;
    });
  }

  /**
   * Orphan propagation, as Kubernetes does it: the owner is first marked deleted (finalizer
   * `orphan`), so its controller stops adopting, then its dependents lose their ownerReference,
   * then the finalizer goes and the owner with it (unless other finalizers hold it).
   */
  private async deleteOrphaning(r: ResourceInfo, obj: KubeObject): Promise<KubeObject> {
    if (!(await this.dependentsOf(obj)).length) {
      if (obj.metadata.finalizers?.length) return this.markDeleting(r, obj);
      return this.store.delete(keyFor(r, obj.metadata.namespace, obj.metadata.name!)).catch((e) => {
        if ((e as { code?: number }).code === 404) return obj;
        throw e;
      });
    }
    const marked = await this.markDeleting(r, obj, ORPHAN_FINALIZER);
    await this.orphanDependents(marked);
    return this.modify(r, marked.metadata.namespace, marked.metadata.name!, (cur) => {
      cur.metadata.finalizers = (cur.metadata.finalizers ?? []).filter((f) => f !== ORPHAN_FINALIZER);
      return cur;
    }).catch((e) => {
      if ((e as { code?: number }).code === 404) return marked;
      throw e;
    });
  }

  /** Gives an object a deletionTimestamp (and grace period 0), and optionally one more finalizer. */
  private async markDeleting(r: ResourceInfo, obj: KubeObject, finalizer?: string): Promise<KubeObject> {
    const key = keyFor(r, obj.metadata.namespace, obj.metadata.name!);
    let current = obj;
    for (let attempt = 0; ; attempt++) {
      const next = structuredClone(current);
      next.metadata.deletionTimestamp ??= rfc3339(this.now());
      next.metadata.deletionGracePeriodSeconds = 0;
      if (finalizer && !(next.metadata.finalizers ?? []).includes(finalizer)) next.metadata.finalizers = [...(next.metadata.finalizers ?? []), finalizer];
      if (sameContent(current, next)) return current;
      try {
        return await this.store.update(key, next, Number(current.metadata.resourceVersion));
      } catch (e) {
        if (attempt >= 8 || (e as { code?: number }).code !== 409) throw e;
        current = await this.get(r, obj.metadata.namespace, obj.metadata.name!);
      }
    }
  }

  /**
   * A pod bound to a node is deleted gracefully, as in Kubernetes: it gets a deletionTimestamp and
   * grace period, its node stops its containers (SIGTERM, grace, SIGKILL) and then deletes it for
   * good with a grace period of 0. Returns undefined when the pod should go at once (not bound to
   * a node, or a grace period of 0 was asked for).
   */
  private async deletePodGracefully(pod: KubeObject, requested: number | undefined): Promise<KubeObject | undefined> {
    const spec = pod.spec as PodSpec;
    const phase = (pod.status as { phase?: string } | undefined)?.phase;
    if (!spec?.nodeName || requested === 0 || phase === 'Succeeded' || phase === 'Failed') return undefined;
    const grace = Math.max(1, requested ?? spec.terminationGracePeriodSeconds ?? 30);
    const current = pod.metadata.deletionGracePeriodSeconds;
    // A later delete may shorten the grace period, never lengthen it.
    if (pod.metadata.deletionTimestamp && current !== undefined && current <= grace) return pod;
    const next = structuredClone(pod);
    next.metadata.deletionTimestamp = rfc3339(new Date(this.now().getTime() + grace * 1000));
    next.metadata.deletionGracePeriodSeconds = grace;
    const key = keyFor(resourceOfKind('Pod'), pod.metadata.namespace, pod.metadata.name!);
    return this.store.update(key, next, Number(pod.metadata.resourceVersion));
  }

  /**
   * Namespace deletion is asynchronous, as in Kubernetes: the namespace turns Terminating at once
   * (no new objects may be created in it), and a moment later its contents and then the
   * namespace itself are removed. The delay lets a client that deletes a namespace and its
   * objects in one go (`kubectl delete -f`) still find those objects.
   */
  private async terminateNamespace(ns: KubeObject): Promise<KubeObject> {
    const name = ns.metadata.name!;
    let marked = ns;
    if (!ns.metadata.deletionTimestamp) {
      const next = structuredClone(ns);
      next.metadata.deletionTimestamp = rfc3339(this.now());
      next.status = { ...((ns.status as object) ?? {}), phase: 'Terminating' };
      marked = await this.store.update(keyFor(NAMESPACE, undefined, name), next, Number(ns.metadata.resourceVersion));
    }
    this.scheduleNamespaceCleanup(name);
    return marked;
  }

  private scheduleNamespaceCleanup(name: string): void {
    if (this.closed || this.cleanupTimers.has(name)) return;
    const timer = setTimeout(() => {
      this.cleanupTimers.delete(name);
      const work = this.removeNamespace(name)
        .catch((e) => {
          if (!this.closed) console.error(`tug control: removing namespace ${name}:`, e);
        })
        .finally(() => this.pending.delete(work));
      this.pending.add(work);
    }, NAMESPACE_CLEANUP_DELAY_MS);
    this.cleanupTimers.set(name, timer);
  }

  private async removeNamespace(namespace: string): Promise<void> {
    for (const r of STORED_RESOURCES.filter((x) => x.namespaced)) {
      const { items } = await this.store.list({ resource: qualifiedName(r), namespace });
      for (const item of items) {
        await this.store.delete(keyFor(r, namespace, item.metadata.name!)).catch((e) => {
          if ((e as { code?: number }).code !== 404) throw e;
        });
      }
    }
    await this.store.delete(keyFor(NAMESPACE, undefined, namespace)).catch((e) => {
      if ((e as { code?: number }).code !== 404) throw e;
    });
  }

  /** Stops background work (namespace clean-ups) and waits for what is running. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.cleanupTimers.values()) clearTimeout(t);
    this.cleanupTimers.clear();
    await Promise.all(this.pending);
  }

  private async dependentsOf(owner: KubeObject): Promise<{ r: ResourceInfo; obj: KubeObject }[]> {
    const uid = owner.metadata.uid;
    const found: { r: ResourceInfo; obj: KubeObject }[] = [];
    for (const r of STORED_RESOURCES) {
      if (r.kind === 'Namespace') continue;
      const scope = r.namespaced ? owner.metadata.namespace : undefined;
      if (r.namespaced && !scope) continue;
      const { items } = await this.store.list({ resource: qualifiedName(r), namespace: scope });
      for (const obj of items) {
        if ((obj.metadata.ownerReferences ?? []).some((o) => o.uid === uid)) found.push({ r, obj });
      }
    }
    return found;
  }

  private async deleteDependents(owner: KubeObject): Promise<void> {
    for (const { r, obj } of await this.dependentsOf(owner)) {
      await this.delete(r, obj.metadata.namespace, obj.metadata.name!, { propagationPolicy: 'Background' }).catch((e) => {
        if ((e as { code?: number }).code !== 404) throw e;
      });
    }
  }

  private async orphanDependents(owner: KubeObject): Promise<void> {
    for (const { r, obj } of await this.dependentsOf(owner)) {
      await this.modify(r, obj.metadata.namespace, obj.metadata.name!, (cur) => {
        cur.metadata.ownerReferences = (cur.metadata.ownerReferences ?? []).filter((o) => o.uid !== owner.metadata.uid);
        if (!cur.metadata.ownerReferences.length) delete cur.metadata.ownerReferences;
        return cur;
      }).catch(() => undefined);
    }
  }

  /** Watches one resource (optionally one namespace), filtered by selectors. */
  watch(
    r: ResourceInfo,
    namespace: string | undefined,
    fromRevision: number,
    query: ListQuery,
    onEvent: (event: StoreEvent) => void,
  ): StoreWatch {
    const filter = this.filterFor(query);
    return this.store.watch(
      { resource: qualifiedName(r), namespace: r.namespaced ? namespace || undefined : undefined },
      fromRevision,
      (event) => {
        if (filter(event.object)) onEvent(event);
      },
    );
  }

  /**
   * Creates the namespaces every Kubernetes cluster starts with, and resumes the removal of
   * namespaces that were terminating when the control node stopped.
   */
  async start(): Promise<void> {
    const { items } = await this.store.list({ resource: 'namespaces' });
    for (const ns of items) if (ns.metadata.deletionTimestamp) this.scheduleNamespaceCleanup(ns.metadata.name!);
    for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      if (await this.store.get(keyFor(NAMESPACE, undefined, name))) continue;
      await this.create(NAMESPACE, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }).catch((e) => {
        if ((e as { code?: number }).code !== 409) throw e;
      });
    }
  }
}

/**
 * What a new object's status starts as. As in Kubernetes, a client cannot create a Pod, Deployment
 * or ReplicaSet with a status of its own choosing: that is the status writers' job.
 */
function initialStatus(r: ResourceInfo, obj: KubeObject): void {
  if (r.kind === 'Pod') obj.status = { phase: 'Pending', qosClass: qosClassOf(obj.spec as PodSpec) };
  else if (r.kind === 'Deployment' || r.kind === 'ReplicaSet') obj.status = {};
}

/** Kubernetes' QoS class: Guaranteed when every container's limits equal its requests for cpu and memory. */
export function qosClassOf(spec: PodSpec | undefined): string {
  const containers = [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])];
  let any = false;
  let guaranteed = containers.length > 0;
  for (const c of containers) {
    const requests = { ...(c.resources?.limits ?? {}), ...(c.resources?.requests ?? {}) };
    const limits = c.resources?.limits ?? {};
    if (Object.keys(requests).length || Object.keys(limits).length) any = true;
    for (const res of ['cpu', 'memory']) {
      if (limits[res] === undefined || String(limits[res]) !== String(requests[res])) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/**
 * Whether an update completes a deletion: the object is being deleted (with no grace period left)
 * and the update removes its last finalizer.
 */
function deletionFinished(old: KubeObject, next: KubeObject): boolean {
  return !!next.metadata.deletionTimestamp && !next.metadata.finalizers?.length && !!old.metadata.finalizers?.length && (next.metadata.deletionGracePeriodSeconds ?? 0) === 0;
}

/** Whether `next` stores the same content as `old`, whatever the key order; the resourceVersion is ignored. */
function sameContent(old: KubeObject, next: KubeObject): boolean {
  const { resourceVersion: _rv, ...meta } = old.metadata;
  const plain = (o: unknown) => JSON.parse(JSON.stringify(o));
  return isDeepStrictEqual(plain({ ...old, metadata: meta }), plain({ ...next, metadata: { ...next.metadata, resourceVersion: undefined } }));
}

function randomSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += NAME_SUFFIX_ALPHABET[randomInt(NAME_SUFFIX_ALPHABET.length)];
  return s;
}

/** A replaced Service keeps the ClusterIP and node ports it was given unless it names new ones. */
function preserveServiceAddresses(old: KubeObject, next: KubeObject): void {
  const oldSpec = (old.spec ?? {}) as { clusterIP?: string; clusterIPs?: string[]; ports?: { port: number; protocol?: string; nodePort?: number }[] };
  const spec = (next.spec ?? {}) as typeof oldSpec & { type?: string };
  if (!spec.clusterIP && oldSpec.clusterIP) {
    spec.clusterIP = oldSpec.clusterIP;
    spec.clusterIPs = oldSpec.clusterIPs ?? [oldSpec.clusterIP];
  }
  if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') {
    for (const p of spec.ports ?? []) {
      if (p.nodePort) continue;
      const before = (oldSpec.ports ?? []).find((o) => o.port === p.port && (o.protocol ?? 'TCP') === (p.protocol ?? 'TCP'));
      if (before?.nodePort) p.nodePort = before.nodePort;
    }
  } else {
    // A type that has no node ports drops the ones it had (kubectl apply keeps live fields it
    // did not set, so they would otherwise make the change invalid), as Kubernetes does.
    const oldType = (old.spec as { type?: string } | undefined)?.type;
    if (oldType === 'NodePort' || oldType === 'LoadBalancer') for (const p of spec.ports ?? []) delete p.nodePort;
  }
}
