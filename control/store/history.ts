// The watch hub every Store backend shares: a bounded ring of recent events (the "watch cache")
// and the subscribers fed from it. Backends write first, then `record` the committed event.
import { errors } from '../../api/errors.js';
import type { KubeObject } from '../../api/types.js';
import type { KeyPrefix, ObjectKey, StoreEvent, StoreWatch } from './types.js';

export const DEFAULT_HISTORY_SIZE = 10_000;

/** The history size to use, checked: a ring of zero events could never replay anything. */
export function historyCapacity(size: number = DEFAULT_HISTORY_SIZE): number {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`watch history size must be a positive integer, got ${size}`);
  return size;
}

/** An unset `prefix.namespace` means every namespace; '' means cluster-scoped keys only. */
export function keyMatches(prefix: KeyPrefix, key: ObjectKey): boolean {
  return key.resource === prefix.resource && (prefix.namespace === undefined || key.namespace === prefix.namespace);
}

/**
 * `object` carrying `revision` as its resourceVersion, as JSON text and as a private copy parsed
 * from it (for a large object, parsing the text it is stored as costs half of structuredClone);
 * the caller's object is left alone.
 */
export function stamp(object: KubeObject, revision: number): { json: string; object: KubeObject } {
  const json = JSON.stringify({ ...object, metadata: { ...(object.metadata ?? {}), resourceVersion: String(revision) } });
  return { json, object: JSON.parse(json) as KubeObject };
}

interface Watcher {
  prefix: KeyPrefix;
  onEvent: (event: StoreEvent) => void;
  /** Guards against double delivery when a watch opens while queued events are still draining. */
  lastDelivered: number;
  stopped: boolean;
}

export interface WatchHubOptions {
  /** How many recent events are kept for replay (default 10000). */
  capacity?: number;
  /** The newest revision whose event is not available (0 for a new store). */
  compactedThrough?: number;
  /** Events to start with (e.g. loaded from disk), oldest first; only the newest `capacity` are kept. */
  events?: StoreEvent[];
}

export class WatchHub {
  private readonly capacity: number;
  private readonly ring: (StoreEvent | undefined)[];
  private start = 0;
  private count = 0;
  private compactedThrough: number;
  private readonly watchers = new Set<Watcher>();
  // Delivery is synchronous; a callback that writes (or opens a watch) must not make anyone
  // see revision N+1 before N, so events queue while a delivery is in progress.
  private readonly pending: StoreEvent[] = [];
  private delivering = false;

  constructor(opts: WatchHubOptions = {}) {
    this.capacity = historyCapacity(opts.capacity);
    this.ring = new Array(this.capacity);
    this.compactedThrough = opts.compactedThrough ?? 0;
    for (const event of opts.events ?? []) this.push(event);
  }

  /** Adds a committed event to the history and delivers it to matching watchers. */
  record(event: StoreEvent): void {
    this.push(event);
    this.pending.push(event);
    if (!this.delivering) this.drain();
  }

  /**
   * Replays the retained events after `fromRevision` before returning, then delivers live ones.
   * Callbacks run synchronously inside writes, so they should only record (STYLE habit 4).
   */
  watch(prefix: KeyPrefix, fromRevision: number, onEvent: (event: StoreEvent) => void): StoreWatch {
    if (fromRevision < this.compactedThrough) {
      throw errors.gone(fromRevision, this.count > 0 ? this.at(0).revision : this.compactedThrough + 1);
    }
    const watcher: Watcher = { prefix: { ...prefix }, onEvent, lastDelivered: fromRevision, stopped: false };
    this.watchers.add(watcher);

    // Snapshot first: a callback that writes during replay must not shift the ring under us.
    const replay: StoreEvent[] = [];
    for (let i = this.firstAfter(fromRevision); i < this.count; i++) replay.push(this.at(i));
    const wasDelivering = this.delivering;
    this.delivering = true;
    try {
      for (const event of replay) this.deliver(watcher, event);
    } finally {
      this.delivering = wasDelivering;
    }
    if (!wasDelivering) this.drain();

    return {
      stop: () => {
        watcher.stopped = true;
        this.watchers.delete(watcher);
      },
    };
  }

  /** Ends every watch; nothing is delivered afterwards. */
  close(): void {
    for (const watcher of this.watchers) watcher.stopped = true;
    this.watchers.clear();
    this.pending.length = 0;
  }

  private push(event: StoreEvent): void {
    deepFreeze(event);
    if (this.count < this.capacity) {
      this.ring[(this.start + this.count) % this.capacity] = event;
      this.count++;
      return;
    }
    this.compactedThrough = this.at(0).revision;
    this.ring[this.start] = event;
    this.start = (this.start + 1) % this.capacity;
  }

  private at(i: number): StoreEvent {
    return this.ring[(this.start + i) % this.capacity]!;
  }

  /** Index of the oldest retained event with a revision above `revision` (binary search). */
  private firstAfter(revision: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.at(mid).revision <= revision) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private drain(): void {
    this.delivering = true;
    try {
      for (let i = 0; i < this.pending.length; i++) {
        for (const watcher of [...this.watchers]) this.deliver(watcher, this.pending[i]!);
      }
    } finally {
      this.pending.length = 0;
      this.delivering = false;
    }
  }

  private deliver(watcher: Watcher, event: StoreEvent): void {
    if (watcher.stopped || event.revision <= watcher.lastDelivered || !keyMatches(watcher.prefix, event.key)) return;
    watcher.lastDelivered = event.revision;
    try {
      // Events are frozen, so every watcher can share one object: fan-out to a thousand watchers
      // costs no copies, and no consumer can change what another (or the history) sees.
      watcher.onEvent(event);
    } catch (err) {
      // One broken consumer must not stop the writer or the other watchers.
      console.error(`store watch on ${describe(watcher.prefix)}: callback threw at revision ${event.revision}:`, err);
    }
  }
}

function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
}

function describe(prefix: KeyPrefix): string {
  return prefix.namespace === undefined ? prefix.resource : `${prefix.resource} in namespace "${prefix.namespace}"`;
}
