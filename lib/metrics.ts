// Metrics for hot paths, exposed through a prom-client Registry like any other metric.
// prom-client hashes the label object on every inc() and observe(), even through labels(); on a
// path that costs a few microseconds per request (the proxy, the DNS server) that is a visible
// share. Here a series is looked up once (`child(labels)`) and then only numbers change; the
// registry formats them at scrape time, exactly as it formats its own Counter and Histogram.
import type { Metric, Registry } from 'prom-client';

type Labels = Record<string, string>;

/** What a registry reads from a metric (prom-client's get()). */
export interface ExportedMetric {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: { labels: Record<string, string | number>; value: number; metricName?: string }[];
}

interface Options {
  name: string;
  help: string;
  labelNames: readonly string[];
  registers: Registry[];
}

/** Children by their label values, in labelNames order. */
abstract class Family<Child extends { removed: boolean }> {
  readonly name: string;
  readonly help: string;
  readonly aggregator = 'sum' as const;
  protected readonly children = new Map<string, { labels: Labels; child: Child }>();

  constructor(private readonly opts: Options) {
    this.name = opts.name;
    this.help = opts.help;
    for (const registry of opts.registers) registry.registerMetric(this as unknown as Metric);
  }

  private key(labels: Labels): string {
    return this.opts.labelNames.map((n) => labels[n] ?? '').join('\0');
  }

  /** The series for these labels, created at its first use. Keep it: that is the cheap path. */
  child(labels: Labels): Child {
    const key = this.key(labels);
    let c = this.children.get(key);
    if (!c) this.children.set(key, (c = { labels: { ...labels }, child: this.newChild() }));
    return c.child;
  }

  /** Drops the series. A child still held is marked `removed`: whoever holds it asks child() again. */
  remove(labels: Labels): void {
    const key = this.key(labels);
    const c = this.children.get(key);
    if (c) c.child.removed = true;
    this.children.delete(key);
  }

  reset(): void {
    for (const c of this.children.values()) c.child.removed = true;
    this.children.clear();
  }

  protected abstract newChild(): Child;
}

export interface CounterChild {
  inc(by?: number): void;
  /** Its series was removed from the family: counting here is no longer seen. */
  removed: boolean;
}

export class FastCounter extends Family<CounterChild & { value: number }> {
  readonly type = 'counter' as const;

  protected newChild(): CounterChild & { value: number } {
    const c = {
      value: 0,
      removed: false,
      inc(by = 1) {
        c.value += by;
      },
    };
    return c;
  }

  inc(labels: Labels, by = 1): void {
    this.child(labels).inc(by);
  }

  async get(): Promise<ExportedMetric> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: [...this.children.values()].map(({ labels, child }) => ({ labels: { ...labels }, value: child.value })) };
  }
}

export interface HistogramChild {
  observe(value: number): void;
  /** Its series was removed from the family: observing here is no longer seen. */
  removed: boolean;
}

export class FastHistogram extends Family<HistogramChild & { data: Float64Array }> {
  readonly type = 'histogram' as const;
  private readonly buckets: readonly number[];

  constructor(opts: Options & { buckets: readonly number[] }) {
    super(opts);
    this.buckets = [...opts.buckets].sort((a, b) => a - b);
  }

  /** Per child: a count per bucket (the last for values above every bound), then sum, then count. */
  protected newChild(): HistogramChild & { data: Float64Array } {
    const buckets = this.buckets;
    const n = buckets.length;
    const data = new Float64Array(n + 3);
    return {
      data,
      removed: false,
      observe(value: number) {
        let i = 0;
        while (i < n && value > buckets[i]) i++;
        data[i]++;
        data[n + 1] += value;
        data[n + 2]++;
      },
    };
  }

  async get(): Promise<ExportedMetric> {
    const n = this.buckets.length;
    const values: ExportedMetric['values'] = [];
    for (const { labels, child } of this.children.values()) {
      const d = child.data;
      let acc = 0;
      this.buckets.forEach((le, i) => {
        acc += d[i];
        values.push({ labels: { le, ...labels }, value: acc, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...labels }, value: d[n + 2], metricName: `${this.name}_bucket` });
      values.push({ labels: { ...labels }, value: d[n + 1], metricName: `${this.name}_sum` });
      values.push({ labels: { ...labels }, value: d[n + 2], metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/**
 * The metric of this name already on the registry (a component restarted in one process keeps
 * counting where it was), or a new one registered there.
 */
export function fastCounter(registry: Registry, opts: Omit<Options, 'registers'>): FastCounter {
  const found = registry.getSingleMetric(opts.name) as unknown;
  return found instanceof FastCounter ? found : new FastCounter({ ...opts, registers: [registry] });
}

export function fastHistogram(registry: Registry, opts: Omit<Options, 'registers'> & { buckets: readonly number[] }): FastHistogram {
  const found = registry.getSingleMetric(opts.name) as unknown;
  return found instanceof FastHistogram ? found : new FastHistogram({ ...opts, registers: [registry] });
}
