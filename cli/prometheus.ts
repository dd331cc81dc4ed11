// Prometheus beside a cluster: the files the shipped scrape config (grafana/prometheus.yml) reads
// from its own folder (the token and the CA), and `tug up --prometheus`, which runs Debian's
// `prometheus` binary on them until `tug up` stops.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The scrape config shipped with tugboat; its paths are relative to the folder it sits in. */
export const PROMETHEUS_CONFIG = fileURLToPath(new URL('../../grafana/prometheus.yml', import.meta.url));

/** The API address the shipped config names: `tug up`'s default --listen. */
export const DEFAULT_API_ADDRESS = '127.0.0.1:6443';

export const PROMETHEUS_DEFAULT_LISTEN = '127.0.0.1:9090';

/** The shipped config for a cluster whose API is at `apiAddress` (host:port); nothing else changes. */
export function prometheusConfigFor(shipped: string, apiAddress: string): string {
  if (!shipped.includes(`https://${DEFAULT_API_ADDRESS}/`)) throw new Error(`${PROMETHEUS_CONFIG} no longer names https://${DEFAULT_API_ADDRESS}/; update prometheusConfigFor`);
  return shipped.split(`https://${DEFAULT_API_ADDRESS}/`).join(`https://${apiAddress}/`);
}

/**
 * Writes `token`, `ca.crt` and `prometheus.yml` (the shipped one, for this API address) to `dir`,
 * readable by the owner only: the token is the cluster's admin token.
 */
export function writePrometheusFiles(dir: string, cluster: { url: string; token: string; caCert: string }): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'token'), cluster.token + '\n', { mode: 0o600 });
  writeFileSync(join(dir, 'ca.crt'), cluster.caCert, { mode: 0o600 });
  const config = join(dir, 'prometheus.yml');
  writeFileSync(config, prometheusConfigFor(readFileSync(PROMETHEUS_CONFIG, 'utf8'), new URL(cluster.url).host), { mode: 0o600 });
  return config;
}

export interface RunningPrometheus {
  url: string;
  log: string;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Whether a `prometheus` binary is on the PATH. */
export function prometheusInstalled(binary = 'prometheus'): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', binary]).status === 0;
}

/**
 * Starts Prometheus on the config in `dir` (as written by writePrometheusFiles), storage in
 * `dir/data`, output in `dir/prometheus.log`, and waits until it says it is ready.
 */
export async function startPrometheus(dir: string, listen: string, opts: { binary?: string; readyTimeoutMs?: number } = {}): Promise<RunningPrometheus> {
  const binary = opts.binary ?? 'prometheus';
  if (!prometheusInstalled(binary)) throw new Error(`--prometheus needs the ${binary} binary, which is not installed: apt install prometheus, or leave out --prometheus`);
  const config = join(dir, 'prometheus.yml');
  const pidFile = join(dir, 'prometheus.pid');
  await stopLeftover(pidFile, config);
  const log = join(dir, 'prometheus.log');
  const out = openSync(log, 'a');
  let child: ChildProcess;
  try {
    child = spawn(binary, [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=${listen}`], { stdio: ['ignore', out, out] });
  } finally {
    closeSync(out);
  }
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (e) => {
      spawnError = e;
      resolve();
    });
  });
  if (child.pid !== undefined) writeFileSync(pidFile, `${child.pid}\n`);
  const stop = async (graceMs = 10_000) => {
    if (!spawnError && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    rmSync(pidFile, { force: true });
  };
  const url = `http://${listen}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (spawnError) throw new Error(`cannot run ${binary}: ${spawnError.message}`, { cause: spawnError });
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`prometheus exited (${child.exitCode ?? child.signalCode}) before it was ready; see ${log}${tail(log)}`);
    }
    if (await isReady(url)) return { url, log, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not become ready at ${url} in time; see ${log}${tail(log)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A Prometheus that a SIGKILLed `tug up` left running on this config holds the storage lock and
 * the port: stop it (only if the recorded process is still that Prometheus).
 */
async function stopLeftover(pidFile: string, config: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(`--config.file=${config}`)) return;
  } catch {
    return;
  }
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // exited meanwhile
  }
}

async function isReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

function tail(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-5);
    return lines.length ? `:\n${lines.join('\n')}` : '';
  } catch {
    return '';
  }
}
