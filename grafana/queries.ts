// What a Grafana dashboard asks Prometheus: every panel's queries (rows and nested panels
// included) and its template variables, with the variables substituted the way Grafana does, so
// a test can run each query against a real Prometheus. Works on any dashboard JSON (schema 16+,
// and the older `rows` layout), not only tugboat's.

export interface PanelQuery {
  /** Dashboard title (or the file, when it has none). */
  dashboard: string;
  /** Panel title, with the row it sits in: `Row / Panel`. */
  panel: string;
  refId?: string;
  expr: string;
}

type Json = Record<string, any>;

/** Every non-empty `targets[].expr` of every panel, in the order Grafana lays them out. */
export function panelQueries(dashboard: Json, name = 'dashboard'): PanelQuery[] {
  const title = typeof dashboard.title === 'string' && dashboard.title ? dashboard.title : name;
  const out: PanelQuery[] = [];
  const visit = (panels: unknown, path: string[]) => {
    if (!Array.isArray(panels)) return;
    for (const p of panels as Json[]) {
      if (!p || typeof p !== 'object') continue;
      const here = [...path, String(p.title ?? `panel ${p.id ?? '?'}`)];
      for (const t of Array.isArray(p.targets) ? (p.targets as Json[]) : []) {
        if (t && typeof t.expr === 'string' && t.expr.trim()) out.push({ dashboard: title, panel: here.join(' / '), refId: t.refId, expr: t.expr });
      }
      // A row keeps its panels inside while collapsed, beside them while expanded.
      visit(p.panels, p.type === 'row' ? here : path);
    }
  };
  visit(dashboard.panels, []);
  for (const row of Array.isArray(dashboard.rows) ? (dashboard.rows as Json[]) : []) visit(row?.panels, row?.title ? [String(row.title)] : []);
  return out;
}

export interface TemplateVariable {
  name: string;
  type: string;
  /** The variable's query text (`label_values(...)` for a Prometheus query variable). */
  query: string;
  /** Values the dashboard itself names: current, then options, then a custom list. */
  fixed: string[];
}

function asValues(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  return v === undefined || v === null || v === '' ? [] : [String(v)];
}

/** The dashboard's template variables (`templating.list`), in their order. */
export function templateVariables(dashboard: Json): TemplateVariable[] {
  const list = dashboard.templating?.list;
  if (!Array.isArray(list)) return [];
  return (list as Json[])
    .filter((v) => v && typeof v.name === 'string')
    .map((v) => {
      const query = typeof v.query === 'string' ? v.query : typeof v.query?.query === 'string' ? v.query.query : '';
      const fixed = [
        ...asValues(v.current?.value),
        ...(Array.isArray(v.options) ? (v.options as Json[]).flatMap((o) => asValues(o?.value)) : []),
        ...(v.type === 'custom' || v.type === 'interval' || v.type === 'constant' || v.type === 'textbox' ? query.split(',').map((s: string) => s.trim().replace(/^.*? : /, '')) : []),
      ].filter((x) => x !== '' && x !== '$__all' && x !== 'All');
      return { name: v.name as string, type: String(v.type ?? 'query'), query, fixed };
    });
}

/** `label_values(selector, label)` or `label_values(label)`; undefined for other variable queries. */
export function parseLabelValues(query: string): { selector?: string; label: string } | undefined {
  const m = /^\s*label_values\(\s*(.*?)\s*\)\s*$/s.exec(query);
  if (!m) return undefined;
  const comma = m[1].lastIndexOf(',');
  if (comma < 0) return /^[a-zA-Z_]\w*$/.test(m[1]) ? { label: m[1] } : undefined;
  const label = m[1].slice(comma + 1).trim();
  const selector = m[1].slice(0, comma).trim();
  return /^[a-zA-Z_]\w*$/.test(label) && selector ? { selector, label } : undefined;
}

/**
 * Replaces `$name`, `${name}`, `${name:format}` and `[[name]]` with their values; longer names
 * first, so `$node` does not eat the start of `$nodename`. Unknown variables are left in place.
 */
export function substitute(expr: string, values: Record<string, string>): string {
  return expr.replace(/\$\{([\w.]+)(?::[^}]*)?\}|\[\[([\w.]+)(?::[^\]]*)?\]\]|\$([a-zA-Z_]\w*)/g, (whole, braced, bracketed, bare) => {
    const name = braced ?? bracketed ?? bare;
    return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : whole;
  });
}

/** Variables still in an expression after substitution (`$x`, `${x}`, `[[x]]`). */
export function unresolved(expr: string): string[] {
  const names = new Set<string>();
  for (const m of expr.matchAll(/\$\{([\w.]+)[^}]*\}|\[\[([\w.]+)[^\]]*\]\]|\$([a-zA-Z_]\w*)/g)) names.add(m[1] ?? m[2] ?? m[3]);
  return [...names];
}

/** Grafana's built-in interval variables for a query over the last `range` seconds. */
export function builtinValues(opts: { rateInterval: string; interval: string; rangeSeconds: number }): Record<string, string> {
  return {
    __rate_interval: opts.rateInterval,
    __interval: opts.interval,
    __interval_ms: String(durationSeconds(opts.interval) * 1000),
    __range: `${opts.rangeSeconds}s`,
    __range_s: String(opts.rangeSeconds),
    __range_ms: String(opts.rangeSeconds * 1000),
  };
}

function durationSeconds(d: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(d);
  if (!m) throw new Error(`"${d}" is not a duration like 15s`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

/**
 * A value for each template variable: query variables ask `labelValues` (after substituting the
 * variables before them, as Grafana chains them), preferring `prefer[name]` when it is among the
 * answers; the others take the dashboard's own value. A variable without a value is an error.
 */
export async function resolveVariables(
  dashboard: Json,
  labelValues: (label: string, selector?: string) => Promise<string[]>,
  builtins: Record<string, string>,
  prefer: Record<string, string> = {},
): Promise<Record<string, string>> {
  const values: Record<string, string> = { ...builtins };
  for (const v of templateVariables(dashboard)) {
    if (v.type === 'adhoc') continue;
    if (v.type === 'datasource') {
      values[v.name] = v.fixed[0] ?? 'prometheus';
      continue;
    }
    let candidates = v.fixed;
    if (v.type === 'query') {
      const lv = parseLabelValues(substitute(v.query, values));
      if (!lv) throw new Error(`variable $${v.name}: only label_values(...) queries are understood, not "${v.query}"`);
      candidates = await labelValues(lv.label, lv.selector);
    }
    const chosen = prefer[v.name] !== undefined && candidates.includes(prefer[v.name]) ? prefer[v.name] : candidates[0];
    if (chosen === undefined) throw new Error(`variable $${v.name} has no value (query "${v.query}" found none)`);
    values[v.name] = chosen;
  }
  return values;
}
