// API server metric labels: the Kubernetes verb, and a resource label from fixed lists only.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ApiMetrics, resourceOfPath, verbOf } from './metrics.js';

describe('resourceOfPath', () => {
  it('names the resource of namespaced, cluster-scoped and grouped paths', () => {
    assert.deepEqual(resourceOfPath('/api/v1/namespaces/ns/pods/x'), { resource: 'pods', hasName: true });
    assert.deepEqual(resourceOfPath('/api/v1/namespaces/ns/pods'), { resource: 'pods', hasName: false });
    assert.deepEqual(resourceOfPath('/api/v1/namespaces/ns'), { resource: 'namespaces', hasName: true });
    assert.deepEqual(resourceOfPath('/api/v1/nodes'), { resource: 'nodes', hasName: false });
    assert.deepEqual(resourceOfPath('/apis/apps/v1/namespaces/d/deployments/web/scale'), { resource: 'deployments', hasName: true });
  });

  it('keeps known non-resource paths and folds discovery under its first part', () => {
    for (const p of ['/version', '/api', '/api/v1', '/apis', '/metrics', '/sd/prometheus', '/healthz', '/openapi/v2']) assert.equal(resourceOfPath(p).resource, p);
    assert.equal(resourceOfPath('/apis/apps').resource, '/apis');
    assert.equal(resourceOfPath('/openapi/v3/apis/apps/v1').resource, '/openapi/v3');
    assert.equal(resourceOfPath('/ui/app.js').resource, '/ui');
  });

  it('counts every unknown path or resource as other, so scanners cannot add series', () => {
    for (const p of ['/wp-login.php', '/a/b/c', '/api/v1/gizmos', '/api/v1/namespaces/ns/gizmos/x', '/apis/x.example/v9/things']) {
      assert.equal(resourceOfPath(p).resource, 'other', p);
    }
  });
});

describe('verbOf', () => {
  it('maps methods to Kubernetes verbs, and unknown methods to other', () => {
    assert.equal(verbOf('GET', false, undefined), 'list');
    assert.equal(verbOf('GET', true, undefined), 'get');
    assert.equal(verbOf('GET', false, '1'), 'watch');
    assert.equal(verbOf('DELETE', false, undefined), 'deletecollection');
    assert.equal(verbOf('HEAD', false, undefined), 'head');
    assert.equal(verbOf('PROPFIND', false, undefined), 'other');
  });
});

describe('ApiMetrics', () => {
  it('records one series per verb, resource and code', async () => {
    const registry = new Registry();
    const metrics = new ApiMetrics(registry);
    metrics.observe('GET', '/api/v1/namespaces/ns/pods', undefined, 200, 0.002);
    metrics.observe('GET', '/random-1', undefined, 404, 0.001);
    metrics.observe('GET', '/random-2', undefined, 404, 0.001);
    const text = await registry.metrics();
    assert.match(text, /^tug_apiserver_requests_total\{verb="list",resource="pods",code="200"\} 1$/m);
    assert.match(text, /^tug_apiserver_requests_total\{verb="list",resource="other",code="404"\} 2$/m);
  });
});
