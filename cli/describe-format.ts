// `tug describe` renderers, one per kind, as pure functions of the objects fetched for them (the
// object, its Events, and related objects such as a Deployment's ReplicaSets) and `now`.
import { labelSelectorToString } from '../api/selectors.js';
import type { Condition, ContainerState, ContainerStatus, Deployment, EndpointSubset, Event, KubeObject, Node, Pod, ReplicaSet, Service } from '../api/types.js';
import {
  containerEnvAndMounts,
  containerResourcesAndProbes,
  containerSpecLines,
  controllerOf,
  ago,
  DescribeWriter,
  describeTime,
  eventsSection,
  keyValues,
  metaFields,
  NONE,
  podTemplateSection,
  volumesSection,
} from './describe-writer.js';
import { history, revisionOf } from './rollout-logic.js';

export interface Related {
  events: Event[];
  /** Deployment: its ReplicaSets (any; owned ones are picked). */
  replicaSets?: ReplicaSet[];
  /** ReplicaSet: pods it controls; Node: pods bound to it. */
  pods?: Pod[];
  /** Service: `ip:port` lists per service port name (from EndpointSlices or Endpoints). */
  endpoints?: EndpointSubset[];
  /** Node: its Lease. */
  lease?: KubeObject;
}

function labelsAndAnnotations(w: DescribeWriter, o: KubeObject): void {
  w.field(0, 'Labels', keyValues(o.metadata.labels));
  w.field(0, 'Annotations', keyValues(o.metadata.annotations, ': '));
}

function stateLines(w: DescribeWriter, level: number, key: string, s: ContainerState | undefined): void {
  if (s?.running) {
    w.field(level, key, 'Running');
    w.field(level + 1, 'Started', describeTime(s.running.startedAt));
  } else if (s?.waiting) {
    w.field(level, key, 'Waiting');
    w.field(level + 1, 'Reason', s.waiting.reason);
    if (s.waiting.message) w.field(level + 1, 'Message', s.waiting.message);
  } else if (s?.terminated) {
    w.field(level, key, 'Terminated');
    w.field(level + 1, 'Reason', s.terminated.reason);
    if (s.terminated.message) w.field(level + 1, 'Message', s.terminated.message);
    w.field(level + 1, 'Exit Code', s.terminated.exitCode);
    w.field(level + 1, 'Started', describeTime(s.terminated.startedAt));
    w.field(level + 1, 'Finished', describeTime(s.terminated.finishedAt));
  } else if (key === 'State') {
    w.field(level, key, 'Waiting');
  }
}

function conditionsTable(w: DescribeWriter, conditions: Condition[] | undefined, columns: ('Status' | 'Reason' | 'Message' | 'LastHeartbeatTime' | 'LastTransitionTime')[], dashes = true): void {
  if (!conditions?.length) return;
  w.line(0, 'Conditions:');
  w.line(1, ['Type', ...columns].join('\t'));
  if (dashes) w.line(1, ['Type', ...columns].map((c) => '-'.repeat(c.length)).join('\t'));
  for (const c of conditions) {
    const cell = (col: string) =>
      col === 'Status' ? c.status
      : col === 'Reason' ? (c.reason ?? '')
      : col === 'Message' ? (c.message ?? '')
      : col === 'LastHeartbeatTime' ? describeTime(c.lastHeartbeatTime)
      : describeTime(c.lastTransitionTime);
    w.line(1, [c.type, ...columns.map(cell)].join('\t'));
  }
}

export function describePod(pod: Pod, rel: Related, now: Date): string {
  const w = new DescribeWriter();
  const st = pod.status ?? {};
  metaFields(w, pod);
  w.field(0, 'Service Account', (pod.spec.serviceAccountName as string | undefined) ?? 'default');
  w.field(0, 'Node', pod.spec.nodeName ? `${pod.spec.nodeName}${st.hostIP ? `/${st.hostIP}` : ''}` : NONE);
  if (st.startTime) w.field(0, 'Start Time', describeTime(st.startTime));
  labelsAndAnnotations(w, pod);
  w.field(0, 'Status', pod.metadata.deletionTimestamp ? `Terminating (lasts ${describeTime(pod.metadata.deletionTimestamp)})` : (st.phase ?? 'Pending'));
  if (st.reason) w.field(0, 'Reason', st.reason);
  if (st.message) w.field(0, 'Message', st.message);
  w.field(0, 'IP', st.podIP);
  if (pod.spec.runtimeClassName) w.field(0, 'Runtime Class Name', pod.spec.runtimeClassName);
  const owner = controllerOf(pod);
  if (owner) w.field(0, 'Controlled By', owner);
  const statuses = new Map<string, ContainerStatus>((st.containerStatuses ?? []).map((s) => [s.name, s]));
  w.line(0, 'Containers:');
  for (const c of pod.spec.containers) {
    const s = statuses.get(c.name);
    w.line(1, `${c.name}:`);
    if (s?.containerID) w.field(2, 'Container ID', s.containerID);
    containerSpecLines(w, 2, c);
    stateLines(w, 2, 'State', s?.state);
    if (s?.lastState && Object.keys(s.lastState).length) stateLines(w, 2, 'Last State', s.lastState);
    w.field(2, 'Ready', s?.ready ? 'True' : 'False');
    w.field(2, 'Restart Count', s?.restartCount ?? 0);
    containerResourcesAndProbes(w, 2, c);
    containerEnvAndMounts(w, 2, c);
  }
  conditionsTable(w, st.conditions, ['Status'], false);
  volumesSection(w, 0, pod.spec.volumes);
  w.field(0, 'QoS Class', st.qosClass);
  w.field(0, 'Node-Selectors', keyValues(pod.spec.nodeSelector));
  const tolerations = (pod.spec.tolerations as { key?: string; operator?: string; value?: string; effect?: string; tolerationSeconds?: number }[] | undefined) ?? [];
  w.field(
    0,
    'Tolerations',
    tolerations.map((t) => `${t.key ?? ''}${t.operator === 'Exists' ? '' : `=${t.value ?? ''}`}${t.effect ? `:${t.effect}` : ''}${t.tolerationSeconds !== undefined ? ` for ${t.tolerationSeconds}s` : ''}`.replace(/^=/, '')).join('\n') || NONE,
  );
  eventsSection(w, rel.events, now);
  return w.toString();
}

function percentOrNumber(v: number | string | undefined, fallback: string): string {
  return v === undefined ? fallback : String(v);
}

export function describeDeployment(d: Deployment, rel: Related, now: Date): string {
  const w = new DescribeWriter();
  const st = d.status ?? {};
  metaFields(w, d);
  w.field(0, 'CreationTimestamp', describeTime(d.metadata.creationTimestamp));
  labelsAndAnnotations(w, d);
  w.field(0, 'Selector', labelSelectorToString(d.spec.selector ?? {}));
  const want = d.spec.replicas ?? 1;
  w.field(0, 'Replicas', `${want} desired | ${st.updatedReplicas ?? 0} updated | ${st.replicas ?? 0} total | ${st.availableReplicas ?? 0} available | ${st.unavailableReplicas ?? 0} unavailable`);
  const strategy = d.spec.strategy?.type ?? 'RollingUpdate';
  w.field(0, 'StrategyType', strategy);
  w.field(0, 'MinReadySeconds', d.spec.minReadySeconds ?? 0);
  if (strategy === 'RollingUpdate') {
    const ru = d.spec.strategy?.rollingUpdate ?? {};
    w.field(0, 'RollingUpdateStrategy', `${percentOrNumber(ru.maxUnavailable, '25%')} max unavailable, ${percentOrNumber(ru.maxSurge, '25%')} max surge`);
  }
  if (d.spec.paused) w.field(0, 'Paused', 'true');
  podTemplateSection(w, 0, d.spec.template);
  conditionsTable(w, st.conditions, ['Status', 'Reason']);
  const owned = history(d, rel.replicaSets ?? []).map((e) => e.replicaSet);
  const newest = owned.length ? owned.reduce((a, b) => (revisionOf(b) > revisionOf(a) ? b : a)) : undefined;
  const rsText = (rs: ReplicaSet) => `${rs.metadata.name} (${rs.status?.replicas ?? 0}/${rs.spec.replicas ?? 0} replicas created)`;
  const old = owned.filter((rs) => rs !== newest && ((rs.spec.replicas ?? 0) > 0 || (rs.status?.replicas ?? 0) > 0));
  w.field(0, 'OldReplicaSets', old.map(rsText).join(', ') || NONE);
  w.field(0, 'NewReplicaSet', newest ? rsText(newest) : NONE);
  eventsSection(w, rel.events, now);
  return w.toString();
}

export function describeReplicaSet(rs: ReplicaSet, rel: Related, now: Date): string {
  const w = new DescribeWriter();
  metaFields(w, rs);
  w.field(0, 'Selector', labelSelectorToString(rs.spec.selector ?? {}));
  labelsAndAnnotations(w, rs);
  const owner = controllerOf(rs);
  if (owner) w.field(0, 'Controlled By', owner);
  w.field(0, 'Replicas', `${rs.status?.replicas ?? 0} current / ${rs.spec.replicas ?? 1} desired`);
  const pods = rel.pods ?? [];
  const count = (phase: string) => pods.filter((p) => (p.status?.phase ?? 'Pending') === phase).length;
  w.field(0, 'Pods Status', `${count('Running')} Running / ${count('Pending')} Waiting / ${count('Succeeded')} Succeeded / ${count('Failed')} Failed`);
  podTemplateSection(w, 0, rs.spec.template);
  conditionsTable(w, (rs.status as { conditions?: Condition[] } | undefined)?.conditions, ['Status', 'Reason']);
  eventsSection(w, rel.events, now);
  return w.toString();
}

export function describeService(svc: Service, rel: Related, now: Date): string {
  const w = new DescribeWriter();
  const spec = svc.spec ?? {};
  metaFields(w, svc);
  labelsAndAnnotations(w, svc);
  w.field(0, 'Selector', keyValues(spec.selector).replace(/\n/g, ','));
  w.field(0, 'Type', spec.type ?? 'ClusterIP');
  if (spec.type === 'ExternalName') w.field(0, 'External Name', spec.externalName);
  else w.field(0, 'IP', spec.clusterIP);
  for (const p of spec.ports ?? []) {
    const name = p.name ?? '<unset>';
    const proto = p.protocol ?? 'TCP';
    w.field(0, 'Port', `${name}  ${p.port}/${proto}`);
    w.field(0, 'TargetPort', `${p.targetPort ?? p.port}/${proto}`);
    if (p.nodePort) w.field(0, 'NodePort', `${name}  ${p.nodePort}/${proto}`);
    const addresses: string[] = [];
    for (const subset of rel.endpoints ?? []) {
      const port = subset.ports?.find((sp) => (sp.name ?? '') === (p.name ?? '')) ?? (subset.ports?.length === 1 ? subset.ports[0] : undefined);
      if (!port) continue;
      for (const a of subset.addresses ?? []) addresses.push(`${a.ip}:${port.port}`);
    }
    w.field(0, 'Endpoints', addresses.length > 3 ? `${addresses.slice(0, 3).join(',')} + ${addresses.length - 3} more...` : addresses.join(',') || NONE);
  }
  w.field(0, 'Session Affinity', spec.sessionAffinity ?? 'None');
  eventsSection(w, rel.events, now);
  return w.toString();
}

/** kubectl's names for the nodeInfo fields; other keys are split at their capitals. */
const NODE_INFO_NAMES: Record<string, string> = { machineID: 'Machine ID', systemUUID: 'System UUID', bootID: 'Boot ID', osImage: 'OS Image' };

function titleCase(key: string): string {
  if (NODE_INFO_NAMES[key]) return NODE_INFO_NAMES[key];
  return key.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/^./, (c) => c.toUpperCase()).replace(/\bId\b/, 'ID').replace(/\bUuid\b/, 'UUID');
}

export function describeNode(node: Node, rel: Related, now: Date): string {
  const w = new DescribeWriter();
  const st = node.status ?? {};
  metaFields(w, node, false);
  const roles = Object.keys(node.metadata.labels ?? {}).filter((k) => k.startsWith('node-role.kubernetes.io/')).map((k) => k.slice('node-role.kubernetes.io/'.length));
  w.field(0, 'Roles', roles.join(',') || NONE);
  labelsAndAnnotations(w, node);
  w.field(0, 'CreationTimestamp', describeTime(node.metadata.creationTimestamp));
  w.field(0, 'Taints', (node.spec?.taints ?? []).map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`).join('\n') || NONE);
  w.field(0, 'Unschedulable', String(!!node.spec?.unschedulable));
  if (rel.lease) {
    const spec = (rel.lease.spec ?? {}) as { holderIdentity?: string; renewTime?: string; acquireTime?: string };
    w.line(0, 'Lease:');
    w.field(1, 'HolderIdentity', spec.holderIdentity);
    w.field(1, 'AcquireTime', describeTime(spec.acquireTime));
    w.field(1, 'RenewTime', describeTime(spec.renewTime));
  }
  conditionsTable(w, st.conditions, ['Status', 'LastHeartbeatTime', 'LastTransitionTime', 'Reason', 'Message']);
  w.line(0, 'Addresses:');
  for (const a of st.addresses ?? []) w.field(1, a.type, a.address);
  for (const [key, list] of [['Capacity', st.capacity], ['Allocatable', st.allocatable]] as const) {
    w.line(0, `${key}:`);
    for (const k of Object.keys(list ?? {}).sort()) w.field(1, k, list![k]);
  }
  if (st.nodeInfo && Object.keys(st.nodeInfo).length) {
    w.line(0, 'System Info:');
    for (const [k, v] of Object.entries(st.nodeInfo)) w.field(1, titleCase(k), v);
  }
  if (node.spec?.podCIDR) {
    w.field(0, 'PodCIDR', node.spec.podCIDR);
    w.field(0, 'PodCIDRs', (node.spec.podCIDRs ?? [node.spec.podCIDR]).join(','));
  }
  const pods = (rel.pods ?? []).filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
  w.field(0, 'Non-terminated Pods', `(${pods.length} in total)`);
  if (pods.length) {
    w.line(1, 'Namespace\tName\tCPU Requests\tMemory Requests\tAge');
    w.line(1, '---------\t----\t------------\t---------------\t---');
    for (const p of pods) {
      const sum = (res: string) => p.spec.containers.map((c) => c.resources?.requests?.[res]).filter((v) => v !== undefined).join('+') || '0';
      const age = ago(p.metadata.creationTimestamp, now);
      w.line(1, `${p.metadata.namespace}\t${p.metadata.name}\t${sum('cpu')}\t${sum('memory')}\t${age}`);
    }
  }
  eventsSection(w, rel.events, now);
  return w.toString();
}

/** Any other kind: identity, labels, annotations, then the rest of the object as YAML-ish lines. */
export function describeGeneric(o: KubeObject, namespaced: boolean, rel: Related, now: Date, yaml: (v: unknown) => string): string {
  const w = new DescribeWriter();
  metaFields(w, o, namespaced);
  labelsAndAnnotations(w, o);
  for (const [k, v] of Object.entries(o)) {
    if (k === 'metadata' || k === 'apiVersion' || k === 'kind') continue;
    if (o.kind === 'Secret' && (k === 'data' || k === 'stringData')) {
      // Like kubectl: sizes, never the values.
      w.line(0, 'Data');
      w.line(0, '====');
      for (const [key, value] of Object.entries(v as Record<string, string>)) w.line(0, `${key}:\t${Buffer.from(value, k === 'data' ? 'base64' : 'utf8').length} bytes`);
      continue;
    }
    if (v !== null && typeof v === 'object') {
      w.line(0, `${titleCase(k)}:`);
      for (const line of yaml(v).trimEnd().split('\n')) w.line(1, line);
    } else {
      w.field(0, titleCase(k), String(v));
    }
  }
  eventsSection(w, rel.events, now);
  return w.toString();
}
