// Shared pieces of the Table renderer: the meta.k8s.io/v1 Table shapes, Kubernetes' human
// duration (AGE), and the formatting helpers the per-kind printers (table-*.ts) share.

import type { Container, KubeObject, LabelSelector } from '../../api/types.js';

export type TableColumnType = 'string' | 'integer' | 'number' | 'boolean' | 'date';

export interface TableColumnDefinition {
  name: string;
  type: TableColumnType;
  format: string;
  description: string;
  priority: number;
}

export type TableCell = string | number | boolean;

export interface TableRowCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface PartialObjectMetadata {
  kind: 'PartialObjectMetadata';
  apiVersion: 'meta.k8s.io/v1';
  metadata: KubeObject['metadata'];
}

export interface TableRow {
  cells: TableCell[];
  conditions?: TableRowCondition[];
  object?: PartialObjectMetadata | KubeObject;
}

export interface Table {
  kind: 'Table';
  apiVersion: 'meta.k8s.io/v1';
  metadata: { resourceVersion?: string; continue?: string };
  columnDefinitions: TableColumnDefinition[];
  rows: TableRow[];
}

/** What one kind contributes: its columns, and the cells (plus row conditions) of one object. */
export interface KindPrinter {
  columns: TableColumnDefinition[];
  row(obj: KubeObject, now: Date): { cells: TableCell[]; conditions?: TableRowCondition[] };
}

export const NONE = '<none>';

export function column(
  name: string,
  description: string,
  opts: { type?: TableColumnType; priority?: number; format?: string } = {},
): TableColumnDefinition {
  return { name, type: opts.type ?? 'string', format: opts.format ?? '', description, priority: opts.priority ?? 0 };
}

export function nameColumn(): TableColumnDefinition {
  return column('Name', 'Name must be unique within a namespace.', { format: 'name' });
}

export function ageColumn(): TableColumnDefinition {
  return column('Age', 'CreationTimestamp is the server time when this object was created.');
}

/**
 * k8s.io/apimachinery/pkg/util/duration.HumanDuration: ~2-3 significant figures, e.g. `45s`,
 * `5m30s`, `125m`, `5h30m`, `30h`, `3d5h`, `120d`, `3y45d`, `10y`. A clock skew of up to one second
 * in the future reads as `0s`; more is `<invalid>`. Go truncates toward zero, so does this.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.trunc(ms / 3_600_000);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  const days = Math.trunc(hours / 24);
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${days}d` : `${days}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.trunc(days / 365);
  if (hours < 24 * 365 * 8) {
    const dy = days % 365;
    return dy === 0 ? `${years}y` : `${years}y${dy}d`;
  }
  return `${years}y`;
}

/** Parses an RFC 3339 timestamp; undefined when absent or unparsable (Go's zero time). */
export function parseTime(ts: string | null | undefined): number | undefined {
  if (!ts) return undefined;
  const ms = Date.parse(ts);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Age of a timestamp as kubectl prints it (printers' translateTimestampSince); `<unknown>` when unset. */
export function formatAge(from: string | undefined, now: Date): string {
  const ms = parseTime(from);
  return ms === undefined ? '<unknown>' : humanDuration(now.getTime() - ms);
}

export function ageOf(obj: KubeObject, now: Date): string {
  return formatAge(obj.metadata.creationTimestamp ?? undefined, now);
}

export function nameOf(obj: KubeObject): string {
  return obj.metadata.name ?? '';
}

/** labels.FormatLabels: `k=v` sorted by key, comma-joined; `<none>` when empty. */
export function formatLabels(labels: Record<string, string> | undefined): string {
  const keys = Object.keys(labels ?? {}).sort();
  return keys.length === 0 ? NONE : keys.map((k) => `${k}=${labels![k]}`).join(',');
}

/**
 * metav1.LabelSelectorAsSelector(s).String(): requirements sorted by key, `k=v`, `k in (a,b)`,
 * `k notin (a,b)`, `k`, `!k`. An empty or absent selector renders as ''.
 */
export function selectorString(selector: LabelSelector | undefined): string {
  const reqs: { key: string; text: string }[] = [];
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) reqs.push({ key, text: `${key}=${value}` });
  for (const e of selector?.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort().join(',');
    const text =
      e.operator === 'In' ? `${e.key} in (${values})`
      : e.operator === 'NotIn' ? `${e.key} notin (${values})`
      : e.operator === 'Exists' ? e.key
      : e.operator === 'DoesNotExist' ? `!${e.key}`
      : `${e.key} ${e.operator} (${values})`;
    reqs.push({ key: e.key, text });
  }
  reqs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return reqs.map((r) => r.text).join(',');
}

/** metav1.FormatLabelSelector: like selectorString but `<none>` when empty. */
export function formatLabelSelector(selector: LabelSelector | undefined): string {
  return selectorString(selector) || NONE;
}

/** layoutContainerCells: container names and images, each comma-joined in spec order. */
export function containerCells(containers: Container[] | undefined): [names: string, images: string] {
  const list = containers ?? [];
  return [list.map((c) => c.name).join(','), list.map((c) => c.image ?? '').join(',')];
}

/** The first `max` items comma-joined, then ` + N more...` (printers' listWithMoreString). */
export function listWithMore(items: string[], total: number, max: number, empty: string): string {
  if (total > max) return `${items.slice(0, max).join(',')} + ${total - max} more...`;
  return items.length === 0 ? empty : items.join(',');
}
