// Cluster DNS benchmark (issue 7): dnsperf against tugboat's DNS server (the fast path over the
// batched native UDP socket and over dgram, and the dns2 path, one process each), unbound and
// dnsmasq, all serving the same 1,000 ClusterIP services as local data with no upstream (nothing
// leaves 127.0.0.1), plus the floor of a Node dgram responder that answers every query with one
// fixed record. The query list is an A query for every `<svc>.<ns>.svc.cluster.local` plus 10%
// names that do not exist (NXDOMAIN). The server runs pinned to core 0, dnsperf to core 1.
//
// Queries/s: dnsperf with `-q` queries outstanding and no rate limit, in rounds that go through
// every server in turn (other work on a shared machine then hurts each about the same); the
// best round counts, and each round notes how busy core 0 was with other work. p99: dnsperf 2.10
// has no histogram option but prints every answer's latency with `-v`, so one verbose run at full
// speed gives p99 at peak, and verbose runs rate-limited to half the best peak (`-Q`), one per
// round, give p99 at half load (best and median reported). Verbose output costs dnsperf CPU, so
// queries/s come from the quiet runs only. The server's CPU time per answer is reported too: on
// a shared machine it moves far less than queries/s.
//
//   npm run bench:dns [-- --duration 5 --rounds 3 --outstanding 200 --services 1000 --only unbound,fast]
//   npm run bench:dns -- --baseline /other/build/dist/bench/dns.js   (adds another build's server,
//     e.g. an earlier commit with this file copied in, as `tugboat (baseline)`)
//   node dist/bench/dns.js --serve fast|dgram|dns2|floor --port P --services N   (the Node server process)
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Endpoints, Service } from '../api/types.js';
import { buildZone, startDns, TYPE } from '../dns/index.js';
import { coreTicks, cpuSeconds, freeUdpTcpPort, HOST, ratio, requireTools, start, stop, table } from './harness.js';

const SELF = fileURLToPath(import.meta.url);
const DOMAIN = 'cluster.local';

const { values } = parseArgs({
  options: {
    serve: { type: 'string' },
    port: { type: 'string' },
    services: { type: 'string', default: '1000' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    outstanding: { type: 'string', default: '200' },
    only: { type: 'string' },
    baseline: { type: 'string' },
  },
});

interface ClusterService {
  name: string;
  namespace: string;
  clusterIP: string;
}

/** N ClusterIP services over 10 namespaces, ClusterIPs in 127.77.0.0/16. */
function clusterServices(n: number): ClusterService[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `svc-${i}`,
    namespace: `ns-${i % 10}`,
    clusterIP: `127.77.${1 + (i >> 8)}.${i & 255}`,
  }));
}

const fqdn = (s: ClusterService): string => `${s.name}.${s.namespace}.svc.${DOMAIN}`;

/** The tugboat server process: the zone from Service/Endpoints objects through buildZone, served by startDns. */
async function serve(path: string, port: number, n: number): Promise<void> {
  const services: Service[] = clusterServices(n).map((s) => ({
    metadata: { name: s.name, namespace: s.namespace },
    spec: { clusterIP: s.clusterIP, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  }));
  const endpoints: Endpoints[] = [];
  const zone = buildZone(services, endpoints, { domain: DOMAIN, serial: 1 });
  const dns = await startDns({
    addr: `${HOST}:${port}`,
    domain: DOMAIN,
    upstreams: [], // names outside the domain get SERVFAIL; nothing is forwarded
    zone: () => zone,
    fastPath: path !== 'dns2',
    udpBatch: path === 'fast',
    log: (m) => console.error(m),
  });
  if (path === 'fast' && !dns.udpBatched) throw new Error('batched UDP is not built (npm install builds it with node-gyp)');
  console.log('ready');
  process.on('SIGTERM', () => {
    void dns.stop().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}

/**
 * The floor: a bare dgram socket answering every query with one fixed A record (the query's own
 * bytes plus an answer pointing at its name), no lookup, no metrics.
 */
async function serveFloor(port: number): Promise<void> {
  const sock = createSocket('udp4');
  const answer = Buffer.from([0xc0, 0x0c, 0, TYPE.A, 0, 1, 0, 0, 0, 5, 0, 4, 127, 77, 0, 1]);
  sock.on('error', (e) => console.error(e.message));
  sock.on('message', (msg, rinfo) => {
    if (msg.length < 12 || msg[11] !== 0) return;
    const out = Buffer.allocUnsafe(msg.length + answer.length);
    msg.copy(out);
    answer.copy(out, msg.length);
    out[2] = 0x84 | (msg[2] & 1);
    out[3] = 0x80;
    out[7] = 1;
    sock.send(out, rinfo.port, rinfo.address);
  });
  sock.bind(port, HOST, () => console.log('ready'));
  process.on('SIGTERM', () => sock.close(() => process.exit(0)));
}

/** Sends an A query for `name` until an answer comes back; fails early when `child` exits. */
async function waitAnswering(port: number, child: ChildProcess, name: string, label: string): Promise<void> {
  const labels = name.split('.');
  const q = Buffer.concat([
    Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]),
    ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])),
    Buffer.from([0, 0, TYPE.A, 0, 1]),
  ]);
  const sock = createSocket('udp4');
  sock.on('error', () => undefined);
  try {
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null) throw new Error(`${label} exited with ${child.exitCode}`);
      const ok = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => { sock.off('message', got); resolve(false); }, 50);
        const got = (m: Buffer): void => {
          clearTimeout(timer);
          sock.off('message', got);
          resolve(m.length >= 12 && (m[3] & 0xf) === 0);
        };
        sock.on('message', got);
        sock.send(q, port, HOST);
      });
      if (ok) return;
    }
    throw new Error(`${label} did not answer ${name} on ${port}`);
  } finally {
    sock.close();
  }
}

interface PerfResult {
  qps: number;
  completed: number;
  lost: number;
  p99ms: number;
  rcodes: string;
}

/**
 * One dnsperf run on core 1. With `verbose`, every answer's latency goes to a file and p99 is
 * computed from it.
 */
function dnsperf(dir: string, data: string, port: number, seconds: number, outstanding: number, opts: { verbose?: boolean; qps?: number } = {}): PerfResult {
  const args = ['-c', '1', 'dnsperf', '-s', HOST, '-p', String(port), '-d', data, '-l', String(seconds), '-q', String(outstanding), '-t', '2'];
  if (opts.qps) args.push('-Q', String(Math.round(opts.qps)));
  if (opts.verbose) args.push('-v');
  const outFile = join(dir, 'dnsperf.out');
  const fd = openSync(outFile, 'w');
  let r;
  try {
    r = spawnSync('taskset', args, { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' });
  } finally {
    closeSync(fd);
  }
  const out = readFileSync(outFile, 'utf8');
  if (r.status !== 0) throw new Error(`dnsperf failed (${r.status}): ${r.stderr}\n${out.slice(-2000)}`);
  const qps = Number(/Queries per second:\s+([\d.]+)/.exec(out)?.[1]);
  const completed = Number(/Queries completed:\s+(\d+)/.exec(out)?.[1]);
  const lost = Number(/Queries lost:\s+(\d+)/.exec(out)?.[1]);
  const rcodes = /Response codes:\s+(.*)$/m.exec(out)?.[1]?.trim() ?? '';
  let p99ms = NaN;
  if (opts.verbose) {
    // `> NOERROR svc-1.ns-1.svc.cluster.local A 0.000123` per answer; timeouts are `> T ...`.
    const latencies: number[] = [];
    let timeouts = 0;
    for (const line of out.split('\n')) {
      if (!line.startsWith('> ')) continue;
      if (line.startsWith('> T ')) { timeouts++; continue; }
      const v = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (!Number.isNaN(v)) latencies.push(v);
    }
    latencies.sort((a, b) => a - b);
    // A lost query counts as slower than any answer.
    const all = latencies.length + timeouts;
    const i = Math.ceil(all * 0.99) - 1;
    p99ms = i < latencies.length && i >= 0 ? latencies[i] * 1000 : Infinity;
  }
  return { qps, completed, lost, p99ms, rcodes };
}

interface Row {
  name: string;
  peaks: PerfResult[];
  cpuUsPerQuery: number[];
  /** Per round: the share of core 0 that other processes used (other work on a shared machine). */
  othersOnCore: number[];
  atPeak?: PerfResult;
  half: PerfResult[];
}

const best = (r: Row): PerfResult => r.peaks.reduce((a, b) => (b.qps > a.qps ? b : a));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN;

function unboundConfig(dir: string, port: number, services: ClusterService[]): string {
  const file = join(dir, 'unbound.conf');
  const lines = [
    'server:',
    `  interface: ${HOST}`,
    `  port: ${port}`,
    '  do-daemonize: no',
    '  username: ""',
    '  chroot: ""',
    `  directory: "${dir}"`,
    `  pidfile: "${dir}/unbound.pid"`,
    '  num-threads: 1',
    '  use-syslog: no',
    `  logfile: "${dir}/unbound.log"`,
    '  verbosity: 0',
    '  do-ip6: no',
    '  access-control: 127.0.0.0/8 allow',
    '  module-config: "iterator"',
    // Everything outside the cluster zone is refused: unbound never recurses or forwards.
    '  local-zone: "." refuse',
    `  local-zone: "${DOMAIN}." static`,
    `  local-data: "${DOMAIN}. 5 IN SOA ns.dns.${DOMAIN}. hostmaster.${DOMAIN}. 1 7200 1800 86400 5"`,
    ...services.map((s) => `  local-data: "${fqdn(s)}. 5 IN A ${s.clusterIP}"`),
    'remote-control:',
    '  control-enable: no',
  ];
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

function dnsmasqArgs(dir: string, port: number, services: ClusterService[]): string[] {
  const hosts = join(dir, 'dnsmasq.hosts');
  writeFileSync(hosts, services.map((s) => `${s.clusterIP} ${fqdn(s)}`).join('\n') + '\n');
  return [
    '--keep-in-foreground', '--conf-file=/dev/null', '--user=root', `--pid-file=${dir}/dnsmasq.pid`,
    `--port=${port}`, `--listen-address=${HOST}`, '--bind-interfaces',
    // No upstream at all: no resolv.conf, no /etc/hosts, and the cluster domain answered locally
    // (unknown names NXDOMAIN, never forwarded).
    '--no-resolv', '--no-hosts', '--no-poll', `--local=/${DOMAIN}/`,
    `--addn-hosts=${hosts}`, '--local-ttl=5', '--cache-size=10000', `--log-facility=${dir}/dnsmasq.log`,
  ];
}

async function bench(): Promise<void> {
  const seconds = Number(values.duration);
  const warmup = Number(values.warmup);
  const outstanding = Number(values.outstanding);
  const rounds = Math.max(1, Number(values.rounds));
  const n = Number(values.services);
  requireTools(['dnsperf', 'unbound', 'dnsmasq', 'taskset'], 'dnsperf unbound dnsmasq-base util-linux');
  const only = values.only?.split(',');
  const services = clusterServices(n);
  const dir = mkdtempSync(join(tmpdir(), 'tug-bench-dns-'));
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  process.on('exit', removeDir); // also when interrupted
  const data = join(dir, 'queries.txt');
  {
    // 1,000 names and 100 that do not exist, interleaved.
    const lines: string[] = [];
    services.forEach((s, i) => {
      lines.push(`${fqdn(s)} A`);
      if (i % 10 === 9) lines.push(`missing-${i}.${s.namespace}.svc.${DOMAIN} A`);
    });
    writeFileSync(data, `${lines.join('\n')}\n`);
  }
  const probe = fqdn(services[0]);
  const children: ChildProcess[] = [];
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  interface Target {
    key: string;
    name: string;
    launch(port: number): ChildProcess;
  }
  const targets: Target[] = [
    { key: 'unbound', name: 'unbound', launch: (port: number) => start('unbound', 0, 'unbound', ['-d', '-c', unboundConfig(dir, port, services)], join(dir, 'unbound.out')) },
    { key: 'dnsmasq', name: 'dnsmasq', launch: (port: number) => start('dnsmasq', 0, 'dnsmasq', dnsmasqArgs(dir, port, services), join(dir, 'dnsmasq.out')) },
    ...(['fast', 'dgram', 'dns2', 'floor'] as const).map((path) => ({
      key: path,
      name: { fast: 'tugboat (fast path, batched UDP)', dgram: 'tugboat (fast path, dgram)', dns2: 'tugboat (dns2 path)', floor: 'node dgram floor (fixed answer)' }[path],
      launch: (port: number) => start(`tugboat ${path}`, 0, process.execPath, [SELF, '--serve', path, '--port', String(port), '--services', String(n)], join(dir, `tugboat-${path}.log`)),
    })),
    ...(values.baseline ? [{
      key: 'baseline',
      name: 'tugboat (baseline)',
      launch: (port: number) => start('baseline', 0, process.execPath, [values.baseline!, '--serve', 'fast', '--port', String(port), '--services', String(n)], join(dir, 'baseline.log')),
    }] : []),
  ].filter((x) => !only || only.includes(x.key));
  const rows = new Map<string, Row>(targets.map((x) => [x.key, { name: x.name, peaks: [], cpuUsPerQuery: [], othersOnCore: [], half: [] }]));
  /** Starts a target, runs `work` against it, and always stops it. */
  const withServer = async (target: Target, work: (port: number, child: ChildProcess) => void): Promise<void> => {
    const port = await freeUdpTcpPort();
    const child = target.launch(port);
    children.push(child);
    try {
      await waitAnswering(port, child, probe, target.name);
      dnsperf(dir, data, port, warmup, outstanding);
      work(port, child);
    } finally {
      await stop(child);
      children.splice(children.indexOf(child), 1);
    }
  };
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const target of targets) {
        const row = rows.get(target.key)!;
        await withServer(target, (port, child) => {
          const before = cpuSeconds(child.pid!);
          const core = coreTicks(0);
          const peak = dnsperf(dir, data, port, seconds, outstanding);
          const server = cpuSeconds(child.pid!) - before;
          const coreAfter = coreTicks(0);
          // Clock ticks are 1/100 s (USER_HZ), like cpuSeconds'.
          row.othersOnCore.push(Math.max(0, (coreAfter.busy - core.busy) / 100 - server) / ((coreAfter.total - core.total) / 100));
          row.cpuUsPerQuery.push((server / peak.completed) * 1e6);
          row.peaks.push(peak);
          console.error(`round ${round}, ${target.name}: ${Math.round(peak.qps)} q/s (${peak.rcodes}), ${row.cpuUsPerQuery.at(-1)!.toFixed(1)} µs CPU/query, other processes on core 0: ${Math.round(row.othersOnCore.at(-1)! * 100)}%`);
        });
      }
    }
    for (let round = 1; round <= rounds; round++) {
      for (const target of targets) {
        const row = rows.get(target.key)!;
        await withServer(target, (port) => {
          if (round === 1) {
            row.atPeak = dnsperf(dir, data, port, seconds, outstanding, { verbose: true });
            console.error(`${target.name}: p99 ${row.atPeak.p99ms.toFixed(3)} ms at peak`);
          }
          const half = dnsperf(dir, data, port, seconds, outstanding, { verbose: true, qps: best(row).qps / 2 });
          row.half.push(half);
          console.error(`round ${round}, ${target.name}: p99 ${half.p99ms.toFixed(3)} ms at ${Math.round(half.qps)} q/s`);
        });
      }
    }
  } finally {
    for (const child of children) await stop(child);
    removeDir();
    process.off('exit', removeDir);
  }
  printTable([...rows.values()], { seconds, outstanding, n, load, rounds });
}

function printTable(rows: Row[], run: { seconds: number; outstanding: number; n: number; load: string; rounds: number }): void {
  const unbound = rows.find((r) => r.name === 'unbound');
  const capacity = (r: Row): number => 1e6 / median(r.cpuUsPerQuery);
  const header = [
    'server', 'queries/s (best)', 'rounds q/s', 'core 0 other work', 'q/s vs unbound', 'CPU µs/query', 'q/s per CPU-second', 'vs unbound',
    'p99 ms at peak', 'p99 ms at half load (best/median)', 'lost', 'response codes (best round)',
  ];
  const lines = rows.map((r) => {
    const b = best(r);
    const lost = [...r.peaks, ...r.half, ...(r.atPeak ? [r.atPeak] : [])].reduce((a, x) => a + x.lost, 0);
    const halfP99 = r.half.map((h) => h.p99ms);
    return [
      r.name,
      String(Math.round(b.qps)),
      `${r.peaks.map((p) => Math.round(p.qps / 1000)).join('k/')}k`,
      r.othersOnCore.map((x) => `${Math.round(x * 100)}%`).join('/'),
      ratio(b.qps, unbound && best(unbound).qps),
      median(r.cpuUsPerQuery).toFixed(1),
      String(Math.round(capacity(r))),
      ratio(capacity(r), unbound && capacity(unbound)),
      r.atPeak ? r.atPeak.p99ms.toFixed(3) : '-',
      `${Math.min(...halfP99).toFixed(3)} / ${median(halfP99).toFixed(3)} @ ${Math.round(median(r.half.map((h) => h.qps)))} q/s`,
      String(lost),
      b.rcodes,
    ];
  });
  console.log(`\ndnsperf 2.10 -q${run.outstanding} -l${run.seconds}, ${run.rounds} round(s), ${run.n} ClusterIP names + 10% NXDOMAIN, server on core 0, dnsperf on core 1 (node ${process.version}, load average before: ${run.load})\n`);
  console.log(table(header, lines));
  console.log(`
queries/s: the best round. core 0 other work: per round, the share of core 0 that other processes used (the
core's user+system time minus the server's); other work on a shared machine lowers queries/s and inflates latency.
CPU µs/query: the server's utime+stime over a quiet peak run ÷ answers (median of rounds); q/s per CPU-second is its
inverse, what one core could answer with nothing else on it. p99 at half load: dnsperf -Q at half the best peak,
one verbose run per round.`);
}

if (values.serve === 'floor') {
  await serveFloor(Number(values.port));
} else if (values.serve) {
  await serve(values.serve, Number(values.port), Number(values.services));
} else {
  await bench();
}
