// A full garbage collection on request, which Node offers only beneath its public API. V8 grows
// its heap during a burst of connections and, in a process that then goes quiet, may not collect
// for minutes, holding on to what the burst left. Without --expose-gc the only way to ask is to
// set that flag at run time and take `gc` from a new context. A collection that fails turns it off
// for good, and TUG_NODE_INTERNALS=0 switches it off: the heap is then left to V8.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const enabled = process.env.TUG_NODE_INTERNALS !== '0';

let collector: (() => void) | null | undefined;

/** A full garbage collection now; false when it is not available (switched off, or refused). */
export function collectGarbage(): boolean {
  if (collector === undefined) collector = enabled ? findCollector() : null;
  if (!collector) return false;
  try {
    collector();
    return true;
  } catch {
    collector = null;
    return false;
  }
}

function findCollector(): (() => void) | null {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
}

/** Whether collections on request work here (false when switched off). */
export function canCollectGarbage(): boolean {
  if (collector === undefined) collector = enabled ? findCollector() : null;
  return collector !== null;
}

/**
 * Collects garbage soon after request(), at most once per `intervalMs`: a request inside the
 * interval runs when it ends, so the last one of a burst is never lost.
 */
export class GarbageCollections {
  private last = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs = 30_000,
    private readonly delayMs = 1000,
    private readonly collect: () => unknown = collectGarbage,
  ) {}

  request(): void {
    if (this.timer) return;
    const wait = Math.max(this.delayMs, this.last + this.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.last = Date.now();
      this.collect();
    }, wait);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
