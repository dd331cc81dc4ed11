// `tug up --with-examples` the way the README runs it (`npm start`): control, one node and the
// echo Deployment come up; each echo pod answers with its own name; Ctrl-C leaves nothing running;
// a second `tug up` on the same $TUG_HOME resumes the cluster; after a SIGKILL the running pods
// are adopted (same names, uids and PIDs), never duplicated.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { eventually, tempDir, tug } from './harness.js';
import { httpGet, killPodsOf, podPids, startUp, upEnv, type UpProcess } from './up-support.js';

const PORTS = '21500-21599';

interface PodSummary {
  name: string;
  uid: string;
  ready: boolean;
  deleting: boolean;
}

describe('tug up', { concurrency: false, timeout: 300_000 }, () => {
  const cleanups: (() => unknown)[] = [];
  const scope = { after: (fn: () => unknown) => cleanups.push(fn) };
  const home = tempDir(scope, 'tug-up-');
  scope.after(() => killPodsOf(home));
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  let up: UpProcess;

  async function echoPods(): Promise<PodSummary[]> {
    const r = await tug(upEnv(home), ['get', 'pods', '-l', 'app=echo', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).items.map((p: any) => ({
      name: p.metadata.name,
      uid: p.metadata.uid,
      ready: !!p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'),
      deleting: !!p.metadata.deletionTimestamp,
    }));
  }

  /** Each printed curl line works: the pod at that port answers with its own name. */
  async function assertEchoAnswers(u: UpProcess): Promise<Map<string, number>> {
    const ports = u.echoPorts();
    assert.equal(ports.size, 3, `three curl lines printed:\n${u.output()}`);
    for (const [pod, port] of ports) assert.equal(await httpGet(port), `${pod}\n`);
    return ports;
  }

  it('brings up control, a Ready node and the echo Deployment, and says what to try next', async () => {
    up = await startUp(scope, home, PORTS);
    const out = up.output();
    assert.match(out, /tug up: starting node \S+ \(runtime process; network hostport as asked: pods share the node network on ports 21500-21599\)/);
    assert.match(out, /tug node: \S+ \(127\.0\.0\.1\) is Ready/);
    assert.match(out, /^deployment\.apps\/echo created$/m);
    assert.match(out, /^tug up: Waiting for deployment "echo" rollout to finish: /m, 'progress while the pods start');
    assert.match(out, /^tug up: deployment echo is available$/m);
    assert.ok(out.includes(`export KUBECONFIG=${home}/kubeconfig`), out);
    for (const hint of ['tug scale deploy/echo --replicas=5', 'tug rollout restart deploy/echo', 'tug rollout undo deploy/echo', 'tug describe deploy echo']) assert.ok(out.includes(hint), hint);

    const pods = await echoPods();
    assert.equal(pods.length, 3);
    assert.ok(pods.every((p) => p.ready && !p.deleting));
    const ports = await assertEchoAnswers(up);
    assert.deepEqual([...ports.keys()].sort(), pods.map((p) => p.name).sort());
    assert.equal(await httpGet([...ports.values()][0], '/healthz'), 'ok\n');
  });

  it('Ctrl-C stops everything it started: the pods, their ports and the API', async () => {
    const ports = up.echoPorts();
    const api = /serving the Kubernetes API at https:\/\/127\.0\.0\.1:(\d+)/.exec(up.output())![1];
    assert.ok(podPids(home).length >= 3, 'the pods run as processes');
    assert.equal(await up.stop('SIGINT'), 0, up.output());
    assert.match(up.output(), /tug up: SIGINT received, shutting down\n(.*\n)*tug up: stopped/);
    assert.deepEqual(podPids(home), [], 'no pod process is left');
    for (const port of [...ports.values(), Number(api)]) {
      await assert.rejects(httpGet(port), /ECONNREFUSED/, `nothing listens on ${port}`);
    }
  });

  it('a second tug up on the same $TUG_HOME resumes the same cluster', async () => {
    // The API is down: compare the resumed cluster's pods with the first run's curl lines.
    const before = [...up.echoPorts().keys()].sort();
    up = await startUp(scope, home, PORTS);
    assert.match(up.output(), /^deployment\.apps\/echo exists \(left as it is\)$/m);
    const pods = await echoPods();
    assert.deepEqual(pods.map((p) => p.name).sort(), before, 'the same pods, started again');
    // The node does not mark drained pods not-ready when it stops, so the Deployment can look
    // available a moment before the restarted pods listen: allow them that moment.
    await eventually(() => assertEchoAnswers(up).then(() => true), 50);
  });

  it('after SIGKILL, tug up adopts the running pods: same names, uids and PIDs, none duplicated', async () => {
    const pods = await echoPods();
    const pids = podPids(home);
    assert.equal(pids.length, 6, `a shim and a server per pod: ${pids}`);
    await up.stop('SIGKILL');
    assert.deepEqual(podPids(home), pids, 'the pods outlive a SIGKILLed tug up');

    up = await startUp(scope, home, PORTS);
    await assertEchoAnswers(up);
    const again = await echoPods();
    assert.deepEqual(again.map((p) => `${p.name}/${p.uid}`).sort(), pods.map((p) => `${p.name}/${p.uid}`).sort());
    assert.deepEqual(podPids(home), pids, 'adopted, not restarted');
    // Still exactly three a while later: nothing recreates or duplicates them.
    await eventually(async () => ((await echoPods()).every((p) => p.ready) ? true : undefined));
    assert.equal((await echoPods()).length, 3);
    assert.deepEqual(podPids(home), pids);

    assert.equal(await up.stop('SIGINT'), 0, up.output());
    assert.deepEqual(podPids(home), []);
  });
});
