import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from './types.js';
import { PORTS_ANNOTATION, podPorts, portsAnnotationValue } from './ports.js';

function pod(annotation?: string): Pod {
  return { metadata: { name: 'p', annotations: annotation === undefined ? {} : { [PORTS_ANNOTATION]: annotation } }, spec: { containers: [] } };
}

const ports = [
  { container: 'web', name: 'http', containerPort: 8080, hostPort: 20001, protocol: 'TCP' },
  { container: 'web', name: 'dns', containerPort: 53, hostPort: 20002, protocol: 'UDP' },
];

test('the annotation round-trips the assignment', () => {
  assert.deepEqual(podPorts(pod(portsAnnotationValue(ports))), ports);
});

test('a missing or malformed annotation means no ports', () => {
  assert.deepEqual(podPorts(pod()), []);
  assert.deepEqual(podPorts(pod('not json')), []);
  assert.deepEqual(podPorts(pod('{"a":1}')), []);
  assert.deepEqual(podPorts(pod('[{"container":"c","containerPort":"x","hostPort":1}]')), []);
});
