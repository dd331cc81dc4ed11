import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyDefaults, pullPolicyFor } from './defaults.js';
import { RESOURCES, type ResourceInfo } from './resources.js';
import type { KubeObject } from './types.js';

const resource = (kind: string): ResourceInfo => {
  const r = RESOURCES.find((x) => x.kind === kind);
  assert.ok(r, kind);
  return r;
};

function defaulted(kind: string, obj: KubeObject): any {
  applyDefaults(resource(kind), obj);
  return obj;
}

test('Pod specs get the Kubernetes defaults', () => {
  const pod = defaulted('Pod', {
    metadata: { name: 'web' },
    spec: {
      containers: [
        {
          name: 'web',
          image: 'nginx:1.27',
          ports: [{ containerPort: 80 }, { containerPort: 53, protocol: 'UDP' }],
          livenessProbe: { httpGet: { port: 80 } },
          readinessProbe: { tcpSocket: { port: 80 }, periodSeconds: 5, timeoutSeconds: 0 },
        },
      ],
    },
  });
  assert.deepEqual(pod.metadata, { name: 'web' }, 'metadata is left to the API server');
  const spec = pod.spec;
  assert.equal(spec.restartPolicy, 'Always');
  assert.equal(spec.terminationGracePeriodSeconds, 30);
  assert.equal(spec.dnsPolicy, 'ClusterFirst');
  assert.equal(spec.schedulerName, 'default-scheduler');
  assert.deepEqual(spec.securityContext, {});
  const c = spec.containers[0];
  assert.equal(c.imagePullPolicy, 'IfNotPresent');
  assert.equal(c.terminationMessagePath, '/dev/termination-log');
  assert.equal(c.terminationMessagePolicy, 'File');
  assert.deepEqual(c.resources, {});
  assert.deepEqual(c.ports, [
    { containerPort: 80, protocol: 'TCP' },
    { containerPort: 53, protocol: 'UDP' },
  ]);
  assert.deepEqual(c.livenessProbe, {
    httpGet: { port: 80, scheme: 'HTTP', path: '/' },
    periodSeconds: 10,
    timeoutSeconds: 1,
    failureThreshold: 3,
    successThreshold: 1,
  });
  assert.equal(c.readinessProbe.periodSeconds, 5, 'given values are kept');
  assert.equal(c.readinessProbe.timeoutSeconds, 1, '0 means unset for probe integers');
  assert.equal(c.readinessProbe.httpGet, undefined);
});

test('given Pod values are kept', () => {
  const pod = defaulted('Pod', {
    metadata: { name: 'job' },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
      dnsPolicy: 'Default',
      securityContext: { runAsUser: 1000 },
      containers: [{ name: 'c', image: 'busybox', imagePullPolicy: 'Never', resources: { limits: { cpu: '1' } } }],
    },
  });
  assert.equal(pod.spec.restartPolicy, 'Never');
  assert.equal(pod.spec.terminationGracePeriodSeconds, 0);
  assert.equal(pod.spec.dnsPolicy, 'Default');
  assert.deepEqual(pod.spec.securityContext, { runAsUser: 1000 });
  assert.equal(pod.spec.containers[0].imagePullPolicy, 'Never');
  assert.deepEqual(pod.spec.containers[0].resources, { limits: { cpu: '1' } });
});

test('imagePullPolicy is Always for :latest or no tag, else IfNotPresent', () => {
  assert.equal(pullPolicyFor('nginx'), 'Always');
  assert.equal(pullPolicyFor('nginx:latest'), 'Always');
  assert.equal(pullPolicyFor('registry.local:5000/team/app'), 'Always', 'a registry port is not a tag');
  assert.equal(pullPolicyFor('registry.local:5000/team/app:v2'), 'IfNotPresent');
  assert.equal(pullPolicyFor('nginx:1.27'), 'IfNotPresent');
  assert.equal(pullPolicyFor('nginx@sha256:abcd'), 'IfNotPresent', 'a digest pins the image');
  assert.equal(pullPolicyFor('nginx:latest@sha256:abcd'), 'Always');
  const pod = defaulted('Pod', { metadata: { name: 'p' }, spec: { containers: [{ name: 'a', image: 'nginx' }], initContainers: [{ name: 'i', image: 'busybox:1.36' }] } });
  assert.equal(pod.spec.containers[0].imagePullPolicy, 'Always');
  assert.equal(pod.spec.initContainers[0].imagePullPolicy, 'IfNotPresent');
});

test('Deployments get replicas, strategy, history and deadline defaults, and a defaulted template', () => {
  const d = defaulted('Deployment', {
    metadata: { name: 'web' },
    spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1' }] } } },
  });
  assert.equal(d.spec.replicas, 1);
  assert.deepEqual(d.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } });
  assert.equal(d.spec.revisionHistoryLimit, 10);
  assert.equal(d.spec.progressDeadlineSeconds, 600);
  const tpl = d.spec.template.spec;
  assert.equal(tpl.restartPolicy, 'Always');
  assert.equal(tpl.dnsPolicy, 'ClusterFirst');
  assert.equal(tpl.containers[0].imagePullPolicy, 'IfNotPresent');
  assert.equal(tpl.containers[0].terminationMessagePolicy, 'File');
});

test('Deployment defaults keep what is given', () => {
  const d = defaulted('Deployment', {
    metadata: { name: 'web' },
    spec: { replicas: 0, strategy: { type: 'Recreate' }, revisionHistoryLimit: 2, template: { spec: { containers: [] } } },
  });
  assert.equal(d.spec.replicas, 0, 'replicas 0 is a real value');
  assert.deepEqual(d.spec.strategy, { type: 'Recreate' }, 'Recreate gets no rollingUpdate');
  assert.equal(d.spec.revisionHistoryLimit, 2);
  const partial = defaulted('Deployment', { metadata: { name: 'w' }, spec: { strategy: { rollingUpdate: { maxSurge: 1 } } } });
  assert.deepEqual(partial.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: '25%' } });
});

test('ReplicaSets get replicas 1 and a defaulted template', () => {
  const rs = defaulted('ReplicaSet', { metadata: { name: 'web-1' }, spec: { template: { spec: { containers: [{ name: 'c', image: 'x:1', ports: [{ containerPort: 1 }] }] } } } });
  assert.equal(rs.spec.replicas, 1);
  assert.equal(rs.spec.template.spec.terminationGracePeriodSeconds, 30);
  assert.equal(rs.spec.template.spec.containers[0].ports[0].protocol, 'TCP');
});

test('Services get type, session affinity, port protocols and targetPorts', () => {
  const s = defaulted('Service', {
    metadata: { name: 'web' },
    spec: { selector: { app: 'web' }, ports: [{ port: 80 }, { port: 53, protocol: 'UDP', targetPort: 'dns' }, { port: 443, targetPort: 0 }] },
  });
  assert.equal(s.spec.type, 'ClusterIP');
  assert.equal(s.spec.sessionAffinity, 'None');
  assert.deepEqual(s.spec.ports, [
    { port: 80, protocol: 'TCP', targetPort: 80 },
    { port: 53, protocol: 'UDP', targetPort: 'dns' },
    { port: 443, protocol: 'TCP', targetPort: 443 },
  ]);
  assert.equal(s.spec.ipFamilies, undefined);
  const np = defaulted('Service', { metadata: { name: 'np' }, spec: { type: 'NodePort', ports: [{ port: 80 }] } });
  assert.equal(np.spec.type, 'NodePort');
  assert.equal(np.spec.externalTrafficPolicy, 'Cluster');
});

test('Secrets get type Opaque and stringData merged into base64 data', () => {
  const s = defaulted('Secret', { metadata: { name: 's' }, data: { a: 'YQ==', b: 'b2xk' }, stringData: { b: 'new', c: 'héllo' } });
  assert.equal(s.type, 'Opaque');
  assert.deepEqual(s.data, { a: 'YQ==', b: Buffer.from('new').toString('base64'), c: Buffer.from('héllo', 'utf8').toString('base64') });
  assert.equal('stringData' in s, false);
  const typed = defaulted('Secret', { metadata: { name: 't' }, type: 'kubernetes.io/tls', stringData: { 'tls.crt': 'x' } });
  assert.equal(typed.type, 'kubernetes.io/tls');
  assert.deepEqual(typed.data, { 'tls.crt': 'eA==' });
});

test('Namespaces get the kubernetes finalizer and phase Active', () => {
  const ns = defaulted('Namespace', { metadata: { name: 'team-a' } });
  assert.deepEqual(ns.spec, { finalizers: ['kubernetes'] });
  assert.deepEqual(ns.status, { phase: 'Active' });
  const terminating = defaulted('Namespace', { metadata: { name: 'old' }, spec: { finalizers: [] }, status: { phase: 'Terminating' } });
  assert.deepEqual(terminating.spec.finalizers, []);
  assert.equal(terminating.status.phase, 'Terminating');
});

test('Nodes and ConfigMaps are left as they are', () => {
  const node = { metadata: { name: 'n1' }, spec: {} };
  assert.deepEqual(defaulted('Node', structuredClone(node)), node);
  const cm = { metadata: { name: 'c' }, data: { k: 'v' } };
  assert.deepEqual(defaulted('ConfigMap', structuredClone(cm)), cm);
});

test('defaulting leaves fields of the wrong type for validation to report', () => {
  const pod = defaulted('Pod', { metadata: { name: 'p' }, spec: { containers: 'nginx' } });
  assert.equal(pod.spec.containers, 'nginx');
  const odd = defaulted('Pod', { metadata: { name: 'p' }, spec: { containers: [null, 'x', { name: 'c', image: 'i', ports: 'eighty', livenessProbe: 5 }] } });
  assert.equal(odd.spec.containers[2].ports, 'eighty');
  assert.equal(odd.spec.containers[2].livenessProbe, 5);
  const d = defaulted('Deployment', { metadata: { name: 'd' }, spec: { strategy: 'fast', template: 'none' } });
  assert.equal(d.spec.strategy, 'fast');
  const s = defaulted('Secret', { metadata: { name: 's' }, stringData: { n: 1 } });
  assert.deepEqual(s.stringData, { n: 1 });
  assert.doesNotThrow(() => defaulted('Service', { metadata: { name: 's' } }));
});
