// Cluster state as Prometheus gauges on control's registry, read from the store at scrape time
// (like kube-state-metrics, without a second process): nodes by their Ready condition, and
// Deployments' desired and available replicas. Label values stay bounded: the condition status
// is one of three words, and Deployment series come and go with the Deployments themselves.
import { Gauge, type Registry as MetricsRegistry } from 'prom-client';
import { resourceOfKind } from '../../api/resources.js';
import type { KubeObject } from '../../api/types.js';
import type { Registry } from './registry.js';

const NODE = resourceOfKind('Node');
const DEPLOYMENT = resourceOfKind('Deployment');

/** A Node's Ready condition status: 'true', 'false', or 'unknown' (no heartbeat, or none yet). */
export function nodeReadiness(node: KubeObject): 'true' | 'false' | 'unknown' {
  const conditions = ((node as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? []);
  const ready = conditions.find((c) => c.type === 'Ready')?.status;
  return ready === 'True' ? 'true' : ready === 'False' ? 'false' : 'unknown';
}

export function registerClusterMetrics(metrics: MetricsRegistry, registry: Registry): void {
  // A control restarted in one process on the same metrics registry reads its new store.
  for (const name of ['tug_cluster_nodes', 'tug_deployment_replicas']) metrics.removeSingleMetric(name);
  new Gauge({
    name: 'tug_cluster_nodes',
    help: 'Nodes in the cluster by their Ready condition (true, false, unknown).',
    labelNames: ['ready'] as const,
    registers: [metrics],
    async collect() {
      const counts = { true: 0, false: 0, unknown: 0 };
      for (const node of (await registry.list(NODE, undefined)).items) counts[nodeReadiness(node)]++;
      for (const [ready, n] of Object.entries(counts)) this.set({ ready }, n);
    },
  });
  const replicas = new Gauge({
    name: 'tug_deployment_replicas',
    help: "Deployments' replicas: desired (spec), ready and available (status).",
    labelNames: ['namespace', 'deployment', 'state'] as const,
    registers: [metrics],
    async collect() {
      replicas.reset();
      for (const d of (await registry.list(DEPLOYMENT, undefined)).items as { metadata: KubeObject['metadata']; spec?: { replicas?: number }; status?: { readyReplicas?: number; availableReplicas?: number } }[]) {
        const labels = { namespace: d.metadata.namespace ?? 'default', deployment: d.metadata.name ?? '' };
        replicas.set({ ...labels, state: 'desired' }, d.spec?.replicas ?? 1);
        replicas.set({ ...labels, state: 'ready' }, d.status?.readyReplicas ?? 0);
        replicas.set({ ...labels, state: 'available' }, d.status?.availableReplicas ?? 0);
      }
    },
  });
}
