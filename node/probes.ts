// Container probes for the node agent (DESIGN.md §4, kubelet's prober): `runProbeOnce` runs one
// exec, httpGet or tcpSocket probe; a `ProbeWorker` is one async loop per probe that applies the
// thresholds and publishes a result only when it changes; `ContainerProbes` owns a container's
// workers and holds liveness and readiness back until the startup probe has passed.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { sleep } from '../api/timers.js';
import type { Container, Probe } from '../api/types.js';

export type ProbeKind = 'liveness' | 'readiness' | 'startup';
export type ProbeResult = 'success' | 'failure';

export interface ProbeRun {
  result: ProbeResult;
  message?: string;
}

export interface ProbeTarget {
  /** The address probes dial when the probe names no host (the pod IP; the node IP in hostport mode). */
  host: string;
  /** Resolves a probe port (number or named port) to the port to dial (in hostport mode, the node port the container listens on). */
  resolvePort(port: number | string): number | undefined;
  /** Runs a command in the container; resolves with its exit code (provided by the agent via the runtime). */
  exec?(command: string[], timeoutMs: number): Promise<number>;
}

/** What kubelet sends as User-Agent; probes may override it with httpHeaders. */
const USER_AGENT = 'kube-probe/1.32';
const MAX_REDIRECTS = 10;
const MAX_BODY_BYTES = 10 * 1024;

const failure = (message: string): ProbeRun => ({ result: 'failure', message });

/**
 * Runs `fn` with a signal that aborts after `timeoutMs` or when `outer` aborts; the timer and the
 * listener are released either way.
 */
async function withDeadline<T>(timeoutMs: number, outer: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const abort = () => controller.abort();
  const timer = setTimeout(abort, timeoutMs);
  outer?.addEventListener('abort', abort, { once: true });
  if (outer?.aborted) abort();
  try {
    return await fn(controller.signal);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', abort);
  }
}

/** A promise that resolves when `signal` aborts, and a way to drop its listener. */
function aborted(signal: AbortSignal): { promise: Promise<void>; dispose(): void } {
  let listener = () => {};
  const promise = new Promise<void>((resolve) => {
    listener = () => resolve();
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', listener, { once: true });
  });
  return { promise, dispose: () => signal.removeEventListener('abort', listener) };
}

/**
 * One probe run. `timeoutMs` bounds the whole run (redirects included); `signal` cuts it short.
 * Nothing it opened is left open when it resolves.
 */
export async function runProbeOnce(probe: Probe, target: ProbeTarget, timeoutMs: number, signal?: AbortSignal): Promise<ProbeRun> {
  return withDeadline(timeoutMs, signal, (deadline) =>
    runHandler(probe, target, timeoutMs, deadline).catch((e: Error) => failure(`probe failed: ${e.message}`)),
  );
}

async function runHandler(probe: Probe, target: ProbeTarget, timeoutMs: number, deadline: AbortSignal): Promise<ProbeRun> {
  if (probe.exec) return execProbe(probe.exec.command ?? [], target, timeoutMs, deadline);
  if (probe.httpGet) return httpProbe(probe.httpGet as HttpGetAction, target, deadline);
  if (probe.tcpSocket) {
    const port = target.resolvePort(probe.tcpSocket.port);
    if (port === undefined) return failure(`port ${probe.tcpSocket.port} not found in the container's ports`);
    return tcpProbe(probe.tcpSocket.host || target.host, port, deadline);
  }
  if (probe.grpc) return failure('grpc probes are not supported by tugboat');
  return failure('the probe has no handler (exec, httpGet or tcpSocket)');
}

async function execProbe(command: string[], target: ProbeTarget, timeoutMs: number, deadline: AbortSignal): Promise<ProbeRun> {
  if (!target.exec) return failure('exec probes are not supported by this runtime');
  const stop = aborted(deadline);
  try {
    const code = await Promise.race([target.exec(command, timeoutMs), stop.promise.then(() => 'timeout' as const)]);
    if (code === 'timeout') return failure(`command ${JSON.stringify(command)} timed out`);
    return code === 0 ? { result: 'success' } : failure(`command ${JSON.stringify(command)} exited with ${code}`);
  } catch (e) {
    return failure(`command ${JSON.stringify(command)} failed: ${(e as Error).message}`);
  } finally {
    stop.dispose();
  }
}

function tcpProbe(host: string, port: number, deadline: AbortSignal): Promise<ProbeRun> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (run: ProbeRun) => {
      deadline.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(run);
    };
    const onAbort = () => done(failure(`dial tcp ${host}:${port}: i/o timeout`));
    socket.once('connect', () => done({ result: 'success' }));
    socket.on('error', (e) => done(failure(`dial tcp ${host}:${port}: ${e.message}`)));
    if (deadline.aborted) onAbort();
    else deadline.addEventListener('abort', onAbort, { once: true });
  });
}

interface HttpGetAction {
  path?: string;
  port: number | string;
  host?: string;
  scheme?: string;
  httpHeaders?: { name: string; value: string }[];
}

async function httpProbe(get: HttpGetAction, target: ProbeTarget, deadline: AbortSignal): Promise<ProbeRun> {
  const port = target.resolvePort(get.port);
  if (port === undefined) return failure(`port ${get.port} not found in the container's ports`);
  const host = get.host || target.host;
  const scheme = get.scheme?.toUpperCase() === 'HTTPS' ? 'https' : 'http';
  const path = get.path ? (get.path.startsWith('/') ? get.path : `/${get.path}`) : '/';
  const first = new URL(`${scheme}://${net.isIPv6(host) ? `[${host}]` : host}:${port}${path}`);
  const headers: Record<string, string> = { 'User-Agent': USER_AGENT, Accept: '*/*' };
  // httpHeaders override the defaults (Host included, which then names the virtual host asked for)
  for (const h of get.httpHeaders ?? []) {
    for (const key of Object.keys(headers)) if (key.toLowerCase() === h.name.toLowerCase()) delete headers[key];
    headers[h.name] = h.value;
  }
  let url = first;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    let status: number;
    let location: string | undefined;
    try {
      ({ status, location } = await httpGet(url, headers, deadline));
    } catch (e) {
      const why = deadline.aborted ? 'timed out' : (e as Error).message;
      return failure(`Get "${url.href}": ${why}`);
    }
    if (status >= 300 && status < 400 && location) {
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        return { result: 'success', message: `probe ended at a redirect to an invalid location ${location}` };
      }
      // kubelet follows redirects on the same host only; elsewhere the 3xx itself is the (passing) answer
      if (next.hostname !== first.hostname || (next.protocol !== 'http:' && next.protocol !== 'https:')) {
        return { result: 'success', message: `probe terminated redirects to ${next.href}, response: ${status}` };
      }
      url = next;
      continue;
    }
    if (status >= 200 && status < 400) return { result: 'success' };
    return failure(`HTTP probe failed with statuscode: ${status}`);
  }
  return failure(`Get "${first.href}": stopped after ${MAX_REDIRECTS} redirects`);
}

/** One GET without keep-alive; the body is read (up to a cap) and thrown away. */
function httpGet(url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<{ status: number; location?: string }> {
  return new Promise((resolve, reject) => {
    const options = { method: 'GET', headers, agent: false as const, signal };
    const onResponse = (res: http.IncomingMessage) => {
      const answer = { status: res.statusCode ?? 0, location: res.headers.location };
      let bytes = 0;
      res.on('error', reject);
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_BODY_BYTES) {
          res.destroy();
          resolve(answer);
        }
      });
      res.on('end', () => resolve(answer));
    };
    // kubelet does not verify the certificate of an HTTPS probe
    const req = url.protocol === 'https:' ? https.request(url, { ...options, rejectUnauthorized: false }, onResponse) : http.request(url, options, onResponse);
    req.on('error', reject);
    req.end();
  });
}

export interface ProbeTiming {
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  successThreshold: number;
  failureThreshold: number;
}

/**
 * A probe's timing with the Kubernetes defaults for missing (or 0) fields: period 10 s, timeout
 * 1 s, failureThreshold 3, successThreshold 1 (always 1 for liveness and startup), no initial delay.
 * `secondMs` is the length of a probe second (tests shrink it; fractional seconds work too).
 */
export function probeTiming(probe: Probe, kind: ProbeKind, secondMs = 1000): ProbeTiming {
  const positive = (v: number | undefined, fallback: number) => (typeof v === 'number' && v > 0 ? v : fallback);
  return {
    initialDelayMs: positive(probe.initialDelaySeconds, 0) * secondMs,
    periodMs: positive(probe.periodSeconds, 10) * secondMs,
    timeoutMs: positive(probe.timeoutSeconds, 1) * secondMs,
    successThreshold: kind === 'readiness' ? Math.ceil(positive(probe.successThreshold, 1)) : 1,
    failureThreshold: Math.ceil(positive(probe.failureThreshold, 3)),
  };
}

/**
 * The result a container has before its probe decides: live until proven otherwise, not ready
 * until a readiness success, and not yet known for startup (so a startup failure is a change).
 */
export function initialResult(kind: ProbeKind): ProbeResult | undefined {
  return kind === 'liveness' ? 'success' : kind === 'readiness' ? 'failure' : undefined;
}

export interface ProbeOptions {
  /** Every run's result (the agent counts `tug_probe_results_total{probe,result}`). */
  onResult?(kind: ProbeKind, result: ProbeResult): void;
  /** A callback threw; the loop goes on. */
  onError?(error: unknown): void;
  /** Milliseconds per probe second; default 1000. */
  secondMs?: number;
}

export interface ProbeWorkerOptions extends ProbeOptions {
  kind: ProbeKind;
  probe: Probe;
  target: ProbeTarget;
  /** The published result changed (never called with the initial result). */
  onChange(result: ProbeResult, message?: string): void;
}

/** One async loop for one probe of one container instance (kubelet's probe worker). */
export class ProbeWorker {
  private published: ProbeResult | undefined;
  private lastRun: ProbeResult | undefined;
  private runLength = 0;
  private controller?: AbortController;
  private loop?: Promise<void>;

  constructor(private readonly opts: ProbeWorkerOptions) {
    this.published = initialResult(opts.kind);
  }

  get kind(): ProbeKind {
    return this.opts.kind;
  }

  /** The currently published result (`initialResult` until the thresholds decide otherwise). */
  get result(): ProbeResult | undefined {
    return this.published;
  }

  start(): void {
    if (this.loop) return;
    this.controller = new AbortController();
    this.loop = this.run(this.controller.signal);
  }

  /** Ends the loop, cutting a probe in flight short; resolves once the loop has ended. */
  async stop(): Promise<void> {
    this.controller?.abort();
    await this.loop;
  }

  private async run(signal: AbortSignal): Promise<void> {
    const timing = probeTiming(this.opts.probe, this.opts.kind, this.opts.secondMs);
    await sleep(timing.initialDelayMs, signal);
    while (!signal.aborted) {
      const began = Date.now();
      const run = await runProbeOnce(this.opts.probe, this.opts.target, timing.timeoutMs, signal);
      if (signal.aborted) return;
      this.call(() => this.opts.onResult?.(this.opts.kind, run.result));
      if (this.record(run, timing)) return;
      await sleep(Math.max(0, timing.periodMs - (Date.now() - began)), signal);
    }
  }

  /** Applies the thresholds, publishes a change; true when this worker's job is over. */
  private record(run: ProbeRun, timing: ProbeTiming): boolean {
    if (run.result === this.lastRun) this.runLength++;
    else {
      this.lastRun = run.result;
      this.runLength = 1;
    }
    const threshold = run.result === 'success' ? timing.successThreshold : timing.failureThreshold;
    if (this.runLength < threshold) return false;
    if (this.published !== run.result) {
      this.published = run.result;
      this.call(() => this.opts.onChange(run.result, run.message));
    }
    // As kubelet: startup probing ends once it passed; a failed liveness or startup probe gets the
    // container killed, and the new instance gets new workers.
    return this.opts.kind === 'startup' ? true : this.opts.kind === 'liveness' && run.result === 'failure';
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.opts.onError?.(e);
    }
  }
}

export interface ContainerProbeEvents {
  /** The startup probe passed (not called for a container without one). */
  onStarted(): void;
  /** Readiness changed; called with true at start-up when the container has no readiness probe. */
  onReadiness(ready: boolean): void;
  onLiveness(result: ProbeResult): void;
  /** The startup probe failed failureThreshold times; default: reported as a liveness failure (kubelet kills either way). */
  onStartupFailure?(message?: string): void;
}

/**
 * The probes of one container instance. Liveness and readiness workers start only after the
 * startup probe passed (at once without one). `stop()` ends them all.
 */
export class ContainerProbes {
  private readonly workers = new Map<ProbeKind, ProbeWorker>();
  private stopped = false;

  constructor(
    private readonly container: Container,
    private readonly target: ProbeTarget,
    private readonly events: ContainerProbeEvents,
    private readonly options: ProbeOptions = {},
  ) {}

  start(): void {
    const startup = this.container.startupProbe;
    if (!startup) return this.startRunning();
    this.spawn('startup', startup, (result, message) => {
      if (result === 'success') {
        this.events.onStarted();
        this.startRunning();
      } else if (this.events.onStartupFailure) this.events.onStartupFailure(message);
      else this.events.onLiveness('failure');
    });
  }

  /** A kind's published result, or undefined when that worker does not run (yet). */
  result(kind: ProbeKind): ProbeResult | undefined {
    return this.workers.get(kind)?.result;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.workers.values()].map((w) => w.stop()));
  }

  private startRunning(): void {
    if (this.stopped) return;
    const { livenessProbe, readinessProbe } = this.container;
    if (livenessProbe) this.spawn('liveness', livenessProbe, (result) => this.events.onLiveness(result));
    if (readinessProbe) this.spawn('readiness', readinessProbe, (result) => this.events.onReadiness(result === 'success'));
    else this.events.onReadiness(true);
  }

  private spawn(kind: ProbeKind, probe: Probe, onChange: (result: ProbeResult, message?: string) => void): void {
    const worker = new ProbeWorker({ ...this.options, kind, probe, target: this.target, onChange });
    this.workers.set(kind, worker);
    worker.start();
  }
}

export function startContainerProbes(container: Container, target: ProbeTarget, events: ContainerProbeEvents, options?: ProbeOptions): ContainerProbes {
  const probes = new ContainerProbes(container, target, events, options);
  probes.start();
  return probes;
}
