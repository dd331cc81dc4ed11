// Service proxy benchmark (issue 6): wrk -c50 -t1 for 10 s against the same 3 upstreams,
// directly (baseline) and through tugboat's HTTP mode, tugboat's TCP mode (with and without the
// native relay), nginx (round robin, upstream keepalive), HAProxy (tcp and http modes) and, as
// the floor, bench/minrelay.c (a TCP relay that only copies bytes: the least a proxy can cost
// here, which on a virtual machine is far from nothing). The proxy under test runs pinned to
// core 0, wrk and the upstreams to core 1. Reports requests/s, p99 latency and the proxy's CPU
// per request (utime+stime from /proc/<pid>/stat across the run ÷ requests), each the median of
// `--rounds` rounds (the targets take turns, so a noisy moment does not hit one target only).
//
// Added latency at half load: each proxy is also driven at half of its own peak rate by
// bench/loadgen.c (open loop: latency counts from when a request was due; wrk has no rate
// option and its Lua delay() is closed loop), and so is the direct upstream at that same rate;
// the difference of the two p99s is what the proxy adds (once per round; median and range
// reported). The floor runs at that rate too: what the proxy adds beyond the floor is its own.
// loadgen first sends one unrecorded request on each connection, so this is the latency of a
// proxy carrying established connections.
//
// New connections: wrk again, with `Connection: close` on every request, so each request is a
// new connection through the proxy (accept, upstream connect, one exchange, both closed):
// connections per second and the proxy's CPU per connection, the cost the runs above leave out.
// Needs a C compiler (gcc).
//
// Upstreams: one nginx process (1 worker, pinned with wrk) with three `return 200` servers:
// the cheapest stable HTTP server available here, so the proxy is what the runs compare.
//
//   npm run bench:proxy [-- --duration 10 --connections 50 --rounds 3 --only tcp,haproxy]
//   npm run bench:proxy -- --baseline /other/build/dist/bench/proxy.js   (adds that build's modes)
//   node dist/bench/proxy.js --serve http|tcp|tcp-js --port P --upstreams P1,P2,P3   (the proxy
//     process; tcp-js keeps every connection out of the native relay, and accepts with a net.Server)
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Balancer } from '../proxy/balancer.js';
import { createHttpForwarder } from '../proxy/http/index.js';
import { relayUnavailable } from '../proxy/relay.js';
import { createTcpForwarder } from '../proxy/tcp.js';
import { cpuSeconds, freePort, HOST, ratio, requireTools, start, stop, table, waitListening } from './harness.js';
import { HTTP_BENCH_OPTIONS, nginxConfig, serveForwarder, startUpstreams, wrk, type WrkResult } from './http-load.js';

const SELF = fileURLToPath(import.meta.url);

const { values } = parseArgs({
  options: {
    ...HTTP_BENCH_OPTIONS,
    rounds: { type: 'string', default: '3' },
    'half-load-duration': { type: 'string', default: '5' },
    'connect-duration': { type: 'string', default: '5' },
    /** Only the targets whose name contains one of these (comma-separated, case-insensitive). */
    only: { type: 'string' },
    /** Another build's dist/bench/proxy.js: its tugboat modes run too, as `(baseline)`. */
    baseline: { type: 'string' },
  },
});

/** The proxy process of the tugboat runs: a forwarder behind a listener, static endpoints. */
function serve(mode: string, port: number, upstreams: number[]): void {
  const balancer = new Balancer();
  balancer.setEndpoints(upstreams.map((p) => ({ ip: HOST, port: p })));
  const service = 'bench/upstream';
  const picker = () => balancer;
  if (mode === 'tcp' && relayUnavailable()) throw new Error(`the native relay is not built: ${relayUnavailable()} (npm install builds it with node-gyp)`);
  serveForwarder(mode === 'http' ? createHttpForwarder({ service, picker }) : createTcpForwarder({ service, picker, nativeRelay: mode === 'tcp' }), port, mode !== 'tcp-js');
}

/** Builds bench/NAME.c (the open-loop load generator, or the minimal relay) into dir. */
function buildC(dir: string, name: string): string {
  const source = join(dirname(SELF), '..', '..', 'bench', `${name}.c`);
  const binary = join(dir, name);
  const r = spawnSync('cc', ['-O2', '-o', binary, source], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building ${source} failed (apt-get install -y gcc): ${r.stderr || r.error?.message}`);
  return binary;
}

/** The load generator at a fixed rate against the port, on core 1. */
function paced(loadgen: string, port: number, rate: number, seconds: number, connections: number): WrkResult {
  const r = spawnSync('taskset', ['-c', '1', loadgen, HOST, String(port), String(rate), String(seconds), String(connections)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`loadgen failed: ${r.stderr}`);
  const field = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(r.stdout)?.[1]);
  const late = field('late');
  const errors = field('errors');
  return {
    rps: field('rate'),
    p99ms: field('p99_us') / 1000,
    requests: field('requests'),
    errors: [errors ? `${errors} without response` : '', late ? `${late} sent late` : ''].filter(Boolean).join(', '),
  };
}

interface Row {
  name: string;
  result: WrkResult;
  cpuUsPerReq: number | undefined;
  /** At half of this target's peak rate, per round: the p99 through it, and straight to one upstream. */
  halfLoad?: { rate: number; p99ms: number[]; addedMs: number[]; beyondFloorMs: number[] };
  /** A new connection per request, per round: connections per second and CPU µs per connection. */
  connects?: { rate: number[]; cpuUs: number[] };
}

/** A target of the benchmark: something listening in front of the upstreams (or one of them). */
interface Target {
  name: string;
  /** Starts the proxy and returns its port and process (none for the direct run). */
  launch(): Promise<{ port: number; child?: ChildProcess }>;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Median and range, in ms. */
const spread = (xs: number[]): string => `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)})`;

async function bench(): Promise<void> {
  const seconds = Number(values.duration);
  const warmup = Number(values.warmup);
  const connections = Number(values.connections);
  const rounds = Number(values.rounds);
  const halfSeconds = Number(values['half-load-duration']);
  const connectSeconds = Number(values['connect-duration']);
  requireTools(['wrk', 'nginx', 'haproxy', 'taskset'], 'wrk nginx-light haproxy');
  const dir = mkdtempSync(join(tmpdir(), 'tug-bench-proxy-'));
  const children: ChildProcess[] = [];
  const loadgen = buildC(dir, 'loadgen');
  try {
    const ups = [await freePort(), await freePort(), await freePort()];
    children.push(await startUpstreams(dir, ups));

    const targets = proxyTargets(dir, ups);
    const direct: Target = { name: 'direct (one upstream)', launch: async () => ({ port: ups[0] }) };

    /** Starts a target, warms it up, runs `run` against it and stops it again. */
    const session = async <T>(target: Target, run: (port: number, child?: ChildProcess) => T): Promise<T> => {
      const { port, child } = await target.launch();
      if (child) children.push(child);
      try {
        if (child) await waitListening(port, child, target.name);
        wrk(port, warmup, connections);
        return run(port, child);
      } finally {
        if (child) {
          await stop(child);
          children.splice(children.indexOf(child), 1);
        }
      }
    };

    const samples = new Map<string, Array<{ result: WrkResult; cpuUsPerReq: number | undefined }>>();
    for (let round = 1; round <= rounds; round++) {
      for (const target of [direct, ...targets]) {
        const sample = await session(target, (port, child) => {
          const before = child ? cpuSeconds(child.pid!) : 0;
          const result = wrk(port, seconds, connections);
          const after = child ? cpuSeconds(child.pid!) : 0;
          return { result, cpuUsPerReq: child ? ((after - before) / result.requests) * 1e6 : undefined };
        });
        samples.set(target.name, [...(samples.get(target.name) ?? []), sample]);
        const cpu = sample.cpuUsPerReq === undefined ? '' : `, ${sample.cpuUsPerReq.toFixed(1)} µs CPU/req`;
        console.error(`round ${round}/${rounds} ${target.name}: ${Math.round(sample.result.rps)} req/s, p99 ${sample.result.p99ms} ms${cpu}${sample.result.errors ? `, ${sample.result.errors}` : ''}`);
      }
    }

    const rows: Row[] = [...samples].map(([name, runs]) => ({
      name,
      result: {
        rps: median(runs.map((r) => r.result.rps)),
        p99ms: median(runs.map((r) => r.result.p99ms)),
        requests: median(runs.map((r) => r.result.requests)),
        errors: runs.map((r) => r.result.errors).filter(Boolean).join('; '),
      },
      cpuUsPerReq: runs[0].cpuUsPerReq === undefined ? undefined : median(runs.map((r) => r.cpuUsPerReq!)),
    }));

    // New connections, in rounds that take every target in turn too.
    for (let round = 1; round <= rounds; round++) {
      for (const target of [direct, ...targets]) {
        const row = rows.find((r) => r.name === target.name)!;
        const { result, cpuUs } = await session(target, (port, child) => {
          const before = child ? cpuSeconds(child.pid!) : 0;
          const result = wrk(port, connectSeconds, connections, ['Connection: close']);
          const cpuUs = child ? ((cpuSeconds(child.pid!) - before) / result.requests) * 1e6 : NaN;
          return { result, cpuUs };
        });
        row.connects ??= { rate: [], cpuUs: [] };
        row.connects.rate.push(result.rps);
        row.connects.cpuUs.push(cpuUs);
        const cpu = Number.isNaN(cpuUs) ? '' : `, ${cpuUs.toFixed(1)} µs CPU/connection`;
        console.error(`round ${round}/${rounds} new connections ${target.name}: ${Math.round(result.rps)}/s${cpu}${result.errors ? `, ${result.errors}` : ''}`);
      }
    }

    // Half load, in rounds that take every target in turn too: one p99 is too noisy to go by.
    // The floor runs at each target's rate too, since the load generator's own core limits how
    // low a p99 can be at a given rate.
    const floor = targets.find((t) => t.name === MINIMAL);
    for (let round = 1; round <= rounds; round++) {
      for (const target of targets) {
        if (target === floor) continue;
        const row = rows.find((r) => r.name === target.name)!;
        const rate = Math.round(row.result.rps / 2);
        // A first paced run at the same rate is thrown away: pinned to one core, Node's JIT and GC
        // threads share it with the event loop, and the first seconds at a new rate stall for
        // tens of milliseconds while code is optimized.
        const twice = (port: number) => (paced(loadgen, port, rate, halfSeconds, connections), paced(loadgen, port, rate, halfSeconds, connections));
        const through = await session(target, twice);
        const straight = await session(direct, twice);
        const least = floor && (await session(floor, twice));
        row.halfLoad ??= { rate, p99ms: [], addedMs: [], beyondFloorMs: [] };
        row.halfLoad.p99ms.push(through.p99ms);
        row.halfLoad.addedMs.push(through.p99ms - straight.p99ms);
        if (least) row.halfLoad.beyondFloorMs.push(through.p99ms - least.p99ms);
        const notes = [through.errors, straight.errors && `direct: ${straight.errors}`, least?.errors && `floor: ${least.errors}`].filter(Boolean).join('; ');
        const floorNote = least ? `, through the floor ${least.p99ms} ms` : '';
        console.error(`round ${round}/${rounds} half load ${target.name}: ${rate} req/s asked, ${Math.round(through.rps)} done, p99 ${through.p99ms} ms (direct at that rate ${straight.p99ms} ms${floorNote})${notes ? `, ${notes}` : ''}`);
      }
    }
    printTable(rows, seconds, connections, rounds);
  } finally {
    for (const child of children) await stop(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The floor: bench/minrelay.c, a TCP relay that does nothing else (no timeouts, retries, health or metrics). */
const MINIMAL = 'minimal TCP relay in C (floor)';

/** tugboat's two modes, nginx, HAProxy's two modes and the floor, all in front of the same upstreams. */
function proxyTargets(dir: string, ups: number[]): Target[] {
  const tugboat = (mode: 'http' | 'tcp' | 'tcp-js', build = SELF, suffix = ''): Target => ({
    name: mode === 'tcp-js' ? `tugboat TCP mode, relayed in JavaScript${suffix}` : `tugboat ${mode.toUpperCase()} mode${suffix}`,
    launch: async () => {
      const port = await freePort();
      const child = start(`tugboat ${mode}${suffix}`, 0, process.execPath, [build, '--serve', mode, '--port', String(port), '--upstreams', ups.join(',')], join(dir, `tugboat-${mode}${suffix ? '-baseline' : ''}.log`));
      return { port, child };
    },
  });
  const nginx: Target = {
    name: 'nginx (http, keepalive)',
    launch: async () => {
      const port = await freePort();
      const conf = nginxConfig(
        dir,
        'proxy',
        `  upstream ups {
${ups.map((p) => `    server ${HOST}:${p};`).join('\n')}
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen ${HOST}:${port};
    location / {
      proxy_pass http://ups;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }`,
      );
      return { port, child: start('nginx', 0, 'nginx', ['-e', join(dir, 'proxy-early.log'), '-p', dir, '-c', conf], join(dir, 'nginx.log')) };
    },
  };
  const haproxy = (mode: 'tcp' | 'http'): Target => ({
    name: `HAProxy ${mode}`,
    launch: async () => {
      const port = await freePort();
      const conf = join(dir, `haproxy-${mode}.cfg`);
      const servers = ups.map((p, i) => `  server s${i} ${HOST}:${p}`).join('\n');
      writeFileSync(
        conf,
        `global
  nbthread 1
  maxconn 4000
defaults
  mode ${mode}
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind ${HOST}:${port}
${mode === 'http' ? '  option http-keep-alive\n  option forwardfor\n' : ''}  default_backend be
backend be
  balance roundrobin
${mode === 'http' ? '  http-reuse always\n' : ''}${servers}
`,
      );
      return { port, child: start(`haproxy ${mode}`, 0, 'haproxy', ['-db', '-f', conf], join(dir, `haproxy-${mode}.log`)) };
    },
  });
  const minrelay: Target = {
    name: MINIMAL,
    launch: async () => {
      const port = await freePort();
      return { port, child: start('minrelay', 0, buildC(dir, 'minrelay'), [String(port), ...ups.map(String)], join(dir, 'minrelay.log')) };
    },
  };
  const all = [tugboat('http'), tugboat('tcp'), tugboat('tcp-js'), ...(values.baseline ? [tugboat('http', values.baseline, ' (baseline)'), tugboat('tcp', values.baseline, ' (baseline)')] : []), nginx, haproxy('tcp'), haproxy('http'), minrelay];
  const only = values.only?.toLowerCase().split(',').filter(Boolean);
  return only ? all.filter((t) => only.some((o) => t.name.toLowerCase().includes(o))) : all;
}

function printTable(rows: Row[], seconds: number, connections: number, rounds: number): void {
  const find = (prefix: string) => rows.find((r) => r.name.startsWith(prefix));
  const nginx = find('nginx');
  const haTcp = find('HAProxy tcp');
  const haHttp = find('HAProxy http');
  const header = ['target', 'req/s', 'p99 ms', 'CPU µs/req', 'req/s vs nginx', 'req/s vs HAProxy (same mode)', 'CPU vs nginx', 'half load: req/s', 'p99 ms', 'added p99 ms (median, min-max)', 'beyond the floor', 'new conn/s', 'vs HAProxy', 'CPU µs/conn', 'errors'];
  const lines = rows.map((r) => {
    const peer = r.name.includes('TCP') || r.name === 'HAProxy tcp' ? haTcp : r.name.startsWith('direct') ? undefined : haHttp;
    return [
      r.name,
      String(Math.round(r.result.rps)),
      r.result.p99ms.toFixed(2),
      r.cpuUsPerReq === undefined ? '-' : r.cpuUsPerReq.toFixed(1),
      ratio(r.result.rps, nginx?.result.rps),
      ratio(r.result.rps, peer?.result.rps),
      ratio(r.cpuUsPerReq, nginx?.cpuUsPerReq),
      r.halfLoad ? String(r.halfLoad.rate) : '-',
      r.halfLoad ? median(r.halfLoad.p99ms).toFixed(2) : '-',
      r.halfLoad ? spread(r.halfLoad.addedMs) : '-',
      r.halfLoad?.beyondFloorMs.length ? spread(r.halfLoad.beyondFloorMs) : '-',
      r.connects ? String(Math.round(median(r.connects.rate))) : '-',
      r.connects && peer?.connects ? ratio(median(r.connects.rate), median(peer.connects.rate)) : '-',
      r.connects && !r.connects.cpuUs.some(Number.isNaN) ? median(r.connects.cpuUs).toFixed(1) : '-',
      r.result.errors || '-',
    ];
  });
  console.log(`\nwrk -c${connections} -t1 -d${seconds}s, median of ${rounds} rounds; proxy on core 0, wrk + upstream nginx on core 1 (node ${process.version})\n`);
  console.log(table(header, lines));
  console.log('\nhalf load: each proxy paced at half of its own peak over connections warmed by one request, once per round; added p99 = its p99 minus the direct p99 at the same rate in the same round.');
  if (find(MINIMAL)) console.log("beyond the floor: its p99 minus the p99 through bench/minrelay.c (a relay that only copies bytes) at the same rate in the same round, what the proxy adds beyond what any user-space relay adds on this machine.");
  console.log(`new conn/s: wrk -c${connections} with \`Connection: close\`, one new connection per request (median of ${rounds} rounds); CPU is the proxy's per connection.`);
}

if (values.serve) {
  serve(values.serve, Number(values.port), (values.upstreams ?? '').split(',').map(Number));
} else {
  await bench();
}
