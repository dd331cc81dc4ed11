import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { DnsMetrics } from './metrics.js';

test('queries and durations export like prom-client counters and histograms, and survive a restart on one registry', async () => {
  const registry = new Registry();
  const m = new DnsMetrics(registry);
  m.observe(1, 0, 'cluster', 0.0003);
  m.observe(1, 0, 'cluster', 0.0001);
  m.observe(4242, 3, 'cluster', 7);
  new DnsMetrics(registry).observe(1, 0, 'forward', 0.01);
  const text = await registry.metrics();
  for (const line of [
    '# TYPE tug_dns_queries_total counter',
    'tug_dns_queries_total{qtype="A",rcode="NOERROR",zone="cluster"} 2',
    'tug_dns_queries_total{qtype="OTHER",rcode="NXDOMAIN",zone="cluster"} 1',
    'tug_dns_queries_total{qtype="A",rcode="NOERROR",zone="forward"} 1',
    '# TYPE tug_dns_request_duration_seconds histogram',
    'tug_dns_request_duration_seconds_bucket{le="0.0001",zone="cluster"} 1',
    'tug_dns_request_duration_seconds_bucket{le="0.0005",zone="cluster"} 2',
    'tug_dns_request_duration_seconds_bucket{le="5",zone="cluster"} 2',
    'tug_dns_request_duration_seconds_bucket{le="+Inf",zone="cluster"} 3',
    'tug_dns_request_duration_seconds_count{zone="cluster"} 3',
    'tug_dns_request_duration_seconds_bucket{le="0.01",zone="forward"} 1',
  ]) assert.ok(text.split('\n').includes(line), line);
  registry.resetMetrics();
  assert.ok(!(await registry.metrics()).includes('tug_dns_queries_total{'));
});
