// Decoding the protobuf bodies `kubectl create …` sends. The captured bodies were recorded from
// kubectl 1.32 against a logging fake server; each decodes to what kubectl itself prints for the
// same command with `--dry-run=client -o json` (minus `creationTimestamp: null` and empty status).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../../api/errors.js';
import { decodeKubeProtobuf, PROTOBUF_KINDS } from './protobuf.js';
import { KUBECTL_PROTOBUF as CAPTURED } from '../../test/kubectl-protobuf.js';


function captured(name: string): Uint8Array {
  return Buffer.from(CAPTURED[name], 'hex');
}

// A tiny protobuf writer, just enough to build envelopes field by field.
type Bytes = number[];

function varint(value: number | bigint): Bytes {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: Bytes = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) b |= 0x80;
    out.push(b);
  } while (v !== 0n);
  return out;
}
const tag = (no: number, wire: number): Bytes => varint(no * 8 + wire);
const int = (no: number, value: number | bigint): Bytes => [...tag(no, 0), ...varint(value)];
const bool = (no: number, value: boolean): Bytes => int(no, value ? 1 : 0);
const bytes = (no: number, data: Uint8Array | Bytes): Bytes => [...tag(no, 2), ...varint(data.length), ...data];
const str = (no: number, s: string): Bytes => bytes(no, [...Buffer.from(s, 'utf8')]);
const msg = (no: number, ...fields: Bytes[]): Bytes => bytes(no, fields.flat());
const entry = (no: number, key: string, value: Bytes): Bytes => msg(no, str(1, key), value);
const strMap = (no: number, m: Record<string, string>): Bytes => Object.entries(m).flatMap(([k, v]) => entry(no, k, str(2, v)));
const fixed32 = (no: number): Bytes => [...tag(no, 5), 1, 2, 3, 4];
const fixed64 = (no: number): Bytes => [...tag(no, 1), 1, 2, 3, 4, 5, 6, 7, 8];

function envelope(apiVersion: string, kind: string, raw: Bytes, extra: Bytes[] = []): Uint8Array {
  return Uint8Array.from([0x6b, 0x38, 0x73, 0x00, ...msg(1, str(1, apiVersion), str(2, kind)), ...bytes(2, raw), ...str(3, ''), ...str(4, ''), ...extra.flat()]);
}

function expectApiError(body: Uint8Array, codes: number[], message?: RegExp): void {
  assert.throws(
    () => decodeKubeProtobuf(body),
    (e: unknown) => e instanceof ApiError && codes.includes(e.code) && (!message || message.test(e.message)),
  );
}

describe('decodeKubeProtobuf: bodies captured from kubectl create', () => {
  it('namespace', () => {
    assert.deepEqual(decodeKubeProtobuf(captured('namespace')), {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'demo' },
      spec: {},
      status: {},
    });
  });

  it('configmap --from-literal', () => {
    assert.deepEqual(decodeKubeProtobuf(captured('configmap')), {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cfg' },
      data: { a: '1', b: 'two' },
    });
  });

  it('secret generic: data bytes become base64 strings, empty type is dropped', () => {
    assert.deepEqual(decodeKubeProtobuf(captured('secret')), {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'sec' },
      data: { pw: Buffer.from('p@ss').toString('base64'), user: Buffer.from('admin').toString('base64') },
    });
  });

  it('deployment --replicas=2 --port=80', () => {
    assert.deepEqual(decodeKubeProtobuf(captured('deployment')), {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', labels: { app: 'web' } },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'nginx', image: 'nginx:1.25', ports: [{ containerPort: 80 }], resources: {} }] },
        },
        strategy: {},
      },
    });
  });

  it('deployment with a command', () => {
    const d = decodeKubeProtobuf(captured('deploymentCommand')) as unknown as {
      spec: { replicas: number; template: { spec: { containers: unknown[] } } };
    };
    assert.equal(d.spec.replicas, 1);
    assert.deepEqual(d.spec.template.spec.containers, [{ name: 'busybox', image: 'busybox', command: ['sleep', '3600'], resources: {} }]);
  });

  it('deployment --replicas=0 keeps the explicit zero', () => {
    const d = decodeKubeProtobuf(captured('deploymentZeroReplicas')) as unknown as { spec: { replicas: number } };
    assert.equal(d.spec.replicas, 0);
  });

  it('service clusterip: targetPort as number and as name, nodePort 0 dropped', () => {
    assert.deepEqual(decodeKubeProtobuf(captured('serviceClusterIP')), {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'websvc', labels: { app: 'websvc' } },
      spec: {
        ports: [
          { name: '80-8080', protocol: 'TCP', port: 80, targetPort: 8080 },
          { name: '443-web', protocol: 'TCP', port: 443, targetPort: 'web' },
        ],
        selector: { app: 'websvc' },
        type: 'ClusterIP',
      },
    });
  });

  it('service clusterip --clusterip=None', () => {
    const s = decodeKubeProtobuf(captured('serviceHeadless'));
    assert.deepEqual(s.spec, { selector: { app: 'headless' }, clusterIP: 'None', type: 'ClusterIP' });
  });

  it('service nodeport and externalname', () => {
    assert.deepEqual(decodeKubeProtobuf(captured('serviceNodePort')).spec, {
      ports: [{ name: '8080-80', protocol: 'TCP', port: 8080, targetPort: 80, nodePort: 30080 }],
      selector: { app: 'np' },
      type: 'NodePort',
    });
    assert.deepEqual(decodeKubeProtobuf(captured('serviceExternalName')).spec, {
      selector: { app: 'ext' },
      type: 'ExternalName',
      externalName: 'example.com',
    });
  });
});

describe('decodeKubeProtobuf: schema coverage', () => {
  const objectMeta = msg(
    1,
    str(1, 'web'),
    str(2, 'web-'),
    str(3, 'prod'),
    str(5, 'uid-1'),
    str(6, '42'),
    int(7, 3),
    msg(8, int(1, 1735689600), int(2, 500)),
    strMap(11, { app: 'web', tier: 'front' }),
    strMap(12, { note: 'hi' }),
    msg(13, str(1, 'ReplicaSet'), str(3, 'web-abc'), str(4, 'rs-uid'), str(5, 'apps/v1'), bool(6, true), bool(7, false)),
    str(14, 'example.com/cleanup'),
    str(14, 'other'),
    msg(17, str(1, 'managed fields are skipped')),
  );

  it('ObjectMeta: every covered field, creationTimestamp as RFC 3339, unknown fields skipped', () => {
    const ns = decodeKubeProtobuf(envelope('v1', 'Namespace', [...objectMeta, ...msg(2, str(1, 'kubernetes')), ...msg(3, str(1, 'Active'))]));
    assert.deepEqual(ns, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: 'web',
        generateName: 'web-',
        namespace: 'prod',
        uid: 'uid-1',
        resourceVersion: '42',
        generation: 3,
        creationTimestamp: '2025-01-01T00:00:00Z',
        labels: { app: 'web', tier: 'front' },
        annotations: { note: 'hi' },
        ownerReferences: [{ kind: 'ReplicaSet', name: 'web-abc', uid: 'rs-uid', apiVersion: 'apps/v1', controller: true, blockOwnerDeletion: false }],
        finalizers: ['example.com/cleanup', 'other'],
      },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    });
  });

  it('ConfigMap binaryData and immutable', () => {
    const cm = decodeKubeProtobuf(
      envelope('v1', 'ConfigMap', [...msg(1, str(1, 'bin')), ...entry(3, 'blob', bytes(2, [0, 255, 1])), ...bool(4, false)]),
    );
    assert.deepEqual(cm, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'bin' }, binaryData: { blob: 'AP8B' }, immutable: false });
  });

  it('Secret stringData, type and immutable', () => {
    const s = decodeKubeProtobuf(
      envelope('v1', 'Secret', [
        ...msg(1, str(1, 's')),
        ...entry(2, 'k', bytes(2, [...Buffer.from('v')])),
        ...str(3, 'kubernetes.io/basic-auth'),
        ...strMap(4, { username: 'u' }),
        ...bool(5, true),
      ]),
    );
    assert.deepEqual(s, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's' },
      data: { k: 'dg==' },
      type: 'kubernetes.io/basic-auth',
      stringData: { username: 'u' },
      immutable: true,
    });
  });

  it('Service spec fields', () => {
    const spec = msg(
      2,
      msg(1, str(1, 'dns'), str(2, 'UDP'), int(3, 53), msg(4, int(1, 0), int(2, 5353)), int(5, 0), str(6, 'dns')),
      strMap(2, { app: 'dns' }),
      str(3, '127.77.0.10'),
      str(4, 'ClusterIP'),
      str(5, '192.0.2.1'),
      str(7, 'ClientIP'),
      str(10, ''),
      str(18, '127.77.0.10'),
      msg(14, msg(1, int(1, 60))),
    );
    const svc = decodeKubeProtobuf(envelope('v1', 'Service', [...msg(1, str(1, 'dns')), ...spec, ...msg(3, msg(1))]));
    assert.deepEqual(svc, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'dns' },
      spec: {
        ports: [{ name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353, appProtocol: 'dns' }],
        selector: { app: 'dns' },
        clusterIP: '127.77.0.10',
        type: 'ClusterIP',
        externalIPs: ['192.0.2.1'],
        sessionAffinity: 'ClientIP',
        clusterIPs: ['127.77.0.10'],
      },
    });
  });

  it('Deployment: strategy with IntOrString, selector expressions, pod spec and containers', () => {
    const container = (name: string, extra: Bytes[] = []): Bytes[] => [
      str(1, name),
      str(2, 'nginx:1.25'),
      str(3, '/bin/sh'),
      str(4, '-c'),
      str(4, ''),
      str(5, '/work'),
      msg(6, str(1, 'http'), int(2, 0), int(3, 8080), str(4, 'TCP'), str(5, '')),
      msg(7, str(1, 'MODE'), str(2, 'prod')),
      msg(7, str(1, 'EMPTY'), str(2, '')),
      msg(8, entry(1, 'cpu', msg(2, str(1, '500m'))), entry(2, 'memory', msg(2, str(1, '64Mi')))),
      msg(9, str(1, 'data'), bool(2, true), str(3, '/data')),
      str(13, '/dev/termination-log'),
      str(14, 'IfNotPresent'),
      str(20, 'File'),
      ...extra,
    ];
    const podSpec = msg(
      2,
      msg(1, str(1, 'data'), msg(2, msg(2))),
      msg(1, str(1, 'cfg'), msg(2, msg(19, msg(1, str(1, 'app-config')), int(3, 420)))),
      msg(2, ...container('web', [fixed32(99), fixed64(98)])),
      str(3, 'Always'),
      int(4, 0),
      str(6, 'ClusterFirst'),
      strMap(7, { disk: 'ssd' }),
      str(8, 'robot'),
      str(10, ''),
      bool(11, true),
      str(19, 'default-scheduler'),
      msg(20, ...container('init')),
      msg(22, str(1, 'k'), str(2, 'Exists'), str(4, 'NoExecute'), int(5, 30)),
    );
    const spec = msg(
      2,
      int(1, 3),
      msg(2, strMap(1, { app: 'web' }), msg(2, str(1, 'tier'), str(2, 'In'), str(3, 'front'), str(3, 'edge'))),
      msg(3, msg(1, strMap(11, { app: 'web' }), msg(8)), podSpec),
      msg(4, str(1, 'RollingUpdate'), msg(2, msg(1, int(1, 1), int(2, 0), str(3, '25%')), msg(2, int(1, 0), int(2, 0), str(3, '')))),
      int(5, 5),
      int(6, 0),
      bool(7, false),
      int(9, 600),
    );
    const d = decodeKubeProtobuf(envelope('apps/v1', 'Deployment', [...msg(1, str(1, 'web')), ...spec, ...msg(3, int(1, 7))]));
    const expectedContainer = (name: string) => ({
      name,
      image: 'nginx:1.25',
      command: ['/bin/sh'],
      args: ['-c', ''],
      workingDir: '/work',
      ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
      env: [{ name: 'MODE', value: 'prod' }, { name: 'EMPTY' }],
      resources: { limits: { cpu: '500m' }, requests: { memory: '64Mi' } },
      volumeMounts: [{ name: 'data', readOnly: true, mountPath: '/data' }],
      terminationMessagePath: '/dev/termination-log',
      imagePullPolicy: 'IfNotPresent',
      terminationMessagePolicy: 'File',
    });
    assert.deepEqual(d, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'edge'] }] },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            volumes: [
              { name: 'data', emptyDir: {} },
              { name: 'cfg', configMap: { name: 'app-config', defaultMode: 420 } },
            ],
            containers: [expectedContainer('web')],
            restartPolicy: 'Always',
            terminationGracePeriodSeconds: 0,
            dnsPolicy: 'ClusterFirst',
            nodeSelector: { disk: 'ssd' },
            serviceAccountName: 'robot',
            hostNetwork: true,
            schedulerName: 'default-scheduler',
            initContainers: [expectedContainer('init')],
            tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }],
          },
        },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: 0 } },
        minReadySeconds: 5,
        revisionHistoryLimit: 0,
        progressDeadlineSeconds: 600,
      },
    });
  });

  it('a "__proto__" map key is kept as an own key', () => {
    const cm = decodeKubeProtobuf(envelope('v1', 'ConfigMap', [...msg(1, str(1, 'p')), ...entry(2, '__proto__', str(2, 'x'))]));
    const data = cm.data as Record<string, string>;
    assert.equal(Object.getPrototypeOf(data), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(data, '__proto__')?.value, 'x');
  });

  it('negative int32 (10-byte varint) decodes as negative', () => {
    const d = decodeKubeProtobuf(envelope('apps/v1', 'Deployment', [...msg(1, str(1, 'x')), ...msg(2, int(1, -1))]));
    assert.equal((d.spec as { replicas: number }).replicas, -1);
  });

  it('lists the kinds it decodes', () => {
    for (const k of ['v1/Namespace', 'v1/ConfigMap', 'v1/Secret', 'v1/Service', 'apps/v1/Deployment']) assert.ok(PROTOBUF_KINDS.includes(k), k);
  });
});

describe('decodeKubeProtobuf: malformed input is a 400/415, never a crash or a hang', () => {
  it('bad magic and empty body', () => {
    expectApiError(Buffer.from('{"kind":"Pod"}'), [400], /k8s\\0/);
    expectApiError(new Uint8Array(0), [400]);
    expectApiError(Uint8Array.from([0x6b, 0x38]), [400]);
  });

  it('truncated varint', () => {
    expectApiError(Uint8Array.from([0x6b, 0x38, 0x73, 0x00, 0x0a, 0x80]), [400], /truncated varint/);
    expectApiError(Uint8Array.from([0x6b, 0x38, 0x73, 0x00, 0x28, 0xff, 0xff]), [400], /truncated varint/);
  });

  it('varint longer than 10 bytes', () => {
    expectApiError(Uint8Array.from([0x6b, 0x38, 0x73, 0x00, 0x28, ...new Array(11).fill(0xff), 0x01]), [400], /longer than 10 bytes/);
  });

  it('length past the end, at the envelope and inside the object', () => {
    expectApiError(Uint8Array.from([0x6b, 0x38, 0x73, 0x00, 0x0a, 0x7f, 0x0a]), [400], /declares 127 bytes/);
    const raw = [...msg(1, str(1, 'x')), ...tag(2, 2), ...varint(50), 1, 2];
    expectApiError(envelope('v1', 'ConfigMap', raw), [400], /declares 50 bytes/);
    // A huge declared length must not allocate or loop.
    expectApiError(Uint8Array.from([0x6b, 0x38, 0x73, 0x00, 0x12, ...varint(2n ** 62n)]), [400], /declares/);
  });

  it('wrong wire type for a known field and group wire types', () => {
    expectApiError(envelope('v1', 'ConfigMap', [...int(1, 5)]), [400], /wire type 0/);
    expectApiError(envelope('v1', 'ConfigMap', [...tag(9, 3)]), [400], /wire type 3/);
  });

  it('missing typeMeta or raw', () => {
    expectApiError(Uint8Array.from([0x6b, 0x38, 0x73, 0x00, ...bytes(2, [])]), [400], /apiVersion and kind/);
    expectApiError(Uint8Array.from([0x6b, 0x38, 0x73, 0x00, ...msg(1, str(1, 'v1'), str(2, 'ConfigMap'))]), [400], /raw/);
  });

  it('decodes DeleteOptions and an Eviction, as kubectl drain sends them', () => {
    const options = [...int(1, 0), ...msg(2, str(1, 'uid-1')), ...str(4, 'Foreground'), ...str(5, 'All')];
    for (const apiVersion of ['v1', 'meta.k8s.io/v1']) {
      assert.deepEqual(decodeKubeProtobuf(envelope(apiVersion, 'DeleteOptions', options)), {
        apiVersion,
        kind: 'DeleteOptions',
        metadata: {},
        gracePeriodSeconds: 0,
        preconditions: { uid: 'uid-1' },
        propagationPolicy: 'Foreground',
        dryRun: ['All'],
      });
    }
    const eviction = decodeKubeProtobuf(envelope('policy/v1', 'Eviction', [...msg(1, str(1, 'web'), str(3, 'default')), ...msg(2, ...[int(1, 5)])]));
    assert.equal(eviction.metadata.name, 'web');
    assert.equal((eviction as { deleteOptions?: { gracePeriodSeconds?: number } }).deleteOptions?.gracePeriodSeconds, 5);
  });

  it('a kind without a schema is a 415 that says to send JSON or YAML', () => {
    expectApiError(envelope('batch/v1', 'Job', msg(1, str(1, 'j'))), [415], /batch\/v1 Job.*kubectl apply -f/);
    expectApiError(envelope('v1', 'ConfigMap', [], [str(3, 'gzip')]), [415], /contentEncoding "gzip"/);
  });

  it('every truncation and single-byte corruption of real bodies either decodes or throws an ApiError', () => {
    for (const name of Object.keys(CAPTURED)) {
      const body = captured(name);
      for (let cut = 0; cut < body.length; cut++) {
        try {
          decodeKubeProtobuf(body.subarray(0, cut));
        } catch (e) {
          assert.ok(e instanceof ApiError && (e.code === 400 || e.code === 415), `${name} cut at ${cut}: ${String(e)}`);
        }
      }
      for (let at = 4; at < body.length; at++) {
        for (const value of [0x00, 0x7f, 0x80, 0xff, body[at] ^ 0x07]) {
          const bad = Uint8Array.from(body);
          bad[at] = value;
          try {
            decodeKubeProtobuf(bad);
          } catch (e) {
            assert.ok(e instanceof ApiError && (e.code === 400 || e.code === 415), `${name} byte ${at}=${value}: ${String(e)}`);
          }
        }
      }
    }
  });
});
