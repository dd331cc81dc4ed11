// Node failure end to end: a control node and two `tug node` processes running a Deployment.
// A brief pause of one node (SIGSTOP, SIGCONT) must not make it NotReady; a node killed with
// SIGKILL turns NotReady and its pods are replaced on the other node within 30 s; started again,
// it becomes Ready and removes the containers of the pods that were deleted meanwhile.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { NodeCluster, pidsWith, webPod } from './node-support.js';
import { needs } from '../requirements.js';

// The defaults of `tug control`: the test proves what a user gets without tuning.
const GRACE_S = 10;
const REPLICAS = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How many process groups (one per running container) have `marker` in a command line. */
function processGroups(marker: string): number {
  const groups = new Set<string>();
  for (const pid of pidsWith(marker)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      groups.add(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    } catch {
      // exited meanwhile
    }
  }
  return groups.size;
}

describe('two nodes: a brief pause, a node lost and back', { ...(await needs('kubectl')), concurrency: false }, () => {
  const cluster = new NodeCluster();
  let marker = '';

  before(async () => {
    await cluster.start();
    await cluster.startNode({ name: 'a', portRange: '21700-21799' });
    await cluster.startNode({ name: 'b', portRange: '21800-21899' });
    marker = cluster.marker('failover');
  });

  after(async () => {
    await cluster.kubectl?.(['delete', 'deployment', 'web', '--wait=false']).catch(() => undefined);
    await cluster.cleanup();
  });

  async function readyStatus(node: string): Promise<string> {
    const r = await cluster.kubectl(['get', 'node', node, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  }

  async function nodeEvents(node: string): Promise<string[]> {
    return (await cluster.eventsFor(node)).map((e) => e.reason);
  }

  interface PodView {
    name: string;
    node: string;
    ready: boolean;
    phase: string;
    terminating: boolean;
  }

  async function webPods(): Promise<PodView[]> {
    const r = await cluster.kubectl(['get', 'pods', '-l', 'app=web', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).items.map((p: any) => ({
      name: p.metadata.name,
      node: p.spec.nodeName,
      ready: p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') ?? false,
      phase: p.status?.phase,
      terminating: !!p.metadata.deletionTimestamp,
    }));
  }

  it('a pause shorter than the grace period does not make the node NotReady', async () => {
    await cluster.waitFor('both nodes Ready', async () => ((await readyStatus('a')) === 'True' && (await readyStatus('b')) === 'True' ? true : undefined));
    const b = cluster.nodes.get('b')!;
    b.child.kill('SIGSTOP');
    try {
      await sleep(3_000);
    } finally {
      b.child.kill('SIGCONT');
    }
    // Watch through the rest of the grace period and a little past it.
    const seen = new Set<string>();
    for (let i = 0; i < (GRACE_S + 2) * 4; i++) {
      seen.add(await readyStatus('b'));
      await sleep(250);
    }
    assert.deepEqual([...seen], ['True'], 'node b stayed Ready');
    assert.ok(!(await nodeEvents('b')).includes('NodeNotReady'), 'no NodeNotReady event for node b');
  });

  let placed: PodView[] = [];

  it('a pause longer than the grace period: NotReady and its pods not ready; back: Ready, pods ready again, none evicted', async () => {
    const template = webPod('web', { marker, node: '', flag: cluster.flag(marker), readiness: '/' });
    delete (template.spec as { nodeName?: string }).nodeName;
    await cluster.apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: { replicas: REPLICAS, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: template.spec } },
    });
    placed = await cluster.waitFor(`${REPLICAS} pods ready`, async () => {
      const pods = await webPods();
      return pods.length === REPLICAS && pods.every((p) => p.ready && !p.terminating) ? pods : undefined;
    }, 300);
    const onB = placed.filter((p) => p.node === 'b').map((p) => p.name);
    assert.ok(onB.length > 0, `the scheduler spreads the replicas over both nodes: ${JSON.stringify(placed)}`);

    const b = cluster.nodes.get('b')!;
    b.child.kill('SIGSTOP');
    try {
      await cluster.waitFor('node b NotReady, its pods not ready', async () => {
        if ((await readyStatus('b')) !== 'Unknown') return undefined;
        const pods = await webPods();
        return pods.filter((p) => onB.includes(p.name)).every((p) => !p.ready) ? true : undefined;
      }, 300);
    } finally {
      b.child.kill('SIGCONT');
    }
    // The node controller wrote Ready=False on the pods while node b was away; node b puts the real status back.
    await cluster.waitFor('node b Ready, all pods ready again', async () => {
      if ((await readyStatus('b')) !== 'True') return undefined;
      const pods = await webPods();
      return pods.length === REPLICAS && pods.every((p) => p.ready && !p.terminating) ? pods : undefined;
    }, 300);
    const names = (await webPods()).map((p) => p.name).sort();
    assert.deepEqual(names, placed.map((p) => p.name).sort(), 'nothing was evicted');
  });

  it('a node killed with SIGKILL: NotReady, and its pods run on the other node within 30 s', async (t) => {
    const onB = placed.filter((p) => p.node === 'b').map((p) => p.name);
    assert.ok(onB.length > 0, `the scheduler spreads the replicas over both nodes: ${JSON.stringify(placed)}`);

    const killedAt = Date.now();
    await cluster.nodes.get('b')!.stop('SIGKILL');

    // NotReady first (after the grace period), with the unreachable taints and the pods not ready.
    await cluster.waitFor('node b NotReady', async () => {
      const r = await cluster.kubectl(['get', 'nodes', '--no-headers']);
      return /^b\s+NotReady\b/m.test(r.stdout) ? true : undefined;
    }, 300);
    const notReadyAfter = Date.now() - killedAt;
    assert.ok(notReadyAfter >= (GRACE_S - 2) * 1000, `not NotReady before the grace period (${notReadyAfter} ms)`);
    const taints = await cluster.kubectl(['get', 'node', 'b', '-o', 'jsonpath={range .spec.taints[*]}{.key}:{.effect} {end}']);
    assert.deepEqual(taints.stdout.trim().split(' ').sort(), ['node.kubernetes.io/unreachable:NoExecute', 'node.kubernetes.io/unreachable:NoSchedule']);
    assert.ok((await nodeEvents('b')).includes('NodeNotReady'));

    // Then evicted and replaced on node a.
    const moved = await cluster.waitFor('all replicas ready on node a', async () => {
      const pods = await webPods();
      return pods.length === REPLICAS && pods.every((p) => p.node === 'a' && p.ready && p.phase === 'Running' && !p.terminating) ? pods : undefined;
    }, 400);
    const elapsed = Date.now() - killedAt;
    t.diagnostic(`NotReady after ${notReadyAfter} ms, all replicas ready on node a after ${elapsed} ms`);
    assert.ok(elapsed < 30_000, `replaced within 30 s of the kill (took ${elapsed} ms)`);
    assert.equal(new Set(moved.map((p) => p.name)).size, REPLICAS);
    for (const name of onB) assert.ok(!moved.some((p) => p.name === name), `${name} was replaced`);
    const evicted = await cluster.eventsFor(onB[0]);
    assert.ok(evicted.some((e) => e.reason === 'TaintManagerEviction' && e.message.includes(onB[0])), JSON.stringify(evicted));
  });

  it('the killed node started again: Ready, untainted, and its stale containers are gone', async () => {
    await cluster.startNode({ name: 'b', portRange: '21800-21899' });
    await cluster.waitFor('node b Ready again', async () => {
      const r = await cluster.kubectl(['get', 'nodes', '--no-headers']);
      return /^b\s+Ready\b/m.test(r.stdout) ? true : undefined;
    }, 300);
    await cluster.waitFor('unreachable taints removed', async () => {
      const r = await cluster.kubectl(['get', 'node', 'b', '-o', 'jsonpath={.spec.taints}']);
      return r.code === 0 && !r.stdout.includes('unreachable') ? true : undefined;
    });
    // The old pods' processes on node b are stopped: one process group per desired replica is left.
    await cluster.waitFor(`${REPLICAS} pods' processes`, async () => (processGroups(marker) === REPLICAS ? true : undefined), 300);
    const pods = await webPods();
    assert.equal(pods.length, REPLICAS, JSON.stringify(pods));
    assert.ok(pods.every((p) => p.ready && !p.terminating), JSON.stringify(pods));
    assert.ok((await nodeEvents('b')).includes('NodeReady'));
  });
});
