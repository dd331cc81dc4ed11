// Limits that keep a daemon standing under hostile load: how many connections a listener holds,
// how many one client address may hold, and the descriptors always kept spare for the daemon's
// own work (heartbeats, checkpoint writes, the store), so that a flood of connections makes
// clients wait or go away but never makes the daemon fail with EMFILE.
import { readdirSync, readFileSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';

/** Descriptors no listener may take: the daemon's own files, heartbeats and outgoing calls. */
export const DESCRIPTOR_RESERVE = 256;

/** The soft limit on open files (RLIMIT_NOFILE), or undefined where /proc does not say. */
export function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/** Descriptors this process has open now. */
export function openDescriptors(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

/**
 * How many connections listeners may hold together: what the open file limit leaves after the
 * descriptors open now and the reserve, never less than `floor`.
 */
export function connectionBudget(reserve = DESCRIPTOR_RESERVE, floor = 64): number {
  const limit = openFileLimit();
  if (limit === undefined) return 65_536;
  return Math.max(floor, limit - openDescriptors() - reserve);
}

export interface ConnectionLimits {
  /** Connections the listener holds at once (net.Server maxConnections: more are closed at accept). */
  maxConnections: number;
  /** Connections one client address may hold at once; more are closed at once. */
  perSource: number;
  /** Called for each connection turned away for its address. */
  onRefused?(source: string): void;
}

/** Caps `server`'s connections, in all and per client address. */
export function limitConnections(server: Server, limits: ConnectionLimits): void {
  server.maxConnections = limits.maxConnections;
  const perSource = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const source = socket.remoteAddress ?? '';
    const held = perSource.get(source) ?? 0;
    if (held >= limits.perSource) {
      socket.on('error', () => undefined);
      socket.destroy();
      limits.onRefused?.(source);
      return;
    }
    perSource.set(source, held + 1);
    socket.once('close', () => {
      const n = (perSource.get(source) ?? 1) - 1;
      if (n > 0) perSource.set(source, n);
      else perSource.delete(source);
    });
  });
}

/**
 * At most `maxPending` connections may be waiting to finish their TLS handshake; past that, the one
 * that has waited longest is closed to make room. Clients that never speak cannot crowd out those
 * that handshake at once, however many they open.
 */
export function limitPendingHandshakes(server: TlsServer, maxPending: number, onEvicted?: () => void): void {
  // By the client's address and port: the TLS socket reports the same as the one it wraps.
  const pending = new Map<string, Socket>();
  server.on('connection', (socket: Socket) => {
    if (socket.destroyed) return;
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    pending.set(key, socket);
    socket.once('close', () => {
      if (pending.get(key) === socket) pending.delete(key);
    });
    if (pending.size > maxPending) {
      const [oldestKey, oldest] = pending.entries().next().value as [string, Socket];
      pending.delete(oldestKey);
      oldest.destroy();
      onEvicted?.();
    }
  });
  server.on('secureConnection', (tlsSocket: TLSSocket) => pending.delete(`${tlsSocket.remoteAddress}|${tlsSocket.remotePort}`));
}

/**
 * Connection slots shared by several listeners: at most `max` at once, at most `perSource` of them
 * from one client address. admit() gives a release function, or undefined when there is no slot.
 */
export class ConnectionShares {
  private total = 0;
  private peak = 0;
  private readonly bySource = new Map<string, number>();

  /**
   * `onDrained` runs when `drainedAfter` connections (default 1,024) have ended since the most
   * there were: the end of a flood, when memory it took can be given back.
   */
  constructor(
    private readonly limits: { max: number; perSource: number; drainedAfter?: number },
    private readonly onRefused?: (reason: 'per-source' | 'capacity') => void,
    private readonly onDrained?: () => void,
  ) {}

  admit(source: string): (() => void) | undefined {
    const held = this.bySource.get(source) ?? 0;
    if (held >= this.limits.perSource) {
      this.onRefused?.('per-source');
      return undefined;
    }
    if (this.total >= this.limits.max) {
      this.onRefused?.('capacity');
      return undefined;
    }
    this.total++;
    this.peak = Math.max(this.peak, this.total);
    this.bySource.set(source, held + 1);
    return () => this.release(source);
  }

  private release(source: string): void {
    this.total--;
    const n = (this.bySource.get(source) ?? 1) - 1;
    if (n > 0) this.bySource.set(source, n);
    else this.bySource.delete(source);
    if (this.peak - this.total >= (this.limits.drainedAfter ?? 1024)) {
      this.peak = this.total;
      this.onDrained?.();
    }
  }
}
