import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RESOURCES } from './resources.js';
import { unenforcedFieldWarnings, warningHeader } from './warnings.js';

const byKind = (kind: string) => RESOURCES.find((r) => r.kind === kind)!;

describe('unenforced field warnings', () => {
  it('names pod fields that are stored but not acted on', () => {
    const pod = {
      metadata: { name: 'p' },
      spec: {
        containers: [{ name: 'c', image: 'i', securityContext: { runAsUser: 1000 } }],
        affinity: { nodeAffinity: {} },
        tolerations: [],
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'x' } }, { name: 'tmp', emptyDir: {} }],
      },
    };
    assert.deepEqual(unenforcedFieldWarnings(byKind('Pod'), pod), [
      'spec.affinity: node and pod affinity are not used by the tugboat scheduler',
      'spec.volumes[0].persistentVolumeClaim: only emptyDir, hostPath, configMap, secret, downwardAPI and projected volumes are mounted',
      'spec.containers[0].securityContext: container security settings are not applied',
    ]);
  });

  it('looks into deployment templates with their field path', () => {
    const deploy = { metadata: { name: 'd' }, spec: { template: { spec: { containers: [], priorityClassName: 'high' } } } };
    assert.deepEqual(unenforcedFieldWarnings(byKind('Deployment'), deploy), ['spec.template.spec.priorityClassName: pod priority and preemption are not implemented']);
  });

  it('says nothing for a plain object', () => {
    assert.deepEqual(unenforcedFieldWarnings(byKind('Pod'), { metadata: { name: 'p' }, spec: { containers: [{ name: 'c' }] } }), []);
    assert.deepEqual(unenforcedFieldWarnings(byKind('ConfigMap'), { metadata: { name: 'c' } }), []);
    assert.deepEqual(unenforcedFieldWarnings(byKind('Service'), { metadata: { name: 's' }, spec: { type: 'ClusterIP' } }), []);
  });

  it('formats the header as Kubernetes does', () => {
    assert.equal(warningHeader('a "quoted" word'), '299 - "a \\"quoted\\" word"');
  });
});
