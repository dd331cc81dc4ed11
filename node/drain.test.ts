import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Endpoints, KubeObject, Node, Pod } from '../api/types.js';
import { PROXY_REVISION_ANNOTATION, unrouted } from './drain.js';

const pod: Pod = { metadata: { name: 'web-1', namespace: 'default', uid: 'u1' }, spec: { containers: [] } };

function endpoints(rv: number, ready: string[], notReady: string[] = []): Endpoints {
  const addr = (uid: string) => ({ ip: '127.0.0.1', targetRef: { kind: 'Pod', name: uid === 'u1' ? 'web-1' : uid, uid } });
  return { metadata: { name: 'web', namespace: 'default', resourceVersion: String(rv) }, subsets: [{ addresses: ready.map(addr), notReadyAddresses: notReady.map(addr), ports: [{ port: 20001 }] }] };
}

function node(name: string, ready = true): Node {
  return { metadata: { name }, status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'Unknown' }] } };
}

function lease(name: string, revision?: number): KubeObject {
  return { metadata: { name, namespace: 'kube-node-lease', ...(revision === undefined ? {} : { annotations: { [PROXY_REVISION_ANNOTATION]: String(revision) } }) } };
}

const holding = new Set(['web']);

test('not unrouted while any Endpoints still lists the pod as ready', () => {
  assert.equal(unrouted(pod, holding, [endpoints(10, ['u1', 'u2'])], [node('a')], [lease('a', 100)]), false);
});

test('unrouted once every Ready node has programmed the revision that dropped the pod', () => {
  const eps = [endpoints(12, ['u2'], ['u1'])];
  assert.equal(unrouted(pod, holding, eps, [node('a'), node('b')], [lease('a', 12), lease('b', 11)]), false, 'node b is behind');
  assert.equal(unrouted(pod, holding, eps, [node('a'), node('b')], [lease('a', 12), lease('b', 12)]), true);
  assert.equal(unrouted(pod, holding, eps, [node('a'), node('b', false)], [lease('a', 13), lease('b', 3)]), true, 'a NotReady node is not waited for');
  assert.equal(unrouted(pod, holding, eps, [node('a'), node('c')], [lease('a', 12), lease('c')]), true, 'a node without a proxy is not waited for');
});

test('a pod dropped from the Endpoints altogether counts by the Endpoints that held it', () => {
  const eps = [endpoints(15, ['u2'])];
  assert.equal(unrouted(pod, holding, eps, [node('a')], [lease('a', 14)]), false);
  assert.equal(unrouted(pod, holding, eps, [node('a')], [lease('a', 15)]), true);
  assert.equal(unrouted(pod, new Set(), eps, [node('a')], [lease('a', 1)]), true, 'a pod no Service routed to has nothing to wait for');
});
