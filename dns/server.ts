// The cluster DNS server: UDP and TCP on one address, answering the cluster domain from the zone
// the node hands it and forwarding everything else. Until the first sync (zone() undefined) names
// in the domain get SERVFAIL, never a wrong NXDOMAIN (CoreDNS); afterwards the last zone keeps
// being served even when the control node is away (serve-stale, counted when isStale()).
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import type { Registry } from 'prom-client';
import { replyTo, zoneAnswer } from './answer.js';
import { AnswerCache } from './cache.js';
import { decodeQuery, encodeResponse, errorHeader, RCODE, type Query, type Response, type WireRecord } from './codec.js';
import { EncodedAnswers } from './fastpath.js';
import { Forwarder, parseHostPort, UpstreamsFailed } from './forward.js';
import { DnsMetrics, type DnsZoneLabel } from './metrics.js';
import { inDomain, normalizeName, type Zone } from './records.js';
import { loadUdpBatch, type BatchedUdp } from './udpbatch.js';

export interface DnsOptions {
  /** `host:port`; port 0 picks a free port (the same for UDP and TCP). */
  addr: string;
  domain?: string;
  upstreams: string[];
  /** The current zone; undefined until the informers have synced. */
  zone(): Zone | undefined;
  /** True while the zone is the last known state and the control node is unreachable. */
  isStale?(): boolean;
  metrics?: Registry;
  log?: (message: string) => void;
  /** Largest UDP answer we send, whatever the client advertises (also what our OPT advertises). */
  udpPayload?: number;
  upstreamTimeoutMs?: number;
  tcpIdleMs?: number;
  /** How long one DNS-over-TCP message may take to arrive, from its first byte (default 5 s). */
  tcpMessageMs?: number;
  /** Connections one client address may hold open over TCP at a time (default 16). */
  tcpPerSource?: number;
  cache?: AnswerCache;
  /** Answer plain questions from pre-encoded responses (default true); false leaves every query to the dns2 path. */
  fastPath?: boolean;
  /** UDP through the batched native socket when it is built (default true); false keeps dgram. */
  udpBatch?: boolean;
}

export interface RunningDns {
  host: string;
  port: number;
  /** Whether UDP goes through the batched native socket (else dgram). */
  udpBatched: boolean;
  stop(): Promise<void>;
}

export async function startDns(opts: DnsOptions): Promise<RunningDns> {
  const { host, port } = parseHostPort(opts.addr);
  const log = opts.log ?? ((m: string) => console.error(`tug dns: ${m}`));
  const domain = normalizeName(opts.domain ?? 'cluster.local');
  const udpPayload = Math.max(512, opts.udpPayload ?? 1232);
  const tcpIdleMs = opts.tcpIdleMs ?? 10_000;
  const tcpMessageMs = opts.tcpMessageMs ?? 5_000;
  const tcpPerSource = opts.tcpPerSource ?? 16;
  const metrics = new DnsMetrics(opts.metrics);
  const forwarder = new Forwarder({
    upstreams: opts.upstreams,
    timeoutMs: opts.upstreamTimeoutMs,
    cache: opts.cache,
    onCacheHit: () => metrics.cacheHits.inc(),
    onUpstreamFailure: (upstream) => metrics.upstreamFailures.inc({ upstream }),
  });
  let closed = false;
  const reply = (q: Query, rcode: number, aa: boolean): Response => replyTo(q, rcode, aa, udpPayload);

  const answer = async (msg: Buffer, udp: boolean): Promise<Buffer | undefined> => {
    const started = process.hrtime.bigint();
    const d = decodeQuery(msg);
    if (d.kind === 'drop') return undefined;
    if (d.kind === 'error') {
      metrics.observe(0, d.rcode, 'none', seconds(started));
      return errorHeader(d.id, d.rd, d.rcode);
    }
    const q = d.query;
    const limit = !udp ? 65535 : q.edns ? Math.min(udpPayload, Math.max(512, q.edns.udpPayloadSize)) : 512;
    let zoneLabel: DnsZoneLabel = 'none';
    let r: Response;
    try {
      const res = await resolve(q);
      zoneLabel = res.zone;
      r = res.response;
    } catch (e) {
      log(`answering ${q.name}/${q.type}: ${(e as Error).message}`);
      r = reply(q, RCODE.SERVFAIL, false);
    }
    let out: Buffer;
    try {
      out = encodeResponse(r, limit);
    } catch (e) {
      log(`encoding the answer for ${q.name}/${q.type}: ${(e as Error).message}`);
      r = reply(q, RCODE.SERVFAIL, false);
      out = encodeResponse(r, limit);
    }
    metrics.observe(q.type, r.rcode, zoneLabel, seconds(started));
    return out;
  };

  const resolve = async (q: Query): Promise<{ zone: DnsZoneLabel; response: Response }> => {
    if (q.edns && q.edns.version > 0) return { zone: 'none', response: reply(q, RCODE.BADVERS, false) };
    if (q.type === 252 || q.type === 251) return { zone: 'none', response: reply(q, RCODE.NOTIMP, false) }; // AXFR/IXFR
    const name = normalizeName(q.name);
    const zone = opts.zone();
    const ours = inDomain(name, domain);
    if (ours && !zone) return { zone: 'cluster', response: reply(q, RCODE.SERVFAIL, false) };
    if (zone && (ours || zone.records.has(name))) {
      if (q.class !== 1 && q.class !== 255) return { zone: 'cluster', response: reply(q, RCODE.REFUSED, false) };
      if (opts.isStale?.()) metrics.staleAnswers.inc();
      return { zone: 'cluster', response: await fromZone(q, name, zone) };
    }
    return { zone: 'forward', response: await forward(q) };
  };

  const fromZone = async (q: Query, name: string, zone: Zone): Promise<Response> => {
    const { response, chase } = zoneAnswer(q, name, zone, domain, udpPayload);
    if (chase !== undefined) {
      try {
        const f = await forwarder.resolve(chase, q.type, 1);
        response.answers.push(...f.answers);
      } catch {
        // the CNAME alone still lets the client try itself
      }
    }
    return response;
  };

  const forward = async (q: Query): Promise<Response> => {
    const r = reply(q, RCODE.NOERROR, false);
    try {
      const f = await forwarder.resolve(q.name, q.type, q.class);
      const lname = q.name.toLowerCase();
      const keepCase = (x: WireRecord): WireRecord => (x.name.toLowerCase() === lname ? { ...x, name: q.name } : x);
      r.rcode = f.rcode;
      r.answers = f.answers.map(keepCase);
      r.authorities = f.authorities;
      r.additionals = f.additionals;
    } catch (e) {
      if (!(e instanceof UpstreamsFailed)) throw e;
      r.rcode = RCODE.SERVFAIL;
    }
    return r;
  };

  // Plain questions about the zone, answered synchronously from pre-encoded bytes written into
  // `out` at `offset`; 0 sends the query down the dns2 path above.
  const encoded = opts.fastPath === false ? undefined : new EncodedAnswers({ domain, udpPayload });
  const answerEncoded = (msg: Buffer, udp: boolean, out: Buffer, offset: number): number => {
    const zone = encoded && opts.zone();
    if (!zone) return 0;
    const started = performance.now();
    let n: number;
    try {
      n = encoded!.answerInto(msg, udp, zone, out, offset);
    } catch (e) {
      log(`fast path: ${(e as Error).message}`);
      return 0;
    }
    if (n === 0) return 0;
    if (opts.isStale?.()) metrics.staleAnswers.inc();
    metrics.observe(encoded!.qtype, encoded!.rcode, 'cluster', (performance.now() - started) / 1000);
    return n;
  };
  /** Where dgram and TCP answers are encoded before they are copied out: room for a TCP length prefix. */
  const scratch = Buffer.alloc(2 + 0xffff);

  // --- sockets ---
  const sendLater = (msg: Buffer, send: (out: Buffer) => void): void => {
    answer(msg, true).then((out) => { if (out && !closed) send(out); }, (e) => log(`udp query: ${(e as Error).message}`));
  };
  const onUdpMessage = (udp: UdpSocket) => (msg: Buffer, rinfo: { address: string; port: number }): void => {
    const n = answerEncoded(msg, true, scratch, 0);
    if (n > 0) {
      // No send callback: a lost datagram is what the client's retry is for, and a callback per
      // answer costs about a tenth of the throughput.
      if (!closed) udp.send(Buffer.from(scratch.subarray(0, n)), rinfo.port, rinfo.address);
      return;
    }
    sendLater(msg, (out) => udp.send(out, rinfo.port, rinfo.address, (e) => { if (e) log(`udp send to ${rinfo.address}: ${e.message}`); }));
  };
  let batched: BatchedUdp | undefined;
  const onBatchedQuery = (msg: Buffer, i: number, out: Buffer, offset: number): number => {
    const n = answerEncoded(msg, true, out, offset);
    if (n > 0) return n;
    const to = batched!.peer(i);
    sendLater(Buffer.from(msg), (answer) => {
      const errno = batched!.sendTo(answer, to.port, to.address);
      if (errno !== 0) log(`udp send to ${to.address}: errno ${errno}`);
    });
    return 0;
  };
  const conns = new Set<Socket>();
  const perSource = new Map<string, number>();
  const onTcpConnection = (sock: Socket): void => {
    // One client cannot hold every TCP slot: past its share it is turned away at once.
    const source = sock.remoteAddress ?? '';
    const held = perSource.get(source) ?? 0;
    if (held >= tcpPerSource) {
      metrics.tcpRefused.inc();
      sock.on('error', () => undefined);
      sock.destroy();
      return;
    }
    perSource.set(source, held + 1);
    conns.add(sock);
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      conns.delete(sock);
      const n = (perSource.get(source) ?? 1) - 1;
      if (n > 0) perSource.set(source, n);
      else perSource.delete(source);
    });
    // Idle between messages for tcpIdleMs, or a message trickling in for longer than tcpMessageMs
    // (however steadily its bytes come): either way the connection goes.
    sock.setTimeout(tcpIdleMs, () => sock.destroy());
    let messageDeadline: NodeJS.Timeout | undefined;
    const messageStarted = () => {
      messageDeadline ??= setTimeout(() => sock.destroy(), tcpMessageMs);
    };
    const messageDone = () => {
      clearTimeout(messageDeadline);
      messageDeadline = undefined;
    };
    sock.on('close', messageDone);
    const send = (out: Buffer | undefined): void => {
      if (!out || sock.destroyed) return;
      const framed = Buffer.allocUnsafe(2 + out.length);
      framed.writeUInt16BE(out.length);
      out.copy(framed, 2);
      sock.write(framed);
    };
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        messageDone();
        const n = answerEncoded(msg, false, scratch, 2);
        if (n > 0) {
          scratch.writeUInt16BE(n);
          if (!sock.destroyed) sock.write(Buffer.from(scratch.subarray(0, 2 + n)));
        } else {
          answer(msg, false).then(send, (e) => log(`tcp query: ${(e as Error).message}`));
        }
      }
      if (buf.length > 0) messageStarted();
    });
  };
  const batch = opts.udpBatch === false || isIP(host) === 0 ? undefined : loadUdpBatch();
  if (batch && !batch.ok) log(`batched UDP is not available (${batch.reason}); answering UDP through dgram`);
  const openUdp = async (p: number): Promise<UdpSide> => {
    if (batch?.ok) {
      const b = batch.open(host, p, onBatchedQuery, (e) => log(`udp query: ${(e as Error).message}`));
      batched = b;
      return { port: b.port, close: async () => b.close() };
    }
    const udp = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', lookup: literalLookup });
    udp.on('error', (e) => log(`udp ${host}:${p}: ${e.message}`));
    try {
      await new Promise<void>((res, rej) => {
        udp.once('error', rej);
        udp.bind(p, host, () => { udp.off('error', rej); res(); });
      });
    } catch (e) {
      udp.close();
      throw e;
    }
    udp.on('message', onUdpMessage(udp));
    return { port: udp.address().port, close: () => new Promise<void>((res) => udp.close(() => res())) };
  };
  let bound: { udp: UdpSide; tcp: Server; port: number };
  try {
    bound = await listenPair(host, port, openUdp, log);
  } catch (e) {
    forwarder.close();
    throw e;
  }
  const { udp, tcp, port: boundPort } = bound;
  tcp.on('connection', onTcpConnection);

  return {
    host,
    port: boundPort,
    udpBatched: batched !== undefined,
    async stop() {
      if (closed) return;
      closed = true;
      forwarder.close();
      for (const s of conns) s.destroy();
      await Promise.all([udp.close(), new Promise<void>((res) => tcp.close(() => res()))]);
    },
  };
}

interface UdpSide {
  port: number;
  close(): Promise<void>;
}

/** Binds UDP and TCP on one port; with port 0 retries until a free port is free for both. */
async function listenPair(host: string, port: number, openUdp: (port: number) => Promise<UdpSide>, log: (m: string) => void): Promise<{ udp: UdpSide; tcp: Server; port: number }> {
  for (let attempt = 0; ; attempt++) {
    let udp: UdpSide;
    try {
      udp = await openUdp(port);
    } catch (e) {
      throw new Error(`dns: cannot listen on ${host}:${port}/UDP: ${(e as Error).message}`, { cause: e });
    }
    const p = udp.port;
    const tcp = createServer();
    tcp.maxConnections = 1024;
    tcp.on('error', (e) => log(`tcp ${host}:${p}: ${e.message}`));
    try {
      await new Promise<void>((res, rej) => {
        tcp.once('error', rej);
        tcp.listen(p, host, () => { tcp.off('error', rej); res(); });
      });
      return { udp, tcp, port: p };
    } catch (e) {
      await udp.close();
      if (port !== 0 || attempt >= 20) throw new Error(`dns: cannot listen on ${host}:${p}/TCP: ${(e as Error).message}`, { cause: e });
    }
  }
}

function seconds(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/**
 * dgram resolves the destination of every send, and dns.lookup defers even an IP literal to the
 * next tick; a client's address is always a literal, so it is handed back at once (and the last
 * one is remembered: a busy client asks many times in a row).
 */
let lastLiteral = '';
let lastFamily = 0;
function literalLookup(host: string, options: LookupOneOptions | number, cb: LookupCallback): void {
  if (host !== lastLiteral) {
    const family = isIP(host);
    if (family === 0) return dnsLookup(host, options as LookupOneOptions, cb);
    lastLiteral = host;
    lastFamily = family;
  }
  cb(null, host, lastFamily);
}
