// Cluster-state gauges read from a real (memory) store at scrape time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry as MetricsRegistry } from 'prom-client';
import { resourceOfKind } from '../../api/resources.js';
import { createMemoryStore } from '../store/index.js';
import { nodeReadiness, registerClusterMetrics } from './cluster-metrics.js';
import { Registry } from './registry.js';

const node = (name: string, ready?: string) => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name },
  ...(ready ? { status: { conditions: [{ type: 'Ready', status: ready }] } } : {}),
});

test('nodeReadiness reads the Ready condition; missing is unknown', () => {
  assert.equal(nodeReadiness(node('a', 'True')), 'true');
  assert.equal(nodeReadiness(node('a', 'False')), 'false');
  assert.equal(nodeReadiness(node('a', 'Unknown')), 'unknown');
  assert.equal(nodeReadiness(node('a')), 'unknown');
});

test('nodes by readiness and deployment replicas follow the store at each scrape', async (t) => {
  const store = createMemoryStore();
  const registry = new Registry(store);
  await registry.start();
  t.after(async () => {
    await registry.close();
    await store.close();
  });
  const metrics = new MetricsRegistry();
  registerClusterMetrics(metrics, registry);
  const NODE = resourceOfKind('Node');
  await registry.create(NODE, undefined, node('n1', 'True') as never);
  await registry.create(NODE, undefined, node('n2', 'True') as never);
  await registry.create(NODE, undefined, node('n3', 'False') as never);
  await registry.create(resourceOfKind('Deployment'), 'default', {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } },
  } as never);

  const text = await metrics.metrics();
  assert.match(text, /^tug_cluster_nodes\{ready="true"\} 2$/m);
  assert.match(text, /^tug_cluster_nodes\{ready="false"\} 1$/m);
  assert.match(text, /^tug_cluster_nodes\{ready="unknown"\} 0$/m);
  assert.match(text, /^tug_deployment_replicas\{namespace="default",deployment="web",state="desired"\} 3$/m);
  assert.match(text, /^tug_deployment_replicas\{namespace="default",deployment="web",state="available"\} 0$/m);

  await registry.delete(NODE, undefined, 'n3');
  await registry.delete(resourceOfKind('Deployment'), 'default', 'web');
  const after = await metrics.metrics();
  assert.match(after, /^tug_cluster_nodes\{ready="false"\} 0$/m);
  assert.doesNotMatch(after, /deployment="web"/, 'a deleted Deployment leaves no series');

  // Registering again (a control restarted in the same process) replaces, never throws.
  registerClusterMetrics(metrics, registry);
  assert.match(await metrics.metrics(), /^tug_cluster_nodes\{ready="true"\} 2$/m);
});
