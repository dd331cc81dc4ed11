// The contracts inside the service proxy: what a balancer hands out (an endpoint), how the
// forwarders ask for one and report a failure, and what they tell the metrics.
import type { Socket } from 'node:net';

/** One ready backend of a Service port: `nodeIP:allocatedPort` in the hostport network mode. */
export interface Endpoint {
  ip: string;
  port: number;
  /** The pod behind it (targetRef name), for metrics and `tug traffic`. */
  pod?: string;
}

export function endpointKey(e: Endpoint): string {
  return `${e.ip}:${e.port}`;
}

/** Chooses endpoints for one Service port (round robin, ClientIP affinity, passive health). */
export interface Picker {
  /**
   * An endpoint for a new connection (TCP) or request (HTTP) from `clientIP`, not one of
   * `exclude` (those already failed for this attempt); undefined when none is left.
   */
  pick(clientIP: string, exclude?: ReadonlySet<string>): Endpoint | undefined;
  /** A connect failure or a reset before any byte came back: skip this endpoint for a while. */
  failed(endpoint: Endpoint): void;
}

/** What forwarders report, so the proxy's metrics need no knowledge of how they work. */
export interface ForwardObserver {
  connection?(endpoint: Endpoint): void;
  request?(endpoint: Endpoint | undefined, code: number, seconds: number): void;
  upstreamFailure?(endpoint: Endpoint, reason: 'connect' | 'reset' | 'timeout'): void;
}

/** Whether a connect failed for this process's want of descriptors or memory, no fault of the endpoint. */
export function isLocalFailure(err: Error | undefined): err is NodeJS.ErrnoException {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EMFILE' || code === 'ENFILE' || code === 'ENOBUFS' || code === 'ENOMEM';
}

/** What carries a client connection: a socket, or a connection relayed from a bare descriptor. */
export interface Carried {
  destroy(): void;
}

/** Takes over an accepted client connection of one Service port. */
export interface Forwarder {
  /**
   * Takes `client` (call it in the server's 'connection' callback); returns the socket that now
   * carries the connection, which is a new one when the forwarder reads into its own buffers.
   * A server that pauses on connect hands over sockets nothing has read yet, which the TCP
   * forwarder relays natively from the first byte.
   */
  handle(client: Socket): Socket;
  /**
   * Takes an accepted connection that is a bare descriptor (the native listener's, see
   * listener.ts): the TCP forwarder relays it natively, the HTTP one reads it through a socket
   * of its own. Returns what carries it (destroying it ends the connection; `ended` is called
   * once it is over), 'reset' when there is no endpoint (the caller resets the client), or
   * undefined when it does not take it: the caller then makes a socket around the descriptor
   * and calls `handle`.
   */
  handleDescriptor?(fd: number, clientIP: string, ended: () => void): Carried | 'reset' | undefined;
  /** Ends idle upstream connections and stops taking work (open client connections finish). */
  close(): Promise<void>;
}
