// Metrics cost (issue 8). Two measurements:
// 1. One scrape of a node's registry (the node's own metrics, Node.js defaults, DNS, and the
//    proxy's with 100 Services × 10 endpoints that all carried traffic): time of
//    `registry.metrics()` (median and p90 of 50 scrapes after warm-up) and the body's bytes.
// 2. The HTTP proxy's throughput with its metrics observer on and off: one upstream nginx with
//    three `return 200` servers, the proxy process pinned to core 0, wrk -c50 -t1 and nginx to
//    core 1, runs alternated off/on, on/off, … so drift hits both. CPU µs per request from
//    /proc/<pid>/stat, as bench/proxy.ts does; and, steadier on a shared machine, the CPU time
//    the metrics observer adds per request, measured in process.
//
//   npm run bench:metrics [-- --duration 10 --rounds 2]
//   node dist/bench/metrics.js --serve on|off --port P --upstreams P1,P2,P3   (the proxy process)
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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
import type { Endpoint } from '../proxy/types.js';
import { cpuSeconds, HOST, requireTools, start, stop, waitListening } from './harness.js';
import { HTTP_BENCH_OPTIONS, serveForwarder, startUpstreams, wrk } from './http-load.js';

const SELF = fileURLToPath(import.meta.url);
// The ports the benchmark binds: upstreams, then the proxy.
const UPSTREAM_PORTS = [25150, 25151, 25152];
const PROXY_PORT = 25153;

const { values } = parseArgs({
  options: {
    ...HTTP_BENCH_OPTIONS,
    rounds: { type: 'string', default: '2' },
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
function serve(metrics: boolean, port: number, upstreams: number[]): void {
  const balancer = new Balancer();
  const eps = upstreams.map((p, i) => ({ ip: HOST, port: p, pod: `upstream-${i}` }));
  balancer.setEndpoints(eps);
  const observer = metrics ? new ProxyMetrics(new Registry(), () => []).observerFor(entry('bench', 'upstream', eps)) : undefined;
  serveForwarder(createHttpForwarder({ service: 'bench/upstream', picker: () => balancer, observer }), port);
}

async function throughput(seconds: number, warmup: number, rounds: number, connections: number): Promise<Record<'off' | 'on', { rps: number[]; cpuUs: number[] }>> {
  requireTools(['wrk', 'nginx', 'taskset'], 'wrk nginx-light');
  const dir = mkdtempSync(join(tmpdir(), 'tug-bench-metrics-'));
  const result = { off: { rps: [] as number[], cpuUs: [] as number[] }, on: { rps: [] as number[], cpuUs: [] as number[] } };
  let upstream: ChildProcess | undefined;
  try {
    upstream = await startUpstreams(dir, UPSTREAM_PORTS);
    for (let round = 0; round < rounds; round++) {
      // Alternate which goes first, so whatever drifts within a round hits both alike.
      for (const mode of round % 2 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
        const proxy = start(`proxy (metrics ${mode})`, 0, process.execPath, [SELF, '--serve', mode, '--port', String(PROXY_PORT), '--upstreams', UPSTREAM_PORTS.join(',')], join(dir, `proxy-${mode}.log`));
        try {
          await waitListening(PROXY_PORT, proxy, `proxy (metrics ${mode})`);
          wrk(PROXY_PORT, warmup, connections);
          const before = cpuSeconds(proxy.pid!);
          const r = wrk(PROXY_PORT, seconds, connections);
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
  serve(values.serve === 'on', Number(values.port), (values.upstreams ?? '').split(',').map(Number));
} else {
  await bench();
}
