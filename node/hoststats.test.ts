// Host CPU/memory figures and the node registry that exposes them on scrape.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CpuUsage, cpuUsageRatio, memoryUsedBytes, readCpuTimes, type CpuTimes } from './hoststats.js';
import { NodeMetrics } from './metrics.js';

describe('cpuUsageRatio', () => {
  it('is the busy share of the time between two samples', () => {
    assert.equal(cpuUsageRatio({ busy: 100, total: 1000 }, { busy: 400, total: 2000 }), 0.3);
  });

  it('is the average since boot without an earlier sample', () => {
    assert.equal(cpuUsageRatio(undefined, { busy: 250, total: 1000 }), 0.25);
  });

  it('is undefined when no time passed, and clamped to 0..1 when counters misbehave', () => {
    assert.equal(cpuUsageRatio({ busy: 5, total: 10 }, { busy: 5, total: 10 }), undefined);
    assert.equal(cpuUsageRatio({ busy: 0, total: 0 }, { busy: 20, total: 10 }), 1);
    assert.equal(cpuUsageRatio({ busy: 10, total: 0 }, { busy: 5, total: 10 }), 0);
  });
});

describe('CpuUsage', () => {
  it('measures from the previous sample and keeps the last value when the counters did not move', () => {
    const samples: CpuTimes[] = [
      { busy: 50, total: 100 },
      { busy: 60, total: 200 },
      { busy: 60, total: 200 },
      { busy: 160, total: 300 },
    ];
    const usage = new CpuUsage(() => samples.shift()!);
    assert.deepEqual([usage.sample(), usage.sample(), usage.sample(), usage.sample()], [0.5, 0.1, 0.1, 1]);
  });

  it('reads real counters that only grow', () => {
    const a = readCpuTimes();
    const b = readCpuTimes();
    assert.ok(a.total > 0 && a.busy >= 0 && a.busy <= a.total);
    assert.ok(b.total >= a.total && b.busy >= a.busy);
  });
});

describe('memoryUsedBytes', () => {
  it('is total minus available, never negative', () => {
    assert.equal(memoryUsedBytes(1000, 300), 700);
    assert.equal(memoryUsedBytes(1000, 2000), 0);
  });
});

describe('NodeMetrics host gauges', () => {
  it('are read from the sampler at each scrape, labelled with the node', async () => {
    let cpu = 0.25;
    const metrics = new NodeMetrics('n1', () => new Map([['Running', 2]]), {
      cpuUsageRatio: () => cpu,
      memoryUsedBytes: () => 1234,
      memoryTotalBytes: () => 4096,
    });
    let text = await metrics.registry.metrics();
    assert.match(text, /^tug_node_cpu_usage_ratio\{node="n1"\} 0\.25$/m);
    assert.match(text, /^tug_node_memory_used_bytes\{node="n1"\} 1234$/m);
    assert.match(text, /^tug_node_memory_total_bytes\{node="n1"\} 4096$/m);
    assert.match(text, /^tug_node_pods\{phase="Running",node="n1"\} 2$/m);
    cpu = 0.5;
    text = await metrics.registry.metrics();
    assert.match(text, /^tug_node_cpu_usage_ratio\{node="n1"\} 0\.5$/m);
  });
});
