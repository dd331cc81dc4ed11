// The proxy's TCP listeners. Where the native relay is built, the listening socket is native
// (relay.ts listenNative): connections are accepted in native code and come to the forwarder as
// bare descriptors. The TCP forwarder relays them from their first byte with no Node socket at
// all; the HTTP forwarder makes the one socket it reads through around the descriptor. Node's
// own accept would make a handle and a socket per connection, ask for the peer's address, and
// (for reads into the forwarder's buffers, readinto.ts) a second socket. A forwarder that takes
// no descriptor gets a socket made around it, paused, as from a net.Server that pauses on
// connect. Where the module is not built, the listener is such a net.Server.
import { createServer, isIP, Socket, type Server, type SocketConstructorOpts } from 'node:net';
import { listenNative } from './relay.js';
import type { Carried, Forwarder } from './types.js';

/** Connections waiting to be accepted, as Node's default. */
const BACKLOG = 511;

export interface TcpListenOptions {
  /** An IP address. */
  host: string;
  /** 0: any free port. */
  port: number;
  /** The forwarder of the port now, looked up per connection; undefined refuses it with an RST. */
  forwarder(): Forwarder | undefined;
  /** Every accepted connection is in here until it ends, so the owner can destroy them on shutdown. */
  connections: Set<Carried>;
  /** Accept in native code where the module is built (default true). */
  native?: boolean;
  /** An error of the listener once it listens (a net.Server's). */
  onError?(e: Error): void;
  /**
   * Whether a connection from this client address may be taken now (connection caps shared by
   * every listener of the proxy); the function returned is called once when it ends. Undefined:
   * refused with an RST.
   */
  admit?(clientIP: string): (() => void) | undefined;
}

export interface TcpListener {
  /** The port it listens on (the one chosen, when 0 was asked for). */
  readonly port: number;
  /** Stops listening and frees the port at once; accepted connections go on. */
  close(): void;
}

/** Listens on host:port; rejects with Node's error (its `code`: EADDRINUSE, EACCES) when it cannot. */
export async function listenTcp(opts: TcpListenOptions): Promise<TcpListener> {
  if (opts.native !== false && isIP(opts.host)) {
    const native = listenNative(opts.host, opts.port, BACKLOG, (fd, clientIP) => acceptDescriptor(opts, fd, clientIP));
    if (native) return native;
  }
  return listenWithServer(opts);
}

/** A connection the native listener accepted: true when it is taken, false to reset it. */
function acceptDescriptor(opts: TcpListenOptions, fd: number, clientIP: string): boolean {
  const forwarder = opts.forwarder();
  if (!forwarder) return false;
  const admitted = opts.admit ? opts.admit(clientIP) : () => undefined;
  if (!admitted) return false;
  const release = once(admitted);
  let carried: Carried | undefined;
  let over = false;
  const taken = forwarder.handleDescriptor?.(fd, clientIP, () => {
    over = true;
    release();
    if (carried) opts.connections.delete(carried);
  });
  if (taken === 'reset') {
    release();
    return false;
  }
  if (taken) {
    carried = taken;
    if (!over) opts.connections.add(taken);
    return true;
  }
  let socket: Socket;
  try {
    socket = new Socket({ fd, allowHalfOpen: true, readable: true, writable: true, pauseOnCreate: true } as SocketConstructorOpts);
  } catch {
    release();
    return false;
  }
  carry(opts, forwarder, socket, release);
  return true;
}

/** Gives an accepted socket to the forwarder and tracks what carries it; `release` runs when it closes. */
function carry(opts: TcpListenOptions, forwarder: Forwarder, socket: Socket, release: () => void): void {
  socket.on('error', () => undefined);
  const client = forwarder.handle(socket);
  opts.connections.add(client);
  client.once('close', () => {
    opts.connections.delete(client);
    release();
  });
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}

function listenWithServer(opts: TcpListenOptions): Promise<TcpListener> {
  // Paused on connect: nothing reads a client socket before its forwarder decides how (the TCP
  // forwarder gives an unread one to the native relay whole).
  const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
    const forwarder = opts.forwarder();
    const admitted = forwarder && (opts.admit ? opts.admit(socket.remoteAddress ?? '') : () => undefined);
    if (!forwarder || !admitted) {
      socket.on('error', () => undefined);
      socket.resetAndDestroy();
      return;
    }
    carry(opts, forwarder, socket, once(admitted));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.off('error', reject);
      server.on('error', (e) => opts.onError?.(e));
      const { port } = server.address() as { port: number };
      resolve({ port, close: () => void server.close() });
    });
  });
}
