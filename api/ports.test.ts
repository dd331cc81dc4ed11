import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from './types.js';
import { PORTS_ANNOTATION, podPorts, portsAnnotationValue, resolveTargetPort } from './ports.js';

function pod(annotation?: string): Pod {
  return { metadata: { name: 'p', annotations: annotation === undefined ? {} : { [PORTS_ANNOTATION]: annotation } }, spec: { containers: [] } };
}

const ports = [
  { container: 'web', name: 'http', containerPort: 8080, hostPort: 20001, protocol: 'TCP' },
  { container: 'web', name: 'dns', containerPort: 53, hostPort: 20002, protocol: 'UDP' },
];

test('a pod port resolves by name or by number, per protocol', () => {
  const p = pod(portsAnnotationValue(ports));
  assert.deepEqual(podPorts(p), ports);
  assert.equal(resolveTargetPort(p, 'http'), 20001);
  assert.equal(resolveTargetPort(p, 8080), 20001);
  assert.equal(resolveTargetPort(p, 'dns', 'UDP'), 20002);
  assert.equal(resolveTargetPort(p, 'dns'), undefined, 'no TCP port named dns');
  assert.equal(resolveTargetPort(p, 'metrics'), undefined);
  assert.equal(resolveTargetPort(p, 9090), 9090, 'an undeclared number is served on itself');
});

test('a missing or malformed annotation means no ports', () => {
  assert.deepEqual(podPorts(pod()), []);
  assert.deepEqual(podPorts(pod('not json')), []);
  assert.deepEqual(podPorts(pod('{"a":1}')), []);
  assert.deepEqual(podPorts(pod('[{"container":"c","containerPort":"x","hostPort":1}]')), []);
  assert.equal(resolveTargetPort(pod(), 'http'), undefined);
});
