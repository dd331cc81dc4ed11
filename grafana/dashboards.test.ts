import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { parse } from 'yaml';
import { catalogFromSource, checkDashboard, checkExpr, parseExpr, SCRAPE_SERIES, type Catalog, type MetricInfo } from './check.js';
import { dashboards, DATASOURCE, renderDashboard } from './dashboards.js';
import { DASHBOARDS_DIR } from './generate.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const COMPONENTS = ['api', 'control', 'node', 'proxy', 'dns'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The tug_* metrics the components register, plus prom-client's process and Node.js metrics and Prometheus' own series. */
function catalog(): Catalog {
  const c = catalogFromSource(COMPONENTS.flatMap((d) => sourceFiles(join(ROOT, d))).map((f) => readFileSync(f, 'utf8')));
  const defaults = new Registry();
  collectDefaultMetrics({ register: defaults });
  for (const m of defaults.getMetricsAsArray()) {
    const metric = m as unknown as { name: string; type: MetricInfo['type']; labelNames?: string[] };
    c.set(metric.name, { type: metric.type, labels: metric.labelNames ?? [] });
  }
  for (const name of SCRAPE_SERIES) c.set(name, { type: 'gauge', labels: [] });
  return c;
}

function provisionedUids(): Set<string> {
  const file = parse(readFileSync(join(ROOT, 'grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as { datasources?: { uid?: string }[] };
  return new Set((file.datasources ?? []).map((d) => d.uid).filter((u): u is string => !!u));
}

const committed = () => new Map(readdirSync(DASHBOARDS_DIR).filter((f) => f.endsWith('.json')).map((f) => [f, readFileSync(join(DASHBOARDS_DIR, f), 'utf8')]));

describe('grafana dashboards', () => {
  it('the committed JSON is exactly what the builders generate (run `npm run dashboards`)', () => {
    const built = dashboards();
    const files = committed();
    assert.deepEqual([...files.keys()].sort(), Object.keys(built).sort());
    for (const [file, d] of Object.entries(built)) assert.equal(files.get(file), renderDashboard(d), `${file} differs from the builder's output`);
  });

  it('every panel queries registered metrics and labels, with defined variables and the provisioned datasource', () => {
    const c = catalog();
    const uids = provisionedUids();
    assert.ok(uids.has(DATASOURCE.uid), `provisioning does not define the dashboards' datasource uid ${DATASOURCE.uid}`);
    for (const [file, text] of committed()) {
      const problems = checkDashboard(JSON.parse(text), c, uids);
      assert.deepEqual(problems, [], `${file}:\n  ${problems.join('\n  ')}`);
    }
  });

  it('dashboard uids are unique and every dashboard has panels with queries', () => {
    const all = Object.values(dashboards());
    assert.equal(new Set(all.map((d) => d.uid)).size, all.length);
    for (const d of all) assert.ok((d.panels ?? []).some((p) => p.type !== 'row'), `${d.title} has no panels`);
  });

  it('the source scan finds metric types and labels', () => {
    const c = catalog();
    assert.deepEqual(c.get('tug_proxy_requests_total'), { type: 'counter', labels: ['namespace', 'service', 'port', 'endpoint', 'code'] });
    assert.deepEqual(c.get('tug_dns_queries_total'), { type: 'counter', labels: ['qtype', 'rcode', 'zone'] });
    assert.equal(c.get('tug_pod_start_duration_seconds')?.type, 'histogram');
    assert.deepEqual(c.get('tug_controller_reconcile_total')?.labels, ['controller', 'result']);
    assert.deepEqual(c.get('nodejs_gc_duration_seconds')?.labels, ['kind']);
  });
});

describe('dashboard checks', () => {
  const c: Catalog = new Map<string, MetricInfo>([
    ['tug_x_total', { type: 'counter', labels: ['service'] }],
    ['tug_h_seconds', { type: 'histogram', labels: ['zone'] }],
    ['up', { type: 'gauge', labels: [] }],
  ]);
  const vars = new Set(['service']);

  it('reads metrics, labels and variables out of PromQL', () => {
    const p = parseExpr('histogram_quantile(0.99, sum by (le, zone) (rate(tug_h_seconds_bucket{node=~"$node"}[$__rate_interval]))) or on() vector(0)');
    assert.deepEqual(p.metrics, ['tug_h_seconds_bucket']);
    assert.deepEqual(p.matchers, [{ metric: 'tug_h_seconds_bucket', label: 'node' }]);
    assert.deepEqual(p.grouping, ['le', 'zone']);
    assert.deepEqual(p.variables, ['node', '__rate_interval']);
    assert.deepEqual(parseExpr('count(up == 0) or on() vector(0)').metrics, ['up']);
  });

  it('accepts known metrics, histogram series, target labels and built-in variables', () => {
    assert.deepEqual(checkExpr('sum by (service, node) (rate(tug_x_total{service=~"$service"}[$__rate_interval]))', c, vars), []);
    assert.deepEqual(checkExpr('histogram_quantile(0.5, sum by (le) (rate(tug_h_seconds_bucket[5m])))', c, vars), []);
    assert.deepEqual(checkExpr('sum(rate(tug_h_seconds_count[5m])) / sum(rate(tug_h_seconds_sum[5m]))', c, vars), []);
  });

  it('rejects unknown metrics, labels, grouping labels and variables', () => {
    assert.match(checkExpr('rate(tug_nope_total[5m])', c, vars).join(), /metric tug_nope_total is not registered/);
    assert.match(checkExpr('rate(tug_x_total_bucket[5m])', c, vars).join(), /metric tug_x_total_bucket is not registered/);
    assert.match(checkExpr('rate(tug_x_total{endpoint="a"}[5m])', c, vars).join(), /label endpoint is not a label of tug_x_total/);
    assert.match(checkExpr('sum by (qtype) (rate(tug_x_total[5m]))', c, vars).join(), /grouping label qtype/);
    assert.match(checkExpr('sum by (le) (rate(tug_x_total[5m]))', c, vars).join(), /grouping label le/);
    assert.match(checkExpr('rate(tug_x_total{service=~"$svc"}[5m])', c, vars).join(), /variable \$svc is not defined/);
  });

  it('rejects panels without queries, duplicate ids, foreign datasources and bad variables', () => {
    const ds = { uid: 'p' };
    const problems = checkDashboard({
      templating: { list: [{ name: 'service', datasource: ds, query: 'label_values(tug_x_total, pod)' }] },
      panels: [
        { id: 1, type: 'row', title: 'r', panels: [{ id: 2, type: 'timeseries', title: 'hidden', datasource: ds, targets: [{ refId: 'A', expr: '', datasource: ds }] }] },
        { id: 2, type: 'timeseries', title: 'dup', datasource: ds, targets: [{ refId: 'A', expr: 'up', datasource: { uid: 'other' } }] },
        { id: 3, type: 'stat', title: 'none', datasource: ds, targets: [] },
      ],
    }, c, new Set(['p']));
    assert.deepEqual(problems, [
      'variable service: label_values label pod is not a label of tug_x_total',
      'panel "hidden": no query',
      'panel "hidden" query A: empty expr',
      'panel "dup": id 2 is also the id of panel "hidden"',
      'panel "dup" query A: datasource uid other is not a provisioned datasource (p)',
      'panel "none": no query',
    ]);
  });
});
