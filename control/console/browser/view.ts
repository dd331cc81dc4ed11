// The console page's views: pure functions from API objects to HTML strings (every value
// escaped), so they run in the browser and in unit tests alike. Elements carry data-* attributes
// naming what they show, for scripts and tests that read the page.
import type { Deployment, Endpoints, Event, Node, Pod, Service } from '../../../api/types.js';
import type { TrafficReport } from '../traffic.js';

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The token in a `#token=...` URL fragment (other fragment parameters are ignored). */
export function tokenFromFragment(hash: string): string | undefined {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const token = params.get('token')?.trim();
  return token ? token : undefined;
}

/** Kubernetes-style age: 45s, 12m, 3h, 2d. */
export function formatAge(timestamp: string | null | undefined, now: number): string {
  const at = timestamp ? Date.parse(timestamp) : NaN;
  if (!Number.isFinite(at)) return '';
  const s = Math.max(0, Math.floor((now - at) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 120 * 60) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function formatRate(perSecond: number): string {
  if (perSecond >= 100) return perSecond.toFixed(0);
  return perSecond.toFixed(1);
}

const UNITS: Record<string, number> = { '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

/** A memory quantity (`24684084Ki`) in GiB or MiB; anything else as given. */
export function formatMemory(quantity: string | undefined): string {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?$/.exec(quantity ?? '');
  if (!m) return quantity ?? '';
  const bytes = Number(m[1]) * UNITS[m[2] ?? ''];
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${Math.round(bytes / 2 ** 20)} MiB`;
}

const key = (o: { metadata: { namespace?: string; name?: string } }) => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;

function table(columns: string[], rows: string[], empty: string): string {
  if (!rows.length) return `<p class="empty">${escapeHtml(empty)}</p>`;
  return `<table><thead><tr>${columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function badge(text: string, tone: 'ok' | 'warn' | 'bad' | 'muted'): string {
  return `<span class="badge ${tone}">${escapeHtml(text)}</span>`;
}

export function nodeReady(node: Node): string {
  return node.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
}

export function nodesView(nodes: Node[], now: number): string {
  const rows = [...nodes]
    .sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''))
    .map((n) => {
      const ready = nodeReady(n);
      const status = ready === 'True' ? badge('Ready', 'ok') : badge(ready === 'False' ? 'NotReady' : 'Unknown', 'bad');
      const address = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '';
      const schedule = n.spec?.unschedulable ? ` ${badge('SchedulingDisabled', 'warn')}` : '';
      return `<tr data-node="${escapeHtml(n.metadata.name)}" data-ready="${escapeHtml(ready)}"><td class="name">${escapeHtml(n.metadata.name)}</td><td>${status}${schedule}</td><td>${escapeHtml(address)}</td><td>${escapeHtml(n.status?.capacity?.cpu ?? '')}</td><td>${escapeHtml(formatMemory(n.status?.capacity?.memory))}</td><td>${escapeHtml(formatAge(n.metadata.creationTimestamp, now))}</td></tr>`;
    });
  return table(['Name', 'Status', 'Address', 'CPU', 'Memory', 'Age'], rows, 'No nodes have joined yet.');
}

export function podRestarts(pod: Pod): number {
  return (pod.status?.containerStatuses ?? []).reduce((n, c) => n + (Number((c as { restartCount?: number }).restartCount) || 0), 0);
}

function podReady(pod: Pod): boolean {
  return !!pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
}

export function podsView(pods: Pod[], now: number): string {
  const rows = [...pods]
    .sort((a, b) => key(a).localeCompare(key(b)))
    .map((p) => {
      const phase = p.metadata.deletionTimestamp ? 'Terminating' : (p.status?.phase ?? 'Pending');
      const tone = phase === 'Running' ? (podReady(p) ? 'ok' : 'warn') : phase === 'Succeeded' ? 'muted' : phase === 'Pending' || phase === 'Terminating' ? 'warn' : 'bad';
      const restarts = podRestarts(p);
      return `<tr data-pod="${escapeHtml(key(p))}" data-phase="${escapeHtml(phase)}"><td>${escapeHtml(p.metadata.namespace)}</td><td class="name">${escapeHtml(p.metadata.name)}</td><td>${badge(phase, tone)}${phase === 'Running' && !podReady(p) ? ` ${badge('not ready', 'warn')}` : ''}</td><td>${escapeHtml(p.spec.nodeName ?? '')}</td><td class="num${restarts ? ' warn-text' : ''}">${restarts}</td><td>${escapeHtml(p.status?.podIP ?? '')}</td><td>${escapeHtml(formatAge(p.metadata.creationTimestamp, now))}</td></tr>`;
    });
  return table(['Namespace', 'Name', 'Phase', 'Node', 'Restarts', 'IP', 'Age'], rows, 'No pods.');
}

export interface EndpointView {
  /** The pod behind the address, else `ip`. */
  name: string;
  ip: string;
  ports: number[];
  ready: boolean;
  requestsPerSecond?: number;
  share?: number;
}

/**
 * The addresses of one Service's Endpoints with their traffic. The proxies label traffic by pod
 * name, or by `ip:port` for an address without a pod.
 */
export function endpointsOf(endpoints: Endpoints | undefined, traffic: TrafficReport['services'][number] | undefined): EndpointView[] {
  const byName = new Map((traffic?.endpoints ?? []).map((e) => [e.endpoint, e]));
  const out = new Map<string, EndpointView>();
  for (const subset of endpoints?.subsets ?? []) {
    const ports = (subset.ports ?? []).map((p) => p.port);
    const add = (ready: boolean) => (a: { ip: string; targetRef?: { name: string } }) => {
      const name = a.targetRef?.name ?? a.ip;
      const view = out.get(name) ?? { name, ip: a.ip, ports: [], ready };
      view.ports.push(...ports);
      out.set(name, view);
    };
    subset.addresses?.forEach(add(true));
    subset.notReadyAddresses?.forEach(add(false));
  }
  for (const view of out.values()) {
    const labels = view.name === view.ip ? view.ports.map((p) => `${view.ip}:${p}`) : [view.name];
    const rows = labels.map((l) => byName.get(l)).filter((r) => r !== undefined);
    if (traffic) {
      view.requestsPerSecond = rows.reduce((n, r) => n + r.requestsPerSecond, 0);
      view.share = rows.reduce((n, r) => n + r.share, 0);
    }
    view.ports.sort((a, b) => a - b);
  }
  return [...out.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function servicePorts(s: Service): string {
  return (s.spec.ports ?? []).map((p) => `${p.name ? `${p.name} ` : ''}${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(', ');
}

export function servicesView(services: Service[], endpoints: Endpoints[], traffic: TrafficReport | undefined): string {
  const endpointsByKey = new Map(endpoints.map((e) => [key(e), e]));
  const trafficByKey = new Map((traffic?.services ?? []).map((s) => [`${s.namespace}/${s.service}`, s]));
  const cards = [...services]
    .sort((a, b) => key(a).localeCompare(key(b)))
    .map((s) => {
      const k = key(s);
      const views = endpointsOf(endpointsByKey.get(k), traffic ? (trafficByKey.get(k) ?? { namespace: '', service: '', endpoints: [] }) : undefined);
      const total = views.reduce((n, v) => n + (v.requestsPerSecond ?? 0), 0);
      const rows = views.map((v) => {
        const rate = v.requestsPerSecond === undefined ? '<span class="muted">…</span>' : escapeHtml(formatRate(v.requestsPerSecond));
        const share = v.share === undefined ? '' : `<meter min="0" max="1" value="${v.share.toFixed(3)}"></meter> <span class="muted">${Math.round(v.share * 100)}%</span>`;
        return `<tr data-endpoint="${escapeHtml(v.name)}" data-ready="${v.ready}" data-rps="${v.requestsPerSecond ?? ''}"><td class="name">${escapeHtml(v.name)}</td><td>${escapeHtml(v.ports.map((p) => `${v.ip}:${p}`).join(', '))}</td><td>${v.ready ? badge('ready', 'ok') : badge('not ready', 'warn')}</td><td class="num">${rate}</td><td>${share}</td></tr>`;
      });
      const head = `<div class="service-head"><h3>${escapeHtml(k)}</h3><span class="muted">${escapeHtml(s.spec.type ?? 'ClusterIP')} ${escapeHtml(s.spec.clusterIP ?? '')} · ${escapeHtml(servicePorts(s))}</span><span class="total" data-total-rps="${total}">${traffic ? `${escapeHtml(formatRate(total))} req/s` : ''}</span></div>`;
      return `<div class="service" data-service="${escapeHtml(k)}">${head}${table(['Endpoint', 'Address', 'State', 'Req/s', 'Share'], rows, 'No endpoints.')}</div>`;
    });
  return cards.length ? cards.join('') : '<p class="empty">No services.</p>';
}

export function deploymentsView(deployments: Deployment[]): string {
  const rows = [...deployments]
    .sort((a, b) => key(a).localeCompare(key(b)))
    .map((d) => {
      const k = key(d);
      const want = d.spec.replicas ?? 1;
      const ready = d.status?.readyReplicas ?? 0;
      return `<tr data-deployment="${escapeHtml(k)}"><td>${escapeHtml(d.metadata.namespace)}</td><td class="name">${escapeHtml(d.metadata.name)}</td><td class="num">${ready}/${want}</td><td class="num">${d.status?.updatedReplicas ?? 0}</td><td class="num">${d.status?.availableReplicas ?? 0}</td><td><form class="scale" data-scale="${escapeHtml(k)}"><input type="number" name="replicas" min="0" max="1000" required value="${want}" aria-label="replicas of ${escapeHtml(k)}"><button type="submit">Scale</button></form></td></tr>`;
    });
  return table(['Namespace', 'Name', 'Ready', 'Up-to-date', 'Available', 'Replicas'], rows, 'No deployments.');
}

function eventTime(e: Event): string {
  return e.lastTimestamp ?? (e as { eventTime?: string }).eventTime ?? e.metadata.creationTimestamp ?? '';
}

/** The newest `limit` events, newest first. */
export function eventsView(events: Event[], now: number, limit = 20): string {
  const rows = [...events]
    .sort((a, b) => (Date.parse(eventTime(b)) || 0) - (Date.parse(eventTime(a)) || 0))
    .slice(0, limit)
    .map((e) => {
      const tone = e.type === 'Warning' ? 'warn' : 'muted';
      const object = `${(e.involvedObject.kind ?? '').toLowerCase()}/${e.involvedObject.name ?? ''}`;
      return `<tr data-event="${escapeHtml(e.reason)}"><td>${escapeHtml(formatAge(eventTime(e), now))}</td><td>${badge(e.type ?? 'Normal', tone)}</td><td>${escapeHtml(e.reason)}</td><td>${escapeHtml(e.involvedObject.namespace ?? '')} ${escapeHtml(object)}</td><td class="message">${escapeHtml(e.message)}${(e.count ?? 1) > 1 ? ` <span class="muted">(×${e.count})</span>` : ''}</td></tr>`;
    });
  return table(['Age', 'Type', 'Reason', 'Object', 'Message'], rows, 'No events.');
}
