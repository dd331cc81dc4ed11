// ServiceAccount JWTs: what one key signs, it verifies, for the right audience and time only;
// anything altered, expired or signed by another key is nobody.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { API_AUDIENCE, ISSUER, ServiceAccountTokens } from './serviceaccount-tokens.js';

const NOW = 1_800_000_000;
const claims = {
  namespace: 'dev',
  serviceAccount: { name: 'bot', uid: 'sa-uid' },
  bound: { kind: 'Pod' as const, name: 'web-1', uid: 'pod-uid' },
  node: { name: 'n1' },
  audiences: [API_AUDIENCE],
  issuedAt: NOW,
  expiresAt: NOW + 3600,
};

describe('ServiceAccount tokens', () => {
  const keys = ServiceAccountTokens.ephemeral();
  const token = keys.issue(claims);

  it('is a JWT (ES256) with the Kubernetes claims', () => {
    const [header, payload] = token.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, any>);
    assert.equal(header.alg, 'ES256');
    assert.equal(payload.iss, ISSUER);
    assert.equal(payload.sub, 'system:serviceaccount:dev:bot');
    assert.deepEqual(payload['kubernetes.io'], { namespace: 'dev', serviceaccount: { name: 'bot', uid: 'sa-uid' }, pod: { name: 'web-1', uid: 'pod-uid' }, node: { name: 'n1' } });
  });

  it('verifies for its audience while it is valid, with the claims it was issued with', () => {
    const v = keys.verify(token, [API_AUDIENCE], NOW + 10);
    assert.equal(v?.serviceAccount.name, 'bot');
    assert.deepEqual(v?.bound, { kind: 'Pod', name: 'web-1', uid: 'pod-uid' });
  });

  it('is nobody for another audience, after expiry, before it starts, from another key, or altered', () => {
    assert.equal(keys.verify(token, ['vault'], NOW + 10), undefined);
    assert.equal(keys.verify(token, [API_AUDIENCE], NOW + 3600 + 61), undefined);
    assert.equal(keys.verify(token, [API_AUDIENCE], NOW - 61), undefined);
    assert.equal(ServiceAccountTokens.ephemeral().verify(token, [API_AUDIENCE], NOW + 10), undefined);
    const [h, p, s] = token.split('.');
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    payload['kubernetes.io'].serviceaccount.name = 'admin';
    assert.equal(keys.verify(`${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`, [API_AUDIENCE], NOW + 10), undefined);
    const none = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    assert.equal(keys.verify(`${none}.${p}.`, [API_AUDIENCE], NOW + 10), undefined);
    for (const junk of ['', 'a.b', 'a.b.c', `${h}.${p}`, '...']) assert.equal(keys.verify(junk, [API_AUDIENCE], NOW), undefined);
  });
});
