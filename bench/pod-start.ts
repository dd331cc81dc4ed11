// Pod start benchmark: pod create → Running and Ready latency (p50/p99) over N pods, for the
// process runtime (and docker when a Docker engine is there), against the raw baseline of
// starting the same command directly; then the node daemon's RSS and CPU with N pods running.
// Real `tug control` and `tug node` processes; pods are bound to the node by hand.
//
//   node dist/bench/pod-start.js [--pods 100] [--concurrency 10] [--runtimes process,docker]
// --concurrency is how many pods may be starting at once.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ApiClient } from '../api/client.js';
import { readKubeconfig } from '../api/kubeconfig.js';
import { resourceOfKind } from '../api/resources.js';
import type { Pod } from '../api/types.js';
import { percentile } from './harness.js';

const TUG = resolve(fileURLToPath(new URL('../cli/main.js', import.meta.url)));
const POD = resourceOfKind('Pod');
const NODE_NAME = 'bench-node';

const { values } = parseArgs({
  options: {
    pods: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '10' },
    runtimes: { type: 'string', default: existsSync('/var/run/docker.sock') ? 'process,docker' : 'process' },
  },
});
const PODS = Number(values.pods);
const CONCURRENCY = Number(values.concurrency);

function startProcess(args: string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<ChildProcess> {
  const child = spawn(process.execPath, [TUG, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((res, rej) => {
    const check = (d: Buffer) => {
      out += d;
      if (ready.test(out)) res(child);
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', (d) => (out += d));
    child.once('exit', (code) => rej(new Error(`tug exited (${code}):\n${out}`)));
  });
}

/** Resident memory (MiB) and CPU seconds used so far by a process. */
function usage(pid: number): { rssMiB: number; cpuSeconds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssMiB: rss, cpuSeconds: ticks / 100 };
}

function podSpec(i: number, runtime: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `bench-${runtime}-${i}` },
    spec: {
      nodeName: NODE_NAME,
      runtimeClassName: runtime,
      terminationGracePeriodSeconds: 2,
      containers: [{ name: 'c', image: 'local/busybox:1', imagePullPolicy: 'Never', command: ['sleep', '100000'] }],
    },
  };
}

async function measureRuntime(runtime: string, client: ApiClient, nodePid: number) {
  const created = new Map<string, number>();
  const readyAt = new Map<string, number>();
  const abort = new AbortController();
  const watch = client
    .watch(POD, 'default', {}, (e) => {
      const pod = e.object as Pod;
      const name = pod.metadata.name!;
      if (!created.has(name) || readyAt.has(name)) return;
      if (pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) readyAt.set(name, performance.now());
    }, abort.signal)
    .catch(() => undefined);
  await new Promise((r) => setTimeout(r, 200));
  // At most CONCURRENCY pods are starting at once: each slot creates a pod and waits for it to
  // be Ready before the next, so the figure is start latency, not queueing behind a burst.
  let next = 0;
  const deadline = Date.now() + 180_000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < PODS && Date.now() < deadline) {
        const i = next++;
        const name = `bench-${runtime}-${i}`;
        created.set(name, performance.now());
        await client.create(POD, 'default', podSpec(i, runtime));
        while (!readyAt.has(name) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
      }
    }),
  );
  while (readyAt.size < PODS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (readyAt.size < PODS) throw new Error(`only ${readyAt.size}/${PODS} ${runtime} pods became Ready in 180 s`);
  const latencies = [...readyAt].map(([name, t]) => t - created.get(name)!).sort((a, b) => a - b);

  // The node at rest with N running pods: memory, and CPU over 10 s.
  await new Promise((r) => setTimeout(r, 3000));
  const before = usage(nodePid);
  await new Promise((r) => setTimeout(r, 10_000));
  const after = usage(nodePid);

  abort.abort();
  await watch;
  await client.request('DELETE', client.pathFor(POD, 'default'), {});
  const gone = Date.now() + 120_000;
  while (Date.now() < gone && (await client.list(POD, 'default')).items.length > 0) await new Promise((r) => setTimeout(r, 200));
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), rssMiB: after.rssMiB, cpuPercent: ((after.cpuSeconds - before.cpuSeconds) / 10) * 100 };
}

/** The floor: the same container started directly, without tugboat (spawn, or `docker run`). */
async function baseline(runtime: string): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    if (runtime === 'process') {
      const child = spawn('sleep', ['100000'], { stdio: 'ignore' });
      await once(child, 'spawn');
      times.push(performance.now() - t0);
      child.kill('SIGKILL');
    } else {
      const id = execFileSync('docker', ['run', '-d', '--network', 'host', '--init', 'local/busybox:1', 'sleep', '100000']).toString().trim();
      times.push(performance.now() - t0);
      execFileSync('docker', ['rm', '-f', id], { stdio: 'ignore' });
    }
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

const dir = mkdtempSync(join(tmpdir(), 'tug-bench-pods-'));
const procs: ChildProcess[] = [];
try {
  const control = await startProcess(['control', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'control'), '--kubeconfig', join(dir, 'kubeconfig')], { TUG_HOME: dir }, /kubeconfig written/);
  procs.push(control);
  const node = await startProcess(
    ['node', '--kubeconfig', join(dir, 'kubeconfig'), '--node-name', NODE_NAME, '--node-ip', '127.0.0.1', '--state-dir', join(dir, 'node'), '--node-api', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0'],
    { TUG_HOME: dir },
    /joined/,
  );
  procs.push(node);
  const client = new ApiClient(readKubeconfig(join(dir, 'kubeconfig')));
  const rows: string[] = [];
  for (const runtime of values.runtimes!.split(',')) {
    const r = await measureRuntime(runtime, client, node.pid!);
    const b = await baseline(runtime);
    rows.push(
      `${runtime.padEnd(8)} ${`${r.p50.toFixed(0)} ms`.padStart(9)} ${`${r.p99.toFixed(0)} ms`.padStart(9)}   ${`${b.p50.toFixed(1)} ms`.padStart(9)} ${`${b.p99.toFixed(1)} ms`.padStart(9)}   ${`${r.rssMiB.toFixed(0)} MiB`.padStart(9)} ${`${r.cpuPercent.toFixed(1)} %`.padStart(7)}`,
    );
  }
  client.close();
  console.log(`\nPod start: ${PODS} pods, at most ${CONCURRENCY} starting at once, create → Running and Ready; baseline = the same container started directly\n`);
  console.log('runtime   pod p50   pod p99   base p50  base p99   node RSS   node CPU (with the pods running)');
  for (const row of rows) console.log(row);
} finally {
  for (const p of procs.reverse()) {
    if (p.exitCode === null) {
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
    }
  }
  rmSync(dir, { recursive: true, force: true });
}
