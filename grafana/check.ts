// Static checks of dashboard JSON against the metrics the code registers: every panel has a
// query, every metric and label a query names exists, every variable it uses is defined, every
// datasource is the provisioned one, panel ids are unique. Pure functions of their inputs, so the
// tests can also feed them broken dashboards and see each check fail.

/** A metric a scrape can return: its type and the labels the code gives it. */
export interface MetricInfo {
  /** untyped: registered without a `new Counter|Gauge|Histogram|Summary({` the scan could see. */
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  labels: string[];
}

export type Catalog = Map<string, MetricInfo>;

/** Labels Prometheus adds to every scraped series (job, instance) and those /sd/prometheus gives each target. */
export const TARGET_LABELS = ['job', 'instance', 'node', 'role'];

/** Series Prometheus itself writes for every target. */
export const SCRAPE_SERIES = ['up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_samples_post_metric_relabeling', 'scrape_series_added'];

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);

/** A loosely typed view of dashboard JSON, enough for the checks. */
interface JsonPanel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: { uid?: string };
  targets?: { expr?: string; refId?: string; datasource?: { uid?: string } }[];
  panels?: JsonPanel[];
}

interface JsonDashboard {
  uid?: string;
  panels?: JsonPanel[];
  templating?: { list?: { name: string; query?: unknown; datasource?: { uid?: string } }[] };
}

/** Metrics from TypeScript source: every `name: 'tug_…'`, typed and labelled by the `new Counter|Gauge|Histogram|Summary({ …, labelNames: […] })` (or lib/metrics' fast twin) around it. */
export function catalogFromSource(files: Iterable<string>): Catalog {
  const catalog: Catalog = new Map();
  const nameRe = /name:\s*'(tug_[a-z0-9_]+)'/g;
  for (const text of files) {
    for (const m of text.matchAll(nameRe)) {
      const before = text.slice(Math.max(0, m.index - 200), m.index);
      // prom-client's classes, and lib/metrics' fast ones (`new FastCounter({` or `fastCounter(registry, {`).
      const kinds = [...before.matchAll(/(?:new (?:Fast)?(Counter|Gauge|Histogram|Summary)\s*(?:<[^>]*>)?\s*\(|\bfast(Counter|Histogram)\(\s*\w+,)\s*\{/g)];
      const last = kinds.at(-1);
      const kind = ((last?.[1] ?? last?.[2])?.toLowerCase() ?? 'untyped') as MetricInfo['type'];
      const after = text.slice(m.index + m[0].length);
      const end = after.search(/\bname:\s*'|\n\s*\}\)/);
      const body = end === -1 ? after : after.slice(0, end);
      const labelList = /labelNames:\s*\[([^\]]*)\]/.exec(body)?.[1] ?? '';
      catalog.set(m[1], { type: kind, labels: [...labelList.matchAll(/'([^']+)'/g)].map((l) => l[1]) });
    }
  }
  return catalog;
}

/** The names a series of this metric family can have in a scrape (histograms: _bucket, _sum, _count). */
function resolve(catalog: Catalog, name: string): { info: MetricInfo; bucket: boolean } | undefined {
  const direct = catalog.get(name);
  if (direct) return { info: direct, bucket: false };
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  const base = m ? catalog.get(m[1]) : undefined;
  if (!base || base.type === 'counter' || base.type === 'gauge') return undefined;
  if (m![2] === 'bucket' && base.type === 'summary') return undefined;
  return { info: base, bucket: m![2] === 'bucket' };
}

export interface ParsedExpr {
  metrics: string[];
  /** Label names in matchers, with the metric they filter (undefined for a bare `{…}`). */
  matchers: { metric: string | undefined; label: string }[];
  /** Label names in by/without/on/ignoring/group_left/group_right clauses. */
  grouping: string[];
  variables: string[];
}

/** A small PromQL reader: enough to find metric names, label names and Grafana variables. */
export function parseExpr(expr: string): ParsedExpr {
  const variables = [...expr.matchAll(/\$\{?([A-Za-z_]\w*)|\[\[(\w+)\]\]/g)].map((m) => m[1] ?? m[2]);
  let rest = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const matchers: ParsedExpr['matchers'] = [];
  rest = rest.replace(/([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}/g, (_all, metric: string | undefined, body: string) => {
    for (const part of body.split(',')) {
      const label = /^\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)/.exec(part)?.[1];
      if (label) matchers.push({ metric, label });
    }
    return metric ? ` ${metric} ` : ' ';
  });
  const grouping: string[] = [];
  rest = rest.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_all, _kw, labels: string) => {
    grouping.push(...labels.split(',').map((l) => l.trim()).filter(Boolean));
    return ' ';
  });
  rest = rest.replace(/\[[^\]]*\]/g, ' ').replace(/\$\{?\w+\}?/g, ' ');
  const metrics: string[] = [];
  for (const m of rest.matchAll(/(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const next = rest.slice(m.index + m[0].length).trimStart();
    if (next.startsWith('(') || KEYWORDS.has(m[0].toLowerCase())) continue;
    metrics.push(m[0]);
  }
  return { metrics, matchers, grouping, variables };
}

/** Problems in one PromQL expression: unknown metrics, labels or variables. */
export function checkExpr(expr: string, catalog: Catalog, variables: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const parsed = parseExpr(expr);
  const known = new Set(TARGET_LABELS);
  let anyBucket = false;
  for (const metric of parsed.metrics) {
    const r = resolve(catalog, metric);
    if (!r) {
      problems.push(`metric ${metric} is not registered by any component`);
      continue;
    }
    for (const l of r.info.labels) known.add(l);
    if (r.bucket) anyBucket = true;
  }
  if (anyBucket) known.add('le');
  for (const { metric, label } of parsed.matchers) {
    const r = metric ? resolve(catalog, metric) : undefined;
    if (!r) continue;
    const labels = new Set([...TARGET_LABELS, ...r.info.labels, ...(r.bucket ? ['le'] : []), '__name__']);
    if (!labels.has(label)) problems.push(`label ${label} is not a label of ${metric} (it has ${[...labels].join(', ')})`);
  }
  for (const label of parsed.grouping) {
    if (!known.has(label)) problems.push(`grouping label ${label} is on none of the metrics of the query`);
  }
  for (const v of parsed.variables) {
    if (!v.startsWith('__') && !variables.has(v)) problems.push(`variable $${v} is not defined in the dashboard`);
  }
  return problems;
}

/** Every panel, including those inside collapsed rows. */
export function panelsOf(d: JsonDashboard): JsonPanel[] {
  return (d.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** The `label_values(selector, label)` of a variable query, checked like a panel query. */
function checkVariableQuery(query: unknown, catalog: Catalog, variables: ReadonlySet<string>): string[] {
  const text = typeof query === 'string' ? query : typeof query === 'object' && query && 'query' in query ? String(query.query) : '';
  const m = /^label_values\((.*),\s*([a-zA-Z_]\w*)\s*\)$/.exec(text.trim());
  if (!m) return [`variable query ${JSON.stringify(text)} is not label_values(selector, label)`];
  const problems = checkExpr(m[1], catalog, variables);
  const labels = new Set(TARGET_LABELS);
  for (const metric of parseExpr(m[1]).metrics) for (const l of resolve(catalog, metric)?.info.labels ?? []) labels.add(l);
  if (!labels.has(m[2])) problems.push(`label_values label ${m[2]} is not a label of ${m[1]}`);
  return problems;
}

/** Every problem of one dashboard, each prefixed with the panel or variable it is in. */
export function checkDashboard(d: JsonDashboard, catalog: Catalog, datasourceUids: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const vars = d.templating?.list ?? [];
  const variables = new Set(vars.map((v) => v.name));
  const checkUid = (where: string, uid: string | undefined) => {
    if (!uid || !datasourceUids.has(uid)) problems.push(`${where}: datasource uid ${uid ?? '(none)'} is not a provisioned datasource (${[...datasourceUids].join(', ')})`);
  };
  for (const v of vars) {
    checkUid(`variable ${v.name}`, v.datasource?.uid);
    for (const p of checkVariableQuery(v.query, catalog, variables)) problems.push(`variable ${v.name}: ${p}`);
  }
  const ids = new Map<number, string>();
  for (const panel of panelsOf(d)) {
    const where = `panel ${JSON.stringify(panel.title ?? '')}`;
    if (typeof panel.id !== 'number') problems.push(`${where}: no id`);
    else if (ids.has(panel.id)) problems.push(`${where}: id ${panel.id} is also the id of panel ${JSON.stringify(ids.get(panel.id))}`);
    else ids.set(panel.id, panel.title ?? '');
    if (panel.type === 'row') continue;
    checkUid(where, panel.datasource?.uid);
    const targets = panel.targets ?? [];
    if (!targets.some((t) => t.expr?.trim())) problems.push(`${where}: no query`);
    for (const t of targets) {
      const at = `${where} query ${t.refId ?? '?'}`;
      if (!t.expr?.trim()) {
        problems.push(`${at}: empty expr`);
        continue;
      }
      checkUid(at, t.datasource?.uid);
      for (const p of checkExpr(t.expr, catalog, variables)) problems.push(`${at}: ${p}`);
    }
  }
  return problems;
}
