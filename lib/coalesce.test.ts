import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Coalesced } from './coalesce.js';

it('asks during a run give one more run; an ask right as a run ends is never lost', async () => {
  let runs = 0;
  let release: () => void = () => undefined;
  const work = new Coalesced(async () => {
    runs++;
    await new Promise<void>((r) => (release = r));
  });
  work.request();
  work.request();
  work.request();
  assert.equal(runs, 1);
  release();
  await new Promise((r) => setImmediate(r));
  assert.equal(runs, 2, 'the asks during the first run made one more');
  release();
  await work.idle();
  // Asked from a continuation of the very promise the last run settles: still runs.
  const last = new Coalesced(async () => {
    runs++;
  });
  const before = runs;
  last.request();
  await Promise.resolve().then(() => last.request());
  await last.idle();
  await last.idle();
  assert.equal(runs - before, 2);
});
