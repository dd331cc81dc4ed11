// Scheduler benchmark: throughput (pods bound per second, from the first create to the last bind)
// and create → bound latency (p50/p99), with 100 and 1,000 simulated nodes (Node objects with
// Leases, no real pods run) and 10,000 pods, for the spread and binpack strategies. The control
// node runs in this process with a memory store and only the scheduler; binds are observed through
// a watch, as a user would see them.
//
//   node dist/bench/scheduler.js [--pods 10000] [--nodes 100,1000] [--strategies spread,binpack] [--concurrency 32]
// --concurrency is how many pod creates are in flight at once.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Registry as MetricsRegistry } from 'prom-client';
import { ApiClient } from '../api/client.js';
import type { Connection } from '../api/kubeconfig.js';
import { resourceOfKind } from '../api/resources.js';
import type { KubeObject, Node, Pod } from '../api/types.js';
import { startControllers } from '../control/controllers/manager.js';
import { startControl } from '../control/index.js';
import { schedulerController, type SchedulerStrategy } from '../control/scheduler/index.js';
import { percentile, pool } from './harness.js';

const POD = resourceOfKind('Pod');
const NODE = resourceOfKind('Node');
const LEASE = resourceOfKind('Lease');
const NAMESPACE = resourceOfKind('Namespace');
const NS = 'bench';
/** Pods are spread over this many owners (ReplicaSet uids), so `spread` has owners to spread. */
const OWNERS = 100;

const { values } = parseArgs({
  options: {
    pods: { type: 'string', default: '10000' },
    nodes: { type: 'string', default: '100,1000' },
    strategies: { type: 'string', default: 'spread,binpack' },
    concurrency: { type: 'string', default: '32' },
  },
});
const PODS = Number(values.pods);
const NODE_COUNTS = values.nodes!.split(',').map(Number);
const STRATEGIES = values.strategies!.split(',') as SchedulerStrategy[];
const CONCURRENCY = Number(values.concurrency);

function nodeObject(name: string): Node {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const capacity = { cpu: '8', memory: '32Gi', pods: '110' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    spec: {},
    status: { capacity, allocatable: capacity, conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: now, lastTransitionTime: now }] },
  };
}

function leaseObject(name: string): KubeObject {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace: 'kube-node-lease' },
    spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: new Date().toISOString().replace('Z', '000Z') },
  };
}

function podObject(i: number): Pod {
  const owner = i % OWNERS;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `p-${i}`,
      namespace: NS,
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `rs-${owner}`, uid: `00000000-0000-4000-8000-${String(owner).padStart(12, '0')}`, controller: true }],
    },
    spec: { containers: [{ name: 'c', image: 'local/echo:1', resources: { requests: { cpu: '50m', memory: '64Mi' } } }] },
  };
}

interface Result {
  nodes: number;
  strategy: SchedulerStrategy;
  podsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  nodesUsed: number;
  maxPerNode: number;
  seconds: number;
}

async function measure(nodeCount: number, strategy: SchedulerStrategy): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'tug-bench-sched-'));
  const control = await startControl({ listen: '127.0.0.1:0', dataDir: dir, store: 'memory', controllers: false, metrics: new MetricsRegistry() });
  const conn: Connection = { server: control.url, caCert: control.caCert, token: control.token };
  const client = new ApiClient(conn);
  const abort = new AbortController();
  let scheduler: Awaited<ReturnType<typeof startControllers>> | undefined;
  let watching: Promise<void> | undefined;
  try {
    await client.create(NAMESPACE, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    await pool(nodeCount, CONCURRENCY, async (i) => {
      const name = `node-${String(i).padStart(4, '0')}`;
      await client.create(NODE, undefined, nodeObject(name));
      await client.create(LEASE, 'kube-node-lease', leaseObject(name));
    });

    // Watch the pods: record when each is first seen bound.
    const createdAt = new Map<string, number>();
    const boundAt = new Map<string, number>();
    const perNode = new Map<string, number>();
    let allBound: () => void = () => undefined;
    const done = new Promise<void>((res) => (allBound = res));
    const rv = (await client.list(POD, NS)).metadata.resourceVersion;
    watching = client
      .watch(
        POD,
        NS,
        { resourceVersion: rv },
        (ev) => {
          const pod = ev.object as Pod;
          const name = pod.metadata.name!;
          if (!pod.spec?.nodeName || boundAt.has(name)) return;
          boundAt.set(name, performance.now());
          perNode.set(pod.spec.nodeName, (perNode.get(pod.spec.nodeName) ?? 0) + 1);
          if (boundAt.size === PODS) allBound();
        },
        abort.signal,
      )
      .catch((e) => {
        if (!abort.signal.aborted) console.error('watch failed:', e);
      });

    scheduler = await startControllers(conn, new MetricsRegistry(), [schedulerController({ strategy })], (m) => console.error(`scheduler: ${m}`));
    const t0 = performance.now();
    await pool(PODS, CONCURRENCY, async (i) => {
      const pod = podObject(i);
      createdAt.set(pod.metadata.name!, performance.now());
      await client.create(POD, NS, pod);
    });
    const stall = setInterval(() => console.error(`  … ${boundAt.size}/${PODS} bound`), 10_000).unref();
    await done;
    clearInterval(stall);
    const last = Math.max(...boundAt.values());
    const latencies = [...boundAt].map(([name, at]) => at - createdAt.get(name)!).sort((a, b) => a - b);
    return {
      nodes: nodeCount,
      strategy,
      podsPerSec: PODS / ((last - t0) / 1000),
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      nodesUsed: perNode.size,
      maxPerNode: Math.max(...perNode.values()),
      seconds: (last - t0) / 1000,
    };
  } finally {
    abort.abort();
    await scheduler?.stop();
    await watching;
    client.close();
    await control.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows: Result[] = [];
for (const nodes of NODE_COUNTS) {
  for (const strategy of STRATEGIES) {
    console.error(`measuring ${strategy} with ${nodes} nodes and ${PODS} pods…`);
    rows.push(await measure(nodes, strategy));
  }
}

console.log(`\nScheduler: ${PODS} pods (50m CPU, 64Mi each, ${OWNERS} owners), ${CONCURRENCY} creates in flight, nodes of 8 CPU / 32Gi / 110 pods;`);
console.log('control (memory store), scheduler and load generator in one Node.js process, HTTPS on loopback\n');
console.log('nodes  strategy   pods/s   p50 create→bound   p99 create→bound   nodes used   max pods/node   total');
for (const r of rows) {
  console.log(
    `${String(r.nodes).padStart(5)}  ${r.strategy.padEnd(8)} ${r.podsPerSec.toFixed(0).padStart(7)}   ${`${r.p50Ms.toFixed(1)} ms`.padStart(16)}   ${`${r.p99Ms.toFixed(1)} ms`.padStart(16)}   ${String(r.nodesUsed).padStart(10)}   ${String(r.maxPerNode).padStart(13)}   ${r.seconds.toFixed(1).padStart(4)} s`,
  );
}
console.log('\nPeers (published figures, not measured here):');
console.log('  Nomad            ~3,750 placements/s cluster-wide');
console.log('  kube-scheduler   ~100-300 pods/s with the default configuration');
