// What the `tug up` end-to-end tests share: starting `tug up` in a temp $TUG_HOME on free ports,
// reading what it prints, fetching from the echo pods, and making sure nothing it started outlives
// the test (its process, and every pod process, found by the $TUG_HOME path in their command line).
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { eventually, LOCAL_HOST, TUG, type Host } from './harness.js';
import { isRunning, pidsWith } from './node-support.js';

export interface UpProcess {
  child: ChildProcess;
  output(): string;
  /** Sends a signal and waits for the exit (SIGKILL after 60 s, so a hung stop cannot hang the test). */
  stop(signal: NodeJS.Signals): Promise<number | null>;
  /** The `curl http://IP:PORT/   # POD ...` lines it printed: pod name → port. */
  echoPorts(): Map<string, number>;
}

/** The env a `tug` or kubectl run against this home gets (nothing inherited picks another cluster). */
export function upEnv(home: string): NodeJS.ProcessEnv {
  return { TUG_HOME: home, HOME: home, KUBECONFIG: join(home, 'kubeconfig'), TUG_KUBECONFIG: undefined, TUG_NAMESPACE: undefined };
}

/**
 * Starts `tug up --with-examples` and waits until it says the cluster is up. Every loopback port
 * is picked free except the pods' range, which the caller keeps apart from other tests.
 */
export async function startUp(scope: { after(fn: () => unknown): void }, home: string, portRange: string, extra: string[] = [], host: Host = LOCAL_HOST): Promise<UpProcess> {
  const argv = [
    ...host.wrap,
    process.execPath,
    TUG,
    'up',
    ...['--with-examples', '--listen', '127.0.0.1:0', '--node-api', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--port-range', portRange],
    // The bridge network runs only inside network namespaces a test makes: on this host, hostport.
    ...(host.wrap.length > 0 ? [] : ['--network', 'hostport']),
    ...extra,
  ];
  const child = spawn(argv[0], argv.slice(1), { env: { ...process.env, ...upEnv(home) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const stop = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  scope.after(() => stop('SIGKILL'));
  const up: UpProcess = {
    child,
    output: () => out,
    stop,
    echoPorts() {
      const ports = new Map<string, number>();
      for (const m of out.matchAll(/curl http:\/\/127\.0\.0\.1:(\d+)\/\s+# (\S+) answers with its name/g)) ports.set(m[2], Number(m[1]));
      return ports;
    },
  };
  try {
    await eventually(async () => (/The cluster is up/.test(out) ? true : child.exitCode !== null ? Promise.reject(new Error('tug up exited')) : undefined), 900);
  } catch (e) {
    throw new Error(`tug up did not come up: ${(e as Error).message}\n${out}`);
  }
  return up;
}

/** Kills whatever is left of the pods started under `home` (after a failed test). */
export function killPodsOf(home: string): void {
  for (const pid of pidsWith(home)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
}

/** Live processes whose command line names `home` (the pods' shims and servers), sorted. */
export function podPids(home: string): number[] {
  return pidsWith(home).filter(isRunning).sort((a, b) => a - b);
}

/** GET http://127.0.0.1:port/ → the body (rejects when nothing listens). */
export function httpGet(port: number, path = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
