// The building blocks of `tug describe` output, shaped like kubectl's: indented `Key:<TAB>value`
// lines aligned the way Go's tabwriter aligns them, label and annotation lists, the Events table,
// and the pod template block shared by Deployments, ReplicaSets and `rollout history`.
import type { Container, Event, KubeObject, PodTemplateSpec, Probe } from '../api/types.js';
import { humanDuration } from '../api/duration.js';

export const NONE = '<none>';

/** Collects lines of tab-separated cells; `toString()` aligns them like tabwriter(padding 2). */
export class DescribeWriter {
  private readonly lines: string[][] = [];

  /** One line at an indentation level (2 spaces each); `\t` separates aligned cells. */
  line(level: number, text: string): void {
    const cells = text.split('\t');
    cells[0] = '  '.repeat(level) + cells[0];
    this.lines.push(cells);
  }

  /** `Key:<TAB>value`, with a multi-line value continued under the first. */
  field(level: number, key: string, value: string | number | boolean | undefined): void {
    const [first, ...rest] = String(value === undefined || value === '' ? NONE : value).split('\n');
    this.line(level, `${key}:\t${first}`);
    for (const more of rest) this.line(level, `\t${more}`);
  }

  toString(): string {
    const width: number[][] = this.lines.map((cells) => cells.map(() => 0));
    const columns = Math.max(0, ...this.lines.map((c) => c.length));
    // A column's width is set per run of consecutive lines that end that cell with a tab.
    for (let col = 0; col < columns - 1; col++) {
      let start = 0;
      while (start < this.lines.length) {
        if (this.lines[start].length <= col + 1) {
          start++;
          continue;
        }
        let end = start;
        while (end < this.lines.length && this.lines[end].length > col + 1) end++;
        const w = Math.max(...this.lines.slice(start, end).map((c) => c[col].length)) + 2;
        for (let i = start; i < end; i++) width[i][col] = w;
        start = end;
      }
    }
    return this.lines.map((cells, i) => cells.map((c, j) => (j < cells.length - 1 ? c.padEnd(width[i][j]) : c)).join('').trimEnd()).join('\n');
  }
}

/** Labels or annotations one per line, sorted (`<none>` when empty). */
export function keyValues(map: Record<string, string> | undefined, sep = '='): string {
  const keys = Object.keys(map ?? {}).sort();
  return keys.length ? keys.map((k) => `${k}${sep}${map![k]}`).join('\n') : NONE;
}

export function metaFields(w: DescribeWriter, o: KubeObject, namespaced = true): void {
  w.field(0, 'Name', o.metadata.name);
  if (namespaced) w.field(0, 'Namespace', o.metadata.namespace);
}

/** kubectl's describe timestamp: `Mon, 02 Jan 2006 15:04:05 +0000`. */
export function describeTime(ts: string | null | undefined): string {
  if (!ts) return NONE;
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return ts;
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getUTCDay()];
  const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${day}, ${p(d.getUTCDate())} ${month} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** How long ago a timestamp was, as kubectl's AGE column prints it. */
export function ago(ts: string | null | undefined, now: Date): string {
  const ms = Date.parse(ts ?? '');
  return Number.isNaN(ms) ? '<unknown>' : humanDuration(now.getTime() - ms);
}

export function controllerOf(o: KubeObject): string | undefined {
  const ref = o.metadata.ownerReferences?.find((r) => r.controller);
  return ref ? `${ref.kind}/${ref.name}` : undefined;
}

function eventTime(e: Event, field: 'first' | 'last'): number {
  const ts = field === 'last' ? (e.lastTimestamp ?? (e.eventTime as string | undefined) ?? e.firstTimestamp) : (e.firstTimestamp ?? (e.eventTime as string | undefined) ?? e.lastTimestamp);
  return Date.parse(ts ?? e.metadata.creationTimestamp ?? '') || 0;
}

/** The Events table at the end of every description (oldest first, as kubectl sorts them). */
export function eventsSection(w: DescribeWriter, events: Event[], now: Date): void {
  if (!events.length) {
    w.field(0, 'Events', NONE);
    return;
  }
  w.line(0, 'Events:');
  w.line(1, 'Type\tReason\tAge\tFrom\tMessage');
  w.line(1, '----\t------\t----\t----\t-------');
  for (const e of [...events].sort((a, b) => eventTime(a, 'last') - eventTime(b, 'last'))) {
    const last = eventTime(e, 'last');
    const age = last ? humanDuration(now.getTime() - last) : '<unknown>';
    const first = eventTime(e, 'first');
    const ageText = (e.count ?? 1) > 1 && first ? `${age} (x${e.count} over ${humanDuration(now.getTime() - first)})` : age;
    const from = [e.source?.component ?? (e.reportingController as string | undefined), e.source?.host].filter(Boolean).join(', ');
    w.line(1, `${e.type ?? 'Normal'}\t${e.reason ?? ''}\t${ageText}\t${from}\t${(e.message ?? '').trim()}`);
  }
}

function probeText(p: Probe): string {
  const how = p.httpGet
    ? `http-get ${(p.httpGet.scheme ?? 'HTTP').toLowerCase()}://${p.httpGet.host ?? ''}:${p.httpGet.port}${p.httpGet.path ?? '/'}`
    : p.tcpSocket
      ? `tcp-socket ${p.tcpSocket.host ?? ''}:${p.tcpSocket.port}`
      : p.exec
        ? `exec [${(p.exec.command ?? []).join(' ')}]`
        : 'unknown';
  return `${how} delay=${p.initialDelaySeconds ?? 0}s timeout=${p.timeoutSeconds ?? 1}s period=${p.periodSeconds ?? 10}s #success=${p.successThreshold ?? 1} #failure=${p.failureThreshold ?? 3}`;
}

function envText(c: Container): string {
  const lines: string[] = [];
  for (const from of c.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    if (ref) lines.push(`${from.configMapRef ? 'ConfigMap' : 'Secret'}\t${ref.name}${from.prefix ? ` (prefix ${from.prefix})` : ''}`);
  }
  for (const e of c.env ?? []) {
    const vf = e.valueFrom;
    const value =
      e.value !== undefined ? e.value
      : vf?.configMapKeyRef ? `<set to the key '${vf.configMapKeyRef.key}' of config map '${vf.configMapKeyRef.name}'>`
      : vf?.secretKeyRef ? `<set to the key '${vf.secretKeyRef.key}' in secret '${vf.secretKeyRef.name}'>`
      : vf?.fieldRef ? `(${vf.fieldRef.apiVersion ?? 'v1'}:${vf.fieldRef.fieldPath})`
      : '';
    lines.push(`${e.name}:\t${value}`);
  }
  return lines.join('\n');
}

/** A container's image, ports, command and args at `level`. */
export function containerSpecLines(w: DescribeWriter, level: number, c: Container): void {
  w.field(level, 'Image', c.image);
  const ports = (c.ports ?? []).map((p) => `${p.containerPort}/${p.protocol ?? 'TCP'}${p.name ? ` (${p.name})` : ''}`);
  w.field(level, ports.length > 1 ? 'Ports' : 'Port', ports.join(', ') || NONE);
  const hostPorts = (c.ports ?? []).filter((p) => p.hostPort).map((p) => `${p.hostPort}/${p.protocol ?? 'TCP'}`);
  if (hostPorts.length) w.field(level, 'Host Port', hostPorts.join(', '));
  for (const [key, list] of [['Command', c.command], ['Args', c.args]] as const) {
    if (!list?.length) continue;
    w.line(level, `${key}:`);
    for (const a of list) for (const part of a.split('\n')) w.line(level + 1, part);
  }
}

/** Limits, requests and probes: after the state in a pod, after the command in a template. */
export function containerResourcesAndProbes(w: DescribeWriter, level: number, c: Container): void {
  for (const [key, list] of [['Limits', c.resources?.limits], ['Requests', c.resources?.requests]] as const) {
    if (!list || !Object.keys(list).length) continue;
    w.line(level, `${key}:`);
    for (const k of Object.keys(list).sort()) w.line(level + 1, `${k}:\t${list[k]}`);
  }
  if (c.livenessProbe) w.field(level, 'Liveness', probeText(c.livenessProbe));
  if (c.readinessProbe) w.field(level, 'Readiness', probeText(c.readinessProbe));
  if (c.startupProbe) w.field(level, 'Startup', probeText(c.startupProbe));
}

export function containerEnvAndMounts(w: DescribeWriter, level: number, c: Container): void {
  const env = envText(c);
  if (!env) w.field(level, 'Environment', NONE);
  else {
    w.line(level, 'Environment:');
    for (const line of env.split('\n')) w.line(level + 1, line);
  }
  const mounts = c.volumeMounts ?? [];
  if (!mounts.length) w.field(level, 'Mounts', NONE);
  else {
    w.line(level, 'Mounts:');
    for (const m of mounts) w.line(level + 1, `${m.mountPath} from ${m.name} (${m.readOnly ? 'ro' : 'rw'}${m.subPath ? `,path="${m.subPath}"` : ''})`);
  }
}

export function volumesSection(w: DescribeWriter, level: number, volumes: Record<string, any>[] | undefined): void {
  if (!volumes?.length) {
    w.field(level, 'Volumes', NONE);
    return;
  }
  w.line(level, 'Volumes:');
  for (const v of volumes) {
    w.line(level + 1, `${v.name}:`);
    if (v.configMap) {
      w.field(level + 2, 'Type', 'ConfigMap (a volume populated by a ConfigMap)');
      w.field(level + 2, 'Name', v.configMap.name);
      w.field(level + 2, 'Optional', String(!!v.configMap.optional));
    } else if (v.secret) {
      w.field(level + 2, 'Type', 'Secret (a volume populated by a Secret)');
      w.field(level + 2, 'SecretName', v.secret.secretName);
      w.field(level + 2, 'Optional', String(!!v.secret.optional));
    } else if (v.emptyDir) {
      w.field(level + 2, 'Type', 'EmptyDir (a temporary directory that shares a pod\'s lifetime)');
      w.field(level + 2, 'Medium', v.emptyDir.medium ?? '');
    } else if (v.hostPath) {
      w.field(level + 2, 'Type', 'HostPath (bare host directory volume)');
      w.field(level + 2, 'Path', v.hostPath.path);
      w.field(level + 2, 'HostPathType', v.hostPath.type ?? '');
    } else {
      w.field(level + 2, 'Type', Object.keys(v).filter((k) => k !== 'name').join(', ') || 'unknown');
    }
  }
}

/** The `Pod Template:` block of Deployments, ReplicaSets and `rollout history --revision`. */
export function podTemplateSection(w: DescribeWriter, level: number, t: PodTemplateSpec | undefined): void {
  w.line(level, 'Pod Template:');
  if (!t) {
    w.line(level + 1, NONE);
    return;
  }
  w.field(level + 1, 'Labels', keyValues(t.metadata?.labels));
  if (t.metadata?.annotations && Object.keys(t.metadata.annotations).length) w.field(level + 1, 'Annotations', keyValues(t.metadata.annotations, ': '));
  if (t.spec.runtimeClassName) w.field(level + 1, 'Runtime Class', t.spec.runtimeClassName);
  w.line(level + 1, 'Containers:');
  for (const c of t.spec.containers ?? []) {
    w.line(level + 2, `${c.name}:`);
    containerSpecLines(w, level + 3, c);
    containerResourcesAndProbes(w, level + 3, c);
    containerEnvAndMounts(w, level + 3, c);
  }
  volumesSection(w, level + 1, t.spec.volumes);
}
