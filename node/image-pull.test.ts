// Which registry an image names, which logins image pull Secrets hold for it, and the back-off.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../api/types.js';
import { credentialsFor, credentialsFrom, imageBackoffMs, registryOf } from './image-pull.js';

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64');
const secret = (name: string, type: string, data: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, type, data }) as unknown as KubeObject;

describe('image pull credentials', () => {
  it('reads the registry from an image reference as docker does', () => {
    assert.equal(registryOf('nginx'), 'docker.io');
    assert.equal(registryOf('library/nginx:1.27'), 'docker.io');
    assert.equal(registryOf('127.0.0.1:5000/tiny:1'), '127.0.0.1:5000');
    assert.equal(registryOf('registry.example/team/app@sha256:abc'), 'registry.example');
    assert.equal(registryOf('localhost/app'), 'localhost');
  });

  it('takes logins from dockerconfigjson (user and password, or auth) and dockercfg Secrets, and names what it cannot use', () => {
    const { credentials, problems } = credentialsFrom([
      secret('regcred', 'kubernetes.io/dockerconfigjson', { '.dockerconfigjson': b64({ auths: { '127.0.0.1:5000': { username: 'a', password: 'p' }, 'https://index.docker.io/v1/': { auth: b64('hub:pw:with:colons') } } }) }),
      secret('old', 'kubernetes.io/dockercfg', { '.dockercfg': b64({ 'https://reg.example:8443': { auth: b64('o:q') } }) }),
      secret('opaque', 'Opaque', { x: b64('y') }),
      secret('broken', 'kubernetes.io/dockerconfigjson', { '.dockerconfigjson': b64('{not json') }),
    ]);
    assert.deepEqual(credentials, [
      { secret: 'regcred', registry: '127.0.0.1:5000', username: 'a', password: 'p' },
      { secret: 'regcred', registry: 'docker.io', username: 'hub', password: 'pw:with:colons' },
      { secret: 'old', registry: 'reg.example:8443', username: 'o', password: 'q' },
    ]);
    assert.equal(problems.length, 2);
    assert.match(problems[0], /Secret "opaque" is not of type kubernetes\.io\/dockerconfigjson/);
    assert.match(problems[1], /Secret "broken": \.dockerconfigjson is not valid JSON/);
    assert.deepEqual(credentialsFor('127.0.0.1:5000/tiny:1', credentials).map((c) => c.username), ['a']);
    assert.deepEqual(credentialsFor('nginx:1', credentials).map((c) => c.username), ['hub']);
    assert.deepEqual(credentialsFor('other.example/x:1', credentials), []);
  });

  it('backs off 10 s, doubling to 5 min', () => {
    assert.deepEqual([1, 2, 3, 5, 6, 20].map(imageBackoffMs), [10_000, 20_000, 40_000, 160_000, 300_000, 300_000]);
  });
});
