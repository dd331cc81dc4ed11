// Keep-alive upstream connections of the HTTP forwarder, pooled per endpoint. Each socket gets
// its listeners once, when it is created, and hands events to whoever holds it for the current
// request (its owner); while it sits idle in the pool, any byte or close from the upstream
// just retires it. No per-request listener churn: that is most of what makes node's own HTTP
// client slow.
import net from 'node:net';
import { bytesRead, ReadBuffer } from '../readinto.js';
import { endpointKey, type Endpoint } from '../types.js';

/** What a request in flight receives from the upstream socket it holds. */
export interface UpstreamOwner {
  onUpstreamConnect(conn: UpstreamConn): void;
  /**
   * Bytes from the upstream, in a buffer the pool reuses for its next read unless this returns
   * true: the bytes are still referenced (kept for later, or queued behind a write).
   */
  onUpstreamData(conn: UpstreamConn, chunk: Buffer): boolean;
  onUpstreamEnd(conn: UpstreamConn): void;
  onUpstreamClose(conn: UpstreamConn): void;
  onUpstreamDrain(conn: UpstreamConn): void;
}

export class UpstreamConn {
  owner: UpstreamOwner | null = null;
  /** Connected (a failure before this is a connect failure). */
  connected = false;
  /** Has served a request before the current one: a close before any byte may be a keep-alive race. */
  reused = false;
  closed = false;
  /** The upstream ended its side (FIN): the socket cannot be pooled again. */
  ended = false;
  error: Error | undefined;
  /** The connect took longer than the pool's connect timeout. */
  timedOut = false;
  idleSince = 0;

  constructor(
    readonly socket: net.Socket,
    readonly endpoint: Endpoint,
    readonly key: string,
  ) {}
}

export interface PoolOptions {
  /** Idle time after which a pooled socket is closed (keep it below the upstreams' own keep-alive timeout). */
  idleTimeoutMs: number;
  maxIdlePerEndpoint: number;
  /** A connect slower than this counts as failed (and is retried elsewhere). */
  connectTimeoutMs: number;
  onConnection?(endpoint: Endpoint): void;
}

export class UpstreamPool {
  private readonly idle = new Map<string, UpstreamConn[]>();
  private idleCount = 0;
  private readonly live = new Set<UpstreamConn>();
  private sweeper: NodeJS.Timeout | undefined;
  private closing = false;
  private drained: (() => void) | undefined;

  constructor(private readonly opts: PoolOptions) {}

  /** An idle keep-alive socket to `endpoint` (unless `fresh`), else a new connection. */
  acquire(endpoint: Endpoint, owner: UpstreamOwner, fresh: boolean): UpstreamConn {
    const key = endpointKey(endpoint);
    if (!fresh) {
      const list = this.idle.get(key);
      let conn: UpstreamConn | undefined;
      while ((conn = list?.pop()) !== undefined) {
        this.idleCount--;
        if (conn.closed || conn.socket.destroyed) continue;
        conn.owner = owner;
        conn.reused = true;
        return conn;
      }
      if (list?.length === 0) this.idle.delete(key);
      if (this.idleCount === 0) this.stopSweeper();
    }
    return this.connect(endpoint, key, owner);
  }

  /** Gives a socket whose exchange completed cleanly back to the pool (or closes it). */
  release(conn: UpstreamConn): void {
    conn.owner = null;
    if (conn.closed) return;
    const list = this.idle.get(conn.key) ?? [];
    if (this.closing || conn.ended || list.length >= this.opts.maxIdlePerEndpoint) {
      conn.socket.destroy();
      return;
    }
    if (list.length === 0) this.idle.set(conn.key, list);
    conn.idleSince = performance.now();
    list.push(conn);
    this.idleCount++;
    if (conn.socket.isPaused()) conn.socket.resume();
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(50, this.opts.idleTimeoutMs / 4)).unref();
  }

  /** Closes a socket that cannot be reused (error, unknown state, upgrade ended). */
  discard(conn: UpstreamConn): void {
    conn.owner = null;
    conn.socket.destroy();
  }

  get size(): { idle: number; live: number } {
    return { idle: this.idleCount, live: this.live.size };
  }

  /** Closes idle sockets; sockets in use close when released. Resolves when all are closed. */
  close(): Promise<void> {
    this.closing = true;
    for (const list of [...this.idle.values()]) for (const conn of [...list]) this.retire(conn);
    this.stopSweeper();
    if (this.live.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.drained = resolve));
  }

  private connect(endpoint: Endpoint, key: string, owner: UpstreamOwner): UpstreamConn {
    // Reads go into one buffer per socket (no Buffer and no stream bookkeeping per read), handed
    // to whoever holds the socket; when nobody does, bytes nobody asked for lose the framing.
    const readBuffer = new ReadBuffer();
    const socket: net.Socket = net.connect({
      host: endpoint.ip,
      port: endpoint.port,
      noDelay: true,
      onread: {
        buffer: readBuffer.next,
        callback: (bytes: number, buffer: Uint8Array) => {
          if (conn.owner === null) {
            socket.destroy();
            return false;
          }
          if (conn.owner.onUpstreamData(conn, bytesRead(bytes, buffer))) readBuffer.hold();
          return true;
        },
      },
    });
    const conn = new UpstreamConn(socket, endpoint, key);
    conn.owner = owner;
    this.live.add(conn);
    socket.setTimeout(this.opts.connectTimeoutMs);
    socket.on('timeout', () => {
      if (conn.connected) return;
      conn.timedOut = true;
      socket.destroy();
    });
    socket.on('connect', () => {
      socket.setTimeout(0);
      conn.connected = true;
      this.opts.onConnection?.(endpoint);
      conn.owner?.onUpstreamConnect(conn);
    });
    socket.on('end', () => {
      conn.ended = true;
      if (conn.owner !== null) conn.owner.onUpstreamEnd(conn);
      else socket.destroy();
    });
    socket.on('drain', () => conn.owner?.onUpstreamDrain(conn));
    socket.on('error', (err) => (conn.error ??= err));
    socket.on('close', () => {
      conn.closed = true;
      this.live.delete(conn);
      this.removeIdle(conn);
      const owner = conn.owner;
      conn.owner = null;
      owner?.onUpstreamClose(conn);
      if (this.live.size === 0 && this.drained !== undefined) {
        const drained = this.drained;
        this.drained = undefined;
        drained();
      }
    });
    return conn;
  }

  private removeIdle(conn: UpstreamConn): void {
    const list = this.idle.get(conn.key);
    if (list === undefined) return;
    const i = list.indexOf(conn);
    if (i < 0) return;
    list.splice(i, 1);
    this.idleCount--;
    if (list.length === 0) this.idle.delete(conn.key);
    if (this.idleCount === 0) this.stopSweeper();
  }

  private sweep(): void {
    const oldest = performance.now() - this.opts.idleTimeoutMs;
    for (const list of [...this.idle.values()]) {
      // Each list is ordered by release time: the stale ones are at the front.
      const stale = list.filter((c) => c.idleSince <= oldest);
      for (const conn of stale) this.retire(conn);
    }
  }

  private retire(conn: UpstreamConn): void {
    this.removeIdle(conn);
    conn.socket.destroy();
  }

  private stopSweeper(): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
