// The Node internals tugboat relies on, in one place, each used only where it answers as expected
// and all switched off with TUG_NODE_INTERNALS=0 (callers then take the public, slower way):
// - A full garbage collection on request, which Node offers only beneath its public API. V8 grows
//   its heap during a burst of connections and, in a process that then goes quiet, may not
//   collect for minutes, holding on to what the burst left. Without --expose-gc the only way to
//   ask is to set that flag at run time and take `gc` from a new context. A collection that fails
//   turns it off for good.
// - A net.Socket's libuv handle (its private `_handle`, on every Node from 12 to 24): its
//   descriptor, for the native relay, and the handle itself, moved into a new Socket that reads
//   through `onread` (proxy/readinto.ts).
import type { Socket } from 'node:net';
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

/** The one private field of net.Socket used here. */
interface WithHandle {
  _handle?: { fd?: unknown } | null;
}

/** A socket's own descriptor (present on Linux), or undefined (switched off, closed, or not there). */
export function socketDescriptor(socket: Socket): number | undefined {
  if (!enabled) return undefined;
  const fd = (socket as unknown as WithHandle)._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Takes the handle out of `socket`, which is left without one (destroying it then closes nothing),
 * or undefined, changing nothing (switched off, or no handle).
 */
export function takeHandle(socket: Socket): object | undefined {
  if (!enabled) return undefined;
  const s = socket as unknown as WithHandle;
  const handle = s._handle;
  if (!handle || typeof handle !== 'object') return undefined;
  s._handle = null;
  return handle;
}
