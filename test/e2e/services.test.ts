// Services end to end: a Deployment of small web pods behind a Service, reached through the
// ClusterIP and a NodePort of the node proxy, with the real kubectl and `tug node` processes.
// Exact round robin per connection (TCP) and per request on one keep-alive connection (HTTP);
// scaling, a killed endpoint and a rolling update under constant load with zero failed requests.
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { METRICS_ADDRESS_ANNOTATION } from '../../api/annotations.js';
import { parseMetrics } from '../../api/traffic.js';
import { tug, type RunResult } from './harness.js';
import { get } from './http-support.js';
import { NodeCluster, pidsWith, webDeployment } from './node-support.js';
import { needs } from '../requirements.js';

const TCP_PORT = 7000;
const HTTP_PORT = 8080;

/** One request on a fresh TCP connection (HTTP/1.0, so the server closes): the body. */
function overTcp(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write('GET / HTTP/1.0\r\nHost: x\r\n\r\n'));
    socket.on('data', (d: string) => (data += d));
    socket.on('end', () => resolve(data.slice(data.indexOf('\r\n\r\n') + 4)));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('timed out')));
  });
}


/** The node's /metrics text, from the address it publishes on its Node. */
async function metricsOf(cluster: NodeCluster): Promise<string> {
  const node = JSON.parse((await cluster.kubectl(['get', 'node', 's1', '-o', 'json'])).stdout);
  const address = node.metadata.annotations[METRICS_ADDRESS_ANNOTATION];
  return (await get(`http://${address}/metrics`)).body;
}

const podOf = (body: string) => /hi from (\S+)/.exec(body)?.[1] ?? `?${body.slice(0, 40)}`;

function tally(names: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const n of names) m.set(n, (m.get(n) ?? 0) + 1);
  return m;
}

/** Constant load on a URL (a few keep-alive connections) until stopped, bounded in count. */
function load(url: string, concurrency = 4, maxRequests = 50_000) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let stopping = false;
  let sent = 0;
  const failures: string[] = [];
  const seen: { at: number; pod: string }[] = [];
  const worker = async () => {
    while (!stopping && sent < maxRequests) {
      sent++;
      try {
        const r = await get(url, { agent, timeoutMs: 5000 });
        if (r.status !== 200) failures.push(`HTTP ${r.status}: ${r.body.slice(0, 80)}`);
        else seen.push({ at: Date.now(), pod: podOf(r.body) });
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    seen,
    async stop() {
      stopping = true;
      await Promise.all(workers);
      agent.destroy();
      return { sent, failures, seen };
    },
  };
}

describe('services through the node proxy', { ...(await needs('kubectl')), timeout: 300_000 }, () => {
  const cluster = new NodeCluster();
  let marker = '';
  let clusterIP = '';
  let nodePort = 0;

  before(async () => {
    await cluster.start();
    await cluster.startNode({ name: 's1', portRange: '24300-24399' });
    marker = cluster.marker('echo');
    await cluster.apply(webDeployment('echo', 3, { marker, flag: cluster.flag(marker), readiness: '/', grace: 5, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } }));
    await cluster.apply({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'echo' },
      spec: {
        type: 'NodePort',
        selector: { app: 'echo' },
        ports: [
          { name: 'tcp', port: TCP_PORT, targetPort: 'http' },
          { name: 'http', port: HTTP_PORT, targetPort: 'http', appProtocol: 'http' },
        ],
      },
    });
    const svc = JSON.parse((await cluster.kubectl(['get', 'svc', 'echo', '-o', 'json'])).stdout);
    clusterIP = svc.spec.clusterIP;
    nodePort = svc.spec.ports.find((p: { name: string }) => p.name === 'http').nodePort;
    await readyEndpoints(3);
  });
  after(() => cluster.cleanup());

  /** Waits until the Service has `n` ready endpoints and the proxy answers from all of them. */
  async function readyEndpoints(n: number): Promise<string[]> {
    return cluster.waitFor(`${n} endpoints serving`, async () => {
      const ep = JSON.parse((await cluster.kubectl(['get', 'endpoints', 'echo', '-o', 'json'])).stdout);
      const names = (ep.subsets ?? []).flatMap((s: { addresses?: { targetRef?: { name: string } }[] }) => (s.addresses ?? []).map((a) => a.targetRef?.name));
      if (names.length !== n) return undefined;
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const got = new Set<string>();
        for (let i = 0; i < n * 2; i++) got.add(podOf((await get(`http://${clusterIP}:${HTTP_PORT}/`, { agent, timeoutMs: 5000 })).body));
        return got.size === n && names.every((x: string) => got.has(x)) ? names : undefined;
      } finally {
        agent.destroy();
      }
    }, 300);
  }

  it('spreads 300 new TCP connections exactly: 100 per pod', async () => {
    const bodies: string[] = [];
    for (let i = 0; i < 300; i++) bodies.push(podOf(await overTcp(clusterIP, TCP_PORT)));
    const counts = [...tally(bodies).values()];
    assert.equal(counts.length, 3, JSON.stringify([...tally(bodies)]));
    for (const c of counts) assert.ok(Math.abs(c - 100) <= 1, `100 ± 1 per pod: ${JSON.stringify([...tally(bodies)])}`);
  });

  it('spreads 300 requests on ONE keep-alive connection exactly: 100 per pod', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const bodies: string[] = [];
    try {
      for (let i = 0; i < 300; i++) bodies.push(podOf((await get(`http://${clusterIP}:${HTTP_PORT}/`, { agent, timeoutMs: 5000 })).body));
    } finally {
      agent.destroy();
    }
    const counts = [...tally(bodies).values()];
    assert.equal(counts.length, 3, JSON.stringify([...tally(bodies)]));
    for (const c of counts) assert.ok(Math.abs(c - 100) <= 1, `100 ± 1 per pod: ${JSON.stringify([...tally(bodies)])}`);
  });

  it('answers on 127.0.0.1:nodePort too', async () => {
    const agent = new Agent({ keepAlive: false });
    const r = await get(`http://127.0.0.1:${nodePort}/`, { agent, timeoutMs: 5000 });
    assert.equal(r.status, 200);
    assert.match(r.body, /^hi from echo-/);
  });

  it('scales 3 → 6 (new pods get traffic soon after Ready) and 6 → 2 under load with zero failed requests', async (t) => {
    const three = new Set(await readyEndpoints(3));
    const running = load(`http://${clusterIP}:${HTTP_PORT}/`);
    try {
      assert.equal((await cluster.kubectl(['scale', 'deploy/echo', '--replicas=6'])).code, 0);
      const six = await readyEndpoints(6);
      // When did each new pod turn Ready, and when did it first answer through the proxy?
      const pods = JSON.parse((await cluster.kubectl(['get', 'pods', '-l', 'app=echo', '-o', 'json'])).stdout).items;
      const lags: number[] = [];
      for (const name of six.filter((n) => !three.has(n))) {
        const pod = pods.find((p: { metadata: { name: string } }) => p.metadata.name === name);
        const readyAt = Date.parse(pod.status.conditions.find((c: { type: string }) => c.type === 'Ready').lastTransitionTime);
        const first = running.seen.find((s) => s.pod === name)?.at;
        if (first !== undefined && first > readyAt) lags.push(first - readyAt);
      }
      t.diagnostic(`first request to a new pod after its Ready time: ${lags.map((l) => `${l} ms`).join(', ')} (Ready times have 1 s resolution)`);
      assert.ok(lags.every((l) => l < 2000), `within the 1 s of a Ready timestamp: ${lags}`);
      // The proxy's own measure, in milliseconds: Endpoints change → this proxy serving it.
      const latency = parseMetrics(await metricsOf(cluster)).filter((s) => s.name.startsWith('tug_proxy_programming_latency_seconds'));
      const count = latency.find((s) => s.name === 'tug_proxy_programming_latency_seconds_count')?.value ?? 0;
      const withinOne = latency.find((s) => s.name === 'tug_proxy_programming_latency_seconds_bucket' && s.labels.le === '1')?.value ?? 0;
      const withinTenth = latency.find((s) => s.name === 'tug_proxy_programming_latency_seconds_bucket' && s.labels.le === '0.1')?.value ?? 0;
      t.diagnostic(`programming latency: ${withinTenth} of ${count} endpoint changes served within 100 ms, ${withinOne} within 1 s`);
      assert.ok(count >= 3 && withinOne === count, `every new endpoint served within 1 s of its Endpoints change (${withinOne}/${count})`);
      assert.equal((await cluster.kubectl(['scale', 'deploy/echo', '--replicas=2'])).code, 0);
      await readyEndpoints(2);
      await cluster.waitFor('4 pods gone', async () => (JSON.parse((await cluster.kubectl(['get', 'pods', '-l', 'app=echo', '-o', 'json'])).stdout).items.length === 2 ? true : undefined), 300);
    } finally {
      const { sent, failures } = await running.stop();
      t.diagnostic(`${sent} requests during the scaling, ${failures.length} failed`);
      assert.deepEqual(failures, [], 'zero failed requests');
    }
  });

  it('kill -9 of one endpoint under load: zero failed requests, and the endpoint is skipped until Ready again', async (t) => {
    const running = load(`http://${clusterIP}:${HTTP_PORT}/`);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const ep = JSON.parse((await cluster.kubectl(['get', 'endpoints', 'echo', '-o', 'json'])).stdout);
      const victim = ep.subsets[0].addresses[0].targetRef.name as string;
      const pid = pidsWith(marker).find((p) => {
        try {
          return readFileSync(`/proc/${p}/environ`, 'utf8').includes(`HOSTNAME=${victim}\0`) && !readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('tugboat-shim');
        } catch {
          return false;
        }
      });
      assert.ok(pid, 'found the endpoint process');
      process.kill(pid, 'SIGKILL');
      await cluster.waitFor('restarted and serving again', async () => {
        const p = await cluster.podJson(victim);
        return p.status.containerStatuses?.[0]?.restartCount >= 1 && p.status.conditions.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
      }, 300);
      await readyEndpoints(2);
    } finally {
      const { sent, failures } = await running.stop();
      t.diagnostic(`${sent} requests around the kill, ${failures.length} failed`);
      assert.deepEqual(failures, [], 'zero failed requests');
    }
  });

  it('tug traffic shows the load spread over the pods', async () => {
    const running = load(`http://${clusterIP}:${HTTP_PORT}/`, 2);
    let out: RunResult;
    try {
      out = await tug({ TUG_HOME: cluster.dir, KUBECONFIG: cluster.control.kubeconfig }, ['traffic', 'echo', '--interval', '1', '--count', '1']);
    } finally {
      await running.stop();
    }
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^service default\/echo: traffic over the last/m);
    const rows = [...out.stdout.matchAll(/^(echo-\S+)\s+([\d.]+)\s+([\d.]+)\s+█*\s*(\d+)%$/gm)];
    assert.equal(rows.length, 2, out.stdout);
    for (const r of rows) assert.ok(Number(r[2]) > 0, `requests/s for ${r[1]}: ${out.stdout}`);
  });

  it('a rolling update under load: zero failed requests, and the answers switch to the new pods', async (t) => {
    const before = new Set(await readyEndpoints(2));
    const running = load(`http://${clusterIP}:${HTTP_PORT}/`);
    let result: Awaited<ReturnType<typeof running.stop>>;
    try {
      assert.equal((await cluster.kubectl(['set', 'env', 'deploy/echo', 'VERSION=2'])).code, 0);
      const status = await cluster.kubectl(['rollout', 'status', 'deploy/echo', '--timeout=120s']);
      assert.equal(status.code, 0, status.stderr);
      await readyEndpoints(2);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      result = await running.stop();
    }
    t.diagnostic(`${result.sent} requests during the rollout, ${result.failures.length} failed`);
    assert.deepEqual(result.failures, [], 'zero failed requests');
    const last = result.seen.slice(-20).map((s) => s.pod);
    assert.ok(result.seen.some((s) => before.has(s.pod)), 'the old pods answered at first');
    assert.ok(last.every((p) => !before.has(p)), `the new pods answer at the end: ${last}`);
  });

  it('a Service without ready endpoints: TCP reset and HTTP 503 at once; deleting a Service frees its port', async () => {
    await cluster.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'nobody' }, spec: { selector: { app: 'nobody' }, ports: [{ name: 'tcp', port: 7001 }, { name: 'http', port: 8081, appProtocol: 'http' }] } });
    const ip = JSON.parse((await cluster.kubectl(['get', 'svc', 'nobody', '-o', 'json'])).stdout).spec.clusterIP;
    const agent = new Agent({ keepAlive: false });
    const r = await cluster.waitFor('503', async () => (await get(`http://${ip}:8081/`, { agent, timeoutMs: 5000 }).catch(() => undefined)) ?? undefined);
    assert.equal(r.status, 503);
    assert.match(r.body, /default\/nobody/);
    await assert.rejects(overTcp(ip, 7001), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET');
    assert.equal((await cluster.kubectl(['delete', 'svc', 'nobody'])).code, 0);
    await cluster.waitFor('listener closed', async () => {
      const err = await overTcp(ip, 7001).then(() => undefined, (e: NodeJS.ErrnoException) => e.code);
      return err === 'ECONNREFUSED' ? true : undefined;
    });
  });
});
