// Prometheus service discovery: the pure target builder and query parser, and `GET /sd/prometheus`
// and `GET /metrics` through the Hono app (token required, 400 on a bad query, nodes that leave
// the API leave the targets).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { ApiEnv } from './app.js';
import { Registry as MetricsRegistry } from 'prom-client';
import { METRICS_ADDRESS_ANNOTATION } from '../../api/annotations.js';
import type { Node } from '../../api/types.js';
import { createMemoryStore, type Store } from '../store/index.js';
import { startTestApp } from './test-app.js';
import { Registry } from './registry.js';
import { parseSdQuery, prometheusTargets } from './sd.js';

const CONTROL = { address: '127.0.0.1:6443', name: 'box' };

function node(name: string, address?: string, deleting = false): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      ...(address ? { annotations: { [METRICS_ADDRESS_ANNOTATION]: address } } : {}),
      ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    },
    spec: {},
  } as Node;
}

describe('prometheusTargets', () => {
  const nodes = [node('n2', '127.0.0.3:10249'), node('n1', '127.0.0.2:10249'), node('quiet'), node('leaving', '127.0.0.4:10249', true)];

  it('lists control, then each node with a published address, by name', () => {
    assert.deepEqual(prometheusTargets(nodes, CONTROL), [
      { targets: ['127.0.0.1:6443'], labels: { node: 'box', role: 'control' } },
      { targets: ['127.0.0.2:10249'], labels: { node: 'n1', role: 'node' } },
      { targets: ['127.0.0.3:10249'], labels: { node: 'n2', role: 'node' } },
    ]);
  });

  it('filters by role', () => {
    assert.deepEqual(prometheusTargets(nodes, CONTROL, 'control'), [{ targets: ['127.0.0.1:6443'], labels: { node: 'box', role: 'control' } }]);
    assert.deepEqual(prometheusTargets(nodes, CONTROL, 'node').map((g) => g.labels.node), ['n1', 'n2']);
  });

  it('has no control target when control serves no metrics', () => {
    assert.deepEqual(prometheusTargets([], undefined), []);
  });
});

describe('parseSdQuery', () => {
  it('accepts no query, or role=control|node', () => {
    assert.equal(parseSdQuery(''), undefined);
    assert.equal(parseSdQuery('role=control'), 'control');
    assert.equal(parseSdQuery('role=node&'), 'node');
    assert.equal(parseSdQuery('r%6fle=n%6fde'), 'node');
  });

  it('rejects, naming the parameter: unknown role, empty, repeated, unknown parameter, bad encoding', () => {
    const cases: [string, RegExp][] = [
      ['role=master', /"role" is "master"; use control or node/],
      ['role=', /"role" is ""/],
      ['role', /"role" is ""/],
      ['role=node&role=control', /"role" is given more than once/],
      ['roles=node', /parameter "roles" is not known/],
      ['role=%zz', /parameter "role" is not valid percent-encoding/],
      ['%zz=node', /parameter "%zz" is not valid percent-encoding/],
    ];
    for (const [query, message] of cases) {
      assert.throws(() => parseSdQuery(query), (e: any) => e.code === 400 && e.reason === 'BadRequest' && message.test(e.message), query);
    }
  });
});

describe('GET /sd/prometheus and /metrics on the API app', () => {
  const TOKEN = 'sd-test-token';
  let store: Store;
  let registry: Registry;
  let app: Hono<ApiEnv>;
  let stopApp: () => Promise<void>;

  const get = async (path: string, token: string | null = TOKEN) => {
    const res = await app.request(path, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, text, json, type: res.headers.get('content-type') ?? '' };
  };

  before(async () => {
    store = createMemoryStore();
    registry = new Registry(store);
    await registry.start();
    const metrics = new MetricsRegistry();
    ({ app, stop: stopApp } = await startTestApp(registry, TOKEN, { metrics, serverAddress: () => '127.0.0.1:16443', hostName: 'box' }));
    for (const n of [node('a', '127.0.0.1:10249'), node('b', '127.0.0.1:10250')]) {
      const res = await app.request('/api/v1/nodes', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(n) });
      assert.equal(res.status, 201, await res.text());
    }
  });
  after(async () => {
    await stopApp();
    await registry.close();
    await store.close();
  });

  it('answers http_sd JSON with control and every node', async () => {
    const r = await get('/sd/prometheus');
    assert.equal(r.status, 200, r.text);
    assert.match(r.type, /^application\/json/);
    assert.deepEqual(r.json, [
      { targets: ['127.0.0.1:16443'], labels: { node: 'box', role: 'control' } },
      { targets: ['127.0.0.1:10249'], labels: { node: 'a', role: 'node' } },
      { targets: ['127.0.0.1:10250'], labels: { node: 'b', role: 'node' } },
    ]);
    assert.deepEqual((await get('/sd/prometheus?role=node')).json.map((g: any) => g.targets[0]), ['127.0.0.1:10249', '127.0.0.1:10250']);
    assert.deepEqual((await get('/sd/prometheus?role=control')).json.map((g: any) => g.labels.role), ['control']);
  });

  it('drops a node once it is deleted from the API', async () => {
    const res = await app.request('/api/v1/nodes/b', { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200, await res.text());
    assert.deepEqual((await get('/sd/prometheus?role=node')).json.map((g: any) => g.labels.node), ['a']);
  });

  it('answers 400 with a Status naming the parameter for a bad query, and keeps serving', async () => {
    for (const q of ['role=master', 'role=%zz', 'job=node']) {
      const r = await get(`/sd/prometheus?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.json.kind, 'Status');
      assert.equal(r.json.reason, 'BadRequest');
      assert.match(r.json.message, /query parameter "(role|job)"/);
    }
    assert.equal((await get('/sd/prometheus')).status, 200);
  });

  it('requires the token for /sd/prometheus and /metrics (401 Status), not for /healthz, /readyz, /livez', async () => {
    for (const path of ['/sd/prometheus', '/sd/prometheus?role=bad', '/metrics']) {
      for (const token of [null, 'wrong']) {
        const r = await get(path, token);
        assert.equal(r.status, 401, `${path} with ${token}`);
        assert.equal(r.json.kind, 'Status');
        assert.equal(r.json.reason, 'Unauthorized');
      }
    }
    for (const path of ['/healthz', '/readyz', '/livez']) assert.equal((await get(path, null)).status, 200, path);
  });

  it('serves /metrics in the text format with the token, counting the requests before', async () => {
    const r = await get('/metrics');
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/plain/);
    assert.match(r.text, /^tug_apiserver_requests_total\{verb="list",resource="\/sd\/prometheus",code="200"\} \d+$/m);
    assert.match(r.text, /^tug_apiserver_requests_total\{verb="list",resource="\/metrics",code="401"\} 2$/m);
  });
});
