// tugboat's Grafana dashboards as code, over the metrics of DESIGN.md §7. One function per
// dashboard; `npm run dashboards` (generate.ts) writes them to grafana/dashboards/*.json, which
// Grafana loads through grafana/provisioning. Every query must return a series on a live cluster:
// counters that only appear after an event (failures, 5xx, restarts) fall back to 0 with
// `or on() vector(0)`, so "none yet" reads as 0 instead of "No data".
import type { Builder, Dataquery } from '@grafana/grafana-foundation-sdk/cog';
import {
  BigValueColorMode,
  BigValueGraphMode,
  LegendDisplayMode,
  LegendPlacement,
  ReduceDataOptionsBuilder,
  SortOrder,
  StackingConfigBuilder,
  StackingMode,
  TooltipDisplayMode,
  VizLegendOptionsBuilder,
  VizTooltipOptionsBuilder,
} from '@grafana/grafana-foundation-sdk/common';
import { DashboardBuilder, DashboardCursorSync, QueryVariableBuilder, RowBuilder, VariableRefresh, VariableSort, type Dashboard, type Panel } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';

/** The datasource every panel and variable uses; provisioning/datasources/prometheus.yml defines it. */
export const DATASOURCE = { type: 'prometheus', uid: 'tugboat-prometheus' } as const;

/** Rate window: Grafana's own choice from the scrape interval and the panel's resolution. */
const RI = '$__rate_interval';

interface Query {
  expr: string;
  legend: string;
}

interface PanelSpec {
  kind: 'timeseries' | 'stat';
  title: string;
  description: string;
  unit: string;
  queries: Query[];
  stack?: boolean;
  width?: number;
}

type Section = [row: string, panels: PanelSpec[]];

const q = (expr: string, legend: string): Query => ({ expr, legend });

function timeseries(title: string, unit: string, description: string, queries: Query[], extra: Partial<PanelSpec> = {}): PanelSpec {
  return { kind: 'timeseries', title, description, unit, queries, ...extra };
}

function stat(title: string, unit: string, description: string, queries: Query[]): PanelSpec {
  return { kind: 'stat', title, description, unit, queries, width: 6 };
}

function target(query: Query, index: number): Builder<Dataquery> {
  return new DataqueryBuilder()
    .datasource(DATASOURCE)
    .refId(String.fromCharCode(65 + index))
    .expr(query.expr)
    .legendFormat(query.legend)
    .range();
}

function panel(spec: PanelSpec, id: number): Builder<Panel> {
  const targets = spec.queries.map(target);
  if (spec.kind === 'stat') {
    return new StatBuilder()
      .id(id)
      .title(spec.title)
      .description(spec.description)
      .datasource(DATASOURCE)
      .targets(targets)
      .unit(spec.unit)
      .height(5)
      .span(spec.width ?? 6)
      .graphMode(BigValueGraphMode.Area)
      .colorMode(BigValueColorMode.Value)
      .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false));
  }
  const b = new TimeseriesBuilder()
    .id(id)
    .title(spec.title)
    .description(spec.description)
    .datasource(DATASOURCE)
    .targets(targets)
    .unit(spec.unit)
    .height(8)
    .span(spec.width ?? 12)
    .min(0)
    .fillOpacity(spec.stack ? 30 : 10)
    .legend(new VizLegendOptionsBuilder().showLegend(true).displayMode(LegendDisplayMode.List).placement(LegendPlacement.Bottom))
    .tooltip(new VizTooltipOptionsBuilder().mode(TooltipDisplayMode.Multi).sort(SortOrder.Descending));
  if (spec.stack) b.stacking(new StackingConfigBuilder().mode(StackingMode.Normal));
  return b;
}

/** A multi-value variable over one label's values, "All" (any value, even none) by default. */
function labelVariable(name: string, label: string, query: string): QueryVariableBuilder {
  return new QueryVariableBuilder(name)
    .label(label)
    .datasource(DATASOURCE)
    .query(query)
    .definition(query)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .allValue('.*')
    .current({ selected: true, text: 'All', value: '$__all' });
}

const NODE_VAR = () => labelVariable('node', 'Node', 'label_values(up{role="node"}, node)');
const NAMESPACE_VAR = () => labelVariable('namespace', 'Namespace', 'label_values(tug_proxy_endpoints, namespace)');
const SERVICE_VAR = () => labelVariable('service', 'Service', 'label_values(tug_proxy_endpoints{namespace=~"$namespace"}, service)');

function board(uid: string, title: string, description: string, variables: QueryVariableBuilder[], sections: Section[]): Dashboard {
  const b = new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['tugboat'])
    .editable()
    .tooltip(DashboardCursorSync.Crosshair)
    .refresh('10s')
    .time({ from: 'now-30m', to: 'now' })
    .timezone('browser');
  for (const v of variables) b.withVariable(v);
  let id = 1;
  for (const [row, panels] of sections) {
    b.withRow(new RowBuilder(row).id(id++));
    for (const spec of panels) b.withPanel(panel(spec, id++));
  }
  return b.build();
}

/**
 * p50 and p99 of a histogram. Rare events (pod starts, bindings, endpoint changes) take a
 * window of minutes instead of the rate interval, so that the line does not vanish between them.
 */
function quantiles(metric: string, selector: string, by: string, legend: string, window = RI): Query[] {
  const grouping = by ? `le, ${by}` : 'le';
  const prefix = legend ? `${legend} ` : '';
  return [0.5, 0.99].map((p) =>
    q(`histogram_quantile(${p}, sum by (${grouping}) (rate(${metric}_bucket${selector}[${window}])))`, `${prefix}p${p * 100}`),
  );
}

const RARE = '10m';

/** Nodes, pods, the API server, the scheduler and the controllers. */
export function clusterOverview(): Dashboard {
  return board('tug-cluster', 'tugboat / Cluster overview', 'Nodes, pods, API server, scheduler and controllers.', [], [
    ['Nodes and pods', [
      stat('Nodes Ready', 'short', 'Nodes whose Ready condition is True, as control has it (heartbeats within --node-monitor-grace).', [
        q('sum(tug_cluster_nodes{ready="true"})', 'ready'),
      ]),
      stat('Nodes not Ready', 'short', 'Nodes whose Ready condition is False or Unknown (no heartbeat).', [
        q('sum(tug_cluster_nodes{ready!="true"})', 'not ready'),
      ]),
      stat('Scrape targets down', 'short', 'Targets (control and nodes) whose last scrape failed.', [
        q('count(up == 0) or on() vector(0)', 'down'),
      ]),
      stat('Pods running', 'short', 'Pods in phase Running on all nodes.', [
        q('sum(tug_node_pods{phase="Running"}) or on() vector(0)', 'running'),
      ]),
      stat('Container restarts', 'short', 'Container restarts on all nodes since each node daemon started.', [
        q('sum(tug_container_restarts_total) or on() vector(0)', 'restarts'),
      ]),
      timeseries('Pods by phase', 'short', 'Pods as the nodes see them, by phase; 0 when there are none.', [
        q('sum by (phase) (tug_node_pods) or on() vector(0)', '{{phase}}'),
      ], { stack: true }),
      timeseries('Deployment replicas', 'short', 'Desired (spec) against available replicas per Deployment.', [
        q('sum by (namespace, deployment, state) (tug_deployment_replicas{state=~"desired|available"}) or on() vector(0)', '{{namespace}}/{{deployment}} {{state}}'),
      ]),
      timeseries('Container restarts per pod', 'short', 'Restarts per pod since its node daemon started (crashes and failed liveness probes); each step up is a restart. The count itself, because a pod\'s first restart creates its series and rate() or increase() would not see it.', [
        q('sum by (namespace, pod) (tug_container_restarts_total) or on() vector(0)', '{{namespace}}/{{pod}}'),
      ]),
    ]],
    ['API server', [
      timeseries('API requests/s by verb and resource', 'reqps', 'Requests the API server answered, watches included (one per opened watch).', [
        q(`sum by (verb, resource) (rate(tug_apiserver_requests_total[${RI}]))`, '{{verb}} {{resource}}'),
      ]),
      timeseries('API requests/s by code', 'reqps', 'Requests by HTTP status code.', [
        q(`sum by (code) (rate(tug_apiserver_requests_total[${RI}]))`, '{{code}}'),
      ]),
      timeseries('API latency p99 by verb and resource', 's', 'Request latency (watches excluded) per verb and resource, and p50 over all requests.', [
        q(`histogram_quantile(0.99, sum by (le, verb, resource) (rate(tug_apiserver_request_duration_seconds_bucket[${RI}])))`, '{{verb}} {{resource}} p99'),
        q(`histogram_quantile(0.5, sum by (le) (rate(tug_apiserver_request_duration_seconds_bucket[${RI}])))`, 'all p50'),
      ]),
      timeseries('API server errors/s (5xx)', 'reqps', 'Requests answered with a 5xx code; 0 when there were none.', [
        q(`sum by (verb, resource, code) (rate(tug_apiserver_requests_total{code=~"5.."}[${RI}])) or on() vector(0)`, '{{code}} {{verb}} {{resource}}'),
      ]),
    ]],
    ['Scheduler and controllers', [
      timeseries('Scheduling latency', 's', 'From a pod first seen unbound to its binding, over the last 10 minutes.', quantiles('tug_scheduler_schedule_duration_seconds', '', '', '', RARE)),
      timeseries('Scheduling attempts/s by result', 'ops', 'Pods bound, or put back for later, per second; 0 when none was scheduled since control started.', [
        q(`sum by (result) (rate(tug_scheduler_schedule_duration_seconds_count[${RI}])) or on() vector(0)`, '{{result}}'),
      ]),
      timeseries('Controller reconciles/s', 'ops', 'Reconcile passes per controller and result.', [
        q(`sum by (controller, result) (rate(tug_controller_reconcile_total[${RI}]))`, '{{controller}} {{result}}'),
      ], { width: 24 }),
    ]],
  ]);
}

const SVC = 'namespace=~"$namespace", service=~"$service"';

/** Per-endpoint request rate within a service, summed over every node's proxy. */
const endpointRate = `sum by (namespace, service, endpoint) (rate(tug_proxy_requests_total{${SVC}, endpoint!="none"}[${RI}]))`;
const endpointShare = `${endpointRate} / on (namespace, service) group_left sum by (namespace, service) (${endpointRate})`;
const serviceRate = `sum by (namespace, service) (rate(tug_proxy_requests_total{${SVC}}[${RI}]))`;

/** Service traffic through the node proxies: rates, balance across endpoints, errors, latency. */
export function servicesAndLoadBalancing(): Dashboard {
  return board('tug-services', 'tugboat / Services & load balancing', 'Service traffic through the node proxies, per service and per endpoint.', [NAMESPACE_VAR(), SERVICE_VAR()], [
    ['Traffic', [
      timeseries('Requests/s per service', 'reqps', 'HTTP requests forwarded by all node proxies.', [
        q(serviceRate, '{{namespace}}/{{service}}'),
      ]),
      timeseries('Requests/s per endpoint', 'reqps', 'HTTP requests per endpoint (pod), summed over all node proxies.', [
        q(`sum by (namespace, service, endpoint) (rate(tug_proxy_requests_total{${SVC}}[${RI}]))`, '{{service}} → {{endpoint}}'),
      ]),
      timeseries('Share of traffic per endpoint', 'percentunit', 'Each endpoint\'s share of its service\'s requests; with N ready endpoints an even spread is 1/N each.', [
        q(endpointShare, '{{service}} → {{endpoint}}'),
      ]),
      timeseries('Imbalance score', 'short', 'Both are 1 when traffic is spread evenly. max/min: busiest endpoint\'s rate over the quietest\'s. hottest vs fair share: busiest endpoint\'s share times the number of ready endpoints, which also counts endpoints that get no traffic at all.', [
        q(`max by (namespace, service) (${endpointRate}) / min by (namespace, service) (${endpointRate})`, '{{service}} max/min'),
        q(`max by (namespace, service) (${endpointShare}) * on (namespace, service) max by (namespace, service) (tug_proxy_endpoints{${SVC}, state="ready"})`, '{{service}} hottest vs fair share'),
      ]),
      timeseries('Connections/s per endpoint', 'ops', 'Upstream connections (TCP, and HTTP pool connections) and UDP flows the proxies opened.', [
        q(`sum by (namespace, service, endpoint) (rate(tug_proxy_connections_total{${SVC}}[${RI}]))`, '{{service}} → {{endpoint}}'),
      ]),
      timeseries('Responses/s by code', 'reqps', 'HTTP responses per service and status code (503 with endpoint "none": no ready endpoint).', [
        q(`sum by (namespace, service, code) (rate(tug_proxy_requests_total{${SVC}}[${RI}]))`, '{{service}} {{code}}'),
      ]),
    ]],
    ['Errors and latency', [
      timeseries('Error ratio (5xx)', 'percentunit', 'Share of each service\'s responses with a 5xx code; 0 when there were none.', [
        q(`(sum by (namespace, service) (rate(tug_proxy_requests_total{${SVC}, code=~"5.."}[${RI}])) or 0 * ${serviceRate}) / ${serviceRate}`, '{{namespace}}/{{service}}'),
      ]),
      timeseries('Latency p50 / p99 per service', 's', 'HTTP request duration through the proxy until the response ended.', quantiles('tug_proxy_request_duration_seconds', `{${SVC}}`, 'namespace, service', '{{service}}')),
      timeseries('Upstream failures/s by reason', 'ops', 'Failed upstream attempts (connect refused or timed out, reset before any byte), each retried elsewhere when possible; 0 when there were none.', [
        q(`sum by (namespace, service, reason) (rate(tug_proxy_upstream_failures_total{${SVC}}[${RI}])) or on() vector(0)`, '{{service}} {{reason}}'),
      ]),
      timeseries('Listener bind errors', 'short', 'Failed attempts to bind a Service listener per interval (port taken, no permission); 0 when there were none.', [
        q(`sum by (namespace, service, code) (increase(tug_proxy_bind_errors_total{${SVC}}[${RI}])) or on() vector(0)`, '{{service}} {{code}}'),
      ]),
    ]],
    ['Endpoints and programming', [
      timeseries('Endpoints by state', 'short', 'Endpoints per service as the proxies see them: ready, ejected by passive health checks, not ready (highest count over ports and nodes).', [
        q(`max by (namespace, service, state) (tug_proxy_endpoints{${SVC}})`, '{{service}} {{state}}'),
      ], { stack: true }),
      timeseries('Programming latency', 's', 'From an endpoint becoming ready in Endpoints to a proxy serving it, over all nodes and the last 10 minutes.', quantiles('tug_proxy_programming_latency_seconds', '', '', '', RARE)),
    ]],
  ]);
}

const NODE = 'node=~"$node"';

/** The cluster DNS on each node: query rates, latency, cache and upstreams. */
export function dns(): Dashboard {
  return board('tug-dns', 'tugboat / DNS', 'Cluster DNS served by each node: queries, latency, cache and upstreams.', [NODE_VAR()], [
    ['Queries', [
      stat('Queries/s', 'reqps', 'DNS queries answered per second on the selected nodes.', [
        q(`sum(rate(tug_dns_queries_total{${NODE}}[${RI}]))`, 'qps'),
      ]),
      stat('Cache hit ratio', 'percentunit', 'Forwarded questions answered from the cache.', [
        q(`sum(rate(tug_dns_cache_hits_total{${NODE}}[${RI}])) / (sum(rate(tug_dns_queries_total{${NODE}, zone="forward"}[${RI}])) or on() vector(0))`, 'hit ratio'),
      ]),
      stat('Upstream failures/s', 'ops', 'Failed upstream attempts (timeout, error, SERVFAIL/REFUSED).', [
        q(`sum(rate(tug_dns_upstream_failures_total{${NODE}}[${RI}])) or on() vector(0)`, 'failures'),
      ]),
      stat('Stale answers/s', 'ops', 'Cluster answers given from the last known state while the control node was unreachable.', [
        q(`sum(rate(tug_dns_stale_answers_total{${NODE}}[${RI}]))`, 'stale'),
      ]),
      timeseries('Queries/s by type', 'reqps', 'Queries by question type.', [
        q(`sum by (qtype) (rate(tug_dns_queries_total{${NODE}}[${RI}]))`, '{{qtype}}'),
      ]),
      timeseries('Queries/s by response code and zone', 'reqps', 'Answers by response code; zone is cluster (answered from the cluster records), forward (sent upstream or cached) or none (malformed or refused early).', [
        q(`sum by (rcode, zone) (rate(tug_dns_queries_total{${NODE}}[${RI}]))`, '{{rcode}} {{zone}}'),
      ]),
    ]],
    ['Latency, cache and upstreams', [
      timeseries('Latency p50 / p99 by zone', 's', 'From receiving a query to sending its answer.', quantiles('tug_dns_request_duration_seconds', `{${NODE}}`, 'zone', '{{zone}}')),
      timeseries('Cache hits/s and forwarded queries/s', 'reqps', 'Forwarded questions, and how many of them the cache answered.', [
        q(`sum by (node) (rate(tug_dns_cache_hits_total{${NODE}}[${RI}]))`, '{{node}} cache hits'),
        q(`sum by (node) (rate(tug_dns_queries_total{${NODE}, zone="forward"}[${RI}])) or on() vector(0)`, '{{node}} forwarded'),
      ]),
      timeseries('Upstream failures/s by upstream', 'ops', 'Failed attempts per upstream server; 0 when there were none.', [
        q(`sum by (node, upstream) (rate(tug_dns_upstream_failures_total{${NODE}}[${RI}])) or on() vector(0)`, '{{node}} {{upstream}}'),
      ]),
      timeseries('Stale answers/s', 'ops', 'Answers from the last known cluster state while the control node was unreachable.', [
        q(`sum by (node) (rate(tug_dns_stale_answers_total{${NODE}}[${RI}]))`, '{{node}}'),
      ]),
    ]],
  ]);
}

/** One or more nodes: host resources, pods, probes, restarts and the daemon's Node.js process. */
export function node(): Dashboard {
  return board('tug-node', 'tugboat / Node', 'Host resources, pods, probes and restarts per node, and the Node.js process of each daemon.', [NODE_VAR()], [
    ['Host and pods', [
      timeseries('CPU usage', 'percentunit', 'Share of the host\'s CPU time in use.', [
        q(`tug_node_cpu_usage_ratio{${NODE}}`, '{{node}}'),
      ], { width: 8 }),
      timeseries('Memory used', 'bytes', 'Host memory in use.', [
        q(`tug_node_memory_used_bytes{${NODE}}`, '{{node}}'),
      ], { width: 8 }),
      timeseries('Pods by phase', 'short', 'Pods on each node by phase; 0 when there are none.', [
        q(`sum by (node, phase) (tug_node_pods{${NODE}}) or on() vector(0)`, '{{node}} {{phase}}'),
      ], { width: 8, stack: true }),
    ]],
    ['Containers and probes', [
      timeseries('Container restarts', 'short', 'Restarts per container since the node daemon started (crashes and failed liveness probes); 0 when there were none.', [
        q(`sum by (node, namespace, pod, container) (tug_container_restarts_total{${NODE}}) or on() vector(0)`, '{{node}} {{namespace}}/{{pod}}/{{container}}'),
      ], { width: 8 }),
      timeseries('Probe failures/s', 'ops', 'Failed liveness, readiness and startup probe runs; 0 when there were none.', [
        q(`sum by (node, probe) (rate(tug_probe_results_total{${NODE}, result="failure"}[${RI}])) or on() vector(0)`, '{{node}} {{probe}}'),
      ], { width: 8 }),
      timeseries('Probe runs/s', 'ops', 'Probe runs by kind and result; 0 when no pod has probes.', [
        q(`sum by (node, probe, result) (rate(tug_probe_results_total{${NODE}}[${RI}])) or on() vector(0)`, '{{node}} {{probe}} {{result}}'),
      ], { width: 8 }),
      timeseries('Pod start duration', 's', 'From the node seeing a pod to all its containers running, over the last 10 minutes.', quantiles('tug_pod_start_duration_seconds', `{${NODE}}`, '', '', RARE), { width: 24 }),
    ]],
    ['Node.js process', [
      timeseries('Process CPU', 'percentunit', 'CPU time of the daemon\'s process (1 = one core).', [
        q(`rate(process_cpu_seconds_total{${NODE}}[${RI}])`, '{{node}} {{role}}'),
      ], { width: 8 }),
      timeseries('Process memory', 'bytes', 'Resident set size and V8 heap in use.', [
        q(`process_resident_memory_bytes{${NODE}}`, '{{node}} {{role}} rss'),
        q(`nodejs_heap_size_used_bytes{${NODE}}`, '{{node}} {{role}} heap'),
      ], { width: 8 }),
      timeseries('Event loop lag p99', 's', 'How late the event loop runs timers: a busy or blocked daemon shows here first.', [
        q(`nodejs_eventloop_lag_p99_seconds{${NODE}}`, '{{node}} {{role}}'),
      ], { width: 8 }),
      timeseries('GC time per second', 'percentunit', 'Time spent in garbage collection, by kind.', [
        q(`sum by (node, role, kind) (rate(nodejs_gc_duration_seconds_sum{${NODE}}[${RI}]))`, '{{node}} {{role}} {{kind}}'),
      ]),
      timeseries('Open file descriptors and handles', 'short', 'Open file descriptors and active libuv handles (sockets, timers, child processes).', [
        q(`process_open_fds{${NODE}}`, '{{node}} {{role}} fds'),
        q(`nodejs_active_handles_total{${NODE}}`, '{{node}} {{role}} handles'),
      ]),
    ]],
  ]);
}

/** Every dashboard by its file name under grafana/dashboards/. */
export function dashboards(): Record<string, Dashboard> {
  return {
    'cluster-overview.json': clusterOverview(),
    'services.json': servicesAndLoadBalancing(),
    'dns.json': dns(),
    'node.json': node(),
  };
}

/** The committed form of a dashboard: two-space JSON with a final newline. */
export function renderDashboard(d: Dashboard): string {
  return `${JSON.stringify(d, null, 2)}\n`;
}
