// The scheduler loop against a real in-process API server (memory store, no other controllers):
// binding, the unschedulable condition and event, retries when nodes change, cordons, and a pod
// someone else binds first.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry as MetricsRegistry } from 'prom-client';
import { ApiClient } from '../../api/client.js';
import { resourceOfKind } from '../../api/resources.js';
import type { Event, Node, Pod } from '../../api/types.js';
import { startControllers, type RunningControllers } from '../controllers/manager.js';
import { startControl, type RunningControl } from '../control.js';
import { schedulerController } from './loop.js';
import { eventually } from '../../test/e2e/harness.js';

const POD = resourceOfKind('Pod');
const NODE = resourceOfKind('Node');
const EVENT = resourceOfKind('Event');

/** Polls until `check` returns a value; bounded by attempts, not by the clock. */
function until<T>(what: string, check: () => Promise<T | undefined>, attempts = 200): Promise<T> {
  return eventually(check, attempts, 25).catch((e: Error) => Promise.reject(new Error(`${what}: ${e.message}`)));
}

function nodeObject(name: string, cpu = '2'): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    spec: {},
    status: { allocatable: { cpu, memory: '4Gi', pods: '110' }, conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

function podObject(name: string, cpu: string, extra: Partial<Pod['spec']> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { containers: [{ name: 'c', image: 'x', resources: { requests: { cpu } } }], ...extra },
  };
}

describe('scheduler loop', () => {
  let dir: string;
  let control: RunningControl;
  let client: ApiClient;
  let scheduler: RunningControllers;
  const metrics = new MetricsRegistry();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tug-sched-'));
    control = await startControl({ listen: '127.0.0.1:0', dataDir: dir, store: 'memory', controllers: false });
    const conn = { server: control.url, caCert: control.caCert, token: control.token };
    client = new ApiClient(conn);
    await client.create(NODE, undefined, nodeObject('n1'));
    scheduler = await startControllers(conn, metrics, [schedulerController({ strategy: 'spread', retryUnschedulableMs: 60_000 })], () => undefined);
  });

  after(async () => {
    await scheduler?.stop();
    client?.close();
    await control?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const nodeOf = (name: string) => until(`${name} bound`, async () => (await client.get<Pod>(POD, 'default', name)).spec.nodeName || undefined);
  /** Deletes at once (there is no node agent here to finish a graceful deletion). */
  const remove = (name: string) => client.request('DELETE', client.pathFor(POD, 'default', name), { body: { gracePeriodSeconds: 0 } });
  const eventsOf = async (name: string) => (await client.list<Event>(EVENT, 'default', { fieldSelector: `involvedObject.name=${name}` })).items;

  it('binds a pod and records Scheduled', async () => {
    await client.create(POD, 'default', podObject('a', '500m'));
    assert.equal(await nodeOf('a'), 'n1');
    const ev = await until('Scheduled event', async () => (await eventsOf('a')).find((e) => e.reason === 'Scheduled'));
    assert.equal(ev.message, 'Successfully assigned default/a to n1');
    assert.equal(ev.source?.component, 'default-scheduler');
    const text = await metrics.metrics();
    assert.match(text, /tug_controller_reconcile_total\{controller="scheduler",result="scheduled"\} [1-9]/);
    assert.match(text, /tug_scheduler_schedule_duration_seconds_count\{result="scheduled"\} [1-9]/);
  });

  it('leaves pods for other schedulers and pods already bound alone', async () => {
    await client.create(POD, 'default', podObject('other', '1m', { schedulerName: 'my-scheduler' }));
    await client.create(POD, 'default', podObject('pinned', '1m', { nodeName: 'elsewhere' }));
    await client.create(POD, 'default', podObject('marker', '1m'));
    await nodeOf('marker'); // pods are taken one at a time in order: the others were looked at
    assert.equal((await client.get<Pod>(POD, 'default', 'other')).spec.nodeName, undefined);
    assert.equal((await client.get<Pod>(POD, 'default', 'pinned')).spec.nodeName, 'elsewhere');
    await remove('other');
    await remove('pinned');
  });

  it('marks a pod that fits nowhere, then binds it when a node that fits appears', async () => {
    await client.create(POD, 'default', podObject('big', '3'));
    const cond = await until('PodScheduled=False', async () => (await client.get<Pod>(POD, 'default', 'big')).status?.conditions?.find((c) => c.type === 'PodScheduled'));
    assert.deepEqual([cond.status, cond.reason, cond.message], ['False', 'Unschedulable', '0/1 nodes are available: 1 Insufficient cpu.']);
    const ev = await until('FailedScheduling event', async () => (await eventsOf('big')).find((e) => e.reason === 'FailedScheduling'));
    assert.equal(ev.type, 'Warning');
    assert.equal(ev.message, '0/1 nodes are available: 1 Insufficient cpu.');
    await client.create(NODE, undefined, nodeObject('n2', '4'));
    assert.equal(await nodeOf('big'), 'n2');
    await remove('big');
  });

  it('retries a waiting pod when a pod finishes and frees its node', async () => {
    // n1 holds a (500m) and marker (1m) of 2 CPUs; n2 (4 CPUs) is empty again.
    await client.create(POD, 'default', podObject('hog', '3500m'));
    assert.equal(await nodeOf('hog'), 'n2');
    await client.create(POD, 'default', podObject('late', '1600m'));
    await until('late unschedulable', async () => (await client.get<Pod>(POD, 'default', 'late')).status?.conditions?.find((c) => c.reason === 'Unschedulable'));
    const hog = await client.get<Pod>(POD, 'default', 'hog');
    await client.update(POD, { ...hog, status: { ...hog.status, phase: 'Succeeded' } }, 'status');
    assert.equal(await nodeOf('late'), 'n2');
    await remove('hog');
    await remove('late');
  });

  it('keeps new pods off a cordoned node and uses it again once uncordoned', async () => {
    await client.patch(NODE, undefined, 'n2', { spec: { unschedulable: true } });
    await client.create(POD, 'default', podObject('c1', '100m'));
    assert.equal(await nodeOf('c1'), 'n1');
    await client.patch(NODE, undefined, 'n1', { spec: { unschedulable: true } });
    await client.create(POD, 'default', podObject('c2', '100m'));
    const cond = await until('c2 unschedulable', async () => (await client.get<Pod>(POD, 'default', 'c2')).status?.conditions?.find((c) => c.reason === 'Unschedulable'));
    assert.equal(cond.message, '0/2 nodes are available: 2 node(s) were unschedulable.');
    await client.patch(NODE, undefined, 'n2', { spec: { unschedulable: false } });
    assert.equal(await nodeOf('c2'), 'n2');
    await client.patch(NODE, undefined, 'n1', { spec: { unschedulable: false } });
  });

  it('assumes each decision, so a burst of pods does not overbook a node', async () => {
    // n1 has 2 CPUs with about 600m requested; n2 4 CPUs with 100m. Twenty 250m pods fit 5 + 15.
    await Promise.all(Array.from({ length: 20 }, (_, i) => client.create(POD, 'default', podObject(`burst-${i}`, '250m'))));
    const nodes = await Promise.all(Array.from({ length: 20 }, (_, i) => nodeOf(`burst-${i}`)));
    const count = (n: string) => nodes.filter((x) => x === n).length;
    assert.ok(count('n1') <= 5, `n1 got ${count('n1')} pods`);
    assert.equal(count('n1') + count('n2'), 20);
    await client.create(POD, 'default', podObject('one-too-many', '250m'));
    const cond = await until('one-too-many unschedulable', async () => (await client.get<Pod>(POD, 'default', 'one-too-many')).status?.conditions?.find((c) => c.reason === 'Unschedulable'));
    assert.equal(cond.message, '0/2 nodes are available: 2 Insufficient cpu.');
  });
});
