import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProxyScrape } from '../../api/traffic.js';
import { baselineFor, trafficReport, TrafficSampler, type Reading } from './traffic.js';

const requests = (service: string, endpoint: string, value: number) => ({ name: 'tug_proxy_requests_total', labels: { namespace: 'default', service, port: 'http', endpoint, code: '200' }, value });

function reading(at: number, totals: Record<string, Record<string, number>>): Reading {
  const map = new Map(Object.entries(totals).map(([svc, eps]) => [svc, new Map(Object.entries(eps).map(([e, n]) => [e, { requests: n, connections: 0 }]))]));
  return { at, totals: map, missing: [] };
}

test('a report has the rates of every service since the baseline, or of one', () => {
  const before = reading(1000, { 'default/echo': { a: 10, b: 10 } });
  const now = reading(3000, { 'default/echo': { a: 30, b: 50 }, 'shop/cart': { c: 4 } });
  const report = trafficReport(before, now);
  assert.equal(report.windowSeconds, 2);
  assert.deepEqual(report.services.map((s) => [s.namespace, s.service, s.endpoints.map((e) => [e.endpoint, e.requestsPerSecond])]), [
    ['default', 'echo', [['a', 10], ['b', 20]]],
    ['shop', 'cart', [['c', 2]]],
  ]);
  assert.deepEqual(trafficReport(before, now, 'shop/cart').services.map((s) => s.service), ['cart']);
  assert.deepEqual(trafficReport(before, now, 'shop/none').services, []);
});

test('the baseline is the newest reading old enough and not too old', () => {
  const readings = [reading(0, {}), reading(5000, {}), reading(9500, {})];
  assert.equal(baselineFor(readings, 10_000, 1000, 30_000)?.at, 5000);
  assert.equal(baselineFor(readings, 10_000, 1000, 4000), undefined);
  assert.equal(baselineFor([reading(9500, {})], 10_000, 1000, 30_000), undefined);
});

/** A sampler over scripted scrapes, on a clock that only the fake sleep moves. */
function scripted(values: number[]) {
  let clock = 0;
  const slept: number[] = [];
  let i = 0;
  const scrape = async (): Promise<ProxyScrape> => ({ samples: [requests('echo', 'a', values[i++])], missing: i === 1 ? ['s2'] : [] });
  const sampler = new TrafficSampler({ scrape, clock: () => clock, sleep: async (ms) => void (slept.push(ms), (clock += ms)), minWindowMs: 1000, maxAgeMs: 30_000 });
  return { sampler, slept, advance: (ms: number) => (clock += ms) };
}

test('the first request scrapes twice a window apart; the next ones reuse the last reading', async () => {
  const s = scripted([100, 110, 150, 151, 200, 249]);
  let { before, now } = await s.sampler.sample();
  assert.deepEqual(s.slept, [1000]);
  assert.equal(trafficReport(before, now).services[0].endpoints[0].requestsPerSecond, 10);
  assert.deepEqual(trafficReport(before, now).missingNodes, []);
  s.advance(2000); // the page polls again
  ({ before, now } = await s.sampler.sample());
  assert.deepEqual(s.slept, [1000], 'no wait: the previous reading is the baseline');
  assert.equal(trafficReport(before, now).services[0].endpoints[0].requestsPerSecond, 20);
  // Two tabs a moment apart: the second compares with the reading before the first tab's.
  s.advance(100);
  ({ before, now } = await s.sampler.sample());
  assert.equal(now.at - before.at, 2100);
  assert.deepEqual(s.slept, [1000]);
  // After a long quiet gap the old readings are no baseline: wait and scrape again.
  s.advance(60_000);
  ({ before, now } = await s.sampler.sample());
  assert.deepEqual(s.slept, [1000, 1000]);
  assert.equal(trafficReport(before, now).services[0].endpoints[0].requestsPerSecond, 49);
});

test('requests arriving together share one scrape', async () => {
  let clock = 0;
  let scrapes = 0;
  const scrape = async (): Promise<ProxyScrape> => {
    scrapes++;
    await new Promise((r) => setImmediate(r));
    return { samples: [requests('echo', 'a', scrapes * 10)], missing: [] };
  };
  const sampler = new TrafficSampler({ scrape, clock: () => clock, sleep: async (ms) => void (clock += ms) });
  const [a, b] = await Promise.all([sampler.sample(), sampler.sample()]);
  assert.equal(scrapes, 2, 'one scrape, the wait, one more: for both requests');
  assert.equal(a.now, b.now);
  assert.equal(trafficReport(a.before, a.now).services[0].endpoints[0].requestsPerSecond > 0, true);
});
