// `tug node` with the process runtime, end to end: real control, real node process, real
// kubectl. Pods are bound by hand (spec.nodeName); the scheduler comes later.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { eventually, kubectlFor, run, startControl, tempDir, TUG, type ControlProcess } from './harness.js';
import { pidsWith, webPod } from './node-support.js';
import { needs } from '../requirements.js';

const NODE = 'n1';

describe('tug node with the process runtime', { ...(await needs('kubectl')), concurrency: false }, () => {
  let dir: string;
  let control: ControlProcess;
  let kubectl: ReturnType<typeof kubectlFor>;
  let node: ChildProcess | undefined;
  let nodeOut = '';
  const markers: string[] = [];
  const cleanups: (() => unknown)[] = [];
  const scope = { after: (fn: () => unknown) => cleanups.push(fn) };

  async function startNode(): Promise<void> {
    nodeOut = '';
    const child = spawn(
      process.execPath,
      [TUG, 'node', '--kubeconfig', control.kubeconfig, '--node-name', NODE, '--node-ip', '127.0.0.1', '--state-dir', join(dir, 'node'), '--node-api', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--port-range', '21000-21099', '--heartbeat', '1'],
      { env: { ...process.env, TUG_HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (d) => (nodeOut += d));
    child.stderr!.on('data', (d) => (nodeOut += d));
    node = child;
    await eventually(async () => (/joined/.test(nodeOut) ? true : child.exitCode !== null ? Promise.reject(new Error(nodeOut)) : undefined), 300);
  }

  async function stopNode(signal: NodeJS.Signals): Promise<void> {
    const child = node;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }

  async function apply(obj: unknown): Promise<void> {
    const r = await kubectl(['apply', '-f', '-'], YAML.stringify(obj));
    assert.equal(r.code, 0, r.stderr);
  }

  async function podJson(name: string): Promise<any> {
    const r = await kubectl(['get', 'pod', name, '-o', 'json']);
    if (r.code !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout);
  }

  async function waitFor<T>(what: string, check: () => Promise<T | undefined>, attempts = 200): Promise<T> {
    try {
      return await eventually(check, attempts, 100);
    } catch (e) {
      throw new Error(`${what}: ${(e as Error).message}\nnode output:\n${nodeOut.slice(-3000)}`);
    }
  }

  before(async () => {
    dir = tempDir(scope);
    control = await startControl(scope, dir);
    kubectl = kubectlFor(control, dir);
    await startNode();
  });

  after(async () => {
    // Deleting the pods through the API lets the node stop them; anything left is killed by marker.
    await kubectl?.(['delete', 'pods', '--all', '--grace-period=1', '--wait=false']).catch(() => undefined);
    await eventually(async () => (markers.every((m) => pidsWith(m).length === 0) ? true : undefined), 100).catch(() => undefined);
    await stopNode('SIGTERM');
    for (const m of markers) for (const pid of pidsWith(m)) process.kill(pid, 'SIGKILL');
    for (const fn of cleanups.reverse()) await fn();
  });

  it('registers a Ready node', async () => {
    const out = await waitFor('node Ready', async () => {
      const r = await kubectl(['get', 'nodes']);
      return /^n1\s+Ready\s/m.test(r.stdout) ? r.stdout : undefined;
    });
    assert.match(out, /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION$/m);
    const lease = await kubectl(['get', 'lease', NODE, '-n', 'kube-node-lease', '-o', 'jsonpath={.spec.holderIdentity}']);
    assert.equal(lease.stdout, NODE);
  });

  it('runs a pod: Running and Ready, with its node port, logs and streaming logs', async () => {
    const marker = `tugpod-web-${process.pid}`;
    markers.push(marker);
    await apply(webPod('web', { marker, node: NODE, flag: join(dir, `${marker}.unhealthy`), readiness: '/' }));
    const pod = await waitFor('web ready', async () => {
      const p = await podJson('web');
      return p.status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True' ? p : undefined;
    });
    assert.equal(pod.status.phase, 'Running');
    assert.equal(pod.status.podIP, '127.0.0.1');
    const wide = await kubectl(['get', 'pods', 'web', '-o', 'wide']);
    assert.match(wide.stdout, /^web\s+1\/1\s+Running\s+0\s+\S+\s+127\.0\.0\.1\s+n1\s/m);

    const logs = await waitFor('log line', async () => {
      const r = await kubectl(['logs', 'web']);
      return /listening on 21\d{3}/.test(r.stdout) ? r.stdout : undefined;
    });
    const port = Number(/listening on (\d+)/.exec(logs)![1]);
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(await res.text(), 'hi from web\n');

    const follower = spawn('kubectl', ['logs', '-f', 'web', '--tail=1'], { env: { ...process.env, HOME: dir, KUBECONFIG: control.kubeconfig } });
    let followed = '';
    follower.stdout.on('data', (d) => (followed += d));
    try {
      await waitFor('followed lines', async () => ((followed.match(/tick/g) ?? []).length >= 3 ? true : undefined));
    } finally {
      follower.kill('SIGKILL');
    }
  });

  it('restarts a process killed from outside and counts the restart', async () => {
    const marker = markers[0];
    const [pid] = pidsWith(marker).filter((p) => !readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('/bin/sh'));
    assert.ok(pid, 'the pod process is running');
    process.kill(pid, 'SIGKILL');
    await waitFor('restart counted', async () => {
      const p = await podJson('web');
      const cs = p.status.containerStatuses[0];
      return cs.restartCount === 1 && cs.state.running ? true : undefined;
    });
    const p = await podJson('web');
    assert.equal(p.status.containerStatuses[0].lastState.terminated.exitCode, 137);
  });

  it('exports its metrics: pods by phase, restarts, probe results, pod start time', async () => {
    const port = Number(/metrics on port (\d+)/.exec(nodeOut)?.[1]);
    assert.ok(port > 0, nodeOut);
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
    assert.equal(value(/^tug_container_restarts_total\{[^}]*pod="web"[^}]*\} (\d+)$/m), 1);
    assert.ok(value(/^tug_node_pods\{[^}]*phase="Running"[^}]*\} (\d+)$/m) >= 1, text);
    assert.ok(value(/^tug_probe_results_total\{[^}]*probe="readiness",result="success"[^}]*\} (\d+)$/m) >= 1, text);
    assert.ok(value(/^tug_pod_start_duration_seconds_count\{[^}]*\} (\d+)$/m) >= 1, text);
    assert.match(text, /node="n1"/);
  });

  it('runs a command in the pod with kubectl exec and passes its exit code', async () => {
    const r = await kubectl(['exec', 'web', '--', 'sh', '-c', 'echo $HOSTNAME; exit 3']);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout.trim(), 'web');
  });

  it('shows CrashLoopBackOff for a command that keeps failing', async () => {
    await apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'crasher' }, spec: { nodeName: NODE, containers: [{ name: 'c', image: 'x', command: ['sh', '-c', 'echo crashing; exit 2'] }] } });
    const out = await waitFor('CrashLoopBackOff', async () => {
      const r = await kubectl(['get', 'pod', 'crasher']);
      return /CrashLoopBackOff/.test(r.stdout) ? r.stdout : undefined;
    });
    assert.match(out, /^crasher\s+0\/1\s+CrashLoopBackOff\s+1\s/m);
    const p = await podJson('crasher');
    assert.match(p.status.containerStatuses[0].state.waiting.message, /back-off 10s restarting failed container=c/);
  });

  it('gives clear waiting reasons and events for bad input, and keeps running the other pods', async () => {
    await apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'nocmd' }, spec: { nodeName: NODE, containers: [{ name: 'c', image: 'x', command: ['/no/such/binary'] }] } });
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'nokey' },
      spec: { nodeName: NODE, containers: [{ name: 'c', image: 'x', command: ['sleep', '100'], env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'missing-cm', key: 'k' } } }] }] },
    });
    await apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'present' }, data: { other: 'v' } });
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'missingkey' },
      spec: { nodeName: NODE, containers: [{ name: 'c', image: 'x', command: ['sleep', '100'], env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'present', key: 'k' } } }] }] },
    });
    const nocmd = await waitFor('RunContainerError', async () => {
      const p = await podJson('nocmd');
      return p.status.containerStatuses?.[0]?.state?.waiting?.reason === 'RunContainerError' ? p : undefined;
    });
    assert.match(nocmd.status.containerStatuses[0].state.waiting.message, /\/no\/such\/binary/);
    const nokey = await waitFor('CreateContainerConfigError', async () => {
      const p = await podJson('nokey');
      return p.status.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError' ? p : undefined;
    });
    assert.match(nokey.status.containerStatuses[0].state.waiting.message, /missing-cm/);
    const missingKey = await waitFor('missing key', async () => {
      const p = await podJson('missingkey');
      return p.status.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError' ? p : undefined;
    });
    assert.match(missingKey.status.containerStatuses[0].state.waiting.message, /couldn't find key k in configmap default\/present/);
    const events = await kubectl(['get', 'events', '--field-selector', 'involvedObject.name=nocmd']);
    assert.match(events.stdout, /Failed/);
    const web = await podJson('web');
    assert.equal(web.status.phase, 'Running');
  });

  it('adopts running pods after a SIGKILL of tug node: no duplicates, restart count kept', async () => {
    const marker = markers[0];
    const before = pidsWith(marker).sort();
    await stopNode('SIGKILL');
    await startNode();
    await waitFor('node back', async () => (/joined/.test(nodeOut) ? true : undefined));
    // Give the agent a moment to sync, then check nothing was started twice.
    await waitFor('status still ready', async () => {
      const p = await podJson('web');
      return p.status.containerStatuses[0].ready ? true : undefined;
    });
    assert.deepEqual(pidsWith(marker).sort(), before);
    const p = await podJson('web');
    assert.equal(p.status.containerStatuses[0].restartCount, 1);
  });

  it('deletes a pod within its grace period, SIGKILLing a process that ignores SIGTERM', async () => {
    const marker = `tugpod-stubborn-${process.pid}`;
    markers.push(marker);
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'stubborn' },
      spec: { nodeName: NODE, terminationGracePeriodSeconds: 2, containers: [{ name: 'c', image: 'x', command: ['sh', '-c', `trap '' TERM; while :; do sleep 0.2; done # ${marker}`] }] },
    });
    await waitFor('stubborn running', async () => ((await podJson('stubborn')).status.phase === 'Running' ? true : undefined));
    assert.ok(pidsWith(marker).length > 0);
    const started = Date.now();
    const del = await kubectl(['delete', 'pod', 'stubborn']);
    assert.equal(del.code, 0, del.stderr);
    const took = Date.now() - started;
    assert.ok(took >= 1500, `deletion waited for the grace period (took ${took} ms)`);
    assert.deepEqual(pidsWith(marker), []);
  });

  it('writes no secret file readable by others', async () => {
    // Secret volumes are projected with mode 0400 into the pod's directory.
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'token' }, stringData: { key: 'v' } });
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'withsecret' },
      spec: {
        nodeName: NODE,
        volumes: [{ name: 's', secret: { secretName: 'token' } }],
        containers: [{ name: 'c', image: 'x', command: ['sh', '-c', 'cat $TUG_MOUNT_ETC_TOKEN/key; sleep 100'], volumeMounts: [{ name: 's', mountPath: '/etc/token' }] }],
      },
    });
    const out = await waitFor('secret printed', async () => {
      const r = await kubectl(['logs', 'withsecret']);
      return r.stdout.includes('v') ? r.stdout : undefined;
    });
    assert.equal(out.trim(), 'v');
    const uid = (await podJson('withsecret')).metadata.uid;
    const file = join(dir, 'node', 'pods', uid, 'volumes', 's', 'key');
    assert.ok(existsSync(file));
    const mode = (await run('stat', ['-c', '%a', file])).stdout.trim();
    assert.equal(mode, '400');
  });
});
