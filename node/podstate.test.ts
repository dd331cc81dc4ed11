import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Container, ContainerStatus, Pod, PodSpec, PodStatus } from '../api/types.js';
import type { ContainerState } from './runtime/types.js';
import { crashLoopDelay, decide, podStatus, recordStarted, statusChanged, type Action, type ContainerRecord, type ProbeOutcome } from './podstate.js';

const T0 = Date.parse('2024-05-01T10:00:00Z');
const S = 1000;
const MIN = 60 * S;

function mkPod(spec: Partial<PodSpec>, meta: Partial<Pod['metadata']> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default', uid: 'uid-1', ...meta },
    spec: { containers: [{ name: 'app', image: 'app:1' }], ...spec },
  };
}

const labels = (name: string) => ({ podUid: 'uid-1', podName: 'web', namespace: 'default', containerName: name, restartCount: 0 });
function running(name: string, startedAt: number, id = `${name}-${startedAt}`): ContainerState {
  return { id, labels: labels(name), phase: 'running', startedAt: new Date(startedAt) };
}
function exited(name: string, startedAt: number, finishedAt: number, exitCode?: number, extra: Partial<ContainerState> = {}): ContainerState {
  return { id: `${name}-${startedAt}`, labels: labels(name), phase: 'exited', startedAt: new Date(startedAt), finishedAt: new Date(finishedAt), exitCode, ...extra };
}
function records(...recs: (Partial<ContainerRecord> & { name: string })[]): Map<string, ContainerRecord> {
  return new Map(recs.map((r) => [r.name, { restartCount: 0, ready: false, started: false, ...r }]));
}
const none = new Map<string, ProbeOutcome>();
const opts = (now: number) => ({ hostIP: '198.18.0.5', podIP: '198.18.0.5', now, startTime: rfc(T0) });
const rfc = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const inits = (st: PodStatus) => st.initContainerStatuses as ContainerStatus[];
const start = (container: string): Action => ({ type: 'start', container });

test('crashLoopDelay: the first restart at once, then 10 s doubling to a 300 s cap, reset after a 10 min run', () => {
  const seq = [0, 1, 2, 3, 4, 5, 6, 7, 50, 5000].map((n) => crashLoopDelay(n, 5 * S) / S);
  assert.deepEqual(seq, [0, 10, 20, 40, 80, 160, 300, 300, 300, 300]);
  assert.equal(crashLoopDelay(9, 10 * MIN), 0);
  assert.equal(crashLoopDelay(9, 10 * MIN - 1), 300 * S);
});

test('a new pod starts all its containers; a running one needs nothing', () => {
  const pod = mkPod({ containers: [{ name: 'a' }, { name: 'b' }] });
  assert.deepEqual(decide(pod, new Map(), T0, none), [start('a'), start('b')]);
  assert.deepEqual(decide(pod, records({ name: 'a', current: running('a', T0) }), T0, none), [start('b')]);
});

test('restartPolicy Always restarts every exit after the back-off', () => {
  const pod = mkPod({ restartPolicy: 'Always' });
  const recs = records({ name: 'app', current: exited('app', T0, T0 + 5 * S, 0), restartCount: 2 });
  // restartCount 2 → 20 s after it finished
  const until = T0 + 5 * S + 20 * S;
  assert.deepEqual(decide(pod, recs, T0 + 6 * S, none), [{ type: 'wait', container: 'app', until, reason: 'CrashLoopBackOff' }]);
  assert.deepEqual(decide(pod, recs, until - 1, none), [{ type: 'wait', container: 'app', until, reason: 'CrashLoopBackOff' }]);
  assert.deepEqual(decide(pod, recs, until, none), [start('app')]);
  // restartPolicy defaults to Always
  assert.deepEqual(decide(mkPod({}), recs, until, none), [start('app')]);
});

test('restartPolicy OnFailure restarts only non-zero exits; Never never restarts', () => {
  const later = T0 + 10 * MIN;
  const ok = records({ name: 'app', current: exited('app', T0, T0 + S, 0) });
  const bad = records({ name: 'app', current: exited('app', T0, T0 + S, 3) });
  const killed = records({ name: 'app', current: exited('app', T0, T0 + S, undefined, { signal: 'SIGKILL' }) });
  assert.deepEqual(decide(mkPod({ restartPolicy: 'OnFailure' }), ok, later, none), []);
  assert.deepEqual(decide(mkPod({ restartPolicy: 'OnFailure' }), bad, later, none), [start('app')]);
  assert.deepEqual(decide(mkPod({ restartPolicy: 'OnFailure' }), killed, later, none), [start('app')]);
  assert.deepEqual(decide(mkPod({ restartPolicy: 'Never' }), bad, later, none), []);
  assert.deepEqual(decide(mkPod({ restartPolicy: 'Never' }), ok, later, none), []);
});

test('the back-off streak: each crash waits twice as long; a 10 min run starts it again', () => {
  const pod = mkPod({});
  const c: Container = { name: 'app' };
  let rec: ContainerRecord | undefined;
  let t = T0;
  const waits: number[] = [];
  for (let i = 0; i < 8; i++) {
    rec = recordStarted(rec, c, running('app', t));
    rec = { ...rec, current: exited('app', t, t + S, 1) };
    const [action] = decide(pod, new Map([['app', rec]]), t + S, none);
    if (i === 0) {
      // the first crash restarts at once
      assert.deepEqual(action, start('app'));
      waits.push(0);
      t += S;
      continue;
    }
    assert.equal(action.type, 'wait');
    waits.push(((action as { until: number }).until - (t + S)) / S);
    t = (action as { until: number }).until;
  }
  assert.deepEqual(waits, [0, 10, 20, 40, 80, 160, 300, 300]);
  assert.equal(rec!.restartCount, 7);
  // a long run ends the streak: restart at once, then 10 s after the next short run; restartCount goes on
  rec = recordStarted(rec, c, running('app', t));
  rec = { ...rec, current: exited('app', t, t + 11 * MIN, 1) };
  t += 11 * MIN;
  assert.deepEqual(decide(pod, new Map([['app', rec]]), t, none), [start('app')]);
  rec = recordStarted(rec, c, running('app', t));
  assert.equal(rec.restartCount, 9);
  assert.equal(rec.previous?.exitCode, 1);
  rec = { ...rec, current: exited('app', t, t + S, 1) };
  assert.deepEqual(decide(pod, new Map([['app', rec]]), t + S, none), [{ type: 'wait', container: 'app', until: t + S + 10 * S, reason: 'CrashLoopBackOff' }]);
});

test('recordStarted: started and ready follow the probes the container has', () => {
  const plain = recordStarted(undefined, { name: 'a' }, running('a', T0));
  assert.deepEqual([plain.started, plain.ready, plain.restartCount], [true, true, 0]);
  const probed = recordStarted(undefined, { name: 'a', readinessProbe: { tcpSocket: { port: 80 } } }, running('a', T0));
  assert.deepEqual([probed.started, probed.ready], [true, false]);
  const slow = recordStarted(undefined, { name: 'a', startupProbe: { tcpSocket: { port: 80 } } }, running('a', T0));
  assert.deepEqual([slow.started, slow.ready], [false, false]);
});

test('a failing liveness (or startup) probe kills the running container', () => {
  const pod = mkPod({ containers: [{ name: 'a' }, { name: 'b' }] });
  const recs = records({ name: 'a', current: running('a', T0) }, { name: 'b', current: running('b', T0) });
  assert.deepEqual(decide(pod, recs, T0, new Map([['a', 'failure'], ['b', 'success']])), [{ type: 'kill', container: 'a', reason: 'LivenessProbe' }]);
  assert.deepEqual(decide(pod, recs, T0, none, new Map([['b', 'failure']])), [{ type: 'kill', container: 'b', reason: 'StartupProbe' }]);
  // already exited: no kill, the restart policy applies
  const gone = records({ name: 'a', current: exited('a', T0, T0 + S, 137) }, { name: 'b', current: running('b', T0) });
  assert.deepEqual(decide(pod, gone, T0 + MIN, new Map([['a', 'failure']])), [start('a')]);
});

test('a pod being deleted starts nothing', () => {
  const pod = mkPod({ containers: [{ name: 'a' }, { name: 'b' }] }, { deletionTimestamp: rfc(T0) });
  assert.deepEqual(decide(pod, records({ name: 'b', current: exited('b', T0, T0 + S, 1) }), T0 + MIN, none), []);
});

test('a start error is retried once the worker back-off ran out', () => {
  const pod = mkPod({});
  const recs = records({ name: 'app', waiting: { reason: 'ErrImageNeverPull' }, backoffUntil: T0 + 10 * S });
  assert.deepEqual(decide(pod, recs, T0, none), []);
  assert.deepEqual(decide(pod, recs, T0 + 10 * S, none), [start('app')]);
});

test('init containers run in order, each to completion, before the app containers', () => {
  const pod = mkPod({ initContainers: [{ name: 'i1' }, { name: 'i2' }], containers: [{ name: 'a' }, { name: 'b' }] });
  assert.deepEqual(decide(pod, new Map(), T0, none), [start('i1')]);
  assert.deepEqual(decide(pod, records({ name: 'i1', current: running('i1', T0) }), T0, none), []);
  const i1done = { name: 'i1', current: exited('i1', T0, T0 + S, 0) };
  assert.deepEqual(decide(pod, records(i1done), T0 + S, none), [start('i2')]);
  const i2done = { name: 'i2', current: exited('i2', T0 + S, T0 + 2 * S, 0) };
  assert.deepEqual(decide(pod, records(i1done, i2done), T0 + 2 * S, none), [start('a'), start('b')]);
  // a failed init container is restarted with back-off (Always and OnFailure alike): at once after
  // its first failure, 10 s after its second
  const i2first = { name: 'i2', current: exited('i2', T0 + S, T0 + 2 * S, 1) };
  assert.deepEqual(decide(pod, records(i1done, i2first), T0 + 2 * S, none), [start('i2')]);
  const i2bad = { name: 'i2', current: exited('i2', T0 + S, T0 + 2 * S, 1), restartCount: 1 };
  for (const restartPolicy of ['Always', 'OnFailure']) {
    const p = { ...pod, spec: { ...pod.spec, restartPolicy } };
    assert.deepEqual(decide(p, records(i1done, i2bad), T0 + 2 * S, none), [{ type: 'wait', container: 'i2', until: T0 + 12 * S, reason: 'CrashLoopBackOff' }]);
    assert.deepEqual(decide(p, records(i1done, i2bad), T0 + 12 * S, none), [start('i2')]);
  }
  // ... and with Never the pod has failed
  const never = { ...pod, spec: { ...pod.spec, restartPolicy: 'Never' } };
  assert.deepEqual(decide(never, records(i1done, i2bad), T0 + MIN, none), []);
  const st = podStatus(never, records(i1done, i2bad), opts(T0 + MIN));
  assert.equal(st.phase, 'Failed');
  assert.equal(inits(st)[1].state?.terminated?.exitCode, 1);
  assert.equal(st.containerStatuses?.[0].state?.waiting?.reason, 'PodInitializing');
});

test('sidecars (restartPolicy Always init containers) gate on started, keep running, stop at the end', () => {
  const pod = mkPod({ restartPolicy: 'Never', initContainers: [{ name: 'side', restartPolicy: 'Always' }, { name: 'i2' }], containers: [{ name: 'a' }] });
  assert.deepEqual(decide(pod, records({ name: 'side', current: running('side', T0) }), T0, none), []);
  const side = { name: 'side', current: running('side', T0), started: true, ready: true };
  assert.deepEqual(decide(pod, records(side), T0, none), [start('i2')]);
  const i2 = { name: 'i2', current: exited('i2', T0, T0 + S, 0) };
  assert.deepEqual(decide(pod, records(side, i2), T0 + S, none), [start('a')]);
  // a crashed sidecar restarts even under Never
  const sideCrashed = { name: 'side', current: exited('side', T0, T0 + 2 * S, 1), restartCount: 0 };
  assert.deepEqual(decide(pod, records(sideCrashed, i2, { name: 'a', current: running('a', T0 + S) }), T0 + 12 * S, none), [start('side')]);
  // the app container is done for good: stop the sidecar
  const done = records(side, i2, { name: 'a', current: exited('a', T0 + S, T0 + 5 * S, 0) });
  assert.deepEqual(decide(pod, done, T0 + 5 * S, none), [{ type: 'kill', container: 'side', reason: 'PodCompleted' }]);
  assert.equal(podStatus(pod, done, opts(T0 + 5 * S)).phase, 'Succeeded');
});

test('phases: Pending, Running, Succeeded, Failed', () => {
  const two = { containers: [{ name: 'a' }, { name: 'b' }] };
  const phase = (spec: Partial<PodSpec>, recs: Map<string, ContainerRecord>) => podStatus(mkPod({ ...two, ...spec }), recs, opts(T0 + MIN)).phase;
  assert.equal(phase({}, new Map()), 'Pending');
  assert.equal(phase({}, records({ name: 'a', current: running('a', T0) })), 'Pending');
  assert.equal(phase({}, records({ name: 'a', current: running('a', T0) }, { name: 'b', current: running('b', T0) })), 'Running');
  const a0 = { name: 'a', current: exited('a', T0, T0 + S, 0) };
  const b0 = { name: 'b', current: exited('b', T0, T0 + S, 0) };
  const b1 = { name: 'b', current: exited('b', T0, T0 + S, 1) };
  assert.equal(phase({ restartPolicy: 'Always' }, records(a0, b0)), 'Running');
  assert.equal(phase({ restartPolicy: 'OnFailure' }, records(a0, b0)), 'Succeeded');
  assert.equal(phase({ restartPolicy: 'Never' }, records(a0, b0)), 'Succeeded');
  assert.equal(phase({ restartPolicy: 'Never' }, records(a0, b1)), 'Failed');
  assert.equal(phase({ restartPolicy: 'OnFailure' }, records(a0, b1)), 'Running');
  assert.equal(phase({ restartPolicy: 'Never' }, records(a0, { name: 'b', current: running('b', T0) })), 'Running');
  // a terminal phase stays
  const finished = { ...mkPod(two), status: { phase: 'Succeeded' } };
  assert.equal(podStatus(finished, records({ name: 'a', current: running('a', T0) }), opts(T0)).phase, 'Succeeded');
});

test('conditions: lastTransitionTime carried over while a status holds, so the status settles', () => {
  const pod = mkPod({ initContainers: [{ name: 'init' }], containers: [{ name: 'app', readinessProbe: { tcpSocket: { port: 80 } } }] });
  const init = { name: 'init', current: exited('init', T0, T0 + S, 0) };
  const notReady = records(init, { name: 'app', current: running('app', T0 + S), started: true, ready: false });
  const s1 = podStatus(pod, notReady, opts(T0 + 2 * S));
  const byType = (st: typeof s1) => Object.fromEntries((st.conditions ?? []).map((c) => [c.type, c]));
  assert.deepEqual(Object.keys(byType(s1)), ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled']);
  assert.deepEqual(byType(s1).Ready, { type: 'Ready', status: 'False', lastProbeTime: null, lastTransitionTime: rfc(T0 + 2 * S), reason: 'ContainersNotReady', message: 'containers with unready status: [app]' });
  assert.equal(byType(s1).Initialized.status, 'True');

  const s2 = podStatus({ ...pod, status: s1 }, notReady, opts(T0 + 30 * S));
  assert.equal(statusChanged(s1, s2), false);
  assert.deepEqual(s2, s1);

  const ready = records(init, { name: 'app', current: running('app', T0 + S), started: true, ready: true });
  const s3 = podStatus({ ...pod, status: s2 }, ready, opts(T0 + 40 * S));
  assert.equal(statusChanged(s2, s3), true);
  assert.deepEqual(byType(s3).Ready, { type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: rfc(T0 + 40 * S) });
  assert.equal(byType(s3).ContainersReady.status, 'True');
  assert.equal(byType(s3).Initialized.lastTransitionTime, rfc(T0 + 2 * S));
  assert.equal(s3.phase, 'Running');
  assert.equal(s3.containerStatuses?.[0].ready, true);

  const pending = podStatus(pod, new Map(), opts(T0));
  assert.deepEqual(byType(pending).Initialized, {
    type: 'Initialized', status: 'False', lastProbeTime: null, lastTransitionTime: rfc(T0), reason: 'ContainersNotInitialized', message: 'containers with incomplete status: [init]',
  });
});

test('container statuses: waiting reasons, running, terminated and lastState', () => {
  const pod = mkPod({});
  const cs = (recs: Map<string, ContainerRecord>, now = T0 + 5 * S, extra = {}) => podStatus(pod, recs, { ...opts(now), ...extra }).containerStatuses![0];

  assert.deepEqual(cs(new Map()), { name: 'app', ready: false, started: false, restartCount: 0, image: 'app:1', imageID: '', state: { waiting: { reason: 'ContainerCreating' } }, lastState: {} });
  assert.deepEqual(cs(records({ name: 'app', waiting: { reason: 'ErrImageNeverPull', message: 'image "app:1" is not present' } })).state, {
    waiting: { reason: 'ErrImageNeverPull', message: 'image "app:1" is not present' },
  });

  const previous = exited('app', T0 - 3 * MIN, T0 - 2 * MIN, undefined, { signal: 'SIGKILL' });
  const live = cs(records({ name: 'app', current: running('app', T0, 'p1'), previous, restartCount: 1, started: true, ready: true }), T0 + S, { containerIDPrefix: 'docker' });
  assert.deepEqual(live, {
    name: 'app', ready: true, started: true, restartCount: 1, image: 'app:1', imageID: '', containerID: 'docker://p1',
    state: { running: { startedAt: rfc(T0) } },
    lastState: { terminated: { exitCode: 137, reason: 'Error', signal: 9, startedAt: rfc(T0 - 3 * MIN), finishedAt: rfc(T0 - 2 * MIN), containerID: `docker://${previous.id}` } },
  });

  // crashed, restartCount 3: CrashLoopBackOff for 40 s, the crash as lastState
  const crashed = exited('app', T0, T0 + S, 2);
  const backoff = cs(records({ name: 'app', current: crashed, previous, restartCount: 3 }), T0 + 2 * S);
  assert.deepEqual(backoff.state, { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=app pod=web_default(uid-1)' } });
  assert.equal(backoff.lastState?.terminated?.exitCode, 2);
  assert.equal(backoff.containerID, `process://${crashed.id}`);
  assert.equal(backoff.ready, false);
  const capped = cs(records({ name: 'app', current: crashed, restartCount: 9 }), T0 + 2 * S);
  assert.match(capped.state!.waiting!.message!, /^back-off 5m0s /);
  // back-off over, the restart failed to start: the start error shows, the crash stays lastState
  const failedStart = cs(records({ name: 'app', current: crashed, restartCount: 2, waiting: { reason: 'RunContainerError', message: 'spawn ENOENT' } }), T0 + MIN);
  assert.deepEqual(failedStart.state, { waiting: { reason: 'RunContainerError', message: 'spawn ENOENT' } });
  assert.equal(failedStart.lastState?.terminated?.exitCode, 2);
  // will not restart: terminated
  const never = podStatus(mkPod({ restartPolicy: 'Never' }), records({ name: 'app', current: exited('app', T0, T0 + S, 0) }), opts(T0 + 2 * S)).containerStatuses![0];
  assert.deepEqual(never.state, { terminated: { exitCode: 0, reason: 'Completed', startedAt: rfc(T0), finishedAt: rfc(T0 + S), containerID: `process://app-${T0}` } });
  assert.deepEqual(never.lastState, {});
});

test('pod status fields, determinism, and statusChanged ignoring key order', () => {
  const pod = { ...mkPod({ initContainers: [{ name: 'init', image: 'busybox' }] }), status: { qosClass: 'BestEffort', phase: 'Pending' } };
  const recs = records({ name: 'init', current: running('init', T0) });
  const st = podStatus(pod, recs, { hostIP: '198.18.0.5', podIP: '198.18.0.5', now: T0 + 1234 });
  assert.equal(st.phase, 'Pending');
  assert.equal(st.hostIP, '198.18.0.5');
  assert.deepEqual(st.podIPs, [{ ip: '198.18.0.5' }]);
  assert.equal(st.startTime, rfc(T0 + 1234));
  assert.equal(st.qosClass, 'BestEffort');
  assert.deepEqual(inits(st)[0].state, { running: { startedAt: rfc(T0) } });
  assert.deepEqual(st.containerStatuses?.[0].state, { waiting: { reason: 'PodInitializing' } });
  assert.deepEqual(podStatus(pod, recs, { hostIP: '198.18.0.5', podIP: '198.18.0.5', now: T0 + 1234 }), st);
  assert.match(st.conditions![0].lastTransitionTime!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  const reverseKeys = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(reverseKeys) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reverseKeys(x)])) : v;
  const shuffled = { ...(reverseKeys(st) as object), extra: undefined };
  assert.notEqual(JSON.stringify(shuffled), JSON.stringify(st));
  assert.equal(statusChanged(st, shuffled), false);
  assert.equal(statusChanged(st, { ...st, phase: 'Running' }), true);
  assert.equal(statusChanged(undefined, st), true);
  assert.equal(statusChanged(undefined, undefined), false);
});
