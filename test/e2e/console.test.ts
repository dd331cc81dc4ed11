// The web console end to end: a control process and one `tug node` with a Deployment of small web
// pods behind a Service, bounded load through the node proxy (to the Service's loopback ClusterIP),
// and the console opened in headless Chromium over the DevTools Protocol. The page must show the
// node, the Service with its endpoints and non-zero request rates, scale the Deployment, and turn
// a bad token away with a clear message. A screenshot goes to test-output/console.png.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { Agent } from 'node:http';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readKubeconfig } from '../../api/kubeconfig.js';
import { needs } from '../requirements.js';
import { Browser } from './chromium-support.js';
import { get } from './http-support.js';
import { NodeCluster, webDeployment } from './node-support.js';

const SERVICE_PORT = 8080;
const OUTPUT_DIR = resolve(fileURLToPath(new URL('../../../test-output/', import.meta.url)));

/**
 * Steady load on a loopback URL from two keep-alive connections, paced (a short pause after each
 * request) and bounded: at most `maxRequests`, and never longer than `maxMs`.
 */
function load(url: string, maxRequests: number, maxMs: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  const until = Date.now() + maxMs;
  let stopping = false;
  let sent = 0;
  let failed = 0;
  const worker = async () => {
    while (!stopping && sent < maxRequests && Date.now() < until) {
      sent++;
      await get(url, { agent, timeoutMs: 5000 }).then((r) => r.status === 200 || failed++, () => failed++);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const workers = [worker(), worker()];
  return {
    async stop() {
      stopping = true;
      await Promise.all(workers);
      agent.destroy();
      return { sent, failed };
    },
  };
}

interface ServiceOnPage {
  endpoints: { name: string; ready: string; rps: number }[];
  total: number;
}

describe('the web console in headless Chromium', { ...(await needs('kubectl', 'chromium')), timeout: 300_000 }, () => {
  const cluster = new NodeCluster();
  let clusterIP = '';
  let token = '';
  let ca = '';
  let browser: Browser | undefined;

  before(async () => {
    await cluster.start();
    await cluster.startNode({ name: 'c1', portRange: '25200-25299' });
    const marker = cluster.marker('console-echo');
    await cluster.apply(webDeployment('echo', 2, { marker, flag: cluster.flag(marker), readiness: '/', grace: 2 }));
    await cluster.apply({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'echo' },
      spec: { selector: { app: 'echo' }, ports: [{ name: 'http', port: SERVICE_PORT, targetPort: 'http', appProtocol: 'http' }] },
    });
    clusterIP = JSON.parse((await cluster.kubectl(['get', 'svc', 'echo', '-o', 'json'])).stdout).spec.clusterIP;
    assert.match(clusterIP, /^127\./, 'the ClusterIP is on loopback');
    await cluster.waitFor('2 endpoints serving', async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const seen = new Set<string>();
        for (let i = 0; i < 4; i++) seen.add((await get(`http://${clusterIP}:${SERVICE_PORT}/`, { agent, timeoutMs: 5000 })).body);
        return seen.size === 2 ? true : undefined;
      } catch {
        return undefined;
      } finally {
        agent.destroy();
      }
    }, 300);
    const conn = readKubeconfig(cluster.control.kubeconfig);
    token = conn.token!;
    ca = conn.caCert!;
    browser = await Browser.launch(cluster.scope, ['--ignore-certificate-errors']);
  });
  after(() => cluster.cleanup());

  /** The default/echo card as the page shows it, or null before it is there. */
  function echoOnPage(): Promise<ServiceOnPage | null> {
    return browser!.evaluate<ServiceOnPage | null>(`(() => {
      const card = document.querySelector('[data-service="default/echo"]');
      if (!card) return null;
      return {
        endpoints: [...card.querySelectorAll('tr[data-endpoint]')].map((r) => ({ name: r.dataset.endpoint, ready: r.dataset.ready, rps: Number(r.dataset.rps || 0) })),
        total: Number(card.querySelector('[data-total-rps]')?.dataset.totalRps || 0),
      };
    })()`);
  }

  it('serves /ui without a token; /ui/api/traffic needs it and rejects a malformed query', async (t) => {
    const url = cluster.control.url;
    const page = await get(`${url}/ui`, { ca });
    assert.equal(page.status, 200);
    assert.match(page.body, /tugboat console/);
    assert.equal((await get(`${url}/ui/api/traffic`, { ca })).status, 401);
    assert.equal((await get(`${url}/ui/api/traffic?service=echo`, { ca, token: 'not-the-token' })).status, 401);
    for (const query of ['service=Not_A_Name', 'namespace=%zz', 'namespace=a&namespace=b', 'what=ever']) {
      const r = await get(`${url}/ui/api/traffic?${query}`, { ca, token: token });
      assert.equal(r.status, 400, `${query}: ${r.body}`);
      assert.equal(JSON.parse(r.body).reason, 'BadRequest');
    }
    // Still serving after the bad input.
    assert.equal((await get(`${url}/ui/api/traffic?service=echo`, { ca, token: token })).status, 200);
  });

  it('shows the node, the service with its endpoints and their request rates under load', async (t) => {
    const running = load(`http://${clusterIP}:${SERVICE_PORT}/`, 20_000, 90_000);
    try {
      await browser!.navigate(`${cluster.control.url}/ui#token=${encodeURIComponent(token)}`);
      const seen = await cluster.waitFor(
        'the console shows both endpoints of default/echo with traffic',
        async () => {
          const s = await echoOnPage();
          return s && s.endpoints.length === 2 && s.endpoints.every((e) => e.rps > 0) ? s : undefined;
        },
        300,
        200,
      );
      assert.ok(seen.endpoints.every((e) => e.ready === 'true' && /^echo-/.test(e.name)));
      // Two more refreshes, so the rates shown are measured over load only.
      for (let i = 0; i < 2; i++) {
        const status = await browser!.evaluate<string>(`document.getElementById('status').textContent`);
        await cluster.waitFor('the page refreshes', async () => ((await browser!.evaluate<string>(`document.getElementById('status').textContent`)) !== status ? true : undefined), 100, 200);
      }
      const shown = (await echoOnPage())!;
      assert.ok(shown.endpoints.length === 2 && shown.endpoints.every((e) => e.rps > 0), JSON.stringify(shown));
      t.diagnostic(`on the page: ${shown.endpoints.map((e) => `${e.name} ${e.rps.toFixed(1)} req/s`).join(', ')}; total ${shown.total.toFixed(1)} req/s`);
      const node = await browser!.evaluate<string | null>(`document.querySelector('[data-node="c1"]')?.dataset.ready ?? null`);
      assert.equal(node, 'True', 'node c1 is shown Ready');
      const pods = await browser!.evaluate<string[]>(`[...document.querySelectorAll('tr[data-pod^="default/echo-"]')].map((r) => r.dataset.phase)`);
      assert.deepEqual(pods, ['Running', 'Running']);
      assert.equal(await browser!.evaluate(`location.hash`), '', 'the token is gone from the address bar');
      assert.equal(await browser!.evaluate(`sessionStorage.getItem('tugboat.console.token')`), token);
      mkdirSync(OUTPUT_DIR, { recursive: true });
      const file = resolve(OUTPUT_DIR, 'console.png');
      await browser!.screenshot(file);
      t.diagnostic(`screenshot: ${file}`);
    } finally {
      const { sent, failed } = await running.stop();
      t.diagnostic(`${sent} requests sent to ${clusterIP}:${SERVICE_PORT}, ${failed} failed`);
    }
  });

  it('scales the deployment from the page', async (t) => {
    const clicked = await browser!.evaluate<boolean>(`(() => {
      const form = document.querySelector('form[data-scale="default/echo"]');
      if (!form) return false;
      const input = form.querySelector('input');
      input.value = '3';
      input.dispatchEvent(new Event('input', { bubbles: true }));
      form.querySelector('button').click();
      return true;
    })()`);
    assert.ok(clicked, 'the page has a scale form for default/echo');
    const replicas = await cluster.waitFor('spec.replicas of deploy/echo is 3', async () => {
      const d = JSON.parse((await cluster.kubectl(['get', 'deploy', 'echo', '-o', 'json'])).stdout);
      return d.spec.replicas === 3 ? d.spec.replicas : undefined;
    });
    assert.equal(replicas, 3);
    const notice = await cluster.waitFor('the page confirms', async () => (await browser!.evaluate<string>(`document.getElementById('notice').textContent`)) || undefined);
    assert.match(notice, /Scaled deployment default\/echo to 3 replicas/);
    await cluster.waitFor('the page shows 3 pods', async () => ((await browser!.evaluate<number>(`document.querySelectorAll('tr[data-pod^="default/echo-"]').length`)) === 3 ? true : undefined), 300);
  });

  it('turns a bad token away with a clear message', async (t) => {
    await browser!.navigate(`${cluster.control.url}/ui#token=not-the-token`);
    const message = await cluster.waitFor('the login message', async () => {
      const shown = await browser!.evaluate<{ login: boolean; message: string } | null>(`(() => {
        const m = document.getElementById('login-message');
        return m ? { login: !document.getElementById('login').hidden, message: m.hidden ? '' : m.textContent } : null;
      })()`);
      return shown?.login && shown.message ? shown.message : undefined;
    });
    assert.match(message, /did not accept this token \(401 Unauthorized\)/);
    assert.equal(await browser!.evaluate(`sessionStorage.getItem('tugboat.console.token')`), null, 'the bad token is not kept');
  });
});
