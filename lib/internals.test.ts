import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sleep } from '../api/timers.js';
import { canCollectGarbage, collectGarbage, GarbageCollections } from './internals.js';

/** A WeakRef to an object nothing else holds, made in a job of its own (a WeakRef keeps its target until the job ends). */
async function garbage(): Promise<WeakRef<object>> {
  const ref = new WeakRef({ payload: new Array(1000).fill('x') });
  await sleep(0);
  return ref;
}

describe('Node internals', () => {
  it('collects garbage on request: an object only a WeakRef holds is gone', async () => {
    assert.ok(canCollectGarbage());
    const ref = await garbage();
    assert.equal(collectGarbage(), true);
    assert.equal(ref.deref(), undefined);
  });

  it('collects soon after a request, once for a burst of requests, and one asked for inside the interval when it ends', async () => {
    const runs: number[] = [];
    const gcs = new GarbageCollections(200, 5, () => runs.push(Date.now()));
    try {
      gcs.request();
      gcs.request();
      while (runs.length < 1) await sleep(5);
      gcs.request();
      gcs.request();
      while (runs.length < 2) await sleep(5);
      await sleep(20);
      assert.equal(runs.length, 2, 'one collection per burst');
      assert.ok(runs[1] - runs[0] >= 150, `the second came ${runs[1] - runs[0]} ms after the first, not before the interval ended`);
    } finally {
      gcs.stop();
    }
  });

  it('is off with TUG_NODE_INTERNALS=0: no collection, and the caller is told', () => {
    const module = fileURLToPath(new URL('./internals.js', import.meta.url));
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { collectGarbage, canCollectGarbage } from ${JSON.stringify(module)}; console.log(canCollectGarbage(), collectGarbage(), typeof globalThis.gc)`], {
      env: { ...process.env, TUG_NODE_INTERNALS: '0' },
      encoding: 'utf8',
    });
    assert.equal(r.stdout.trim(), 'false false undefined', r.stderr);
  });
});
