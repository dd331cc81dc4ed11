import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { RESOURCES, type ResourceInfo } from '../../api/resources.js';
import type { Deployment, Endpoints, KubeObject, Node, Pod, ReplicaSet, Service } from '../../api/types.js';
import { type Table, formatAge, toTable } from './table.js';

const NOW = new Date('2025-06-01T12:00:00Z');
const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1000).toISOString();

function resource(plural: string): ResourceInfo {
  const r = RESOURCES.find((x) => x.plural === plural);
  assert.ok(r, `no resource ${plural}`);
  return r;
}

function table(plural: string, obj: KubeObject): Table {
  return toTable(resource(plural), [obj], { now: NOW, resourceVersion: '42' });
}

function row(plural: string, obj: KubeObject): unknown[] {
  return table(plural, obj).rows[0].cells;
}

/** Header as kubectl prints it: names upper-cased, `*` marking -o wide (priority 1) columns. */
function header(plural: string): string {
  const t = toTable(resource(plural), [], { now: NOW });
  return t.columnDefinitions.map((c) => c.name.toUpperCase() + (c.priority === 1 ? '*' : '')).join(' | ');
}

const meta = (name: string, age = 300, extra: Record<string, unknown> = {}) => ({
  name,
  namespace: 'default',
  uid: `uid-${name}`,
  creationTimestamp: ago(age),
  ...extra,
});

function runningPod(): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: meta('web-7d4b9c-x2x', 300, { labels: { app: 'web' } }),
    spec: { nodeName: 'node-a', containers: [{ name: 'web', image: 'nginx:1.27' }] },
    status: {
      phase: 'Running',
      podIP: '198.18.0.12',
      podIPs: [{ ip: '198.18.0.12' }],
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [{ name: 'web', ready: true, restartCount: 0, state: { running: { startedAt: ago(290) } } }],
    },
  };
}

describe('formatAge (HumanDuration)', () => {
  const cases: [number, string][] = [
    [0, '0s'],
    [0.4, '0s'],
    [45, '45s'],
    [119, '119s'],
    [120, '2m'],
    [330, '5m30s'],
    [599, '9m59s'],
    [600, '10m'],
    [125 * 60, '125m'],
    [179 * 60 + 59, '179m'],
    [3 * 3600, '3h'],
    [5.5 * 3600, '5h30m'],
    [7 * 3600 + 59 * 60, '7h59m'],
    [8 * 3600, '8h'],
    [30 * 3600, '30h'],
    [47 * 3600 + 3599, '47h'],
    [48 * 3600, '2d'],
    [3 * 86400 + 5 * 3600, '3d5h'],
    [7 * 86400 + 23 * 3600, '7d23h'],
    [8 * 86400, '8d'],
    [120 * 86400, '120d'],
    [729 * 86400, '729d'],
    [730 * 86400, '2y'],
    [(3 * 365 + 45) * 86400, '3y45d'],
    [8 * 365 * 86400, '8y'],
    [(10 * 365 + 100) * 86400, '10y'],
  ];
  for (const [seconds, want] of cases) {
    it(`${seconds}s -> ${want}`, () => assert.equal(formatAge(ago(seconds), NOW), want));
  }
  it('tolerates up to one second of clock skew, then says <invalid>', () => {
    assert.equal(formatAge(ago(-1), NOW), '0s');
    assert.equal(formatAge(ago(-1.5), NOW), '0s');
    assert.equal(formatAge(ago(-2), NOW), '<invalid>');
  });
  it('an absent or unparsable timestamp is <unknown>', () => {
    assert.equal(formatAge(undefined, NOW), '<unknown>');
    assert.equal(formatAge('not a time', NOW), '<unknown>');
  });
});

describe('toTable envelope', () => {
  it('is a meta.k8s.io/v1 Table carrying the list resourceVersion', () => {
    const t = toTable(resource('pods'), [runningPod()], { now: NOW, resourceVersion: '42', continue: 'abc' });
    assert.equal(t.kind, 'Table');
    assert.equal(t.apiVersion, 'meta.k8s.io/v1');
    assert.deepEqual(t.metadata, { resourceVersion: '42', continue: 'abc' });
    assert.equal(t.rows.length, 1);
    assert.deepEqual(JSON.parse(JSON.stringify(t)), t, 'survives JSON');
  });
  it('every column definition has name, type, format, description and priority', () => {
    for (const r of RESOURCES) {
      for (const c of toTable(r, [], { now: NOW }).columnDefinitions) {
        assert.deepEqual(Object.keys(c).sort(), ['description', 'format', 'name', 'priority', 'type'], `${r.plural}/${c.name}`);
        assert.ok(c.description.length > 0);
        assert.ok(c.priority === 0 || c.priority === 1);
      }
    }
  });
  it('an empty list has columns and no rows', () => {
    const t = toTable(resource('pods'), [], { now: NOW });
    assert.deepEqual(t.rows, []);
    assert.deepEqual(t.metadata, {});
  });
});

describe('row.object (includeObject)', () => {
  const pod = runningPod();
  it('defaults to PartialObjectMetadata with kind and apiVersion', () => {
    const [r] = toTable(resource('pods'), [pod], { now: NOW }).rows;
    assert.deepEqual(r.object, { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: pod.metadata });
  });
  it("'Object' embeds the full object, filling in kind/apiVersion when the store left them out", () => {
    const [r] = toTable(resource('pods'), [pod], { now: NOW, includeObject: 'Object' }).rows;
    assert.deepEqual(r.object, pod);
    const bare = { metadata: { name: 'web', creationTimestamp: ago(5) }, spec: {} } as KubeObject;
    const [d] = toTable(resource('deployments'), [bare], { now: NOW, includeObject: 'Object' }).rows;
    assert.equal(d.object?.kind, 'Deployment');
    assert.equal(d.object?.apiVersion, 'apps/v1');
  });
  it("'None' leaves object out", () => {
    const [r] = toTable(resource('pods'), [pod], { now: NOW, includeObject: 'None' }).rows;
    assert.equal('object' in r, false);
  });
});

describe('pods', () => {
  it('columns', () => {
    assert.equal(header('pods'), 'NAME | READY | STATUS | RESTARTS | AGE | IP* | NODE* | NOMINATED NODE* | READINESS GATES*');
    const t = table('pods', runningPod());
    assert.equal(t.columnDefinitions[0].format, 'name');
  });
  it('Running 1/1', () => {
    assert.deepEqual(row('pods', runningPod()), ['web-7d4b9c-x2x', '1/1', 'Running', '0', '5m', '198.18.0.12', 'node-a', '<none>', '<none>']);
  });
  it('CrashLoopBackOff shows the waiting reason and restarts with when', () => {
    const pod = runningPod();
    pod.status!.conditions = [{ type: 'Ready', status: 'False' }];
    pod.status!.containerStatuses = [{
      name: 'web', ready: false, restartCount: 5,
      state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 2m40s restarting failed container' } },
      lastState: { terminated: { exitCode: 1, reason: 'Error', finishedAt: ago(90) } },
    }];
    const cells = row('pods', pod);
    assert.deepEqual(cells.slice(1, 4), ['0/1', 'CrashLoopBackOff', '5 (90s ago)']);
  });
  it('restarts take the latest termination across containers', () => {
    const pod = runningPod();
    pod.spec.containers.push({ name: 'sidecar', image: 'envoy' });
    pod.status!.containerStatuses = [
      { name: 'web', ready: true, restartCount: 1, state: { running: {} }, lastState: { terminated: { exitCode: 1, finishedAt: ago(7200) } } },
      { name: 'sidecar', ready: true, restartCount: 2, state: { running: {} }, lastState: { terminated: { exitCode: 1, finishedAt: ago(330) } } },
    ];
    assert.deepEqual(row('pods', pod).slice(1, 4), ['2/2', 'Running', '3 (5m30s ago)']);
  });
  it('Terminating when deletionTimestamp is set on a running pod', () => {
    const pod = runningPod();
    pod.metadata.deletionTimestamp = ago(3);
    assert.equal(row('pods', pod)[2], 'Terminating');
    pod.status!.reason = 'NodeLost';
    assert.equal(row('pods', pod)[2], 'Unknown');
  });
  it('a deleted pod that already finished keeps its final status', () => {
    const pod = runningPod();
    pod.metadata.deletionTimestamp = ago(3);
    pod.status!.phase = 'Succeeded';
    pod.status!.containerStatuses = [{ name: 'web', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } }];
    assert.equal(row('pods', pod)[2], 'Completed');
  });
  it('Completed, with the Completed row condition', () => {
    const pod = runningPod();
    pod.status!.phase = 'Succeeded';
    pod.status!.containerStatuses = [{ name: 'web', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } }];
    const t = table('pods', pod);
    assert.deepEqual(t.rows[0].cells.slice(1, 4), ['0/1', 'Completed', '0']);
    assert.equal(t.rows[0].conditions?.[0].type, 'Completed');
    assert.equal(table('pods', runningPod()).rows[0].conditions, undefined);
  });
  it('a terminated container without a reason shows its exit code or signal', () => {
    const pod = runningPod();
    pod.status!.phase = 'Failed';
    pod.status!.containerStatuses = [{ name: 'web', ready: false, restartCount: 0, state: { terminated: { exitCode: 137 } } }];
    assert.equal(row('pods', pod)[2], 'ExitCode:137');
    (pod.status!.containerStatuses[0].state!.terminated as { signal?: number }).signal = 9;
    assert.equal(row('pods', pod)[2], 'Signal:9');
  });
  it('init containers: Init:N/M, Init:<reason>, Init:ExitCode', () => {
    const pod = runningPod();
    pod.spec.initContainers = [{ name: 'migrate', image: 'm' }, { name: 'seed', image: 's' }];
    pod.status = {
      phase: 'Pending',
      initContainerStatuses: [
        { name: 'migrate', ready: true, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } },
        { name: 'seed', ready: false, restartCount: 0, state: { running: {} } },
      ],
      containerStatuses: [{ name: 'web', ready: false, restartCount: 0, state: { waiting: { reason: 'PodInitializing' } } }],
    };
    assert.equal(row('pods', pod)[2], 'Init:1/2');
    (pod.status.initContainerStatuses as any)[1].state = { waiting: { reason: 'ImagePullBackOff' } };
    assert.equal(row('pods', pod)[2], 'Init:ImagePullBackOff');
    (pod.status.initContainerStatuses as any)[1].state = { terminated: { exitCode: 2 } };
    (pod.status.initContainerStatuses as any)[1].restartCount = 3;
    assert.deepEqual(row('pods', pod).slice(1, 4), ['0/1', 'Init:ExitCode:2', '3']);
  });
  it('restartable init containers (sidecars) count toward READY', () => {
    const pod = runningPod();
    pod.spec.initContainers = [{ name: 'proxy', image: 'envoy', restartPolicy: 'Always' }];
    pod.status!.conditions!.push({ type: 'Initialized', status: 'True' });
    pod.status!.initContainerStatuses = [{ name: 'proxy', ready: true, started: true, restartCount: 0, state: { running: {} } }];
    assert.deepEqual(row('pods', pod).slice(1, 3), ['2/2', 'Running']);
  });
  it('a pod with no status yet is Pending, with <none> IP and node', () => {
    const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: meta('new', 2), spec: { containers: [{ name: 'a' }] } };
    assert.deepEqual(row('pods', pod), ['new', '0/1', 'Pending', '0', '2s', '<none>', '<none>', '<none>', '<none>']);
  });
  it('status.reason wins over phase (e.g. Evicted); readiness gates count true conditions', () => {
    const pod = runningPod();
    pod.status!.phase = 'Failed';
    pod.status!.reason = 'Evicted';
    pod.status!.containerStatuses = [];
    pod.spec.readinessGates = [{ conditionType: 'lb/ready' }, { conditionType: 'other' }];
    pod.status!.conditions = [{ type: 'lb/ready', status: 'True' }];
    const cells = row('pods', pod);
    assert.equal(cells[2], 'Evicted');
    assert.equal(cells[8], '1/2');
  });
});

describe('deployments and replicasets', () => {
  const dep: Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta('web', 3 * 86400 + 5 * 3600),
    spec: {
      replicas: 3,
      selector: { matchLabels: { tier: 'front', app: 'web' } },
      template: {
        metadata: { labels: { app: 'web', tier: 'front' } },
        spec: { containers: [{ name: 'web', image: 'nginx:1.27' }, { name: 'log', image: 'fluent-bit:3' }] },
      },
    },
    status: { replicas: 3, updatedReplicas: 3, readyReplicas: 2, availableReplicas: 2 },
  };
  it('columns', () => {
    assert.equal(header('deployments'), 'NAME | READY | UP-TO-DATE | AVAILABLE | AGE | CONTAINERS* | IMAGES* | SELECTOR*');
    assert.equal(header('replicasets'), 'NAME | DESIRED | CURRENT | READY | AGE | CONTAINERS* | IMAGES* | SELECTOR*');
  });
  it('deployment 2/3', () => {
    assert.deepEqual(row('deployments', dep), ['web', '2/3', 3, 2, '3d5h', 'web,log', 'nginx:1.27,fluent-bit:3', 'app=web,tier=front']);
  });
  it('a fresh deployment without status reads 0/desired', () => {
    const fresh = { ...dep, status: undefined, spec: { ...dep.spec, replicas: undefined } };
    assert.deepEqual(row('deployments', fresh).slice(1, 4), ['0/1', 0, 0]);
  });
  it('matchExpressions render like labels.Selector', () => {
    const d = { ...dep, spec: { ...dep.spec, selector: { matchLabels: { app: 'web' }, matchExpressions: [
      { key: 'env', operator: 'In', values: ['prod', 'dev'] },
      { key: 'canary', operator: 'DoesNotExist' },
    ] } } };
    assert.equal(row('deployments', d)[7], 'app=web,!canary,env in (dev,prod)');
  });
  it('replicaset', () => {
    const rs: ReplicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: meta('web-7d4b9c', 600),
      spec: { replicas: 3, selector: { matchLabels: { app: 'web', 'pod-template-hash': '7d4b9c' } }, template: dep.spec.template },
      status: { replicas: 3, readyReplicas: 2 },
    };
    assert.deepEqual(row('replicasets', rs), ['web-7d4b9c', 3, 3, 2, '10m', 'web,log', 'nginx:1.27,fluent-bit:3', 'app=web,pod-template-hash=7d4b9c']);
    assert.equal(toTable(resource('replicasets'), [], { now: NOW }).columnDefinitions[1].type, 'integer');
  });
});

describe('services', () => {
  const svc = (spec: Service['spec'], status?: Service['status']): Service => ({
    apiVersion: 'v1', kind: 'Service', metadata: meta('web', 45 * 86400), spec, status,
  });
  it('columns', () => {
    assert.equal(header('services'), 'NAME | TYPE | CLUSTER-IP | EXTERNAL-IP | PORT(S) | AGE | SELECTOR*');
  });
  it('NodePort 80:30080/TCP', () => {
    const s = svc({ type: 'NodePort', clusterIP: '127.77.12.7', clusterIPs: ['127.77.12.7'], selector: { app: 'web' },
      ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }] });
    assert.deepEqual(row('services', s), ['web', 'NodePort', '127.77.12.7', '<none>', '80:30080/TCP,53/UDP', '45d', 'app=web']);
  });
  it('ClusterIP without selector: <none>', () => {
    const s = svc({ clusterIP: '127.77.0.1', ports: [{ port: 443, targetPort: 6443 }] });
    assert.deepEqual(row('services', s), ['web', 'ClusterIP', '127.77.0.1', '<none>', '443/TCP', '45d', '<none>']);
  });
  it('headless, no ports', () => {
    const s = svc({ type: 'ClusterIP', clusterIP: 'None', selector: { app: 'db', role: 'primary' } });
    assert.deepEqual(row('services', s).slice(2, 7), ['None', '<none>', '<none>', '45d', 'app=db,role=primary']);
  });
  it('external IPs, LoadBalancer pending / ingress, ExternalName', () => {
    assert.equal(row('services', svc({ type: 'ClusterIP', externalIPs: ['192.0.2.1', '192.0.2.2'] }))[3], '192.0.2.1,192.0.2.2');
    assert.equal(row('services', svc({ type: 'LoadBalancer', ports: [{ port: 80, nodePort: 31000 }] }))[3], '<pending>');
    const lb = svc({ type: 'LoadBalancer', externalIPs: ['192.0.2.9'] }, { loadBalancer: { ingress: [{ ip: '203.0.113.4' }, { hostname: 'lb.example.com' }] } });
    assert.equal(row('services', lb)[3], '203.0.113.4,lb.example.com,192.0.2.9');
    assert.deepEqual(row('services', svc({ type: 'ExternalName', externalName: 'db.example.com' })).slice(1, 5), ['ExternalName', '<none>', 'db.example.com', '<none>']);
  });
});

describe('endpoints and endpointslices', () => {
  it('columns', () => {
    assert.equal(header('endpoints'), 'NAME | ENDPOINTS | AGE');
    assert.equal(header('endpointslices'), 'NAME | ADDRESSTYPE | PORTS | ENDPOINTS | AGE');
  });
  it('5 addresses: three then + 2 more...', () => {
    const ep: Endpoints = {
      apiVersion: 'v1', kind: 'Endpoints', metadata: meta('web', 60),
      subsets: [{ addresses: [1, 2, 3, 4, 5].map((i) => ({ ip: `198.18.0.${i}` })), ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }],
    };
    assert.deepEqual(row('endpoints', ep), ['web', '198.18.0.1:8080,198.18.0.2:8080,198.18.0.3:8080 + 2 more...', '60s']);
  });
  it('no subsets: <none>; headless without ports lists bare IPs; IPv6 is bracketed', () => {
    assert.equal(row('endpoints', { metadata: meta('a') })[1], '<none>');
    assert.equal(row('endpoints', { metadata: meta('b'), subsets: [{ addresses: [{ ip: '198.18.0.1' }] }] })[1], '198.18.0.1');
    assert.equal(row('endpoints', { metadata: meta('c'), subsets: [{ addresses: [{ ip: 'fd00::1' }], ports: [{ port: 80 }] }] })[1], '[fd00::1]:80');
  });
  it('endpointslice', () => {
    const slice = {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: meta('web-abcde', 60),
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: [1, 2, 3, 4].map((i) => ({ addresses: [`198.18.0.${i}`], conditions: { ready: true } })),
    };
    assert.deepEqual(row('endpointslices', slice), ['web-abcde', 'IPv4', '8080', '198.18.0.1,198.18.0.2,198.18.0.3 + 1 more...', '60s']);
    assert.deepEqual(row('endpointslices', { metadata: meta('empty'), addressType: 'IPv4' }).slice(2, 4), ['<unset>', '<unset>']);
  });
});

describe('nodes', () => {
  const node: Node = {
    apiVersion: 'v1', kind: 'Node',
    metadata: meta('node-a', 30 * 3600, { namespace: undefined, labels: { 'node-role.kubernetes.io/control-plane': '', 'node-role.kubernetes.io/worker': '', 'kubernetes.io/hostname': 'node-a' } }),
    spec: {},
    status: {
      conditions: [{ type: 'MemoryPressure', status: 'False' }, { type: 'Ready', status: 'True' }],
      addresses: [{ type: 'InternalIP', address: '198.18.1.10' }, { type: 'Hostname', address: 'node-a' }],
      nodeInfo: { kubeletVersion: 'v1.32.0-tugboat', osImage: 'Debian GNU/Linux 12 (bookworm)', kernelVersion: '6.1.0-18-amd64', containerRuntimeVersion: 'containerd://1.7.13' },
    },
  };
  it('columns', () => {
    assert.equal(header('nodes'), 'NAME | STATUS | ROLES | AGE | VERSION | INTERNAL-IP* | EXTERNAL-IP* | OS-IMAGE* | KERNEL-VERSION* | CONTAINER-RUNTIME*');
  });
  it('ready node with roles', () => {
    assert.deepEqual(row('nodes', node), ['node-a', 'Ready', 'control-plane,worker', '30h', 'v1.32.0-tugboat', '198.18.1.10', '<none>',
      'Debian GNU/Linux 12 (bookworm)', '6.1.0-18-amd64', 'containerd://1.7.13']);
  });
  it('NotReady and cordoned; no Ready condition is Unknown; no roles is <none>', () => {
    const n: Node = { ...node, metadata: meta('node-b'), spec: { unschedulable: true }, status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } };
    assert.deepEqual(row('nodes', n).slice(1, 3), ['NotReady,SchedulingDisabled', '<none>']);
    assert.deepEqual(row('nodes', { metadata: meta('node-c') }).slice(1, 10), ['Unknown', '<none>', '5m', '', '<none>', '<none>', '<unknown>', '<unknown>', '<unknown>']);
  });
});

describe('namespaces, configmaps, secrets, leases, events, others', () => {
  it('namespaces', () => {
    assert.equal(header('namespaces'), 'NAME | STATUS | AGE');
    assert.deepEqual(row('namespaces', { metadata: meta('kube-system', 86400 * 10), status: { phase: 'Active' } }), ['kube-system', 'Active', '10d']);
    assert.deepEqual(row('namespaces', { metadata: meta('old', 60, { deletionTimestamp: ago(1) }), status: { phase: 'Terminating' } }).slice(1), ['Terminating', '60s']);
  });
  it('configmaps count data and binaryData keys', () => {
    assert.equal(header('configmaps'), 'NAME | DATA | AGE');
    assert.deepEqual(row('configmaps', { metadata: meta('cfg'), data: { a: '1', b: '2' }, binaryData: { c: 'AA==' } }), ['cfg', 3, '5m']);
    assert.deepEqual(row('configmaps', { metadata: meta('empty') }), ['empty', 0, '5m']);
  });
  it('secrets', () => {
    assert.equal(header('secrets'), 'NAME | TYPE | DATA | AGE');
    assert.deepEqual(row('secrets', { metadata: meta('tls'), type: 'kubernetes.io/tls', data: { 'tls.crt': 'x', 'tls.key': 'y' } }), ['tls', 'kubernetes.io/tls', 2, '5m']);
    assert.deepEqual(row('secrets', { metadata: meta('plain'), stringData: { password: 'p' } }), ['plain', 'Opaque', 1, '5m']);
  });
  it('leases', () => {
    assert.equal(header('leases'), 'NAME | HOLDER | AGE');
    assert.deepEqual(row('leases', { metadata: meta('node-a', 7200), spec: { holderIdentity: 'node-a', leaseDurationSeconds: 40 } }), ['node-a', 'node-a', '120m']);
  });
  it('events: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE (+ wide)', () => {
    assert.equal(header('events'), 'LAST SEEN | TYPE | REASON | OBJECT | SUBOBJECT* | SOURCE* | MESSAGE | FIRST SEEN* | COUNT* | NAME*');
    const ev = {
      apiVersion: 'v1', kind: 'Event', metadata: meta('web-7d4b9c-x2x.17a2b', 600),
      involvedObject: { kind: 'Pod', namespace: 'default', name: 'web-7d4b9c-x2x', fieldPath: 'spec.containers{web}' },
      reason: 'BackOff', type: 'Warning', message: 'Back-off restarting failed container\n',
      source: { component: 'kubelet', host: 'node-a' },
      firstTimestamp: ago(600), lastTimestamp: ago(42), count: 7,
    };
    assert.deepEqual(row('events', ev), ['42s', 'Warning', 'BackOff', 'pod/web-7d4b9c-x2x', 'spec.containers{web}', 'kubelet, node-a',
      'Back-off restarting failed container', '10m', 7, 'web-7d4b9c-x2x.17a2b']);
  });
  it('events written through events.k8s.io: eventTime, series, reportingComponent', () => {
    const ev = {
      metadata: meta('e2', 600), involvedObject: { kind: 'Node', name: 'node-a' }, reason: 'Ready', type: 'Normal', message: 'ok',
      eventTime: '2025-06-01T11:49:59.123456Z', reportingComponent: 'tugboat-node', reportingInstance: 'node-a',
    };
    const cells = row('events', ev);
    assert.deepEqual([cells[0], cells[3], cells[5], cells[7], cells[8]], ['10m', 'node/node-a', 'tugboat-node, node-a', '10m', 1]);
    const series = { ...ev, series: { count: 12, lastObservedTime: ago(5) } };
    assert.deepEqual([row('events', series)[0], row('events', series)[8]], ['5s', 12]);
  });
  it('any other resource: NAME and AGE', () => {
    const other: ResourceInfo = { group: 'example.com', version: 'v1', kind: 'Widget', plural: 'widgets', singular: 'widget', namespaced: true };
    const t = toTable(other, [{ apiVersion: 'example.com/v1', kind: 'Widget', metadata: meta('w', 90) }], { now: NOW });
    assert.deepEqual(t.columnDefinitions.map((c) => c.name), ['Name', 'Age']);
    assert.deepEqual(t.rows[0].cells, ['w', '90s']);
    assert.equal(t.columnDefinitions[0].format, 'name');
  });
  it('a missing creationTimestamp ages as <unknown>', () => {
    assert.deepEqual(row('configmaps', { metadata: { name: 'x' } }), ['x', 0, '<unknown>']);
  });
});
