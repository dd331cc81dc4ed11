// End-to-end harness: starts real `tug` processes and runs real kubectl against them, with
// everything torn down at the end of each test, also when it fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

export const TUG = resolve(fileURLToPath(new URL('../../cli/main.js', import.meta.url)));

export function tempDir(t: TestContext | { after(fn: () => void): void }, prefix = 'tug-e2e-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface ControlProcess {
  url: string;
  kubeconfig: string;
  dataDir: string;
  child: ChildProcess;
  output(): string;
  /** Stops the process with a signal and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Where a process runs: `wrap` goes before its command line (for example nsenter into a network
 * namespace standing for another host) and `ip` is that host's address.
 */
export interface Host {
  wrap: string[];
  ip: string;
}

export const LOCAL_HOST: Host = { wrap: [], ip: '127.0.0.1' };

/** Starts `tug control` on a free port of the host (loopback by default) and waits until it serves. */
export async function startControl(t: { after(fn: () => unknown): void }, dir: string, extra: string[] = [], host: Host = LOCAL_HOST): Promise<ControlProcess> {
  const kubeconfig = join(dir, 'kubeconfig');
  const dataDir = join(dir, 'control');
  const argv = [...host.wrap, process.execPath, TUG, 'control', '--listen', `${host.ip}:0`, '--data-dir', dataDir, '--kubeconfig', kubeconfig, ...extra];
  const child = spawn(argv[0], argv.slice(1), {
    env: { ...process.env, TUG_HOME: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  t.after(() => kill('SIGKILL'));
  const url = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`tug control did not start:\n${out}`)), 30_000);
    const check = () => {
      const m = /serving the Kubernetes API at (https:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        res(m[1]);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`tug control exited with ${code}:\n${out}`));
    });
  });
  return { url, kubeconfig, dataDir, child, output: () => out, kill };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded by a timeout) with optional stdin. */
export function run(command: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((res, rej) => {
    const child = spawn(command, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.on('error', () => undefined);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      rej(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** A kubectl bound to one cluster, with its own HOME so no discovery cache leaks between tests. */
export function kubectlFor(control: ControlProcess, home: string, host: Host = LOCAL_HOST) {
  const env = { ...process.env, HOME: home, KUBECONFIG: control.kubeconfig };
  const argv = [...host.wrap, 'kubectl'];
  return (args: string[], input?: string) => run(argv[0], [...argv.slice(1), ...args], { env, input });
}

export function tug(env: NodeJS.ProcessEnv, args: string[], input?: string): Promise<RunResult> {
  return run(process.execPath, [TUG, ...args], { env: { ...process.env, ...env }, input });
}

/** Polls `check` until it returns a value (not undefined), bounded by `attempts`. */
export async function eventually<T>(check: () => Promise<T | undefined>, attempts = 100, intervalMs = 100): Promise<T> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`condition not met after ${attempts} attempts${last ? `: ${(last as Error).message}` : ''}`);
}

/** A loopback TCP port nothing listened on a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
