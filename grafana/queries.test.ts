// The dashboard query walker on a fixture shaped like Grafana's own export: expanded and collapsed
// rows, panels without queries, the older `rows` layout, chained template variables.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { builtinValues, panelQueries, parseLabelValues, resolveVariables, substitute, templateVariables, unresolved } from './queries.js';

const FIXTURE = {
  title: 'Services',
  schemaVersion: 39,
  templating: {
    list: [
      { name: 'datasource', type: 'datasource', query: 'prometheus', current: { text: 'Prometheus', value: 'prom-uid' } },
      { name: 'namespace', type: 'query', query: { query: 'label_values(tug_proxy_requests_total, namespace)', refId: 'A' }, current: { value: 'stale' } },
      { name: 'service', type: 'query', query: 'label_values(tug_proxy_requests_total{namespace="$namespace"}, service)', multi: true, includeAll: true, current: { value: ['$__all'] } },
      { name: 'node', type: 'query', query: 'label_values(node)' },
      { name: 'quantile', type: 'custom', query: '0.5,0.99', current: { value: '0.99' } },
      { name: 'filter', type: 'adhoc' },
    ],
  },
  panels: [
    { id: 1, type: 'stat', title: 'Nodes Ready', targets: [{ refId: 'A', expr: 'count(up{job="tugboat-nodes"} == 1)' }] },
    { id: 2, type: 'text', title: 'About', options: { content: 'no queries here' } },
    {
      id: 3,
      type: 'row',
      title: 'Traffic',
      collapsed: false,
      panels: [],
    },
    { id: 4, type: 'timeseries', title: 'Requests/s', targets: [{ refId: 'A', expr: 'sum by (endpoint) (rate(tug_proxy_requests_total{namespace="$namespace",service=~"${service:regex}"}[$__rate_interval]))' }, { refId: 'B', expr: '' }, { refId: 'C', datasource: { type: '__expr__' }, expression: '$A * 2' }] },
    {
      id: 5,
      type: 'row',
      title: 'Latency',
      collapsed: true,
      panels: [
        { id: 6, type: 'timeseries', title: 'p99', targets: [{ refId: 'A', expr: 'histogram_quantile($quantile, sum by (le) (rate(tug_proxy_request_duration_seconds_bucket{service=~"[[service]]"}[$__rate_interval])))' }] },
      ],
    },
  ],
  rows: [{ title: 'Legacy', panels: [{ id: 7, title: 'Old', targets: [{ refId: 'A', expr: 'sum(increase(tug_dns_queries_total{node="$node"}[$__range]))' }] }] }],
};

describe('panelQueries', () => {
  it('finds every query: top level, after an expanded row, inside a collapsed row, in legacy rows', () => {
    const q = panelQueries(FIXTURE);
    assert.deepEqual(
      q.map((x) => `${x.panel}#${x.refId}`),
      ['Nodes Ready#A', 'Requests/s#A', 'Latency / p99#A', 'Legacy / Old#A'],
    );
    assert.ok(q.every((x) => x.dashboard === 'Services'));
  });

  it('names an untitled dashboard after the file, and copes with missing or odd fields', () => {
    assert.deepEqual(panelQueries({ panels: [{ targets: [{ expr: 'up' }] }, null, { panels: 'x' }] }, 'x.json'), [{ dashboard: 'x.json', panel: 'panel ?', refId: undefined, expr: 'up' }]);
    assert.deepEqual(panelQueries({}), []);
  });
});

describe('template variables', () => {
  it('reads the list with each variable\'s query text and own values', () => {
    const vars = templateVariables(FIXTURE);
    assert.deepEqual(vars.map((v) => [v.name, v.type, v.query]), [
      ['datasource', 'datasource', 'prometheus'],
      ['namespace', 'query', 'label_values(tug_proxy_requests_total, namespace)'],
      ['service', 'query', 'label_values(tug_proxy_requests_total{namespace="$namespace"}, service)'],
      ['node', 'query', 'label_values(node)'],
      ['quantile', 'custom', '0.5,0.99'],
      ['filter', 'adhoc', ''],
    ]);
    assert.deepEqual(vars[4].fixed, ['0.99', '0.5', '0.99']);
  });

  it('parses label_values with and without a selector', () => {
    assert.deepEqual(parseLabelValues('label_values(up{job="a,b"}, instance)'), { selector: 'up{job="a,b"}', label: 'instance' });
    assert.deepEqual(parseLabelValues('label_values(node)'), { label: 'node' });
    assert.equal(parseLabelValues('query_result(up)'), undefined);
  });

  it('substitutes every syntax, longest name first, leaving unknown ones to report', () => {
    const values = { node: 'n1', nodes: 'all', ...builtinValues({ rateInterval: '1m', interval: '15s', rangeSeconds: 300 }) };
    assert.equal(substitute('a{node="$node"} $nodes ${node} ${node:regex} [[node]] [$__rate_interval] $__range $__interval_ms', values), 'a{node="n1"} all n1 n1 n1 [1m] 300s 15000');
    assert.deepEqual(unresolved(substitute('rate(x{a="$missing", b="${other:csv}"}[5m])', values)), ['missing', 'other']);
    assert.deepEqual(unresolved('sum(rate(x[5m]))'), []);
  });

  it('resolves chained query variables through label values, preferring the asked-for value', async () => {
    const asked: string[] = [];
    const labelValues = async (label: string, selector?: string) => {
      asked.push(`${label} ${selector ?? ''}`.trim());
      return { namespace: ['default', 'kube-system'], service: ['api', 'echo'], node: ['n1'] }[label] ?? [];
    };
    const values = await resolveVariables(FIXTURE, labelValues, builtinValues({ rateInterval: '1m', interval: '15s', rangeSeconds: 300 }), { service: 'echo' });
    assert.deepEqual(asked, ['namespace tug_proxy_requests_total', 'service tug_proxy_requests_total{namespace="default"}', 'node']);
    assert.equal(values.namespace, 'default');
    assert.equal(values.service, 'echo');
    assert.equal(values.quantile, '0.99');
    assert.equal(values.datasource, 'prom-uid');
    for (const q of panelQueries(FIXTURE)) assert.deepEqual(unresolved(substitute(q.expr, values)), [], q.expr);
  });

  it('says which variable found no value', async () => {
    await assert.rejects(resolveVariables(FIXTURE, async () => [], {}), /variable \$namespace has no value/);
    await assert.rejects(resolveVariables({ templating: { list: [{ name: 'x', type: 'query', query: 'query_result(up)' }] } }, async () => ['a'], {}), /only label_values/);
  });
});
