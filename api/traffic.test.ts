import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMetrics, rates, totalsByService, totalsFor } from './traffic.js';

const text = `# HELP tug_proxy_requests_total Requests
# TYPE tug_proxy_requests_total counter
tug_proxy_requests_total{namespace="default",service="echo",port="http",endpoint="echo-a",code="200"} 90
tug_proxy_requests_total{namespace="default",service="echo",port="http",endpoint="echo-a",code="503"} 10
tug_proxy_requests_total{namespace="default",service="echo",port="http",endpoint="echo-b",code="200"} 50
tug_proxy_requests_total{namespace="default",service="other",port="http",endpoint="x",code="200"} 7
tug_proxy_connections_total{namespace="default",service="echo",port="http",endpoint="echo-a"} 3
tug_proxy_request_duration_seconds_bucket{namespace="default",service="echo",port="http",le="0.1"} 4
weird{label="a \\"quoted\\" value"} 1e3
`;

test('reads counters per endpoint of one service, summed over codes', () => {
  const samples = parseMetrics(text);
  assert.equal(samples.find((s) => s.name === 'weird')?.labels.label, 'a "quoted" value');
  assert.equal(samples.find((s) => s.name === 'weird')?.value, 1000);
  const totals = totalsFor(samples, 'default', 'echo');
  assert.deepEqual(Object.fromEntries(totals), { 'echo-a': { requests: 100, connections: 3 }, 'echo-b': { requests: 50, connections: 0 } });
  assert.deepEqual(Object.fromEntries(totalsFor(samples, 'default', 'missing')), {});
});

test('totals of every service at once, summed over nodes', () => {
  const twoNodes = [...parseMetrics(text), ...parseMetrics(text)];
  const all = totalsByService(twoNodes);
  assert.deepEqual([...all.keys()].sort(), ['default/echo', 'default/other']);
  assert.deepEqual(all.get('default/other')?.get('x'), { requests: 14, connections: 0 });
  assert.deepEqual(all.get('default/echo')?.get('echo-a'), { requests: 200, connections: 6 });
});

test('rates and shares between two readings; a reset counter counts from zero', () => {
  const before = new Map([['a', { requests: 100, connections: 10 }], ['b', { requests: 500, connections: 5 }]]);
  const now = new Map([['a', { requests: 300, connections: 10 }], ['b', { requests: 200, connections: 5 }], ['c', { requests: 0, connections: 4 }]]);
  const rows = rates(before, now, 2);
  assert.deepEqual(rows.map((r) => [r.endpoint, r.requestsPerSecond, r.connectionsPerSecond]), [['a', 100, 0], ['b', 100, 0], ['c', 0, 2]]);
  // Requests count where there are any, connections otherwise: 100 + 100 + 2 in all.
  assert.deepEqual(rows.map((r) => r.share), [100 / 202, 100 / 202, 2 / 202]);
});
