// AuthorizationPolicy decisions and validation, with policies shaped after Istio's documentation
// (allow-nothing, deny by principal, allow by namespace and method, TCP against HTTP-only fields).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthorizationIndex, type AuthorizationPolicy, type AuthzRequest } from './authz.js';
import { validateAuthorizationPolicy } from './validation/authorizationpolicy.js';

const policy = (name: string, spec: AuthorizationPolicy['spec'], namespace = 'foo'): AuthorizationPolicy => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace }, spec });
const request = (o: { principal?: string; namespace?: string; ip?: string; port?: number; method?: string; path?: string; labels?: Record<string, string>; tcp?: boolean }): AuthzRequest => ({
  source: { principal: o.principal, namespace: o.namespace, ip: o.ip ?? '198.19.0.5' },
  destination: { namespace: 'foo', labels: o.labels ?? { app: 'httpbin' }, port: o.port ?? 8000 },
  ...(o.tcp ? {} : { http: { method: o.method ?? 'GET', path: o.path ?? '/', host: 'httpbin.foo' } }),
});
const SLEEP = 'spiffe://cluster.local/ns/foo/sa/sleep';
const OTHER = 'spiffe://cluster.local/ns/bar/sa/curl';

describe('AuthorizationPolicy decisions', () => {
  it('no policy allows; an ALLOW policy with no rules allows nothing (Istio\'s allow-nothing)', () => {
    assert.equal(new AuthorizationIndex([]).decide(request({})).allowed, true);
    const d = new AuthorizationIndex([policy('allow-nothing', {})]).decide(request({ principal: SLEEP }));
    assert.deepEqual(d, { allowed: false, reason: 'no ALLOW policy of foo/allow-nothing matches' });
    assert.equal(new AuthorizationIndex([policy('allow-all', { rules: [{}] })]).decide(request({})).allowed, true);
  });

  it('allows GET from a principal or a namespace; other methods, principals and plaintext clients are refused', () => {
    const index = new AuthorizationIndex([
      policy('httpbin', { selector: { matchLabels: { app: 'httpbin' } }, action: 'ALLOW', rules: [{ from: [{ source: { principals: ['cluster.local/ns/foo/sa/sleep'] } }, { source: { namespaces: ['bar'] } }], to: [{ operation: { methods: ['GET'], paths: ['/info*'] } }] }] }),
    ]);
    assert.deepEqual(index.decide(request({ principal: SLEEP, path: '/info/1' })), { allowed: true, policy: 'foo/httpbin', reason: 'allowed by AuthorizationPolicy foo/httpbin' });
    assert.equal(index.decide(request({ principal: OTHER, namespace: 'bar', path: '/info' })).allowed, true, 'by namespace');
    assert.equal(index.decide(request({ principal: SLEEP, method: 'POST', path: '/info' })).allowed, false, 'POST');
    assert.equal(index.decide(request({ principal: SLEEP, path: '/headers' })).allowed, false, 'another path');
    assert.equal(index.decide(request({ path: '/info' })).allowed, false, 'no identity');
    assert.equal(index.decide(request({ principal: SLEEP, labels: { app: 'other' } })).allowed, true, 'a workload the selector does not pick');
  });

  it('DENY wins over ALLOW; notPrincipals and ipBlocks', () => {
    const index = new AuthorizationIndex([
      policy('allow-all', { rules: [{}] }),
      policy('deny-others', { action: 'DENY', rules: [{ from: [{ source: { notPrincipals: ['cluster.local/ns/foo/*'] } }] }] }),
      policy('deny-block', { action: 'DENY', rules: [{ from: [{ source: { ipBlocks: ['203.0.113.0/24'] } }] }] }),
    ]);
    assert.equal(index.decide(request({ principal: SLEEP })).allowed, true);
    assert.deepEqual(index.decide(request({ principal: OTHER })), { allowed: false, policy: 'foo/deny-others', reason: 'denied by AuthorizationPolicy foo/deny-others' });
    assert.equal(index.decide(request({ principal: SLEEP, ip: '203.0.113.9' })).allowed, false, 'from the denied block');
    assert.equal(index.decide(request({})).allowed, false, 'no principal is none of those named: denied, as Istio does with notPrincipals');
  });

  it('plain TCP: an ALLOW rule with HTTP fields does not match, a DENY rule drops them and matches more', () => {
    const allow = new AuthorizationIndex([policy('get-only', { rules: [{ to: [{ operation: { methods: ['GET'] } }] }] })]);
    assert.equal(allow.decide(request({ tcp: true })).allowed, false);
    const deny = new AuthorizationIndex([policy('no-post', { action: 'DENY', rules: [{ to: [{ operation: { methods: ['POST'], ports: ['8000'] } }] }] })]);
    assert.equal(deny.decide(request({ tcp: true })).allowed, false, 'denied on port 8000 whatever the method');
    assert.equal(deny.decide(request({ tcp: true, port: 9000 })).allowed, true);
    assert.equal(deny.decide(request({ method: 'GET' })).allowed, true, 'HTTP GET is not POST');
  });

  it('policies of another namespace do not apply', () => {
    const index = new AuthorizationIndex([policy('allow-nothing', {}, 'bar')]);
    assert.equal(index.decide(request({})).allowed, true);
  });
});

describe('AuthorizationPolicy validation', () => {
  const causes = (spec: unknown) => validateAuthorizationPolicy({ spec }).map((c) => `${c.field}: ${c.message}`);

  it('accepts the honoured subset', () => {
    assert.deepEqual(causes({ selector: { matchLabels: { app: 'httpbin' } }, action: 'DENY', rules: [{ from: [{ source: { principals: ['cluster.local/ns/foo/sa/*'], notNamespaces: ['bar'], ipBlocks: ['198.51.100.0/24', '192.0.2.1'] } }], to: [{ operation: { ports: ['8080'], methods: ['GET', 'HEAD'], paths: ['/api/*', '*.png'], hosts: ['*.example.com'] } }] }] }), []);
    assert.deepEqual(causes({}), []);
  });

  it('refuses what tugboat does not enforce, by name, and malformed values, naming the field', () => {
    assert.deepEqual(causes({ action: 'AUDIT', rules: [{ when: [{ key: 'request.auth.claims[iss]', values: ['x'] }], from: [{ source: { requestPrincipals: ['*'] } }] }] }), [
      'spec.action: Unsupported value: "AUDIT": supported values: "ALLOW", "DENY"',
      'spec.rules[0].when: Forbidden: conditions are not enforced by tugboat',
      'spec.rules[0].from[0].source.requestPrincipals: Forbidden: request principals (JWT) are not enforced by tugboat',
    ]);
    assert.deepEqual(causes({ rules: [{ to: [{ operation: { ports: ['http'], methods: ['get'], paths: ['api'], hosts: [] } }], from: [{ source: { ipBlocks: ['198.51.100.300'], princpals: ['x'] } }] }] }), [
      'spec.rules[0].from[0].source.ipBlocks[0]: Invalid value: "198.51.100.300": must be an IPv4 address or CIDR',
      'spec.rules[0].from[0].source.princpals: Unsupported value: "princpals": supported values: "principals", "notPrincipals", "namespaces", "notNamespaces", "ipBlocks", "notIpBlocks"',
      'spec.rules[0].to[0].operation.ports[0]: Invalid value: "http": must be a port number from 1 to 65535, as a string',
      'spec.rules[0].to[0].operation.methods[0]: Invalid value: "get": must be an HTTP method in capitals (GET, POST, ...) or *',
      'spec.rules[0].to[0].operation.paths[0]: Invalid value: "api": must start with / (or * for a suffix match)',
      'spec.rules[0].to[0].operation.hosts: Required value: must have at least one value, or be left out',
    ]);
    assert.deepEqual(causes({ provider: { name: 'ext' }, rules: [{ from: [{}] }] }), ['spec.provider: Forbidden: CUSTOM authorization providers are not supported by tugboat', 'spec.rules[0].from[0].source: Required value']);
  });
});
