import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Balancer } from './balancer.js';
import type { Endpoint } from './types.js';

const ep = (port: number, pod?: string): Endpoint => ({ ip: '127.0.0.1', port, ...(pod ? { pod } : {}) });
const three = [ep(1, 'a'), ep(2, 'b'), ep(3, 'c')];

function counts(b: Balancer, n: number, client = '127.0.3.1'): Record<number, number> {
  const out: Record<number, number> = {};
  for (let i = 0; i < n; i++) {
    const e = b.pick(client)!;
    out[e.port] = (out[e.port] ?? 0) + 1;
  }
  return out;
}

describe('Balancer', () => {
  it('round robin is exact: 300 picks over 3 endpoints give 100 each', () => {
    const b = new Balancer();
    b.setEndpoints(three);
    assert.deepEqual(counts(b, 300), { 1: 100, 2: 100, 3: 100 });
  });

  it('gives nothing without endpoints, and honours exclude', () => {
    const b = new Balancer();
    assert.equal(b.pick('c'), undefined);
    b.setEndpoints(three);
    assert.equal(b.pick('c', new Set(['127.0.0.1:1', '127.0.0.1:2']))?.port, 3);
    assert.equal(b.pick('c', new Set(['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'])), undefined);
  });

  it('keeps its position across syncs with the same, a grown or a shrunk set', () => {
    const b = new Balancer();
    b.setEndpoints(three);
    assert.equal(b.pick('c')?.port, 1);
    b.setEndpoints([...three]); // an unchanged sync
    assert.equal(b.pick('c')?.port, 2);
    b.setEndpoints([...three, ep(4)]); // grown
    assert.deepEqual([b.pick('c'), b.pick('c'), b.pick('c')].map((e) => e?.port), [3, 4, 1]);
    b.setEndpoints([ep(1), ep(3), ep(4)]); // 2, due next, left: continue with the next one that stayed
    assert.equal(b.pick('c')?.port, 3);
    // Endpoint identity is ip:port; a changed pod name is picked up without resetting anything.
    b.setEndpoints([ep(1, 'x'), ep(3, 'y'), ep(4, 'z')]);
    assert.equal(b.pick('c')?.pod, 'z');
  });

  it('ejects a failed endpoint for a back-off that doubles up to the cap', () => {
    let now = 1_000_000;
    const b = new Balancer({ now: () => now, ejectMs: 1000, maxEjectMs: 4000 });
    b.setEndpoints(three);
    b.failed(three[1]);
    assert.equal(b.ejectedCount(), 1);
    assert.deepEqual(counts(b, 4), { 1: 2, 3: 2 });
    now += 1000; // back in after 1 s
    assert.equal(b.ejectedCount(), 0);
    assert.deepEqual(counts(b, 3), { 1: 1, 2: 1, 3: 1 });
    const ejectedFor = () => {
      b.failed(three[1]);
      let ms = 0;
      while (b.ejectedCount() > 0) {
        now += 250;
        ms += 250;
      }
      return ms;
    };
    assert.deepEqual([ejectedFor(), ejectedFor(), ejectedFor(), ejectedFor()], [2000, 4000, 4000, 4000]);
    b.succeeded(three[1]); // a success starts the back-off over
    assert.equal(ejectedFor(), 1000);
  });

  it('a failure long after the last ejection starts the back-off over', () => {
    let now = 0;
    const b = new Balancer({ now: () => now, ejectMs: 1000, maxEjectMs: 4000 });
    b.setEndpoints(three);
    b.failed(three[0]);
    now += 1000;
    b.failed(three[0]); // 2 s now
    now += 2000 + 4000 + 1;
    b.failed(three[0]);
    now += 1000;
    assert.equal(b.ejectedCount(), 0);
  });

  it('still picks when every endpoint is ejected, rather than refusing', () => {
    const b = new Balancer({ now: () => 0 });
    b.setEndpoints(three);
    for (const e of three) b.failed(e);
    assert.deepEqual(counts(b, 3), { 1: 1, 2: 1, 3: 1 });
  });

  it('forgets the health of an endpoint that left the Endpoints', () => {
    const b = new Balancer({ now: () => 0 });
    b.setEndpoints(three);
    b.failed(three[0]);
    b.setEndpoints(three.slice(1));
    b.setEndpoints(three); // Ready again
    assert.equal(b.ejectedCount(), 0);
  });

  it('ClientIP affinity sticks within the timeout and renews on use', () => {
    let now = 0;
    const b = new Balancer({ now: () => now, affinityTimeoutSeconds: 10 });
    b.setEndpoints(three);
    const first = b.pick('192.0.2.1')!;
    const other = b.pick('192.0.2.2')!;
    assert.notEqual(first.port, other.port);
    for (let i = 0; i < 5; i++) {
      now += 9000;
      assert.equal(b.pick('192.0.2.1')?.port, first.port);
    }
    now += 10_001;
    // Expired: the next pick follows round robin again (the last pick went to `other`'s successor).
    assert.equal(b.pick('192.0.2.1')?.port, 3);
  });

  it('ClientIP affinity moves off a failed or removed endpoint', () => {
    const b = new Balancer({ now: () => 0, affinityTimeoutSeconds: 100 });
    b.setEndpoints(three);
    const first = b.pick('192.0.2.1')!;
    b.failed(first);
    const second = b.pick('192.0.2.1')!;
    assert.notEqual(second.port, first.port);
    assert.equal(b.pick('192.0.2.1')?.port, second.port);
    b.setEndpoints(three.filter((e) => e.port !== second.port));
    const third = b.pick('192.0.2.1')!;
    assert.notEqual(third.port, second.port);
    assert.equal(b.pick('192.0.2.1')?.port, third.port);
  });
});
