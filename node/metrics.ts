// The node daemon's Prometheus metrics (DESIGN.md §7), on their own registry and listener
// (`--metrics-addr`, default :10249), so tests and Prometheus read exactly this node's figures.
import { createServer, type Server } from 'node:http';
import { totalmem } from 'node:os';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CpuUsage, memoryUsedBytes } from './hoststats.js';

/** Where the host figures come from; tests hand in their own. */
export interface HostSampler {
  cpuUsageRatio(): number;
  memoryUsedBytes(): number;
  memoryTotalBytes(): number;
}

function osSampler(): HostSampler {
  const cpu = new CpuUsage();
  return { cpuUsageRatio: () => cpu.sample(), memoryUsedBytes: () => memoryUsedBytes(), memoryTotalBytes: () => totalmem() };
}

export class NodeMetrics {
  readonly registry = new Registry();
  readonly restarts: Counter<'namespace' | 'pod' | 'container'>;
  readonly probeResults: Counter<'probe' | 'result'>;
  readonly podStart: Histogram<string>;

  constructor(nodeName: string, podPhases: () => Map<string, number>, host: HostSampler = osSampler()) {
    this.registry.setDefaultLabels({ node: nodeName });
    collectDefaultMetrics({ register: this.registry });
    this.restarts = new Counter({
      name: 'tug_container_restarts_total',
      help: 'Container restarts on this node (crashes, failed liveness probes)',
      labelNames: ['namespace', 'pod', 'container'],
      registers: [this.registry],
    });
    this.probeResults = new Counter({
      name: 'tug_probe_results_total',
      help: 'Probe runs by kind (liveness, readiness, startup) and result',
      labelNames: ['probe', 'result'],
      registers: [this.registry],
    });
    this.podStart = new Histogram({
      name: 'tug_pod_start_duration_seconds',
      help: 'From the node seeing a pod to all its containers running',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [this.registry],
    });
    new Gauge({
      name: 'tug_node_pods',
      help: 'Pods on this node by phase',
      labelNames: ['phase'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [phase, count] of podPhases()) this.set({ phase }, count);
      },
    });
    // Read on scrape: the CPU ratio covers the time since the previous scrape.
    new Gauge({
      name: 'tug_node_cpu_usage_ratio',
      help: 'Share of the host CPU time (all cores) spent busy since the previous scrape, 0..1',
      registers: [this.registry],
      collect() {
        this.set(host.cpuUsageRatio());
      },
    });
    new Gauge({
      name: 'tug_node_memory_used_bytes',
      help: 'Host memory in use: total minus available',
      registers: [this.registry],
      collect() {
        this.set(host.memoryUsedBytes());
      },
    });
    new Gauge({
      name: 'tug_node_memory_total_bytes',
      help: 'Host memory in total, to put tug_node_memory_used_bytes in proportion',
      registers: [this.registry],
      collect() {
        this.set(host.memoryTotalBytes());
      },
    });
  }

  /** The workload certificates the node holds (the mesh): when each runs out, by identity. */
  watchMeshCertificates(held: () => { id: string; notAfter: Date }[]): void {
    new Gauge({
      name: 'tug_mesh_certificate_expiry_timestamp_seconds',
      help: 'When each workload certificate this node holds runs out (Unix time), by SPIFFE ID; one series per identity its pods run as',
      labelNames: ['identity'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of held()) this.set({ identity: c.id }, Math.floor(c.notAfter.getTime() / 1000));
      },
    });
  }
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** Serves `/metrics` (and `/healthz`) over plain HTTP, as kube-proxy's metrics port does. */
export async function serveMetrics(registry: Registry, host: string, port: number, log: (m: string) => void): Promise<MetricsServer> {
  const server: Server = createServer(async (req, res) => {
    res.on('error', () => undefined);
    if (req.url === '/healthz') return void res.end('ok');
    if (req.url !== '/metrics' && !req.url?.startsWith('/metrics?')) {
      res.writeHead(404).end('not found: try /metrics\n');
      return;
    }
    try {
      const body = await registry.metrics();
      res.writeHead(200, { 'Content-Type': registry.contentType }).end(body);
    } catch (e) {
      res.writeHead(500).end(`${(e as Error).message}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => log(`metrics server: ${e.message}`));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
