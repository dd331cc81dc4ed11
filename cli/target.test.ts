import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from '../api/errors.js';
import { UsageError } from './args.js';
import { formatError } from './errors.js';
import { main } from './main.js';
import { parseCount, parseTimeout } from './rollout.js';
import { displayName, parseTarget } from './target.js';

test('targets: KIND/NAME and KIND NAME, resolved through the catalogue', () => {
  for (const args of [['deploy/web'], ['deployment', 'web'], ['deployment.apps/web'], ['Deployment', 'web']]) {
    const t = parseTarget(args, 'tug scale deploy/NAME');
    assert.equal(t.resource.kind, 'Deployment', args.join(' '));
    assert.equal(t.name, 'web');
  }
  assert.equal(displayName(parseTarget(['rs/x'], '').resource, 'x'), 'replicaset.apps/x');
  assert.equal(displayName(parseTarget(['po/x'], '').resource, 'x'), 'pod/x');
});

test('target mistakes are usage errors that say what to type', () => {
  const usage = (args: string[], re: RegExp, allowed?: string[]) => assert.throws(() => parseTarget(args, 'tug scale deploy/NAME --replicas=3', allowed), (e: Error) => e instanceof UsageError && re.test(e.message));
  usage([], /say which object: tug scale deploy\/NAME --replicas=3/);
  usage(['deploy'], /say which deploy by name/);
  usage(['deploy/'], /say which deploy by name/);
  usage(['gizmo/x'], /doesn't have a resource type "gizmo"/);
  usage(['pod/x'], /pods cannot be used here; this command works on deployments and replicasets/, ['Deployment', 'ReplicaSet']);
  usage(['deploy/a', 'b'], /there is more after deploy\/a: b/);
});

test('counts and timeouts', () => {
  assert.equal(parseCount('0', '--replicas', 'x'), 0);
  assert.equal(parseCount(' 12 ', '--replicas', 'x'), 12);
  assert.throws(() => parseCount('-1', '--replicas', '--replicas=3'), /--replicas=-1 is not allowed: it must be a whole number of 0 or more \(for example --replicas=3\)/);
  assert.throws(() => parseCount('2.5', '--replicas', 'x'), UsageError);
  assert.throws(() => parseCount(undefined, '--replicas', 'x'), /--replicas is required/);
  assert.equal(parseTimeout('0'), 0);
  assert.equal(parseTimeout('30s'), 30_000);
  assert.equal(parseTimeout('2m'), 120_000);
  assert.equal(parseTimeout('15'), 15_000);
  assert.throws(() => parseTimeout('soon'), /--timeout "soon" is not a duration/);
});

test('errors print the way kubectl prints them', () => {
  assert.equal(formatError(new ApiError(404, 'NotFound', 'deployments.apps "x" not found')), 'Error from server (NotFound): deployments.apps "x" not found');
  assert.equal(formatError(new ApiError(422, 'Invalid', 'Scale "x" is invalid: spec.replicas: Invalid value')), 'The Scale "x" is invalid: spec.replicas: Invalid value');
  assert.match(formatError(new ApiError(401, 'Unauthorized', 'Unauthorized: token')), /^error: You must be logged in to the server \(Unauthorized: token\)$/);
  assert.equal(formatError(new Error('boom')), 'error: boom');
});

test('scale and rollout reject bad input before reaching a server', async () => {
  const io = { out: () => undefined, err: () => undefined };
  const env = { TUG_HOME: '/nonexistent-tug-home' };
  await assert.rejects(main(['scale', 'deploy/web', '--replicas=-2'], io, env), /--replicas=-2 is not allowed/);
  await assert.rejects(main(['scale', 'deploy/web'], io, env), /--replicas is required/);
  await assert.rejects(main(['scale', 'svc/web', '--replicas=2'], io, env), /services cannot be used here/);
  await assert.rejects(main(['rollout', 'sideways', 'deploy/web'], io, env), /unknown rollout subcommand "sideways"/);
  await assert.rejects(main(['rollout', 'undo', 'deploy/web', '--to-revision=x'], io, env), /--to-revision=x is not allowed/);
  await assert.rejects(main(['rollout', 'status', 'rs/web'], io, env), /replicasets cannot be used here; this command works on deployments/);
  await assert.rejects(main(['describe'], io, env), /say what to describe/);
});

test('help lists the new commands and the controller flags', async () => {
  let text = '';
  const io = { out: (t: string) => (text += t + '\n'), err: () => undefined };
  await main(['--help'], io, {});
  for (const word of ['tug scale', 'tug rollout status|history|undo|restart|pause|resume', 'tug describe', 'tug up']) assert.ok(text.includes(word), word);
  text = '';
  await main(['up', '--help'], io, {});
  for (const flag of ['--with-examples', '--scheduler-strategy', '--node-monitor-grace', '--pod-eviction-timeout', 'TUG_POD_EVICTION_TIMEOUT', '--runtime', '--port-range']) assert.ok(text.includes(flag), flag);
  text = '';
  await main(['control', '--help'], io, {});
  assert.ok(text.includes('--scheduler-strategy') && text.includes('(default 10)'), text);
});

test('tug up and tug control check the controller flags before starting anything', async () => {
  const io = { out: () => undefined, err: () => undefined };
  await assert.rejects(main(['up', '--scheduler-strategy', 'random'], io, { TUG_HOME: '/nonexistent-tug-home' }), /--scheduler-strategy "random" is not known/);
  await assert.rejects(main(['control', '--node-monitor-grace', '0'], io, { TUG_HOME: '/nonexistent-tug-home' }), /--node-monitor-grace "0" must be a number of seconds above 0/);
  await assert.rejects(main(['up', '--runtime', 'lxc'], io, { TUG_HOME: '/nonexistent-tug-home' }), /--runtime "lxc" is not known/);
});

test('tug node and tug up check the pod network flags before starting anything', async () => {
  const io = { out: () => undefined, err: () => undefined };
  const env = { TUG_HOME: '/nonexistent-tug-home' };
  await assert.rejects(main(['node', '--network', 'overlay'], io, env), /--network "overlay" is not known; use hostport or bridge/);
  await assert.rejects(main(['node', '--network', 'bridge', '--cluster-cidr', '127.77.0.0/16'], io, env), /--cluster-cidr 127\.77\.0\.0\/16 overlaps --service-cidr 127\.77\.0\.0\/16/);
  await assert.rejects(main(['node', '--cluster-cidr', '198.19.0.0/33'], io, env), /invalid --cluster-cidr "198\.19\.0\.0\/33"/);
  await assert.rejects(main(['node', '--overlay', 'geneve'], io, env), /--overlay "geneve" is not known; use none or vxlan/);
  await assert.rejects(main(['up', '--network', 'weave'], io, env), /--network "weave" is not known; use auto, bridge or hostport/);
});
