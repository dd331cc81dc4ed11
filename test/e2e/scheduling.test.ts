// Scheduling end to end: a `tug control` (scheduler and controllers) with two `tug node`
// processes and the real kubectl. spread puts a 4-replica Deployment 2/2, binpack on one node; a pod
// asking 1000 CPUs stays Pending and `kubectl describe` says why; cordon keeps new pods off a
// node; drain evicts a Deployment's pods and they come back on the other node.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NodeCluster, webDeployment } from './node-support.js';
import { needs } from '../requirements.js';

/** A cluster whose control runs `--scheduler-strategy <strategy>`, with two nodes. */
async function startCluster(cluster: NodeCluster, strategy: 'spread' | 'binpack', ports: [string, string]): Promise<void> {
  await cluster.start(['--scheduler-strategy', strategy]);
  await cluster.startNode({ name: 'n1', portRange: ports[0] });
  await cluster.startNode({ name: 'n2', portRange: ports[1] });
}

/** A Deployment of small web pods carrying the cluster's marker, each asking 100m CPU. */
function deployment(cluster: NodeCluster, name: string, replicas: number) {
  const marker = cluster.marker(name);
  return webDeployment(name, replicas, { marker, flag: cluster.flag(marker), grace: 2, cpu: '100m' });
}

interface PodView {
  name: string;
  node?: string;
  phase?: string;
  terminating: boolean;
}

async function podsOf(cluster: NodeCluster, app: string): Promise<PodView[]> {
  const r = await cluster.kubectl(['get', 'pods', '-l', `app=${app}`, '-o', 'json']);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout).items.map((p: any) => ({ name: p.metadata.name, node: p.spec.nodeName, phase: p.status?.phase, terminating: !!p.metadata.deletionTimestamp }));
}

/** Waits until `app` has exactly `n` live pods, all bound and Running; returns their nodes, sorted. */
async function runningOn(cluster: NodeCluster, app: string, n: number): Promise<string[]> {
  return cluster.waitFor(`${n} ${app} pods running`, async () => {
    const pods = await podsOf(cluster, app);
    const live = pods.filter((p) => !p.terminating);
    if (pods.length !== n || live.length !== n || !live.every((p) => p.node && p.phase === 'Running')) return undefined;
    return live.map((p) => p.node!).sort();
  }, 300);
}

/** Deletes the Deployments (so nothing recreates pods), then the fixture's own cleanup. */
async function teardown(cluster: NodeCluster): Promise<void> {
  if (cluster.kubectl) await cluster.kubectl(['delete', 'deployments', '--all', '--wait=false']).catch(() => undefined);
  await cluster.cleanup();
}

describe('scheduling with --scheduler-strategy spread', { ...(await needs('kubectl')), concurrency: false }, () => {
  const cluster = new NodeCluster();

  before(async () => {
    await startCluster(cluster, 'spread', ['24700-24749', '24750-24799']);
  });

  after(() => teardown(cluster));

  it('spreads a 4-replica Deployment 2/2 over the two nodes', async (t) => {
    await cluster.apply(deployment(cluster, 'web', 4));
    assert.deepEqual(await runningOn(cluster, 'web', 4), ['n1', 'n1', 'n2', 'n2']);
    const events = await cluster.eventsFor((await podsOf(cluster, 'web'))[0].name);
    const scheduled = events.find((e) => e.reason === 'Scheduled');
    assert.match(scheduled?.message ?? '', /^Successfully assigned default\/web-[a-z0-9]+-[a-z0-9]+ to n[12]$/);
  });

  it('keeps a pod asking 1000 CPUs Pending, and kubectl describe says why', async (t) => {
    const huge = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'huge' },
      spec: { containers: [{ name: 'main', image: 'local/sleep:1', command: [process.execPath, '-e', '0', cluster.marker('huge')], resources: { requests: { cpu: '1000' } } }] },
    };
    await cluster.apply(huge);
    const message = '0/2 nodes are available: 2 Insufficient cpu.';
    const described = await cluster.waitFor('FailedScheduling in describe', async () => {
      const r = await cluster.kubectl(['describe', 'pod', 'huge']);
      return r.code === 0 && r.stdout.includes('FailedScheduling') ? r.stdout : undefined;
    });
    assert.match(described, /Warning\s+FailedScheduling\s+.*default-scheduler\s+0\/2 nodes are available: 2 Insufficient cpu\./);
    assert.match(described, /PodScheduled\s+False/);
    const pod = await cluster.podJson('huge');
    assert.equal(pod.status.phase, 'Pending');
    assert.equal(pod.spec.nodeName, undefined);
    const cond = pod.status.conditions.find((c: any) => c.type === 'PodScheduled');
    assert.deepEqual([cond.status, cond.reason, cond.message], ['False', 'Unschedulable', message]);
    const r = await cluster.kubectl(['delete', 'pod', 'huge']);
    assert.equal(r.code, 0, r.stderr);
  });

  it('keeps new pods off a cordoned node', async (t) => {
    let r = await cluster.kubectl(['cordon', 'n2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /node\/n2 cordoned/);
    await cluster.apply(deployment(cluster, 'cordoned', 3));
    assert.deepEqual(await runningOn(cluster, 'cordoned', 3), ['n1', 'n1', 'n1']);
    r = await cluster.kubectl(['get', 'node', 'n2']);
    assert.match(r.stdout, /SchedulingDisabled/);
    r = await cluster.kubectl(['uncordon', 'n2']);
    assert.equal(r.code, 0, r.stderr);
    r = await cluster.kubectl(['delete', 'deployment', 'cordoned']);
    assert.equal(r.code, 0, r.stderr);
    await cluster.waitFor('cordoned pods gone', async () => ((await podsOf(cluster, 'cordoned')).length === 0 ? true : undefined), 300);
  });

  it('drain evicts the Deployment pods from a node and they come back on the other one', async (t) => {
    const r = await cluster.kubectl(['drain', 'n1', '--ignore-daemonsets', '--delete-emptydir-data', '--force']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /node\/n1 cordoned/);
    assert.match(r.stdout + r.stderr, /evicting pod default\/web-/);
    assert.match(r.stdout, /node\/n1 drained/);
    assert.deepEqual(await runningOn(cluster, 'web', 4), ['n2', 'n2', 'n2', 'n2']);
    const node = await cluster.kubectl(['get', 'node', 'n1', '-o', 'jsonpath={.spec.unschedulable}']);
    assert.equal(node.stdout, 'true');
  });

  it('drain --disable-eviction deletes the pods instead (protobuf DeleteOptions) and they move back', async (t) => {
    assert.equal((await cluster.kubectl(['uncordon', 'n1'])).code, 0);
    const r = await cluster.kubectl(['drain', 'n2', '--ignore-daemonsets', '--force', '--disable-eviction']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /node\/n2 drained/);
    assert.deepEqual(await runningOn(cluster, 'web', 4), ['n1', 'n1', 'n1', 'n1']);
  });
});

describe('scheduling with --scheduler-strategy binpack', { ...(await needs('kubectl')), concurrency: false }, () => {
  const cluster = new NodeCluster();

  before(async () => {
    await startCluster(cluster, 'binpack', ['24800-24849', '24850-24899']);
  });

  after(() => teardown(cluster));

  it('puts all 4 replicas on one node while they fit', async (t) => {
    await cluster.apply(deployment(cluster, 'packed', 4));
    const nodes = await runningOn(cluster, 'packed', 4);
    assert.equal(new Set(nodes).size, 1, `all on one node: ${nodes.join(', ')}`);
  });
});
