// Mesh tunnel benchmark, across two simulated hosts (network namespaces on a private LAN made by
// this run; nothing touches the machine's own interfaces). An echo server on host 2; a client on
// host 1 sends 64-byte round trips over 8 connections for a few seconds, and opens new
// connections one after another, through:
//  - nothing: straight to the server across the LAN (the floor);
//  - plain TCP mode: a Node relay on host 1 (what the node proxy does without the mesh);
//  - the mesh: a relay on host 1 that opens each connection as a stream of the mTLS tunnel
//    (proxy/tunnel.ts) to host 2, whose tunnel server connects to the echo server;
//  - the peer: two HAProxy instances doing the same hop over mutual TLS 1.3 (`ssl crt ... ca-file
//    ... verify required`), with the same workload certificates. HAProxy cannot match a URI name
//    (with `sni` or `verifyhost` set, it looks for a DNS name and fails), so it checks the chain
//    only, where the mesh also checks the SPIFFE ID.
// CPU is the relays' own (both hosts), per round trip.
//
//   node dist/bench/mesh.js [--seconds 5]
// Needs root, iproute2, util-linux (nsenter) and haproxy.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MeshCa } from '../control/mesh/ca.js';
import { createKeyAndCsr } from '../lib/pki.js';
import { splice, TunnelClient, TunnelServer } from '../proxy/tunnel.js';
import { cpuSeconds, makeSimulatedHosts, pingPong, requireTools } from './harness.js';

const SELF = fileURLToPath(import.meta.url);
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, inside: { type: 'string' }, dir: { type: 'string' } } });
const SECONDS = Number(values.seconds);
const PREFIX = `tm${process.pid % 100000}`;
const CLIENT = 'spiffe://cluster.local/ns/bench/sa/client';
const SERVER = 'spiffe://cluster.local/ns/bench/sa/server';
const H2 = '198.18.0.2';
const PORTS = { echo: 7000, plain: 7101, mesh: 7102, haproxy: 7103, tunnel: 15008, haproxyTls: 7443 };

function removeHosts(): void {
  for (const n of ['lan', 'h1', 'h2']) spawnSync('ip', ['netns', 'del', `${PREFIX}-${n}`]);
}

/** A process on host `h`; resolves once it printed its first line (it is listening). */
async function onHost(h: number, argv: string[], log: string): Promise<ChildProcess> {
  const child = spawn('nsenter', [`--net=/run/netns/${PREFIX}-h${h}`, '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.on('data', (d) => process.stderr.write(`${log}: ${d}`));
  child.once('exit', (code) => code && console.error(`${log} exited ${code}`));
  return child;
}

async function issue(ca: MeshCa, id: string) {
  const { keyPem, csrPem } = await createKeyAndCsr({ commonName: 'bench', uris: [id] });
  return { id, keyPem, certPem: (await ca.issue(csrPem, 'bench', () => true)).certificate };
}

// ---- the parts that run inside the hosts ----

function certs(dir: string) {
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return {
    bundle: read('ca.pem'),
    client: { id: CLIENT, keyPem: read('client.key'), certPem: read('client.crt') },
    server: { id: SERVER, keyPem: read('server.key'), certPem: read('server.crt') },
  };
}

function pipeBoth(a: Socket | NodeJS.ReadWriteStream, b: Socket | NodeJS.ReadWriteStream): void {
  a.pipe(b as NodeJS.WritableStream);
  b.pipe(a as NodeJS.WritableStream);
  const end = () => {
    (a as Socket).destroy();
    (b as Socket).destroy();
  };
  a.on('error', end).on('close', end);
  b.on('error', end).on('close', end);
}

async function insideMain(part: string, dir: string): Promise<void> {
  const c = certs(dir);
  if (part === 'echo') {
    createServer((s) => (s.on('error', () => undefined), s.setNoDelay(true), s.pipe(s))).listen(PORTS.echo, '0.0.0.0');
  } else if (part === 'plain') {
    createServer((s) => {
      s.on('error', () => undefined).setNoDelay(true);
      const up = connect({ host: H2, port: PORTS.echo, noDelay: true });
      pipeBoth(s, up);
    }).listen(PORTS.plain, '127.0.0.1');
  } else if (part === 'mesh-a') {
    const tunnels = new TunnelClient({ certificateFor: (id) => (id === CLIENT ? c.client : undefined), bundle: () => c.bundle });
    createServer((s) => {
      s.on('error', () => undefined).setNoDelay(true);
      s.pause();
      tunnels.open({ host: H2, port: PORTS.tunnel }, CLIENT, SERVER, { host: '127.0.0.1', port: PORTS.echo }).then(
        (stream) => (splice(s, stream), s.resume()),
        (e) => {
          console.error(`mesh-a: ${(e as Error).message}`);
          s.destroy();
        },
      );
    }).listen(PORTS.mesh, '127.0.0.1');
  } else if (part === 'mesh-b') {
    const server = new TunnelServer({
      certificateFor: (id) => (id === SERVER ? c.server : undefined),
      identities: () => [SERVER],
      bundle: () => c.bundle,
      connect: async (target) => {
        const s = connect({ ...target, noDelay: true }).on('error', () => undefined);
        await once(s, 'connect');
        return s;
      },
    });
    await server.listen(H2, PORTS.tunnel);
  } else if (part === 'client') {
    const result = await measureAll();
    // stdin (the parent's go-ahead) would keep this process alive: leave once the answer is out.
    process.stdout.write(JSON.stringify(result), () => process.exit(0));
    return;
  }
  process.stdout.write('ready\n');
}


/** New connections, each one round trip then closed, 8 at a time for SECONDS: per second. */
async function newConnections(host: string, port: number, conns = 8): Promise<number> {
  let done = 0;
  const until = performance.now() + SECONDS * 1000;
  const payload = Buffer.alloc(64, 120);
  await Promise.all(
    Array.from({ length: conns }, async () => {
      while (performance.now() < until) {
        const s: Socket = connect({ host, port, noDelay: true }).on('error', () => undefined);
        await once(s, 'connect');
        const closed = once(s, 'close').then(() => {
          throw new Error(`${host}:${port} closed a new connection before it answered`);
        });
        closed.catch(() => undefined);
        s.write(payload);
        let got = 0;
        while (got < payload.length) got += ((await Promise.race([once(s, 'data'), closed]))[0] as Buffer).length;
        s.destroy();
        done++;
      }
    }),
  );
  return done / SECONDS;
}

async function reachable(host: string, port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port }, () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(25);
  }
  throw new Error(`nothing answers on ${host}:${port}`);
}

async function measureAll(): Promise<Record<string, unknown>> {
  const fronts = { direct: [H2, PORTS.echo], plain: ['127.0.0.1', PORTS.plain], mesh: ['127.0.0.1', PORTS.mesh], haproxy: ['127.0.0.1', PORTS.haproxy] } as const;
  for (const [host, port] of Object.values(fronts)) {
    console.error(`bench: waiting for ${host}:${port}`);
    await reachable(host, port);
  }
  const out: Record<string, unknown> = {};
  for (const [name, [host, port]] of Object.entries(fronts)) {
    // The relays' CPU is read by the parent around each part: it asks through stdin.
    console.error(`bench: ${name}`);
    process.stdout.write(`start ${name}\n`);
    await once(process.stdin, 'data');
    try {
      const rt = await pingPong(host, port, SECONDS);
      const conns = await newConnections(host, port);
      out[name] = { ...rt, conns };
    } catch (e) {
      out[name] = { error: (e as Error).message };
    }
    process.stdout.write(`stop ${name}\n`);
    await once(process.stdin, 'data');
  }
  return out;
}

// ---- the run ----

function haproxyConfigs(dir: string): { a: string; b: string } {
  const common = 'global\n  maxconn 4096\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n';
  const a = `${common}frontend f\n  bind 127.0.0.1:${PORTS.haproxy}\n  default_backend b\nbackend b\n  server s ${H2}:${PORTS.haproxyTls} ssl crt ${join(dir, 'client.pem')} ca-file ${join(dir, 'ca.pem')} verify required ssl-min-ver TLSv1.3\n`;
  const b = `${common}frontend f\n  bind ${H2}:${PORTS.haproxyTls} ssl crt ${join(dir, 'server.pem')} ca-file ${join(dir, 'ca.pem')} verify required ssl-min-ver TLSv1.3\n  default_backend b\nbackend b\n  server s 127.0.0.1:${PORTS.echo}\n`;
  writeFileSync(join(dir, 'a.cfg'), a);
  writeFileSync(join(dir, 'b.cfg'), b);
  return { a: join(dir, 'a.cfg'), b: join(dir, 'b.cfg') };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the mesh benchmark needs root (network namespaces)');
  requireTools(['ip', 'nsenter', 'haproxy'], 'iproute2 util-linux haproxy');
  const dir = mkdtempSync(join(tmpdir(), 'tug-bench-mesh-'));
  const ca = await MeshCa.open(join(dir, 'ca'), 'cluster.local');
  const [client, server] = [await issue(ca, CLIENT), await issue(ca, SERVER)];
  writeFileSync(join(dir, 'ca.pem'), ca.bundle());
  for (const [name, c] of [['client', client], ['server', server]] as const) {
    writeFileSync(join(dir, `${name}.key`), c.keyPem);
    writeFileSync(join(dir, `${name}.crt`), c.certPem);
    writeFileSync(join(dir, `${name}.pem`), c.certPem + c.keyPem);
  }
  makeSimulatedHosts(PREFIX, 2);
  const children: ChildProcess[] = [];
  try {
    const node = (h: number, part: string) => onHost(h, [process.execPath, SELF, '--inside', part, '--dir', dir], part);
    const cfg = haproxyConfigs(dir);
    children.push(await node(2, 'echo'), await node(1, 'plain'), await node(1, 'mesh-a'), await node(2, 'mesh-b'));
    children.push(await onHost(1, ['haproxy', '-db', '-f', cfg.a], 'haproxy a'), await onHost(2, ['haproxy', '-db', '-f', cfg.b], 'haproxy b'));
    const relays: Record<string, ChildProcess[]> = { direct: [], plain: [children[1]], mesh: [children[2], children[3]], haproxy: [children[4], children[5]] };
    const measurer = spawn('nsenter', [`--net=/run/netns/${PREFIX}-h1`, '--', process.execPath, SELF, '--inside', 'client', '--dir', dir, '--seconds', String(SECONDS)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const cpu: Record<string, number> = {};
    let out = '';
    let began = 0;
    measurer.stdout!.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) {
        const m = /^(start|stop) (\w+)$/.exec(line);
        if (!m) {
          out += line;
          continue;
        }
        const total = relays[m[2]].reduce((sum, c) => sum + cpuSeconds(c.pid!), 0);
        if (m[1] === 'start') began = total;
        else cpu[m[2]] = total - began;
        measurer.stdin!.write('go\n');
      }
    });
    await once(measurer, 'exit');
    const results = JSON.parse(out) as Record<string, { rate: number; p99us: number; conns: number; error?: string }>;
    const failed = Object.entries(results).filter(([, r]) => r.error);
    if (failed.length > 0) throw new Error(failed.map(([name, r]) => `${name}: ${r.error}`).join('; '));
    report(results, cpu);
  } finally {
    for (const c of children) c.kill('SIGKILL');
    removeHosts();
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(r: Record<string, { rate: number; p99us: number; conns: number }>, cpu: Record<string, number>): void {
  // Each part ran round trips for SECONDS, then new connections for SECONDS: CPU per round trip
  // counts both, so it is given per unit of the whole part's work.
  const perRt = (name: string) => ((cpu[name] ?? 0) * 1e6) / (r[name].rate * SECONDS + r[name].conns * SECONDS);
  const row = (name: string, label: string) =>
    `| ${label} | ${Math.round(r[name].rate)} | ${Math.round(r[name].p99us)} µs | ${name === 'direct' ? '' : `${perRt(name).toFixed(1)} µs`} | ${Math.round(r[name].conns)} |`;
  console.log(
    [
      '| path (host 1 → host 2) | round trips/s (8 connections) | p99 | relay CPU per round trip or connection | new connections/s |',
      '|---|---|---|---|---|',
      row('direct', 'no relay'),
      row('plain', 'plain TCP relay (Node)'),
      row('mesh', 'mesh tunnel: HTTP/2 CONNECT over mTLS 1.3 (Node, both hosts)'),
      row('haproxy', 'peer: HAProxy pair, mTLS 1.3 (both hosts)'),
      '',
      `mesh against the HAProxy pair: ${(r.mesh.rate / r.haproxy.rate).toFixed(2)}× round trips/s (target ≥ 0.8×), ${(r.mesh.conns / r.haproxy.conns).toFixed(2)}× new connections/s; CPU per unit ${(perRt('mesh') / perRt('plain')).toFixed(2)}× the plain relay's (target ≤ 1.5×)`,
    ].join('\n'),
  );
}

if (values.inside) await insideMain(values.inside, values.dir!);
else await main();
