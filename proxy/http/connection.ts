// One client connection of an `appProtocol: http` Service port. Requests are taken one at a
// time (pipelined bytes wait in `pending`), each goes to the endpoint the Picker chooses over a
// pooled keep-alive upstream socket, bodies stream through with their own framing and with
// back-pressure both ways, and the response is passed back as received but for hop-by-hop
// fields. Only what framing needs is parsed; nothing is decoded or re-encoded. After a 101 the
// connection is a tunnel of raw bytes, handed to the native relay (../relay.ts) once nothing is
// queued either way.
import type net from 'node:net';
import type { HealthPicker } from '../balancer.js';
import { bytesRead, ReadBuffer, readInto, socketOnDescriptor } from '../readinto.js';
import { startRelay, type Relay } from '../relay.js';
import { endpointKey, isLocalFailure, type Endpoint, type ForwardObserver, type Picker } from '../types.js';
import { clientResponseHead, localResponse, upstreamRequestHead, type ClientConnectionField } from './heads.js';
import { ChunkedScanner, isHeadError, parseRequestHead, parseResponseHead, responseFraming, responseKeepAlive, type Framing, type RequestHead, type ResponseHead } from './parser.js';
import type { UpstreamConn, UpstreamOwner, UpstreamPool } from './pool.js';

/** What a client connection needs from the forwarder that owns it. */
export interface ConnectionContext {
  readonly service: string;
  readonly picker: () => Picker;
  readonly observer: ForwardObserver | undefined;
  readonly pool: UpstreamPool;
  readonly maxHeadBytes: number;
  /** Request body bytes kept for a retry; a longer body is not retried. */
  readonly retryBodyBytes: number;
  /** The forwarder is closing: no new requests, no keep-alive. */
  readonly closing: boolean;
  /** Tunnels (after a 101) go to the native relay when it is built. */
  readonly nativeRelay: boolean;
  removed(conn: ClientConnection): void;
}

const HEAD: number = 0; // waiting for (the rest of) a request head
const BODY: number = 1; // streaming the request body upstream
const WAITING: number = 2; // request sent, response on its way
const TUNNEL: number = 3; // after 101: raw bytes both ways
const DONE: number = 4; // closing: nothing more is read or answered

/** Pipelined bytes buffered while a response is on its way before reading pauses. */
const MAX_PENDING = 64 * 1024;
/** Body bytes written with the response head in one buffer (bigger ones are corked). */
const SMALL_COPY = 8 * 1024;
const MAX_ATTEMPTS = 3;
/** Methods that may be resent after an upstream closed a fresh connection without answering. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** One request and its response. */
class Exchange {
  readonly started = performance.now();
  conn: UpstreamConn | null = null;
  endpoint: Endpoint | undefined;
  attempts = 0;
  exclude: Set<string> | undefined;
  readonly headText: string;
  /** Body bytes sent so far, for a retry; null once they exceeded the retry limit. */
  bodyCopy: Buffer[] | null = [];
  bodyCopyBytes = 0;
  bodyDone: boolean;
  bodyRemaining = 0;
  readonly bodyScanner: ChunkedScanner | null;
  /** The proxy answers this request itself (no endpoint, upstream failed) once the body is read. */
  local: { status: number; text: string } | undefined;

  /** Upstream bytes of a response head not complete yet. */
  respBuf: Buffer | null = null;
  resp: ResponseHead | null = null;
  respFraming: Framing = { kind: 'none' };
  respRemaining = 0;
  respScanner: ChunkedScanner | null = null;
  respDone = false;
  /** Some response bytes (maybe an interim 100) reached the client: no retry, no 502 any more. */
  respStarted = false;
  upstreamReusable = false;
  clientKeepAlive = false;
  upstreamPaused = false;

  constructor(
    readonly head: RequestHead,
    clientIP: string,
  ) {
    this.headText = upstreamRequestHead(head, clientIP);
    const framing = head.framing;
    this.bodyDone = framing.kind === 'none';
    if (framing.kind === 'length') this.bodyRemaining = framing.length;
    this.bodyScanner = framing.kind === 'chunked' ? new ChunkedScanner() : null;
  }

  get seconds(): number {
    return (performance.now() - this.started) / 1000;
  }
}

function connectionField(head: RequestHead, keepAlive: boolean): ClientConnectionField {
  if (!keepAlive) return 'close';
  return head.minor === 0 ? 'keep-alive' : undefined;
}

export class ClientConnection implements UpstreamOwner {
  private state = HEAD;
  private pending: Buffer | null = null;
  private ex: Exchange | null = null;
  private paused = false;
  private clientEnded = false;
  private closed = false;
  private inLoop = false;
  /** When the connection last became idle (HEAD) or started closing (DONE). */
  private since = performance.now();
  private readonly clientIP: string;

  /** The client connection, read into `input`. */
  readonly socket: net.Socket;
  private readonly input = new ReadBuffer();
  /** The client socket reads through `onread` (made so, or readInto moved its handle), so a pause stops its reads at once. */
  private readonly ownReads: boolean;
  /** The native relay carrying the tunnel, once it took it. */
  private relay: Relay | undefined;

  /** Takes an accepted socket, or the bare descriptor of one (a native listener's: it throws when that is no TCP socket). */
  constructor(
    private readonly ctx: ConnectionContext,
    accepted: net.Socket | { fd: number; clientIP: string },
  ) {
    const ip = ('fd' in accepted ? accepted.clientIP : accepted.remoteAddress) ?? '';
    this.clientIP = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
    const onread = {
      buffer: this.input.next,
      callback: (bytes: number, buffer: Uint8Array) => {
        this.onData(bytesRead(bytes, buffer));
        if (this.holdsInput()) this.input.hold();
        return true;
      },
    };
    // Answer what a client sent before its FIN (`printf ... | nc`): our side stays writable.
    const socket = 'fd' in accepted ? socketOnDescriptor(accepted.fd, onread, true) : readInto(accepted, onread, true);
    this.socket = socket;
    this.ownReads = socket !== accepted;
    socket.allowHalfOpen = true;
    // A descriptor comes from the native listener, which set TCP_NODELAY already.
    if (!('fd' in accepted)) socket.setNoDelay(true);
    socket.on('end', () => this.onEnd());
    socket.on('drain', () => this.onDrain());
    socket.on('error', () => {}); // 'close' follows; a client's reset concerns only its connection
    socket.on('close', () => this.onClose());
  }

  /** Forwarder closing: drop the connection now unless a request is in flight. */
  shutdown(): void {
    if (this.state === BODY || this.state === WAITING) return; // closes after its response
    this.socket.destroy();
    const conn = this.ex?.conn;
    if (conn) this.ctx.pool.discard(conn);
  }

  /** Idle keep-alive (or a head that never completes) and lingering closes end here. */
  expire(now: number, idleMs: number, lingerMs: number): void {
    if ((this.state === HEAD && now - this.since > idleMs) || (this.state === DONE && now - this.since > lingerMs)) {
      this.socket.destroy();
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  // ---- client side ----

  private onData(chunk: Buffer): void {
    const state = this.state;
    if (state === BODY) {
      const rest = this.consumeBody(chunk);
      if (rest !== null) this.append(rest);
      this.run();
    } else if (state === TUNNEL) {
      const conn = this.ex?.conn;
      if (conn && !conn.socket.write(chunk)) this.updateFlow();
      else this.tunnelToRelay();
    } else if (state === HEAD || state === WAITING) {
      this.append(chunk);
      if (state === HEAD) this.run();
      else this.updateFlow();
    }
    // DONE: a closing connection drops what still comes in.
  }

  /** Whether bytes of the last read may still be referenced: kept, or queued behind a write upstream. */
  private holdsInput(): boolean {
    if (this.pending !== null) return true;
    const ex = this.ex;
    if (ex === null) return false;
    if (ex.bodyCopyBytes > 0) return true;
    const conn = ex.conn;
    return conn !== null && (!conn.connected || conn.socket.writableLength > 0);
  }

  private append(chunk: Buffer): void {
    this.pending = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
  }

  /** Takes the next requests out of `pending`, as long as the connection is between exchanges. */
  private run(): void {
    if (this.inLoop || this.closed) return;
    this.inLoop = true;
    try {
      while (this.state === HEAD && !this.closed) {
        const buf = this.pending;
        if (buf === null || this.ctx.closing) {
          if (this.clientEnded || this.ctx.closing) this.finish();
          break;
        }
        const r = parseRequestHead(buf, this.ctx.maxHeadBytes);
        if (r === undefined) {
          if (this.clientEnded) this.finish();
          break;
        }
        if (isHeadError(r)) {
          this.reject(r.status, r.reason);
          break;
        }
        this.pending = null;
        const rest = r.end < buf.length ? buf.subarray(r.end) : null;
        this.begin(r.head);
        if (rest === null) continue;
        if (this.state === BODY) {
          const conn = this.ex?.conn;
          conn?.socket.cork();
          const after = this.consumeBody(rest);
          conn?.socket.uncork();
          if (after !== null) this.append(after);
        } else if (this.state !== DONE) {
          this.append(rest);
        }
      }
    } finally {
      this.inLoop = false;
    }
    this.updateFlow();
  }

  private begin(head: RequestHead): void {
    const ex = new Exchange(head, this.clientIP);
    this.ex = ex;
    this.state = ex.bodyDone ? WAITING : BODY;
    this.dispatch(ex, false);
  }

  /** Sends the request (again) to an endpoint, or answers it locally when none is left. */
  private dispatch(ex: Exchange, fresh: boolean): void {
    const endpoint = this.ctx.picker().pick(this.clientIP, ex.exclude);
    if (endpoint === undefined) {
      this.answerLocally(ex, 503, `no endpoints available for service "${this.ctx.service}"`);
      return;
    }
    ex.attempts++;
    ex.endpoint = endpoint;
    const conn = this.ctx.pool.acquire(endpoint, this, fresh);
    ex.conn = conn;
    const socket = conn.socket;
    if (ex.bodyCopyBytes === 0) {
      socket.write(ex.headText, 'latin1');
    } else {
      socket.cork();
      socket.write(ex.headText, 'latin1');
      for (const part of ex.bodyCopy!) socket.write(part);
      socket.uncork();
    }
  }

  /** Forwards the body bytes at the start of `chunk`; returns what follows the body. */
  private consumeBody(chunk: Buffer): Buffer | null {
    const ex = this.ex!;
    let end: number;
    let done: boolean;
    if (ex.bodyScanner !== null) {
      end = ex.bodyScanner.scan(chunk, 0);
      if (ex.bodyScanner.failed) {
        this.badRequestBody(ex);
        return null;
      }
      done = ex.bodyScanner.done;
    } else {
      end = Math.min(ex.bodyRemaining, chunk.length);
      ex.bodyRemaining -= end;
      done = ex.bodyRemaining === 0;
    }
    if (end > 0) this.sendBody(ex, end === chunk.length ? chunk : chunk.subarray(0, end));
    const rest = end < chunk.length ? chunk.subarray(end) : null;
    if (done) {
      ex.bodyDone = true;
      if (this.state === BODY) this.state = WAITING;
      if (ex.local !== undefined) this.sendLocal(ex);
    }
    return rest;
  }

  private sendBody(ex: Exchange, part: Buffer): void {
    if (ex.bodyCopy !== null) {
      if (ex.bodyCopyBytes + part.length <= this.ctx.retryBodyBytes) {
        ex.bodyCopy.push(part);
        ex.bodyCopyBytes += part.length;
      } else {
        ex.bodyCopy = null;
      }
    }
    ex.conn?.socket.write(part); // no conn: the proxy answers itself, the body is dropped
  }

  private onEnd(): void {
    this.clientEnded = true;
    switch (this.state) {
      case HEAD:
        this.run();
        break;
      case BODY: // the body was cut short: nothing sensible can be forwarded or answered
        this.socket.destroy();
        break;
      case TUNNEL:
        this.ex?.conn?.socket.end();
        break;
      case DONE:
        this.socket.destroy();
        break;
      // WAITING: answered first, then the loop sees the end
    }
  }

  private onDrain(): void {
    const ex = this.ex;
    if (this.relay !== undefined) return;
    if (ex !== null && ex.upstreamPaused) {
      ex.upstreamPaused = false;
      ex.conn?.socket.resume();
    }
  }

  private onClose(): void {
    this.relay?.close();
    this.closed = true;
    this.state = DONE;
    const conn = this.ex?.conn;
    this.ex = null;
    this.pending = null;
    // Discarding the upstream connection stops its queued writes, the last readers of the input.
    if (conn) this.ctx.pool.discard(conn);
    this.input.release();
    this.ctx.removed(this);
  }

  /** Pauses reading from the client while its bytes cannot go anywhere. */
  private updateFlow(): void {
    if (this.relay !== undefined) return; // the relay reads both sides now
    let pause = false;
    const state = this.state;
    if (state === WAITING) {
      pause = this.pending !== null && this.pending.length > MAX_PENDING;
    } else if (state === BODY || state === TUNNEL) {
      const conn = this.ex?.conn;
      pause = conn != null && (!conn.connected || conn.socket.writableNeedDrain);
    }
    if (pause === this.paused || this.closed) return;
    this.paused = pause;
    if (pause) this.socket.pause();
    else this.socket.resume();
  }

  /** Ends the client connection after what was written; lingering input is dropped. */
  private finish(): void {
    if (this.state === DONE && this.socket.writableEnded) return;
    this.state = DONE;
    this.since = performance.now();
    if (this.ctx.closing) {
      this.socket.destroySoon();
    } else {
      this.socket.end();
      if (this.paused) {
        this.paused = false;
        this.socket.resume();
      }
    }
  }

  /** A request head the proxy refuses: answer and close (the framing can no longer be trusted). */
  private reject(status: number, reason: string): void {
    this.socket.write(localResponse(status, reason, 'close'), 'latin1');
    this.ctx.observer?.request?.(undefined, status, 0);
    this.finish();
  }

  private badRequestBody(ex: Exchange): void {
    const conn = ex.conn;
    ex.conn = null;
    if (conn) this.ctx.pool.discard(conn);
    this.ex = null;
    if (ex.respStarted) {
      this.socket.destroy();
      return;
    }
    this.reject(400, 'invalid chunked request body');
  }

  /** Answers from the proxy itself: now if the request body is read (or never coming), else once it is. */
  private answerLocally(ex: Exchange, status: number, text: string): void {
    ex.local = { status, text };
    ex.conn = null;
    const expectsContinue = ex.head.lower.includes('expect');
    if (ex.bodyDone || expectsContinue) this.sendLocal(ex);
  }

  private sendLocal(ex: Exchange): void {
    const { status, text } = ex.local!;
    const keepAlive = ex.bodyDone && ex.head.keepAlive && !this.ctx.closing;
    this.socket.write(localResponse(status, text, connectionField(ex.head, keepAlive)), 'latin1');
    this.ctx.observer?.request?.(ex.endpoint, status, ex.seconds);
    this.endExchange(keepAlive);
  }

  /** The exchange is over on both sides: next request, or close. */
  private endExchange(keepAlive: boolean): void {
    this.ex = null;
    if (!keepAlive || this.ctx.closing) {
      this.finish();
      return;
    }
    this.state = HEAD;
    this.since = performance.now();
    this.run();
  }

  // ---- upstream side (UpstreamOwner) ----

  onUpstreamConnect(conn: UpstreamConn): void {
    // The balancer's back-off for this endpoint starts over (as the TCP forwarder does).
    (this.ctx.picker() as HealthPicker).succeeded?.(conn.endpoint);
    this.updateFlow();
  }

  onUpstreamDrain(): void {
    this.updateFlow();
  }

  onUpstreamData(conn: UpstreamConn, chunk: Buffer): boolean {
    this.takeUpstreamData(conn, chunk);
    // Kept as the start of a response head, or queued for the client behind earlier bytes.
    return this.ex?.respBuf != null || this.socket.writableLength > 0;
  }

  private takeUpstreamData(conn: UpstreamConn, chunk: Buffer): void {
    const ex = this.ex;
    if (ex === null || ex.conn !== conn) {
      this.ctx.pool.discard(conn);
      return;
    }
    if (this.state === TUNNEL) {
      this.toClient(ex, chunk);
      this.tunnelToRelay();
    } else if (ex.resp === null) {
      this.responseHead(ex, conn, ex.respBuf === null ? chunk : Buffer.concat([ex.respBuf, chunk]));
    } else {
      const end = this.takeResponseBody(ex, chunk, 0);
      if (end < 0) {
        this.socket.destroy(); // the upstream broke framing mid-response
        return;
      }
      if (end > 0) this.toClient(ex, end === chunk.length ? chunk : chunk.subarray(0, end));
      if (ex.respDone) {
        if (end < chunk.length) ex.upstreamReusable = false;
        this.responseComplete(ex);
      }
    }
  }

  private responseHead(ex: Exchange, conn: UpstreamConn, buf: Buffer): void {
    for (;;) {
      const r = parseResponseHead(buf, this.ctx.maxHeadBytes);
      if (r === undefined) {
        ex.respBuf = buf;
        return;
      }
      ex.respBuf = null;
      if (isHeadError(r)) return this.badResponse(ex, conn, r.reason);
      const head = r.head;
      if (head.status === 101) {
        if (!ex.head.upgrade || !ex.bodyDone) return this.badResponse(ex, conn, 'unexpected 101 response');
        return this.startTunnel(ex, buf);
      }
      if (head.status < 200) {
        // Interim (100 Continue, 103 Early Hints): pass it on and wait for the final response.
        ex.respStarted = true;
        this.toClient(ex, buf.subarray(0, r.end));
        if (r.end === buf.length) return;
        buf = buf.subarray(r.end);
        continue;
      }
      const framing = responseFraming(head, ex.head.method);
      if ('status' in framing) return this.badResponse(ex, conn, framing.reason);
      ex.resp = head;
      ex.respFraming = framing;
      if (framing.kind === 'length') ex.respRemaining = framing.length;
      else if (framing.kind === 'chunked') ex.respScanner = new ChunkedScanner();
      ex.upstreamReusable = framing.kind !== 'close' && responseKeepAlive(head);
      ex.clientKeepAlive = ex.head.keepAlive && framing.kind !== 'close' && !this.ctx.closing;
      ex.respStarted = true;

      const text = clientResponseHead(head, connectionField(ex.head, ex.clientKeepAlive));
      const end = this.takeResponseBody(ex, buf, r.end);
      if (end < 0) {
        this.socket.destroy();
        return;
      }
      if (text === undefined) {
        this.toClient(ex, end === buf.length ? buf : buf.subarray(0, end));
      } else if (end === r.end) {
        this.toClient(ex, Buffer.from(text, 'latin1'));
      } else if (end - r.end <= SMALL_COPY) {
        this.toClient(ex, Buffer.concat([Buffer.from(text, 'latin1'), buf.subarray(r.end, end)]));
      } else {
        this.socket.cork();
        this.socket.write(text, 'latin1');
        this.toClient(ex, buf.subarray(r.end, end));
        this.socket.uncork();
      }
      if (ex.respDone) {
        if (end < buf.length) ex.upstreamReusable = false; // bytes after the response: framing lost
        this.responseComplete(ex);
      }
      return;
    }
  }

  /** Where the response body ends in `buf` (from `start`); -1 on a broken chunked body. */
  private takeResponseBody(ex: Exchange, buf: Buffer, start: number): number {
    switch (ex.respFraming.kind) {
      case 'none':
        ex.respDone = true;
        return start;
      case 'length': {
        const n = Math.min(ex.respRemaining, buf.length - start);
        ex.respRemaining -= n;
        if (ex.respRemaining === 0) ex.respDone = true;
        return start + n;
      }
      case 'chunked': {
        const scanner = ex.respScanner!;
        const end = scanner.scan(buf, start);
        if (scanner.failed) return -1;
        if (scanner.done) ex.respDone = true;
        return end;
      }
      case 'close':
        return buf.length;
    }
  }

  private toClient(ex: Exchange, bytes: Buffer): void {
    if (!this.socket.write(bytes) && !ex.upstreamPaused && ex.conn !== null) {
      ex.upstreamPaused = true;
      ex.conn.socket.pause();
    }
  }

  private responseComplete(ex: Exchange): void {
    this.ctx.observer?.request?.(ex.endpoint, ex.resp!.status, ex.seconds);
    const conn = ex.conn!;
    ex.conn = null;
    if (ex.upstreamReusable && ex.bodyDone) this.ctx.pool.release(conn);
    else this.ctx.pool.discard(conn);
    // An upstream that answered before the whole request body arrived: the rest of that body
    // would be read as the next request, so this connection ends here.
    this.endExchange(ex.clientKeepAlive && ex.bodyDone);
  }

  /** The upstream's answer cannot be used and nothing reached the client yet: 502. */
  private badResponse(ex: Exchange, conn: UpstreamConn, reason: string): void {
    this.ctx.pool.discard(conn);
    this.answerLocally(ex, 502, `bad gateway for service "${this.ctx.service}": ${reason}`);
  }

  private startTunnel(ex: Exchange, buf: Buffer): void {
    this.state = TUNNEL;
    ex.respStarted = true;
    this.ctx.observer?.request?.(ex.endpoint, 101, ex.seconds);
    this.toClient(ex, buf);
    if (this.pending !== null) {
      ex.conn!.socket.write(this.pending);
      this.pending = null;
    }
    if (this.clientEnded) ex.conn!.socket.end();
    this.updateFlow();
    this.tunnelToRelay();
  }

  /**
   * Gives the tunnel to the native relay once nothing of it is left in JavaScript: nothing
   * queued either way and neither side ended. It keeps no idle limit, as the tunnel here keeps
   * none; when it ends, closing both sockets lets the connection go (the upstream one is not
   * pooled again).
   */
  private tunnelToRelay(): void {
    const conn = this.ex?.conn;
    if (!this.ctx.nativeRelay || !this.ownReads || this.relay !== undefined || this.state !== TUNNEL || conn == null) return;
    if (this.clientEnded || conn.ended || !conn.connected || this.pending !== null) return;
    const client = this.socket;
    const upstream = conn.socket;
    if (client.destroyed || upstream.destroyed || client.writableLength > 0 || upstream.writableLength > 0) return;
    this.relay = startRelay(client, upstream, 0, () => {
      upstream.destroy();
      client.destroy();
    });
  }

  onUpstreamEnd(conn: UpstreamConn): void {
    const ex = this.ex;
    if (ex === null || ex.conn !== conn) return;
    if (this.state === TUNNEL) {
      this.socket.end();
    } else if (ex.resp !== null && ex.respFraming.kind === 'close') {
      ex.respDone = true;
      this.responseComplete(ex);
    }
    // Otherwise 'close' follows and decides.
  }

  onUpstreamClose(conn: UpstreamConn): void {
    const ex = this.ex;
    if (ex === null || ex.conn !== conn) return;
    ex.conn = null;
    if (this.state === TUNNEL) {
      this.socket.destroySoon();
      return;
    }
    if (ex.respStarted) {
      this.socket.destroy(); // mid-response: the client must not take a cut body for a whole one
      return;
    }
    this.upstreamFailed(ex, conn);
  }

  /** The upstream went away before answering: retry where that is safe, else 502. */
  private upstreamFailed(ex: Exchange, conn: UpstreamConn): void {
    const endpoint = conn.endpoint;
    const connectFailure = !conn.connected;
    if (connectFailure && isLocalFailure(conn.error)) {
      // This process could not make the socket: no fault of the endpoint, nor of the next one.
      this.answerLocally(ex, 503, `service "${this.ctx.service}" unavailable: the proxy cannot open a connection now (${conn.error.code})`);
      this.updateFlow();
      return;
    }
    if (connectFailure || !conn.reused) {
      // A reused socket closed under a new request is the keep-alive race, not the endpoint's fault.
      this.ctx.picker().failed(endpoint);
      this.ctx.observer?.upstreamFailure?.(endpoint, conn.timedOut ? 'timeout' : connectFailure ? 'connect' : 'reset');
      (ex.exclude ??= new Set()).add(endpointKey(endpoint));
    }
    const safe =
      ex.bodyCopy !== null && ex.respBuf === null && (connectFailure || conn.reused || IDEMPOTENT.has(ex.head.method));
    if (safe && ex.attempts < MAX_ATTEMPTS) {
      this.dispatch(ex, !connectFailure);
      this.updateFlow();
      return;
    }
    const what = conn.timedOut ? `connect to ${endpointKey(endpoint)} timed out` : connectFailure ? `could not connect to ${endpointKey(endpoint)}` : `${endpointKey(endpoint)} closed the connection`;
    this.answerLocally(ex, 502, `bad gateway for service "${this.ctx.service}": ${what}`);
    this.updateFlow();
  }
}
