// Prometheus end to end: `tug up --with-examples --prometheus` (control, a node, the echo
// Deployment, and Prometheus started by tug up), plus a second real Prometheus that the test
// drives with 1 s scrapes, configured from grafana/prometheus.yml. Both find control and the node
// through /sd/prometheus alone; the metrics count exactly what the test did (requests through the
// proxy, DNS queries with dig, a killed container); control refuses /metrics and /sd without the
// token and bad queries with 400; and every query of every panel of grafana/dashboards/*.json
// returns data.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { PROMETHEUS_CONFIG, prometheusConfigFor, startPrometheus, type RunningPrometheus } from '../../cli/prometheus.js';
import { fakeUpstream, type FakeUpstream } from '../../dns/testutil.js';
import { builtinValues, panelQueries, resolveVariables, substitute, unresolved } from '../../grafana/queries.js';
import { needs } from '../requirements.js';
import { eventually, run, tempDir, tug } from './harness.js';
import { pidsWith } from './node-support.js';
import { apiGet, httpGet, promApi, promNumber, promQuery, rawExchange, scrape, sumOf } from './prometheus-support.js';
import { killPodsOf, startUp, upEnv, type UpProcess } from './up-support.js';

// Everything this test binds is in 25000-25199 (and ClusterIPs and DNS on 127.25.x.x), apart
// from the fake DNS upstream, which takes a free port from the kernel.
const API = '127.0.0.1:25001';
const NODE_API = '127.0.0.1:25002';
const NODE_METRICS = '127.0.0.1:25003';
const PROMETHEUS = '127.0.0.1:25090';
const UP_PROMETHEUS = '127.0.0.1:25091';
const POD_PORTS = '25100-25149';
const SERVICE_CIDR = '127.25.0.0/16';
const DNS_HOST = '127.25.0.10';
const DNS_PORT = 25053;
const DASHBOARDS = fileURLToPath(new URL('../../../grafana/dashboards/', import.meta.url));
const PROM = `http://${PROMETHEUS}`;

/**
 * The shipped grafana/prometheus.yml with two changes Prometheus offers no flag for:
 * - the API address: the file names `tug up`'s default 127.0.0.1:6443, a port this test may not
 *   take (other tests run beside it); prometheusConfigFor is the substitution `tug control` does;
 * - `global:` 1 s scrape and evaluation intervals instead of 15 s, so each check waits seconds.
 * The jobs, their discovery, credentials and TLS settings are the shipped ones, as the test checks.
 */
function testConfig(): string {
  const shipped = readFileSync(PROMETHEUS_CONFIG, 'utf8');
  const doc = YAML.parse(prometheusConfigFor(shipped, API));
  assert.deepEqual(doc.scrape_configs, YAML.parse(shipped.replaceAll('127.0.0.1:6443', API)).scrape_configs);
  doc.global = { ...doc.global, scrape_interval: '1s', evaluation_interval: '1s' };
  return YAML.stringify(doc);
}

describe('Prometheus scraping a tug up cluster', { ...(await needs('prometheus', 'dig')), concurrency: false, timeout: 600_000 }, () => {
  const cleanups: (() => unknown)[] = [];
  const scope = { after: (fn: () => unknown) => cleanups.push(fn) };
  let home = '';
  let up: UpProcess | undefined;
  let prometheus: RunningPrometheus | undefined;
  let upstream: FakeUpstream | undefined;
  let token = '';
  let ca = '';
  let nodeName = '';
  let clusterIP = '';

  before(async () => {
    upstream = await fakeUpstream();
    scope.after(() => upstream?.close());
    home = tempDir(scope, 'tug-prom-');
    scope.after(() => killPodsOf(home));
    up = await startUp(scope, home, POD_PORTS, upFlags());
    // tug up stops its pods itself; this is for a failure on the way there.
    scope.after(() => up?.stop('SIGTERM'));
    nodeName = /tug node: (\S+) \(127\.0\.0\.1\) is Ready/.exec(up.output())![1];
    token = readFileSync(join(home, 'prometheus', 'token'), 'utf8').trim();
    ca = readFileSync(join(home, 'prometheus', 'ca.crt'), 'utf8');
    const svc = await tug(upEnv(home), ['get', 'svc', 'echo', '-o', 'json']);
    assert.equal(svc.code, 0, svc.stderr);
    clusterIP = JSON.parse(svc.stdout).spec.clusterIP;

    // The test's Prometheus: the shipped config copied beside the token and CA tug wrote.
    const dir = join(home, 'test-prometheus');
    mkdirSync(dir);
    copyFileSync(join(home, 'prometheus', 'token'), join(dir, 'token'));
    copyFileSync(join(home, 'prometheus', 'ca.crt'), join(dir, 'ca.crt'));
    writeFileSync(join(dir, 'prometheus.yml'), testConfig());
    prometheus = await startPrometheus(dir, PROMETHEUS);
    scope.after(() => prometheus?.stop(5000));
    // Every test starts from targets that have been scraped.
    await eventually(async () => {
      const d = await promApi(PROM, 'targets');
      return d.activeTargets.length === 2 && d.activeTargets.every((x: any) => x.health === 'up') ? true : undefined;
    }, 150, 200).catch((e) => assert.fail(`Prometheus did not discover and scrape both targets: ${e.message}\n${readFileSync(prometheus!.log, 'utf8').slice(-3000)}`));
  });

  after(async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch {
        // keep cleaning up
      }
    }
  });

  function upFlags(): string[] {
    return [
      '--listen', API, '--node-api', NODE_API, '--metrics-addr', NODE_METRICS, '--service-cidr', SERVICE_CIDR,
      '--dns-addr', `${DNS_HOST}:${DNS_PORT}`, '--dns-upstream', `127.0.0.1:${upstream!.port}`,
      '--prometheus', '--prometheus-addr', UP_PROMETHEUS,
    ];
  }

  /** Waits until Prometheus has scraped a value of `expr` equal to `want`. */
  async function promSees(expr: string, want: number): Promise<void> {
    let last: number | undefined;
    try {
      await eventually(async () => ((last = await promNumber(PROM, expr)) === want ? true : undefined), 100, 200);
    } catch {
      assert.fail(`Prometheus: ${expr} is ${last}, expected ${want}`);
    }
  }

  it('finds control and the node through /sd/prometheus alone and scrapes both up', async (t) => {
    const targets = (await promApi(PROM, 'targets')).activeTargets;
    const seen = targets.map((x: any) => ({ job: x.labels.job, role: x.labels.role, node: x.labels.node, url: x.scrapeUrl })).sort((a: any, b: any) => a.job.localeCompare(b.job));
    assert.deepEqual(seen, [
      { job: 'tugboat-control', role: 'control', node: nodeName, url: `https://${API}/metrics` },
      { job: 'tugboat-nodes', role: 'node', node: nodeName, url: `http://${NODE_METRICS}/metrics` },
    ]);
    // honor_labels keeps the node's own `node` label: no exported_node beside it.
    assert.deepEqual(await promQuery(PROM, 'tug_node_memory_used_bytes{exported_node!=""}'), []);
    assert.ok((await promNumber(PROM, `tug_node_memory_used_bytes{node="${nodeName}",role="node"}`))! > 0);
    const cpu = (await promNumber(PROM, `tug_node_cpu_usage_ratio{node="${nodeName}"}`))!;
    assert.ok(cpu >= 0 && cpu <= 1, `cpu ratio ${cpu}`);

    // tug up's own Prometheus runs on the written config, its data under $TUG_HOME/prometheus.
    const upTargets = await eventually(async () => {
      const d = await promApi(`http://${UP_PROMETHEUS}`, 'targets');
      return d.activeTargets.length === 2 ? d.activeTargets : undefined;
    }, 100, 200);
    assert.deepEqual(upTargets.map((x: any) => x.labels.role).sort(), ['control', 'node']);
    assert.ok(existsSync(join(home, 'prometheus', 'data')));
    assert.match(up!.output(), new RegExp(`Prometheus: http://${UP_PROMETHEUS.replace(/\./g, '\\.')}/targets`));
  });

  it('the shipped config is valid for promtool beside its token and CA', async (t) => {
    const dir = join(home, 'shipped');
    mkdirSync(dir);
    copyFileSync(PROMETHEUS_CONFIG, join(dir, 'prometheus.yml'));
    copyFileSync(join(home, 'prometheus', 'token'), join(dir, 'token'));
    copyFileSync(join(home, 'prometheus', 'ca.crt'), join(dir, 'ca.crt'));
    const r = await run('promtool', ['check', 'config', join(dir, 'prometheus.yml')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  it('tug_proxy_requests_total for the echo Service rises by exactly the requests sent', async (t) => {
    const echo = { namespace: 'default', service: 'echo' };
    const expr = 'sum(tug_proxy_requests_total{namespace="default",service="echo"}) or vector(0)';
    const before = sumOf(await scrape(NODE_METRICS), 'tug_proxy_requests_total', echo);
    await promSees(expr, before);
    const N = 37;
    const pods = new Set<string>();
    for (let i = 0; i < N; i++) {
      const r = await httpGet(clusterIP, 80);
      assert.equal(r.status, 200);
      pods.add(r.body.trim());
    }
    assert.equal(pods.size, 3, `round robin reached every pod: ${[...pods]}`);
    // The proxy counts a request when the response has ended, a moment after the client has it.
    const after = await eventually(async () => {
      const v = sumOf(await scrape(NODE_METRICS), 'tug_proxy_requests_total', echo);
      return v >= before + N ? v : undefined;
    });
    assert.equal(after, before + N);
    assert.ok(sumOf(await scrape(NODE_METRICS), 'tug_proxy_requests_total', { ...echo, code: '200' }) >= N, 'counted as 200s');
    await promSees(expr, before + N);
  });

  it('tug_dns_queries_total rises by exactly the dig queries asked', async (t) => {
    const expr = 'sum(tug_dns_queries_total) or vector(0)';
    const before = sumOf(await scrape(NODE_METRICS), 'tug_dns_queries_total');
    await promSees(expr, before);
    const nxBefore = sumOf(await scrape(NODE_METRICS), 'tug_dns_queries_total', { rcode: 'NXDOMAIN' });
    // Cluster names, SRV, an unknown name, and an outside name twice (the second from the cache).
    const questions = [
      ['echo.default.svc.cluster.local'], ['echo.default.svc.cluster.local'], ['SRV', '_http._tcp.echo.default.svc.cluster.local'],
      ['kubernetes.default.svc.cluster.local'], ['nope.default.svc.cluster.local'], ['www.example.test'], ['www.example.test'],
    ];
    const M = questions.length * 2;
    for (let i = 0; i < 2; i++) {
      for (const q of questions) {
        const r = await run('dig', [`@${DNS_HOST}`, '-p', String(DNS_PORT), '+time=2', '+tries=1', ...q]);
        assert.match(r.stdout, /status: (NOERROR|NXDOMAIN)/, r.stdout);
      }
    }
    const after = sumOf(await scrape(NODE_METRICS), 'tug_dns_queries_total');
    assert.equal(after, before + M);
    assert.equal(sumOf(await scrape(NODE_METRICS), 'tug_dns_queries_total', { rcode: 'NXDOMAIN' }), nxBefore + 2);
    assert.ok(sumOf(await scrape(NODE_METRICS), 'tug_dns_cache_hits_total') >= 3, 'repeats of www.example.test came from the cache');
    await promSees(expr, before + M);
  });

  it('tug_container_restarts_total rises by 1 when a container is killed with SIGKILL', async (t) => {
    const expr = 'sum(tug_container_restarts_total{namespace="default"}) or vector(0)';
    const before = sumOf(await scrape(NODE_METRICS), 'tug_container_restarts_total', { namespace: 'default' });
    await promSees(expr, before);
    // The echo server itself, not the shim that leads its process group.
    const servers = pidsWith(home).filter((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return cmdline.includes('echo.js') && !cmdline.startsWith('/bin/sh');
      } catch {
        return false;
      }
    });
    assert.equal(servers.length, 3, `three echo servers: ${servers}`);
    const victim = servers[0];
    const pod = /(?:^|\0)HOSTNAME=([^\0]+)/.exec(readFileSync(`/proc/${victim}/environ`, 'utf8'))![1];
    process.kill(victim, 'SIGKILL');
    // Requests meanwhile may meet the dead port: the proxy retries them elsewhere (and counts an
    // upstream failure, which the dashboards show).
    for (let i = 0; i < 20; i++) assert.equal((await httpGet(clusterIP, 80)).status, 200);
    const after = await eventually(async () => {
      const v = sumOf(await scrape(NODE_METRICS), 'tug_container_restarts_total', { namespace: 'default' });
      return v > before ? v : undefined;
    }, 200);
    assert.equal(after, before + 1);
    assert.equal(sumOf(await scrape(NODE_METRICS), 'tug_container_restarts_total', { namespace: 'default', pod }), 1, `counted for ${pod}`);
    const status = await eventually(async () => {
      const r = await tug(upEnv(home), ['get', 'pod', pod, '-o', 'json']);
      const p = JSON.parse(r.stdout);
      return p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') ? p.status : undefined;
    }, 200);
    assert.equal(status.containerStatuses[0].restartCount, 1);
    await promSees(expr, before + 1);
    assert.equal(sumOf(await scrape(NODE_METRICS), 'tug_container_restarts_total', { namespace: 'default' }), before + 1, 'one kill, one restart');
  });

  it('control answers 401 without the token and 400 for a bad query, and keeps serving', async (t) => {
    for (const path of ['/metrics', '/sd/prometheus', '/sd/prometheus?role=node']) {
      for (const given of [undefined, 'not-the-token']) {
        const r = await apiGet(API, ca, path, given);
        assert.equal(r.status, 401, `${path}: ${r.body}`);
        assert.equal(r.json?.kind, 'Status');
        assert.equal(r.json?.reason, 'Unauthorized');
      }
    }
    for (const [query, param] of [['role=master', 'role'], ['role=%zz', 'role'], ['role=node&role=control', 'role'], ['rol=node', 'rol'], ['%E0%A4%A=1', '%E0%A4%A']]) {
      const r = await apiGet(API, ca, `/sd/prometheus?${query}`, token);
      assert.equal(r.status, 400, `${query}: ${r.body}`);
      assert.equal(r.json?.reason, 'BadRequest');
      assert.ok(r.json?.message.includes(`"${param}"`), r.json?.message);
    }
    // The node's plain-HTTP /metrics takes junk too.
    const [host, port] = NODE_METRICS.split(':');
    assert.match(await rawExchange(host, Number(port), 'GET /metrics?%zz=%% HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200/);
    assert.match(await rawExchange(host, Number(port), '\x16\x03\x01garbage\r\n\r\n'), /^HTTP\/1\.1 400/);

    assert.equal((await apiGet(API, ca, '/healthz')).status, 200);
    const sd = await apiGet(API, ca, '/sd/prometheus', token);
    assert.equal(sd.status, 200);
    assert.deepEqual(sd.json.map((g: any) => g.labels.role), ['control', 'node']);
    assert.equal((await apiGet(API, ca, '/metrics', token)).status, 200);
    assert.ok(sumOf(await scrape(NODE_METRICS), 'tug_node_pods') >= 3);
  });

  it('every query of every panel in grafana/dashboards/*.json returns data', async (t) => {
    const files = existsSync(DASHBOARDS) ? readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json')).sort() : [];
    assert.ok(files.length > 0, `no dashboards found: ${DASHBOARDS} has no *.json (grafana/dashboards.ts writes them)`);
    // HTTP load while the queries run, so rates over the last minute have something to show.
    const load = new AbortController();
    const loading = (async () => {
      while (!load.signal.aborted) {
        await httpGet(clusterIP, 80).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      // And DNS queries, cluster and forwarded (twice, for the cache), so this test stands alone.
      for (const name of ['echo.default.svc.cluster.local', 'www.example.test', 'www.example.test']) {
        await run('dig', [`@${DNS_HOST}`, '-p', String(DNS_PORT), '+time=2', '+tries=1', name]);
      }
      await new Promise((r) => setTimeout(r, 5000));
      const builtins = builtinValues({ rateInterval: '1m', interval: '15s', rangeSeconds: 600 });
      const labelValues = async (label: string, selector?: string): Promise<string[]> =>
        promApi(PROM, `label/${encodeURIComponent(label)}/values`, selector ? { 'match[]': selector } : {});
      const failures: string[] = [];
      let count = 0;
      for (const file of files) {
        const dashboard = JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8'));
        const values = await resolveVariables(dashboard, labelValues, builtins, { namespace: 'default', service: 'echo', node: nodeName });
        const queries = panelQueries(dashboard, file);
        assert.ok(queries.length > 0, `${file} has no panel queries`);
        for (const q of queries) {
          count++;
          const expr = substitute(q.expr, values);
          const left = unresolved(expr);
          if (left.length) {
            failures.push(`${file} "${q.panel}" ${q.refId ?? ''}: unknown variable(s) ${left.join(', ')} in ${q.expr}`);
            continue;
          }
          try {
            const series = await promQuery(PROM, expr);
            if (!series.length) failures.push(`${file} "${q.panel}" ${q.refId ?? ''}: no series for ${expr}`);
          } catch (e) {
            failures.push(`${file} "${q.panel}" ${q.refId ?? ''}: ${(e as Error).message}`);
          }
        }
      }
      t.diagnostic(`${count} queries in ${files.length} dashboards`);
      assert.deepEqual(failures, [], `${failures.length} of ${count} panel queries returned nothing:\n${failures.join('\n')}`);
    } finally {
      load.abort();
      await loading;
    }
  });

  it('tug up replaces the Prometheus a SIGKILLed tug up left, and stops its own with the cluster', async (t) => {
    const config = join(home, 'prometheus', 'prometheus.yml');
    const first = pidsWith(config);
    assert.equal(first.length, 1, `one Prometheus on ${config}: ${first}`);
    await up!.stop('SIGKILL');
    assert.deepEqual(pidsWith(config), first, 'a SIGKILLed tug up cannot stop it');

    up = await startUp(scope, home, POD_PORTS, upFlags());
    const second = pidsWith(config);
    assert.equal(second.length, 1, `still one: ${second}`);
    assert.notEqual(second[0], first[0]);
    assert.equal((await fetch(`http://${UP_PROMETHEUS}/-/ready`)).status, 200);

    assert.equal(await up.stop('SIGINT'), 0, up.output());
    await assert.rejects(fetch(`http://${UP_PROMETHEUS}/-/ready`), 'nothing serves on the Prometheus address');
    assert.deepEqual(pidsWith(config), []);
    assert.ok(!existsSync(join(home, 'prometheus', 'prometheus.pid')));
  });
});
