// A default timeout for every test and hook that does not set its own, so a hang fails with the
// test's name and the run goes on (after hooks still run, so nothing is left behind). Node 20's
// --test-timeout bounds a whole test file instead, and its child processes ignore it.
//
// The one place tugboat reaches into Node's internals: `npm test` runs node with
// --expose-internals and loads this module into every test process with --import; it wraps the
// test runner's Test.prototype.createSubtest and createHook so that a test or hook created
// without a timeout gets the default (suites keep Node's meaning, a bound on the whole suite).
// Wrapping there, rather than node:test's `it`, keeps each test's reported location its own.
// TUG_TEST_TIMEOUT is the default in seconds (180); TUG_TEST_TIMEOUT=0 turns all of this off.
import { createRequire } from 'node:module';

export const DEFAULT_TIMEOUT_S = 180;

/** Milliseconds from TUG_TEST_TIMEOUT (seconds), or 0 for off. A malformed value is an error. */
export function defaultTimeoutMs(env: string | undefined = process.env.TUG_TEST_TIMEOUT): number {
  if (env === undefined || env === '') return DEFAULT_TIMEOUT_S * 1000;
  const seconds = Number(env);
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`TUG_TEST_TIMEOUT must be a number of seconds (0 turns the default timeout off), not ${JSON.stringify(env)}`);
  return seconds * 1000;
}

/** The options object of `test(name?, options?, fn?)` as node:test finds it: the first object among name and options. */
export function givenOptions(name: unknown, options: unknown): { timeout?: number } | undefined {
  return [name, options].find((a): a is { timeout?: number } => a !== null && typeof a === 'object');
}

interface RunnerTest {
  timeout: number | null;
}

interface RunnerInternals {
  Test: { prototype: Record<string, (...args: unknown[]) => RunnerTest> };
  Suite: abstract new (...args: unknown[]) => object;
}

function runnerInternals(): RunnerInternals {
  let internals: Partial<RunnerInternals>;
  try {
    internals = createRequire(import.meta.url)('internal/test_runner/test') as Partial<RunnerInternals>;
  } catch (e) {
    throw new Error('the default test timeout needs node --expose-internals (as `npm test` runs it); TUG_TEST_TIMEOUT=0 runs without it', { cause: e });
  }
  const proto = internals.Test?.prototype;
  if (typeof proto?.createSubtest !== 'function' || typeof proto.createHook !== 'function' || typeof internals.Suite !== 'function') {
    throw new Error(`Node ${process.version}'s test runner has no Test.prototype.createSubtest/createHook to give tests a default timeout; TUG_TEST_TIMEOUT=0 runs without it`);
  }
  return internals as RunnerInternals;
}

/** Installs the default timeout into the test runner; returns false when TUG_TEST_TIMEOUT=0 turned it off. */
export function installDefaultTimeout(timeoutMs = defaultTimeoutMs()): boolean {
  if (timeoutMs === 0) return false;
  const { Test, Suite } = runnerInternals();
  const createSubtest = Test.prototype.createSubtest;
  const createHook = Test.prototype.createHook;
  Test.prototype.createSubtest = function (this: unknown, ...args: unknown[]) {
    const test = createSubtest.apply(this, args);
    if (!(test instanceof Suite) && givenOptions(args[1], args[2])?.timeout === undefined) test.timeout = timeoutMs;
    return test;
  };
  Test.prototype.createHook = function (this: unknown, ...args: unknown[]) {
    const hook = createHook.apply(this, args);
    if ((args[2] as { timeout?: number } | undefined)?.timeout === undefined) hook.timeout = timeoutMs;
    return hook;
  };
  return true;
}
