// The work queue every controller loop drains (client-go's shape, simplified): informer handlers
// only add keys; one loop takes each dirty key once, however often it was added; a key can ask to
// come back later (a deadline, minReadySeconds, a node's grace period).
export class WorkQueue {
  private readonly dirty = new Set<string>();
  private readonly later = new Map<string, number>();
  private wake?: () => void;

  /** Marks a key for the next pass. */
  add(key: string): void {
    this.dirty.add(key);
    this.later.delete(key);
    this.wake?.();
  }

  /** Marks a key for a pass after `ms` (the earliest request wins). */
  addAfter(key: string, ms: number, now = Date.now()): void {
    if (this.dirty.has(key)) return;
    const at = now + Math.max(0, ms);
    const current = this.later.get(key);
    if (current === undefined || at < current) this.later.set(key, at);
    this.wake?.();
  }

  /** Moves keys whose time has come to the dirty set; returns how long until the next one. */
  private promote(now: number): number {
    let next = Infinity;
    for (const [key, at] of this.later) {
      if (at <= now) {
        this.later.delete(key);
        this.dirty.add(key);
      } else next = Math.min(next, at - now);
    }
    return next;
  }

  /**
   * Runs `work` for every dirty key, one at a time, until the signal aborts. A key added while its
   * work runs is processed again afterwards. A failing key is retried with back-off.
   */
  async run(work: (key: string) => Promise<void>, signal: AbortSignal, onError: (key: string, e: unknown) => void): Promise<void> {
    const failures = new Map<string, number>();
    while (!signal.aborted) {
      const wait = this.promote(Date.now());
      if (!this.dirty.size) {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            signal.removeEventListener('abort', done);
            this.wake = undefined;
            resolve();
          };
          const timer = wait === Infinity ? undefined : setTimeout(done, wait);
          this.wake = done;
          signal.addEventListener('abort', done, { once: true });
        });
        continue;
      }
      const keys = [...this.dirty];
      this.dirty.clear();
      for (const key of keys) {
        if (signal.aborted) break;
        try {
          await work(key);
          failures.delete(key);
        } catch (e) {
          if (signal.aborted) break;
          const n = (failures.get(key) ?? 0) + 1;
          failures.set(key, n);
          onError(key, e);
          this.addAfter(key, Math.min(100 * 2 ** (n - 1), 5_000));
        }
      }
    }
  }

  get size(): number {
    return this.dirty.size + this.later.size;
  }
}

/** `namespace/name` of an object, the key controllers queue. */
export function keyOf(obj: { metadata: { namespace?: string; name?: string } }): string {
  return `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
}

export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i) || undefined, name: key.slice(i + 1) };
}
