// The console's routes through the API server's Hono app (`app.request()`, no sockets): the page
// and its assets are public, the traffic endpoint needs the token and rejects malformed queries.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { ProxyScrape } from '../../api/traffic.js';
import { startTestApp } from '../apiserver/test-app.js';
import { Registry } from '../apiserver/registry.js';
import { createMemoryStore } from '../store/index.js';
import { consoleApi, parseTrafficQuery } from './routes.js';
import { TrafficSampler } from './traffic.js';

const TOKEN = 'console-test-token';
const registry = new Registry(createMemoryStore());
await registry.start();
const { app, stop } = await startTestApp(registry, TOKEN);
after(async () => {
  await stop();
  await registry.close();
});

const get = (path: string, token?: string) => app.request(path, { headers: token ? { authorization: `Bearer ${token}` } : {} });

describe('console pages', () => {
  it('serves the page without a token, with a strict content security policy', async () => {
    const res = await get('/ui');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
    const html = await res.text();
    assert.match(html, /<script type="module" src="\/ui\/static\/main\.js"><\/script>/);
    assert.match(html, /id="token-input"/);
    const slash = await get('/ui/');
    assert.equal(slash.status, 301);
    assert.equal(slash.headers.get('location'), '/ui');
  });

  it('serves the compiled scripts and the stylesheet, and nothing else from the folder', async () => {
    for (const name of ['main.js', 'view.js']) {
      const res = await get(`/ui/static/${name}`);
      assert.equal(res.status, 200, name);
      assert.match(res.headers.get('content-type') ?? '', /^text\/javascript/);
      assert.doesNotMatch(await res.text(), /sourceMappingURL/);
    }
    assert.equal((await get('/ui/static/console.css')).status, 200);
    for (const path of ['/ui/static/view.test.js', '/ui/static/main.js.map', '/ui/static/..%2Froutes.js']) assert.equal((await get(path)).status, 404, path);
  });
});

describe('console traffic endpoint', () => {
  it('needs the token', async () => {
    const res = await get('/ui/api/traffic');
    assert.equal(res.status, 401);
    assert.equal((await res.json()).reason, 'Unauthorized');
    assert.equal((await get('/ui/api/traffic', 'wrong')).status, 401);
  });

  it('answers 400 to a malformed query, naming the parameter', async () => {
    for (const [query, says] of [
      ['service=Not_A_Name', /service="Not_A_Name"/],
      ['namespace=%zz', /namespace="%zz"/],
      ['namespace=a&namespace=b', /given 2 times/],
      ['servce=echo', /unknown query parameter "servce"/],
      ['service=', /service=""/],
    ] as const) {
      const res = await get(`/ui/api/traffic?${query}`, TOKEN);
      assert.equal(res.status, 400, query);
      const status = await res.json();
      assert.equal(status.reason, 'BadRequest');
      assert.match(status.message, says);
    }
  });

  it('answers 404 for a service that does not exist', async () => {
    const res = await get('/ui/api/traffic?service=nope', TOKEN);
    assert.equal(res.status, 404);
  });

  it('reads a service alone as one in the default namespace', () => {
    assert.deepEqual(parseTrafficQuery(new URLSearchParams('service=echo')), { namespace: 'default', service: 'echo' });
    assert.deepEqual(parseTrafficQuery(new URLSearchParams('')), {});
  });

  it('reports per-endpoint rates from the sampler', async () => {
    let clock = 0;
    let total = 0;
    const scrape = async (): Promise<ProxyScrape> => {
      total += 20;
      return {
        samples: [
          { name: 'tug_proxy_requests_total', labels: { namespace: 'default', service: 'echo', port: 'http', endpoint: 'echo-a', code: '200' }, value: total },
          { name: 'tug_proxy_requests_total', labels: { namespace: 'shop', service: 'cart', port: 'http', endpoint: 'cart-a', code: '200' }, value: 1 },
        ],
        missing: ['n2'],
      };
    };
    const sampler = new TrafficSampler({ scrape, clock: () => clock, sleep: async (ms) => void (clock += ms) });
    const api = consoleApi({ registry, sampler });
    const res = await api.request('/traffic?namespace=default');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      windowSeconds: 1,
      services: [{ namespace: 'default', service: 'echo', endpoints: [{ endpoint: 'echo-a', requestsPerSecond: 20, connectionsPerSecond: 0, share: 1 }] }],
      missingNodes: ['n2'],
    });
  });
});
