// Requests in flight: past the limit of its kind a request is answered 429 with Retry-After at
// once; reads and writes are counted apart; watches are not counted.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { ApiError } from '../../api/errors.js';
import { inflightLimiter } from './inflight.js';

describe('requests in flight', () => {
  it('answers 429 past the limit, counts reads and writes apart, and leaves watches out', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const rejected: string[] = [];
    const app = new Hono();
    app.onError((e, c) => c.json((e as ApiError).toStatus(), (e as ApiError).code as 429));
    app.use('*', inflightLimiter({ readonly: 1, mutating: 1, onRejected: (k) => rejected.push(k) }));
    app.all('/slow', async (c) => {
      await gate;
      return c.text('done');
    });
    const first = app.request('/slow');
    const write = app.request('/slow', { method: 'POST' });
    const watch = app.request('/slow?watch=1');
    const second = await app.request('/slow');
    assert.equal(second.status, 429);
    assert.equal(second.headers.get('retry-after'), '1');
    const status = (await second.json()) as { reason: string; details: { retryAfterSeconds: number } };
    assert.equal(status.reason, 'TooManyRequests');
    assert.deepEqual(rejected, ['readonly']);
    open();
    assert.deepEqual(await Promise.all([first, write, watch].map(async (r) => (await r).status)), [200, 200, 200], 'a write and a watch were not held back by the read');
    assert.equal((await app.request('/slow')).status, 200, 'the slot is free again');
  });
});
