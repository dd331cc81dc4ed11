// The mesh tunnel between node proxies, after Istio ambient's HBONE: HTTP/2 CONNECT over mutual
// TLS 1.3 (port 15008). Both ends present workload certificates of the mesh CA: the client the
// source workload's, the server the destination workload's, chosen by the server name (SNI) the
// client sends, and each end checks the other's SPIFFE ID. Many connections share one TLS session
// per (node, source, destination): each is an HTTP/2 stream, so a handshake is paid once, not per
// connection. Sessions are pinged while idle and dropped when they fail.
import http2 from 'node:http2';
import { createSecureContext, type PeerCertificate, type SecureContext, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { parseSpiffeId } from '../lib/spiffe.js';

export const TUNNEL_PORT = 15008;
const CONNECT_TIMEOUT_MS = 5000;
const PING_EVERY_MS = 10_000;
/** Bigger HTTP/2 windows than the 64 KiB default, so one stream is not held back by flow control. */
const WINDOW = 4 * 1024 * 1024;

export interface TunnelIdentity {
  /** The SPIFFE ID. */
  id: string;
  keyPem: string;
  certPem: string;
}

export interface Endpoint {
  host: string;
  port: number;
}

/** The server name a client sends to ask for identity `id`: `<sa>.<ns>.sa.<trust domain>`. */
export function serverNameOf(id: string): string {
  const w = parseSpiffeId(id);
  if (!w) throw new Error(`"${id}" is not a workload SPIFFE ID`);
  return `${w.serviceAccount}.${w.namespace}.sa.${w.trustDomain}`;
}

/** The workload SPIFFE ID a peer's certificate names, if it names one. */
export function peerIdentity(cert: PeerCertificate | undefined): string | undefined {
  const uri = cert?.subjectaltname?.split(', ').find((n) => n.startsWith('URI:'));
  return uri && parseSpiffeId(uri.slice(4)) ? uri.slice(4) : undefined;
}

export interface TunnelServerOptions {
  /** The certificate of a workload of this node, by SPIFFE ID. */
  certificateFor: (id: string) => TunnelIdentity | undefined;
  /** The workload identities of this node (to find one by server name). */
  identities: () => string[];
  /** The mesh CA's roots. */
  bundle: () => string;
  /**
   * Opens the connection a client asked for, as `peer` to the workload `local`; a number refuses
   * it with that HTTP status (403: not authorized, 502: the target does not answer).
   */
  connect: (target: Endpoint, peer: string, local: string) => Promise<Duplex | number>;
  log?: (message: string) => void;
}

export class TunnelServer {
  private readonly server: http2.Http2SecureServer;
  private readonly contexts = new Map<string, { key: string; context: SecureContext }>();
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  constructor(private readonly opts: TunnelServerOptions) {
    this.server = http2.createSecureServer({
      minVersion: 'TLSv1.3',
      requestCert: true,
      rejectUnauthorized: true,
      allowHTTP1: false,
      settings: { initialWindowSize: WINDOW },
      SNICallback: (name, cb) => {
        const context = this.contextFor(name);
        cb(context ? null : new Error(`no workload of this node answers to ${name}`), context);
      },
    });
    this.server.on('session', (s) => {
      this.sessions.add(s);
      s.on('close', () => this.sessions.delete(s));
    });
    this.server.on('stream', (stream, headers) => void this.onStream(stream, headers));
    this.server.on('tlsClientError', (e) => this.opts.log?.(`mesh tunnel: a handshake failed: ${e.message}`));
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as { port: number }).port);
      });
    });
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The TLS context for the workload a server name asks for (made again when its certificate or the roots change). */
  private contextFor(name: string): SecureContext | undefined {
    const id = this.identityNamed(name);
    const cert = id && this.opts.certificateFor(id);
    if (!cert) return undefined;
    const key = `${cert.certPem}|${this.opts.bundle()}`;
    const kept = this.contexts.get(cert.id);
    if (kept?.key === key) return kept.context;
    const context = createSecureContext({ key: cert.keyPem, cert: cert.certPem, ca: this.opts.bundle(), minVersion: 'TLSv1.3' });
    this.contexts.set(cert.id, { key, context });
    return context;
  }

  private async onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): Promise<void> {
    stream.on('error', () => undefined);
    const socket = stream.session?.socket as TLSSocket | undefined;
    const peer = peerIdentity(socket?.getPeerCertificate());
    const local = this.localOf(socket);
    const target = parseAuthority(String(headers[':authority'] ?? ''));
    if (headers[':method'] !== 'CONNECT') return refuse(stream, 405);
    if (!peer || !local) return refuse(stream, 403);
    if (!target) return refuse(stream, 400);
    let upstream: Duplex | number;
    try {
      upstream = await this.opts.connect(target, peer, local);
    } catch {
      upstream = 502;
    }
    if (typeof upstream === 'number') return refuse(stream, upstream);
    if (stream.destroyed) return void upstream.destroy();
    stream.respond({ ':status': 200 });
    splice(upstream, stream);
  }

  /** The local identity a session was opened for, from the server name its client sent. */
  private localOf(socket: TLSSocket | undefined): string | undefined {
    return socket?.servername ? this.identityNamed(socket.servername) : undefined;
  }

  /** The workload of this node a server name asks for. */
  private identityNamed(name: string): string | undefined {
    return this.opts.identities().find((i) => serverNameOf(i) === name);
  }
}

function refuse(stream: http2.ServerHttp2Stream, status: number): void {
  if (!stream.destroyed && !stream.headersSent) stream.respond({ ':status': status }, { endStream: true });
}

function parseAuthority(authority: string): Endpoint | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(authority);
  return m && Number(m[2]) > 0 && Number(m[2]) < 65536 ? { host: m[1], port: Number(m[2]) } : undefined;
}

/**
 * Joins a TCP socket and a tunnel stream: data both ways, and an end either way becomes an end of
 * the other (END_STREAM for a FIN, and the other way round). A socket that fails or closes ends
 * the stream rather than resetting it: a peer that receives many RST_STREAMs in a row takes them
 * for an attack (HTTP/2 rapid reset) and closes the whole session.
 */
export function splice(socket: Duplex, stream: Duplex): void {
  socket.pipe(stream);
  stream.pipe(socket);
  const endStream = () => {
    if (!stream.writableEnded && !stream.destroyed) stream.end();
  };
  socket.on('error', endStream).on('close', endStream);
  stream.on('error', () => socket.destroy());
  stream.on('close', () => {
    if (!socket.destroyed) socket.end();
  });
}

/** The session a CONNECT was sent on went away before it was answered. */
class SessionGone extends Error {}

export interface TunnelClientOptions {
  certificateFor: (id: string) => TunnelIdentity | undefined;
  bundle: () => string;
  connectTimeoutMs?: number;
}

/** Opens streams through other nodes' tunnels, sharing one session per (node, source, destination). */
export class TunnelClient {
  private readonly sessions = new Map<string, http2.ClientHttp2Session>();
  /** The opens waiting for an answer on each session: a session error fails them with its reason. */
  private readonly pending = new WeakMap<http2.ClientHttp2Session, Set<(e: Error) => void>>();
  private closed = false;

  constructor(private readonly opts: TunnelClientOptions) {}

  /** How many sessions are open (for tests and metrics). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /**
   * A connection to `target` through the tunnel at `node`, made as workload `source`, to a
   * workload that must prove it is `destination`. Rejects with the status when refused.
   */
  async open(node: Endpoint, source: string, destination: string, target: Endpoint): Promise<Duplex> {
    const where = `the tunnel at ${node.host}:${node.port}`;
    let stream: http2.ClientHttp2Stream;
    let status: number;
    try {
      ({ stream, status } = await this.request(node, source, destination, target));
    } catch (e) {
      // A session that went away under a stream that had no answer yet (a GOAWAY, a connection
      // that broke): the CONNECT is tried once more, on a new session.
      if (!(e instanceof SessionGone)) throw e;
      ({ stream, status } = await this.request(node, source, destination, target));
    }
    if (status !== 200) {
      stream.destroy();
      throw Object.assign(new Error(`${where} refused the connection to ${target.host}:${target.port}: HTTP ${status}`), { status });
    }
    return stream;
  }

  /** One CONNECT and its answer. */
  private async request(node: Endpoint, source: string, destination: string, target: Endpoint): Promise<{ stream: http2.ClientHttp2Stream; status: number }> {
    const session = this.session(node, source, destination);
    const stream = session.request({ ':method': 'CONNECT', ':authority': `${target.host}:${target.port}` });
    stream.on('error', () => undefined);
    const timeout = this.opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    const where = `the tunnel at ${node.host}:${node.port}`;
    let failed: ((e: Error) => void) | undefined;
    const status = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer from ${where} within ${timeout} ms`)), timeout);
      failed = (e) => (clearTimeout(timer), reject(new SessionGone(`${where}: ${e.message}`, { cause: e })));
      this.pending.get(session)?.add(failed);
      stream.once('response', (h) => (clearTimeout(timer), resolve(Number(h[':status']))));
      // The session's error, when there is one, says more than the stream's end: it comes first.
      stream.once('close', () =>
        setImmediate(() => {
          clearTimeout(timer);
          const message = `${where} closed the stream (code ${stream.rstCode})`;
          reject(session.destroyed || session.closed ? new SessionGone(message) : new Error(message));
        }),
      );
    })
      .catch((e) => {
        stream.destroy();
        throw e;
      })
      .finally(() => this.pending.get(session)?.delete(failed!));
    return { stream, status };
  }

  close(): void {
    this.closed = true;
    for (const s of this.sessions.values()) s.destroy();
    this.sessions.clear();
  }

  private session(node: Endpoint, source: string, destination: string): http2.ClientHttp2Session {
    if (this.closed) throw new Error('the tunnel client is closed');
    const key = `${node.host}:${node.port}|${source}|${destination}`;
    const open = this.sessions.get(key);
    if (open && !open.closed && !open.destroyed) return open;
    const cert = this.opts.certificateFor(source);
    if (!cert) throw new Error(`this node holds no certificate for ${source}`);
    const session = http2.connect(`https://${node.host}:${node.port}`, {
      key: cert.keyPem,
      cert: cert.certPem,
      ca: this.opts.bundle(),
      minVersion: 'TLSv1.3',
      servername: serverNameOf(destination),
      settings: { initialWindowSize: WINDOW },
      checkServerIdentity: (_name, peer) => (peerIdentity(peer) === destination ? undefined : new Error(`the tunnel at ${node.host}:${node.port} is not ${destination} (its certificate names ${peerIdentity(peer) ?? 'no workload'})`)),
    });
    this.sessions.set(key, session);
    const forget = () => this.sessions.get(key) === session && this.sessions.delete(key);
    const waiting = new Set<(e: Error) => void>();
    this.pending.set(session, waiting);
    session.on('error', (e) => {
      forget();
      for (const fail of waiting) fail(e);
    });
    session.on('close', forget);
    session.on('goaway', forget);
    const ping = setInterval(() => session.ping(() => undefined), PING_EVERY_MS);
    ping.unref();
    session.on('close', () => clearInterval(ping));
    session.on('connect', () => session.setLocalWindowSize(WINDOW));
    return session;
  }
}
