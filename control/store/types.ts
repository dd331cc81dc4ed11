// The Store contract (DESIGN.md §3): every backend (memory, sqlite, later etcd) implements it,
// and the same test suite runs against each.
import type { KubeObject } from '../../api/types.js';

/** Where an object lives: `resource` is the qualified plural (`pods`, `deployments.apps`). */
export interface ObjectKey {
  resource: string;
  namespace: string; // '' for cluster-scoped objects
  name: string;
}

/** A set of keys: one resource, optionally one namespace. */
export interface KeyPrefix {
  resource: string;
  namespace?: string;
}

export interface StoreEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  key: ObjectKey;
  /**
   * The object as stored by this change (for DELETED, the last state with the deletion revision).
   * Events are deeply frozen and shared by all watchers: copy before changing.
   */
  object: KubeObject;
  revision: number;
}

export interface StoreWatch {
  stop(): void;
}

export interface Store {
  /** The newest revision written (0 for an empty store). */
  revision(): number;
  get(key: ObjectKey): Promise<KubeObject | undefined>;
  list(prefix: KeyPrefix): Promise<{ items: KubeObject[]; revision: number }>;
  /** Stores a new object; sets metadata.resourceVersion. Throws AlreadyExists. */
  create(key: ObjectKey, object: KubeObject): Promise<KubeObject>;
  /**
   * Replaces an object. When `expectedRevision` is given the write happens only if the stored
   * resourceVersion still equals it (compare-and-swap); otherwise Conflict. Throws NotFound.
   */
  update(key: ObjectKey, object: KubeObject, expectedRevision?: number): Promise<KubeObject>;
  /** Removes an object (CAS like update when expectedRevision is given); returns its last state. */
  delete(key: ObjectKey, expectedRevision?: number): Promise<KubeObject>;
  /**
   * Delivers every change under `prefix` with a revision greater than `fromRevision`, first the
   * ones already made (replayed from the bounded event history), then live ones, in order.
   * Throws Gone (410) when changes after `fromRevision` are no longer in the history.
   */
  watch(prefix: KeyPrefix, fromRevision: number, onEvent: (event: StoreEvent) => void): StoreWatch;
  /**
   * Writes again every object of `resource` whose stored form the current encryption config would
   * not write (a new revision, same content), so a rotated-out key no longer guards anything.
   * Returns how many were rewritten; a backend that keeps nothing on disk rewrites nothing.
   */
  rewriteStale?(resource: string): Promise<number>;
  close(): Promise<void>;
}
