// Proxy metrics: requests are counted exactly (lib/metrics fast series), per endpoint and code, and the series of endpoints and ports that leave the
// table go away and start again from zero if they come back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ProxyMetrics } from './metrics.js';
import type { ServicePortEntry } from './table.js';
import type { Endpoint } from './types.js';

const A: Endpoint = { ip: '127.0.0.1', port: 25120, pod: 'web-a' };
const B: Endpoint = { ip: '127.0.0.1', port: 25121 };

function entry(endpoints: Endpoint[]): ServicePortEntry {
  return { key: 'default/web:http', namespace: 'default', service: 'web', portName: 'http', protocol: 'TCP', mode: 'http', clusterIP: '127.77.0.5', port: 80, endpoints, notReady: 0 };
}

async function requests(registry: Registry): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric('tug_proxy_requests_total')!.get();
  return Object.fromEntries(metric.values.map((v) => [`${v.labels.endpoint}/${v.labels.code}`, v.value]));
}

describe('ProxyMetrics requests', () => {
  it('counts each request once per endpoint and code, across scrapes', async () => {
    const registry = new Registry();
    const metrics = new ProxyMetrics(registry, () => []);
    const observe = metrics.observerFor(entry([A, B]));
    for (let i = 0; i < 5; i++) observe.request!(A, 200, 0.001);
    observe.request!(B, 503, 0.002);
    observe.request!(undefined, 503, 0);
    assert.deepEqual(await requests(registry), { 'web-a/200': 5, '127.0.0.1:25121/503': 1, 'none/503': 1 });
    observe.request!(A, 200, 0.001);
    assert.deepEqual(await requests(registry), { 'web-a/200': 6, '127.0.0.1:25121/503': 1, 'none/503': 1 });
    assert.match(await registry.metrics(), /^tug_proxy_requests_total\{namespace="default",service="web",port="http",endpoint="web-a",code="200"\} 6$/m);
    assert.match(await registry.metrics(), /^tug_proxy_request_duration_seconds_count\{namespace="default",service="web",port="http"\} 8$/m);
  });

  it('drops the series of an endpoint that left, and counts from zero when it is back', async () => {
    const registry = new Registry();
    const metrics = new ProxyMetrics(registry, () => []);
    const observe = metrics.observerFor(entry([A, B]));
    observe.request!(A, 200, 0.001);
    observe.request!(B, 200, 0.001);
    assert.deepEqual(await requests(registry), { 'web-a/200': 1, '127.0.0.1:25121/200': 1 });
    // Counted but not yet scraped when A leaves: gone with its series.
    observe.request!(A, 200, 0.001);
    metrics.retain([entry([B])]);
    assert.deepEqual(await requests(registry), { '127.0.0.1:25121/200': 1 });
    observe.request!(A, 200, 0.001);
    assert.deepEqual(await requests(registry), { 'web-a/200': 1, '127.0.0.1:25121/200': 1 });
    metrics.retain([]);
    assert.deepEqual(await requests(registry), {});
  });

  it('an endpoint back after it left is counted by every observer of the port (ClusterIP and NodePort listeners)', async () => {
    const registry = new Registry();
    const metrics = new ProxyMetrics(registry, () => []);
    const clusterIP = metrics.observerFor(entry([A, B]));
    const nodePort = metrics.observerFor(entry([A, B]));
    clusterIP.request!(A, 200, 0.001);
    nodePort.request!(A, 200, 0.001);
    nodePort.connection!(A);
    metrics.retain([entry([B])]);
    metrics.retain([entry([A, B])]);
    // The first observer to see A again makes its series; the other must count into the same one.
    clusterIP.request!(A, 200, 0.001);
    nodePort.request!(A, 200, 0.001);
    nodePort.request!(A, 200, 0.001);
    clusterIP.connection!(A);
    nodePort.connection!(A);
    assert.deepEqual(await requests(registry), { 'web-a/200': 3 });
    assert.match(await registry.metrics(), /^tug_proxy_connections_total\{namespace="default",service="web",port="http",endpoint="web-a"\} 2$/m);
  });
});
