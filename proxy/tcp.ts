// The L4 forwarder: each accepted client connection goes to the next endpoint (round robin per
// connection), both directions piped with back-pressure and half-close. A connect failure, or a
// reset before the upstream sent any byte, is retried on the next endpoint with the client's
// bytes replayed, so the client never sees it; with no endpoint left the client gets an RST.
//
// With the native relay (relay.ts), a bare descriptor the proxy's native listener accepted, or a
// client socket nothing has read yet (from a listener that pauses on connect), is relayed
// natively from its first byte: the relay connects, retries and replays itself, asking
// JavaScript only for the endpoints and telling it what happened. Any other socket starts here
// and is handed to the relay once the upstream has answered more than once and nothing is
// queued either way (a connection that ends after one answer costs less relayed here than taking
// the relay up and down).
import { connect, type Socket } from 'node:net';
import type { HealthPicker } from './balancer.js';
import { bytesRead, ReadBuffer, readInto } from './readinto.js';
import { canConnectRelay, connectRelay, relayDescriptor, startRelay, type ConnectRelayEvents, type ConnectRelayOptions, type Relay } from './relay.js';
import { endpointKey, isLocalFailure, type Carried, type Endpoint, type ForwardObserver, type Forwarder, type Picker } from './types.js';

export interface TcpForwarderOptions {
  /** `namespace/name:port`, for messages. */
  service: string;
  /** The current picker of the Service port (looked up per connection, so table swaps apply at once). */
  picker: () => Picker;
  observer?: ForwardObserver;
  /** A connection with no traffic either way for this long is closed (default 10 min). */
  idleTimeoutMs?: number;
  /**
   * Until a first byte moves either way, the idle time is this short (default 10 s): a connection
   * that never speaks holds two descriptors (the upstream is dialled at once, for protocols where
   * the server speaks first), so a flood of silent ones must not hold them for long.
   */
  quietTimeoutMs?: number;
  /** An upstream connect that takes longer counts as failed and is retried (default 3 s). */
  connectTimeoutMs?: number;
  /** Client bytes kept for a replay until the upstream answers (default 64 KiB); past it, no retry. */
  replayLimit?: number;
  /** Relay in native code where the module is built: unread sockets from their first byte, others once answered (default true). */
  nativeRelay?: boolean;
  /** The upstream read at which a connection goes to the native relay (default 2: after its first answer). */
  relayAtRead?: number;
}

export const QUIET_TIMEOUT_MS = 10_000;

export function createTcpForwarder(opts: TcpForwarderOptions): Forwarder {
  let closed = false;
  return {
    handle(accepted: Socket): Socket {
      accepted.on('error', () => undefined);
      if (closed) {
        accepted.resetAndDestroy();
        return accepted;
      }
      if (opts.nativeRelay !== false && relayFromStart(accepted, opts)) return accepted;
      return new TcpConnection(accepted, opts).client;
    },
    handleDescriptor(fd: number, clientIP: string, ended: () => void): Carried | 'reset' | undefined {
      if (closed) return 'reset';
      if (opts.nativeRelay === false) return undefined;
      const relay = relayFrom(clientIP, opts, (ep, options, events) => relayDescriptor(fd, ep, options, events), ended);
      if (relay === 'reset' || relay === undefined) return relay;
      return {
        destroy: () => {
          relay.close();
          ended();
        },
      };
    },
    async close(): Promise<void> {
      // TCP keeps nothing pooled: open connections finish on their own (the proxy destroys them on stop).
      closed = true;
    },
  };
}

/**
 * The connection in the native relay from its first byte, with the same retries, replay and
 * reports as TcpConnection. False when that cannot be (the socket was read already, or the
 * module is not built); the caller then relays it here.
 */
function relayFromStart(client: Socket, opts: TcpForwarderOptions): boolean {
  if (!canConnectRelay(client)) return false;
  const relay = relayFrom(client.remoteAddress ?? '', opts, (ep, options, events) => connectRelay(client, ep, options, events), () => client.destroy());
  if (relay === 'reset') client.resetAndDestroy();
  else if (relay) client.on('close', () => relay.close());
  return relay !== undefined;
}

type NativeConnect = (ep: Endpoint, options: ConnectRelayOptions, events: ConnectRelayEvents) => Relay | undefined;

/**
 * A client connection from `clientIP` relayed natively by `connect`, from its first byte: the
 * endpoints picked here, failures counted and ejected, `ended` called at the end. 'reset' when
 * there is no endpoint; undefined when the relay did not take it (no descriptor left, an
 * endpoint that is no IP address), and the connection is still the caller's.
 */
function relayFrom(clientIP: string, opts: TcpForwarderOptions, connect: NativeConnect, ended: () => void): Relay | 'reset' | undefined {
  const picker = opts.picker();
  const tried = new Set<string>();
  const first = picker.pick(clientIP, tried);
  if (!first) return 'reset';
  let ep: Endpoint = first;
  tried.add(endpointKey(ep));
  const options = { idleMs: opts.idleTimeoutMs ?? 600_000, quietMs: opts.quietTimeoutMs ?? QUIET_TIMEOUT_MS, connectTimeoutMs: opts.connectTimeoutMs ?? 3000, replayLimit: opts.replayLimit ?? 64 * 1024 };
  return connect(ep, options, {
    connected: () => {
      opts.observer?.connection?.(ep);
      (picker as HealthPicker).succeeded?.(ep);
    },
    failed: (how) => {
      opts.observer?.upstreamFailure?.(ep, how);
      picker.failed(ep);
      const next = picker.pick(clientIP, tried);
      if (next) {
        tried.add(endpointKey(next));
        ep = next;
      }
      return next;
    },
    end: (end) => {
      if (end === 'upstream reset') opts.observer?.upstreamFailure?.(ep, 'reset');
      ended();
    },
  });
}

class TcpConnection {
  /** The client connection, read into a buffer of this connection's own. */
  readonly client: Socket;
  private upstream?: Socket;
  private connected = false;
  /** Client bytes since the start, kept while a retry is possible (until the upstream speaks). */
  private replay: Buffer[] | null = [];
  private replayBytes = 0;
  private clientEnded = false;
  private readonly tried = new Set<string>();
  private readonly replayLimit: number;
  private readonly idleTimeoutMs: number;
  /** The client socket reads through `onread` (readInto moved its handle), so a pause stops its reads at once. */
  private readonly ownReads: boolean;
  private relay?: Relay;

  /** Bytes from the client are read into this buffer (see connectNext on why it is reused). */
  private readonly clientBuffer = new ReadBuffer();

  constructor(
    accepted: Socket,
    private readonly opts: TcpForwarderOptions,
  ) {
    this.replayLimit = opts.replayLimit ?? 64 * 1024;
    const client = readInto(accepted, {
      buffer: this.clientBuffer.next,
      callback: (bytes, buffer) => this.fromClient(bytes, buffer),
    }, true);
    this.client = client;
    this.ownReads = client !== accepted;
    if (this.ownReads) client.on('error', () => undefined);
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 600_000;
    client.setNoDelay(true);
    const quiet = opts.quietTimeoutMs ?? QUIET_TIMEOUT_MS;
    client.setTimeout(quiet > 0 && (this.idleTimeoutMs === 0 || quiet < this.idleTimeoutMs) ? quiet : this.idleTimeoutMs);
    client.on('timeout', () => {
      client.destroy();
    });
    client.on('end', () => {
      this.clientEnded = true;
      if (this.connected) this.upstream!.end();
    });
    client.on('drain', () => this.upstream?.resume());
    client.on('close', () => {
      this.relay?.close();
      this.upstream?.destroy();
    });
    this.connectNext();
  }

  /** A first byte has moved: the connection gets its full idle time instead of the quiet one. */
  private moved = false;

  private noteMoved(): void {
    if (this.moved) return;
    this.moved = true;
    this.client.setTimeout(this.idleTimeoutMs);
  }

  /** Client bytes: to the upstream, and kept for a replay while one is possible. False pauses the client. */
  private fromClient(bytes: number, buffer: Uint8Array): boolean {
    this.noteMoved();
    const view = bytesRead(bytes, buffer);
    if (this.replay) {
      this.replay.push(Buffer.from(view));
      this.replayBytes += bytes;
    }
    if (this.connected) {
      if (this.replay && this.replayBytes > this.replayLimit) this.replay = null;
      const upstream = this.upstream!;
      const more = upstream.write(view);
      if (upstream.writableLength > 0) this.clientBuffer.hold();
      if (!more) this.client.pause();
      return more;
    }
    if (this.replayBytes > this.replayLimit) {
      // Still connecting: hold the client back instead of buffering without bound.
      this.client.pause();
      return false;
    }
    return true;
  }

  private connectNext(): void {
    const picker = this.opts.picker();
    const ep = picker.pick(this.client.remoteAddress ?? '', this.tried);
    if (!ep) {
      // No endpoint (or every one failed): refuse at once, the way a closed port does.
      this.client.resetAndDestroy();
      return;
    }
    this.tried.add(endpointKey(ep));
    this.connected = false;
    // Each direction reads into one buffer, reused while every write of it to the other side
    // completes at once (the usual case); a write the kernel could not take whole keeps that
    // buffer, and the next read gets a fresh one. This spares an allocation per read.
    let spoke = false;
    let reads = 0;
    const relayAtRead = this.opts.relayAtRead ?? 2;
    const readBuffer = new ReadBuffer();
    const upstream = connect({
      host: ep.ip,
      port: ep.port,
      allowHalfOpen: true,
      noDelay: true,
      onread: {
        buffer: readBuffer.next,
        callback: (bytes: number, buffer: Uint8Array) => {
          if (!spoke) {
            spoke = true;
            this.replay = null;
            this.noteMoved();
          }
          const more = this.client.write(bytesRead(bytes, buffer));
          if (this.client.writableLength > 0) readBuffer.hold();
          else if (++reads >= relayAtRead && this.handOff(upstream, ep)) return false;
          return more;
        },
      },
    });
    this.upstream = upstream;
    upstream.setTimeout(this.opts.connectTimeoutMs ?? 3000);
    upstream.on('timeout', () => {
      if (this.upstream !== upstream || this.connected) return;
      if (this.client.destroyed) upstream.destroy();
      else this.retry(upstream, ep, picker, 'timeout');
    });
    upstream.on('connect', () => {
      if (this.upstream !== upstream) return;
      this.connected = true;
      upstream.setTimeout(0);
      this.opts.observer?.connection?.(ep);
      (picker as HealthPicker).succeeded?.(ep);
      for (const chunk of this.replay ?? []) upstream.write(chunk);
      if (this.replay && this.replayBytes > this.replayLimit) this.replay = null;
      if (this.clientEnded) upstream.end();
      else if (this.client.isPaused() && upstream.writableLength === 0) this.client.resume();
    });
    upstream.on('drain', () => this.client.resume());
    upstream.on('end', () => {
      if (this.upstream === upstream) this.client.end();
    });
    upstream.on('error', (e: NodeJS.ErrnoException) => {
      if (this.upstream !== upstream) return;
      if (!this.connected && isLocalFailure(e)) {
        // This process could not make the socket: no fault of the endpoint, nor of the next one.
        if (!this.client.destroyed) this.client.resetAndDestroy();
        return;
      }
      if (!spoke && this.replay && !this.client.destroyed) {
        this.retry(upstream, ep, picker, this.connected ? 'reset' : e.code === 'ETIMEDOUT' ? 'timeout' : 'connect');
        return;
      }
      // Mid-stream: pass the failure on as a reset, as the upstream's own RST would have been.
      this.opts.observer?.upstreamFailure?.(ep, 'reset');
      if (!this.client.destroyed) this.client.resetAndDestroy();
    });
    upstream.on('close', () => {
      if (this.upstream !== upstream) return;
      this.relay?.close();
      // The upstream went away without an error after its FIN: end our side too once written.
      if (!this.client.destroyed && !this.client.writableEnded) this.client.end();
    });
  }

  /**
   * Gives the connection to the native relay once nothing of it is left in JavaScript: the
   * upstream has answered (no retry is possible any more), nothing is queued either way, and
   * neither side has ended. True when the relay took it; a connection it did not take is tried
   * again at the next upstream read.
   */
  private handOff(upstream: Socket, ep: Endpoint): boolean {
    if (this.opts.nativeRelay === false || !this.ownReads || this.relay || this.replay || !this.connected || this.clientEnded) return false;
    const client = this.client;
    if (client.destroyed || upstream.destroyed || client.writableLength > 0 || upstream.writableLength > 0 || upstream.readableEnded) return false;
    this.relay = startRelay(client, upstream, this.idleTimeoutMs, (end) => {
      if (end === 'upstream reset') this.opts.observer?.upstreamFailure?.(ep, 'reset');
      // The relay closed its side; closing ours lets the connections go (with an RST where one side failed).
      upstream.destroy();
      client.destroy();
    });
    if (this.relay) client.setTimeout(0); // the relay keeps the idle time now
    return this.relay !== undefined;
  }

  private retry(upstream: Socket, ep: Endpoint, picker: Picker, reason: 'connect' | 'reset' | 'timeout'): void {
    this.opts.observer?.upstreamFailure?.(ep, reason);
    picker.failed(ep);
    this.upstream = undefined;
    this.connected = false;
    upstream.destroy();
    // A client paused by back-pressure towards the failed upstream waits for the next one.
    this.connectNext();
  }
}
