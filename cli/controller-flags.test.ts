import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFlags, UsageError } from './args.js';
import { CONTROLLER_FLAGS, controllerSettings } from './controller-flags.js';

const settings = (argv: string[], env: NodeJS.ProcessEnv = {}) => controllerSettings(parseFlags(argv, CONTROLLER_FLAGS, env).flags);

test('defaults: spread, 10 s grace, 20 s eviction', () => {
  assert.deepEqual(settings([]), { schedulerStrategy: 'spread', nodeMonitorGraceMs: 10_000, podEvictionTimeoutMs: 20_000 });
});

test('flags and their TUG_* twins, flags winning', () => {
  assert.deepEqual(settings(['--scheduler-strategy', 'binpack', '--node-monitor-grace', '4', '--pod-eviction-timeout', '7.5s']), {
    schedulerStrategy: 'binpack',
    nodeMonitorGraceMs: 4000,
    podEvictionTimeoutMs: 7500,
  });
  const env = { TUG_SCHEDULER_STRATEGY: 'binpack', TUG_NODE_MONITOR_GRACE: '3', TUG_POD_EVICTION_TIMEOUT: '9' };
  assert.deepEqual(settings([], env), { schedulerStrategy: 'binpack', nodeMonitorGraceMs: 3000, podEvictionTimeoutMs: 9000 });
  assert.equal(settings(['--node-monitor-grace=5'], env).nodeMonitorGraceMs, 5000);
});

test('bad values name the flag and the fix', () => {
  assert.throws(() => settings(['--scheduler-strategy', 'random']), (e: Error) => e instanceof UsageError && /--scheduler-strategy "random" is not known; use spread or binpack/.test(e.message));
  for (const bad of ['0', '-3', 'ten', '', '5m']) {
    assert.throws(() => settings([`--node-monitor-grace=${bad}`]), (e: Error) => e instanceof UsageError && /--node-monitor-grace ".*" must be a number of seconds above 0/.test(e.message), bad);
  }
  assert.throws(() => settings(['--pod-eviction-timeout', 'soon']), /--pod-eviction-timeout "soon" must be a number of seconds above 0 \(for example --pod-eviction-timeout 20\)/);
  assert.throws(() => settings(['--node-monitor-grace', '10', '--pod-eviction-timeout', '5']), /--pod-eviction-timeout 5 is shorter than --node-monitor-grace 10/);
});
