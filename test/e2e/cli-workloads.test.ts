// `tug scale`, `tug rollout status|history|undo|restart|pause|resume` and `tug describe` against a
// real cluster (`tug up --with-examples`: control with its controllers, one node, the echo
// Deployment), the way a user types them, including the mistakes: each exits 1 with a clear message.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { eventually, tempDir, tug, type RunResult } from './harness.js';
import { killPodsOf, startUp, upEnv, type UpProcess } from './up-support.js';

const PORTS = '21600-21699';

function ok(r: RunResult): string {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return r.stdout;
}

function fails(r: RunResult): string {
  assert.equal(r.code, 1, `expected exit 1, got ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  return r.stderr;
}

describe('tug scale, rollout and describe on a running cluster', { concurrency: false, timeout: 300_000 }, () => {
  const cleanups: (() => unknown)[] = [];
  const scope = { after: (fn: () => unknown) => cleanups.push(fn) };
  const home = tempDir(scope, 'tug-workloads-');
  scope.after(() => killPodsOf(home));
  let up: UpProcess;
  const run = (args: string[], input?: string) => tug(upEnv(home), args, input);

  before(async () => {
    up = await startUp(scope, home, PORTS);
  });
  after(async () => {
    if (up) await up.stop('SIGINT');
    for (const fn of cleanups.reverse()) await fn();
  });

  /** The echo pods: all of them, and those Running, Ready and not being deleted. */
  async function echoPods(): Promise<{ all: any[]; ready: any[] }> {
    const list = JSON.parse(ok(await run(['get', 'pods', '-l', 'app=echo', '-o', 'json']))).items;
    const ready = list.filter((p: any) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running' && p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
    return { all: list, ready };
  }

  function converged(n: number) {
    return eventually(async () => {
      const pods = await echoPods();
      return pods.all.length === n && pods.ready.length === n ? pods.ready : undefined;
    }, 300);
  }

  async function deployment(): Promise<any> {
    return JSON.parse(ok(await run(['get', 'deploy', 'echo', '-o', 'json'])));
  }

  async function history(): Promise<string[]> {
    const out = ok(await run(['rollout', 'history', 'deploy/echo']));
    const lines = out.trim().split('\n');
    assert.equal(lines[0], 'deployment.apps/echo');
    assert.match(lines[1], /^REVISION\s+CHANGE-CAUSE$/);
    return lines.slice(2).map((l) => l.split(/\s+/)[0]);
  }

  it('scales up and down through the scale subresource', async () => {
    assert.equal(ok(await run(['scale', 'deploy/echo', '--replicas=5'])).trim(), 'deployment.apps/echo scaled');
    const status = ok(await run(['rollout', 'status', 'deploy/echo']));
    assert.match(status, /deployment "echo" successfully rolled out\n$/);
    await converged(5);
    assert.equal(ok(await run(['scale', 'deployment', 'echo', '--replicas', '2'])).trim(), 'deployment.apps/echo scaled');
    await converged(2);
    assert.equal((await deployment()).spec.replicas, 2);
  });

  it('restarts, lists the history and undoes, waiting with rollout status', async () => {
    const before = (await echoPods()).ready.map((p) => p.metadata.name);
    assert.deepEqual(await history(), ['1']);
    assert.equal(ok(await run(['rollout', 'restart', 'deploy/echo'])).trim(), 'deployment.apps/echo restarted');
    const restarted = await deployment();
    assert.match(restarted.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const status = ok(await run(['rollout', 'status', 'deploy/echo']));
    assert.match(status, /deployment "echo" successfully rolled out\n$/);
    const after = await converged(2);
    assert.ok(after.every((p: any) => !before.includes(p.metadata.name)), 'every pod was replaced');
    assert.deepEqual(await history(), ['1', '2']);

    assert.equal(ok(await run(['rollout', 'undo', 'deploy/echo'])).trim(), 'deployment.apps/echo rolled back');
    ok(await run(['rollout', 'status', 'deploy/echo', '--timeout', '2m']));
    const undone = await deployment();
    assert.equal(undone.spec.template.metadata.annotations?.['kubectl.kubernetes.io/restartedAt'], undefined, 'the template of revision 1 is back');
    assert.deepEqual(await history(), ['2', '3'], 'revision 1 became 3');
    await converged(2);

    const detail = ok(await run(['rollout', 'history', 'deploy/echo', '--revision=2']));
    assert.match(detail, /^deployment\.apps\/echo with revision #2\nPod Template:\n {2}Labels:\s+app=echo\n {2}Annotations:\s+kubectl\.kubernetes\.io\/restartedAt: /);
    assert.equal(ok(await run(['rollout', 'undo', 'deploy/echo', '--to-revision=3'])).trim(), 'deployment.apps/echo skipped rollback (current template already matches revision 3)');
    assert.match(fails(await run(['rollout', 'undo', 'deploy/echo', '--to-revision=99'])), /^error: unable to find specified revision 99 in history/);
  });

  it('pauses and resumes; a paused deployment is neither restarted nor rolled back', async () => {
    assert.equal(ok(await run(['rollout', 'pause', 'deploy/echo'])).trim(), 'deployment.apps/echo paused');
    assert.equal(ok(await run(['rollout', 'pause', 'deploy/echo'])).trim(), 'deployment.apps/echo already paused');
    assert.equal((await deployment()).spec.paused, true);
    assert.match(fails(await run(['rollout', 'restart', 'deploy/echo'])), /can't restart paused deployment echo \(run `tug rollout resume deploy\/echo` first\)/);
    assert.match(fails(await run(['rollout', 'undo', 'deploy/echo'])), /cannot rollback a paused deployment; resume it first/);
    assert.equal(ok(await run(['rollout', 'resume', 'deploy/echo'])).trim(), 'deployment.apps/echo resumed');
    assert.ok(!(await deployment()).spec.paused);
  });

  it('describes deployments, replicasets, pods, services and nodes with their events', async () => {
    const d = ok(await run(['describe', 'deploy', 'echo']));
    assert.match(d, /^Name:\s+echo$/m);
    assert.match(d, /^Replicas:\s+2 desired \| 2 updated \| 2 total \| 2 available \| 0 unavailable$/m);
    assert.match(d, /^NewReplicaSet:\s+echo-\w+ \(2\/2 replicas created\)$/m);
    assert.match(d, /^ {2}Normal\s+ScalingReplicaSet\s+\S+\s+deployment-controller\s+Scaled up replica set echo-\w+/m);

    const pod = (await echoPods()).ready[0];
    const p = ok(await run(['describe', `pod/${pod.metadata.name}`]));
    assert.match(p, new RegExp(`^Name:\\s+${pod.metadata.name}$`, 'm'));
    assert.match(p, /^Status:\s+Running$/m);
    assert.match(p, /^Controlled By:\s+ReplicaSet\/echo-\w+$/m);
    assert.match(p, /^ {4}Ready:\s+True$/m);
    assert.match(p, /^ {2}Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned default\/echo-/m);

    const rsName = /Controlled By:\s+ReplicaSet\/(\S+)/.exec(p)![1];
    const rs = ok(await run(['describe', 'rs', rsName]));
    assert.match(rs, /^Controlled By:\s+Deployment\/echo$/m);
    assert.match(rs, /^Pods Status:\s+2 Running \/ 0 Waiting \/ 0 Succeeded \/ 0 Failed$/m);

    const svc = ok(await run(['describe', 'svc', 'echo']));
    assert.match(svc, /^IP:\s+127\.77\.\d+\.\d+$/m);
    assert.match(svc, /^Port:\s+http {2}80\/TCP$/m);

    const nodes = ok(await run(['describe', 'nodes']));
    assert.match(nodes, /^ {2}Ready\s+True\s/m);
    assert.match(nodes, /^Non-terminated Pods:\s+\(2 in total\)$/m);

    const cm = ok(await run(['describe', 'configmap', 'echo-app']));
    assert.match(cm, /^ {4}const http = require\('node:http'\);$/m);
  });

  it('reports a rollout that cannot finish, and exits non-zero', async () => {
    // Readiness never passes; the marker (this test's home) lets cleanup find the processes.
    const stuck = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'stuck' },
      spec: {
        replicas: 1,
        progressDeadlineSeconds: 2,
        selector: { matchLabels: { app: 'stuck' } },
        template: {
          metadata: { labels: { app: 'stuck' } },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'c', image: 'x', command: ['node', '-e', 'setInterval(() => {}, 1000)', home], readinessProbe: { exec: { command: ['false'] }, periodSeconds: 1 } }],
          },
        },
      },
    };
    ok(await run(['apply', '-f', '-'], YAML.stringify(stuck)));
    const err = fails(await run(['rollout', 'status', 'deploy/stuck']));
    assert.match(err, /^error: deployment "stuck" exceeded its progress deadline$/m);
    ok(await run(['delete', 'deploy', 'stuck']));
  });

  it('rejects bad input with exit 1 and a message naming the problem', async () => {
    assert.match(fails(await run(['scale', 'deploy/echo', '--replicas=-1'])), /^error: --replicas=-1 is not allowed: it must be a whole number of 0 or more/);
    assert.match(fails(await run(['scale', 'deploy/echo'])), /--replicas is required/);
    assert.match(fails(await run(['scale', 'deploy/nope', '--replicas=2'])), /^Error from server \(NotFound\): deployments\.apps "nope" not found$/m);
    assert.match(fails(await run(['rollout', 'status', 'deploy/nope'])), /^Error from server \(NotFound\): deployments\.apps "nope" not found$/m);
    assert.match(fails(await run(['rollout', 'history', 'deployment/nope'])), /deployments\.apps "nope" not found/);
    assert.match(fails(await run(['describe', 'pod', 'nope'])), /^Error from server \(NotFound\): pods "nope" not found$/m);
    assert.match(fails(await run(['rollout', 'status', 'svc/echo'])), /services cannot be used here/);
    assert.match(fails(await run(['describe', 'gizmo', 'x'])), /doesn't have a resource type "gizmo"/);
    assert.equal((await deployment()).spec.replicas, 2, 'nothing changed');
  });
});
