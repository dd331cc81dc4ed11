// RBAC's rule matching and coverage, case by case as Kubernetes' rbac/validation defines them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requestAttributes, type Attributes } from './attributes.js';
import { covers, ruleAllows, subjectMatches, type PolicyRule } from './rbac.js';

const attrs = (method: string, path: string): Attributes => requestAttributes(method, new URL(path, 'https://x'));

describe('request attributes', () => {
  it('reads verb, group, resource, subresource, namespace and name from the path', () => {
    assert.deepEqual(
      { ...attrs('GET', '/api/v1/namespaces/dev/pods'), path: undefined },
      { verb: 'list', resourceRequest: true, path: undefined, apiGroup: '', apiVersion: 'v1', namespace: 'dev', resource: 'pods', subresource: '', name: '' },
    );
    const a = attrs('PATCH', '/apis/apps/v1/namespaces/dev/deployments/web/scale');
    assert.deepEqual([a.verb, a.apiGroup, a.resource, a.subresource, a.name], ['patch', 'apps', 'deployments', 'scale', 'web']);
    assert.equal(attrs('GET', '/api/v1/pods?watch=1').verb, 'watch');
    assert.equal(attrs('DELETE', '/api/v1/namespaces/dev/pods').verb, 'deletecollection');
    assert.equal(attrs('GET', '/api/v1/namespaces/dev/pods/web/exec?command=sh').verb, 'create', 'exec is create, even as a GET upgrade');
    assert.equal(attrs('GET', '/api/v1/namespaces/dev/pods?fieldSelector=metadata.name%3Dweb').name, 'web');
  });

  it('takes namespaces/NAME as the namespace object and namespaces/NAME/status as its subresource', () => {
    const ns = attrs('GET', '/api/v1/namespaces/dev');
    assert.deepEqual([ns.resource, ns.name, ns.namespace], ['namespaces', 'dev', 'dev']);
    const st = attrs('PUT', '/api/v1/namespaces/dev/status');
    assert.deepEqual([st.resource, st.name, st.subresource], ['namespaces', 'dev', 'status']);
  });

  it('calls everything else a non-resource path', () => {
    for (const p of ['/version', '/api', '/apis', '/apis/apps', '/apis/apps/v1', '/metrics', '/openapi/v3']) {
      const a = attrs('GET', p);
      assert.equal(a.resourceRequest, false, p);
      assert.equal(a.path, p);
    }
  });
});

describe('rule matching', () => {
  const rule = (r: Partial<PolicyRule>): PolicyRule => ({ verbs: ['get'], apiGroups: [''], resources: ['pods'], ...r });

  it('matches verbs, groups and resources, with * for each', () => {
    assert.ok(ruleAllows(rule({}), attrs('GET', '/api/v1/namespaces/a/pods/x')));
    assert.ok(!ruleAllows(rule({}), attrs('GET', '/api/v1/namespaces/a/pods')), 'get is not list');
    assert.ok(ruleAllows(rule({ verbs: ['*'] }), attrs('DELETE', '/api/v1/namespaces/a/pods/x')));
    assert.ok(!ruleAllows(rule({}), attrs('GET', '/apis/apps/v1/namespaces/a/deployments/x')));
    assert.ok(ruleAllows(rule({ apiGroups: ['*'], resources: ['*'] }), attrs('GET', '/apis/apps/v1/namespaces/a/deployments/x')));
  });

  it('treats subresources as their own resources: pods/log, pods/*, */scale', () => {
    const log = attrs('GET', '/api/v1/namespaces/a/pods/x/log');
    assert.ok(!ruleAllows(rule({}), log), 'pods does not cover pods/log');
    assert.ok(ruleAllows(rule({ resources: ['pods/log'] }), log));
    assert.ok(ruleAllows(rule({ resources: ['pods/*'] }), log));
    assert.ok(!ruleAllows(rule({ resources: ['pods/*'] }), attrs('GET', '/api/v1/namespaces/a/pods/x')), 'pods/* is not pods');
    assert.ok(ruleAllows(rule({ apiGroups: ['apps'], resources: ['*/scale'] }), attrs('GET', '/apis/apps/v1/namespaces/a/deployments/x/scale')));
  });

  it('limits by resourceNames: a list or a create names nothing and does not match', () => {
    const r = rule({ verbs: ['get', 'list', 'create'], resourceNames: ['x'] });
    assert.ok(ruleAllows(r, attrs('GET', '/api/v1/namespaces/a/pods/x')));
    assert.ok(!ruleAllows(r, attrs('GET', '/api/v1/namespaces/a/pods/y')));
    assert.ok(!ruleAllows(r, attrs('GET', '/api/v1/namespaces/a/pods')));
    assert.ok(!ruleAllows(r, attrs('POST', '/api/v1/namespaces/a/pods')));
  });

  it('matches non-resource URLs exactly or by a trailing *', () => {
    const r: PolicyRule = { verbs: ['get'], nonResourceURLs: ['/healthz', '/apis/*'] };
    assert.ok(ruleAllows(r, attrs('GET', '/healthz')));
    assert.ok(ruleAllows(r, attrs('GET', '/apis/apps/v1')));
    assert.ok(!ruleAllows(r, attrs('GET', '/metrics')));
    assert.ok(!ruleAllows(r, attrs('POST', '/healthz')));
    assert.ok(!ruleAllows({ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, attrs('GET', '/metrics')), 'resource rules never match a path');
  });
});

describe('subjects', () => {
  const jane = { username: 'jane', groups: ['dev', 'system:authenticated'] };
  it('matches users, groups and ServiceAccounts (namespace defaulting to the binding\'s)', () => {
    assert.ok(subjectMatches({ kind: 'User', name: 'jane' }, jane, 'a'));
    assert.ok(subjectMatches({ kind: 'Group', name: 'dev' }, jane, 'a'));
    assert.ok(!subjectMatches({ kind: 'Group', name: 'jane' }, jane, 'a'));
    const sa = { username: 'system:serviceaccount:a:bot', groups: [] };
    assert.ok(subjectMatches({ kind: 'ServiceAccount', name: 'bot' }, sa, 'a'));
    assert.ok(!subjectMatches({ kind: 'ServiceAccount', name: 'bot' }, sa, 'b'));
    assert.ok(subjectMatches({ kind: 'ServiceAccount', name: 'bot', namespace: 'a' }, sa, 'b'));
  });
});

describe('coverage (escalation prevention)', () => {
  const read: PolicyRule = { verbs: ['get', 'list'], apiGroups: [''], resources: ['pods', 'configmaps'] };
  it('holds when every verb, group, resource and name of the new rules is held', () => {
    assert.ok(covers([read], [{ verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['x'] }]).covered);
    assert.ok(covers([{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }], [read]).covered);
  });

  it('fails, listing what is missing, for more verbs, other resources or a wildcard not held', () => {
    const r = covers([read], [{ verbs: ['get', 'delete'], apiGroups: [''], resources: ['pods', 'secrets'] }]);
    assert.equal(r.covered, false);
    assert.deepEqual(r.missing.map((m) => `${m.verbs[0]} ${m.resources![0]}`), ['get secrets', 'delete pods', 'delete secrets']);
    assert.equal(covers([read], [{ verbs: ['get'], apiGroups: [''], resources: ['*'] }]).covered, false, 'holding pods and configmaps is not holding *');
    assert.equal(covers([{ verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['x'] }], [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }]).covered, false);
    assert.equal(covers([read], [{ verbs: ['get'], nonResourceURLs: ['/metrics'] }]).covered, false);
  });
});
