// Programming latency benchmark (issue 6): how long from a pod becoming Ready (or not Ready)
// until a node's proxy serves (or stops serving) it, with 100 Services × 10 endpoints.
//
// The control node runs in this process (SQLite store, the Endpoints controller only), a real
// `tug node` (its proxy binding the 100 ClusterIPs) in another, pinned to core 1. The 1,000 pods
// are bound to a simulated node whose kubelet is this process: it writes their status as a node
// would (Running, podIP, the Ready condition) and keeps its Lease fresh. The node reports the
// Endpoints revision its proxy has programmed on its own Lease (the revision a terminating pod
// waits for); a watch on that Lease and one on the Endpoints tell, per endpoint, when the proxy
// served the change. That includes the node's Lease write and the watch delivery, so it is what
// the rest of the cluster sees, not less. The proxy's own histogram
// (tug_proxy_programming_latency_seconds, from the Endpoints trigger time) is reported beside it.
//
// Phases: single changes (one pod Ready every 100 ms, each in another Service), a burst (the other
// 900 pods Ready, 32 status writes in flight), then single removals (100 pods not Ready, spaced).
//
//   node dist/bench/programming.js [--services 100] [--endpoints 10] [--spacing-ms 100]
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Registry as MetricsRegistry } from 'prom-client';
import { METRICS_ADDRESS_ANNOTATION } from '../api/annotations.js';
import { ApiClient } from '../api/client.js';
import { writeKubeconfig, type Connection } from '../api/kubeconfig.js';
import { resourceOfKind } from '../api/resources.js';
import { sleep } from '../api/timers.js';
import { parseMetrics } from '../api/traffic.js';
import type { Endpoints, KubeObject, Node, Pod } from '../api/types.js';
import { endpointsController } from '../control/controllers/endpoints-controller.js';
import { startControllers } from '../control/controllers/manager.js';
import { startControl } from '../control/index.js';
import { PROXY_REVISION_ANNOTATION } from '../node/drain.js';
import { percentile, pool, start, stop, table } from './harness.js';

const POD = resourceOfKind('Pod');
const NODE = resourceOfKind('Node');
const LEASE = resourceOfKind('Lease');
const SERVICE = resourceOfKind('Service');
const ENDPOINTS = resourceOfKind('Endpoints');
const NAMESPACE = resourceOfKind('Namespace');
const NS = 'bench';
const SIMULATED = 'sim-0';
const PROXY_NODE = 'proxy-0';
const TUG = fileURLToPath(new URL('../cli/main.js', import.meta.url));

const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '100' },
    endpoints: { type: 'string', default: '10' },
    'spacing-ms': { type: 'string', default: '100' },
  },
});
const SERVICES = Number(values.services);
const PER_SERVICE = Number(values.endpoints);
const SPACING_MS = Number(values['spacing-ms']);
const PODS = SERVICES * PER_SERVICE;

const pad = (n: number, width: number) => String(n).padStart(width, '0');
const serviceName = (s: number) => `s-${pad(s, 3)}`;
const podName = (i: number) => `p-${pad(i, 4)}`;
/** Pod i serves Service i / PER_SERVICE on node port 20000 + i. */
const hostPort = (i: number) => 20000 + i;
const endpointKey = (service: string, ip: string, port: number) => `${service}|${ip}:${port}`;
/** A phase whose changes are not all served this long after its last status write fails. */
const GIVE_UP_MS = 60_000;
const now = () => new Date().toISOString();

function nodeObject(name: string): Node {
  const capacity = { cpu: '64', memory: '256Gi', pods: String(PODS + 10) };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    spec: {},
    status: {
      capacity,
      allocatable: capacity,
      addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: now(), lastTransitionTime: now() }],
    },
  };
}

function podObject(i: number): Pod {
  const service = serviceName(Math.floor(i / PER_SERVICE));
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: podName(i),
      namespace: NS,
      labels: { app: service },
      annotations: { 'tugboat.io/ports': JSON.stringify([{ container: 'c', containerPort: 8080, hostPort: hostPort(i), protocol: 'TCP' }]) },
    },
    spec: { nodeName: SIMULATED, containers: [{ name: 'c', image: 'bench/echo:1', ports: [{ containerPort: 8080, protocol: 'TCP' }] }] },
  };
}

/** The simulated kubelet's status write: running at 127.0.0.1, Ready or not. */
function setReady(client: ApiClient, i: number, ready: boolean): Promise<unknown> {
  const status = {
    phase: 'Running',
    hostIP: '127.0.0.1',
    podIP: '127.0.0.1',
    podIPs: [{ ip: '127.0.0.1' }],
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: now() }],
  };
  return client.patch(POD, NS, podName(i), { status }, 'merge', 'status');
}

/**
 * When the node's proxy served each change: the Endpoints watch gives the revision at which an
 * endpoint turned ready (or not), the Lease watch the revision the proxy has programmed.
 */
class Tracker {
  /** endpoint key → the Endpoints revision where it became ready / stopped being ready, and when this process saw it. */
  private readonly readyAt = new Map<string, { rv: bigint; seen: number }>();
  private readonly goneAt = new Map<string, { rv: bigint; seen: number }>();
  /** Changes waiting to be served: key → which change, and who waits (told when the Endpoints were seen). */
  private readonly waiting = new Map<string, { ready: boolean; resolve: (published: number) => void }>();
  private readonly ready = new Map<string, Set<string>>();
  programmed = -1n;

  onEndpoints(eps: Endpoints): void {
    const service = eps.metadata.name!;
    const rv = BigInt(eps.metadata.resourceVersion!);
    const now = new Set<string>();
    for (const s of eps.subsets ?? []) for (const a of s.addresses ?? []) for (const p of s.ports ?? []) now.add(endpointKey(service, a.ip, p.port));
    const before = this.ready.get(service) ?? new Set<string>();
    const seen = performance.now();
    for (const k of now) if (!before.has(k)) this.readyAt.set(k, { rv, seen }), this.goneAt.delete(k);
    for (const k of before) if (!now.has(k)) this.goneAt.set(k, { rv, seen }), this.readyAt.delete(k);
    this.ready.set(service, now);
    this.settle();
  }

  onProgrammed(revision: string): void {
    if (!/^\d+$/.test(revision)) return;
    const rv = BigInt(revision);
    if (rv <= this.programmed) return;
    this.programmed = rv;
    this.settle();
  }

  /** Resolves, with when the Endpoints showed the change, once the proxy serves `key` as ready (or no longer serves it). */
  served(key: string, ready: boolean): Promise<number> {
    return new Promise((resolve) => {
      this.waiting.set(key, { ready, resolve });
      this.settle();
    });
  }

  private settle(): void {
    for (const [key, w] of this.waiting) {
      const change = (w.ready ? this.readyAt : this.goneAt).get(key);
      if (change === undefined || change.rv > this.programmed) continue;
      this.waiting.delete(key);
      w.resolve(change.seen);
    }
  }
}

interface Phase {
  name: string;
  /** Status written → the node's proxy serves the change, per change (ms, sorted). */
  latencies: number[];
  /** Of that, status written → the Endpoints show it (ms, sorted). */
  published: number[];
  /** And the Endpoints showed it → the node's proxy serves it (ms, sorted). */
  programmed: number[];
  seconds: number;
  /** Until the last status write was answered. */
  written: number;
}

/** Flips pods `indices` to `ready`, `spacingMs` apart (0: `inFlight` writes at once), timing each until served. */
async function phase(name: string, client: ApiClient, tracker: Tracker, indices: number[], ready: boolean, spacingMs: number, inFlight = 1): Promise<Phase> {
  const latencies: number[] = [];
  const published: number[] = [];
  const programmed: number[] = [];
  const served: Promise<void>[] = [];
  const t0 = performance.now();
  const flip = async (i: number) => {
    const key = endpointKey(serviceName(Math.floor(i / PER_SERVICE)), '127.0.0.1', hostPort(i));
    const done = tracker.served(key, ready);
    const at = performance.now();
    await setReady(client, i, ready);
    served.push(done.then((seen) => {
      const end = performance.now();
      latencies.push(end - at);
      published.push(seen - at);
      programmed.push(end - seen);
    }));
  };
  if (spacingMs > 0) {
    for (const i of indices) {
      const next = performance.now() + spacingMs;
      await flip(i);
      await sleep(Math.max(0, next - performance.now()));
    }
  } else {
    await pool(indices.length, inFlight, (k) => flip(indices[k]));
  }
  const written = (performance.now() - t0) / 1000;
  const stall = setInterval(() => console.error(`  … ${name}: ${latencies.length}/${indices.length} served`), 10_000);
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name}: ${indices.length - latencies.length} of ${indices.length} changes not served after ${GIVE_UP_MS / 1000} s`)), GIVE_UP_MS);
  });
  try {
    await Promise.race([Promise.all(served), limit]);
  } finally {
    clearInterval(stall);
    clearTimeout(timer);
  }
  const sorted = (xs: number[]) => xs.sort((a, b) => a - b);
  return { name, latencies: sorted(latencies), published: sorted(published), programmed: sorted(programmed), seconds: (performance.now() - t0) / 1000, written };
}

/** p50 and p99 (in ms) from a Prometheus histogram's cumulative buckets: the bucket's upper bound. */
function histogramQuantiles(text: string, name: string): { count: number; p50: string; p99: string } {
  const samples = parseMetrics(text);
  const buckets = samples.filter((x) => x.name === `${name}_bucket`).map((x) => ({ le: Number(x.labels.le), count: x.value }));
  const count = samples.find((x) => x.name === `${name}_count`)?.value ?? 0;
  const at = (q: number) => {
    const b = buckets.find((x) => x.count >= q * count);
    return b === undefined ? '-' : b.le === Infinity ? '> last bucket' : `≤ ${b.le * 1000} ms`;
  };
  return { count, p50: at(0.5), p99: at(0.99) };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tug-bench-programming-'));
  const abort = new AbortController();
  const control = await startControl({ listen: '127.0.0.1:0', dataDir: join(dir, 'control'), store: 'sqlite', controllers: false, metrics: new MetricsRegistry() });
  const conn: Connection = { server: control.url, caCert: control.caCert, token: control.token };
  const client = new ApiClient(conn);
  const watches: Promise<unknown>[] = [];
  let controllers: Awaited<ReturnType<typeof startControllers>> | undefined;
  let node: ChildProcess | undefined;
  let renew: NodeJS.Timeout | undefined;
  try {
    controllers = await startControllers(conn, new MetricsRegistry(), [endpointsController()], (m) => console.error(`controller: ${m}`));
    await client.create(NAMESPACE, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    await client.create(NODE, undefined, nodeObject(SIMULATED));
    const lease: KubeObject = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: SIMULATED, namespace: 'kube-node-lease' }, spec: { holderIdentity: SIMULATED, leaseDurationSeconds: 40, renewTime: now() } };
    await client.create(LEASE, 'kube-node-lease', lease);
    renew = setInterval(() => void client.patch(LEASE, 'kube-node-lease', SIMULATED, { spec: { renewTime: now() } }).catch(() => undefined), 5000);

    console.error(`creating ${SERVICES} Services and ${PODS} pods (not ready yet)…`);
    await pool(SERVICES, 16, (s) => client.create(SERVICE, NS, { apiVersion: 'v1', kind: 'Service', metadata: { name: serviceName(s), namespace: NS }, spec: { selector: { app: serviceName(s) }, ports: [{ port: 80, targetPort: 8080 }] } }));
    await pool(PODS, 32, (i) => client.create(POD, NS, podObject(i)));
    await pool(PODS, 32, (i) => setReady(client, i, false));

    const tracker = new Tracker();
    const epsList = await client.list<Endpoints>(ENDPOINTS, NS);
    for (const e of epsList.items) tracker.onEndpoints(e);
    watches.push(client.watch(ENDPOINTS, NS, { resourceVersion: epsList.metadata.resourceVersion }, (ev) => ev.type !== 'DELETED' && tracker.onEndpoints(ev.object as Endpoints), abort.signal));
    const leases = await client.list(LEASE, 'kube-node-lease');
    watches.push(client.watch(LEASE, 'kube-node-lease', { resourceVersion: leases.metadata.resourceVersion }, (ev) => {
      if (ev.object.metadata.name === PROXY_NODE) tracker.onProgrammed(ev.object.metadata.annotations?.[PROXY_REVISION_ANNOTATION] ?? '');
    }, abort.signal));

    const kubeconfig = join(dir, 'kubeconfig');
    writeKubeconfig(kubeconfig, conn);
    node = start('tug node', 1, process.execPath, [TUG, 'node', '--kubeconfig', kubeconfig, '--node-name', PROXY_NODE, '--node-ip', '127.0.0.1', '--state-dir', join(dir, 'node'), '--node-api', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--runtime', 'process', '--dns-addr', 'off'], join(dir, 'node.log'));
    // The node is up when its proxy has programmed what is there now.
    const settled = BigInt((await client.list(ENDPOINTS, NS)).metadata.resourceVersion!);
    for (let i = 0; tracker.programmed < settled; i++) {
      if (node.exitCode !== null) throw new Error(`tug node exited with ${node.exitCode}`);
      if (i > 600) throw new Error('the node did not report a programmed revision within 60 s');
      await sleep(100);
    }
    await sleep(1000);

    const singles = Array.from({ length: SERVICES }, (_, s) => s * PER_SERVICE);
    const rest = Array.from({ length: PODS }, (_, i) => i).filter((i) => i % PER_SERVICE !== 0);
    const phases: Phase[] = [];
    console.error(`single changes: ${singles.length} pods Ready, ${SPACING_MS} ms apart…`);
    phases.push(await phase(`one pod Ready every ${SPACING_MS} ms`, client, tracker, singles, true, SPACING_MS));
    console.error(`burst: ${rest.length} pods Ready, 32 writes in flight…`);
    phases.push(await phase(`${rest.length} pods Ready at once (32 writes in flight)`, client, tracker, rest, true, 0, 32));
    console.error(`single removals: ${singles.length} pods not Ready, ${SPACING_MS} ms apart…`);
    phases.push(await phase(`one pod not Ready every ${SPACING_MS} ms`, client, tracker, singles, false, SPACING_MS));

    const nodeObj = await client.get<Node>(NODE, undefined, PROXY_NODE);
    const metricsAt = nodeObj.metadata.annotations?.[METRICS_ADDRESS_ANNOTATION];
    const own = metricsAt ? histogramQuantiles(await (await fetch(`http://${metricsAt}/metrics`)).text(), 'tug_proxy_programming_latency_seconds') : undefined;

    console.log(`\nProgramming latency: ${SERVICES} Services × ${PER_SERVICE} endpoints; pod status written → the node's proxy reports the Endpoints revision that holds the change (node ${process.version})\n`);
    const ms = (x: number) => `${x.toFixed(1)} ms`;
    const lines = phases.map((p) => [p.name, String(p.latencies.length), ms(percentile(p.latencies, 50)), ms(percentile(p.latencies, 99)), ms(p.latencies[p.latencies.length - 1]), `${ms(percentile(p.published, 50))} / ${ms(percentile(p.published, 99))}`, `${ms(percentile(p.programmed, 50))} / ${ms(percentile(p.programmed, 99))}`, `${p.written.toFixed(1)} s / ${p.seconds.toFixed(1)} s`]);
    console.log(table(['phase', 'changes', 'p50', 'p99', 'max', 'status → Endpoints (p50 / p99)', 'Endpoints → proxy serving (p50 / p99)', 'status written / all served in'], lines));
    if (own) console.log(`\nthe proxy's own histogram (trigger time → table swapped, additions only): ${own.count} observations, p50 ${own.p50}, p99 ${own.p99}`);
    console.log('\nPeers (published figures, not measured here): kube-proxy syncs at most once per --iptables-min-sync-period (1 s by default);');
    console.log("the Kubernetes network programming latency SLO is a p99 of 30 s or less per cluster-day.");
  } finally {
    if (renew) clearInterval(renew);
    abort.abort();
    if (node) await stop(node);
    await Promise.allSettled(watches);
    await controllers?.stop();
    client.close();
    await control.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
