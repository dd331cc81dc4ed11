// Cluster DNS end to end: a `tug node` serving 127.77.0.10:53, asked with the real dig. Service
// names, SRV, PTR, the schema TXT, NXDOMAIN with SOA, TCP; a Service resolvable right after it is
// created and gone right after it is deleted; a headless Service that drops a pod as soon as it
// goes not-ready; short names from docker and process pods; other names through a fake upstream
// on 127.0.0.1, asked once and then answered from the cache; and, last, the control node killed
// while names keep resolving from the last state.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ApiClient } from '../../api/client.js';
import { Informer } from '../../api/informer.js';
import { readKubeconfig } from '../../api/kubeconfig.js';
import { resourceOfKind } from '../../api/resources.js';
import type { Pod } from '../../api/types.js';
import { fakeUpstream, type FakeUpstream } from '../../dns/testutil.js';
import { needs, present } from '../requirements.js';
import { dockerClient, ensureBusyboxImage } from './docker-support.js';
import { run } from './harness.js';
import { get } from './http-support.js';
import { NodeCluster, webDeployment, webPod } from './node-support.js';
import { scrape, sumOf } from './prometheus-support.js';

const DNS = '127.77.0.10';

async function dig(args: string[]): Promise<string> {
  const r = await run('dig', [`@${DNS}`, '+time=2', '+tries=1', ...args]);
  return r.stdout;
}

/** A counter's value on a node's /metrics, summed over its series. */
const counter = async (address: string, name: string) => sumOf(await scrape(address), name);

const isReady = (p: Pod) => !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

const answers = (out: string) => out.split('\n').filter((l) => l && !l.startsWith(';')).map((l) => l.trim());

// Port 53 needs root; without it the node runs on without DNS.
describe('cluster DNS on the node', { ...(await needs('kubectl', 'dig', 'root')), timeout: 120_000 }, () => {
  const cluster = new NodeCluster();
  let upstream: FakeUpstream | undefined;
  let clusterIP = '';

  before(async () => {
    upstream = await fakeUpstream();
    await cluster.start();
    await cluster.startNode({ name: 'd1', portRange: '24500-24599', extra: ['--dns-addr', `${DNS}:53`, '--dns-upstream', `127.0.0.1:${upstream.port}`] });
    const marker = cluster.marker('web');
    await cluster.apply(webDeployment('web', 1, { marker, flag: cluster.flag(marker), readiness: '/' }));
    await cluster.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 8080, targetPort: 'http' }] } });
    clusterIP = JSON.parse((await cluster.kubectl(['get', 'svc', 'web', '-o', 'json'])).stdout).spec.clusterIP;
    await cluster.waitFor('web resolvable', async () => ((await dig(['+short', 'web.default.svc.cluster.local'])).trim() === clusterIP ? true : undefined));
  });
  after(async () => {
    await cluster.cleanup();
    await upstream?.close();
  });

  it('a headless Service has a name and an SRV per ready pod, and drops a pod within 1 s of it going not-ready', async (t) => {
    const marker = cluster.marker('hl');
    const flags = { 'hl-a': cluster.flag(`${marker}-a`), 'hl-b': cluster.flag(`${marker}-b`) };
    for (const [name, flag] of Object.entries(flags)) {
      const pod = webPod(name, { marker, node: 'd1', flag, readiness: '/unhealthy' });
      pod.metadata.labels = { app: 'hl' };
      await cluster.apply(pod);
    }
    t.after(() => Object.values(flags).forEach((f) => rmSync(f, { force: true })));
    await cluster.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'hl' }, spec: { clusterIP: 'None', selector: { app: 'hl' }, ports: [{ name: 'http', port: 8080, targetPort: 'http' }] } });
    const srv = async () => (await dig(['+short', 'SRV', '_http._tcp.hl.default.svc.cluster.local'])).trim().split('\n').filter(Boolean).sort();
    const both = await cluster.waitFor('two SRV records', async () => ((await srv()).length === 2 ? srv() : undefined));
    const portOf = async (pod: string) => String(await cluster.portOf(pod));
    assert.deepEqual(both, [`0 100 ${await portOf('hl-a')} hl-a.hl.default.svc.cluster.local.`, `0 100 ${await portOf('hl-b')} hl-b.hl.default.svc.cluster.local.`].sort());
    // hostport mode: both pods share the node's address, so the service name has one A.
    assert.equal((await dig(['+short', 'hl.default.svc.cluster.local'])).trim(), '127.0.0.1');
    assert.equal((await dig(['+short', 'hl-a.hl.default.svc.cluster.local'])).trim(), '127.0.0.1');

    const client = new ApiClient(readKubeconfig(cluster.control.kubeconfig));
    let notReadyAt = 0;
    const pods = new Informer<Pod>(client, resourceOfKind('Pod'), {
      onUpdate: (_old, pod) => {
        if (pod.metadata.name === 'hl-a' && !isReady(pod) && !notReadyAt) notReadyAt = Date.now();
      },
    }, { namespace: 'default', labelSelector: 'app=hl' });
    pods.start();
    t.after(async () => {
      await pods.stop();
      client.close();
    });
    await pods.waitForSync();
    writeFileSync(flags['hl-a'], '');
    const left = await cluster.waitFor('hl-a dropped', async () => {
      const records = await srv();
      return records.length === 1 ? records : undefined;
    }, 400, 10);
    const droppedAt = Date.now();
    assert.match(left[0], / hl-b\.hl\.default\.svc\.cluster\.local\.$/);
    assert.match(await dig(['hl-a.hl.default.svc.cluster.local']), /status: NXDOMAIN/);
    assert.ok(notReadyAt > 0, 'the watch saw hl-a go not-ready');
    t.diagnostic(`hl-a left the headless records ${droppedAt - notReadyAt} ms after the watch saw it not-ready`);
    assert.ok(droppedAt - notReadyAt <= 1000, `dropped ${droppedAt - notReadyAt} ms after going not-ready`);
  });

  it('answers A, SRV, PTR and the schema TXT, over UDP and TCP, keeping the question case', async (t) => {
    assert.equal((await dig(['+short', 'web.default.svc.cluster.local'])).trim(), clusterIP);
    assert.equal((await dig(['+short', '+tcp', 'web.default.svc.cluster.local'])).trim(), clusterIP);
    const mixed = answers(await dig(['+noall', '+answer', 'Web.Default.SVC.cluster.local']));
    assert.match(mixed[0], new RegExp(`^Web\\.Default\\.SVC\\.cluster\\.local\\.\\s+5\\s+IN\\s+A\\s+${clusterIP.replace(/\./g, '\\.')}$`));
    assert.equal((await dig(['+short', 'SRV', '_http._tcp.web.default.svc.cluster.local'])).trim(), '0 100 8080 web.default.svc.cluster.local.');
    assert.equal((await dig(['+short', '-x', clusterIP])).trim(), 'web.default.svc.cluster.local.');
    assert.equal((await dig(['+short', 'TXT', 'dns-version.cluster.local'])).trim(), '"1.1.0"');
  });

  it('a made-up name in the domain is NXDOMAIN with the SOA', async (t) => {
    const out = await dig(['nope.default.svc.cluster.local']);
    assert.match(out, /status: NXDOMAIN/);
    assert.match(out, /;; AUTHORITY SECTION:\ncluster\.local\.\s+\d+\s+IN\s+SOA\s/);
  });

  it('a new Service resolves at once, a deleted one is gone at once', async (t) => {
    const created = Date.now();
    await cluster.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'fresh' }, spec: { selector: { app: 'web' }, ports: [{ port: 9000 }] } });
    const ip = JSON.parse((await cluster.kubectl(['get', 'svc', 'fresh', '-o', 'json'])).stdout).spec.clusterIP;
    await cluster.waitFor('fresh resolvable', async () => ((await dig(['+short', 'fresh.default.svc.cluster.local'])).trim() === ip ? true : undefined), 50, 20);
    const resolvable = Date.now() - created;
    const deleted = Date.now();
    assert.equal((await cluster.kubectl(['delete', 'svc', 'fresh'])).code, 0);
    await cluster.waitFor('fresh gone', async () => (/status: NXDOMAIN/.test(await dig(['fresh.default.svc.cluster.local'])) ? true : undefined), 50, 20);
    const gone = Date.now() - deleted;
    t.diagnostic(`resolvable ${resolvable} ms after kubectl apply began, NXDOMAIN ${gone} ms after kubectl delete began (both include kubectl's own run time)`);
  });

  it('pods find the cluster DNS: TUG_DNS for process pods, a resolv.conf for docker pods (a short name resolves)', async (t) => {
    await cluster.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'env' }, spec: { nodeName: 'd1', restartPolicy: 'Never', containers: [{ name: 'c', image: 'x', command: ['sh', '-c', 'echo "dns=$TUG_DNS"'] }] } });
    const envLog = await cluster.waitFor('env pod log', async () => {
      const r = await cluster.kubectl(['logs', 'env']);
      return /dns=/.test(r.stdout) ? r.stdout : undefined;
    });
    assert.match(envLog, new RegExp(`^dns=${DNS.replace(/\./g, '\\.')}:53$`, 'm'));

    if (!(await present(t, 'docker'))) return;
    const image = await ensureBusyboxImage(dockerClient());
    await cluster.apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'looker' },
      spec: { nodeName: 'd1', runtimeClassName: 'docker', restartPolicy: 'Never', containers: [{ name: 'c', image, command: ['sh', '-c', 'cat /etc/resolv.conf; nslookup web'] }] },
    });
    const out = await cluster.waitFor('nslookup done', async () => {
      const p = await cluster.podJson('looker');
      if (!['Succeeded', 'Failed'].includes(p.status.phase)) return undefined;
      return { phase: p.status.phase as string, log: (await cluster.kubectl(['logs', 'looker'])).stdout };
    }, 300);
    assert.match(out.log, /^nameserver 127\.77\.0\.10$/m);
    assert.match(out.log, /^search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local/m);
    assert.match(out.log, /^options ndots:5$/m);
    // BusyBox's nslookup asks every search domain and exits 1 when any of them is NXDOMAIN, even
    // though the first one answered; what counts is that the short name found the Service.
    assert.match(out.log, new RegExp(`Name:\\s+web\\.default\\.svc\\.cluster\\.local\nAddress: ${clusterIP.replace(/\./g, '\\.')}`), out.log);
  });

  it('a process pod resolves short names through its own resolv.conf (the node runs as root)', async (t) => {
    assert.equal((await cluster.kubectl(['create', 'namespace', 'dev'])).code, 0);
    await cluster.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'dev' }, spec: { ports: [{ port: 80 }] } });
    const devIP = JSON.parse((await cluster.kubectl(['get', 'svc', 'web', '-n', 'dev', '-o', 'json'])).stdout).spec.clusterIP as string;
    await cluster.apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'asker', namespace: 'dev' },
      spec: { nodeName: 'd1', restartPolicy: 'Never', containers: [{ name: 'c', image: 'x', command: ['sh', '-c', 'cat /etc/resolv.conf; echo "short=$(dig +search +short web)"; echo "dotted=$(dig +search +short web.dev)"'] }] },
    });
    const log = await cluster.waitFor('asker done', async () => {
      const p = JSON.parse((await cluster.kubectl(['get', 'pod', 'asker', '-n', 'dev', '-o', 'json'])).stdout);
      return ['Succeeded', 'Failed'].includes(p.status?.phase) ? (await cluster.kubectl(['logs', 'asker', '-n', 'dev'])).stdout : undefined;
    }, 300);
    assert.match(log, /^nameserver 127\.77\.0\.10$/m);
    assert.match(log, /^search dev\.svc\.cluster\.local svc\.cluster\.local cluster\.local/m);
    assert.match(log, new RegExp(`^short=${devIP.replace(/\./g, '\\.')}$`, 'm'), log);
    assert.match(log, new RegExp(`^dotted=${devIP.replace(/\./g, '\\.')}$`, 'm'), log);
  });

  it('forwards other names to the upstream and answers repeats from the cache', async (t) => {
    assert.equal((await dig(['+short', 'www.example.test'])).trim(), '192.0.2.1');
    assert.equal((await dig(['+short', 'www.example.test'])).trim(), '192.0.2.1');
    assert.equal(upstream!.seen.filter((q) => q.startsWith('www.example.test')).length, 1, `the upstream saw one query: ${upstream!.seen}`);
  });

  // Last: it kills the control node.
  it('with the control node gone, names keep resolving from the last state, counted as stale, even after the node restarts', async (t) => {
    const node = JSON.parse((await cluster.kubectl(['get', 'node', 'd1', '-o', 'json'])).stdout);
    const metricsAddress = node.metadata.annotations['tugboat.io/metrics-address'] as string;
    const staleBefore = await counter(metricsAddress, 'tug_dns_stale_answers_total');
    // The docker pod goes first, while the node can still hear of its deletion and remove it.
    assert.equal((await cluster.kubectl(['delete', 'pod', 'looker', '--ignore-not-found', '--timeout=60s'])).code, 0);
    await cluster.control.kill('SIGKILL');
    // The node notices at its next heartbeat (1 s here); every answer meanwhile is right too.
    const stale = await cluster.waitFor('stale answers counted', async () => {
      assert.equal((await dig(['+short', 'web.default.svc.cluster.local'])).trim(), clusterIP);
      const n = await counter(metricsAddress, 'tug_dns_stale_answers_total');
      if (!(n > staleBefore)) throw new Error(`stale answers ${n}, before ${staleBefore}, from ${metricsAddress}`);
      return n;
    }, 200);
    assert.equal((await dig(['+short', 'SRV', '_http._tcp.web.default.svc.cluster.local'])).trim(), '0 100 8080 web.default.svc.cluster.local.');
    assert.match(await dig(['nope.default.svc.cluster.local']), /status: NXDOMAIN/);
    assert.ok((await counter(metricsAddress, 'tug_dns_stale_answers_total')) >= stale + 2);

    // The node restarts while control is still away: DNS and the proxy start from their
    // checkpoints (the web pod's process kept running through the restart).
    await cluster.nodes.get('d1')!.stop('SIGTERM');
    assert.match((await dig(['web.default.svc.cluster.local'])), /connection timed out|no servers could be reached|communications error/);
    const again = await cluster.startNode({ name: 'd1', portRange: '24500-24599', extra: ['--dns-addr', `${DNS}:53`, '--dns-upstream', `127.0.0.1:${upstream!.port}`], waitForJoin: false });
    await cluster.waitFor('web resolvable from the checkpoint', async () => ((await dig(['+short', 'web.default.svc.cluster.local'])).trim() === clusterIP ? true : undefined));
    const served = await cluster.waitFor('web served through the proxy from the checkpoint', async () => {
      const r = await get(`http://${clusterIP}:8080/`, { timeoutMs: 2000 }).catch(() => undefined);
      return r?.status === 200 ? r.body : undefined;
    });
    assert.match(served, /^hi from web-/);
    await cluster.waitFor('the node waiting to register', async () => (/cannot register yet/.test(again.output()) ? true : undefined));
    assert.doesNotMatch(again.output(), /joined/);
  });
});
