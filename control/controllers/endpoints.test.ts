// The Endpoints controller: its pure core (which pods are endpoints, per-pod port resolution in
// the hostport mode, subset and slice packing, no-op detection) and its loop against a real
// in-process API server (memory store, no other controllers).
import type { EndpointSlice } from '../../api/types.js';
import { allocatedPort } from '../../api/ports.js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry as MetricsRegistry } from 'prom-client';
import { ApiClient } from '../../api/client.js';
import { isApiError } from '../../api/errors.js';
import { PORTS_ANNOTATION } from '../../api/ports.js';
import { resourceOfKind } from '../../api/resources.js';
import type { Endpoints, Event, Pod, Service } from '../../api/types.js';
import { eventually } from '../../test/e2e/harness.js';
import { startControl, type RunningControl } from '../control.js';
import { endpointsController } from './endpoints-controller.js';
import { ENDPOINTS_TRIGGER_TIME_ANNOTATION as TRIGGER_TIME } from '../../api/annotations.js';
import {
  endpointFingerprint,
  endpointsFor,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  MAX_ENDPOINTS_PER_SLICE,
  sameEndpoints,
  SERVICE_NAME_LABEL,
  sliceChanges,
} from './endpoints.js';
import { startControllers, type RunningControllers } from './manager.js';

interface PodOptions {
  ready?: boolean;
  /** Node port per containerPort, as the node publishes them. */
  hostPorts?: Record<number, number>;
  ip?: string;
  node?: string;
  terminating?: boolean;
  phase?: string;
  labels?: Record<string, string>;
  ports?: { name?: string; containerPort: number; protocol?: string; hostPort?: number }[];
}

function pod(name: string, o: PodOptions = {}): Pod {
  const ports = o.ports ?? [{ name: 'http', containerPort: 8080 }];
  const hostPorts = o.hostPorts ?? { 8080: 20000 + Number(/\d+/.exec(name)?.[0] ?? 0) };
  const assigned = ports.filter((p) => hostPorts[p.containerPort]).map((p) => ({ container: 'web', name: p.name, containerPort: p.containerPort, hostPort: hostPorts[p.containerPort], protocol: p.protocol ?? 'TCP' }));
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      labels: o.labels ?? { app: 'web' },
      annotations: { [PORTS_ANNOTATION]: JSON.stringify(assigned) },
      ...(o.terminating ? { deletionTimestamp: '2025-01-01T00:00:00Z' } : {}),
    },
    spec: { nodeName: o.node ?? 'n1', containers: [{ name: 'web', image: 'local/echo:1', ports }] },
    status: {
      phase: o.phase ?? 'Running',
      podIP: o.ip ?? '127.0.0.1',
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
    },
  };
}

function service(spec: Partial<Service['spec']> = {}, name = 'web'): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default', uid: `uid-svc-${name}`, labels: { tier: 'front' } },
    spec: { selector: { app: 'web' }, clusterIP: '127.77.0.20', ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }], ...spec },
  };
}

const addresses = (ep: Endpoints, field: 'addresses' | 'notReadyAddresses') =>
  (ep.subsets ?? []).flatMap((s) => (s[field] ?? []).map((a) => `${a.targetRef?.name}@${a.ip}:${(s.ports ?? []).map((p) => p.port).join(',')}`)).sort();

describe('endpointsFor', () => {
  it('lists ready pods as addresses and the rest as notReadyAddresses, each at its own node port', () => {
    const plan = endpointsFor(service(), [pod('web-1'), pod('web-2', { ready: false }), pod('web-3')]);
    assert.deepEqual(addresses(plan.endpoints, 'addresses'), ['web-1@127.0.0.1:20001', 'web-3@127.0.0.1:20003']);
    assert.deepEqual(addresses(plan.endpoints, 'notReadyAddresses'), ['web-2@127.0.0.1:20002']);
    const first = plan.endpoints.subsets![0];
    assert.deepEqual(first.ports, [{ name: 'http', port: 20001, protocol: 'TCP' }]);
    assert.deepEqual(first.addresses![0], { ip: '127.0.0.1', nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'default', name: 'web-1', uid: 'uid-web-1' } });
    assert.equal(plan.endpoints.metadata.name, 'web');
    assert.deepEqual(plan.endpoints.metadata.labels, { tier: 'front' });
    assert.deepEqual(plan.unresolved, []);
  });

  it('leaves out pods that are not selected, not bound, without an address, or finished', () => {
    const plan = endpointsFor(service(), [
      pod('web-1'),
      pod('other-2', { labels: { app: 'other' } }),
      { ...pod('web-3'), spec: { ...pod('web-3').spec, nodeName: undefined } },
      pod('web-4', { ip: '' }),
      pod('web-5', { phase: 'Succeeded' }),
      pod('web-6', { phase: 'Failed' }),
      { ...pod('web-7'), metadata: { ...pod('web-7').metadata, namespace: 'other' } },
    ]);
    assert.deepEqual(addresses(plan.endpoints, 'addresses'), ['web-1@127.0.0.1:20001']);
    assert.deepEqual(addresses(plan.endpoints, 'notReadyAddresses'), []);
  });

  it('puts terminating pods under notReadyAddresses, and marks them terminating in slices', () => {
    const plan = endpointsFor(service(), [pod('web-1', { terminating: true }), pod('web-2', { terminating: true, ready: false })]);
    assert.deepEqual(addresses(plan.endpoints, 'addresses'), []);
    assert.deepEqual(addresses(plan.endpoints, 'notReadyAddresses'), ['web-1@127.0.0.1:20001', 'web-2@127.0.0.1:20002']);
    const conditions = plan.slices.flatMap((s) => s.endpoints.map((e) => [e.targetRef.name, e.conditions]));
    assert.deepEqual(conditions, [
      ['web-1', { ready: false, serving: true, terminating: true }],
      ['web-2', { ready: false, serving: false, terminating: true }],
    ]);
  });

  it('lists every pod as an address with publishNotReadyAddresses', () => {
    const plan = endpointsFor(service({ publishNotReadyAddresses: true }), [pod('web-1', { ready: false }), pod('web-2', { terminating: true })]);
    assert.deepEqual(addresses(plan.endpoints, 'addresses'), ['web-1@127.0.0.1:20001', 'web-2@127.0.0.1:20002']);
    assert.deepEqual(plan.slices.flatMap((s) => s.endpoints.map((e) => e.conditions.ready)), [true, true]);
  });

  it('resolves a numeric targetPort to the node port of that containerPort, and keeps an undeclared number as it is', () => {
    const two = [{ name: 'http', containerPort: 8080 }, { name: 'admin', containerPort: 9090 }];
    const p = pod('web-1', { ports: two, hostPorts: { 8080: 20001, 9090: 20002 } });
    assert.deepEqual(allocatedPort(p, 9090), { port: 20002 });
    assert.deepEqual(allocatedPort(p, '9090'), { port: 20002 });
    assert.deepEqual(allocatedPort(p, 'admin'), { port: 20002 });
    assert.deepEqual(allocatedPort(p, 7000), { port: 7000 });
    assert.deepEqual(allocatedPort(p, 'metrics'), { missing: 'metrics' });
    assert.deepEqual(allocatedPort(p, 'http', 'UDP'), { missing: 'http' }, 'the protocol must match too');
    const plan = endpointsFor(service({ ports: [{ name: 'a', port: 80, targetPort: 9090 }, { name: 'b', port: 81, targetPort: 'http' }] }), [p]);
    assert.deepEqual(plan.endpoints.subsets![0].ports, [{ name: 'a', port: 20002, protocol: 'TCP' }, { name: 'b', port: 20001, protocol: 'TCP' }]);
  });

  it('uses a declared hostPort, and waits for the node to publish an allocated port', () => {
    const fixed = pod('web-1', { ports: [{ name: 'http', containerPort: 8080, hostPort: 28080 }], hostPorts: {} });
    assert.deepEqual(allocatedPort(fixed, 'http'), { port: 28080 });
    const unpublished = pod('web-2', { hostPorts: {} });
    assert.deepEqual(allocatedPort(unpublished, 'http'), { pending: true });
    const plan = endpointsFor(service(), [fixed, unpublished]);
    assert.deepEqual(addresses(plan.endpoints, 'addresses'), ['web-1@127.0.0.1:28080']);
    assert.deepEqual(plan.unresolved, [], 'a port not yet allocated is no error');
  });

  it('packs pods with the same resolved ports into one subset and one slice, and others apart', () => {
    // A targetPort number no container declares is the same for every pod of a node.
    const svc = service({ ports: [{ port: 80, targetPort: 7000, protocol: 'TCP' }] });
    const same = endpointsFor(svc, [pod('web-1'), pod('web-2'), pod('web-3', { ready: false })]);
    assert.equal(same.endpoints.subsets!.length, 1);
    assert.deepEqual(same.endpoints.subsets![0].addresses!.map((a) => a.targetRef!.name), ['web-1', 'web-2']);
    assert.deepEqual(same.endpoints.subsets![0].notReadyAddresses!.map((a) => a.targetRef!.name), ['web-3']);
    assert.deepEqual(same.endpoints.subsets![0].ports, [{ port: 7000, protocol: 'TCP' }], 'an unnamed port has no name');
    assert.equal(same.slices.length, 1);
    assert.deepEqual(same.slices[0].ports, [{ name: '', port: 7000, protocol: 'TCP' }]);

    const apart = endpointsFor(service(), [pod('web-1'), pod('web-2'), pod('web-3')]);
    assert.equal(apart.endpoints.subsets!.length, 3);
    assert.equal(apart.slices.length, 3);
    assert.equal(new Set(apart.slices.map((s) => s.metadata.name)).size, 3);
  });

  it('builds slices with the service label, the managed-by label, an owner reference and at most 100 endpoints each', () => {
    const svc = service({ ports: [{ port: 80, targetPort: 7000, protocol: 'TCP' }] });
    const pods = Array.from({ length: 250 }, (_, i) => pod(`web-${i}`, { ip: `127.0.${Math.floor(i / 200)}.${i % 200}` }));
    const plan = endpointsFor(svc, pods);
    assert.deepEqual(plan.slices.map((s) => s.endpoints.length), [100, 100, 50]);
    assert.ok(plan.slices.every((s) => s.endpoints.length <= MAX_ENDPOINTS_PER_SLICE));
    const s = plan.slices[0];
    assert.equal(s.apiVersion, 'discovery.k8s.io/v1');
    assert.equal(s.kind, 'EndpointSlice');
    assert.equal(s.addressType, 'IPv4');
    assert.equal(s.metadata.labels![SERVICE_NAME_LABEL], 'web');
    assert.equal(s.metadata.labels![MANAGED_BY_LABEL], MANAGED_BY);
    assert.deepEqual(s.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: 'uid-svc-web', controller: true, blockOwnerDeletion: true }]);
    assert.deepEqual(s.endpoints[0], {
      addresses: ['127.0.0.0'],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: 'n1',
      targetRef: { kind: 'Pod', namespace: 'default', name: 'web-0', uid: 'uid-web-0' },
    });
    assert.equal(new Set(plan.slices.map((x) => x.metadata.name)).size, 3);
    const all = plan.slices.flatMap((x) => x.endpoints.map((e) => e.targetRef.name));
    assert.equal(new Set(all).size, 250, 'every pod once');
  });

  it('gives the same slice names for the same pods, so a change rewrites only the slice it touches', () => {
    const before = endpointsFor(service(), [pod('web-1'), pod('web-2')]);
    const afterwards = endpointsFor(service(), [pod('web-1'), pod('web-2', { ready: false }), pod('web-3')]);
    const changes = sliceChanges(afterwards.slices, before.slices);
    assert.equal(changes.create.length, 1);
    assert.deepEqual(changes.create[0].endpoints.map((e) => e.targetRef.name), ['web-3']);
    assert.equal(changes.update.length, 1);
    assert.deepEqual(changes.update[0].endpoints.map((e) => e.targetRef.name), ['web-2']);
    assert.deepEqual(changes.delete, []);
    const gone = sliceChanges(endpointsFor(service(), [pod('web-1')]).slices, before.slices);
    assert.deepEqual(gone.delete.map((s) => s.endpoints[0].targetRef.name), ['web-2']);
  });

  it('is a no-op when nothing changed, whatever the key order or server-set fields of what is stored', () => {
    const pods = [pod('web-1'), pod('web-2', { ready: false })];
    const plan = endpointsFor(service(), pods);
    const stored: Endpoints = JSON.parse(JSON.stringify({ ...plan.endpoints, metadata: { ...plan.endpoints.metadata, uid: 'x', resourceVersion: '7' } }));
    stored.subsets = stored.subsets!.map((s) => Object.fromEntries(Object.entries(s).reverse()));
    assert.ok(sameEndpoints(stored, endpointsFor(service(), pods).endpoints));
    const storedSlices = plan.slices.map((s) => ({ ...structuredClone(s), metadata: { ...s.metadata, resourceVersion: '9', creationTimestamp: 'now' } }));
    assert.deepEqual(sliceChanges(endpointsFor(service(), pods).slices, storedSlices), { create: [], update: [], delete: [] });
    assert.ok(!sameEndpoints(stored, endpointsFor(service(), [pod('web-1'), pod('web-2')]).endpoints));
    assert.ok(!sameEndpoints(undefined, plan.endpoints));
  });

  it('gives a headless service the same endpoints, a headless label, and pod hostnames for its subdomain', () => {
    const named = pod('web-1');
    named.spec.hostname = 'alpha';
    named.spec.subdomain = 'web';
    const plan = endpointsFor(service({ clusterIP: 'None' }), [named, pod('web-2')]);
    assert.deepEqual(addresses(plan.endpoints, 'addresses'), ['web-1@127.0.0.1:20001', 'web-2@127.0.0.1:20002']);
    assert.equal(plan.endpoints.metadata.labels!['service.kubernetes.io/headless'], '');
    assert.equal(plan.endpoints.subsets![0].addresses![0].hostname, 'alpha');
    assert.equal(plan.slices[0].endpoints[0].hostname, 'alpha');
    assert.equal(plan.endpoints.subsets![1].addresses![0].hostname, undefined);
    // A headless Service without ports takes every pod, with no ports.
    const portless = endpointsFor(service({ clusterIP: 'None', ports: [] }), [pod('web-1')]);
    assert.deepEqual(portless.endpoints.subsets, [{ addresses: [{ ip: '127.0.0.1', nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'default', name: 'web-1', uid: 'uid-web-1' } }] }]);
    assert.deepEqual(portless.slices[0].ports, []);
  });

  it('reports a named targetPort no container declares, and gives that pod no endpoint for it', () => {
    const svc = service({ ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'grpc', port: 90, targetPort: 'grpc' }] });
    const other = pod('web-2', { ports: [{ name: 'grpc', containerPort: 9000 }], hostPorts: { 9000: 20092 } });
    const plan = endpointsFor(svc, [pod('web-1'), other, pod('web-3', { ready: false })]);
    assert.deepEqual(plan.unresolved, [
      { servicePort: 'grpc', targetPort: 'grpc', pods: ['web-1', 'web-3'] },
      { servicePort: 'http', targetPort: 'http', pods: ['web-2'] },
    ]);
    // Each pod is an endpoint for the ports it has only.
    const bySubset = plan.endpoints.subsets!.map((s) => [s.ports!.map((p) => `${p.name}:${p.port}`).join(), [...(s.addresses ?? []), ...(s.notReadyAddresses ?? [])].map((a) => a.targetRef!.name).join()]);
    assert.deepEqual(bySubset.sort(), [['grpc:20092', 'web-2'], ['http:20001', 'web-1'], ['http:20003', 'web-3']]);

    const none = endpointsFor(service({ ports: [{ name: 'http', port: 80, targetPort: 'nope' }] }), [pod('web-1')]);
    assert.equal(none.endpoints.subsets, undefined, 'no endpoints at all');
    assert.deepEqual(none.slices, []);
    assert.deepEqual(none.unresolved, [{ servicePort: 'http', targetPort: 'nope', pods: ['web-1'] }]);
  });

  it('fingerprints only what endpoints depend on', () => {
    const a = pod('web-1');
    const b = structuredClone(a);
    b.status!.containerStatuses = [{ name: 'web', ready: true, restartCount: 3 } as never];
    assert.equal(endpointFingerprint(a), endpointFingerprint(b));
    b.status!.conditions = [{ type: 'Ready', status: 'False' }];
    assert.notEqual(endpointFingerprint(a), endpointFingerprint(b));
  });
});

const SERVICE = resourceOfKind('Service');
const POD = resourceOfKind('Pod');
const ENDPOINTS = resourceOfKind('Endpoints');
const SLICE = resourceOfKind('EndpointSlice');
const EVENT = resourceOfKind('Event');

/** Polls until `check` returns a value; bounded by attempts, not by the clock. */
function until<T>(what: string, check: () => Promise<T | undefined>, attempts = 400): Promise<T> {
  return eventually(check, attempts, 10).catch((e: Error) => Promise.reject(new Error(`${what}: ${e.message}`)));
}

describe('endpoints controller loop', () => {
  let dir: string;
  let control: RunningControl;
  let client: ApiClient;
  let controllers: RunningControllers;
  const metrics = new MetricsRegistry();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tug-endpoints-'));
    control = await startControl({ listen: '127.0.0.1:0', dataDir: dir, store: 'memory', controllers: false });
    const conn = { server: control.url, caCert: control.caCert, token: control.token };
    client = new ApiClient(conn);
    controllers = await startControllers(conn, metrics, [endpointsController()], () => undefined);
  });

  after(async () => {
    await controllers?.stop();
    client?.close();
    await control?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Creates a pod as a node would leave it: bound, ports published, status written. */
  async function runPod(name: string, o: PodOptions & { app?: string } = {}): Promise<void> {
    const p = pod(name, { ...o, labels: { app: o.app ?? 'loop' } });
    const { status } = p;
    delete p.status;
    delete p.metadata.uid;
    await client.create(POD, 'default', p);
    const created = await client.get<Pod>(POD, 'default', name);
    await client.update(POD, { ...created, status }, 'status');
  }

  async function setReady(name: string, ready: boolean): Promise<void> {
    const cur = await client.get<Pod>(POD, 'default', name);
    cur.status!.conditions = [{ type: 'Ready', status: ready ? 'True' : 'False' }];
    await client.update(POD, cur, 'status');
  }

  const endpointsOf = (name: string) => client.get<Endpoints>(ENDPOINTS, 'default', name).catch((e) => (isApiError(e) && e.code === 404 ? undefined : Promise.reject(e)));
  const slicesOf = async (name: string) => (await client.list<EndpointSlice>(SLICE, 'default', { labelSelector: `${SERVICE_NAME_LABEL}=${name}` })).items;
  const svcObject = (name: string, app: string, targetPort: string | number = 'http'): Service => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name },
    spec: { selector: { app }, ports: [{ name: 'http', port: 80, targetPort }] },
  });

  it('publishes Endpoints and slices, follows Ready changes at once, writes nothing when nothing changed, and cleans up', async (t) => {
    await runPod('loop-1');
    await runPod('loop-2', { ready: false });
    await client.create(SERVICE, 'default', svcObject('loop', 'loop'));
    const first = await until('endpoints', async () => {
      const ep = await endpointsOf('loop');
      return ep && addresses(ep, 'addresses').length === 1 && addresses(ep, 'notReadyAddresses').length === 1 ? ep : undefined;
    });
    assert.deepEqual(addresses(first, 'addresses'), ['loop-1@127.0.0.1:20001']);
    assert.deepEqual(addresses(first, 'notReadyAddresses'), ['loop-2@127.0.0.1:20002']);
    const slices = await until('slices', async () => ((await slicesOf('loop')).length === 2 ? slicesOf('loop') : undefined));
    const svc = await client.get<Service>(SERVICE, 'default', 'loop');
    assert.ok(slices.every((s) => s.metadata.ownerReferences?.[0]?.uid === svc.metadata.uid));

    const started = performance.now();
    const wallBefore = Date.now();
    await setReady('loop-2', true);
    const moved = await until('loop-2 ready', async () => {
      const ep = await endpointsOf('loop');
      return ep && addresses(ep, 'addresses').length === 2 ? ep : undefined;
    });
    const ms = performance.now() - started;
    assert.deepEqual(addresses(moved, 'notReadyAddresses'), []);
    const trigger = Date.parse(moved.metadata.annotations?.[TRIGGER_TIME] ?? '');
    assert.ok(trigger >= wallBefore, `the trigger time ${moved.metadata.annotations?.[TRIGGER_TIME]} is when the pod's change was seen`);
    const ready = (await slicesOf('loop')).flatMap((s) => s.endpoints.map((e) => e.conditions.ready));
    assert.deepEqual(ready, [true, true]);

    // A pod status change that does not touch endpoints, and a no-op Service update, write nothing.
    const rv = moved.metadata.resourceVersion;
    const sliceRvs = (await slicesOf('loop')).map((s) => s.metadata.resourceVersion).sort();
    const cur = await client.get<Pod>(POD, 'default', 'loop-1');
    cur.status!.containerStatuses = [{ name: 'web', ready: true, restartCount: 1, image: '', imageID: '' } as never];
    await client.update(POD, cur, 'status');
    await client.patch(SERVICE, 'default', 'loop', { metadata: { annotations: { touched: 'yes' } } });
    await setReady('loop-2', true);
    // Something that does change endpoints, queued after the above, shows they were all handled.
    await runPod('loop-3');
    await until('loop-3', async () => ((await endpointsOf('loop')) && addresses((await endpointsOf('loop'))!, 'addresses').length === 3 ? true : undefined));
    const slicesAfter = await slicesOf('loop');
    assert.equal(slicesAfter.length, 3);
    const unchanged = slicesAfter.filter((s) => !s.endpoints.some((e) => e.targetRef.name === 'loop-3')).map((s) => s.metadata.resourceVersion).sort();
    assert.deepEqual(unchanged, sliceRvs, 'slices of pods that did not change were not rewritten');
    assert.notEqual((await endpointsOf('loop'))!.metadata.resourceVersion, rv);
    const text = await metrics.metrics();
    assert.match(text, /tug_controller_reconcile_total\{controller="endpoints-controller",result="unchanged"\} [1-9]/);

    // Someone deleting a slice gets it back.
    const victim = slicesAfter[0].metadata.name!;
    await client.delete(SLICE, 'default', victim);
    await until('slice recreated', async () => ((await slicesOf('loop')).some((s) => s.metadata.name === victim) ? true : undefined));

    await client.delete(SERVICE, 'default', 'loop');
    await until('endpoints gone', async () => ((await endpointsOf('loop')) === undefined && (await slicesOf('loop')).length === 0 ? true : undefined));
    t.diagnostic(`pod Ready change to Endpoints seen written, in-process: ${ms.toFixed(1)} ms`);
  });

  it('leaves the Endpoints of a Service without a selector alone', async () => {
    const manual: Endpoints = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'manual' }, subsets: [{ addresses: [{ ip: '127.0.0.9' }], ports: [{ port: 9999 }] }] };
    await client.create(ENDPOINTS, 'default', manual);
    await client.create(SERVICE, 'default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'manual' }, spec: { ports: [{ port: 80 }] } });
    // A selector Service created afterwards is handled, so the manual one has been seen too.
    await runPod('after-1', { app: 'after' });
    await client.create(SERVICE, 'default', svcObject('after', 'after'));
    await until('after endpoints', async () => ((await endpointsOf('after'))?.subsets?.length ? true : undefined));
    const ep = await endpointsOf('manual');
    assert.deepEqual(ep?.subsets, manual.subsets);
    assert.deepEqual(await slicesOf('manual'), []);
  });

  it('records one Warning for pods that lack a named targetPort, and publishes no endpoints for them', async () => {
    await runPod('bad-1', { app: 'bad' });
    await client.create(SERVICE, 'default', svcObject('bad', 'bad', 'nope'));
    const events = await until('warning', async () => {
      const items = (await client.list<Event>(EVENT, 'default', { fieldSelector: 'involvedObject.name=bad' })).items.filter((e) => e.reason === 'FailedToResolvePort');
      return items.length ? items : undefined;
    });
    assert.equal(events[0].type, 'Warning');
    assert.match(events[0].message!, /targetPort "nope" of port http of service bad is not declared by any container of pod bad-1/);
    assert.equal(events[0].source?.component, 'endpoint-controller');
    const ep = await until('bad endpoints', () => endpointsOf('bad'));
    assert.equal(ep.subsets, undefined);
    // Another pass (a new pod) does not repeat the warning for bad-1.
    await runPod('bad-2', { app: 'bad' });
    const again = await until('second warning', async () => {
      const items = (await client.list<Event>(EVENT, 'default', { fieldSelector: 'involvedObject.name=bad' })).items.filter((e) => e.reason === 'FailedToResolvePort');
      return items.length >= 2 ? items : undefined;
    });
    assert.ok(again.every((e) => (e.count ?? 1) === 1));
    assert.match(again.map((e) => e.message).join('\n'), /pod bad-2,/);
  });
});
