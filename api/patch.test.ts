// The patch shapes kubectl sends (KUBECTL.md §2.4–2.7) and the RFC 7386 / RFC 6902 examples.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from './errors.js';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from './patch.js';

function deployment(): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'web',
      namespace: 'default',
      uid: 'u1',
      labels: { app: 'web', tier: 'front' },
      annotations: { 'deployment.kubernetes.io/revision': '1', 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
    },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            {
              name: 'web',
              image: 'nginx:1.25',
              ports: [{ containerPort: 80, protocol: 'TCP' }],
              env: [
                { name: 'A', value: '1' },
                { name: 'B', value: '2' },
              ],
              resources: {},
            },
            { name: 'sidecar', image: 'busybox', args: ['sleep', '3600'] },
          ],
          tolerations: [{ key: 'k', operator: 'Exists' }],
        },
      },
    },
  };
}

function containersOf(obj: unknown): Record<string, unknown>[] {
  return (obj as { spec: { template: { spec: { containers: Record<string, unknown>[] } } } }).spec.template.spec.containers;
}

function hasDirective(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasDirective);
  if (value && typeof value === 'object') {
    return Object.entries(value).some(([k, v]) => k.startsWith('$') || hasDirective(v));
  }
  return false;
}

describe('applyMergePatch (RFC 7386)', () => {
  // RFC 7386 appendix A, one row per example.
  const examples: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [i, [target, patch, expected]] of examples.entries()) {
    it(`RFC 7386 example ${i + 1}`, () => {
      assert.deepEqual(applyMergePatch(target, patch), expected);
    });
  }

  it('kubectl scale and label bodies', () => {
    const d = deployment();
    const scaled = applyMergePatch(d, { spec: { replicas: 3 } }) as ReturnType<typeof deployment>;
    assert.equal((scaled.spec as { replicas: number }).replicas, 3);
    const labelled = applyMergePatch(d, { metadata: { labels: { tier: null, env: 'prod' } } }) as { metadata: { labels: unknown } };
    assert.deepEqual(labelled.metadata.labels, { app: 'web', env: 'prod' });
  });

  it('does not mutate its inputs or share objects with them', () => {
    const target = { a: { b: 1 }, keep: { x: [1] } };
    const patch = { a: { c: { d: 2 } } };
    const before = structuredClone([target, patch]);
    const out = applyMergePatch(target, patch) as { a: { c: { d: number } }; keep: { x: number[] } };
    assert.deepEqual([target, patch], before);
    out.a.c.d = 9;
    out.keep.x.push(2);
    assert.deepEqual([target, patch], before);
  });
});

describe('applyStrategicMergePatch', () => {
  it("kubectl apply's patch: containers merged by name with $setElementOrder, other fields kept", () => {
    const patch = {
      metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"new":true}\n' } },
      spec: {
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'web' }, { name: 'sidecar' }],
            containers: [{ image: 'nginx:1.26', name: 'web' }],
          },
        },
      },
    };
    const before = deployment();
    const out = applyStrategicMergePatch(before, patch, 'Deployment') as ReturnType<typeof deployment>;
    const containers = containersOf(out);
    assert.deepEqual(
      containers.map((c) => c.name),
      ['web', 'sidecar'],
    );
    assert.deepEqual(containers[0], {
      name: 'web',
      image: 'nginx:1.26',
      ports: [{ containerPort: 80, protocol: 'TCP' }],
      env: [
        { name: 'A', value: '1' },
        { name: 'B', value: '2' },
      ],
      resources: {},
    });
    assert.deepEqual(containers[1], { name: 'sidecar', image: 'busybox', args: ['sleep', '3600'] });
    const meta = out.metadata as { annotations: Record<string, string>; labels: Record<string, string> };
    assert.equal(meta.annotations['kubectl.kubernetes.io/last-applied-configuration'], '{"new":true}\n');
    assert.equal(meta.annotations['deployment.kubernetes.io/revision'], '1');
    assert.deepEqual(meta.labels, { app: 'web', tier: 'front' });
    assert.equal(hasDirective(out), false);
    assert.deepEqual(before, deployment(), 'input not mutated');
  });

  it('$setElementOrder reorders; elements it does not list keep their order after', () => {
    const target = { spec: { containers: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] } };
    const patch = { spec: { '$setElementOrder/containers': [{ name: 'c' }, { name: 'a' }], containers: [{ name: 'c', image: 'x' }] } };
    const out = applyStrategicMergePatch(target, patch) as { spec: { containers: { name: string }[] } };
    assert.deepEqual(out.spec.containers, [{ name: 'c', image: 'x' }, { name: 'a' }, { name: 'b' }]);
    assert.equal(hasDirective(out), false);
  });

  it('$setElementOrder alone (no list in the patch) is applied and never stored', () => {
    const target = { spec: { containers: [{ name: 'a' }, { name: 'b' }] } };
    const out = applyStrategicMergePatch(target, { spec: { '$setElementOrder/containers': [{ name: 'b' }, { name: 'a' }] } });
    assert.deepEqual(out, { spec: { containers: [{ name: 'b' }, { name: 'a' }] } });
  });

  it('env merged by name (kubectl set env)', () => {
    const patch = {
      spec: { template: { spec: { containers: [{ name: 'web', env: [{ name: 'B', value: 'two' }, { name: 'C', value: '3' }] }] } } },
    };
    const out = applyStrategicMergePatch(deployment(), patch, 'Deployment');
    const env = containersOf(out)[0].env as { name: string; value: string }[];
    assert.deepEqual(
      env.map((e) => `${e.name}=${e.value}`).sort(),
      ['A=1', 'B=two', 'C=3'],
    );
    assert.equal(containersOf(out)[0].image, 'nginx:1.25');
    assert.equal(containersOf(out).length, 2);
  });

  it('$patch: delete removes a container by name', () => {
    const patch = { spec: { template: { spec: { containers: [{ name: 'sidecar', $patch: 'delete' }] } } } };
    const out = applyStrategicMergePatch(deployment(), patch, 'Deployment');
    assert.deepEqual(
      containersOf(out).map((c) => c.name),
      ['web'],
    );
    assert.equal(hasDirective(out), false);
  });

  it('null removes a label', () => {
    const out = applyStrategicMergePatch(deployment(), { metadata: { labels: { tier: null } } }) as { metadata: { labels: unknown } };
    assert.deepEqual(out.metadata.labels, { app: 'web' });
  });

  it('kubectl rollout restart annotation patch', () => {
    const at = '2025-01-01T00:00:00Z';
    const out = applyStrategicMergePatch(
      deployment(),
      { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': at } } } } },
      'Deployment',
    ) as { spec: { template: { metadata: unknown } } };
    assert.deepEqual(out.spec.template.metadata, { labels: { app: 'web' }, annotations: { 'kubectl.kubernetes.io/restartedAt': at } });
    assert.equal(containersOf(out).length, 2);
  });

  it('container ports merge by containerPort', () => {
    const patch = {
      spec: { template: { spec: { containers: [{ name: 'web', ports: [{ containerPort: 80, name: 'http' }, { containerPort: 443 }] }] } } },
    };
    const out = applyStrategicMergePatch(deployment(), patch, 'Deployment');
    const ports = containersOf(out)[0].ports as { containerPort: number }[];
    assert.deepEqual(
      [...ports].sort((a, b) => a.containerPort - b.containerPort),
      [{ containerPort: 80, protocol: 'TCP', name: 'http' }, { containerPort: 443 }],
    );
  });

  it('Service ports merge by port', () => {
    const svc = {
      kind: 'Service',
      spec: {
        selector: { app: 'web' },
        ports: [
          { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' },
          { name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' },
        ],
      },
    };
    const out = applyStrategicMergePatch(svc, { spec: { ports: [{ port: 80, targetPort: 9090 }] } }, 'Service') as typeof svc;
    assert.deepEqual(out.spec.ports, [
      { name: 'http', port: 80, targetPort: 9090, protocol: 'TCP' },
      { name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' },
    ]);
  });

  it('atomic lists (tolerations, args) are replaced', () => {
    const patch = {
      spec: { template: { spec: { tolerations: [{ key: 'other', operator: 'Exists' }], containers: [{ name: 'sidecar', args: ['true'] }] } } },
    };
    const out = applyStrategicMergePatch(deployment(), patch, 'Deployment') as { spec: { template: { spec: { tolerations: unknown } } } };
    assert.deepEqual(out.spec.template.spec.tolerations, [{ key: 'other', operator: 'Exists' }]);
    assert.deepEqual(containersOf(out)[1].args, ['true']);
  });

  it('new list elements are placed as apimachinery places them', () => {
    const target = { spec: { containers: [{ name: 'a' }, { name: 'b' }] } };
    const updated = applyStrategicMergePatch(target, { spec: { containers: [{ name: 'b', image: 'x' }, { name: 'c' }] } });
    assert.deepEqual(updated, { spec: { containers: [{ name: 'a' }, { name: 'b', image: 'x' }, { name: 'c' }] } });
    const added = applyStrategicMergePatch(target, { spec: { containers: [{ name: 'c' }] } });
    assert.deepEqual(added, { spec: { containers: [{ name: 'c' }, { name: 'a' }, { name: 'b' }] } });
  });

  it('$patch: replace on a map and on a list', () => {
    const map = applyStrategicMergePatch(deployment(), { metadata: { labels: { $patch: 'replace', only: 'this' } } }) as {
      metadata: { labels: unknown };
    };
    assert.deepEqual(map.metadata.labels, { only: 'this' });
    const list = applyStrategicMergePatch(
      deployment(),
      { spec: { template: { spec: { containers: [{ $patch: 'replace' }, { name: 'solo', image: 'alpine' }] } } } },
      'Deployment',
    );
    assert.deepEqual(containersOf(list), [{ name: 'solo', image: 'alpine' }]);
  });

  it('$patch: delete on a map removes the field', () => {
    const out = applyStrategicMergePatch(deployment(), { spec: { selector: { $patch: 'delete' } } }) as { spec: Record<string, unknown> };
    assert.equal('selector' in out.spec, false);
  });

  it('$retainKeys keeps only the named keys (strategy type switch)', () => {
    const target = { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } } };
    const out = applyStrategicMergePatch(target, { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } });
    assert.deepEqual(out, { spec: { strategy: { type: 'Recreate' } } });
  });

  it('finalizers: set union, $deleteFromPrimitiveList removes', () => {
    const target = { metadata: { name: 'x', finalizers: ['a', 'b'] } };
    const added = applyStrategicMergePatch(target, { metadata: { finalizers: ['b', 'c'] } }) as { metadata: { finalizers: string[] } };
    assert.deepEqual([...added.metadata.finalizers].sort(), ['a', 'b', 'c']);
    const removed = applyStrategicMergePatch(target, { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } });
    assert.deepEqual(removed, { metadata: { name: 'x', finalizers: ['b'] } });
  });

  it('ownerReferences merge by uid, conditions by type', () => {
    const target = {
      metadata: { ownerReferences: [{ uid: '1', name: 'a' }] },
      status: { conditions: [{ type: 'Available', status: 'False' }, { type: 'Progressing', status: 'True' }] },
    };
    const out = applyStrategicMergePatch(target, {
      metadata: { ownerReferences: [{ uid: '2', name: 'b' }] },
      status: { conditions: [{ type: 'Available', status: 'True' }] },
    }) as typeof target;
    assert.deepEqual(out.metadata.ownerReferences.map((o) => o.uid).sort(), ['1', '2']);
    assert.deepEqual(out.status.conditions, [{ type: 'Available', status: 'True' }, { type: 'Progressing', status: 'True' }]);
  });

  it('directives and nulls inside new subtrees never reach the result', () => {
    const out = applyStrategicMergePatch(
      { spec: {} },
      {
        spec: {
          template: {
            spec: {
              '$setElementOrder/containers': [{ name: 'a' }],
              containers: [{ name: 'a', env: [{ name: 'X', value: '1' }, { name: 'Y', $patch: 'delete' }], image: null }],
            },
          },
        },
      },
    );
    assert.deepEqual(out, { spec: { template: { spec: { containers: [{ name: 'a', env: [{ name: 'X', value: '1' }] }] } } } });
  });

  it('rejects malformed patches with a 400', () => {
    const cases: unknown[] = [
      [1, 2],
      'x',
      { spec: { containers: [{ image: 'no-name' }] } },
      { spec: { $patch: 'explode' } },
      { spec: { $unknown: 1 } },
      { spec: { containers: [{ $patch: 'delete' }] } },
    ];
    for (const patch of cases) {
      assert.throws(
        () => applyStrategicMergePatch(deployment(), patch),
        (e: unknown) => e instanceof ApiError && e.code === 400,
        JSON.stringify(patch),
      );
    }
  });
});

describe('"__proto__" keys from client JSON', () => {
  it('are stored as data and never reach Object.prototype', () => {
    const body = '{"metadata":{"__proto__":{"polluted":1}},"__proto__":{"polluted":2}}';
    const results = [
      applyMergePatch({ metadata: {} }, JSON.parse(body)),
      applyStrategicMergePatch({ metadata: {} }, JSON.parse(body)),
      applyJsonPatch({ metadata: {} }, [{ op: 'add', path: '/metadata/__proto__', value: { polluted: 3 } }]),
    ];
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    for (const r of results) {
      const meta = (r as { metadata: object }).metadata;
      assert.equal(Object.getPrototypeOf(meta), Object.prototype);
      assert.ok(Object.hasOwn(meta, '__proto__'));
    }
  });
});

describe('applyJsonPatch (RFC 6902)', () => {
  it('kubectl rollout undo shape: replace /spec/template and /metadata/annotations', () => {
    const template = { metadata: { labels: { app: 'web' }, creationTimestamp: null }, spec: { containers: [{ name: 'web', image: 'nginx:1.24' }] } };
    const annotations = { 'deployment.kubernetes.io/revision': '3' };
    const ops = [
      { op: 'replace', path: '/spec/template', value: template },
      { op: 'replace', path: '/metadata/annotations', value: annotations },
    ];
    const before = deployment();
    const out = applyJsonPatch(before, ops) as ReturnType<typeof deployment>;
    assert.deepEqual((out.spec as { template: unknown }).template, template);
    assert.deepEqual((out.metadata as { annotations: unknown }).annotations, annotations);
    assert.equal((out.spec as { replicas: number }).replicas, 2);
    assert.deepEqual(before, deployment(), 'input not mutated');
    (ops[0].value as typeof template).spec.containers[0].image = 'changed';
    assert.equal(containersOf(out)[0].image, 'nginx:1.24', 'result shares nothing with the ops');
  });

  it('add with "-" appends; add with an index inserts', () => {
    const out = applyJsonPatch({ a: [1, 2] }, [
      { op: 'add', path: '/a/-', value: 3 },
      { op: 'add', path: '/a/0', value: 0 },
      { op: 'add', path: '/b', value: { c: 1 } },
    ]);
    assert.deepEqual(out, { a: [0, 1, 2, 3], b: { c: 1 } });
  });

  it('~0 and ~1 escapes, remove, move, copy, test', () => {
    const target = { metadata: { annotations: { 'example.com/x': 'v', 'a~b': 'w' } }, list: ['x', 'y'] };
    const out = applyJsonPatch(target, [
      { op: 'test', path: '/metadata/annotations/example.com~1x', value: 'v' },
      { op: 'remove', path: '/metadata/annotations/a~0b' },
      { op: 'copy', from: '/list/1', path: '/list/0' },
      { op: 'move', from: '/metadata/annotations/example.com~1x', path: '/moved' },
      { op: 'remove', path: '/list/2' },
    ]);
    assert.deepEqual(out, { metadata: { annotations: {} }, list: ['y', 'x'], moved: 'v' });
  });

  it('replacing the root returns the new value', () => {
    assert.deepEqual(applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '', value: { b: 2 } }]), { b: 2 });
  });

  it('a failing test names the path', () => {
    assert.throws(
      () => applyJsonPatch(deployment(), [{ op: 'test', path: '/spec/replicas', value: 5 }]),
      (e: unknown) => e instanceof ApiError && e.code === 400 && e.message.includes('/spec/replicas'),
    );
  });

  it('a path that does not exist names the path', () => {
    for (const op of [
      { op: 'replace', path: '/spec/nope/x', value: 1 },
      { op: 'remove', path: '/metadata/missing' },
      { op: 'replace', path: '/metadata/missing', value: 1 },
      { op: 'add', path: '/spec/template/spec/containers/9', value: {} },
      { op: 'move', from: '/nowhere', path: '/x' },
    ]) {
      assert.throws(
        () => applyJsonPatch(deployment(), [op]),
        (e: unknown) => e instanceof ApiError && e.code === 400 && e.message.includes((op.from ?? op.path) as string),
        JSON.stringify(op),
      );
    }
  });

  it('malformed documents are 400s', () => {
    for (const ops of [{}, [{ op: 'add', path: 'no-slash', value: 1 }], [{ op: 'frobnicate', path: '/a' }], [{ op: 'add', path: '/a' }], [null]]) {
      assert.throws(
        () => applyJsonPatch({ a: 1 }, ops),
        (e: unknown) => e instanceof ApiError && e.code === 400,
        JSON.stringify(ops),
      );
    }
  });
});
