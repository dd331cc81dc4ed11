// Authorization through the API server's HTTP layer (app.request, no sockets): users with tokens
// of their own, the default roles bound to them, 403s worded as Kubernetes words them, the review
// APIs kubectl auth uses, aggregation and escalation prevention.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import { resourceOfKind } from '../../api/resources.js';
import type { KubeObject } from '../../api/types.js';
import type { ApiEnv } from '../apiserver/app.js';
import { Registry } from '../apiserver/registry.js';
import { startTestApp } from '../apiserver/test-app.js';
import { createMemoryStore } from '../store/index.js';
import { newNodeTokenSecret, newUserTokenSecret } from '../tokens.js';

const ADMIN = 'authz-test-admin-token';
const SECRET = resourceOfKind('Secret');

let registry: Registry;
let app: Hono<ApiEnv>;
let stop: () => Promise<void>;

async function call(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await app.request(path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

async function tokenFor(username: string, groups: string[] = []): Promise<string> {
  const { token, secret } = newUserTokenSecret(username, groups);
  await registry.create(SECRET, 'kube-system', secret);
  return token;
}

function binding(kind: 'RoleBinding' | 'ClusterRoleBinding', name: string, roleKind: string, role: string, subjects: object[], namespace?: string): KubeObject {
  return { apiVersion: 'rbac.authorization.k8s.io/v1', kind, metadata: { name, ...(namespace ? { namespace } : {}) }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: roleKind, name: role }, subjects };
}

const user = (name: string) => ({ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name });
const RBAC = '/apis/rbac.authorization.k8s.io/v1';

async function canI(token: string, resourceAttributes: Record<string, string>): Promise<boolean> {
  const r = await call(token, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes } });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return r.json.status.allowed;
}

/** Polls until `check` holds (aggregation and the cache follow the store's watch). */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`never: ${what}`);
}

describe('authorization of every request', () => {
  let jane = '';
  before(async () => {
    registry = new Registry(createMemoryStore());
    await registry.start();
    ({ app, stop } = await startTestApp(registry, ADMIN));
    for (const ns of ['dev', 'prod']) assert.equal((await call(ADMIN, 'POST', '/api/v1/namespaces', { metadata: { name: ns } })).status, 201);
    jane = await tokenFor('jane', ['developers']);
  });
  after(async () => {
    await stop();
    await registry.close();
  });

  it('lets an authenticated user with no bindings discover the API and ask about itself, and nothing more', async () => {
    assert.equal((await call(jane, 'GET', '/api')).status, 200);
    assert.equal((await call(jane, 'GET', '/version')).status, 200);
    const who = await call(jane, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
    assert.equal(who.status, 201);
    assert.equal(who.json.status.userInfo.username, 'jane');
    assert.deepEqual(who.json.status.userInfo.groups, ['developers', 'system:authenticated']);
    const denied = await call(jane, 'GET', '/api/v1/namespaces/dev/pods');
    assert.equal(denied.status, 403);
    assert.equal(denied.json.reason, 'Forbidden');
    assert.equal(denied.json.message, 'pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "dev"');
    const named = await call(jane, 'GET', '/apis/apps/v1/namespaces/dev/deployments/web');
    assert.equal(named.json.message, 'deployments.apps "web" is forbidden: User "jane" cannot get resource "deployments" in API group "apps" in the namespace "dev"');
    assert.deepEqual(named.json.details, { name: 'web', group: 'apps', kind: 'deployments' });
    assert.equal((await call(jane, 'GET', '/api/v1/nodes')).json.message, 'nodes is forbidden: User "jane" cannot list resource "nodes" in API group "" at the cluster scope');
    assert.equal((await call(jane, 'GET', '/metrics')).json.message, 'forbidden: User "jane" cannot get path "/metrics"');
    assert.equal((await call(jane, 'GET', '/apis/nope.example.com/v1/widgets')).status, 403, 'an unknown resource is forbidden, not 404, to who may not see it');
  });

  it('gives view in one namespace: reads there but not Secrets, no writes, nothing elsewhere', async () => {
    assert.equal((await call(ADMIN, 'POST', `${RBAC}/namespaces/dev/rolebindings`, binding('RoleBinding', 'jane-view', 'ClusterRole', 'view', [user('jane')]))).status, 201);
    await until(async () => (await call(jane, 'GET', '/api/v1/namespaces/dev/pods')).status === 200, 'jane lists pods in dev');
    assert.equal((await call(jane, 'GET', '/apis/apps/v1/namespaces/dev/deployments')).status, 200);
    assert.equal((await call(jane, 'GET', '/api/v1/namespaces/dev/secrets')).status, 403);
    assert.equal((await call(jane, 'POST', '/api/v1/namespaces/dev/configmaps', { metadata: { name: 'c' } })).status, 403);
    assert.equal((await call(jane, 'GET', '/api/v1/namespaces/prod/pods')).status, 403);
    assert.equal(await canI(jane, { namespace: 'dev', verb: 'watch', resource: 'pods' }), true);
    assert.equal(await canI(jane, { namespace: 'dev', verb: 'delete', resource: 'pods' }), false);
    assert.equal(await canI(jane, { namespace: 'dev', verb: 'get', resource: 'pods', subresource: 'log' }), true);
    assert.equal(await canI(jane, { namespace: 'dev', verb: 'create', resource: 'pods', subresource: 'exec' }), false);
  });

  it('binds a group: every member gets the role', async () => {
    const bob = await tokenFor('bob', ['developers']);
    assert.equal((await call(ADMIN, 'POST', `${RBAC}/namespaces/prod/rolebindings`, binding('RoleBinding', 'devs-edit', 'ClusterRole', 'edit', [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'developers' }], 'prod'))).status, 201);
    await until(async () => (await call(bob, 'POST', '/api/v1/namespaces/prod/configmaps', { metadata: { name: 'from-bob' } })).status === 201, 'bob writes in prod');
    assert.equal((await call(jane, 'GET', '/api/v1/namespaces/prod/secrets')).status, 200, 'edit reads Secrets');
    assert.equal((await call(jane, 'GET', `${RBAC}/namespaces/prod/roles`)).status, 403, 'edit does not touch RBAC');
  });

  it('lists the rules that apply, as `kubectl auth can-i --list` asks', async () => {
    const r = await call(jane, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace: 'dev' } });
    assert.equal(r.status, 201);
    const resources = r.json.status.resourceRules.flatMap((x: any) => x.resources);
    assert.ok(resources.includes('pods') && resources.includes('selfsubjectaccessreviews'), JSON.stringify(r.json.status.resourceRules));
    assert.ok(!resources.includes('secrets'));
    assert.ok(r.json.status.nonResourceRules.some((x: any) => x.nonResourceURLs.includes('/version')));
  });

  it('answers SubjectAccessReview about someone else only for who may ask', async () => {
    const review = { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: 'jane', groups: ['developers'], resourceAttributes: { namespace: 'dev', verb: 'list', resource: 'pods' } } };
    const r = await call(ADMIN, 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', review);
    assert.equal(r.status, 201);
    assert.equal(r.json.status.allowed, true);
    assert.match(r.json.status.reason, /RoleBinding "dev\/jane-view" of ClusterRole "view"/);
    assert.equal((await call(jane, 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', review)).status, 403);
    const bad = await call(ADMIN, 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', { ...review, spec: { user: 'jane' } });
    assert.equal(bad.status, 422);
  });

  it('aggregates a ClusterRole labelled for view into view', async () => {
    const widgets = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'widget-viewer', labels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } }, rules: [{ verbs: ['get'], apiGroups: ['example.com'], resources: ['widgets'] }] };
    assert.equal((await call(ADMIN, 'POST', `${RBAC}/clusterroles`, widgets)).status, 201);
    await until(async () => (await call(ADMIN, 'GET', `${RBAC}/clusterroles/view`)).json.rules.some((r: any) => r.resources.includes('widgets')), 'view aggregates widgets');
    await until(async () => (await call(ADMIN, 'GET', `${RBAC}/clusterroles/admin`)).json.rules.some((r: any) => r.resources.includes('widgets')), 'admin aggregates view through edit');
    assert.equal(await canI(jane, { namespace: 'dev', verb: 'get', group: 'example.com', resource: 'widgets', name: 'w' }), true);
  });

  it('refuses a Role or binding that grants more than its author holds', async () => {
    const carol = await tokenFor('carol');
    assert.equal((await call(ADMIN, 'POST', `${RBAC}/namespaces/dev/rolebindings`, binding('RoleBinding', 'carol-admin', 'ClusterRole', 'admin', [user('carol')], 'dev'))).status, 201);
    await until(async () => (await call(carol, 'GET', `${RBAC}/namespaces/dev/roles`)).status === 200, 'carol administers dev');
    const role = (name: string, rules: object[]) => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name, namespace: 'dev' }, rules });
    assert.equal((await call(carol, 'POST', `${RBAC}/namespaces/dev/roles`, role('pod-reader', [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] }]))).status, 201);
    const up = await call(carol, 'POST', `${RBAC}/namespaces/dev/roles`, role('node-reader', [{ verbs: ['get'], apiGroups: [''], resources: ['nodes'] }, { verbs: ['*'], apiGroups: ['*'], resources: ['*'] }]));
    assert.equal(up.status, 403);
    assert.match(up.json.message, /^roles\.rbac\.authorization\.k8s\.io "node-reader" is forbidden: user "carol" \(groups=\["system:authenticated"\]\) is attempting to grant RBAC permissions not currently held:\n\{verbs=\["get"\] apiGroups=\[""\] resources=\["nodes"\]\}/);
    const toAdmin = await call(carol, 'POST', `${RBAC}/namespaces/dev/rolebindings`, binding('RoleBinding', 'carol-root', 'ClusterRole', 'cluster-admin', [user('carol')], 'dev'));
    assert.equal(toAdmin.status, 403);
    assert.match(toAdmin.json.message, /attempting to bind ClusterRole "cluster-admin"/);
    assert.equal((await call(carol, 'POST', `${RBAC}/namespaces/dev/rolebindings`, binding('RoleBinding', 'dave-view', 'ClusterRole', 'view', [user('dave')], 'dev'))).status, 201, 'she may pass on what she holds');
    const patched = await app.request(`${RBAC}/namespaces/dev/roles/pod-reader`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${carol}`, 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ rules: [{ verbs: ['get'], apiGroups: [''], resources: ['nodes'] }] }),
    });
    assert.equal(patched.status, 403, 'a patch is checked on the role it produces');
    assert.equal((await call(ADMIN, 'GET', `${RBAC}/namespaces/dev/roles/pod-reader`)).json.rules[0].resources[0], 'pods', 'and changed nothing');
  });

  it('does not let a join token read Secrets by listing, mint tokens, or change RBAC', async () => {
    const { token, secret } = newNodeTokenSecret();
    await registry.create(SECRET, 'kube-system', secret);
    assert.equal((await call(token, 'GET', '/api/v1/secrets')).status, 403);
    assert.equal((await call(token, 'GET', '/api/v1/namespaces/kube-system/secrets')).status, 403);
    const minted = newNodeTokenSecret().secret;
    assert.equal((await call(token, 'POST', '/api/v1/namespaces/kube-system/secrets', minted)).status, 403);
    assert.equal((await call(token, 'POST', `${RBAC}/clusterrolebindings`, binding('ClusterRoleBinding', 'mine', 'ClusterRole', 'cluster-admin', [user('system:bootstrap:x')]))).status, 403);
    assert.equal((await call(token, 'DELETE', '/api/v1/namespaces/dev')).status, 403);
  });

  it('answers a TokenReview with the token\'s user, or not authenticated', async () => {
    const r = await call(ADMIN, 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: jane } });
    assert.equal(r.status, 201);
    assert.equal(r.json.status.authenticated, true);
    assert.equal(r.json.status.user.username, 'jane');
    const no = await call(ADMIN, 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'abcdef.0123456789abcdef' } });
    assert.equal(no.json.status.authenticated, false);
    assert.equal((await call(jane, 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', { kind: 'TokenReview', spec: { token: jane } })).status, 403);
  });

  it('stops honouring a token once its Secret is gone, and never makes one a superuser', async () => {
    const { token, secret } = newUserTokenSecret('mallory', ['system:masters', 'system:nodes', 'ops']);
    await registry.create(SECRET, 'kube-system', secret);
    const who = await call(token, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { kind: 'SelfSubjectReview' });
    assert.deepEqual(who.json.status.userInfo.groups, ['ops', 'system:authenticated']);
    assert.equal((await call(token, 'GET', '/api/v1/namespaces')).status, 403);
    await registry.delete(SECRET, 'kube-system', secret.metadata.name!);
    assert.equal((await call(token, 'GET', '/version')).status, 401);
  });
});

describe('ServiceAccounts and their tokens', () => {
  const SA = '/api/v1/namespaces/apps/serviceaccounts';
  before(async () => {
    registry = new Registry(createMemoryStore());
    await registry.start();
    ({ app, stop } = await startTestApp(registry, ADMIN));
    assert.equal((await call(ADMIN, 'POST', '/api/v1/namespaces', { metadata: { name: 'apps' } })).status, 201);
  });
  after(async () => {
    await stop();
    await registry.close();
  });

  const tokenRequest = (spec: object = {}) => ({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec });

  it('gives every namespace a default ServiceAccount and the cluster CA', async () => {
    await until(async () => (await call(ADMIN, 'GET', `${SA}/default`)).status === 200, 'default ServiceAccount in apps');
    await until(async () => (await call(ADMIN, 'GET', '/api/v1/namespaces/apps/configmaps/kube-root-ca.crt')).json?.data?.['ca.crt'] === 'test CA', 'kube-root-ca.crt');
  });

  it('gives a new pod its ServiceAccount and the API access volume, and refuses one that does not exist', async () => {
    const pod = (name: string, spec: object = {}) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'x' }], ...spec } });
    const made = await call(ADMIN, 'POST', '/api/v1/namespaces/apps/pods', pod('p1'));
    assert.equal(made.status, 201);
    assert.equal(made.json.spec.serviceAccountName, 'default');
    const volume = made.json.spec.volumes.find((v: any) => v.name.startsWith('kube-api-access-'));
    assert.deepEqual(volume.projected.sources.map((s: any) => Object.keys(s)[0]), ['serviceAccountToken', 'configMap', 'downwardAPI']);
    assert.deepEqual(made.json.spec.containers[0].volumeMounts, [{ name: volume.name, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }]);
    const off = await call(ADMIN, 'POST', '/api/v1/namespaces/apps/pods', pod('p2', { automountServiceAccountToken: false }));
    assert.equal(off.json.spec.volumes, undefined, 'automountServiceAccountToken: false');
    const missing = await call(ADMIN, 'POST', '/api/v1/namespaces/apps/pods', pod('p3', { serviceAccountName: 'ghost' }));
    assert.equal(missing.status, 403);
    assert.equal(missing.json.message, 'pods "p3" is forbidden: error looking up service account apps/ghost: serviceaccount "ghost" not found');
  });

  it('issues a token that authenticates as the ServiceAccount, with exactly its permissions', async () => {
    assert.equal((await call(ADMIN, 'POST', SA, { metadata: { name: 'bot' } })).status, 201);
    const r = await call(ADMIN, 'POST', `${SA}/bot/token`, tokenRequest({ expirationSeconds: 600 }));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.equal(r.json.kind, 'TokenRequest');
    const token = r.json.status.token as string;
    assert.ok(Date.parse(r.json.status.expirationTimestamp) - Date.now() <= 600_000);
    const who = await call(token, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { kind: 'SelfSubjectReview' });
    assert.equal(who.json.status.userInfo.username, 'system:serviceaccount:apps:bot');
    assert.deepEqual(who.json.status.userInfo.groups, ['system:serviceaccounts', 'system:serviceaccounts:apps', 'system:authenticated']);
    assert.equal((await call(token, 'GET', '/api/v1/namespaces/apps/pods')).status, 403);
    assert.equal((await call(ADMIN, 'POST', `${RBAC}/namespaces/apps/rolebindings`, binding('RoleBinding', 'bot-view', 'ClusterRole', 'view', [{ kind: 'ServiceAccount', name: 'bot' }], 'apps'))).status, 201);
    await until(async () => (await call(token, 'GET', '/api/v1/namespaces/apps/pods')).status === 200, 'bot lists pods');
    assert.equal((await call(token, 'GET', '/api/v1/namespaces/apps/secrets')).status, 403);
    const review = await call(ADMIN, 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', { kind: 'TokenReview', spec: { token } });
    assert.equal(review.json.status.user.username, 'system:serviceaccount:apps:bot');
  });

  it('ends a token with its ServiceAccount, or with the pod it is bound to', async () => {
    assert.equal((await call(ADMIN, 'POST', SA, { metadata: { name: 'temp' } })).status, 201);
    const unbound = (await call(ADMIN, 'POST', `${SA}/temp/token`, tokenRequest())).json.status.token;
    assert.equal((await call(unbound, 'GET', '/version')).status, 200);
    assert.equal((await call(ADMIN, 'DELETE', `${SA}/temp`)).status, 200);
    assert.equal((await call(unbound, 'GET', '/version')).status, 401, 'its ServiceAccount is gone');
    const pod = await call(ADMIN, 'GET', '/api/v1/namespaces/apps/pods/p1');
    const bound = await call(ADMIN, 'POST', `${SA}/default/token`, tokenRequest({ boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p1', uid: pod.json.metadata.uid } }));
    assert.equal(bound.status, 201);
    const token = bound.json.status.token;
    const who = await call(token, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { kind: 'SelfSubjectReview' });
    assert.deepEqual(who.json.status.userInfo.extra['authentication.kubernetes.io/pod-name'], ['p1']);
    assert.equal((await call(ADMIN, 'DELETE', '/api/v1/namespaces/apps/pods/p1')).status, 200);
    assert.equal((await call(token, 'GET', '/version')).status, 401, 'its pod is gone');
  });

  it('refuses bad token requests with a clear error', async () => {
    const short = await call(ADMIN, 'POST', `${SA}/default/token`, tokenRequest({ expirationSeconds: 60 }));
    assert.equal(short.status, 422);
    assert.match(short.json.message, /spec\.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes/);
    assert.equal((await call(ADMIN, 'POST', `${SA}/ghost/token`, tokenRequest())).status, 404);
    const other = await call(ADMIN, 'POST', '/api/v1/namespaces/apps/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p4' }, spec: { containers: [{ name: 'c', image: 'x' }] } });
    const wrong = await call(ADMIN, 'POST', `${SA}/bot/token`, tokenRequest({ boundObjectRef: { kind: 'Pod', name: 'p4', uid: other.json.metadata.uid } }));
    assert.equal(wrong.status, 400, 'p4 runs as default, not bot');
    assert.equal((await call(ADMIN, 'POST', `${SA}/default/token`, tokenRequest({ boundObjectRef: { kind: 'Pod', name: 'p4', uid: 'not-its-uid' } }))).status, 409);
    const jane = await tokenFor('jane-sa');
    assert.equal((await call(jane, 'POST', `${SA}/default/token`, tokenRequest())).status, 403, 'minting needs create serviceaccounts/token');
  });
});
