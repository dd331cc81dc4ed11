// The scheduler and controller flags shared by `tug control` and `tug up`, and their checking:
// a bad value is a usage error that names the flag and says what to give instead.
import type { ControlOptions } from '../control/index.js';
import { UsageError, type FlagSpec, type Flags } from './args.js';

export const CONTROLLER_FLAGS: Record<string, FlagSpec> = {
  'scheduler-strategy': { type: 'string', default: 'spread', help: 'how the scheduler places pods: spread (least allocated, spread replicas) or binpack (fill nodes first)' },
  'node-monitor-grace': { type: 'string', default: '10', help: "seconds without a Lease renewal before a node is NotReady (its pods drop out of Endpoints)" },
  'pod-eviction-timeout': { type: 'string', default: '20', help: "seconds after a node's last Lease renewal before its pods are deleted and replaced elsewhere (at least --node-monitor-grace)" },
};

function seconds(flags: Flags, name: string): number {
  const text = String(flags[name]);
  const value = /^\d+(\.\d+)?s?$/.test(text.trim()) ? Number(text.trim().replace(/s$/, '')) : NaN;
  if (!(value > 0)) throw new UsageError(`--${name} "${text}" must be a number of seconds above 0 (for example --${name} ${CONTROLLER_FLAGS[name].default})`);
  return value;
}

type ControllerSettings = Required<Exclude<ControlOptions['controllers'], false | undefined>>;

/** The controller settings the flags ask for, checked. */
export function controllerSettings(flags: Flags): ControllerSettings {
  const strategy = String(flags['scheduler-strategy']);
  if (strategy !== 'spread' && strategy !== 'binpack') throw new UsageError(`--scheduler-strategy "${strategy}" is not known; use spread or binpack`);
  const grace = seconds(flags, 'node-monitor-grace');
  const eviction = seconds(flags, 'pod-eviction-timeout');
  if (eviction < grace) {
    throw new UsageError(`--pod-eviction-timeout ${eviction} is shorter than --node-monitor-grace ${grace}: pods are evicted only from a NotReady node; give at least ${grace}`);
  }
  return { schedulerStrategy: strategy, nodeMonitorGraceMs: Math.round(grace * 1000), podEvictionTimeoutMs: Math.round(eviction * 1000) };
}
