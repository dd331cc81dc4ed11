// Relaying proxied TCP connections in native code (lib/native/relay.c): both directions copied
// inside the event loop with back-pressure, half-close and an idle timeout, without a call into
// JavaScript per read. `startRelay` takes a connection JavaScript has carried so far;
// `connectRelay` takes an accepted socket nothing has read yet and connects the upstream itself,
// replaying the client's bytes to the next endpoint when one fails before answering. The Node
// sockets stay open but idle, so everything that tracks them still does; closing one ends the
// relay, and when the relay ends the caller destroys them. Where the module did not build, or a
// socket has no descriptor of its own, both return undefined and the caller relays itself.
//
// `listenNative` accepts in native code too: a connection comes as a bare descriptor, which
// `relayDescriptor` relays as connectRelay does a socket, with no Node socket made at all.
import { createRequire } from 'node:module';
import { isIP, type Socket } from 'node:net';
import { socketDescriptor } from '../lib/internals.js';
import type { Endpoint } from './types.js';

type OnEvent = (event: number, detail: number) => void;

interface Native {
  start(fdA: number, fdB: number, idleMs: number, onevent: OnEvent): object;
  connect(fdClient: number, ip: string, port: number, idleMs: number, connectTimeoutMs: number, replayLimit: number, onevent: OnEvent, owned: boolean, quietMs: number): object;
  retry(handle: object, ip: string, port: number): void;
  listen(host: string, port: number, backlog: number, onaccept: (fd: number, ip: string) => boolean): [object, number];
  close(handle: object): void;
}

const EVENT_END = 0;
const EVENT_CONNECTED = 1;

/**
 * Why a relay ended: both sides finished (FIN each way), one side failed (the other then gets an
 * RST), no traffic for the idle time, or (connectRelay) no upstream was left to try (the client
 * got an RST).
 */
export type RelayEnd = 'closed' | 'client reset' | 'upstream reset' | 'idle' | 'no upstream';
const ENDS: RelayEnd[] = ['closed', 'client reset', 'upstream reset', 'idle', 'no upstream'];

/** How an upstream failed before answering. */
export type UpstreamFailure = 'connect' | 'reset' | 'timeout';
const FAILURES: UpstreamFailure[] = ['connect', 'reset', 'timeout'];

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

/** Counts a running relay until `over` is called (once). */
function tracked(): () => boolean {
  let live = true;
  running++;
  return () => {
    if (!live) return false;
    live = false;
    running--;
    return true;
  };
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
  const a = socketDescriptor(client);
  const b = socketDescriptor(upstream);
  if (a === undefined || b === undefined) return undefined;
  client.pause();
  upstream.pause();
  let handle: object;
  const over = tracked();
  try {
    handle = native.start(a, b, idleMs, (_event, reason) => { if (over()) onEnd(ENDS[reason] ?? 'closed'); });
  } catch {
    over();
    client.resume();
    upstream.resume();
    return undefined;
  }
  return { close: () => { if (over()) native.close(handle); } };
}

export interface ConnectRelayOptions {
  /** No traffic either way for this long ends the connection (0: never). */
  idleMs: number;
  /** Until a first byte moves either way, this shorter idle time (0: idleMs from the start). */
  quietMs?: number;
  /** An upstream connect slower than this counts as failed. */
  connectTimeoutMs: number;
  /** Client bytes kept for a replay until the upstream answers; past it, no retry. */
  replayLimit: number;
}

/** What one of these throws goes to stderr, and the relay goes on as if it had returned. */
export interface ConnectRelayEvents {
  /** The upstream accepted the connection. */
  connected(): void;
  /** The upstream failed before answering: the endpoint to send the client's bytes to next, or undefined (the client then gets an RST). */
  failed(how: UpstreamFailure): Endpoint | undefined;
  /** The relay ended (the caller destroys the client socket). */
  end(end: RelayEnd): void;
}

/** Whether connectRelay can take `client`: the module is built, and `client` is an accepted socket nothing has read yet (its server pauses on connect). */
export function canConnectRelay(client: Socket): boolean {
  return !('reason' in load()) && client.readableFlowing === false && client.readableLength === 0 && socketDescriptor(client) !== undefined;
}

/**
 * Relays `client` to `endpoint` from its first byte: the native relay connects the upstream
 * itself. Returns undefined, changing nothing, when it cannot (see canConnectRelay; the endpoint
 * must be an IP address).
 */
export function connectRelay(client: Socket, endpoint: Endpoint, opts: ConnectRelayOptions, events: ConnectRelayEvents): Relay | undefined {
  const fd = socketDescriptor(client);
  if (!canConnectRelay(client) || fd === undefined) return undefined;
  return connectNative(fd, false, endpoint, opts, events);
}

/**
 * Relays an accepted connection that is a bare descriptor (listenNative's) to `endpoint` from its
 * first byte, as connectRelay does a socket; the relay owns the descriptor and closes it at the
 * end. Returns undefined when it cannot (the endpoint is no IP address, no descriptor or memory
 * is left); the descriptor is then still the caller's.
 */
export function relayDescriptor(fd: number, endpoint: Endpoint, opts: ConnectRelayOptions, events: ConnectRelayEvents): Relay | undefined {
  return connectNative(fd, true, endpoint, opts, events);
}

function connectNative(fd: number, owned: boolean, endpoint: Endpoint, opts: ConnectRelayOptions, events: ConnectRelayEvents): Relay | undefined {
  const native = load();
  if ('reason' in native || !isIP(endpoint.ip)) return undefined;
  let handle: object | undefined;
  const over = tracked();
  const onevent = (event: number, detail: number): void => {
    if (event === EVENT_CONNECTED) {
      events.connected();
    } else if (event === EVENT_END) {
      if (over()) events.end(ENDS[detail] ?? 'closed');
    } else {
      const next = events.failed(FAILURES[detail] ?? 'connect');
      if (next === undefined || handle === undefined) return;
      try {
        native.retry(handle, next.ip, next.port);
      } catch {
        // A next endpoint that cannot be connected to at all (not an IP address): give up, the client gets an RST.
      }
    }
  };
  try {
    handle = native.connect(fd, endpoint.ip, endpoint.port, opts.idleMs, opts.connectTimeoutMs, opts.replayLimit, onevent, owned, opts.quietMs ?? 0);
  } catch {
    over();
    return undefined;
  }
  const h = handle;
  return { close: () => { if (over()) native.close(h); } };
}

export interface NativeListener {
  /** The port it listens on (the one chosen, when 0 was asked for). */
  readonly port: number;
  /** Stops listening and frees the port at once; connections it accepted go on. Idempotent. */
  close(): void;
}

/**
 * Listens on host:port (an IP address; port 0: any free one) with the connections accepted in
 * native code: each comes to `onAccept` as a bare, non-blocking descriptor with TCP_NODELAY set,
 * and the client's address. `onAccept` returns true when it took the descriptor (it must close it
 * some time, or give it to relayDescriptor or a net.Socket, which will); false gets the client
 * an RST, and so does throwing (what it threw goes to stderr, and the listener goes on). Returns
 * undefined where the module is not built; throws what cannot listen as net.Server reports it,
 * an error whose `code` is the errno's name (EADDRINUSE, EACCES).
 */
export function listenNative(host: string, port: number, backlog: number, onAccept: (fd: number, clientIP: string) => boolean): NativeListener | undefined {
  const native = load();
  if ('reason' in native) return undefined;
  const [handle, bound] = native.listen(host, port, backlog, onAccept);
  let open = true;
  return {
    port: bound,
    close: () => {
      if (!open) return;
      open = false;
      native.close(handle);
    },
  };
}
