// The HTTP forwarder of one `appProtocol: http` Service port: owns the upstream pool and the
// client connections handed to it, expires idle ones with one sweep timer, and closes it all.
import type net from 'node:net';
import type { ForwardObserver, Forwarder, Picker } from '../types.js';
import { ClientConnection, type ConnectionContext } from './connection.js';
import { UpstreamPool } from './pool.js';

export interface HttpForwarderOptions {
  /** `namespace/name`, named in the proxy's own answers (503 ...). */
  service: string;
  /** The current Picker of the port; asked once per request, so endpoint changes apply at once. */
  picker: () => Picker;
  observer?: ForwardObserver;
  /** A client connection idle between requests (or stuck in a head) this long is closed. Default 60 s. */
  idleTimeoutMs?: number;
  /** Idle pooled upstream sockets are closed after this; keep it below the upstreams' keep-alive timeout. Default 4 s. */
  upstreamIdleTimeoutMs?: number;
  /** An upstream connect slower than this fails over to the next endpoint. Default 3 s. */
  connectTimeoutMs?: number;
  /** Idle keep-alive sockets kept per endpoint. Default 128. */
  maxIdlePerEndpoint?: number;
  /** Request or response head limit; a longer request head gets 431. Default 64 KiB. */
  maxHeadBytes?: number;
  /** Request body bytes kept to resend on a retry; longer bodies are not retried. Default 64 KiB. */
  retryBodyBytes?: number;
  /** How long a closed connection may linger to let the client read the last answer. Default 2 s. */
  lingerMs?: number;
  /** close() destroys whatever is still open after this. Default 10 s. */
  closeGraceMs?: number;
  /** Hand tunnels (websockets, after the 101) to the native relay when it is built. Default true. */
  nativeRelay?: boolean;
}

export class HttpForwarder implements Forwarder, ConnectionContext {
  readonly service: string;
  readonly picker: () => Picker;
  readonly observer: ForwardObserver | undefined;
  readonly pool: UpstreamPool;
  readonly maxHeadBytes: number;
  readonly retryBodyBytes: number;
  readonly nativeRelay: boolean;
  closing = false;

  private readonly idleTimeoutMs: number;
  private readonly lingerMs: number;
  private readonly closeGraceMs: number;
  private readonly connections = new Set<ClientConnection>();
  private sweeper: NodeJS.Timeout | undefined;
  private drained: (() => void) | undefined;

  constructor(opts: HttpForwarderOptions) {
    this.service = opts.service;
    this.picker = opts.picker;
    this.observer = opts.observer;
    this.maxHeadBytes = opts.maxHeadBytes ?? 64 * 1024;
    this.retryBodyBytes = opts.retryBodyBytes ?? 64 * 1024;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
    this.lingerMs = opts.lingerMs ?? 2000;
    this.closeGraceMs = opts.closeGraceMs ?? 10_000;
    this.nativeRelay = opts.nativeRelay ?? true;
    this.pool = new UpstreamPool({
      idleTimeoutMs: opts.upstreamIdleTimeoutMs ?? 4000,
      maxIdlePerEndpoint: opts.maxIdlePerEndpoint ?? 128,
      connectTimeoutMs: opts.connectTimeoutMs ?? 3000,
      onConnection: this.observer?.connection?.bind(this.observer),
    });
  }

  handle(client: net.Socket): net.Socket {
    if (this.closing) {
      client.on('error', () => {});
      client.destroy();
      return client;
    }
    return this.adopt(new ClientConnection(this, client));
  }

  handleDescriptor(fd: number, clientIP: string, ended: () => void): net.Socket | 'reset' | undefined {
    if (this.closing) return undefined; // handle() closes the socket made for it
    let conn: ClientConnection;
    try {
      conn = new ClientConnection(this, { fd, clientIP });
    } catch {
      return 'reset';
    }
    conn.socket.once('close', ended);
    return this.adopt(conn);
  }

  private adopt(conn: ClientConnection): net.Socket {
    this.connections.add(conn);
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(50, Math.min(this.idleTimeoutMs, this.lingerMs) / 4)).unref();
    return conn.socket;
  }

  removed(conn: ClientConnection): void {
    this.connections.delete(conn);
    if (this.connections.size > 0) return;
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
    if (this.drained !== undefined) {
      const drained = this.drained;
      this.drained = undefined;
      drained();
    }
  }

  /** Open client connections: for tests and metrics. */
  get connectionCount(): number {
    return this.connections.size;
  }

  async close(): Promise<void> {
    this.closing = true;
    const clientsClosed =
      this.connections.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.drained = resolve));
    for (const conn of [...this.connections]) conn.shutdown();
    const grace = setTimeout(() => {
      for (const conn of [...this.connections]) conn.destroy();
    }, this.closeGraceMs);
    try {
      await Promise.all([clientsClosed, this.pool.close()]);
    } finally {
      clearTimeout(grace);
    }
  }

  private sweep(): void {
    const now = performance.now();
    for (const conn of [...this.connections]) conn.expire(now, this.idleTimeoutMs, this.lingerMs);
  }
}
