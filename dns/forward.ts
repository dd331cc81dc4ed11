// Names outside the cluster domain go to the upstream resolvers: UDP first, TCP when the answer
// comes back truncated, the next upstream on a timeout or failure. The same question in flight is
// asked once (coalescing), and answers are cached per AnswerCache's TTL rules.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { AnswerCache, type CachedAnswer } from './cache.js';
import { decodeResponse, encodeQuery, type UpstreamAnswer } from './codec.js';

export interface HostPort {
  host: string;
  port: number;
}

/** `host:port`, `[v6]:port`, or a bare host (port 53). */
export function parseHostPort(addr: string, defaultPort = 53): HostPort {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(addr);
  if (v6) return { host: v6[1], port: v6[2] ? Number(v6[2]) : defaultPort };
  const i = addr.lastIndexOf(':');
  if (i > 0 && addr.indexOf(':') === i) return { host: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
  return { host: addr, port: defaultPort };
}

export interface ForwarderOptions {
  upstreams: string[];
  /** Per upstream attempt, milliseconds. */
  timeoutMs?: number;
  cache?: AnswerCache;
  /** Distinct questions in flight at once; beyond it answers are SERVFAIL (bounds sockets under a flood). */
  maxInflight?: number;
  onCacheHit?: () => void;
  onUpstreamFailure?: (upstream: string, reason: string) => void;
}

export interface ForwardResult extends CachedAnswer {
  cached: boolean;
}

export class UpstreamsFailed extends Error {}

export class Forwarder {
  readonly cache: AnswerCache;
  private readonly upstreams: HostPort[];
  private readonly timeoutMs: number;
  private readonly inflight = new Map<string, Promise<CachedAnswer>>();
  private readonly open = new Set<{ close(): void }>();
  private closed = false;

  constructor(private readonly opts: ForwarderOptions) {
    this.upstreams = opts.upstreams.map((u) => parseHostPort(u));
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.cache = opts.cache ?? new AnswerCache();
  }

  /** Resolves a question through the cache or the upstreams; rejects with UpstreamsFailed. */
  async resolve(name: string, type: number, cls: number): Promise<ForwardResult> {
    const key = `${name.toLowerCase()}|${type}|${cls}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.opts.onCacheHit?.();
      return { ...hit, cached: true };
    }
    let pending = this.inflight.get(key);
    if (!pending && this.inflight.size >= (this.opts.maxInflight ?? 1000)) throw new UpstreamsFailed(`too many questions in flight (${this.inflight.size})`);
    if (!pending) {
      pending = this.ask(name, type, cls).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
      pending.then((a) => this.cache.put(key, a), () => undefined);
    }
    return { ...(await pending), cached: false };
  }

  close(): void {
    this.closed = true;
    for (const o of this.open) o.close();
    this.open.clear();
  }

  private async ask(name: string, type: number, cls: number): Promise<CachedAnswer> {
    let last = 'no upstreams configured';
    for (const up of this.upstreams) {
      if (this.closed) break;
      const label = `${up.host}:${up.port}`;
      try {
        let a = await this.exchangeUdp(up, name, type, cls);
        if (a.tc) a = await this.exchangeTcp(up, name, type, cls);
        // SERVFAIL/REFUSED say this upstream cannot help; another one may.
        if (a.rcode === 2 || a.rcode === 5) throw new Error(`rcode ${a.rcode}`);
        return { rcode: a.rcode, answers: a.answers, authorities: a.authorities, additionals: a.additionals };
      } catch (e) {
        last = `${label}: ${(e as Error).message}`;
        this.opts.onUpstreamFailure?.(label, (e as Error).message);
      }
    }
    throw new UpstreamsFailed(`all upstreams failed for ${name}: ${last}`);
  }

  private matches(a: UpstreamAnswer | undefined, id: number, name: string, type: number, cls: number): a is UpstreamAnswer {
    return !!a && a.id === id && !!a.question && a.question.name.toLowerCase() === name.toLowerCase() && a.question.type === type && a.question.class === cls;
  }

  private exchangeUdp(up: HostPort, name: string, type: number, cls: number): Promise<UpstreamAnswer> {
    return new Promise((resolve, reject) => {
      const id = randomInt(0x10000);
      const sock: UdpSocket = createSocket(up.host.includes(':') ? 'udp6' : 'udp4');
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const handle = {
        close: () => finish(new Error('forwarder closed')),
      };
      const finish = (err?: Error, a?: UpstreamAnswer): void => {
        if (done) return;
        done = true;
        this.open.delete(handle);
        clearTimeout(timer);
        try { sock.close(); } catch { /* already closed */ }
        if (err) reject(err);
        else resolve(a!);
      };
      this.open.add(handle);
      sock.on('error', (e) => finish(e));
      sock.on('message', (msg) => {
        const a = decodeResponse(msg);
        if (this.matches(a, id, name, type, cls)) finish(undefined, a); // anything else is ignored (spoofing, stale)
      });
      timer = setTimeout(() => finish(new Error('timeout')), this.timeoutMs);
      let q: Buffer;
      try {
        q = encodeQuery(id, name, type, cls, 1232);
      } catch (e) {
        finish(e as Error);
        return;
      }
      sock.send(q, up.port, up.host, (e) => { if (e) finish(e); });
    });
  }

  private exchangeTcp(up: HostPort, name: string, type: number, cls: number): Promise<UpstreamAnswer> {
    return new Promise((resolve, reject) => {
      const id = randomInt(0x10000);
      let buf = Buffer.alloc(0);
      const sock: Socket = connect({ host: up.host, port: up.port });
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const handle = { close: () => finish(new Error('forwarder closed')) };
      const finish = (err?: Error, a?: UpstreamAnswer): void => {
        if (done) return;
        done = true;
        this.open.delete(handle);
        clearTimeout(timer);
        sock.destroy();
        if (err) reject(err);
        else resolve(a!);
      };
      this.open.add(handle);
      timer = setTimeout(() => finish(new Error('timeout (tcp)')), this.timeoutMs);
      sock.on('error', (e) => finish(e));
      sock.on('close', () => finish(new Error('connection closed (tcp)')));
      sock.on('connect', () => {
        try {
          const q = encodeQuery(id, name, type, cls, 1232);
          const len = Buffer.alloc(2);
          len.writeUInt16BE(q.length);
          sock.write(Buffer.concat([len, q]));
        } catch (e) {
          finish(e as Error);
        }
      });
      sock.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + msg.length);
          const a = decodeResponse(msg);
          if (this.matches(a, id, name, type, cls)) return finish(undefined, a);
        }
      });
    });
  }
}
