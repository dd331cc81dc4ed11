// Relaying an established proxied TCP connection in native code (lib/native/relay.c): both
// directions copied inside the event loop with back-pressure, half-close and an idle timeout,
// without a call into JavaScript per read. The two Node sockets stay open but idle (their reads
// stopped), so everything that tracks them still does; closing either one ends the relay, and
// when the relay ends the caller destroys them. Where the module did not build, or a socket has
// no descriptor of its own, `startRelay` returns undefined and the caller keeps relaying itself.
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

interface Native {
  start(fdA: number, fdB: number, idleMs: number, ondone: (reason: number) => void): object;
  close(handle: object): void;
}

/** Why a relay ended: both sides finished (FIN each way), one side failed (the other then gets an RST), or no traffic for the idle time. */
export type RelayEnd = 'closed' | 'client reset' | 'upstream reset' | 'idle';
const ENDS: RelayEnd[] = ['closed', 'client reset', 'upstream reset', 'idle'];

export interface Relay {
  /** Ends the relay now (the caller destroys the sockets); `onEnd` is not called. Idempotent. */
  close(): void;
}

let loaded: Native | { reason: string } | undefined;
let running = 0;

/** Connections the native relay carries now, in this process. */
export function activeRelays(): number {
  return running;
}

function load(): Native | { reason: string } {
  if (!loaded) {
    try {
      loaded = createRequire(import.meta.url)('../../lib/native/build/Release/relay.node') as Native;
    } catch (e) {
      loaded = { reason: (e as Error).message.split('\n')[0] };
    }
  }
  return loaded;
}

/** Why native relaying is not available, or undefined when it is. */
export function relayUnavailable(): string | undefined {
  const n = load();
  return 'reason' in n ? n.reason : undefined;
}

/** The socket's own descriptor: a private field of Node's TCP handle, present on Linux. */
function fdOf(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Hands the connection between `client` and `upstream` to the native relay; it ends after
 * `idleMs` without traffic either way (0: never). Both must be sockets made with `onread` (their
 * reads stop at once when paused) with nothing queued either way; the caller checks that.
 * Returns undefined, changing nothing, when it cannot.
 */
export function startRelay(client: Socket, upstream: Socket, idleMs: number, onEnd: (end: RelayEnd) => void): Relay | undefined {
  const native = load();
  if ('reason' in native) return undefined;
  const a = fdOf(client);
  const b = fdOf(upstream);
  if (a === undefined || b === undefined) return undefined;
  client.pause();
  upstream.pause();
  let handle: object;
  let live = true;
  const over = (): boolean => {
    if (!live) return false;
    live = false;
    running--;
    return true;
  };
  try {
    handle = native.start(a, b, idleMs, (reason) => { if (over()) onEnd(ENDS[reason] ?? 'closed'); });
  } catch {
    client.resume();
    upstream.resume();
    return undefined;
  }
  running++;
  return { close: () => { if (over()) native.close(handle); } };
}
