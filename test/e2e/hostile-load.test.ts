// Hostile load, each attack in turn against a real control node and node: 20,000 connections to
// control that never start TLS, 1,100 DNS-over-TCP clients that trickle their queries, and 10,000
// silent connections to a Service the node's proxy serves. Under each, /healthz answers within a second, other clients are served, the node stays Ready, and
// afterwards the attacked process's memory comes back near where it started.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'node:https';
import { connect, createServer, type Socket } from 'node:net';
import { readKubeconfig } from '../../api/kubeconfig.js';
import { sleep } from '../../api/timers.js';
import { needs } from '../requirements.js';
import { attack, loopbackSources, rssOf } from './attack-support.js';
import { eventually, run } from './harness.js';
import { NodeCluster } from './node-support.js';

const NODE = 'hl1';
const DNS_ADDR = '127.0.0.1:25353';

/** GET /healthz on control, resolving with how long it took (ms); a failure counts as forever. */
function healthz(url: string, ca: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request(`${url}/healthz`, { ca, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - started : Infinity));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(Infinity));
    req.end();
  });
}

/** Sends `text` to host:port and resolves with what came back before the peer closed, or why nothing did. */
function echoOnce(host: string, port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const started = performance.now();
    const s = connect({ host, port, localAddress: '127.0.0.1' });
    let data = '';
    let problem = '';
    s.setTimeout(5000, () => s.destroy(new Error('no answer in 5 s')));
    s.on('data', (d) => (data += d));
    s.on('error', (e) => (problem = `${(e as NodeJS.ErrnoException).code ?? e.message} after ${(performance.now() - started).toFixed(0)} ms`));
    s.on('close', () => resolve(problem ? `error: ${problem}` : data));
    s.end(text);
  });
}

/** Probes `check` every 250 ms while `during` runs; the worst result. */
async function worstDuring(during: Promise<unknown>, check: () => Promise<number>): Promise<number> {
  let done = false;
  void during.finally(() => (done = true));
  let worst = 0;
  while (!done) {
    worst = Math.max(worst, await check());
    await sleep(250);
  }
  return worst;
}

describe('hostile load', { ...(await needs('kubectl', 'dig')), concurrency: false, timeout: 600_000 }, () => {
  const cluster = new NodeCluster();
  let url = '';
  let ca = '';

  before(async () => {
    await cluster.start();
    await cluster.startNode({ name: NODE, portRange: '26300-26349', extra: ['--dns-addr', DNS_ADDR, '--dns-upstream', '127.0.0.1:9'] });
    const conn = readKubeconfig(cluster.control.kubeconfig);
    url = conn.server;
    ca = conn.caCert!;
  });
  after(() => cluster.cleanup());

  async function nodeMetrics(): Promise<string> {
    const port = Number(/metrics on port (\d+)/.exec(cluster.nodes.get(NODE)!.output())?.[1]);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    return res.text();
  }

  async function nodeReady(): Promise<boolean> {
    const r = await cluster.kubectl(['get', 'node', NODE, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
    return r.stdout.trim() === 'True';
  }

  it('20,000 connections that never start TLS: /healthz within 1 s, kubectl served, the node Ready, memory back', async (t) => {
    const pid = cluster.control.child.pid!;
    const rssBefore = rssOf(pid);
    const port = Number(new URL(url).port);
    const flood = attack(cluster.dir, { host: '127.0.0.1', port }, { processes: 2, perProcess: 10_000, sources: loopbackSources(1, 40), mode: 'silent', reopenMs: 500 });
    const window = sleep(15_000);
    let kubectlOk = 0;
    let readyAlways = true;
    const worst = await worstDuring(window, async () => {
      const ms = await healthz(url, ca);
      if ((await cluster.kubectl(['get', 'pods'])).code === 0) kubectlOk++;
      if (!(await nodeReady())) readyAlways = false;
      return ms;
    });
    const opened = flood.opened();
    await flood.stop();
    t.diagnostic(`${opened} attacker connections opened in 15 s; worst /healthz ${worst.toFixed(0)} ms; kubectl served ${kubectlOk} times; control RSS ${(rssBefore / 2 ** 20).toFixed(0)} MiB before`);
    assert.ok(opened >= 20_000, `the attack ran: ${opened} connections`);
    assert.ok(worst < 1000, `/healthz took ${worst.toFixed(0)} ms at worst`);
    assert.ok(kubectlOk > 0, 'kubectl was served');
    assert.ok(readyAlways, 'the node stayed Ready');
    // V8 gives memory back once the process has been quiet a while (about half a minute here).
    const rssAfter = await eventually(async () => {
      const rss = rssOf(pid);
      return rss <= rssBefore * 1.2 ? rss : undefined;
    }, 240, 500).catch(() => rssOf(pid));
    t.diagnostic(`control RSS ${(rssAfter / 2 ** 20).toFixed(0)} MiB after`);
    assert.ok(rssAfter <= rssBefore * 1.2, `RSS ${rssAfter} after, ${rssBefore} before`);
  });

  it('1,100 DNS-over-TCP clients trickling their queries: others are answered over UDP and TCP', async (t) => {
    const [host, port] = DNS_ADDR.split(':');
    const pid = cluster.nodes.get(NODE)!.child.pid!;
    const rssBefore = rssOf(pid);
    const flood = attack(cluster.dir, { host, port: Number(port) }, { processes: 1, perProcess: 1100, sources: loopbackSources(2, 20), mode: 'trickle', reopenMs: 200 });
    const window = sleep(12_000);
    let failures = 0;
    let asked = 0;
    await worstDuring(window, async () => {
      for (const tcp of [false, true]) {
        asked++;
        const r = await run('dig', [`@${host}`, '-p', port, '+time=2', '+tries=1', ...(tcp ? ['+tcp'] : []), '+short', 'kubernetes.default.svc.cluster.local']);
        if (r.code !== 0 || !/^127\.77\.0\.1$/m.test(r.stdout)) failures++;
      }
      return 0;
    });
    const opened = flood.opened();
    await flood.stop();
    t.diagnostic(`${opened} slow DNS connections opened in 12 s; ${asked - failures} of ${asked} queries answered`);
    assert.ok(opened >= 1100);
    assert.equal(failures, 0, `${failures} of ${asked} queries failed`);
    assert.ok(await nodeReady(), 'the node is Ready');
    const rssAfter = await eventually(async () => {
      const rss = rssOf(pid);
      return rss <= rssBefore * 1.2 ? rss : undefined;
    }, 240, 500).catch(() => rssOf(pid));
    t.diagnostic(`node RSS ${(rssBefore / 2 ** 20).toFixed(0)} MiB before, ${(rssAfter / 2 ** 20).toFixed(0)} MiB after`);
    assert.ok(rssAfter <= rssBefore * 1.2, `node RSS ${rssAfter} after, ${rssBefore} before`);
  });

  it('10,000 silent connections to a Service from 4 addresses: others are served, DNS answers, the node Ready, memory back', async (t) => {
    const held = new Set<Socket>();
    let peakHeld = 0;
    const upstream = createServer({ allowHalfOpen: true }, (s) => {
      held.add(s);
      peakHeld = Math.max(peakHeld, held.size);
      s.on('error', () => undefined);
      s.on('close', () => held.delete(s));
      s.on('data', (d) => s.write(d));
      s.on('end', () => s.end());
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    t.after(async () => {
      for (const s of held) s.destroy();
      await new Promise((r) => upstream.close(r));
    });
    const port = (upstream.address() as { port: number }).port;
    await cluster.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'victim' }, spec: { ports: [{ name: 'tcp', port: 7000, protocol: 'TCP' }] } });
    await cluster.apply({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'victim' }, subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'tcp', port }] }] });
    const ip = (await cluster.kubectl(['get', 'service', 'victim', '-o', 'jsonpath={.spec.clusterIP}'])).stdout.trim();
    await eventually(async () => ((await echoOnce(ip, 7000, 'ping')) === 'ping' ? true : undefined), 120, 250);
    const pid = cluster.nodes.get(NODE)!.child.pid!;
    const rssBefore = rssOf(pid);
    t.diagnostic(`before: ${heapOf(await nodeMetrics())}`);
    const flood = attack(cluster.dir, { host: ip, port: 7000 }, { processes: 1, perProcess: 10_000, sources: loopbackSources(3, 4), mode: 'silent', reopenMs: 200 });
    const window = sleep(15_000);
    let asked = 0;
    // Each request is tried again once, as clients do (dig's default is three tries); a request
    // that fails twice is a failure, and what failed on the first try is reported.
    const failures: string[] = [];
    const retried: string[] = [];
    const twice = async (what: string, attempt: () => Promise<string | undefined>) => {
      const first = await attempt();
      if (first === undefined) return;
      retried.push(`${what}: ${first}`);
      const second = await attempt();
      if (second !== undefined) failures.push(`${what}: ${first}, then ${second}`);
    };
    await worstDuring(window, async () => {
      asked += 2;
      await twice('echo', async () => {
        const echoed = await echoOnce(ip, 7000, `hello ${asked}`);
        return echoed === `hello ${asked}` ? undefined : JSON.stringify(echoed);
      });
      await twice('dig', async () => {
        const r = await run('dig', ['@127.0.0.1', '-p', DNS_ADDR.split(':')[1], '+time=2', '+tries=1', '+short', 'victim.default.svc.cluster.local']);
        return r.code === 0 && r.stdout.trim() === ip ? undefined : `exit ${r.code} ${JSON.stringify(r.stdout.trim())}`;
      });
      return 0;
    });
    const opened = flood.opened();
    await flood.stop();
    const refused = /^tug_proxy_connections_refused_total\{[^}]*reason="per-source"[^}]*\} (\d+)$/m.exec(await nodeMetrics())?.[1];
    t.diagnostic(`${opened} attacker connections opened in 15 s; ${asked - failures.length} of ${asked} other requests served (${asked - retried.length} at the first try${retried.length ? `; retried: ${retried.join('; ')}` : ''}); ${refused ?? 0} refused past the per-address cap; most held upstream ${peakHeld}`);
    assert.ok(opened >= 10_000, `the attack ran: ${opened} connections`);
    assert.deepEqual(failures, [], `${failures.length} of ${asked} requests failed`);
    assert.ok(Number(refused) > 0, 'the per-address cap refused connections');
    assert.ok(await nodeReady(), 'the node is Ready');
    const rssAfter = await eventually(async () => {
      const rss = rssOf(pid);
      return rss <= rssBefore * 1.2 ? rss : undefined;
    }, 240, 500).catch(() => rssOf(pid));
    t.diagnostic(`node RSS ${(rssBefore / 2 ** 20).toFixed(0)} MiB before, ${(rssAfter / 2 ** 20).toFixed(0)} MiB after; ${heapOf(await nodeMetrics())}`);
    assert.ok(rssAfter <= rssBefore * 1.2, `node RSS ${rssAfter} after, ${rssBefore} before`);
  });
});

/** The V8 heap in use and the memory outside it, from a process's default metrics. */
function heapOf(text: string): string {
  const mib = (name: string) => (Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1]) / 2 ** 20).toFixed(0);
  return `V8 heap ${mib('nodejs_heap_size_used_bytes')} MiB used, ${mib('nodejs_external_memory_bytes')} MiB external`;
}
