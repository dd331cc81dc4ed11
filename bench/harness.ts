// Helpers the benchmarks share: free loopback ports, pinned child processes that are always
// stopped, per-process CPU time and a Markdown table. Loopback only.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const HOST = '127.0.0.1';

/** A TCP port on HOST that was free a moment ago. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, HOST, resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** A port on HOST free for both UDP and TCP a moment ago (DNS servers bind both). */
export async function freeUdpTcpPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const udp = createSocket('udp4');
    udp.on('error', () => undefined);
    await new Promise<void>((resolve) => udp.bind(0, HOST, () => resolve()));
    const port = udp.address().port;
    const tcp = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, HOST, () => resolve(true));
    });
    if (ok) await new Promise<void>((resolve) => tcp.close(() => resolve()));
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (ok) return port;
  }
  throw new Error('no port free for both UDP and TCP on the loopback');
}

/** Waits until something accepts TCP connections on `port`; fails early when `child` exits. */
export async function waitListening(port: number, child: ChildProcess, name: string): Promise<void> {
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

const running = new Set<ChildProcess>();
let exitHooked = false;

/** Kills whatever start() left running when the benchmark exits, throws or is interrupted. */
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
}

/** Starts `cmd` pinned to `core`; its stdout and stderr go to `logFile` when it exits. */
export function start(name: string, core: number, cmd: string, args: string[], logFile: string): ChildProcess {
  hookExit();
  const child = spawn('taskset', ['-c', String(core), cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.on('exit', () => running.delete(child));
  const log: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => log.push(d));
  child.stderr!.on('data', (d: Buffer) => log.push(d));
  child.on('error', (err) => console.error(`${name}: ${err.message}`));
  child.on('exit', () => writeFileSync(logFile, Buffer.concat(log)));
  return child;
}

/** SIGTERM, then SIGKILL after 3 s. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** utime + stime of a process, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat(5); the slice starts at field 3.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Time one CPU core spent in processes (user, nice, system) and in all, in clock ticks, from
 * /proc/stat; interrupt and softirq time count only in the total.
 */
export function coreTicks(core: number): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${core} `));
  if (!line) throw new Error(`no cpu${core} in /proc/stat`);
  const t = line.trim().split(/\s+/).slice(1, 9).map(Number);
  return { busy: t[0] + t[1] + t[2], total: t.reduce((a, b) => a + b, 0) };
}

/** Throws naming the Debian packages when a tool is missing. */
export function requireTools(tools: string[], packages: string): void {
  for (const tool of tools) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is not installed (apt-get install -y ${packages})`);
  }
}

/** The p-th percentile (0-100) of ascending `sorted`: the nearest rank at or below. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Runs `task(i)` for i in [0, n) with at most `limit` in flight; resolves with the seconds it took. */
export async function pool(n: number, limit: number, task: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(limit, n) }, async () => {
      while (next < n) await task(next++);
    }),
  );
  return (performance.now() - started) / 1000;
}

/** `a / b` as `0.00×`, or `-` when either is missing. */
export function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || !b || Number.isNaN(a) || Number.isNaN(b) ? '-' : `${(a / b).toFixed(2)}×`;
}

/** A Markdown table with padded columns. */
export function table(header: string[], lines: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [fmt(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(fmt)].join('\n');
}

/**
 * `tug control` in a process of its own, listening on 127.0.0.1 with its state under `dir`, with
 * `flags` besides; resolves once its kubeconfig (returned) is written.
 */
export async function startTugControl(dir: string, flags: string[]): Promise<{ child: ChildProcess; kubeconfig: string }> {
  const tug = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  const kubeconfig = join(dir, 'kubeconfig');
  const child = spawn(process.execPath, [tug, 'control', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data'), '--kubeconfig', kubeconfig, ...flags], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, TUG_HOME: dir },
  });
  await new Promise<void>((res, rej) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('kubeconfig written')) res();
    });
    child.once('exit', (code) => rej(new Error(`tug control exited (${code})`)));
  });
  return { child, kubeconfig };
}

/** Round trips of 64 bytes over `conns` connections to host:port for `seconds`: rate and p99 (µs). */
export async function pingPong(host: string, port: number, seconds: number, conns = 8): Promise<{ rate: number; p99us: number }> {
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  const payload = Buffer.alloc(64, 120);
  await Promise.all(
    Array.from({ length: conns }, async () => {
      const s = net.connect({ host, port, noDelay: true }).on('error', () => undefined);
      await once(s, 'connect');
      const closed = once(s, 'close').then(() => {
        throw new Error(`${host}:${port} closed the connection`);
      });
      closed.catch(() => undefined);
      while (performance.now() < until) {
        const t = performance.now();
        s.write(payload);
        let got = 0;
        while (got < payload.length) got += ((await Promise.race([once(s, 'data'), closed]))[0] as Buffer).length;
        latencies.push((performance.now() - t) * 1000);
      }
      s.destroy();
    }),
  );
  latencies.sort((a, b) => a - b);
  return { rate: latencies.length / seconds, p99us: percentile(latencies, 99) };
}

function ipCommand(args: string[], input?: string): void {
  const r = spawnSync('ip', args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

/**
 * Simulated hosts for a benchmark: network namespaces `<prefix>-h1`... on a private LAN (a bridge
 * in `<prefix>-lan`), host h at 198.18.0.h/24; `extra(h)` adds `ip -b` lines inside host h.
 * Nothing touches the machine's own interfaces.
 */
export function makeSimulatedHosts(prefix: string, count: number, extra: (h: number) => string[] = () => []): void {
  ipCommand(['netns', 'add', `${prefix}-lan`]);
  ipCommand(['-n', `${prefix}-lan`, '-b', '-'], 'link add br0 type bridge\nlink set br0 up\n');
  for (let h = 1; h <= count; h++) {
    const ns = `${prefix}-h${h}`;
    ipCommand(['netns', 'add', ns]);
    ipCommand(['link', 'add', `${prefix}h${h}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    ipCommand(['link', 'set', `${prefix}h${h}`, 'netns', `${prefix}-lan`]);
    ipCommand(['-n', `${prefix}-lan`, 'link', 'set', `${prefix}h${h}`, 'master', 'br0', 'up']);
    ipCommand(['-n', ns, '-b', '-'], [`addr add 198.18.0.${h}/24 dev eth0`, 'link set eth0 up', 'link set lo up', ...extra(h)].join('\n') + '\n');
  }
}
