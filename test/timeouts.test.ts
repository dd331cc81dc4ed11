// The default per-test timeout: the argument rewriting, and a real `node --test` run of a file
// whose tests outlast the default, with the module installed by --import as `npm test` does.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './e2e/harness.js';
import { defaultTimeoutMs, givenOptions } from './timeouts.js';

const PRELOAD = fileURLToPath(new URL('./preload.js', import.meta.url));
const fn = () => undefined;

describe('default timeout settings', () => {
  it('finds the options where node:test does: the first object among name and options', () => {
    assert.equal(givenOptions('n', fn), undefined);
    assert.deepEqual(givenOptions('n', { timeout: 9 }), { timeout: 9 });
    assert.deepEqual(givenOptions({ skip: true }, fn), { skip: true });
    assert.equal(givenOptions(fn, undefined), undefined);
  });

  it('reads TUG_TEST_TIMEOUT in seconds, 0 for off, and refuses anything else', () => {
    assert.equal(defaultTimeoutMs(undefined), 180_000);
    assert.equal(defaultTimeoutMs('2.5'), 2500);
    assert.equal(defaultTimeoutMs('0'), 0);
    assert.throws(() => defaultTimeoutMs('soon'), /TUG_TEST_TIMEOUT must be a number of seconds/);
    assert.throws(() => defaultTimeoutMs('-1'), /TUG_TEST_TIMEOUT must be a number of seconds/);
  });
});

/** A test file with a test and a hook slower than a 1 s default, a test with its own longer timeout, and an after hook. */
function fixture(dir: string): { file: string; afterRan: string } {
  const afterRan = join(dir, 'after-ran');
  const file = join(dir, 'slow.test.mjs');
  writeFileSync(
    file,
    `import { after, before, describe, it } from 'node:test';
import { writeFileSync } from 'node:fs';
const wait = (ms) => new Promise((r) => setTimeout(r, ms));
describe('a suite', { timeout: 60000 }, () => {
  after(() => writeFileSync(${JSON.stringify(afterRan)}, 'yes'));
  it('outlasts the default', () => wait(3000));
  it('sets its own timeout', { timeout: 10000 }, () => wait(1500));
  it('is quick', () => undefined);
});
describe('a suite whose before hook outlasts the default', () => {
  before(() => wait(3000));
  it('never starts', () => undefined);
});
`,
  );
  return { file, afterRan };
}

function runTests(file: string, timeout: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    // A fresh runner: without NODE_TEST_CONTEXT, which would make it report to this one.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const child = spawn(process.execPath, ['--expose-internals', '--import', PRELOAD, '--test', '--test-reporter=spec', file], {
      env: { ...env, TUG_TEST_TIMEOUT: timeout },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('npm test with the default timeout installed', { timeout: 60_000 }, () => {
  it('fails a test or hook that outlasts it, naming it and its place; after hooks run; the others are unaffected', async (t) => {
    const { file, afterRan } = fixture(tempDir(t));
    const { code, out } = await runTests(file, '1');
    assert.equal(code, 1, out);
    assert.match(out, /✖ outlasts the default \([\d.]+ms\)\n\s+'test timed out after 1000ms'/, out);
    assert.match(out, /test at [^\n]*slow\.test\.mjs:6:3\n✖ outlasts the default/, 'the failure points at the test itself');
    assert.match(out, /✖ a suite whose before hook outlasts the default \([\d.]+ms\)\n\s+'test timed out after 1000ms'/, out);
    assert.match(out, /✔ sets its own timeout/, out);
    assert.match(out, /✔ is quick/, out);
    assert.ok(existsSync(afterRan), 'the suite\'s after hook ran');
  });

  it('is off with TUG_TEST_TIMEOUT=0', async (t) => {
    const { file } = fixture(tempDir(t));
    const { code, out } = await runTests(file, '0');
    assert.equal(code, 0, out);
    assert.match(out, /✔ outlasts the default/, out);
  });
});
