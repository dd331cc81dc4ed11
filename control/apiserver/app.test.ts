// The HTTP layer of the API server, driven with Hono's `app.request()` over a memory store (no
// sockets): authentication, discovery, OpenAPI, the resource verbs and subresources, cascading
// and namespace deletion, watch streams, and Service address allocation.
import assert from 'node:assert/strict';
import { after, before, describe, it, mock } from 'node:test';
import type { Hono } from 'hono';
import type { ApiEnv } from './app.js';
import type { KubeObject } from '../../api/types.js';
import { createMemoryStore, type Store } from '../store/index.js';
import { startTestApp } from './test-app.js';
import { Registry } from './registry.js';

const TOKEN = 'unit-test-token';
const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
const AGGREGATED_ACCEPT = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json';
const AGGREGATED_TYPE = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let store: Store;
let registry: Registry;
let app: Hono<ApiEnv>;
let stopApp: () => Promise<void>;

interface CallOptions {
  body?: unknown;
  contentType?: string;
  accept?: string;
  /** null sends no Authorization header. */
  token?: string | null;
}

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

function send(method: string, path: string, opts: CallOptions = {}): Promise<Response> {
  const headers: Record<string, string> = {};
  const token = opts.token === undefined ? TOKEN : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (opts.accept) headers.accept = opts.accept;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    headers['content-type'] = opts.contentType ?? 'application/json';
  }
  return Promise.resolve(app.request(path, { method, headers, body }));
}

async function call(method: string, path: string, opts: CallOptions = {}): Promise<Reply> {
  const res = await send(method, path, opts);
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Asserts the status code, showing the body when it differs. */
function expectStatus(reply: Reply, code: number): any {
  assert.equal(reply.status, code, `expected ${code}, got ${reply.status}: ${reply.text}`);
  return reply.json;
}

async function createNamespace(name: string): Promise<void> {
  expectStatus(await call('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } }), 201);
}

function pod(name: string, extra: { labels?: Record<string, string>; nodeName?: string; ownerReferences?: unknown[] } = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, ...(extra.labels ? { labels: extra.labels } : {}), ...(extra.ownerReferences ? { ownerReferences: extra.ownerReferences } : {}) },
    spec: { ...(extra.nodeName ? { nodeName: extra.nodeName } : {}), containers: [{ name: 'main', image: 'local/busybox:1' }] },
  } as KubeObject;
}

function deployment(name: string, replicas = 2): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            { name: 'web', image: 'nginx:1.25', ports: [{ containerPort: 80 }] },
            { name: 'sidecar', image: 'local/busybox:1' },
          ],
        },
      },
    },
  } as KubeObject;
}

function configMap(name: string, data: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data } as KubeObject;
}

function names(list: { items: KubeObject[] }): string[] {
  return list.items.map((o) => o.metadata.name!).sort();
}

/** Polls `check` until it returns true, bounded; fails with `what` otherwise. */
async function waitFor(what: string, check: () => Promise<boolean>, attempts = 100, intervalMs = 100): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Reads newline-delimited JSON events from a watch response body. */
class EventReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private buffered = '';
  private readonly queued: any[] = [];
  done = false;

  constructor(readonly res: Response) {
    assert.ok(res.body, 'the watch response has a body');
    this.reader = res.body.getReader();
  }

  /** The next `count` events; fails if they do not arrive within `timeoutMs`. */
  async next(count: number, timeoutMs = 5000): Promise<any[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.queued.length < count) {
      if (this.done) assert.fail(`the watch ended after ${this.queued.length} of ${count} events`);
      const chunk = await this.read(deadline - Date.now());
      if (chunk === 'timeout') assert.fail(`timed out after ${timeoutMs} ms with ${this.queued.length} of ${count} watch events`);
    }
    return this.queued.splice(0, count);
  }

  /** Waits until the server ends the stream; returns false if it is still open after `timeoutMs`. */
  async untilEnd(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.done) {
      if ((await this.read(deadline - Date.now())) === 'timeout') return false;
    }
    return true;
  }

  private async read(remainingMs: number): Promise<'ok' | 'timeout'> {
    if (remainingMs <= 0) return 'timeout';
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), remainingMs)));
    try {
      const result = await Promise.race([this.reader.read(), timeout]);
      if (result === 'timeout') return 'timeout';
      if (result.done) {
        this.done = true;
        return 'ok';
      }
      this.buffered += this.decoder.decode(result.value, { stream: true });
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl).trim();
        this.buffered = this.buffered.slice(nl + 1);
        if (line) this.queued.push(JSON.parse(line));
      }
      return 'ok';
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (!this.done) await this.reader.cancel();
  }
}

/**
 * Opens a watch. The caller closes the reader in a `finally`, so that a failing assertion does not
 * leave a stream (and its server-side timeout timer) keeping the test process alive.
 */
async function openWatch(path: string, opts: CallOptions = {}): Promise<EventReader> {
  return new EventReader(await send('GET', path, opts));
}

describe('the API server over HTTP', () => {
  before(async () => {
    store = createMemoryStore();
    registry = new Registry(store);
    await registry.start();
    ({ app, stop: stopApp } = await startTestApp(registry, TOKEN));
  });
  after(async () => {
    await stopApp();
    await registry.close();
    await store.close();
  });

  describe('authentication', () => {
    it('answers 401 with a Status when there is no token', async () => {
      const r = await call('GET', '/api/v1/namespaces', { token: null });
      const status = expectStatus(r, 401);
      assert.equal(status.kind, 'Status');
      assert.equal(status.apiVersion, 'v1');
      assert.equal(status.status, 'Failure');
      assert.equal(status.reason, 'Unauthorized');
      assert.equal(status.code, 401);
    });

    it('answers 401 with a Status for a wrong token', async () => {
      const status = expectStatus(await call('GET', '/api/v1/namespaces', { token: 'not-the-token' }), 401);
      assert.equal(status.kind, 'Status');
      assert.equal(status.reason, 'Unauthorized');
      assert.match(status.message, /token/);
    });

    it('protects discovery too, but leaves /healthz open', async () => {
      expectStatus(await call('GET', '/version', { token: null }), 401);
      const health = await call('GET', '/healthz', { token: null });
      assert.equal(health.status, 200);
      assert.equal(health.text, 'ok');
    });

    it('answers an unknown path with a 404 Status', async () => {
      const status = expectStatus(await call('GET', '/api/v1/gizmos'), 404);
      assert.equal(status.kind, 'Status');
      assert.equal(status.message, 'the server could not find the requested resource');
    });
  });

  describe('discovery', () => {
    it('reports minor version "32"', async () => {
      const v = expectStatus(await call('GET', '/version'), 200);
      assert.equal(v.major, '1');
      assert.equal(v.minor, '32');
      assert.match(v.gitVersion, /^v1\.32\./);
    });

    it('serves plain /api and /apis', async () => {
      const api = expectStatus(await call('GET', '/api', { accept: 'application/json' }), 200);
      assert.equal(api.kind, 'APIVersions');
      assert.deepEqual(api.versions, ['v1']);
      assert.equal(api.serverAddressByClientCIDRs[0].clientCIDR, '0.0.0.0/0');
      const apis = await call('GET', '/apis');
      assert.match(apis.headers.get('content-type') ?? '', /^application\/json/);
      const groups = expectStatus(apis, 200);
      assert.equal(groups.kind, 'APIGroupList');
      const apps = groups.groups.find((g: any) => g.name === 'apps');
      assert.deepEqual(apps.preferredVersion, { groupVersion: 'apps/v1', version: 'v1' });
      assert.ok(groups.groups.some((g: any) => g.name === 'discovery.k8s.io'));
    });

    it('serves aggregated /api and /apis with the exact Content-Type kubectl requires', async () => {
      const core = await call('GET', '/api', { accept: AGGREGATED_ACCEPT });
      assert.equal(core.status, 200);
      assert.equal(core.headers.get('content-type'), AGGREGATED_TYPE);
      assert.equal(core.json.kind, 'APIGroupDiscoveryList');
      assert.equal(core.json.apiVersion, 'apidiscovery.k8s.io/v2');
      assert.equal(core.json.items.length, 1);
      assert.equal(core.json.items[0].metadata.name, '');
      const pods = core.json.items[0].versions[0].resources.find((r: any) => r.resource === 'pods');
      assert.deepEqual(pods.responseKind, { group: '', version: 'v1', kind: 'Pod' });
      assert.equal(pods.scope, 'Namespaced');
      assert.ok(pods.shortNames.includes('po'));
      assert.ok(pods.subresources.some((s: any) => s.subresource === 'log'));
      const nodes = core.json.items[0].versions[0].resources.find((r: any) => r.resource === 'nodes');
      assert.equal(nodes.scope, 'Cluster');

      const named = await call('GET', '/apis', { accept: AGGREGATED_ACCEPT });
      assert.equal(named.headers.get('content-type'), AGGREGATED_TYPE);
      const apps = named.json.items.find((g: any) => g.metadata.name === 'apps');
      const deploys = apps.versions[0].resources.find((r: any) => r.resource === 'deployments');
      const scale = deploys.subresources.find((s: any) => s.subresource === 'scale');
      assert.deepEqual(scale.responseKind, { group: 'autoscaling', version: 'v1', kind: 'Scale' });
      assert.ok(deploys.categories.includes('all'));
    });

    it('serves /api/v1 as an APIResourceList with subresources', async () => {
      const list = expectStatus(await call('GET', '/api/v1'), 200);
      assert.equal(list.kind, 'APIResourceList');
      assert.equal(list.groupVersion, 'v1');
      const byName = new Map<string, any>(list.resources.map((r: any) => [r.name, r]));
      const pods = byName.get('pods');
      assert.equal(pods.kind, 'Pod');
      assert.equal(pods.namespaced, true);
      assert.deepEqual([...pods.verbs].sort(), ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']);
      assert.ok(byName.has('pods/status'));
      assert.deepEqual(byName.get('pods/log').verbs, ['get']);
      assert.ok(byName.has('pods/exec'));
      assert.equal(byName.get('namespaces').namespaced, false);
      const apps = expectStatus(await call('GET', '/apis/apps/v1'), 200);
      const scale = apps.resources.find((r: any) => r.name === 'deployments/scale');
      assert.equal(scale.group, 'autoscaling');
      assert.equal(scale.version, 'v1');
      assert.equal(scale.kind, 'Scale');
    });
  });

  describe('OpenAPI v3', () => {
    it('serves an index whose documents name each PATCH path with fieldValidation', async () => {
      const index = expectStatus(await call('GET', '/openapi/v3'), 200);
      assert.ok(index.paths['api/v1']);
      const appsUrl: string = index.paths['apis/apps/v1'].serverRelativeURL;
      assert.match(appsUrl, /^\/openapi\/v3\/apis\/apps\/v1\?hash=/);
      const doc = expectStatus(await call('GET', appsUrl), 200);
      assert.match(doc.openapi, /^3\./);
      const item = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}'];
      assert.ok(item?.patch, 'a PATCH path for deployments');
      assert.deepEqual(item.patch['x-kubernetes-group-version-kind'], { group: 'apps', version: 'v1', kind: 'Deployment' });
      assert.ok(item.patch.parameters.some((p: any) => p.name === 'fieldValidation' && p.in === 'query'));
      const core = expectStatus(await call('GET', index.paths['api/v1'].serverRelativeURL), 200);
      assert.ok(core.paths['/api/v1/namespaces/{name}']?.patch, 'cluster-scoped paths have no namespace segment');
      expectStatus(await call('GET', '/openapi/v3/apis/nothing/v9'), 404);
    });
  });

  describe('create', () => {
    before(() => createNamespace('create-ns'));

    it('fills in uid, creationTimestamp, generation and resourceVersion', async () => {
      const created = expectStatus(await call('POST', '/api/v1/namespaces/create-ns/configmaps', { body: configMap('plain', { a: '1' }) }), 201);
      assert.equal(created.metadata.namespace, 'create-ns');
      assert.match(created.metadata.uid, UUID);
      assert.match(created.metadata.creationTimestamp, RFC3339);
      assert.equal(created.metadata.generation, 1);
      assert.equal(typeof created.metadata.resourceVersion, 'string');
      assert.ok(Number(created.metadata.resourceVersion) > 0);
      const again = expectStatus(await call('POST', '/api/v1/namespaces/create-ns/configmaps', { body: configMap('plain') }), 409);
      assert.equal(again.reason, 'AlreadyExists');
    });

    it('generates a name from generateName', async () => {
      const input = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'gen-' } };
      const a = expectStatus(await call('POST', '/api/v1/namespaces/create-ns/configmaps', { body: input }), 201);
      const b = expectStatus(await call('POST', '/api/v1/namespaces/create-ns/configmaps', { body: input }), 201);
      assert.match(a.metadata.name, /^gen-[a-z0-9]{5}$/);
      assert.notEqual(a.metadata.name, b.metadata.name);
      assert.equal(a.metadata.generateName, 'gen-');
      expectStatus(await call('GET', `/api/v1/namespaces/create-ns/configmaps/${a.metadata.name}`), 200);
    });

    it('rejects a body whose namespace differs from the URL with 400', async () => {
      const body = { ...configMap('elsewhere'), metadata: { name: 'elsewhere', namespace: 'other' } };
      const status = expectStatus(await call('POST', '/api/v1/namespaces/create-ns/configmaps', { body }), 400);
      assert.equal(status.reason, 'BadRequest');
      assert.match(status.message, /namespace/);
    });

    it('rejects creation in a namespace that does not exist', async () => {
      expectStatus(await call('POST', '/api/v1/namespaces/no-such-ns/configmaps', { body: configMap('x') }), 404);
    });

    it('answers an invalid object with 422 Invalid and its causes', async () => {
      const status = expectStatus(await call('POST', '/api/v1/namespaces/create-ns/configmaps', { body: configMap('Not_Valid') }), 422);
      assert.equal(status.reason, 'Invalid');
      assert.equal(status.details.kind, 'ConfigMap');
      assert.ok(status.details.causes.some((c: any) => c.field === 'metadata.name'));
    });
  });

  describe('list with selectors and as a Table', () => {
    const base = '/api/v1/namespaces/sel/pods';
    before(async () => {
      await createNamespace('sel');
      const specs: [string, Record<string, string>, string | undefined, string | undefined][] = [
        ['p1', { app: 'web', tier: 'a' }, 'n1', 'Running'],
        ['p2', { app: 'web', tier: 'b', canary: 'yes' }, 'n2', 'Pending'],
        ['p3', { app: 'db' }, undefined, 'Succeeded'],
      ];
      for (const [name, labels, nodeName, phase] of specs) {
        expectStatus(await call('POST', base, { body: pod(name, { labels, nodeName }) }), 201);
        if (phase) {
          expectStatus(await call('PATCH', `${base}/${name}/status`, { body: { status: { phase } }, contentType: 'application/merge-patch+json' }), 200);
        }
      }
    });

    it('returns a typed List with a resourceVersion', async () => {
      const list = expectStatus(await call('GET', `${base}?limit=500`), 200);
      assert.equal(list.kind, 'PodList');
      assert.equal(list.apiVersion, 'v1');
      assert.equal(typeof list.metadata.resourceVersion, 'string');
      assert.deepEqual(names(list), ['p1', 'p2', 'p3']);
    });

    it('filters by labelSelector', async () => {
      const sel = async (s: string) => names(expectStatus(await call('GET', `${base}?labelSelector=${encodeURIComponent(s)}`), 200));
      assert.deepEqual(await sel('app=web'), ['p1', 'p2']);
      assert.deepEqual(await sel('app==web,tier!=a'), ['p2']);
      assert.deepEqual(await sel('tier in (a,b)'), ['p1', 'p2']);
      assert.deepEqual(await sel('app notin (web)'), ['p3']);
      assert.deepEqual(await sel('canary'), ['p2']);
      assert.deepEqual(await sel('app=web,!canary'), ['p1']);
      const bad = expectStatus(await call('GET', `${base}?labelSelector=${encodeURIComponent('app in web')}`), 400);
      assert.equal(bad.reason, 'BadRequest');
    });

    it('filters by fieldSelector on metadata.name, spec.nodeName and status.phase', async () => {
      const sel = async (s: string) => names(expectStatus(await call('GET', `${base}?fieldSelector=${encodeURIComponent(s)}`), 200));
      assert.deepEqual(await sel('metadata.name=p2'), ['p2']);
      assert.deepEqual(await sel('spec.nodeName=n1'), ['p1']);
      assert.deepEqual(await sel('spec.nodeName='), ['p3'], 'an empty value selects unscheduled pods');
      assert.deepEqual(await sel('status.phase=Pending'), ['p2']);
      assert.deepEqual(await sel('status.phase!=Running'), ['p2', 'p3']);
      assert.deepEqual(await sel('spec.nodeName=n2,status.phase=Pending'), ['p2']);
      assert.deepEqual(await sel('spec.nodeName=n2,status.phase=Running'), []);
      assert.deepEqual(await sel('metadata.namespace=sel,metadata.name=p3'), ['p3']);
    });

    it('lists across namespaces without a namespace in the path', async () => {
      const all = expectStatus(await call('GET', `/api/v1/pods?fieldSelector=${encodeURIComponent('metadata.namespace=sel')}`), 200);
      assert.deepEqual(names(all), ['p1', 'p2', 'p3']);
      const ns = expectStatus(await call('GET', '/api/v1/namespaces'), 200);
      assert.ok(names(ns).includes('kube-system'));
    });

    it('answers the Table Accept header with a meta.k8s.io/v1 Table', async () => {
      const r = await call('GET', `${base}?limit=500`, { accept: TABLE_ACCEPT });
      const table = expectStatus(r, 200);
      assert.equal(table.kind, 'Table');
      assert.equal(table.apiVersion, 'meta.k8s.io/v1');
      assert.equal(typeof table.metadata.resourceVersion, 'string');
      const columns = table.columnDefinitions.map((c: any) => c.name);
      for (const c of ['Name', 'Ready', 'Status', 'Restarts', 'Age', 'IP', 'Node']) assert.ok(columns.includes(c), `column ${c} in ${columns}`);
      assert.equal(table.columnDefinitions.find((c: any) => c.name === 'Node').priority, 1);
      assert.equal(table.rows.length, 3);
      const row = table.rows.find((x: any) => x.cells[0] === 'p1');
      assert.equal(row.object.kind, 'PartialObjectMetadata');
      assert.equal(row.object.apiVersion, 'meta.k8s.io/v1');
      assert.equal(row.object.metadata.namespace, 'sel');
      assert.deepEqual(row.object.metadata.labels, { app: 'web', tier: 'a' });
      assert.equal(row.cells[columns.indexOf('Status')], 'Running');

      const one = expectStatus(await call('GET', `${base}/p2`, { accept: TABLE_ACCEPT }), 200);
      assert.equal(one.kind, 'Table');
      assert.equal(one.rows.length, 1);
      const selected = expectStatus(await call('GET', `${base}?labelSelector=app%3Ddb`, { accept: TABLE_ACCEPT }), 200);
      assert.deepEqual(
        selected.rows.map((x: any) => x.cells[0]),
        ['p3'],
      );
    });
  });

  describe('update, status and scale', () => {
    const base = '/apis/apps/v1/namespaces/upd/deployments';
    before(() => createNamespace('upd'));

    it('PUT bumps metadata.generation only when the spec changes and keeps status', async () => {
      const created = expectStatus(await call('POST', base, { body: deployment('web') }), 201);
      assert.equal(created.metadata.generation, 1);
      const withStatus = expectStatus(
        await call('PUT', `${base}/web/status`, { body: { ...created, status: { replicas: 2, readyReplicas: 1, observedGeneration: 1 } } }),
        200,
      );
      assert.deepEqual(withStatus.status, { replicas: 2, readyReplicas: 1, observedGeneration: 1 });

      // A label change is not a spec change; the status sent with a PUT is ignored.
      const relabeled = structuredClone(withStatus);
      relabeled.metadata.labels.extra = 'yes';
      relabeled.status = { replicas: 99 };
      const afterLabel = expectStatus(await call('PUT', `${base}/web`, { body: relabeled }), 200);
      assert.equal(afterLabel.metadata.generation, 1);
      assert.equal(afterLabel.metadata.labels.extra, 'yes');
      assert.deepEqual(afterLabel.status, withStatus.status);
      assert.equal(afterLabel.metadata.uid, created.metadata.uid);
      assert.equal(afterLabel.metadata.creationTimestamp, created.metadata.creationTimestamp);
      assert.notEqual(afterLabel.metadata.resourceVersion, withStatus.metadata.resourceVersion);

      const respec = structuredClone(afterLabel);
      respec.spec.replicas = 3;
      delete respec.status;
      const afterSpec = expectStatus(await call('PUT', `${base}/web`, { body: respec }), 200);
      assert.equal(afterSpec.metadata.generation, 2);
      assert.equal(afterSpec.spec.replicas, 3);
      assert.deepEqual(afterSpec.status, withStatus.status);

      // The old resourceVersion is stale now.
      const stale = expectStatus(await call('PUT', `${base}/web`, { body: afterLabel }), 409);
      assert.equal(stale.reason, 'Conflict');
    });

    it('the status subresource changes only the status', async () => {
      const current = expectStatus(await call('GET', `${base}/web`), 200);
      const body = structuredClone(current);
      body.spec.replicas = 7;
      body.metadata.labels.sneaky = 'yes';
      body.status = { replicas: 3, readyReplicas: 3, observedGeneration: 2 };
      const updated = expectStatus(await call('PUT', `${base}/web/status`, { body }), 200);
      assert.equal(updated.spec.replicas, current.spec.replicas);
      assert.equal(updated.metadata.labels.sneaky, undefined);
      assert.equal(updated.metadata.generation, current.metadata.generation);
      assert.deepEqual(updated.status, { replicas: 3, readyReplicas: 3, observedGeneration: 2 });

      const patched = expectStatus(
        await call('PATCH', `${base}/web/status`, { body: { spec: { replicas: 9 }, status: { availableReplicas: 3 } }, contentType: 'application/merge-patch+json' }),
        200,
      );
      assert.equal(patched.spec.replicas, current.spec.replicas);
      assert.equal(patched.status.availableReplicas, 3);
      assert.equal(patched.status.readyReplicas, 3);
    });

    it('serves the scale subresource as autoscaling/v1 Scale and scales with a merge patch', async () => {
      const scale = expectStatus(await call('GET', `${base}/web/scale`), 200);
      assert.equal(scale.kind, 'Scale');
      assert.equal(scale.apiVersion, 'autoscaling/v1');
      assert.equal(scale.metadata.name, 'web');
      assert.equal(scale.metadata.namespace, 'upd');
      assert.equal(scale.spec.replicas, 3);
      assert.equal(scale.status.replicas, 3);
      assert.equal(scale.status.selector, 'app=web');

      const before = expectStatus(await call('GET', `${base}/web`), 200);
      const scaled = expectStatus(await call('PATCH', `${base}/web/scale`, { body: { spec: { replicas: 5 } }, contentType: 'application/merge-patch+json' }), 200);
      assert.equal(scaled.kind, 'Scale');
      assert.equal(scaled.spec.replicas, 5);
      const deploy = expectStatus(await call('GET', `${base}/web`), 200);
      assert.equal(deploy.spec.replicas, 5);
      assert.equal(deploy.metadata.generation, before.metadata.generation + 1);
      assert.deepEqual(deploy.status, before.status);

      const negative = expectStatus(await call('PATCH', `${base}/web/scale`, { body: { spec: { replicas: -1 } }, contentType: 'application/merge-patch+json' }), 422);
      assert.equal(negative.reason, 'Invalid');
      expectStatus(await call('GET', '/api/v1/namespaces/upd/configmaps/x/scale'), 404);
    });
  });

  describe('patch', () => {
    const base = '/apis/apps/v1/namespaces/patch-ns/deployments';
    before(async () => {
      await createNamespace('patch-ns');
      expectStatus(await call('POST', base, { body: deployment('web') }), 201);
    });

    it('merge patch adds and removes fields', async () => {
      const added = expectStatus(
        await call('PATCH', `${base}/web`, { body: { metadata: { labels: { tier: 'front' }, annotations: { note: 'x' } } }, contentType: 'application/merge-patch+json' }),
        200,
      );
      assert.deepEqual(added.metadata.labels, { app: 'web', tier: 'front' });
      assert.equal(added.metadata.generation, 1);
      const removed = expectStatus(
        await call('PATCH', `${base}/web`, { body: { metadata: { labels: { tier: null } } }, contentType: 'application/merge-patch+json' }),
        200,
      );
      assert.deepEqual(removed.metadata.labels, { app: 'web' });
      assert.equal(removed.metadata.annotations.note, 'x');
    });

    it('a patch or PUT that changes nothing keeps the resourceVersion', async () => {
      const current = expectStatus(await call('GET', `${base}/web`), 200);
      const same = expectStatus(
        await call('PATCH', `${base}/web`, { body: { metadata: { labels: { app: 'web' } }, spec: { replicas: current.spec.replicas } }, contentType: 'application/merge-patch+json' }),
        200,
      );
      assert.equal(same.metadata.resourceVersion, current.metadata.resourceVersion);
      const put = expectStatus(await call('PUT', `${base}/web`, { body: current }), 200);
      assert.equal(put.metadata.resourceVersion, current.metadata.resourceVersion);
      assert.equal(put.metadata.generation, current.metadata.generation);
      const applied = expectStatus(
        await call('PATCH', `${base}/web`, { body: JSON.stringify(deployment('web')), contentType: 'application/apply-patch+yaml' }),
        200,
      );
      assert.equal(applied.metadata.resourceVersion, current.metadata.resourceVersion, 'applying the same manifest again is a no-op');
    });

    it('strategic merge patch in kubectl apply shape merges containers by name', async () => {
      const lastApplied = JSON.stringify(deployment('web'));
      const body = {
        metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied + '\n' } },
        spec: {
          template: {
            spec: {
              '$setElementOrder/containers': [{ name: 'web' }, { name: 'sidecar' }],
              containers: [{ image: 'nginx:1.26', name: 'web' }],
            },
          },
        },
      };
      const patched = expectStatus(await call('PATCH', `${base}/web`, { body, contentType: 'application/strategic-merge-patch+json' }), 200);
      const containers = patched.spec.template.spec.containers;
      assert.deepEqual(
        containers.map((c: any) => [c.name, c.image]),
        [
          ['web', 'nginx:1.26'],
          ['sidecar', 'local/busybox:1'],
        ],
      );
      assert.deepEqual(containers[0].ports, [{ containerPort: 80, protocol: 'TCP' }], 'fields not in the patch are kept');
      assert.equal(patched.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'], lastApplied + '\n');
      assert.equal(patched.metadata.generation, 2);
      assert.ok(!JSON.stringify(patched).includes('$setElementOrder'), 'directives are not stored');
      const stored = expectStatus(await call('GET', `${base}/web`), 200);
      assert.ok(!JSON.stringify(stored).includes('$setElementOrder'));

      const deleted = expectStatus(
        await call('PATCH', `${base}/web`, {
          body: { spec: { template: { spec: { containers: [{ name: 'sidecar', $patch: 'delete' }] } } } },
          contentType: 'application/strategic-merge-patch+json',
        }),
        200,
      );
      assert.deepEqual(
        deleted.spec.template.spec.containers.map((c: any) => c.name),
        ['web'],
      );
    });

    it('JSON patch applies operations in order', async () => {
      const body = [
        { op: 'replace', path: '/spec/replicas', value: 4 },
        { op: 'add', path: '/metadata/labels/track', value: 'stable' },
        { op: 'test', path: '/spec/replicas', value: 4 },
      ];
      const patched = expectStatus(await call('PATCH', `${base}/web`, { body, contentType: 'application/json-patch+json' }), 200);
      assert.equal(patched.spec.replicas, 4);
      assert.equal(patched.metadata.labels.track, 'stable');
      const failed = await call('PATCH', `${base}/web`, { body: [{ op: 'test', path: '/spec/replicas', value: 1 }], contentType: 'application/json-patch+json' });
      assert.ok(failed.status >= 400 && failed.status < 500, `a failed test op is a client error: ${failed.status} ${failed.text}`);
      assert.equal(failed.json.kind, 'Status');
    });

    it('answers a patch that makes metadata something other than an object with 422, of every patch type', async () => {
      for (const [body, contentType] of [
        [{ metadata: 'x' }, 'application/merge-patch+json'],
        [{ metadata: '__proto__' }, 'application/strategic-merge-patch+json'],
        [[{ op: 'replace', path: '/metadata', value: ['x'] }], 'application/json-patch+json'],
        ['apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  na', 'application/apply-patch+yaml'],
      ] as const) {
        const reply = expectStatus(await call('PATCH', `${base}/web?fieldManager=t`, { body: body as never, contentType }), 422);
        assert.match(reply.message, /metadata: Invalid value: must be an object/);
      }
    });

    it('refuses POST and DELETE across all namespaces with 405, as kube-apiserver does, and deletes nothing', async () => {
      const before = expectStatus(await call('GET', '/apis/apps/v1/deployments'), 200).items.length;
      assert.ok(before > 0);
      for (const method of ['DELETE', 'POST']) {
        const reply = expectStatus(await call(method, '/apis/apps/v1/deployments', method === 'POST' ? { body: deployment('anywhere') } : {}), 405);
        assert.equal(reply.reason, 'MethodNotAllowed');
      }
      assert.equal(expectStatus(await call('GET', '/apis/apps/v1/deployments'), 200).items.length, before);
    });

    it('refuses to delete Namespaces as a collection with 405, and lists no deletecollection verb for them', async () => {
      const before = expectStatus(await call('GET', '/api/v1/namespaces'), 200).items.length;
      assert.equal(expectStatus(await call('DELETE', '/api/v1/namespaces'), 405).reason, 'MethodNotAllowed');
      assert.equal(expectStatus(await call('GET', '/api/v1/namespaces'), 200).items.length, before);
      const discovery = expectStatus(await call('GET', '/api/v1'), 200);
      assert.deepEqual(discovery.resources.find((r: { name: string }) => r.name === 'namespaces').verbs.includes('deletecollection'), false);
    });

    it('takes labels and annotations sent as null as none, and lists by label selector after', async () => {
      const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'null-maps', labels: null, annotations: null }, data: { a: '1' } };
      const created = expectStatus(await call('POST', '/api/v1/namespaces/patch-ns/configmaps', { body }), 201);
      assert.equal('labels' in created.metadata, false);
      assert.equal('annotations' in created.metadata, false);
      expectStatus(await call('GET', '/api/v1/namespaces/patch-ns/configmaps?labelSelector=app%20in%20(a)'), 200);
    });

    it('answers an apply patch that is not a manifest with 400', async () => {
      for (const body of ['null', '[1]', '"x"', 'data:\n  a: b\n']) {
        const reply = expectStatus(await call('PATCH', `${base}/web?fieldManager=t`, { body, contentType: 'application/apply-patch+yaml' }), 400);
        assert.match(reply.message, /must be an object with apiVersion and kind/);
      }
    });

    it('rejects an unknown patch Content-Type with 415', async () => {
      const status = expectStatus(await call('PATCH', `${base}/web`, { body: {}, contentType: 'text/plain' }), 415);
      assert.equal(status.reason, 'UnsupportedMediaType');
    });

    it('server-side apply creates with 201, then updates with 200', async () => {
      const path = '/api/v1/namespaces/patch-ns/configmaps/applied?fieldManager=kubectl&fieldValidation=Strict&force=false';
      const yaml = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  color: blue\n';
      const created = expectStatus(await call('PATCH', path, { body: yaml, contentType: 'application/apply-patch+yaml' }), 201);
      assert.equal(created.metadata.name, 'applied');
      assert.equal(created.metadata.namespace, 'patch-ns');
      assert.deepEqual(created.data, { color: 'blue' });
      assert.match(created.metadata.uid, UUID);

      // kubectl sends the manifest as JSON under the YAML media type.
      const json = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied' }, data: { color: 'green', size: 'L' } });
      const updated = expectStatus(await call('PATCH', path, { body: json, contentType: 'application/apply-patch+yaml' }), 200);
      assert.deepEqual(updated.data, { color: 'green', size: 'L' });
      assert.equal(updated.metadata.uid, created.metadata.uid);
    });

    it('a missing object is NotFound for the other patch types', async () => {
      const status = expectStatus(await call('PATCH', `${base}/absent`, { body: { spec: {} }, contentType: 'application/merge-patch+json' }), 404);
      assert.equal(status.message, 'deployments.apps "absent" not found');
    });
  });

  describe('delete', () => {
    const rsBase = '/apis/apps/v1/namespaces/del/replicasets';
    const podBase = '/api/v1/namespaces/del/pods';

    function replicaSet(name: string): KubeObject {
      return {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: { name },
        spec: {
          replicas: 2,
          selector: { matchLabels: { rs: name } },
          template: { metadata: { labels: { rs: name } }, spec: { containers: [{ name: 'main', image: 'local/busybox:1' }] } },
        },
      } as KubeObject;
    }

    async function replicaSetWithPods(name: string): Promise<KubeObject> {
      const rs = expectStatus(await call('POST', rsBase, { body: replicaSet(name) }), 201);
      const owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name, uid: rs.metadata.uid, controller: true, blockOwnerDeletion: true };
      for (const suffix of ['a', 'b']) {
        expectStatus(await call('POST', podBase, { body: pod(`${name}-${suffix}`, { labels: { rs: name }, ownerReferences: [owner] }) }), 201);
      }
      expectStatus(await call('POST', podBase, { body: pod(`${name}-bystander`, { labels: { rs: name } }) }), 201);
      return rs;
    }

    before(() => createNamespace('del'));

    it('Background propagation deletes the dependents', async () => {
      await replicaSetWithPods('bg');
      const deleted = expectStatus(await call('DELETE', `${rsBase}/bg`, { body: { propagationPolicy: 'Background' } }), 200);
      assert.equal(deleted.metadata.name, 'bg');
      expectStatus(await call('GET', `${rsBase}/bg`), 404);
      const left = expectStatus(await call('GET', `${podBase}?labelSelector=rs%3Dbg`), 200);
      assert.deepEqual(names(left), ['bg-bystander']);
    });

    it('Orphan propagation keeps the dependents and removes their ownerReference', async () => {
      await replicaSetWithPods('orph');
      expectStatus(await call('DELETE', `${rsBase}/orph`, { body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Orphan' } }), 200);
      expectStatus(await call('GET', `${rsBase}/orph`), 404);
      const left = expectStatus(await call('GET', `${podBase}?labelSelector=rs%3Dorph`), 200);
      assert.deepEqual(names(left), ['orph-a', 'orph-b', 'orph-bystander']);
      for (const p of left.items) assert.equal(p.metadata.ownerReferences, undefined, `${p.metadata.name} has no ownerReferences`);
    });

    it('rejects an unknown propagation policy and a stale precondition', async () => {
      expectStatus(await call('POST', '/api/v1/namespaces/del/configmaps', { body: configMap('keep') }), 201);
      expectStatus(await call('DELETE', '/api/v1/namespaces/del/configmaps/keep?propagationPolicy=Sometimes'), 400);
      const conflict = expectStatus(await call('DELETE', '/api/v1/namespaces/del/configmaps/keep', { body: { preconditions: { resourceVersion: '1' } } }), 409);
      assert.equal(conflict.reason, 'Conflict');
      expectStatus(await call('GET', '/api/v1/namespaces/del/configmaps/keep'), 200);
      const missing = expectStatus(await call('DELETE', '/api/v1/namespaces/del/configmaps/nope'), 404);
      assert.equal(missing.message, 'configmaps "nope" not found');
    });

    it('a namespace turns Terminating at once, refuses new objects, then goes away with its contents', async () => {
      await createNamespace('doomed');
      expectStatus(await call('POST', '/api/v1/namespaces/doomed/configmaps', { body: configMap('inside') }), 201);
      expectStatus(await call('POST', '/apis/apps/v1/namespaces/doomed/deployments', { body: deployment('app') }), 201);

      const deleted = expectStatus(await call('DELETE', '/api/v1/namespaces/doomed'), 200);
      assert.equal(deleted.status.phase, 'Terminating');
      assert.match(deleted.metadata.deletionTimestamp, RFC3339);
      const ns = expectStatus(await call('GET', '/api/v1/namespaces/doomed'), 200);
      assert.equal(ns.status.phase, 'Terminating');

      const refused = expectStatus(await call('POST', '/api/v1/namespaces/doomed/configmaps', { body: configMap('late') }), 403);
      assert.equal(refused.reason, 'Forbidden');
      assert.match(refused.message, /being terminated/);
      // What was in it is still readable until the clean-up runs (kubectl delete -f relies on it).
      expectStatus(await call('GET', '/api/v1/namespaces/doomed/configmaps/inside'), 200);

      await waitFor('the namespace to be removed', async () => (await call('GET', '/api/v1/namespaces/doomed')).status === 404);
      expectStatus(await call('GET', '/api/v1/namespaces/doomed/configmaps/inside'), 404);
      expectStatus(await call('GET', '/apis/apps/v1/namespaces/doomed/deployments/app'), 404);
      const leftovers = expectStatus(await call('GET', `/api/v1/configmaps?fieldSelector=${encodeURIComponent('metadata.namespace=doomed')}`), 200);
      assert.equal(leftovers.items.length, 0);
    });
  });

  describe('watch', () => {
    const base = '/api/v1/namespaces/watch-ns/configmaps';
    before(async () => {
      await createNamespace('watch-ns');
      await createNamespace('watch-other');
    });

    it('streams the events after a resourceVersion as NDJSON, then live ones', async () => {
      expectStatus(await call('POST', base, { body: configMap('a') }), 201);
      const list = expectStatus(await call('GET', base), 200);
      const rv = list.metadata.resourceVersion;
      expectStatus(await call('POST', base, { body: configMap('b', { k: '1' }) }), 201);
      expectStatus(await call('POST', '/api/v1/namespaces/watch-other/configmaps', { body: configMap('elsewhere') }), 201);
      expectStatus(await call('PATCH', `${base}/b`, { body: { data: { k: '2' } }, contentType: 'application/merge-patch+json' }), 200);
      expectStatus(await call('DELETE', `${base}/a`), 200);

      // Replay happens inside the store's watch(); a consumer that throws there only gets logged.
      const logged = mock.method(console, 'error', () => undefined);
      let events: EventReader;
      try {
        events = await openWatch(`${base}?watch=true&resourceVersion=${rv}`);
      } finally {
        logged.mock.restore();
      }
      try {
        assert.deepEqual(
          logged.mock.calls.map((c) => c.arguments.map(String).join(' ')),
          [],
          'the replay raises no error',
        );
        assert.equal(events.res.status, 200);
        assert.match(events.res.headers.get('content-type') ?? '', /^application\/json/);
        const replayed = await events.next(3);
        assert.deepEqual(
          replayed.map((e) => [e.type, e.object.metadata.name]),
          [
            ['ADDED', 'b'],
            ['MODIFIED', 'b'],
            ['DELETED', 'a'],
          ],
        );
        assert.equal(replayed[0].object.kind, 'ConfigMap');
        assert.equal(replayed[1].object.data.k, '2');
        for (const e of replayed) assert.ok(Number(e.object.metadata.resourceVersion) > Number(rv));

        expectStatus(await call('POST', base, { body: configMap('live') }), 201);
        const [live] = await events.next(1);
        assert.equal(live.type, 'ADDED');
        assert.equal(live.object.metadata.name, 'live');
      } finally {
        await events.close();
      }
    });

    it('without a resourceVersion starts with the current objects as ADDED', async () => {
      const events = await openWatch(`${base}?watch=1&labelSelector=${encodeURIComponent('!absent')}`);
      try {
        // Every namespace also holds the cluster CA's ConfigMap.
        const initial = await events.next(3);
        assert.deepEqual(initial.map((e) => `${e.type} ${e.object.metadata.name}`).sort(), ['ADDED b', 'ADDED kube-root-ca.crt', 'ADDED live']);
      } finally {
        await events.close();
      }
    });

    it('sends Table objects when the client asked for Tables', async () => {
      const rv = expectStatus(await call('GET', base), 200).metadata.resourceVersion;
      const events = await openWatch(`${base}?watch=true&resourceVersion=${rv}`, { accept: TABLE_ACCEPT });
      try {
        expectStatus(await call('POST', base, { body: configMap('tabled', { x: '1', y: '2' }) }), 201);
        const [event] = await events.next(1);
        assert.equal(event.type, 'ADDED');
        assert.equal(event.object.kind, 'Table');
        assert.equal(event.object.apiVersion, 'meta.k8s.io/v1');
        assert.deepEqual(
          event.object.columnDefinitions.map((c: any) => c.name),
          ['Name', 'Data', 'Age'],
        );
        assert.equal(event.object.rows.length, 1);
        assert.equal(event.object.rows[0].cells[0], 'tabled');
        assert.equal(event.object.rows[0].cells[1], 2);
        assert.equal(event.object.rows[0].object.kind, 'PartialObjectMetadata');
      } finally {
        await events.close();
      }
    });

    it('ends a watch by itself after timeoutSeconds', async () => {
      const rv = expectStatus(await call('GET', base), 200).metadata.resourceVersion;
      const started = Date.now();
      const events = await openWatch(`${base}?watch=true&resourceVersion=${rv}&timeoutSeconds=1`);
      try {
        assert.equal(events.res.status, 200);
        assert.ok(await events.untilEnd(5000), 'the watch ended within 5 s');
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 900, `ended after ${elapsed} ms, not before the timeout`);
      } finally {
        await events.close();
      }
    });

    it('answers 410 Expired for a revision older than the history', async (t) => {
      const small = createMemoryStore({ historySize: 2 });
      const reg = new Registry(small);
      try {
        await reg.start();
        const { app: app2, stop } = await startTestApp(reg, TOKEN);
        t.after(stop);
        for (const name of ['c1', 'c2', 'c3', 'c4']) {
          const r = await app2.request('/api/v1/namespaces/default/configmaps', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(configMap(name)) });
          assert.equal(r.status, 201);
        }
        const res = await app2.request('/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1', { headers: { authorization: `Bearer ${TOKEN}` } });
        assert.equal(res.status, 410);
        const status = (await res.json()) as { kind: string; reason: string };
        assert.equal(status.kind, 'Status');
        assert.equal(status.reason, 'Expired');
      } finally {
        await reg.close();
        await small.close();
      }
    });
  });

  describe('Service address allocation', () => {
    const base = '/api/v1/namespaces/svc-ns/services';
    function service(name: string, spec: Record<string, unknown> = {}): KubeObject {
      return { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }], ...spec } } as KubeObject;
    }
    before(() => createNamespace('svc-ns'));

    it('gives each Service a unique ClusterIP in 127.77.0.0/16', async () => {
      const ips: string[] = [];
      for (let i = 0; i < 6; i++) {
        const svc = expectStatus(await call('POST', base, { body: service(`s${i}`) }), 201);
        assert.match(svc.spec.clusterIP, /^127\.77\.\d{1,3}\.\d{1,3}$/);
        assert.deepEqual(svc.spec.clusterIPs, [svc.spec.clusterIP]);
        assert.equal(svc.spec.type, 'ClusterIP');
        ips.push(svc.spec.clusterIP);
      }
      assert.equal(new Set(ips).size, ips.length, `unique: ${ips.join(' ')}`);

      const taken = expectStatus(await call('POST', base, { body: service('dup', { clusterIP: ips[0] }) }), 422);
      assert.equal(taken.reason, 'Invalid');
      assert.ok(taken.details.causes.some((c: any) => c.field === 'spec.clusterIP'));
      assert.match(taken.message, /already allocated/);

      const outside = expectStatus(await call('POST', base, { body: service('outside', { clusterIP: '198.18.0.5' }) }), 422);
      assert.match(outside.message, /not in the valid range/);

      const chosen = expectStatus(await call('POST', base, { body: service('chosen', { clusterIP: '127.77.200.7' }) }), 201);
      assert.equal(chosen.spec.clusterIP, '127.77.200.7');
      const headless = expectStatus(await call('POST', base, { body: service('headless', { clusterIP: 'None' }) }), 201);
      assert.equal(headless.spec.clusterIP, 'None');
    });

    it('keeps the ClusterIP when a Service is replaced without one', async () => {
      const svc = expectStatus(await call('GET', `${base}/s0`), 200);
      const body = structuredClone(svc);
      delete body.spec.clusterIP;
      delete body.spec.clusterIPs;
      body.metadata.labels = { changed: 'yes' };
      const replaced = expectStatus(await call('PUT', `${base}/s0`, { body }), 200);
      assert.equal(replaced.spec.clusterIP, svc.spec.clusterIP);
    });

    it('gives NodePort Services a port in 30000-32767', async () => {
      const ports = new Set<number>();
      for (let i = 0; i < 3; i++) {
        const svc = expectStatus(
          await call('POST', base, { body: service(`np${i}`, { type: 'NodePort', ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] }) }),
          201,
        );
        for (const p of svc.spec.ports) {
          assert.ok(Number.isInteger(p.nodePort) && p.nodePort >= 30000 && p.nodePort <= 32767, `nodePort ${p.nodePort} in range`);
          ports.add(p.nodePort);
        }
      }
      assert.equal(ports.size, 6, 'node ports are unique');
      const used = [...ports][0];
      const clash = expectStatus(await call('POST', base, { body: service('npdup', { type: 'NodePort', ports: [{ port: 80, nodePort: used }] }) }), 422);
      assert.match(clash.message, /already allocated/);
    });

    it('drops the node ports of a NodePort Service changed to ClusterIP (as kubectl apply leaves them in)', async () => {
      const np = expectStatus(await call('POST', base, { body: service('np-to-cip', { type: 'NodePort', ports: [{ name: 'http', port: 80 }] }) }), 201);
      const changed = structuredClone(np);
      changed.spec.type = 'ClusterIP';
      const replaced = expectStatus(await call('PUT', `${base}/np-to-cip`, { body: changed }), 200);
      assert.equal(replaced.spec.ports[0].nodePort, undefined);
      assert.equal(replaced.spec.clusterIP, np.spec.clusterIP);
      // The freed port can be taken by another Service.
      const reuse = expectStatus(await call('POST', base, { body: service('np-reuse', { type: 'NodePort', ports: [{ port: 80, nodePort: np.spec.ports[0].nodePort }] }) }), 201);
      assert.equal(reuse.spec.ports[0].nodePort, np.spec.ports[0].nodePort);
    });
  });
});
