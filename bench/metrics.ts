// Metrics cost (issue 8). Two measurements:
// 1. One scrape of a node's registry (the node's own metrics, Node.js defaults, DNS, and the
//    proxy's with 100 Services × 10 endpoints that all carried traffic): time of
//    `registry.metrics()` (median and p90 of 50 scrapes after warm-up) and the body's bytes.
// 2. The HTTP proxy's throughput with its metrics observer on and off: one upstream nginx with
//    three `return 200` servers, the proxy process pinned to core 0, wrk -c50 -t1 and nginx to
//    core 1, runs alternated off/on/off/on so drift hits both. CPU µs per request from
//    /proc/<pid>/stat, as bench/proxy.ts does; and, steadier on a shared machine, the CPU time
//    the metrics observer adds per request, measured in process.
//
//   npm run bench:metrics [-- --duration 10 --rounds 2]
//   node dist/bench/metrics.js --serve on|off --port P --upstreams P1,P2,P3   (the proxy process)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { DnsMetrics } from '../dns/metrics.js';
import { NodeMetrics } from '../node/metrics.js';
import { Balancer } from '../proxy/balancer.js';
import { createHttpForwarder } from '../proxy/http/index.js';
import { ProxyMetrics } from '../proxy/metrics.js';
import type { ServicePortEntry } from '../proxy/table.js';
import type { Endpoint, Forwarder } from '../proxy/types.js';

const HOST = '127.0.0.1';
const SELF = fileURLToPath(import.meta.url);
// The ports the benchmark binds: upstreams, then the proxy.
const UPSTREAM_PORTS = [25150, 25151, 25152];
const PROXY_PORT = 25153;

const { values } = parseArgs({
  options: {
    serve: { type: 'string' },
    port: { type: 'string' },
    upstreams: { type: 'string' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    services: { type: 'string', default: '100' },
    endpoints: { type: 'string', default: '10' },
  },
});

function entry(namespace: string, service: string, endpoints: Endpoint[]): ServicePortEntry {
  return { key: `${namespace}/${service}:http`, namespace, service, portName: 'http', protocol: 'TCP', mode: 'http', clusterIP: '127.77.0.1', port: 80, endpoints, notReady: 0 };
}

/** A node registry whose proxy has seen traffic on services × endpoints, as a busy node's would. */
function populatedRegistry(services: number, endpoints: number): Registry {
  const node = new NodeMetrics('bench-node', () => new Map([['Running', services * endpoints]]));
  new DnsMetrics(node.registry).observe(1, 0, 'cluster', 0.0002);
  const entries: ServicePortEntry[] = [];
  for (let s = 0; s < services; s++) {
    const eps = Array.from({ length: endpoints }, (_, e) => ({ ip: '127.0.0.1', port: 20000 + s * endpoints + e, pod: `svc-${s}-7d9f8c6b5-${String(e).padStart(5, 'x')}` }));
    entries.push(entry('default', `svc-${s}`, eps));
  }
  const proxy = new ProxyMetrics(node.registry, () => entries.map((e) => ({ entry: e, ready: e.endpoints.length, ejected: 0 })));
  for (const e of entries) {
    const observer = proxy.observerFor(e);
    for (const ep of e.endpoints) {
      observer.connection?.(ep);
      observer.request?.(ep, 200, 0.002);
      observer.request?.(ep, 503, 0.01);
    }
    observer.upstreamFailure?.(e.endpoints[0], 'connect');
  }
  proxy.programmingLatency.observe(0.01);
  return node.registry;
}

async function scrapeCost(services: number, endpoints: number): Promise<{ medianMs: number; p90Ms: number; bytes: number; series: number }> {
  const registry = populatedRegistry(services, endpoints);
  for (let i = 0; i < 5; i++) await registry.metrics();
  const times: number[] = [];
  let body = '';
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    body = await registry.metrics();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const series = body.split('\n').filter((l) => l && !l.startsWith('#')).length;
  return { medianMs: times[25], p90Ms: times[45], bytes: Buffer.byteLength(body), series };
}

/** CPU time of one observer.request() (what the proxy adds per HTTP request), in ns: median of 5 × 1M calls. */
function observerCost(): number {
  const eps = [0, 1, 2].map((i) => ({ ip: HOST, port: 25150 + i, pod: `upstream-${i}` }));
  const observer = new ProxyMetrics(new Registry(), () => []).observerFor(entry('bench', 'upstream', eps));
  const runs: number[] = [];
  for (let r = 0; r < 6; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < 1e6; i++) observer.request!(eps[i % 3], 200, 0.001);
    const used = process.cpuUsage(t0);
    if (r > 0) runs.push(((used.user + used.system) * 1000) / 1e6);
  }
  return runs.sort((a, b) => a - b)[2];
}

/** The proxy process: the HTTP forwarder over three static endpoints, with or without metrics. */
async function serve(metrics: boolean, port: number, upstreams: number[]): Promise<void> {
  const balancer = new Balancer();
  const eps = upstreams.map((p, i) => ({ ip: HOST, port: p, pod: `upstream-${i}` }));
  balancer.setEndpoints(eps);
  const observer = metrics ? new ProxyMetrics(new Registry(), () => []).observerFor(entry('bench', 'upstream', eps)) : undefined;
  const forwarder: Forwarder = createHttpForwarder({ service: 'bench/upstream', picker: () => balancer, observer });
  const server = net.createServer((socket) => forwarder.handle(socket));
  server.on('error', (err) => {
    console.error(err);
    process.exit(1);
  });
  server.listen(port, HOST, () => console.log('ready'));
  process.on('SIGTERM', () => {
    server.close();
    void forwarder.close().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}

async function waitListening(port: number, child: ChildProcess, name: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, HOST);
      s.on('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${name} did not listen on ${port}`);
}

function start(core: number, cmd: string, args: string[]): ChildProcess {
  const child = spawn('taskset', ['-c', String(core), cmd, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  child.on('error', (err) => console.error(`${cmd}: ${err.message}`));
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function wrk(seconds: number, connections: number): { rps: number; requests: number; errors: string } {
  const r = spawnSync('taskset', ['-c', '1', 'wrk', `-c${connections}`, '-t1', `-d${seconds}s`, `http://${HOST}:${PROXY_PORT}/`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const errors = [/Socket errors:.*$/m.exec(r.stdout)?.[0], /Non-2xx or 3xx responses: \d+/.exec(r.stdout)?.[0]].filter(Boolean).join('; ');
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]), requests: Number(/(\d+) requests in/.exec(r.stdout)?.[1]), errors };
}

async function throughput(seconds: number, warmup: number, rounds: number, connections: number): Promise<Record<'off' | 'on', { rps: number[]; cpuUs: number[] }>> {
  for (const tool of ['wrk', 'nginx', 'taskset']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is not installed (apt-get install -y wrk nginx-light)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'tug-bench-metrics-'));
  const result = { off: { rps: [] as number[], cpuUs: [] as number[] }, on: { rps: [] as number[], cpuUs: [] as number[] } };
  let upstream: ChildProcess | undefined;
  try {
    const conf = join(dir, 'nginx.conf');
    writeFileSync(
      conf,
      `daemon off;\nmaster_process off;\nworker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\nevents { worker_connections 4096; }\n` +
        `http {\n  access_log off;\n  keepalive_requests 1000000;\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n  fastcgi_temp_path ${dir}/fastcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;\n` +
        UPSTREAM_PORTS.map((p, i) => `  server { listen ${HOST}:${p}; location / { return 200 "hello from upstream ${i}\\n"; } }\n`).join('') +
        '}\n',
    );
    upstream = start(1, 'nginx', ['-e', join(dir, 'early.log'), '-p', dir, '-c', conf]);
    for (const p of UPSTREAM_PORTS) await waitListening(p, upstream, 'upstream nginx');
    for (let round = 0; round < rounds; round++) {
      for (const mode of ['off', 'on'] as const) {
        const proxy = start(0, process.execPath, [SELF, '--serve', mode, '--port', String(PROXY_PORT), '--upstreams', UPSTREAM_PORTS.join(',')]);
        try {
          await waitListening(PROXY_PORT, proxy, `proxy (metrics ${mode})`);
          wrk(warmup, connections);
          const before = cpuSeconds(proxy.pid!);
          const r = wrk(seconds, connections);
          const cpuUs = ((cpuSeconds(proxy.pid!) - before) / r.requests) * 1e6;
          result[mode].rps.push(r.rps);
          result[mode].cpuUs.push(cpuUs);
          console.error(`round ${round + 1}, metrics ${mode}: ${Math.round(r.rps)} req/s, ${cpuUs.toFixed(1)} µs CPU/req${r.errors ? `, ${r.errors}` : ''}`);
        } finally {
          await stop(proxy);
        }
      }
    }
  } finally {
    if (upstream) await stop(upstream);
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function bench(): Promise<void> {
  const services = Number(values.services);
  const endpoints = Number(values.endpoints);
  const scrape = await scrapeCost(services, endpoints);
  console.log(`\nOne /metrics scrape of a node registry, ${services} services × ${endpoints} endpoints with traffic (node ${process.version})\n`);
  console.log('| samples | bytes | median ms | p90 ms |');
  console.log('|---|---|---|---|');
  console.log(`| ${scrape.series} | ${scrape.bytes} | ${scrape.medianMs.toFixed(2)} | ${scrape.p90Ms.toFixed(2)} |`);

  const perRequestNs = observerCost();
  console.log(`\nMetrics work per proxied HTTP request (observer.request, in process): ${perRequestNs.toFixed(0)} ns CPU`);

  const seconds = Number(values.duration);
  const connections = Number(values.connections);
  const t = await throughput(seconds, Number(values.warmup), Number(values.rounds), connections);
  const off = mean(t.off.rps);
  const on = mean(t.on.rps);
  console.log(`\nHTTP proxy, wrk -c${connections} -t1 -d${seconds}s × ${values.rounds} rounds each, proxy on core 0, wrk + upstream nginx on core 1\n`);
  console.log('| metrics | req/s (mean) | runs | CPU µs/req (mean) |');
  console.log('|---|---|---|---|');
  for (const [mode, r] of [['off', t.off], ['on', t.on]] as const) {
    console.log(`| ${mode} | ${Math.round(mean(r.rps))} | ${r.rps.map((x) => Math.round(x)).join(', ')} | ${mean(r.cpuUs).toFixed(1)} |`);
  }
  console.log(`\nthroughput with metrics on: ${((on / off - 1) * 100).toFixed(1)}% vs off; CPU per request: ${((mean(t.on.cpuUs) / mean(t.off.cpuUs) - 1) * 100).toFixed(1)}%`);
  console.log(`the in-process figure, ${perRequestNs.toFixed(0)} ns of ${mean(t.off.cpuUs).toFixed(1)} µs CPU per request, is ${((perRequestNs / 1000 / mean(t.off.cpuUs)) * 100).toFixed(1)}% (wrk runs on a shared machine are noisier than that)`);
}

if (values.serve) {
  await serve(values.serve === 'on', Number(values.port), (values.upstreams ?? '').split(',').map(Number));
} else {
  await bench();
}
