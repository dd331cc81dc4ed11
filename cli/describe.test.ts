import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Deployment, Event, Node, Pod, ReplicaSet, Service } from '../api/types.js';
import { render } from './describe.js';
import { DescribeWriter, describeTime } from './describe-writer.js';
import { resourceOfKind } from '../api/resources.js';

const NOW = new Date('2025-01-01T00:10:00Z');

function event(reason: string, message: string, at: string, extra: Partial<Event> = {}): Event {
  return { metadata: { name: reason }, involvedObject: {}, type: 'Normal', reason, message, lastTimestamp: at, firstTimestamp: at, source: { component: 'tug-controller' }, ...extra };
}

test('the writer aligns Key:<TAB>value runs like tabwriter: a line without a tab ends the block', () => {
  const w = new DescribeWriter();
  w.field(0, 'Name', 'web');
  w.field(0, 'Namespace', 'default');
  w.field(0, 'Labels', 'a=1\nb=2');
  w.line(0, 'Containers:');
  w.field(1, 'Image', 'x');
  w.field(1, 'Restart Count', 0);
  w.field(0, 'IP', '');
  assert.equal(
    w.toString(),
    ['Name:       web', 'Namespace:  default', 'Labels:     a=1', '            b=2', 'Containers:', '  Image:          x', '  Restart Count:  0', 'IP:               <none>'].join('\n'),
  );
});

test('describe timestamps look like kubectl\'s', () => {
  assert.equal(describeTime('2025-01-02T03:04:05Z'), 'Thu, 02 Jan 2025 03:04:05 +0000');
  assert.equal(describeTime(undefined), '<none>');
});

test('a pod: node, status, controller, container state, probes, conditions, events', () => {
  const pod: Pod = {
    metadata: { name: 'echo-abc-1', namespace: 'default', uid: 'u1', labels: { app: 'echo', 'pod-template-hash': 'abc' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'echo-abc', uid: 'rs', controller: true }] },
    spec: {
      nodeName: 'n1',
      containers: [{ name: 'echo', image: 'node:22', command: ['node', 'echo.js'], ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 2 }, env: [{ name: 'A', value: '1' }] }],
    },
    status: {
      phase: 'Running',
      podIP: '127.0.0.1',
      hostIP: '127.0.0.1',
      qosClass: 'BestEffort',
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [{ name: 'echo', ready: true, restartCount: 2, state: { running: { startedAt: '2025-01-01T00:05:00Z' } }, lastState: { terminated: { exitCode: 137, reason: 'Error' } } }],
    },
  };
  const out = render(resourceOfKind('Pod'), pod, { events: [event('Scheduled', 'Successfully assigned default/echo-abc-1 to n1', '2025-01-01T00:09:50Z', { source: { component: 'default-scheduler' } }), event('BackOff', 'Back-off restarting', '2025-01-01T00:08:00Z', { type: 'Warning', count: 3, firstTimestamp: '2025-01-01T00:00:00Z' })] }, NOW);
  for (const re of [
    /^Name:\s+echo-abc-1$/m,
    /^Node:\s+n1\/127\.0\.0\.1$/m,
    /^Labels:\s+app=echo\n\s+pod-template-hash=abc$/m,
    /^Status:\s+Running$/m,
    /^Controlled By:\s+ReplicaSet\/echo-abc$/m,
    /^ {4}Port:\s+8080\/TCP \(http\)$/m,
    /^ {4}Command:\n {6}node\n {6}echo\.js$/m,
    /^ {4}State:\s+Running\n {6}Started:\s+Wed, 01 Jan 2025 00:05:00 \+0000$/m,
    /^ {4}Last State:\s+Terminated\n {6}Reason:\s+Error\n {6}Exit Code:\s+137$/m,
    /^ {4}Restart Count:\s+2$/m,
    /^ {4}Readiness:\s+http-get http:\/\/:http\/healthz delay=0s timeout=1s period=2s #success=1 #failure=3$/m,
    /^ {6}A:\s+1$/m,
    /^Conditions:\n {2}Type\s+Status\n {2}Ready\s+True$/m,
    /^QoS Class:\s+BestEffort$/m,
    /^Events:\n {2}Type\s+Reason\s+Age\s+From\s+Message\n {2}----\s+------\s+----\s+----\s+-------\n {2}Warning\s+BackOff\s+2m \(x3 over 10m\)\s+tug-controller\s+Back-off restarting\n {2}Normal\s+Scheduled\s+10s\s+default-scheduler\s+Successfully assigned default\/echo-abc-1 to n1$/m,
  ]) {
    assert.match(out, re);
  }
});

test('a deployment: replicas line, strategy, template, conditions, new and old ReplicaSets', () => {
  const d: Deployment = {
    metadata: { name: 'echo', namespace: 'default', uid: 'd', creationTimestamp: '2025-01-01T00:00:00Z' },
    spec: { replicas: 3, selector: { matchLabels: { app: 'echo' } }, template: { metadata: { labels: { app: 'echo' } }, spec: { containers: [{ name: 'echo', image: 'x' }] } } },
    status: { replicas: 4, updatedReplicas: 2, availableReplicas: 3, unavailableReplicas: 1, conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' }] },
  };
  const own = (name: string, rev: string, replicas: number): ReplicaSet => ({
    metadata: { name, annotations: { 'deployment.kubernetes.io/revision': rev }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'echo', uid: 'd', controller: true }] },
    spec: { replicas, selector: {} },
    status: { replicas },
  });
  const out = render(resourceOfKind('Deployment'), d, { events: [], replicaSets: [own('echo-old', '1', 2), own('echo-new', '2', 2), own('echo-older', '0', 0)] }, NOW);
  assert.match(out, /^Replicas:\s+3 desired \| 2 updated \| 4 total \| 3 available \| 1 unavailable$/m);
  assert.match(out, /^RollingUpdateStrategy:\s+25% max unavailable, 25% max surge$/m);
  assert.match(out, /^Pod Template:\n {2}Labels:\s+app=echo\n {2}Containers:\n {3}?\s*echo:\n\s+Image:\s+x$/m);
  assert.match(out, /^ {2}Available\s+True\s+MinimumReplicasAvailable$/m);
  assert.match(out, /^OldReplicaSets:\s+echo-old \(2\/2 replicas created\)$/m);
  assert.match(out, /^NewReplicaSet:\s+echo-new \(2\/2 replicas created\)$/m);
  assert.match(out, /^Events:\s+<none>$/m);
});

test('a service shows its ready endpoints per port; a node its conditions, addresses and pods', () => {
  const svc: Service = { metadata: { name: 'echo', namespace: 'default' }, spec: { type: 'ClusterIP', clusterIP: '127.77.0.9', selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } };
  const sOut = render(resourceOfKind('Service'), svc, { events: [], endpoints: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'http', port: 20001 }] }, { addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'http', port: 20002 }] }] }, NOW);
  assert.match(sOut, /^Port:\s+http {2}80\/TCP$/m);
  assert.match(sOut, /^Endpoints:\s+127\.0\.0\.1:20001,127\.0\.0\.1:20002$/m);
  assert.match(sOut, /^IP:\s+127\.77\.0\.9$/m);

  const node: Node = {
    metadata: { name: 'n1', labels: { 'kubernetes.io/hostname': 'n1' } },
    spec: { unschedulable: true },
    status: { conditions: [{ type: 'Ready', status: 'False', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' }], addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], capacity: { cpu: '2', memory: '4Gi' }, nodeInfo: { kernelVersion: '6.1', kubeletVersion: 'tug' } },
  };
  const pod: Pod = { metadata: { name: 'p', namespace: 'default', creationTimestamp: '2025-01-01T00:09:00Z' }, spec: { containers: [{ name: 'c', resources: { requests: { cpu: '100m' } } }] }, status: { phase: 'Running' } };
  const nOut = render(resourceOfKind('Node'), node, { events: [], pods: [pod] }, NOW);
  assert.match(nOut, /^Unschedulable:\s+true$/m);
  assert.match(nOut, /^ {2}Ready\s+False\s+<none>\s+<none>\s+NodeStatusUnknown\s+Kubelet stopped posting node status\.$/m);
  assert.match(nOut, /^ {2}InternalIP:\s+127\.0\.0\.1$/m);
  assert.match(nOut, /^ {2}Kernel Version:\s+6\.1$/m);
  assert.match(nOut, /^Non-terminated Pods:\s+\(1 in total\)\n {2}Namespace\s+Name\s+CPU Requests\s+Memory Requests\s+Age\n.*\n {2}default\s+p\s+100m\s+0\s+60s$/m);
  assert.doesNotMatch(nOut, /Namespace:/, 'nodes are not namespaced');
});

test('other kinds fall back to their fields; secrets show sizes, never values', () => {
  const out = render(resourceOfKind('Secret'), { kind: 'Secret', metadata: { name: 's', namespace: 'default' }, type: 'Opaque', data: { password: Buffer.from('hunter22').toString('base64') } }, { events: [] }, NOW);
  assert.match(out, /^Type:\s+Opaque$/m);
  assert.match(out, /^password:\s+8 bytes$/m);
  assert.doesNotMatch(out, /hunter22|aHVudGVy/);
  const cm = render(resourceOfKind('ConfigMap'), { metadata: { name: 'c', namespace: 'default' }, data: { 'echo.js': 'line1\nline2\n' } }, { events: [] }, NOW);
  assert.match(cm, /^Data:\n {2}echo\.js: \|\n {4}line1\n {4}line2$/m);
});
