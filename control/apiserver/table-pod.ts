// Pod rows for `kubectl get pods`: the READY / STATUS / RESTARTS logic of upstream printPod
// (kubernetes pkg/printers/internalversion/printers.go), so users see the words they know.

import type { Container, ContainerState, ContainerStatus, KubeObject, Pod } from '../../api/types.js';
import {
  type KindPrinter,
  type TableRowCondition,
  NONE,
  ageColumn,
  ageOf,
  column,
  nameColumn,
  nameOf,
  parseTime,
} from './table-common.js';
import { humanDuration } from '../../api/duration.js';

// Fields upstream reads that api/types.ts does not spell out (they round-trip as unknown).
type Terminated = NonNullable<ContainerState['terminated']> & { signal?: number };
interface StatusView extends Omit<ContainerStatus, 'state' | 'lastState'> {
  state?: Omit<ContainerState, 'terminated'> & { terminated?: Terminated };
  lastState?: { terminated?: Terminated };
}
type InitContainer = Container & { restartPolicy?: string };

const NODE_UNREACHABLE_REASON = 'NodeLost';

const SUCCEEDED: TableRowCondition[] = [
  { type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' },
];
const FAILED: TableRowCondition[] = [{ type: 'Completed', status: 'True', reason: 'Failed', message: 'The pod failed.' }];

const columns = [
  nameColumn(),
  column('Ready', 'The aggregate readiness state of this pod for accepting traffic.'),
  column('Status', 'The aggregate status of the containers in this pod.'),
  column('Restarts', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
  ageColumn(),
  column('IP', 'IP address allocated to the pod.', { priority: 1 }),
  column('Node', 'The node this pod is scheduled onto.', { priority: 1 }),
  column('Nominated Node', 'The node the scheduler nominated for this pod while preempting others.', { priority: 1 }),
  column('Readiness Gates', 'Pod conditions evaluated for readiness, as true/total.', { priority: 1 }),
];

function isRestartableInit(c: InitContainer | undefined): boolean {
  return c?.restartPolicy === 'Always';
}

function hasCondition(pod: Pod, type: string): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === type && c.status === 'True');
}

/** Latest of the current value and a container's last termination time (ms since epoch). */
function laterRestart(current: number | undefined, status: StatusView): number | undefined {
  const finished = parseTime(status.lastState?.terminated?.finishedAt);
  if (finished === undefined) return current;
  return current === undefined || finished > current ? finished : current;
}

function terminatedReason(t: Terminated, prefix: string): string {
  if (t.reason) return prefix + t.reason;
  return t.signal ? `${prefix}Signal:${t.signal}` : `${prefix}ExitCode:${t.exitCode}`;
}

function podRow(obj: KubeObject, now: Date) {
  const pod = obj as Pod;
  const status = pod.status ?? {};
  const phase = status.phase ?? '';
  const initSpecs = (pod.spec?.initContainers ?? []) as InitContainer[];
  const initStatuses = (status.initContainerStatuses ?? []) as StatusView[];
  const containerStatuses = (status.containerStatuses ?? []) as StatusView[];

  let restarts = 0;
  let restartableInitRestarts = 0;
  let readyContainers = 0;
  let totalContainers = pod.spec?.containers?.length ?? 0;
  let lastRestart: number | undefined;
  let lastRestartableInitRestart: number | undefined;

  // Upstream prints the phase verbatim; a pod nothing has written status for yet is Pending.
  let reason = status.reason || phase || 'Pending';
  for (const c of status.conditions ?? []) {
    if (c.type === 'PodScheduled' && c.reason === 'SchedulingGated') reason = 'SchedulingGated';
  }

  const initByName = new Map<string, InitContainer>();
  for (const c of initSpecs) {
    initByName.set(c.name, c);
    if (isRestartableInit(c)) totalContainers++;
  }

  let initializing = false;
  for (let i = 0; i < initStatuses.length; i++) {
    const c = initStatuses[i];
    const sidecar = isRestartableInit(initByName.get(c.name));
    restarts += c.restartCount ?? 0;
    lastRestart = laterRestart(lastRestart, c);
    if (sidecar) {
      restartableInitRestarts += c.restartCount ?? 0;
      lastRestartableInitRestart = laterRestart(lastRestartableInitRestart, c);
    }
    const terminated = c.state?.terminated;
    const waiting = c.state?.waiting;
    if (terminated && terminated.exitCode === 0) continue;
    if (sidecar && c.started) {
      if (c.ready) readyContainers++;
      continue;
    }
    if (terminated) reason = terminatedReason(terminated, 'Init:');
    else if (waiting?.reason && waiting.reason !== 'PodInitializing') reason = `Init:${waiting.reason}`;
    else reason = `Init:${i}/${initSpecs.length}`;
    initializing = true;
    break;
  }

  if (!initializing || hasCondition(pod, 'Initialized')) {
    restarts = restartableInitRestarts;
    lastRestart = lastRestartableInitRestart;
    let hasRunning = false;
    // Walks backwards, so the first container in spec order has the last word on the reason.
    for (let i = containerStatuses.length - 1; i >= 0; i--) {
      const c = containerStatuses[i];
      restarts += c.restartCount ?? 0;
      lastRestart = laterRestart(lastRestart, c);
      const terminated = c.state?.terminated;
      if (c.state?.waiting?.reason) reason = c.state.waiting.reason;
      else if (terminated) reason = terminatedReason(terminated, '');
      else if (c.ready && c.state?.running) {
        hasRunning = true;
        readyContainers++;
      }
    }
    if (reason === 'Completed' && hasRunning) reason = hasCondition(pod, 'Ready') ? 'Running' : 'NotReady';
  }

  if (pod.metadata.deletionTimestamp) {
    if (status.reason === NODE_UNREACHABLE_REASON) reason = 'Unknown';
    else if (phase !== 'Succeeded' && phase !== 'Failed') reason = 'Terminating';
  }

  const restartsCell =
    restarts !== 0 && lastRestart !== undefined
      ? `${restarts} (${humanDuration(now.getTime() - lastRestart)} ago)`
      : String(restarts);

  const podIPs = status.podIPs ?? [];
  const ip = podIPs[0]?.ip || status.podIP || NONE;
  const nominated = (status.nominatedNodeName as string | undefined) || NONE;
  const gates = (pod.spec?.readinessGates ?? []) as { conditionType: string }[];
  let readinessGates = NONE;
  if (gates.length > 0) {
    const conditions = status.conditions ?? [];
    const trueCount = gates.filter((g) => conditions.find((c) => c.type === g.conditionType)?.status === 'True').length;
    readinessGates = `${trueCount}/${gates.length}`;
  }

  return {
    cells: [
      nameOf(pod),
      `${readyContainers}/${totalContainers}`,
      reason,
      restartsCell,
      ageOf(pod, now),
      ip,
      pod.spec?.nodeName || NONE,
      nominated,
      readinessGates,
    ],
    conditions: phase === 'Succeeded' ? SUCCEEDED : phase === 'Failed' ? FAILED : undefined,
  };
}

export const podPrinter: KindPrinter = { columns, row: podRow };
