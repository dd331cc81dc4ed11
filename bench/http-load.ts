// What the HTTP benchmarks (bench/proxy, bench/metrics) share: the upstreams (one nginx with
// `return 200` servers, the cheapest stable HTTP server here), wrk runs, and the proxy process
// that serves one forwarder until SIGTERM, behind the proxy's own listener.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listenTcp } from '../proxy/listener.js';
import type { Carried, Forwarder } from '../proxy/types.js';
import { HOST, start, waitListening } from './harness.js';

/** The flags every HTTP benchmark takes (its proxy process is the same file run with --serve). */
export const HTTP_BENCH_OPTIONS = {
  serve: { type: 'string' },
  port: { type: 'string' },
  upstreams: { type: 'string' },
  duration: { type: 'string', default: '10' },
  warmup: { type: 'string', default: '2' },
  connections: { type: 'string', default: '50' },
} as const;

export interface WrkResult {
  rps: number;
  p99ms: number;
  requests: number;
  /** wrk's socket errors and non-2xx/3xx responses, empty when none. */
  errors: string;
}

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

/** wrk -t1 against the port, pinned to core 1; `headers` go on every request (`Connection: close` makes each one a new connection). */
export function wrk(port: number, seconds: number, connections: number, headers: string[] = []): WrkResult {
  const args = ['-c', '1', 'wrk', '--latency', `-c${connections}`, '-t1', `-d${seconds}s`, ...headers.flatMap((h) => ['-H', h]), `http://${HOST}:${port}/`];
  const r = spawnSync('taskset', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const out = r.stdout;
  const p99 = /^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '';
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    p99ms: toMs(p99),
    requests: Number(/(\d+) requests in/.exec(out)?.[1]),
    errors: [/Socket errors:.*$/m.exec(out)?.[0], /Non-2xx or 3xx responses: \d+/.exec(out)?.[0]].filter(Boolean).join('; '),
  };
}

/** Writes an nginx config (one worker, no master, everything under dir) around an http{} body. */
export function nginxConfig(dir: string, name: string, body: string): string {
  const file = join(dir, `${name}.conf`);
  writeFileSync(
    file,
    `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/${name}.pid;
error_log ${dir}/${name}-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  client_body_temp_path ${dir}/${name}-body;
  proxy_temp_path ${dir}/${name}-proxy;
  fastcgi_temp_path ${dir}/${name}-fastcgi;
  uwsgi_temp_path ${dir}/${name}-uwsgi;
  scgi_temp_path ${dir}/${name}-scgi;
${body}
}
`,
  );
  return file;
}

/** One nginx on core 1 (with the load generator) answering `hello from upstream i` on each port. */
export async function startUpstreams(dir: string, ports: number[]): Promise<ChildProcess> {
  const conf = nginxConfig(dir, 'upstreams', ports.map((p, i) => `  server { listen ${HOST}:${p}; location / { return 200 "hello from upstream ${i}\\n"; } }`).join('\n'));
  const upstreams = start('upstream nginx', 1, 'nginx', ['-e', join(dir, 'upstreams-early.log'), '-p', dir, '-c', conf], join(dir, 'upstreams.log'));
  for (const p of ports) await waitListening(p, upstreams, 'upstream nginx');
  return upstreams;
}

/** The proxy process of a benchmark: one forwarder behind a listener (paused on connect, as the proxy's) until SIGTERM. */
/** Serves `forwarder` on port; `native`: accepting in the native relay, as the proxy does where it is built. */
export function serveForwarder(forwarder: Forwarder, port: number, native = true): void {
  const connections = new Set<Carried>();
  listenTcp({ host: HOST, port, forwarder: () => forwarder, connections, native }).then((listener) => {
    console.log('ready');
    process.on('SIGTERM', () => {
      listener.close();
      for (const c of connections) c.destroy();
      void forwarder.close().then(() => process.exit(0));
      setTimeout(() => process.exit(0), 2000).unref();
    });
  }, (err) => {
    console.error(err);
    process.exit(1);
  });
}
