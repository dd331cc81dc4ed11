// The fast series must read exactly like prom-client's own Counter and Histogram in a scrape.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { fastCounter, fastHistogram, FastCounter, FastHistogram } from './metrics.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];

test('a FastCounter and a FastHistogram scrape the same as prom-client given the same observations', async () => {
  const theirs = new Registry();
  const ours = new Registry();
  const c1 = new Counter({ name: 'x_total', help: 'h', labelNames: ['a', 'b'], registers: [theirs] });
  const h1 = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['a'], buckets: BUCKETS, registers: [theirs] });
  const c2 = new FastCounter({ name: 'x_total', help: 'h', labelNames: ['a', 'b'], registers: [ours] });
  const h2 = new FastHistogram({ name: 'x_seconds', help: 'h', labelNames: ['a'], buckets: BUCKETS, registers: [ours] });
  const one = c2.child({ a: '1', b: 'x' });
  for (const [a, b, by] of [['1', 'x', 1], ['1', 'x', 2], ['2', 'y', 5]] as const) {
    c1.inc({ a, b }, by);
    if (a === '1') one.inc(by);
    else c2.inc({ a, b }, by);
  }
  for (const [a, v] of [['p', 0.0005], ['p', 0.001], ['p', 0.5], ['q', 3], ['p', 0.05]] as const) {
    h1.observe({ a }, v);
    h2.child({ a }).observe(v);
  }
  assert.equal(await ours.metrics(), await theirs.metrics());

  // remove() drops a series; reset() all of them.
  c1.remove({ a: '2', b: 'y' });
  c2.remove({ a: '2', b: 'y' });
  h1.remove({ a: 'q' });
  h2.remove({ a: 'q' });
  assert.equal(await ours.metrics(), await theirs.metrics());
  ours.resetMetrics();
  assert.doesNotMatch(await ours.metrics(), /^x_/m);
});

test('fastCounter/fastHistogram reuse the metric already on a registry (a restart in one process keeps counting)', async () => {
  const registry = new Registry();
  fastCounter(registry, { name: 'y_total', help: 'h', labelNames: ['a'] }).inc({ a: '1' });
  fastCounter(registry, { name: 'y_total', help: 'h', labelNames: ['a'] }).inc({ a: '1' });
  fastHistogram(registry, { name: 'y_seconds', help: 'h', labelNames: [], buckets: BUCKETS }).child({}).observe(0.5);
  fastHistogram(registry, { name: 'y_seconds', help: 'h', labelNames: [], buckets: BUCKETS }).child({}).observe(0.5);
  const text = await registry.metrics();
  assert.match(text, /^y_total\{a="1"\} 2$/m);
  assert.match(text, /^y_seconds_count 2$/m);
  assert.match(text, /^y_seconds_bucket\{le="0\.1"\} 0$/m);
});
