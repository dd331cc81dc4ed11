// The audit log through the API server's HTTP layer: one JSON line per request with who, what,
// the decision and the code; the policy's levels; and no Secret ever written past Metadata.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { requestAttributes } from '../auth/attributes.js';
import { createMemoryStore } from '../store/index.js';
import { newUserTokenSecret } from '../tokens.js';
import { resourceOfKind } from '../../api/resources.js';
import { AuditLog, auditLevel, parseAuditPolicy } from './audit.js';
import { Registry } from './registry.js';
import { startTestApp } from './test-app.js';

const ADMIN = 'audit-admin-token';
const attrs = (method: string, path: string) => requestAttributes(method, new URL(path, 'https://x'));

describe('audit policy', () => {
  const policy = parseAuditPolicy(`apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: None
    users: ["system:kube-controller-manager"]
  - level: RequestResponse
    resources: [{group: "", resources: ["configmaps", "secrets"]}]
  - level: Metadata
`);
  it("gives each request the first matching rule's level", () => {
    const admin = { username: 'system:admin', groups: ['system:masters'] };
    assert.equal(auditLevel(policy, { username: 'system:kube-controller-manager', groups: [] }, attrs('GET', '/api/v1/pods')), 'None');
    assert.equal(auditLevel(policy, admin, attrs('POST', '/api/v1/namespaces/a/configmaps')), 'RequestResponse');
    assert.equal(auditLevel(policy, admin, attrs('GET', '/apis/apps/v1/deployments')), 'Metadata');
  });
  it('never logs a Secret, a TokenReview or a TokenRequest above Metadata', () => {
    const admin = { username: 'system:admin', groups: [] };
    assert.equal(auditLevel(policy, admin, attrs('POST', '/api/v1/namespaces/a/secrets')), 'Metadata');
    const all = parseAuditPolicy('apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Request}]\n');
    assert.equal(auditLevel(all, admin, attrs('POST', '/api/v1/namespaces/a/serviceaccounts/x/token')), 'Metadata');
    assert.equal(auditLevel(all, admin, attrs('POST', '/apis/authentication.k8s.io/v1/tokenreviews')), 'Metadata');
    assert.equal(auditLevel(all, admin, attrs('POST', '/api/v1/namespaces/a/configmaps')), 'Request');
  });
  it('refuses a policy it cannot read', () => {
    assert.throws(() => parseAuditPolicy('kind: Other'), /must be apiVersion audit\.k8s\.io\/v1, kind Policy/);
    assert.throws(() => parseAuditPolicy('apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Loud}]'), /rules\[0\]\.level must be one of None, Metadata, Request, RequestResponse/);
  });
});

describe('the audit log of an API server', () => {
  it('writes one event per request: user, verb, object, decision and code; Secret data never', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tug-audit-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'audit.log');
    const audit = new AuditLog(file, parseAuditPolicy('apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Request}]\n'));
    const registry = new Registry(createMemoryStore());
    await registry.start();
    const { app, stop } = await startTestApp(registry, ADMIN, { audit });
    t.after(async () => {
      await stop();
      await registry.close();
    });
    const { token, secret } = newUserTokenSecret('jane', []);
    await registry.create(resourceOfKind('Secret'), 'kube-system', secret);
    const send = (tok: string, method: string, path: string, body?: object) =>
      app.request(path, { method, headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json', 'user-agent': 'audit-test' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    assert.equal((await send(ADMIN, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'cfg' }, data: { k: 'visible' } })).status, 201);
    assert.equal((await send(ADMIN, 'POST', '/api/v1/namespaces/default/secrets', { metadata: { name: 's' }, stringData: { password: 'never-logged' } })).status, 201);
    assert.equal((await send(token, 'GET', '/api/v1/namespaces/default/pods')).status, 403);
    assert.equal((await send('wrong', 'GET', '/api/v1/pods')).status, 401);
    await audit.close();
    const text = readFileSync(file, 'utf8');
    assert.ok(!text.includes('never-logged') && !text.includes(Buffer.from('never-logged').toString('base64')), 'no Secret data');
    const events = text.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(events.length, 4);
    const [cm, sec, denied, unauth] = events;
    assert.equal(cm.kind, 'Event');
    assert.equal(cm.apiVersion, 'audit.k8s.io/v1');
    assert.equal(cm.level, 'Request');
    assert.equal(cm.verb, 'create');
    assert.equal(cm.user.username, 'system:admin');
    assert.deepEqual(cm.objectRef, { resource: 'configmaps', namespace: 'default', apiGroup: '', apiVersion: 'v1' });
    assert.equal(cm.responseStatus.code, 201);
    assert.equal(cm.requestObject.data.k, 'visible');
    assert.equal(cm.annotations['authorization.k8s.io/decision'], 'allow');
    assert.equal(cm.userAgent, 'audit-test');
    assert.equal(sec.level, 'Metadata');
    assert.equal(sec.requestObject, undefined);
    assert.equal(denied.user.username, 'jane');
    assert.equal(denied.responseStatus.code, 403);
    assert.equal(denied.annotations['authorization.k8s.io/decision'], 'forbid');
    assert.equal(unauth.responseStatus.code, 401);
    assert.equal(unauth.user.username, 'system:anonymous');
  });
});
