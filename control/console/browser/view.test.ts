import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Deployment, Endpoints, Event, Node, Pod, Service } from '../../../api/types.js';
import { deploymentsView, endpointsOf, escapeHtml, eventsView, formatAge, formatMemory, formatRate, nodesView, podRestarts, podsView, servicesView, tokenFromFragment } from './view.js';

const NOW = Date.parse('2026-01-02T03:04:05Z');

test('escapes markup in every value', () => {
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  const pod: Pod = { metadata: { name: '<img src=x onerror=alert(1)>', namespace: 'default' }, spec: { containers: [] } };
  assert.doesNotMatch(podsView([pod], NOW), /<img/);
});

test('reads the token from the URL fragment only', () => {
  assert.equal(tokenFromFragment('#token=abc-DEF_1'), 'abc-DEF_1');
  assert.equal(tokenFromFragment('#x=1&token=a%2Bb'), 'a+b');
  assert.equal(tokenFromFragment('#token='), undefined);
  assert.equal(tokenFromFragment(''), undefined);
});

test('ages and rates read like kubectl', () => {
  assert.equal(formatAge('2026-01-02T03:04:00Z', NOW), '5s');
  assert.equal(formatAge('2026-01-02T02:04:05Z', NOW), '60m');
  assert.equal(formatAge('2026-01-01T01:04:05Z', NOW), '26h');
  assert.equal(formatAge('2025-12-01T03:04:05Z', NOW), '32d');
  assert.equal(formatAge(undefined, NOW), '');
  assert.equal(formatRate(3.14159), '3.1');
  assert.equal(formatRate(1234.5), '1235');
  assert.equal(formatMemory('24684084Ki'), '23.5 GiB');
  assert.equal(formatMemory('512Mi'), '512 MiB');
  assert.equal(formatMemory('lots'), 'lots');
});

test('nodes show their Ready condition', () => {
  const node = (name: string, status: string): Node => ({ metadata: { name }, status: { conditions: [{ type: 'Ready', status }], addresses: [{ type: 'InternalIP', address: '127.0.0.1' }] } });
  const html = nodesView([node('b', 'False'), node('a', 'True')], NOW);
  assert.match(html, /data-node="a" data-ready="True".*Ready.*data-node="b" data-ready="False".*NotReady/s);
  assert.match(nodesView([], NOW), /No nodes/);
});

test('pods show phase, node and restarts summed over containers', () => {
  const pod: Pod = {
    metadata: { name: 'web-1', namespace: 'default' },
    spec: { nodeName: 'n1', containers: [] },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ restartCount: 2 }, { restartCount: 1 }] as never },
  };
  assert.equal(podRestarts(pod), 3);
  assert.match(podsView([pod], NOW), /data-pod="default\/web-1" data-phase="Running".*<td>n1<\/td><td class="num warn-text">3<\/td>/s);
});

const endpoints: Endpoints = {
  metadata: { name: 'echo', namespace: 'default' },
  subsets: [
    { addresses: [{ ip: '127.0.0.1', targetRef: { kind: 'Pod', name: 'echo-a' } }, { ip: '127.0.0.2' }], notReadyAddresses: [{ ip: '127.0.0.1', targetRef: { kind: 'Pod', name: 'echo-c' } }], ports: [{ name: 'http', port: 20001 }] },
  ],
};
const traffic = {
  windowSeconds: 2,
  missingNodes: [],
  services: [{ namespace: 'default', service: 'echo', endpoints: [{ endpoint: 'echo-a', requestsPerSecond: 30, connectionsPerSecond: 1, share: 0.75 }, { endpoint: '127.0.0.2:20001', requestsPerSecond: 10, connectionsPerSecond: 0, share: 0.25 }] }],
};

test('endpoints join their traffic by pod name, or by ip:port without a pod', () => {
  const views = endpointsOf(endpoints, traffic.services[0]);
  assert.deepEqual(views.map((v) => [v.name, v.ready, v.requestsPerSecond, v.share]), [
    ['127.0.0.2', true, 10, 0.25],
    ['echo-a', true, 30, 0.75],
    ['echo-c', false, 0, 0],
  ]);
  assert.equal(endpointsOf(endpoints, undefined)[0].requestsPerSecond, undefined);
});

test('a service card lists its endpoints with their rates and the total', () => {
  const svc: Service = { metadata: { name: 'echo', namespace: 'default' }, spec: { clusterIP: '127.77.0.9', ports: [{ name: 'http', port: 8080 }] } };
  const html = servicesView([svc], [endpoints], traffic);
  assert.match(html, /data-service="default\/echo"/);
  assert.match(html, /data-endpoint="echo-a" data-ready="true" data-rps="30".*<meter min="0" max="1" value="0.750"><\/meter>/s);
  assert.match(html, /data-total-rps="40">40\.0 req\/s/);
  assert.match(servicesView([svc], [], undefined), /No endpoints/);
});

test('deployments have a scale form with the desired replicas', () => {
  const d: Deployment = { metadata: { name: 'echo', namespace: 'default' }, spec: { replicas: 3, selector: {}, template: { spec: { containers: [] } } }, status: { readyReplicas: 2 } };
  assert.match(deploymentsView([d]), /<td class="num">2\/3<\/td>.*<form class="scale" data-scale="default\/echo"><input type="number" name="replicas" min="0" max="1000" required value="3"/s);
});

test('events newest first, at most the limit', () => {
  const ev = (reason: string, at: string): Event => ({ metadata: { name: reason }, involvedObject: { kind: 'Pod', name: 'p' }, reason, lastTimestamp: at, message: 'm' });
  const html = eventsView([ev('Old', '2026-01-02T03:00:00Z'), ev('New', '2026-01-02T03:04:00Z'), ev('Mid', '2026-01-02T03:02:00Z')], NOW, 2);
  assert.deepEqual([...html.matchAll(/data-event="(\w+)"/g)].map((m) => m[1]), ['New', 'Mid']);
});
