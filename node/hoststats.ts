// The host's CPU and memory use for the node's metrics, read only when Prometheus scrapes (no
// timers): CPU time counters from the kernel, turned into a busy ratio between two scrapes.
import { cpus, freemem, totalmem } from 'node:os';

/** Cumulative CPU time of all cores, in the kernel's ticks (ms from os.cpus()). */
export interface CpuTimes {
  busy: number;
  total: number;
}

export function readCpuTimes(): CpuTimes {
  let busy = 0;
  let total = 0;
  for (const { times } of cpus()) {
    const all = times.user + times.nice + times.sys + times.idle + times.irq;
    total += all;
    busy += all - times.idle;
  }
  return { busy, total };
}

/**
 * Busy share of CPU time between two samples, 0..1. Without an earlier sample (first scrape)
 * it is the average since boot; when no time passed between the two it is undefined.
 */
export function cpuUsageRatio(prev: CpuTimes | undefined, cur: CpuTimes): number | undefined {
  const busy = cur.busy - (prev?.busy ?? 0);
  const total = cur.total - (prev?.total ?? 0);
  if (total <= 0) return undefined;
  return Math.min(1, Math.max(0, busy / total));
}

/**
 * The ratio since the previous call. Two scrapes closer together than the kernel's tick keep
 * the last value, so a second scraper never sees a 0/0.
 */
export class CpuUsage {
  private prev: CpuTimes | undefined;
  private last = 0;

  constructor(private readonly read: () => CpuTimes = readCpuTimes) {}

  sample(): number {
    const cur = this.read();
    const ratio = cpuUsageRatio(this.prev, cur);
    if (ratio === undefined) return this.last;
    this.prev = cur;
    this.last = ratio;
    return ratio;
  }
}

/** Memory in use: total minus what the kernel reports available (MemAvailable on Linux). */
export function memoryUsedBytes(total = totalmem(), available = freemem()): number {
  return Math.max(0, total - available);
}
