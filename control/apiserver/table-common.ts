// Shared pieces of the Table renderer: the meta.k8s.io/v1 Table shapes, Kubernetes' human
// duration (AGE), and the formatting helpers the per-kind printers (table-*.ts) share.

import { humanDuration } from '../../api/duration.js';
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
