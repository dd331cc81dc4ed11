// Garbage collection end to end with the real kubectl: `kubectl delete --cascade=foreground|
// background|orphan` on Deployments (through their ReplicaSets to the pods a real node runs),
// finalizers, and dependents whose owners are gone.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { NodeCluster, webPod } from './node-support.js';
import { needs } from '../requirements.js';

describe('garbage collection with kubectl', { ...(await needs('kubectl')), concurrency: false }, () => {
  const cluster = new NodeCluster();

  before(async () => {
    await cluster.start();
    await cluster.startNode({ name: 'gc1', portRange: '21600-21699' });
  });

  after(() => cluster.cleanup());

  async function kubectlOk(args: string[], input?: string): Promise<string> {
    const r = await cluster.kubectl(args, input);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  async function json(args: string[]): Promise<any> {
    return JSON.parse(await kubectlOk([...args, '-o', 'json']));
  }

  /** A Deployment of `replicas` web pods; `lingering` pods ignore SIGTERM, so they take their grace period to go. */
  async function deployment(name: string, replicas: number, lingering = false): Promise<void> {
    const marker = cluster.marker(name);
    const pod = webPod(name, { marker, node: '', flag: cluster.flag(marker), grace: 3 });
    delete (pod.spec as { nodeName?: string }).nodeName;
    if (lingering) {
      const c = pod.spec.containers[0];
      c.command = [c.command[0], '-e', `process.on('SIGTERM', () => console.log('ignoring SIGTERM')); ${c.command[2]}`, marker];
    }
    await cluster.apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name },
      spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: pod.spec } },
    });
    await cluster.waitFor(`${name}: ${replicas} pods running`, async () => {
      const pods = (await json(['get', 'pods', '-l', `app=${name}`])).items;
      return pods.length === replicas && pods.every((p: any) => p.status?.phase === 'Running') ? true : undefined;
    }, 300);
  }

  const names = async (kind: string, selector: string) => (await json(['get', kind, '-l', selector])).items.map((o: any) => o.metadata.name);

  it('--cascade=foreground: the Deployment waits with a finalizer until its ReplicaSet and pods are gone', async () => {
    await deployment('fg', 2, true);
    const rs = await names('rs', 'app=fg');
    assert.equal(rs.length, 1);
    await kubectlOk(['delete', 'deployment', 'fg', '--cascade=foreground', '--wait=false']);
    // The pods ignore SIGTERM and take their 3 s grace period: meanwhile the owners wait.
    const waiting = await json(['get', 'deployment', 'fg']);
    assert.ok(waiting.metadata.deletionTimestamp, 'the Deployment is being deleted');
    assert.deepEqual(waiting.metadata.finalizers, ['foregroundDeletion']);
    const rsWaiting = await json(['get', 'rs', rs[0]]);
    assert.deepEqual(rsWaiting.metadata.finalizers, ['foregroundDeletion']);
    // kubectl waits for the Deployment to go; by then nothing it owned is left.
    await kubectlOk(['wait', '--for=delete', 'deployment/fg', '--timeout=60s']);
    assert.deepEqual(await names('rs', 'app=fg'), []);
    assert.deepEqual(await names('pods', 'app=fg'), []);
  });

  it('--cascade=background (the default): the Deployment goes at once, its ReplicaSet and pods after it', async () => {
    await deployment('bg', 2);
    await kubectlOk(['delete', 'deployment', 'bg', '--cascade=background', '--wait=false']);
    const r = await cluster.kubectl(['get', 'deployment', 'bg']);
    assert.notEqual(r.code, 0, 'the Deployment is gone at once');
    await cluster.waitFor('bg ReplicaSet and pods gone', async () => ((await names('rs', 'app=bg')).length + (await names('pods', 'app=bg')).length === 0 ? true : undefined), 300);
  });

  it('--cascade=orphan: the ReplicaSet and pods stay, without their ownerReference', async () => {
    await deployment('or', 1);
    await kubectlOk(['delete', 'deployment', 'or', '--cascade=orphan']);
    const rs = (await json(['get', 'rs', '-l', 'app=or'])).items;
    assert.equal(rs.length, 1);
    assert.equal(rs[0].metadata.ownerReferences, undefined);
    const pods = (await json(['get', 'pods', '-l', 'app=or'])).items;
    assert.equal(pods.length, 1);
    assert.ok(!pods[0].metadata.deletionTimestamp);
    // The ReplicaSet still owns its pods: deleting it now takes them along.
    await kubectlOk(['delete', 'rs', rs[0].metadata.name, '--wait=false']);
    await cluster.waitFor('or pods gone', async () => ((await names('pods', 'app=or')).length === 0 ? true : undefined), 300);
  });

  it('an object with a finalizer stays Terminating until the finalizer is removed', async () => {
    await kubectlOk(['create', 'configmap', 'held']);
    await kubectlOk(['patch', 'configmap', 'held', '--type=merge', '-p', '{"metadata":{"finalizers":["example.com/hold"]}}']);
    await kubectlOk(['delete', 'configmap', 'held', '--wait=false']);
    const held = await json(['get', 'configmap', 'held']);
    assert.ok(held.metadata.deletionTimestamp);
    await kubectlOk(['patch', 'configmap', 'held', '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]']);
    const r = await cluster.kubectl(['get', 'configmap', 'held']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /NotFound/);
  });

  it('the garbage collector deletes objects whose owners are all gone and drops references to missing owners', async () => {
    const owner = JSON.parse(await kubectlOk(['create', 'configmap', 'gc-owner', '-o', 'json']));
    const ref = (name: string, uid: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', name, uid });
    const configMap = (name: string, refs: unknown[]) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { gc: 'test' }, ownerReferences: refs } });
    // Owners that never existed (as after a crash in the middle of a cascade).
    await cluster.apply(configMap('gc-dangling', [ref('gc-ghost', randomUUID())]));
    await cluster.apply(configMap('gc-half', [ref('gc-ghost', randomUUID()), ref('gc-owner', owner.metadata.uid)]));
    await cluster.apply(configMap('gc-kept', [ref('gc-owner', owner.metadata.uid)]));
    await cluster.waitFor('dangling dependent deleted', async () => ((await names('configmaps', 'gc=test')).includes('gc-dangling') ? undefined : true), 300);
    await cluster.waitFor('missing owner reference dropped', async () => {
      const half = await json(['get', 'configmap', 'gc-half']);
      return half.metadata.ownerReferences?.length === 1 ? half.metadata.ownerReferences[0] : undefined;
    });
    assert.deepEqual(await names('configmaps', 'gc=test'), ['gc-half', 'gc-kept']);
    // Foreground deletion of an owner whose dependents can go at once: all gone when kubectl returns.
    await kubectlOk(['delete', 'configmap', 'gc-owner', '--cascade=foreground']);
    assert.deepEqual(await names('configmaps', 'gc=test'), []);
  });
});
