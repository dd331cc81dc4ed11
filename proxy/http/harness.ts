// Test harness for the HTTP forwarder: upstream servers on 127.0.0.1 that say who they are,
// a round-robin Picker, a proxy listener, and a raw client that reads responses off a socket.
// Everything it opens is closed by `Harness.close()`, which the tests call from `t.after`.
import http from 'node:http';
import net from 'node:net';
import { listenTcp, type TcpListener } from '../listener.js';
import { endpointKey, type Carried, type Endpoint, type ForwardObserver, type Picker } from '../types.js';
import { HttpForwarder, type HttpForwarderOptions } from './forwarder.js';
import { ChunkedScanner, isHeadError, parseResponseHead, responseFraming, type ResponseHead } from './parser.js';

export const HOST = '127.0.0.1';

/** Round robin over a fixed list, skipping excluded endpoints; records failures. */
export class RoundRobin implements Picker {
  private next = 0;
  readonly failures: string[] = [];

  constructor(public endpoints: Endpoint[]) {}

  pick(_clientIP: string, exclude?: ReadonlySet<string>): Endpoint | undefined {
    for (let i = 0; i < this.endpoints.length; i++) {
      const e = this.endpoints[this.next++ % this.endpoints.length];
      if (!exclude?.has(endpointKey(e))) return e;
    }
    return undefined;
  }

  failed(endpoint: Endpoint): void {
    this.failures.push(endpointKey(endpoint));
  }
}

/** A server of the test and the sockets it has open (to prove nothing leaks). */
export interface TestServer {
  port: number;
  endpoint: Endpoint;
  sockets: Set<net.Socket>;
  /** Requests whose body was read to the end. */
  completed: number;
  close(): Promise<void>;
}

function track(server: net.Server, sockets: Set<net.Socket>): void {
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
}

async function listen(server: net.Server, sockets: Set<net.Socket>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return (server.address() as net.AddressInfo).port;
}

function closer(server: net.Server, sockets: Set<net.Socket>): () => Promise<void> {
  return () => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
}

/** What `/pull` sends, over and over: a pattern, so a byte out of place shows. */
export const PULL_BLOCK = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 7) % 253));

/**
 * An upstream HTTP server named `name`. Routes: `/name` (its name), `/echo` (request body
 * back, chunked), `/headers` (request headers as JSON), `/big?n=N` (N bytes), `/status/C`,
 * `/close` (answers with Connection: close), `/pull?n=N` (N bytes written until back-pressure
 * shows, reported through `onBlocked`), anything else: `name path`.
 */
export async function upstream(name: string, hooks: { onBlocked?: () => void } = {}): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  const state = { completed: 0 };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => state.completed++);
    const path = url.pathname;
    if (path === '/echo') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-upstream': name });
      req.pipe(res);
      return;
    }
    // With a Content-Length: node answers HTTP/1.0 keep-alive requests without one by closing.
    const send = (body: string): void => {
      res.setHeader('content-length', Buffer.byteLength(body));
      res.end(body);
    };
    req.on('end', () => {
      if (path === '/name') return send(name);
      if (path === '/headers') return send(JSON.stringify(req.headers));
      if (path.startsWith('/status/')) {
        res.writeHead(Number(path.slice(8)), { 'x-upstream': name });
        return res.end();
      }
      if (path === '/big') {
        const n = Number(url.searchParams.get('n'));
        res.writeHead(200, { 'content-length': String(n) });
        return res.end(req.method === 'HEAD' ? undefined : Buffer.alloc(n, 'b'));
      }
      if (path === '/close') {
        res.writeHead(200, { connection: 'close', 'content-length': String(name.length) });
        return res.end(name);
      }
      if (path === '/pull') {
        let left = Number(url.searchParams.get('n'));
        const block = PULL_BLOCK;
        res.writeHead(200, { 'content-length': String(left) });
        let reported = false;
        const pump = (): void => {
          while (left > 0) {
            const part = left >= block.length ? block : block.subarray(0, left);
            left -= part.length;
            if (!res.write(part)) {
              if (!reported) {
                reported = true;
                hooks.onBlocked?.();
              }
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        return pump();
      }
      send(`${name} ${req.url}`);
    });
  });
  server.keepAliveTimeout = 60_000;
  track(server, sockets);
  const port = await listen(server, sockets);
  const close = closer(server, sockets);
  return Object.assign(state, { port, endpoint: { ip: HOST, port, pod: name }, sockets, close }) as TestServer;
}

/** A raw TCP upstream: `onConnection` writes whatever bytes the test wants. */
export async function rawUpstream(onConnection: (socket: net.Socket, index: number) => void): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  let index = 0;
  const server = net.createServer((s) => onConnection(s, index++));
  track(server, sockets);
  const port = await listen(server, sockets);
  return { port, endpoint: { ip: HOST, port }, sockets, completed: 0, close: closer(server, sockets) };
}

/** A port on 127.0.0.1 nothing listens on. */
export async function refusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface Response {
  status: number;
  head: ResponseHead;
  headers: Record<string, string>;
  body: Buffer;
  text: string;
}

/** A client socket that reads whole responses, using the framing rules under test elsewhere. */
export class RawClient {
  readonly socket: net.Socket;
  /** Received bytes not consumed yet (kept as parts: a 64 MB body must not be re-copied per chunk). */
  private parts: Buffer[] = [];
  private size = 0;
  private ended = false;
  closedPromise: Promise<void>;
  private wake: (() => void) | undefined;

  private constructor(port: number) {
    this.socket = net.connect({ host: HOST, port, noDelay: true });
    this.socket.on('error', () => {});
    this.socket.on('data', (c: Buffer) => {
      this.parts.push(c);
      this.size += c.length;
      this.wake?.();
    });
    this.socket.on('end', () => {
      this.ended = true;
      this.wake?.();
    });
    this.closedPromise = new Promise((resolve) =>
      this.socket.on('close', () => {
        this.ended = true;
        this.wake?.();
        resolve();
      }),
    );
  }

  static async connect(port: number): Promise<RawClient> {
    const c = new RawClient(port);
    await new Promise<void>((resolve, reject) => {
      c.socket.once('connect', resolve);
      c.socket.once('error', reject);
    });
    return c;
  }

  send(bytes: string | Buffer): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  private next(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  private flat(): Buffer {
    if (this.parts.length > 1) this.parts = [Buffer.concat(this.parts)];
    return this.parts[0] ?? Buffer.alloc(0);
  }

  private take(n: number): Buffer {
    const all = this.flat();
    this.parts = n < all.length ? [all.subarray(n)] : [];
    this.size -= n;
    return all.subarray(0, n);
  }

  private async atLeast(n: number): Promise<void> {
    while (this.size < n) {
      if (this.ended) throw new Error(`connection closed after ${this.size} of ${n} bytes: ${JSON.stringify(this.flat().toString('latin1', 0, 300))}`);
      await this.next();
    }
  }

  /** Everything the proxy sent until it closed the connection. */
  async rest(): Promise<string> {
    while (!this.ended) await this.next();
    return this.take(this.size).toString('latin1');
  }

  /** The next `n` raw bytes (after an upgrade). */
  async bytes(n: number): Promise<Buffer> {
    await this.atLeast(n);
    return Buffer.from(this.take(n));
  }

  /** Resolves once some bytes have arrived (not consumed). */
  async some(): Promise<void> {
    while (this.size === 0 && !this.ended) await this.next();
  }

  get closed(): boolean {
    return this.ended;
  }

  /** The next whole response (the body read per its framing; `method` of the request it answers). */
  async response(method = 'GET'): Promise<Response> {
    let r: ReturnType<typeof parseResponseHead>;
    while ((r = parseResponseHead(this.flat(), 1 << 20)) === undefined) await this.atLeast(this.size + 1);
    if (isHeadError(r)) throw new Error(`bad response: ${r.reason}: ${this.flat().toString('latin1', 0, 200)}`);
    const head = r.head;
    this.take(r.end);
    const framing = responseFraming(head, method);
    if ('status' in framing) throw new Error(framing.reason);
    let body: Buffer;
    if (framing.kind === 'none') {
      body = Buffer.alloc(0);
    } else if (framing.kind === 'length') {
      await this.atLeast(framing.length);
      body = Buffer.from(this.take(framing.length));
    } else if (framing.kind === 'chunked') {
      const scanner = new ChunkedScanner();
      let scanned = 0; // parts fully scanned
      let bodyBytes = 0;
      for (;;) {
        while (scanned < this.parts.length && !scanner.done) {
          const part = this.parts[scanned];
          const end = scanner.scan(part, 0);
          if (scanner.failed) throw new Error('bad chunked response');
          bodyBytes += end;
          scanned++;
        }
        if (scanner.done) break;
        await this.atLeast(this.size + 1);
      }
      body = dechunk(this.take(bodyBytes));
    } else {
      while (!this.ended) await this.next();
      body = Buffer.from(this.take(this.size));
    }
    const headers: Record<string, string> = {};
    head.lower.forEach((n, i) => (headers[n] = headers[n] === undefined ? head.values[i] : `${headers[n]}, ${head.values[i]}`));
    return { status: head.status, head, headers, body, text: body.toString('latin1') };
  }

  /** Sends a GET and reads its response. */
  async get(path: string, extra = ''): Promise<Response> {
    this.send(`GET ${path} HTTP/1.1\r\nHost: test\r\n${extra}\r\n`);
    return this.response();
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Decodes a chunked body (trusting it: it passed the scanner). */
export function dechunk(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let i = 0;
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', i);
    const size = parseInt(raw.toString('latin1', i, lineEnd).split(';')[0], 16);
    if (size === 0) return Buffer.concat(parts);
    parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
    i = lineEnd + 2 + size + 2;
  }
}

/** Records what the forwarder reports. */
export class RecordingObserver implements ForwardObserver {
  readonly requests: { endpoint: string | undefined; code: number }[] = [];
  readonly connections: string[] = [];
  readonly failures: { endpoint: string; reason: string }[] = [];

  connection(endpoint: Endpoint): void {
    this.connections.push(endpointKey(endpoint));
  }

  request(endpoint: Endpoint | undefined, code: number): void {
    this.requests.push({ endpoint: endpoint && endpointKey(endpoint), code });
  }

  upstreamFailure(endpoint: Endpoint, reason: string): void {
    this.failures.push({ endpoint: endpointKey(endpoint), reason });
  }
}

/** A forwarder behind the proxy's listener on 127.0.0.1, plus everything a test opened. */
export class Harness {
  readonly closers: (() => Promise<void> | void)[] = [];
  forwarder!: HttpForwarder;
  port = 0;
  readonly observer = new RecordingObserver();
  picker!: RoundRobin;
  private listener: TcpListener | undefined;
  /** Client connections as the forwarder carries them. */
  readonly accepted = new Set<Carried>();

  /** `native`: accepting in the native relay where it is built (as the proxy), else with a net.Server. */
  async start(endpoints: Endpoint[], opts: Partial<HttpForwarderOptions> = {}, native = true): Promise<void> {
    this.picker = new RoundRobin(endpoints);
    this.forwarder = new HttpForwarder({ service: 'default/web', picker: () => this.picker, observer: this.observer, ...opts });
    this.listener = await listenTcp({ host: HOST, port: 0, forwarder: () => this.forwarder, connections: this.accepted, native });
    this.port = this.listener.port;
  }

  async server(name: string, hooks?: { onBlocked?: () => void }): Promise<TestServer> {
    const s = await upstream(name, hooks);
    this.closers.push(() => s.close());
    return s;
  }

  async raw(onConnection: (socket: net.Socket, index: number) => void): Promise<TestServer> {
    const s = await rawUpstream(onConnection);
    this.closers.push(() => s.close());
    return s;
  }

  async client(): Promise<RawClient> {
    const c = await RawClient.connect(this.port);
    this.closers.push(() => c.close());
    return c;
  }

  async close(): Promise<void> {
    for (const s of this.accepted) s.destroy();
    await this.forwarder?.close();
    this.listener?.close();
    for (const close of this.closers.reverse()) await close();
  }
}

/** Resolves once every socket in `sockets` has closed (event-driven, no polling). */
export async function allClosed(sockets: Set<net.Socket>): Promise<void> {
  await Promise.all([...sockets].map((s) => (s.destroyed && s.closed ? undefined : new Promise((resolve) => s.once('close', resolve)))));
}
