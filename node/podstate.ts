// The pure core of the node agent's per-pod worker (DESIGN.md §4, kubelet semantics): from the pod
// spec and what the runtime reported, `decide` what to start, kill or wait for, and `podStatus`
// builds the Kubernetes-shaped status. No I/O; `now` (epoch ms) is passed in, so the same inputs
// always give the same answer.
import { rfc3339 } from '../api/time.js';
import { constants } from 'node:os';
import type { Condition, Container, ContainerState as ApiContainerState, ContainerStatus, Pod, PodStatus } from '../api/types.js';
import type { ContainerState } from './runtime/types.js';

/** What the worker knows about one container of its pod (init containers included). */
export interface ContainerRecord {
  name: string;
  /** The newest instance, running or exited. */
  current?: ContainerState;
  /** The instance before it (shown as `lastState`). */
  previous?: ContainerState;
  restartCount: number;
  /** Why it is not running when that is not a crash back-off (e.g. a start error). */
  waiting?: { reason: string; message?: string };
  /** No start before this (set from a `wait` action, or by the worker after a start error). */
  backoffUntil?: number;
  ready: boolean;
  /** Startup probe passed, or no startup probe and running. */
  started: boolean;
  /**
   * Restarts in the current back-off streak (kubelet's per-container back-off entry); it starts
   * again after a run of 10 min. Unset means `restartCount`, i.e. no reset was ever recorded.
   * `recordStarted` keeps it.
   */
  crashStreak?: number;
  /** Failed image pulls in a row (kubelet's image back-off); cleared by a start. */
  pullFailures?: number;
  /** When a shown ErrImagePull turns into ImagePullBackOff (the next pass after the failure). */
  pullBackOffAt?: number;
}

export type Action =
  | { type: 'start'; container: string }
  | { type: 'kill'; container: string; reason: string }
  | { type: 'wait'; container: string; until: number; reason: 'CrashLoopBackOff' };

export type ProbeOutcome = 'success' | 'failure' | undefined;

export const BACKOFF_INITIAL_MS = 10_000;
export const BACKOFF_MAX_MS = 300_000;
export const BACKOFF_RESET_MS = 600_000;

/**
 * The wait before restarting an exited container, as kubelet does it (KUBECTL.md §5): the first
 * crash of a streak restarts at once, then the back-off starts at 10 s and doubles per crash,
 * capped at 300 s: restartCount 0, 1, 2, 3, … → 0, 10, 20, 40, 80, 160, 300 s. A run of 10 min or
 * more (`lastRunMs`) ends the streak, so the next crash restarts at once again.
 */
export function crashLoopDelay(restartCount: number, lastRunMs: number): number {
  if (lastRunMs >= BACKOFF_RESET_MS || restartCount <= 0) return 0;
  return Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** (restartCount - 1));
}

/** Go's time.Duration form, as kubelet prints it in the back-off message: 40s, 1m20s, 5m0s. */
function goDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${s % 60}s` : `${Math.floor(m / 60)}h${m % 60}m${s % 60}s`;
}

export function crashLoopMessage(pod: Pod, container: string, delayMs: number): string {
  const m = pod.metadata;
  return `back-off ${goDuration(delayMs)} restarting failed container=${container} pod=${m.name}_${m.namespace}(${m.uid})`;
}

function signalNumber(signal: string | undefined): number | undefined {
  return signal ? (constants.signals as Record<string, number>)[signal] : undefined;
}

/** The exit code to show; a signal without a code is 128+n, as a shell (and docker) reports it. */
export function exitCodeOf(state: ContainerState): number {
  if (state.exitCode !== undefined) return state.exitCode;
  const n = signalNumber(state.signal);
  return n !== undefined ? 128 + n : 1;
}

const isSidecar = (c: Container): boolean => c.restartPolicy === 'Always';

/** The restart policy that applies to one container. */
function policyOf(pod: Pod, c: Container, isInit: boolean): string {
  const pod_ = pod.spec.restartPolicy ?? 'Always';
  if (!isInit) return pod_;
  if (isSidecar(c)) return 'Always';
  // Kubernetes restarts a failed init container unless the pod's policy is Never.
  return pod_ === 'Never' ? 'Never' : 'OnFailure';
}

function willRestart(policy: string, exitCode: number): boolean {
  return policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
}

/** When an exited container may start again (and the crash back-off that applies), or undefined if never. */
function restartPlan(pod: Pod, c: Container, rec: ContainerRecord, isInit: boolean): { until: number; backoffUntil: number; delayMs: number } | undefined {
  const cur = rec.current;
  if (!cur || cur.phase !== 'exited' || !willRestart(policyOf(pod, c, isInit), exitCodeOf(cur))) return undefined;
  const finished = (cur.finishedAt ?? cur.startedAt).getTime();
  const delayMs = crashLoopDelay(rec.crashStreak ?? rec.restartCount, finished - cur.startedAt.getTime());
  const backoffUntil = finished + delayMs;
  return { until: Math.max(backoffUntil, rec.backoffUntil ?? 0), backoffUntil, delayMs };
}

interface InitProgress {
  initialized: boolean;
  /** An init container failed and the pod's policy is Never: the pod has failed. */
  failed: boolean;
  incomplete: string[];
}

function initProgress(pod: Pod, records: Map<string, ContainerRecord>): InitProgress {
  const inits = pod.spec.initContainers ?? [];
  // App containers only ever start after initialization, so once one has run it is done.
  if (inits.length === 0 || pod.spec.containers.some((c) => records.get(c.name)?.current)) return { initialized: true, failed: false, incomplete: [] };
  const incomplete: string[] = [];
  let failed = false;
  for (const c of inits) {
    const rec = records.get(c.name);
    const cur = rec?.current;
    if (isSidecar(c)) {
      if (!(cur?.phase === 'running' && rec!.started)) incomplete.push(c.name);
    } else if (cur?.phase !== 'exited' || exitCodeOf(cur) !== 0) {
      incomplete.push(c.name);
      if (cur?.phase === 'exited' && policyOf(pod, c, true) === 'Never') failed = true;
    }
  }
  return { initialized: incomplete.length === 0, failed, incomplete };
}

/** Start, wait or nothing for one container that is not running (undefined: leave it). */
function startOrWait(pod: Pod, c: Container, rec: ContainerRecord | undefined, now: number, isInit: boolean): Action | undefined {
  if (!rec?.current) {
    // A start error: the worker retries once its own back-off ran out.
    return rec?.backoffUntil !== undefined && now < rec.backoffUntil ? undefined : { type: 'start', container: c.name };
  }
  if (rec.current.phase === 'running') return undefined;
  const plan = restartPlan(pod, c, rec, isInit);
  if (!plan) return undefined;
  return now >= plan.until ? { type: 'start', container: c.name } : { type: 'wait', container: c.name, until: plan.until, reason: 'CrashLoopBackOff' };
}

/**
 * What to do now. Probe maps hold each container's current liveness (and startup) result; a
 * 'failure' on a running container kills it (the restart then follows the policy).
 */
export function decide(
  pod: Pod,
  records: Map<string, ContainerRecord>,
  now: number,
  liveness: Map<string, ProbeOutcome>,
  startup: Map<string, ProbeOutcome> = new Map(),
): Action[] {
  // A deleted pod is the worker's termination sequence to handle; nothing starts again.
  if (pod.metadata.deletionTimestamp) return [];
  const inits = pod.spec.initContainers ?? [];
  const actions: Action[] = [];
  for (const c of [...inits, ...pod.spec.containers]) {
    if (records.get(c.name)?.current?.phase !== 'running') continue;
    if (startup.get(c.name) === 'failure') actions.push({ type: 'kill', container: c.name, reason: 'StartupProbe' });
    else if (liveness.get(c.name) === 'failure') actions.push({ type: 'kill', container: c.name, reason: 'LivenessProbe' });
  }
  const push = (a: Action | undefined) => a && actions.push(a);

  const init = initProgress(pod, records);
  if (init.failed) return actions;
  if (!init.initialized) {
    // In order; each blocks the next until it completed (or, for a sidecar, started).
    for (const c of inits) {
      const rec = records.get(c.name);
      const cur = rec?.current;
      if (cur?.phase === 'running' && (!isSidecar(c) || !rec!.started)) break;
      if (cur?.phase === 'running' || (cur && !isSidecar(c) && exitCodeOf(cur) === 0)) continue;
      push(startOrWait(pod, c, rec, now, true));
      break;
    }
    return actions;
  }

  const sidecars = inits.filter(isSidecar);
  const appDone = pod.spec.containers.every((c) => {
    const rec = records.get(c.name);
    return rec?.current?.phase === 'exited' && !restartPlan(pod, c, rec, false);
  });
  for (const c of sidecars) {
    const rec = records.get(c.name);
    // Sidecars outlive nothing: once the app containers are done for good, they are stopped.
    if (appDone) {
      if (rec?.current?.phase === 'running' && !actions.some((a) => a.container === c.name)) actions.push({ type: 'kill', container: c.name, reason: 'PodCompleted' });
    } else push(startOrWait(pod, c, rec, now, true));
  }
  if (!appDone) for (const c of pod.spec.containers) push(startOrWait(pod, c, records.get(c.name), now, false));
  return actions;
}

/**
 * The record after the runtime started a new instance of `container` (pure; for the worker):
 * the old instance becomes `previous`, counts and the back-off streak move on.
 */
export function recordStarted(rec: ContainerRecord | undefined, container: Container, state: ContainerState): ContainerRecord {
  const base: ContainerRecord = rec ?? { name: container.name, restartCount: 0, ready: false, started: false };
  const old = base.current;
  let crashStreak = base.crashStreak;
  if (old) {
    const ran = (old.finishedAt ?? old.startedAt).getTime() - old.startedAt.getTime();
    crashStreak = ran >= BACKOFF_RESET_MS ? 1 : (base.crashStreak ?? base.restartCount) + 1;
  }
  return {
    ...base,
    current: state,
    previous: old ?? base.previous,
    restartCount: old ? base.restartCount + 1 : base.restartCount,
    crashStreak,
    waiting: undefined,
    backoffUntil: undefined,
    pullFailures: undefined,
    pullBackOffAt: undefined,
    started: !container.startupProbe,
    ready: !container.startupProbe && !container.readinessProbe,
  };
}

export interface StatusOptions {
  hostIP: string;
  /** Unset while the pod has no address yet (its sandbox is being made). */
  podIP?: string;
  now: number;
  startTime?: string;
  /** `process://` or `docker://` (a bare `docker` gets the `://`); default `process://`. */
  containerIDPrefix?: string;
}

// Kubernetes' terminated state also carries signal and containerID.
interface Terminated {
  exitCode: number;
  reason: string;
  signal?: number;
  startedAt: string;
  finishedAt: string;
  containerID: string;
}

function containerID(state: ContainerState, opts: StatusOptions): string {
  const prefix = opts.containerIDPrefix ?? 'process://';
  return `${prefix.endsWith('://') ? prefix : `${prefix}://`}${state.id}`;
}

function terminated(state: ContainerState, opts: StatusOptions): ApiContainerState {
  const exitCode = exitCodeOf(state);
  const t: Terminated = {
    exitCode,
    reason: state.reason ?? (exitCode === 0 ? 'Completed' : 'Error'),
    signal: signalNumber(state.signal),
    startedAt: rfc3339(state.startedAt),
    finishedAt: rfc3339(state.finishedAt ?? state.startedAt),
    containerID: containerID(state, opts),
  };
  if (t.signal === undefined) delete t.signal;
  return { terminated: t };
}

function containerStatus(pod: Pod, c: Container, rec: ContainerRecord | undefined, opts: StatusOptions, isInit: boolean): ContainerStatus {
  const cur = rec?.current;
  const running = cur?.phase === 'running';
  const completed = isInit && !isSidecar(c) && cur?.phase === 'exited' && exitCodeOf(cur) === 0;
  let state: ApiContainerState;
  let lastState: ApiContainerState = rec?.previous?.phase === 'exited' ? terminated(rec.previous, opts) : {};
  if (running) {
    state = { running: { startedAt: rfc3339(cur.startedAt) } };
  } else if (cur) {
    const plan = restartPlan(pod, c, rec!, isInit);
    if (plan && opts.now < plan.backoffUntil) state = { waiting: { reason: 'CrashLoopBackOff', message: crashLoopMessage(pod, c.name, plan.delayMs) } };
    else if (plan && rec!.waiting) state = { waiting: { ...rec!.waiting } };
    else state = terminated(cur, opts);
    if (state.waiting) lastState = terminated(cur, opts);
  } else {
    const reason = (pod.spec.initContainers ?? []).length > 0 ? 'PodInitializing' : 'ContainerCreating';
    state = { waiting: rec?.waiting ? { ...rec.waiting } : { reason } };
  }
  const status: ContainerStatus = {
    name: c.name,
    ready: completed || (running && !!rec?.started && !!rec?.ready),
    started: running && !!rec?.started,
    restartCount: rec?.restartCount ?? 0,
    image: c.image ?? '',
    imageID: '',
    state,
    lastState,
  };
  if (cur) status.containerID = containerID(cur, opts);
  return status;
}

function countsAsStopped(s: ContainerStatus): boolean {
  return !!s.state?.terminated || (!!s.state?.waiting && !!s.lastState?.terminated);
}

/** kubelet's getPhase over the app containers' statuses. */
function podPhase(pod: Pod, init: InitProgress, statuses: ContainerStatus[]): string {
  const previous = pod.status?.phase;
  if (previous === 'Succeeded' || previous === 'Failed') return previous; // terminal phases stay
  if (init.failed) return 'Failed';
  if (!init.initialized) return 'Pending';
  const running = statuses.filter((s) => s.state?.running).length;
  const stopped = statuses.filter(countsAsStopped).length;
  const waiting = statuses.length - running - stopped;
  const succeeded = statuses.filter((s) => s.state?.terminated?.exitCode === 0).length;
  const policy = pod.spec.restartPolicy ?? 'Always';
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped === 0) return 'Pending';
  if (policy === 'Always') return 'Running'; // all restarting
  if (stopped === succeeded) return 'Succeeded';
  return policy === 'Never' ? 'Failed' : 'Running';
}

export function podStatus(pod: Pod, records: Map<string, ContainerRecord>, opts: StatusOptions): PodStatus {
  const inits = pod.spec.initContainers ?? [];
  const init = initProgress(pod, records);
  const initStatuses = inits.map((c) => containerStatus(pod, c, records.get(c.name), opts, true));
  const statuses = pod.spec.containers.map((c) => containerStatus(pod, c, records.get(c.name), opts, false));
  const phase = podPhase(pod, init, statuses);

  const previous = pod.status?.conditions ?? [];
  const condition = (type: string, ok: boolean, reason?: string, message?: string): Condition => {
    const status = ok ? 'True' : 'False';
    const before = previous.find((p) => p.type === type);
    const c: Condition = { type, status, lastProbeTime: null, lastTransitionTime: before?.status === status && before.lastTransitionTime ? before.lastTransitionTime : rfc3339(opts.now) };
    if (reason) c.reason = reason;
    if (message) c.message = message;
    return c;
  };
  const completed = phase === 'Succeeded';
  const unready = [
    ...inits.map((c, i) => [c, initStatuses[i]] as const).filter(([c]) => isSidecar(c)),
    ...pod.spec.containers.map((c, i) => [c, statuses[i]] as const),
  ]
    .filter(([, s]) => !s.ready)
    .map(([c]) => c.name);
  const notReady = (): [boolean, string?, string?] =>
    completed ? [false, 'PodCompleted'] : unready.length > 0 ? [false, 'ContainersNotReady', `containers with unready status: [${unready.join(' ')}]`] : [true];
  const conditions = [
    init.initialized || completed
      ? condition('Initialized', true, completed && inits.length > 0 ? 'PodCompleted' : undefined)
      : condition('Initialized', false, 'ContainersNotInitialized', `containers with incomplete status: [${init.incomplete.join(' ')}]`),
    condition('Ready', ...notReady()),
    condition('ContainersReady', ...notReady()),
    condition('PodScheduled', true),
  ];

  const status: PodStatus = {
    phase,
    conditions,
    hostIP: opts.hostIP,
    hostIPs: [{ ip: opts.hostIP }],
    ...(opts.podIP ? { podIP: opts.podIP, podIPs: [{ ip: opts.podIP }] } : {}),
    startTime: opts.startTime ?? pod.status?.startTime ?? rfc3339(opts.now),
  };
  if (inits.length > 0) status.initContainerStatuses = initStatuses;
  status.containerStatuses = statuses;
  if (pod.status?.qosClass) status.qosClass = pod.status.qosClass;
  return status;
}

/** Key order and undefined-valued keys do not count (the worker writes status only on change). */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value instanceof Date) return value.toISOString();
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = canonical(v);
    }
    return out;
  }
  return value;
}

export function statusChanged(a?: PodStatus, b?: PodStatus): boolean {
  return JSON.stringify(canonical(a)) !== JSON.stringify(canonical(b));
}
