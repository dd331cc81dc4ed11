import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyDefaults } from './defaults.js';
import { errors, type StatusCause } from './errors.js';
import { RESOURCES, type ResourceInfo } from './resources.js';
import type { KubeObject } from './types.js';
import { isDNS1123Subdomain, isQualifiedName, isValidPortName, validateObject } from './validation.js';

const resource = (kind: string): ResourceInfo => {
  const r = RESOURCES.find((x) => x.kind === kind);
  assert.ok(r, kind);
  return r;
};

/** Validates after defaulting, as the API server does. */
function validate(kind: string, obj: any, old?: any): StatusCause[] {
  applyDefaults(resource(kind), obj);
  return validateObject(resource(kind), obj as KubeObject, old as KubeObject | undefined);
}

/** The single cause for `field`, failing with the whole list when there is not exactly one. */
function causeAt(causes: StatusCause[], field: string): StatusCause {
  const found = causes.filter((c) => c.field === field);
  assert.equal(found.length, 1, `expected one cause at ${field}, got ${JSON.stringify(causes, null, 2)}`);
  return found[0];
}

const pod = (spec: any = {}, metadata: any = { name: 'web', namespace: 'default' }): any => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata,
  spec: { containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 80, name: 'http' }] }], ...spec },
});

const container = (extra: any): any => ({ name: 'web', image: 'nginx:1.27', ...extra });

const deployment = (spec: any = {}): any => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
  spec: {
    replicas: 3,
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web', tier: 'front' } }, spec: { containers: [container({ ports: [{ containerPort: 80 }] })] } },
    ...spec,
  },
});

const service = (spec: any = {}, name = 'web'): any => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }], ...spec },
});

test('valid objects of every kind have no causes', () => {
  assert.deepEqual(validate('Pod', pod()), []);
  assert.deepEqual(validate('Deployment', deployment()), []);
  assert.deepEqual(validate('ReplicaSet', { ...deployment(), kind: 'ReplicaSet', metadata: { name: 'web-5d4f8', namespace: 'default' } }), []);
  assert.deepEqual(validate('Service', service()), []);
  assert.deepEqual(validate('Service', service({ clusterIP: 'None', ports: undefined })), [], 'headless services need no ports');
  assert.deepEqual(validate('Service', service({ type: 'ExternalName', externalName: 'db.example.com', ports: undefined, selector: undefined })), []);
  assert.deepEqual(validate('ConfigMap', { metadata: { name: 'cfg', namespace: 'default' }, data: { 'app.properties': 'a=1', KEY_2: 'x' } }), []);
  assert.deepEqual(validate('Secret', { metadata: { name: 's', namespace: 'default' }, data: { password: 'c2VjcmV0' }, stringData: { user: 'me' } }), []);
  assert.deepEqual(validate('Namespace', { metadata: { name: 'team-a' } }), []);
  assert.deepEqual(validate('Node', { metadata: { name: 'node-1.example.com' }, spec: { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] } }), []);
  assert.deepEqual(validate('Pod', pod({}, { generateName: 'web-', namespace: 'default' })), []);
});

test('a bad name is reported at metadata.name in Kubernetes words', () => {
  const c = causeAt(validate('Pod', pod({}, { name: 'My_Name' })), 'metadata.name');
  assert.equal(c.reason, 'FieldValueInvalid');
  assert.ok(
    c.message.startsWith(
      `Invalid value: "My_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com'`,
    ),
    c.message,
  );
  const long = causeAt(validate('ConfigMap', { metadata: { name: 'a'.repeat(254) } }), 'metadata.name');
  assert.match(long.message, /must be no more than 253 characters/);
});

test('metadata.name is required unless generateName is given, and generateName is checked', () => {
  const missing = causeAt(validate('Pod', pod({}, { namespace: 'default' })), 'metadata.name');
  assert.equal(missing.reason, 'FieldValueRequired');
  assert.equal(missing.message, 'Required value: name or generateName is required');
  assert.equal(causeAt(validate('Pod', { spec: pod().spec }), 'metadata.name').reason, 'FieldValueRequired');
  assert.equal(causeAt(validate('Pod', pod({}, { generateName: 'Web-' })), 'metadata.generateName').reason, 'FieldValueInvalid');
  assert.equal(causeAt(validate('Pod', pod({}, { name: 42 })), 'metadata.name').reason, 'FieldValueTypeInvalid');
});

test('Namespaces and Services have label-shaped names; namespaces are checked on namespaced objects only', () => {
  assert.match(causeAt(validate('Namespace', { metadata: { name: 'team.a' } }), 'metadata.name').message, /RFC 1123 label/);
  assert.match(causeAt(validate('Service', service({}, '1web')), 'metadata.name').message, /DNS-1035 label .* start with an alphabetic character/);
  assert.deepEqual(validate('Deployment', { ...deployment(), metadata: { name: 'web.v1' } }), [], 'a subdomain is fine for Deployments');
  assert.match(causeAt(validate('Pod', pod({}, { name: 'web', namespace: 'Team_A' })), 'metadata.namespace').message, /RFC 1123 label/);
  const ns = causeAt(validate('Node', { metadata: { name: 'n1', namespace: 'default' } }), 'metadata.namespace');
  assert.equal(ns.reason, 'FieldValueForbidden');
  assert.equal(ns.message, 'Forbidden: not allowed on this type');
});

test('label keys and values, and annotation keys, are checked', () => {
  const causes = validate('Pod', pod({}, { name: 'web', labels: { 'bad key': 'x', app: '-web', 'example.com/ok': 'yes', 'Bad_Prefix/x': 'y' }, annotations: { '/nope': 'v', 'kubectl.kubernetes.io/last-applied-configuration': '{}' } }));
  const labels = causes.filter((c) => c.field === 'metadata.labels');
  assert.equal(labels.length, 3, JSON.stringify(labels));
  assert.ok(labels.some((c) => c.message.startsWith('Invalid value: "bad key": name part must consist of alphanumeric characters')));
  assert.ok(labels.some((c) => c.message.startsWith('Invalid value: "-web": a valid label must be an empty string or consist of alphanumeric characters')));
  assert.ok(labels.some((c) => c.message.startsWith('Invalid value: "Bad_Prefix/x": prefix part a lowercase RFC 1123 subdomain')));
  assert.match(causeAt(causes, 'metadata.annotations').message, /^Invalid value: "\/nope": prefix part must be non-empty/);
  assert.equal(causeAt(validate('Pod', pod({}, { name: 'web', labels: { replicas: 3 } })), 'metadata.labels[replicas]').reason, 'FieldValueTypeInvalid');
});

test('a Pod needs containers with unique DNS-label names and images', () => {
  assert.equal(causeAt(validate('Pod', pod({ containers: [] })), 'spec.containers').reason, 'FieldValueRequired');
  assert.equal(causeAt(validate('Pod', { metadata: { name: 'p' }, spec: {} }), 'spec.containers').reason, 'FieldValueRequired');
  assert.equal(causeAt(validate('Pod', { metadata: { name: 'p' } }), 'spec').reason, 'FieldValueRequired');
  assert.equal(causeAt(validate('Pod', pod({ containers: 'nginx' })), 'spec.containers').reason, 'FieldValueTypeInvalid');
  const causes = validate('Pod', pod({ containers: [container({}), container({ image: undefined }), container({ name: 'Web_2' })] }));
  assert.equal(causeAt(causes, 'spec.containers[1].name').message, 'Duplicate value: "web"');
  assert.equal(causeAt(causes, 'spec.containers[1].image').reason, 'FieldValueRequired');
  assert.match(causeAt(causes, 'spec.containers[2].name').message, /^Invalid value: "Web_2": a lowercase RFC 1123 label/);
  const init = validate('Pod', pod({ initContainers: [container({})] }));
  assert.equal(causeAt(init, 'spec.containers[0].name').reason, 'FieldValueDuplicate', 'names are unique across init containers too');
});

test('container ports: 1-65535, integers, IANA names, known protocols', () => {
  const causes = validate(
    'Pod',
    pod({
      containers: [
        container({
          ports: [
            { containerPort: 70000 },
            { containerPort: '80' },
            { containerPort: 8080, hostPort: 0, name: 'a-very-long-port-name' },
            { containerPort: 9090, hostPort: 70000, protocol: 'HTTP', name: 'metrics' },
            { name: 'metrics', containerPort: 9091 },
            {},
          ],
        }),
      ],
    }),
  );
  const range = causeAt(causes, 'spec.containers[0].ports[0].containerPort');
  assert.equal(range.reason, 'FieldValueInvalid');
  assert.equal(range.message, 'Invalid value: 70000: must be between 1 and 65535, inclusive');
  const typed = causeAt(causes, 'spec.containers[0].ports[1].containerPort');
  assert.equal(typed.reason, 'FieldValueTypeInvalid');
  assert.match(typed.message, /^Invalid value: "80": must be of type integer, not string \(write 80 without quotes\)$/);
  assert.equal(causeAt(causes, 'spec.containers[0].ports[2].name').message, 'Invalid value: "a-very-long-port-name": must be no more than 15 characters');
  assert.equal(causes.filter((c) => c.field === 'spec.containers[0].ports[2].hostPort').length, 0, 'hostPort 0 means none');
  assert.equal(causeAt(causes, 'spec.containers[0].ports[3].hostPort').reason, 'FieldValueInvalid');
  assert.equal(causeAt(causes, 'spec.containers[0].ports[3].protocol').message, 'Unsupported value: "HTTP": supported values: "TCP", "UDP", "SCTP"');
  assert.equal(causeAt(causes, 'spec.containers[0].ports[4].name').reason, 'FieldValueDuplicate');
  assert.equal(causeAt(causes, 'spec.containers[0].ports[5].containerPort').reason, 'FieldValueRequired');
});

test('Pod-level enums and numbers', () => {
  const causes = validate('Pod', pod({ restartPolicy: 'Sometimes', terminationGracePeriodSeconds: -1, dnsPolicy: 'Google', nodeName: 'Node_1' }));
  assert.equal(causeAt(causes, 'spec.restartPolicy').message, 'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"');
  assert.equal(causeAt(causes, 'spec.restartPolicy').reason, 'FieldValueNotSupported');
  assert.equal(causeAt(causes, 'spec.terminationGracePeriodSeconds').message, 'Invalid value: -1: must be greater than or equal to 0');
  assert.equal(causeAt(causes, 'spec.dnsPolicy').reason, 'FieldValueNotSupported');
  assert.equal(causeAt(causes, 'spec.nodeName').reason, 'FieldValueInvalid');
  assert.equal(causeAt(validate('Pod', pod({ terminationGracePeriodSeconds: '30' })), 'spec.terminationGracePeriodSeconds').reason, 'FieldValueTypeInvalid');
});

test('resources must be quantities, and requests may not exceed limits', () => {
  const causes = validate(
    'Pod',
    pod({
      containers: [
        container({
          resources: {
            limits: { cpu: '500m', memory: '128Mi', gpu: '1' },
            requests: { cpu: '1', memory: 'lots', 'example.com/foo': -1, 'ephemeral-storage': true },
          },
        }),
      ],
    }),
  );
  const p = 'spec.containers[0].resources';
  assert.equal(causeAt(causes, `${p}.requests[memory]`).message, 'Invalid value: "lots": must be a quantity such as "500m", "2", "128Mi" or "1Gi"');
  assert.equal(causeAt(causes, `${p}.requests[cpu]`).message, 'Invalid value: "1": must be less than or equal to cpu limit of 500m');
  assert.match(causeAt(causes, `${p}.limits[gpu]`).message, /must be a standard resource for containers/);
  assert.equal(causeAt(causes, `${p}.requests[example.com/foo]`).message, 'Invalid value: -1: must be greater than or equal to 0');
  assert.equal(causeAt(causes, `${p}.requests[ephemeral-storage]`).reason, 'FieldValueTypeInvalid');
  assert.deepEqual(validate('Pod', pod({ containers: [container({ resources: { limits: { cpu: 2, memory: '1Gi' }, requests: { cpu: '100m', memory: '128Mi' } } })] })), []);
});

test('env var names and values', () => {
  const causes = validate('Pod', pod({ containers: [container({ env: [{ name: '1BAD', value: 'x' }, { name: 'PORT', value: 8080 }, { value: 'x' }, { name: 'OK.name-1', value: '' }] })] }));
  assert.match(causeAt(causes, 'spec.containers[0].env[0].name').message, /^Invalid value: "1BAD": a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit/);
  assert.equal(causeAt(causes, 'spec.containers[0].env[1].value').reason, 'FieldValueTypeInvalid');
  assert.equal(causeAt(causes, 'spec.containers[0].env[2].name').reason, 'FieldValueRequired');
  assert.equal(causes.length, 3, JSON.stringify(causes));
});

test('probes: non-negative integers, one handler, valid ports, successThreshold 1 for liveness', () => {
  const causes = validate(
    'Pod',
    pod({
      containers: [
        container({
          livenessProbe: { httpGet: { port: 70000 }, periodSeconds: -5, successThreshold: 2 },
          readinessProbe: { tcpSocket: { port: 'http' }, exec: { command: ['true'] }, initialDelaySeconds: '5', successThreshold: 3 },
          startupProbe: { failureThreshold: 30 },
        }),
      ],
    }),
  );
  const p = 'spec.containers[0]';
  assert.equal(causeAt(causes, `${p}.livenessProbe.httpGet.port`).message, 'Invalid value: 70000: must be between 1 and 65535, inclusive');
  assert.equal(causeAt(causes, `${p}.livenessProbe.periodSeconds`).message, 'Invalid value: -5: must be greater than or equal to 0');
  assert.equal(causeAt(causes, `${p}.livenessProbe.successThreshold`).message, 'Invalid value: 2: must be 1');
  assert.equal(causeAt(causes, `${p}.readinessProbe.tcpSocket`).reason, 'FieldValueForbidden');
  assert.equal(causeAt(causes, `${p}.readinessProbe.initialDelaySeconds`).reason, 'FieldValueTypeInvalid');
  assert.equal(causes.filter((c) => c.field === `${p}.readinessProbe.successThreshold`).length, 0, 'readiness may need several successes');
  assert.equal(causeAt(causes, `${p}.startupProbe`).reason, 'FieldValueRequired');
  const named = validate('Pod', pod({ containers: [container({ livenessProbe: { httpGet: { port: '8080' } } })] }));
  assert.match(causeAt(named, `${p}.livenessProbe.httpGet.port`).message, /write the number 8080 without quotes/);
});

test('volume mounts must name a volume', () => {
  const causes = validate('Pod', pod({ volumes: [{ name: 'data', emptyDir: {} }], containers: [container({ volumeMounts: [{ name: 'data', mountPath: '/data' }, { name: 'cache', mountPath: '/cache' }] })] }));
  assert.equal(causeAt(causes, 'spec.containers[0].volumeMounts[1].name').reason, 'FieldValueNotFound');
  assert.equal(causes.length, 1);
});

test('a Deployment selector must be present, non-empty and match the template labels', () => {
  const mismatch = causeAt(
    validate('Deployment', deployment({ selector: { matchLabels: { app: 'api' } } })),
    'spec.template.metadata.labels',
  );
  assert.equal(mismatch.reason, 'FieldValueInvalid');
  assert.equal(mismatch.message, 'Invalid value: {"app":"web","tier":"front"}: `selector` does not match template `labels`');
  assert.equal(causeAt(validate('Deployment', deployment({ selector: undefined })), 'spec.selector').reason, 'FieldValueRequired');
  assert.match(causeAt(validate('Deployment', deployment({ selector: {} })), 'spec.selector').message, /empty selector is invalid for deployment/);
  assert.deepEqual(
    validate('Deployment', deployment({ selector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }] } })),
    [],
  );
  const exprs = validate('Deployment', deployment({ selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'Equals', values: ['front'] }, { key: 'x', operator: 'In' }] } }));
  assert.equal(causeAt(exprs, 'spec.selector.matchExpressions[0].operator').reason, 'FieldValueNotSupported');
  assert.equal(causeAt(exprs, 'spec.selector.matchExpressions[1].values').reason, 'FieldValueRequired');
  const noLabels = deployment();
  delete noLabels.spec.template.metadata;
  causeAt(validate('Deployment', noLabels), 'spec.template.metadata.labels');
});

test('Deployment replicas, strategy and template are checked, with template paths', () => {
  const causes = validate(
    'Deployment',
    deployment({
      replicas: -1,
      strategy: { type: 'BlueGreen' },
      template: { metadata: { labels: { app: 'web' } }, spec: { restartPolicy: 'Never', containers: [container({ ports: [{ containerPort: 70000 }, { containerPort: '80' }] })] } },
    }),
  );
  assert.equal(causeAt(causes, 'spec.replicas').message, 'Invalid value: -1: must be greater than or equal to 0');
  assert.equal(causeAt(causes, 'spec.strategy.type').message, 'Unsupported value: "BlueGreen": supported values: "Recreate", "RollingUpdate"');
  assert.equal(causeAt(causes, 'spec.template.spec.restartPolicy').message, 'Unsupported value: "Never": supported values: "Always"');
  assert.equal(causeAt(causes, 'spec.template.spec.containers[0].ports[0].containerPort').message, 'Invalid value: 70000: must be between 1 and 65535, inclusive');
  assert.equal(causeAt(causes, 'spec.template.spec.containers[0].ports[1].containerPort').reason, 'FieldValueTypeInvalid');
  assert.equal(causeAt(validate('Deployment', deployment({ replicas: '3' })), 'spec.replicas').reason, 'FieldValueTypeInvalid');
  assert.equal(causeAt(validate('Deployment', deployment({ replicas: 1.5 })), 'spec.replicas').message, 'Invalid value: 1.5: must be an integer');
  assert.equal(causeAt(validate('Deployment', deployment({ template: undefined })), 'spec.template').reason, 'FieldValueRequired');

  const recreate = validate('Deployment', deployment({ strategy: { type: 'Recreate', rollingUpdate: { maxSurge: 1 } } }));
  assert.equal(causeAt(recreate, 'spec.strategy.rollingUpdate').reason, 'FieldValueForbidden');
  const zero = validate('Deployment', deployment({ strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: '0%' } } }));
  assert.match(causeAt(zero, 'spec.strategy.rollingUpdate.maxUnavailable').message, /may not be 0 when `maxSurge` is 0/);
  const pct = validate('Deployment', deployment({ strategy: { rollingUpdate: { maxSurge: '25 percent', maxUnavailable: '120%' } } }));
  assert.match(causeAt(pct, 'spec.strategy.rollingUpdate.maxSurge').message, /a valid percent string/);
  assert.match(causeAt(pct, 'spec.strategy.rollingUpdate.maxUnavailable').message, /must not be greater than 100%/);
});

test('the selector of Deployments and ReplicaSets is immutable', () => {
  const old = deployment();
  applyDefaults(resource('Deployment'), old);
  const scaled = structuredClone(old);
  scaled.spec.replicas = 5;
  scaled.spec.selector = { matchLabels: { app: 'web' } };
  assert.deepEqual(validate('Deployment', scaled, old), []);
  const changed = deployment({ selector: { matchLabels: { app: 'web', tier: 'front' } } });
  const c = causeAt(validate('Deployment', changed, old), 'spec.selector');
  assert.equal(c.message, 'Invalid value: {"matchLabels":{"app":"web","tier":"front"}}: field is immutable');
  const rs = { ...deployment(), kind: 'ReplicaSet' };
  const rsChanged = { ...deployment({ selector: { matchLabels: { tier: 'front' } } }), kind: 'ReplicaSet' };
  causeAt(validate('ReplicaSet', rsChanged, rs), 'spec.selector');
});

test('Service ports: required, 1-65535, targetPort number or name, nodePort range, names when several', () => {
  assert.equal(causeAt(validate('Service', service({ ports: [] })), 'spec.ports').reason, 'FieldValueRequired');
  assert.equal(causeAt(validate('Service', service({ ports: undefined })), 'spec.ports').reason, 'FieldValueRequired');
  const causes = validate(
    'Service',
    service({
      type: 'NodePort',
      ports: [
        { name: 'http', port: 70000, targetPort: '8080' },
        { name: 'http', port: 443, targetPort: 'https', nodePort: 80 },
        { port: 53, protocol: 'UDP', targetPort: 70000 },
        { name: 'grpc', port: '9000', nodePort: 30080 },
      ],
    }),
  );
  assert.equal(causeAt(causes, 'spec.ports[0].port').message, 'Invalid value: 70000: must be between 1 and 65535, inclusive');
  assert.match(causeAt(causes, 'spec.ports[0].targetPort').message, /^Invalid value: "8080": must be a port number or a port name; write the number 8080 without quotes/);
  assert.equal(causeAt(causes, 'spec.ports[1].name').message, 'Duplicate value: "http"');
  assert.equal(causeAt(causes, 'spec.ports[1].nodePort').message, 'Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767');
  assert.equal(causeAt(causes, 'spec.ports[2].name').reason, 'FieldValueRequired');
  assert.equal(causeAt(causes, 'spec.ports[2].targetPort').reason, 'FieldValueInvalid');
  assert.equal(causeAt(causes, 'spec.ports[3].port').reason, 'FieldValueTypeInvalid');
  assert.equal(causes.filter((c) => c.field === 'spec.ports[1].targetPort').length, 0, 'a named targetPort is fine');

  const clusterNodePort = validate('Service', service({ ports: [{ port: 80, nodePort: 30080 }] }));
  assert.equal(causeAt(clusterNodePort, 'spec.ports[0].nodePort').reason, 'FieldValueForbidden');
  const dup = validate('Service', service({ ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80 }] }));
  assert.equal(causeAt(dup, 'spec.ports[1]').reason, 'FieldValueDuplicate');
  assert.deepEqual(validate('Service', service({ ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }] })), []);
});

test('Service port 0 and a node port used twice in one Service are invalid; one node port for TCP and UDP is fine', () => {
  assert.equal(causeAt(validate('Service', service({ ports: [{ port: 0, targetPort: 8080 }] })), 'spec.ports[0].port').message, 'Invalid value: 0: must be between 1 and 65535, inclusive');
  const twice = validate('Service', service({ type: 'NodePort', ports: [{ name: 'a', port: 80, nodePort: 30080 }, { name: 'b', port: 81, nodePort: 30080 }] }));
  assert.equal(causeAt(twice, 'spec.ports[1].nodePort').message, 'Duplicate value: 30080');
  assert.equal(twice.length, 1);
  const both = service({ type: 'NodePort', ports: [{ name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 }, { name: 'dns-tcp', port: 53, protocol: 'TCP', nodePort: 30053 }] });
  assert.deepEqual(validate('Service', both), []);
  assert.equal(causeAt(validate('Service', service({ ports: [{ port: 80, targetPort: -1 }] })), 'spec.ports[0].targetPort').reason, 'FieldValueInvalid');
});

test('Service type and clusterIP', () => {
  assert.equal(causeAt(validate('Service', service({ type: 'Internal' })), 'spec.type').message, 'Unsupported value: "Internal": supported values: "ClusterIP", "NodePort", "LoadBalancer", "ExternalName"');
  assert.match(causeAt(validate('Service', service({ clusterIP: '127.77.0.300' })), 'spec.clusterIP').message, /valid IPv4 address/);
  assert.match(causeAt(validate('Service', service({ clusterIP: 'None', type: 'NodePort' })), 'spec.clusterIP').message, /may not be set to 'None' for NodePort services/);
  assert.deepEqual(validate('Service', service({ clusterIP: '127.77.0.10' })), []);
  assert.equal(causeAt(validate('Service', service({ type: 'ExternalName', ports: undefined })), 'spec.externalName').reason, 'FieldValueRequired');
});

test('an allocated Service clusterIP is immutable, but an empty one on update is left for the server', () => {
  const old = service({ clusterIP: '127.77.0.20' });
  const moved = causeAt(validate('Service', service({ clusterIP: '127.77.0.21' }), old), 'spec.clusterIP');
  assert.equal(moved.message, 'Invalid value: "127.77.0.21": field is immutable');
  assert.deepEqual(validate('Service', service({ clusterIP: '127.77.0.20' }), old), []);
  assert.deepEqual(validate('Service', service({ clusterIP: '' }), old), []);
  assert.deepEqual(validate('Service', service({}), old), []);
  assert.deepEqual(validate('Service', service({ clusterIP: '127.77.0.21' }), service({ clusterIP: '' })), []);
});

test('ConfigMap and Secret keys, base64 values, typed Secrets and immutability', () => {
  const cm = validate('ConfigMap', { metadata: { name: 'c' }, data: { 'bad/key': 'x', '..hidden': 'y', port: 80 } });
  assert.match(causeAt(cm.filter((c) => c.message.includes('bad/key')), 'data').message, /a valid config key must consist of alphanumeric characters, '-', '_' or '\.'/);
  assert.ok(cm.some((c) => c.field === 'data' && c.message === `Invalid value: "..hidden": must not start with '..'`));
  assert.equal(causeAt(cm, 'data[port]').reason, 'FieldValueTypeInvalid');

  const secret = validate('Secret', { metadata: { name: 's' }, data: { password: 'not base64!', ok: 'b2s=' } });
  const bad = causeAt(secret, 'data[password]');
  assert.ok(!bad.message.includes('not base64!'), 'secret values are not echoed');
  assert.match(bad.message, /must be base64-encoded/);
  assert.equal(secret.length, 1);

  const tls = validate('Secret', { metadata: { name: 't' }, type: 'kubernetes.io/tls', stringData: { 'tls.crt': 'x' } });
  assert.equal(causeAt(tls, 'data[tls.key]').reason, 'FieldValueRequired');

  const old = { metadata: { name: 'c' }, immutable: true, data: { a: '1' } };
  assert.deepEqual(validate('ConfigMap', { metadata: { name: 'c' }, immutable: true, data: { a: '1' } }, old), []);
  assert.equal(causeAt(validate('ConfigMap', { metadata: { name: 'c' }, immutable: true, data: { a: '2' } }, old), 'data').reason, 'FieldValueForbidden');
});

test('causes feed errors.invalid into a Kubernetes-shaped 422', () => {
  const causes = validate('Deployment', { ...deployment({ selector: { matchLabels: { app: 'api' } } }), metadata: { name: 'My_Name' } });
  const err = errors.invalid('Deployment', 'My_Name', causes, 'apps');
  assert.equal(err.code, 422);
  assert.match(err.message, /^Deployment "My_Name" is invalid: \[metadata\.name: Invalid value: "My_Name": .*, spec\.template\.metadata\.labels: Invalid value: .*`selector` does not match template `labels`\]$/);
  assert.deepEqual(err.details?.causes?.map((c) => c.field), ['metadata.name', 'spec.template.metadata.labels']);
});

test('name syntax helpers', () => {
  assert.deepEqual(isDNS1123Subdomain('web.example.com'), []);
  assert.equal(isDNS1123Subdomain('-web').length, 1);
  assert.deepEqual(isQualifiedName('app.kubernetes.io/name'), []);
  assert.equal(isQualifiedName('a/b/c').length, 1);
  assert.deepEqual(isValidPortName('http'), []);
  assert.deepEqual(isValidPortName('8080'), ['must contain at least one letter (a-z)']);
  assert.deepEqual(isValidPortName('-a--b'), ['must not contain consecutive hyphens', 'must not begin or end with a hyphen']);
});
