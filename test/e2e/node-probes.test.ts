// `tug node` probes and crash back-off, end to end: a failing liveness probe restarts the
// container, a failing readiness probe takes the pod out of Ready and back, and a crashing
// container waits longer after each crash. Real control, real node process, real kubectl.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { NodeCluster, webPod } from './node-support.js';
import { needs } from '../requirements.js';

const NODE = 'n1';

describe('tug node probes and crash back-off', { ...(await needs('kubectl')), concurrency: false }, () => {
  const cluster = new NodeCluster();

  before(async () => {
    await cluster.start();
    await cluster.startNode({ name: NODE, portRange: '21100-21199' });
  });

  after(() => cluster.cleanup());

  const containerStatus = async (pod: string) => (await cluster.podJson(pod)).status?.containerStatuses?.[0];
  const condition = (pod: any, type: string) => pod.status?.conditions?.find((c: any) => c.type === type);

  it('restarts a container whose liveness probe fails, keeping the killed instance as lastState', async () => {
    const marker = cluster.marker('live');
    const flag = cluster.flag(marker);
    await cluster.apply(webPod('live', { marker, node: NODE, flag, liveness: '/unhealthy' }));
    const first = await cluster.waitFor('live running', async () => {
      const cs = await containerStatus('live');
      return cs?.state?.running && cs.ready ? cs : undefined;
    });
    assert.equal(first.restartCount, 0);
    const port = await cluster.portOf('live');
    assert.equal((await fetch(`http://127.0.0.1:${port}/unhealthy`)).status, 200);

    writeFileSync(flag, '');
    assert.equal((await fetch(`http://127.0.0.1:${port}/unhealthy`)).status, 500);
    const restarted = await cluster.waitFor('restart after liveness failures', async () => {
      const cs = await containerStatus('live');
      return cs?.restartCount >= 1 && cs.lastState?.terminated ? cs : undefined;
    });
    // The new instance fails the same probe until the flag is gone, so it may be killed once more.
    rmSync(flag);
    const killed = restarted.lastState.terminated;
    assert.notEqual(killed.containerID, restarted.containerID, 'lastState is an earlier instance');
    if (restarted.restartCount === 1) assert.equal(killed.containerID, first.containerID, 'lastState is the instance the probe failed');
    assert.ok([137, 143].includes(killed.exitCode), `killed by SIGTERM or SIGKILL, exit code ${killed.exitCode}`);
    assert.equal(killed.reason, 'Error');

    const now = await cluster.waitFor('live running again', async () => {
      const cs = await containerStatus('live');
      return cs?.state?.running && cs.ready ? cs : undefined;
    }, 300, 200);
    assert.ok(now.restartCount >= 1);
    assert.notEqual(now.containerID, first.containerID);
    const table = await cluster.kubectl(['get', 'pod', 'live']);
    assert.match(table.stdout, /^live\s+1\/1\s+Running\s+[1-9]\d*\s/m);
    const events = await cluster.eventsFor('live');
    assert.ok(
      events.some((e) => e.reason === 'Killing' && /failed liveness probe/.test(e.message)),
      `a Killing event names the liveness probe: ${JSON.stringify(events.map((e) => [e.reason, e.message]))}`,
    );
  });

  it('takes a pod out of Ready while its readiness probe fails, and back once it passes', async () => {
    const marker = cluster.marker('ready');
    const flag = cluster.flag(marker);
    await cluster.apply(webPod('ready', { marker, node: NODE, flag, readiness: '/unhealthy' }));
    const row = (ready: string) => async () => {
      const r = await cluster.kubectl(['get', 'pod', 'ready']);
      return new RegExp(`^ready\\s+${ready}\\s+Running\\s+0\\s`, 'm').test(r.stdout) ? true : undefined;
    };
    await cluster.waitFor('ready 1/1', row('1/1'));
    assert.equal(condition(await cluster.podJson('ready'), 'Ready').status, 'True');

    writeFileSync(flag, '');
    await cluster.waitFor('ready 0/1', row('0/1'));
    const unready = await cluster.podJson('ready');
    assert.equal(condition(unready, 'Ready').status, 'False');
    assert.equal(condition(unready, 'Ready').reason, 'ContainersNotReady');
    assert.equal(condition(unready, 'ContainersReady').status, 'False');
    const cs = unready.status.containerStatuses[0];
    assert.ok(cs.state.running, 'a readiness failure does not stop the container');
    assert.equal(cs.ready, false);

    rmSync(flag);
    await cluster.waitFor('ready 1/1 again', row('1/1'));
    const back = await cluster.podJson('ready');
    assert.equal(condition(back, 'Ready').status, 'True');
    assert.equal(back.status.containerStatuses[0].restartCount, 0);
    assert.equal(back.status.containerStatuses[0].containerID, cs.containerID, 'the same instance');
  });

  it('waits longer after each crash: back-off 10s, then 20s', async () => {
    await cluster.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'crasher' }, spec: { nodeName: NODE, containers: [{ name: 'c', image: 'x', command: ['sh', '-c', 'echo crashing; exit 2'] }] } });
    const backOff = (seconds: number, restarts: number) => async () => {
      const cs = await containerStatus('crasher');
      const message: string | undefined = cs?.state?.waiting?.message;
      return cs?.restartCount === restarts && message && new RegExp(`^back-off ${seconds}s restarting failed container=c pod=crasher_default`).test(message) ? cs : undefined;
    };
    // The first crash restarts at once; the second waits 10 s; the third 20 s.
    const ten = await cluster.waitFor('back-off 10s', backOff(10, 1));
    assert.equal(ten.state.waiting.reason, 'CrashLoopBackOff');
    assert.equal(ten.lastState.terminated.exitCode, 2);
    const twenty = await cluster.waitFor('back-off 20s', backOff(20, 2), 300, 100);
    assert.equal(twenty.state.waiting.reason, 'CrashLoopBackOff');
    assert.equal(twenty.lastState.terminated.exitCode, 2);
    const table = await cluster.kubectl(['get', 'pod', 'crasher']);
    assert.match(table.stdout, /^crasher\s+0\/1\s+CrashLoopBackOff\s+2\s/m);
    const backOffs = (await cluster.eventsFor('crasher')).filter((e) => e.reason === 'BackOff');
    assert.ok(backOffs.length >= 1 && backOffs.every((e) => e.type === 'Warning' && /^Back-off restarting failed container c in pod crasher_default\(/.test(e.message)), JSON.stringify(backOffs));

    const del = await cluster.kubectl(['delete', 'pod', 'live', '--wait=true', '--timeout=30s']);
    assert.equal(del.code, 0, del.stderr);
    const killing = (await cluster.eventsFor('live')).filter((e) => e.reason === 'Killing' && e.message === 'Stopping container web');
    assert.equal(killing.length, 1, 'a Killing event for the deleted pod');
  });
});
