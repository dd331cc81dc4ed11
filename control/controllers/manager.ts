// Runs the control node's scheduler and controllers as API clients of this control node, the way
// kube-controller-manager and kube-scheduler do: shared informers feed them, each drains its own
// work queue, and stop() ends every loop and watch.
import { Counter, Histogram, type Registry as MetricsRegistry } from 'prom-client';
import { ApiClient } from '../../api/client.js';
import type { Connection } from '../../api/kubeconfig.js';
import { EventRecorder } from './events.js';
import { SharedInformers } from './informers.js';

export interface ControllerMetrics {
  reconciles: Counter<'controller' | 'result'>;
  scheduleDuration: Histogram<'result'>;
}

export function controllerMetrics(registry: MetricsRegistry): ControllerMetrics {
  return {
    reconciles: new Counter({ name: 'tug_controller_reconcile_total', help: 'Reconcile passes by controller and result', labelNames: ['controller', 'result'], registers: [registry] }),
    scheduleDuration: new Histogram({
      name: 'tug_scheduler_schedule_duration_seconds',
      help: 'Time from a pod first seen unbound to its binding (or to giving up for now)',
      labelNames: ['result'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}

export interface ControllerContext {
  client: ApiClient;
  informers: SharedInformers;
  metrics: ControllerMetrics;
  /** An event recorder whose events name `component` as their source. */
  events(component: string): EventRecorder;
  log(message: string): void;
}

/** A controller registers its informer handlers when constructed and works in run() until the signal aborts. */
export interface Controller {
  readonly name: string;
  run(signal: AbortSignal): Promise<void>;
}

export interface ControllerSettings {
  schedulerStrategy: 'spread' | 'binpack';
  nodeMonitorGraceMs: number;
  podEvictionTimeoutMs: number;
}

export const DEFAULT_CONTROLLER_SETTINGS: ControllerSettings = {
  schedulerStrategy: 'spread',
  nodeMonitorGraceMs: 10_000,
  podEvictionTimeoutMs: 20_000,
};

export interface RunningControllers {
  /** Trusts these CAs (PEM) for the API from now on, as after a CA rotation. */
  trust(caCert: string): void;
  stop(): Promise<void>;
}

/**
 * Starts the controllers made by `factories` against the API at `connection`; resolves once the
 * informers have synced and every loop runs.
 */
export async function startControllers(
  connection: Connection,
  metricsRegistry: MetricsRegistry,
  factories: ((ctx: ControllerContext) => Controller)[],
  log: (message: string) => void = (m) => console.error(`tug control: ${m}`),
): Promise<RunningControllers> {
  const client = new ApiClient(connection);
  const informers = new SharedInformers(client);
  const recorders: EventRecorder[] = [];
  const ctx: ControllerContext = {
    client,
    informers,
    metrics: controllerMetrics(metricsRegistry),
    events(component) {
      const r = new EventRecorder(client, component, log);
      recorders.push(r);
      return r;
    },
    log,
  };
  const controllers = factories.map((make) => make(ctx));
  const abort = new AbortController();
  await informers.start();
  const loops = controllers.map((c) =>
    c.run(abort.signal).catch((e) => {
      if (!abort.signal.aborted) log(`${c.name} stopped on an error: ${(e as Error).stack ?? e}`);
    }),
  );
  return {
    trust: (caCert) => client.useCredentials({ caCert }),
    async stop() {
      abort.abort();
      await Promise.all(loops);
      await informers.stop();
      await Promise.all(recorders.map((r) => r.flush()));
      client.close();
    },
  };
}
