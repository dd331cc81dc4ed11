// Endpoints end to end: a control node, one `tug node` and the real kubectl. A Deployment of small
// web pods behind a Service: `kubectl get endpoints` lists the ready pods at their node ports, a
// pod failing its readiness probe moves to notReadyAddresses at once, scaling adds endpoints,
// `kubectl describe svc` shows them (from EndpointSlices), deleting the Service removes its
// Endpoints and slices, and a targetPort name no container declares gives an Event and no
// endpoints. Bad Service input is a 422 naming the field.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { ApiClient } from '../../api/client.js';
import { Informer } from '../../api/informer.js';
import { readKubeconfig } from '../../api/kubeconfig.js';
import { podPorts } from '../../api/ports.js';
import { resourceOfKind } from '../../api/resources.js';
import type { Endpoints, Pod } from '../../api/types.js';
import { NodeCluster, webDeployment } from './node-support.js';
import { needs } from '../requirements.js';

const NODE = 'ep1';
const APP = 'epweb';
const SERVICE_PORT = 8080;

function service(name: string, targetPort: string | number, extra: Record<string, unknown> = {}) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: APP }, ports: [{ name: 'http', port: SERVICE_PORT, targetPort }], ...extra } };
}

const readyOf = (p: Pod) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

describe('Endpoints of a Service, end to end', { ...(await needs('kubectl')), concurrency: false }, () => {
  const cluster = new NodeCluster();
  let client: ApiClient | undefined;
  let pods: Informer<Pod> | undefined;
  let endpoints: Informer<Endpoints> | undefined;
  /** When the test's watches saw each change, by what changed. */
  const seen = new Map<string, number>();
  let marker = '';
  let flag = '';

  before(async () => {
    await cluster.start();
    await cluster.startNode({ name: NODE, portRange: '23400-23499' });
    client = new ApiClient(readKubeconfig(cluster.control.kubeconfig));
    pods = new Informer<Pod>(client, resourceOfKind('Pod'), {
      onUpdate: (o, p) => {
        if (readyOf(o) !== readyOf(p)) seen.set(`pod ${p.metadata.name} ready=${readyOf(p)}`, performance.now());
      },
    }).start();
    const epState = new Map<string, boolean>();
    endpoints = new Informer<Endpoints>(client, resourceOfKind('Endpoints'), {
      onUpdate: (_o, ep) => {
        if (ep.metadata.name !== APP) return;
        const now = new Map<string, boolean>();
        for (const s of ep.subsets ?? []) {
          for (const a of s.addresses ?? []) now.set(a.targetRef!.name, true);
          for (const a of s.notReadyAddresses ?? []) now.set(a.targetRef!.name, false);
        }
        for (const [name, ready] of now) if (epState.get(name) !== ready) seen.set(`ep ${name} ready=${ready}`, performance.now());
        epState.clear();
        for (const [k, v] of now) epState.set(k, v);
      },
    }).start();
    await Promise.all([pods.waitForSync(), endpoints.waitForSync()]);
    marker = cluster.marker(APP);
    flag = cluster.flag(marker);
  });

  after(async () => {
    await pods?.stop();
    await endpoints?.stop();
    client?.close();
    await cluster.cleanup();
  });

  const kubectl = (args: string[], input?: string) => cluster.kubectl(args, input);
  const appPods = () => pods!.list().filter((p) => p.metadata.labels?.app === APP && !p.metadata.deletionTimestamp);
  /** `127.0.0.1:<node port>` of each pod, from the ports its node published. */
  const addressOf = (p: Pod) => `127.0.0.1:${podPorts(p).find((x) => x.name === 'http')?.hostPort}`;
  const endpointsCell = async (name: string) => {
    const r = await kubectl(['get', 'endpoints', name, '--no-headers']);
    if (r.code !== 0) return undefined;
    // NAME ENDPOINTS AGE; the cell is empty when there are addresses but none ready (as upstream).
    const cells = r.stdout.trim().split(/\s+/);
    return cells.length === 3 ? cells[1] : '';
  };
  const readyPods = (n: number) => async () => {
    const list = appPods();
    return list.length === n && list.every(readyOf) ? list : undefined;
  };

  it('lists the ready pods as 127.0.0.1:<node port> in `kubectl get endpoints`', async () => {
    await cluster.apply(webDeployment(APP, 2, { marker, flag, readiness: '/unhealthy' }));
    await cluster.apply(service(APP, 'http'));
    const ready = await cluster.waitFor('2 ready pods', readyPods(2), 300);
    const wanted = ready.map(addressOf).sort();
    assert.ok(wanted.every((a) => /^127\.0\.0\.1:234\d\d$/.test(a)), `ports from the node's range: ${wanted}`);
    const cell = await cluster.waitFor('endpoints of both pods', async () => {
      const c = await endpointsCell(APP);
      return c && c.split(',').sort().join() === wanted.join() ? c : undefined;
    });
    assert.equal(cell.split(',').length, 2);
    // The port in the Endpoints is where the pod really serves.
    const logged = await cluster.portOf(ready[0].metadata.name!);
    assert.ok(cell.includes(`127.0.0.1:${logged}`), `${cell} has the port ${ready[0].metadata.name} logs`);
    assert.equal(await (await fetch(`http://127.0.0.1:${logged}/`)).text(), `hi from ${ready[0].metadata.name}\n`);

    const ep = JSON.parse((await kubectl(['get', 'endpoints', APP, '-o', 'json'])).stdout) as Endpoints;
    assert.equal(ep.subsets!.length, 2, 'one subset per pod: each has its own node port');
    for (const s of ep.subsets!) {
      assert.deepEqual(s.ports!.map((p) => p.name), ['http']);
      assert.equal(s.addresses![0].nodeName, NODE);
      assert.equal(s.addresses![0].targetRef!.kind, 'Pod');
    }
    const slices = JSON.parse((await kubectl(['get', 'endpointslices', '-l', `kubernetes.io/service-name=${APP}`, '-o', 'json'])).stdout).items;
    assert.equal(slices.length, 2);
    assert.ok(slices.every((s: any) => s.endpoints.every((e: any) => e.conditions.ready && e.nodeName === NODE)));
  });

  it('moves pods failing their readiness probe to notReadyAddresses within a queue pass, and back', async (t) => {
    const names = appPods().map((p) => p.metadata.name!);
    writeFileSync(flag, '');
    try {
      await cluster.waitFor('pods unready in Endpoints', async () => {
        const ep = endpoints!.get('default', APP);
        const notReady = (ep?.subsets ?? []).flatMap((s) => (s.notReadyAddresses ?? []).map((a) => a.targetRef?.name));
        const ready = (ep?.subsets ?? []).flatMap((s) => s.addresses ?? []);
        return names.every((n) => notReady.includes(n)) && !ready.length ? true : undefined;
      }, 300);
    } finally {
      rmSync(flag, { force: true });
    }
    assert.equal(await endpointsCell(APP), '', 'no ready endpoints (subsets with notReadyAddresses only)');
    const slices = JSON.parse((await kubectl(['get', 'endpointslices', '-l', `kubernetes.io/service-name=${APP}`, '-o', 'json'])).stdout).items;
    assert.ok(slices.every((s: any) => s.endpoints.every((e: any) => e.conditions.ready === false && e.conditions.serving === false)));
    const latency = (n: string, ready: boolean) => {
      const podAt = seen.get(`pod ${n} ready=${ready}`);
      const epAt = seen.get(`ep ${n} ready=${ready}`);
      assert.ok(podAt !== undefined && epAt !== undefined, `both changes seen for ${n}`);
      t.diagnostic(`${n}: pod Ready=${ready ? 'True' : 'False'} seen → Endpoints ${ready ? 'addresses' : 'notReadyAddresses'} seen: ${(epAt - podAt).toFixed(1)} ms`);
    };
    for (const n of names) latency(n, false);
    await cluster.waitFor('ready again', async () => {
      const c = await endpointsCell(APP);
      return c && c.split(',').length === 2 ? true : undefined;
    }, 300);
    for (const n of names) latency(n, true);
  });

  it('adds endpoints when the Deployment scales up, and `kubectl describe svc` shows them', async () => {
    const r = await kubectl(['scale', 'deployment', APP, '--replicas=3']);
    assert.equal(r.code, 0, r.stderr);
    const ready = await cluster.waitFor('3 ready pods', readyPods(3), 300);
    const wanted = ready.map(addressOf).sort();
    await cluster.waitFor('3 endpoints', async () => {
      const c = await endpointsCell(APP);
      return c && c.split(',').sort().join() === wanted.join() ? true : undefined;
    });
    const described = await kubectl(['describe', 'svc', APP]);
    assert.equal(described.code, 0, described.stderr);
    const line = /^Endpoints:\s+(.*)$/m.exec(described.stdout)?.[1] ?? '';
    assert.deepEqual(line.split(',').sort(), wanted, described.stdout);
    assert.match(described.stdout, /^TargetPort:\s+http\/TCP$/m);
  });

  it('gives a targetPort name that no container declares an Event and no endpoints', async () => {
    await cluster.apply(service('epbad', 'nope'));
    const events = await cluster.waitFor('FailedToResolvePort event', async () => {
      const list = (await cluster.eventsFor('epbad')).filter((e) => e.reason === 'FailedToResolvePort');
      return list.length ? list : undefined;
    });
    assert.equal(events[0].type, 'Warning');
    assert.match(events[0].message, /targetPort "nope" of port http of service epbad is not declared by any container of pods? epweb-/);
    await cluster.waitFor('epbad Endpoints written', async () => ((await endpointsCell('epbad')) === '<none>' ? true : undefined));
    const described = await kubectl(['describe', 'svc', 'epbad']);
    assert.match(described.stdout, /^Endpoints:\s+(<none>)?$/m);
    assert.match(described.stdout, /Warning\s+FailedToResolvePort/);
    const r = await kubectl(['delete', 'svc', 'epbad']);
    assert.equal(r.code, 0, r.stderr);
  });

  it('removes the Endpoints and EndpointSlices with the Service', async () => {
    const r = await kubectl(['delete', 'svc', APP]);
    assert.equal(r.code, 0, r.stderr);
    await cluster.waitFor('Endpoints and slices gone', async () => {
      const ep = await kubectl(['get', 'endpoints', APP]);
      const slices = await kubectl(['get', 'endpointslices', '-l', `kubernetes.io/service-name=${APP}`, '-o', 'name']);
      return ep.code === 1 && /NotFound/.test(ep.stderr) && slices.code === 0 && slices.stdout.trim() === '' ? true : undefined;
    });
    assert.doesNotMatch(cluster.control.output(), /endpoints default\/\S+: /, 'the controller logged no failed pass');
  });

  it('rejects bad Service input with 422 naming the field', async () => {
    const create = (obj: unknown) => kubectl(['create', '-f', '-'], YAML.stringify(obj));
    const expectInvalid = async (obj: unknown, field: string, detail: RegExp) => {
      const r = await create(obj);
      assert.equal(r.code, 1, `rejected: ${r.stdout}`);
      assert.match(r.stderr, /is invalid/);
      assert.ok(r.stderr.includes(`${field}:`), `${r.stderr} names ${field}`);
      assert.match(r.stderr, detail);
    };
    const np = (name: string, ports: unknown[]) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { type: 'NodePort', selector: { app: 'none' }, ports } });

    const zero = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'port0' }, spec: { selector: { app: 'none' }, ports: [{ port: 0, targetPort: 8080 }] } };
    await expectInvalid(zero, 'spec.ports[0].port', /must be between 1 and 65535/);

    const first = await create(np('np1', [{ name: 'http', port: 8080 }]));
    assert.equal(first.code, 0, first.stderr);
    const taken = JSON.parse((await kubectl(['get', 'svc', 'np1', '-o', 'json'])).stdout).spec.ports[0].nodePort as number;
    await expectInvalid(np('np2', [{ name: 'http', port: 8080, nodePort: taken }]), 'spec.ports[0].nodePort', /provided port is already allocated/);
    await expectInvalid(np('np3', [{ name: 'a', port: 8080, nodePort: 31999 }, { name: 'b', port: 8081, nodePort: 31999 }]), 'spec.ports[1].nodePort', /Duplicate value: 31999/);
    // One node port for both protocols of one Service is fine, as in Kubernetes.
    const both = await create(np('np4', [{ name: 'dns', port: 5353, protocol: 'UDP', nodePort: 31998 }, { name: 'dns-tcp', port: 5353, protocol: 'TCP', nodePort: 31998 }]));
    assert.equal(both.code, 0, both.stderr);

    const ip = (name: string, clusterIP: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: 'none' }, clusterIP, ports: [{ port: 8080 }] } });
    await expectInvalid(ip('outside', '127.99.0.20'), 'spec.clusterIP', /provided IP is not in the valid range\. The range of valid IPs is 127\.77\.0\.0\/16/);
    await expectInvalid(ip('network', '127.77.0.0'), 'spec.clusterIP', /not in the valid range/);
    await expectInvalid(ip('apiserver', '127.77.0.1'), 'spec.clusterIP', /provided IP is already allocated/);
    await expectInvalid(ip('garbage', '127.77.0.300'), 'spec.clusterIP', /valid IPv4 address/);
    const chosen = await create(ip('chosen', '127.77.3.3'));
    assert.equal(chosen.code, 0, chosen.stderr);
    await expectInvalid(ip('again', '127.77.3.3'), 'spec.clusterIP', /provided IP is already allocated/);
    await kubectl(['delete', 'svc', 'np1', 'np4', 'chosen', '--wait=false']);
  });
});
