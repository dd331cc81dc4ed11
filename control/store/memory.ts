// The in-memory Store: for tests and throwaway clusters. Nothing survives the process.
import { errors } from '../../api/errors.js';
import type { KubeObject } from '../../api/types.js';
import { WatchHub, keyMatches, stamp } from './history.js';
import type { KeyPrefix, ObjectKey, Store, StoreEvent, StoreWatch } from './types.js';

interface Entry {
  key: ObjectKey;
  object: KubeObject; // never mutated in place, so the history may share it
  revision: number;
}

export function createMemoryStore(opts: { historySize?: number } = {}): Store {
  return new MemoryStore(opts.historySize);
}

class MemoryStore implements Store {
  private rev = 0;
  // resource -> "namespace\0name" -> entry; Kubernetes names and namespaces never contain NUL.
  private readonly objects = new Map<string, Map<string, Entry>>();
  private readonly hub: WatchHub;
  private closed = false;

  constructor(historySize?: number) {
    this.hub = new WatchHub({ capacity: historySize });
  }

  revision(): number {
    return this.rev;
  }

  async get(key: ObjectKey): Promise<KubeObject | undefined> {
    this.assertOpen();
    const entry = this.entry(key);
    return entry && structuredClone(entry.object);
  }

  async list(prefix: KeyPrefix): Promise<{ items: KubeObject[]; revision: number }> {
    this.assertOpen();
    const entries = [...(this.objects.get(prefix.resource)?.values() ?? [])].filter((e) => keyMatches(prefix, e.key));
    entries.sort((a, b) => compare(a.key.namespace, b.key.namespace) || compare(a.key.name, b.key.name));
    return { items: entries.map((e) => structuredClone(e.object)), revision: this.rev };
  }

  async create(key: ObjectKey, object: KubeObject): Promise<KubeObject> {
    this.assertOpen();
    if (this.entry(key)) throw errors.alreadyExists(key.resource, key.name);
    return this.commit('ADDED', key, object);
  }

  async update(key: ObjectKey, object: KubeObject, expectedRevision?: number): Promise<KubeObject> {
    this.assertOpen();
    this.existing(key, expectedRevision);
    return this.commit('MODIFIED', key, object);
  }

  async delete(key: ObjectKey, expectedRevision?: number): Promise<KubeObject> {
    this.assertOpen();
    const entry = this.existing(key, expectedRevision);
    return this.commit('DELETED', key, entry.object);
  }

  watch(prefix: KeyPrefix, fromRevision: number, onEvent: (event: StoreEvent) => void): StoreWatch {
    this.assertOpen();
    return this.hub.watch(prefix, fromRevision, onEvent);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.hub.close();
  }

  private entry(key: ObjectKey): Entry | undefined {
    return this.objects.get(key.resource)?.get(nameId(key));
  }

  /** The stored entry, or NotFound / Conflict when it is missing or not at `expectedRevision`. */
  private existing(key: ObjectKey, expectedRevision?: number): Entry {
    const entry = this.entry(key);
    if (!entry) throw errors.notFound(key.resource, key.name);
    if (expectedRevision !== undefined && expectedRevision !== entry.revision) throw errors.conflict(key.resource, key.name);
    return entry;
  }

  private commit(type: StoreEvent['type'], key: ObjectKey, object: KubeObject): KubeObject {
    const revision = this.rev + 1;
    const { json, object: stored } = stamp(object, revision);
    const id = nameId(key);
    if (type === 'DELETED') {
      this.objects.get(key.resource)?.delete(id);
    } else {
      let byName = this.objects.get(key.resource);
      if (!byName) this.objects.set(key.resource, (byName = new Map()));
      byName.set(id, { key: { ...key }, object: stored, revision });
    }
    this.rev = revision;
    this.hub.record({ type, key: { ...key }, object: stored, revision });
    return JSON.parse(json) as KubeObject;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the memory store is closed');
  }
}

function nameId(key: ObjectKey): string {
  return `${key.namespace}\0${key.name}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
