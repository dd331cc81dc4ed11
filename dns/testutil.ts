// Test helpers: a DNS client over UDP/TCP to 127.0.0.1 and a fake upstream that counts queries.
// Only for tests; nothing here talks to anything but loopback.
import { createSocket } from 'node:dgram';
import { connect, createServer, type Socket } from 'node:net';
import { Packet } from 'dns2';
import type { EncodedAnswers } from './fastpath.js';
import type { Zone } from './records.js';

export interface Parsed {
  header: { id: number; tc: number; aa: number; rcode: number; ra: number };
  questions: { name: string; type: number }[];
  answers: ({ name: string; type: number; ttl: number } & Record<string, unknown>)[];
  authorities: ({ name: string; type: number; ttl: number } & Record<string, unknown>)[];
  additionals: ({ name: string; type: number; ttl: number; class: number } & Record<string, unknown>)[];
}

export function makeQuery(name: string, type: number, opts: { edns?: number; id?: number } = {}): Buffer {
  const p = new Packet();
  p.header = new Packet.Header({ id: opts.id ?? 0x1234, rd: 1 });
  p.questions = [new Packet.Question(name, type, 1)];
  if (opts.edns) p.additionals = [Packet.Resource.EDNS([], { udpPayloadSize: opts.edns }) as never];
  return p.toBuffer();
}

/**
 * Sends raw bytes over UDP and returns the raw reply. Like a stub resolver it resends every
 * 250 ms (a flooded socket may drop the datagram) and gives up after 40 tries, so a bug fails
 * the test instead of hanging it.
 */
export function udpExchange(port: number, msg: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    let tries = 0;
    const send = (): void => {
      if (++tries > 40) { s.close(); reject(new Error('no UDP reply')); return; }
      s.send(msg, port, '127.0.0.1');
      timer = setTimeout(send, 250);
    };
    let timer: NodeJS.Timeout | undefined;
    s.on('error', (e) => { clearTimeout(timer); s.close(); reject(e); });
    s.on('message', (m) => { clearTimeout(timer); s.close(); resolve(m); });
    send();
  });
}

export function tcpExchange(port: number, msgs: Buffer[], expect = msgs.length): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    let buf = Buffer.alloc(0);
    const s: Socket = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => { s.destroy(); reject(new Error('no TCP reply')); }, 10_000);
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    s.on('connect', () => {
      s.write(Buffer.concat(msgs.flatMap((m) => { const h = Buffer.alloc(2); h.writeUInt16BE(m.length); return [h, m]; })));
    });
    s.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length === expect) { clearTimeout(timer); s.destroy(); resolve(out); }
    });
  });
}

export function parse(b: Buffer): Parsed {
  return Packet.parse(b) as unknown as Parsed;
}

export async function ask(port: number, name: string, type: number, opts: { tcp?: boolean; edns?: number } = {}): Promise<Parsed> {
  const q = makeQuery(name, type, opts);
  return parse(opts.tcp ? (await tcpExchange(port, [q]))[0] : await udpExchange(port, q));
}

export interface FakeUpstream {
  port: number;
  /** Queries seen, by `name/type` (UDP and TCP). */
  seen: string[];
  /** UDP datagrams received, answered or not. */
  readonly received: number;
  /** When set, UDP queries are swallowed (a dead upstream). */
  silent: boolean;
  close(): Promise<void>;
}

/**
 * A loopback upstream: `nx.*` → NXDOMAIN with SOA (minimum 30), `big.*` → 100 A records (TC over
 * UDP, full over TCP), `fail.*` → SERVFAIL, anything else → one A 192.0.2.1 with TTL 60.
 */
export async function fakeUpstream(): Promise<FakeUpstream> {
  const seen: string[] = [];
  const state = { silent: false, received: 0 };
  const respond = (msg: Buffer, tcp: boolean): Buffer | undefined => {
    let req: InstanceType<typeof Packet>;
    try { req = Packet.parse(msg); } catch { return undefined; }
    const q = req.questions[0] as unknown as { name: string; type: number; class: number };
    seen.push(`${q.name.toLowerCase()}/${q.type}`);
    const res = Packet.createResponseFromRequest(req);
    res.header.ra = 1;
    const name = q.name.toLowerCase();
    if (name.startsWith('nx.')) {
      res.header.rcode = 3;
      res.authorities.push({ name: 'example', type: 6, class: 1, ttl: 300, primary: 'ns.example', admin: 'h.example', serial: 1, refresh: 1, retry: 1, expiration: 1, minimum: 30 } as never);
    } else if (name.startsWith('fail.')) {
      res.header.rcode = 2;
    } else if (name.startsWith('big.')) {
      for (let i = 0; i < 100; i++) res.answers.push({ name: q.name, type: 1, class: 1, ttl: 60, address: `192.0.2.${i}` } as never);
      if (!tcp) { res.answers = []; res.header.tc = 1; }
    } else if (q.type === 1) {
      res.answers.push({ name: q.name, type: 1, class: 1, ttl: 60, address: '192.0.2.1' } as never);
    }
    return res.toBuffer();
  };
  const conns = new Set<Socket>();
  const onConnection = (s: Socket): void => {
    conns.add(s);
    s.on('error', () => undefined);
    s.on('close', () => conns.delete(s));
    let buf = Buffer.alloc(0);
    s.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const out = respond(buf.subarray(2, 2 + buf.readUInt16BE(0)), true);
        buf = buf.subarray(2 + buf.readUInt16BE(0));
        if (out) { const h = Buffer.alloc(2); h.writeUInt16BE(out.length); s.write(Buffer.concat([h, out])); }
      }
    });
  };
  // UDP port 0, then TCP on the same number; retry when TCP has it taken.
  let udp!: ReturnType<typeof createSocket>;
  let tcp!: ReturnType<typeof createServer>;
  let port = 0;
  for (let attempt = 0; ; attempt++) {
    udp = createSocket('udp4');
    udp.on('error', () => undefined);
    await new Promise<void>((res) => udp.bind(0, '127.0.0.1', () => res()));
    port = udp.address().port;
    tcp = createServer(onConnection);
    const ok = await new Promise<boolean>((res) => {
      tcp.once('error', () => res(false));
      tcp.listen(port, '127.0.0.1', () => res(true));
    });
    if (ok) break;
    udp.close();
    if (attempt > 20) throw new Error('fake upstream: no free port pair');
  }
  tcp.on('error', () => undefined);
  const u = udp;
  u.on('message', (m, r) => {
    state.received++;
    if (state.silent) return;
    const out = respond(m, false);
    if (out) u.send(out, r.port, r.address);
  });
  return {
    port,
    seen,
    get received() { return state.received; },
    get silent() { return state.silent; },
    set silent(v: boolean) { state.silent = v; },
    async close() {
      for (const s of conns) s.destroy();
      await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
    },
  };
}

/** The fast path's answer to `msg` as a Buffer of its own, or undefined where it leaves the query to dns2. */
export function encodedAnswer(fast: EncodedAnswers, msg: Buffer, udp: boolean, zone: Zone): Buffer | undefined {
  const n = fast.answerInto(msg, udp, zone, scratch, 0);
  return n === 0 ? undefined : Buffer.from(scratch.subarray(0, n));
}
const scratch = Buffer.alloc(0x10000);
