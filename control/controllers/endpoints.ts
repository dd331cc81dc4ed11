// The Endpoints controller's pure core: given a Service and the pods of its namespace, the
// v1/Endpoints and discovery.k8s.io/v1 EndpointSlices that describe where its traffic goes.
// In the hostport network mode a pod's address is its node's IP and every containerPort has its
// own node port, so each Service port's targetPort is resolved per pod; pods whose resolved
// ports are the same share an Endpoints subset and a slice. The loop lives in
// endpoints-controller.ts.
import { allocatedPort, PORTS_ANNOTATION } from '../../api/ports.js';
import type { EndpointAddress, EndpointSlice, EndpointSubset, Endpoints, OwnerReference, Pod, Service, ServicePort, SlicePort } from '../../api/types.js';
import { isReady, readyCondition } from './podutil.js';

/** Label on every EndpointSlice naming its Service (what `kubectl describe svc` selects by). */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const MANAGED_BY = 'endpointslice-controller.k8s.io';
/** Label Kubernetes puts on the Endpoints of a headless Service. */
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';
export const MAX_ENDPOINTS_PER_SLICE = 100;

/** A Service port whose named targetPort some selected pods do not declare. */
export interface UnresolvedPort {
  /** The Service port, as `name` or `port/protocol` when unnamed. */
  servicePort: string;
  targetPort: string;
  pods: string[];
}

export interface EndpointsPlan {
  endpoints: Endpoints;
  slices: EndpointSlice[];
  unresolved: UnresolvedPort[];
}

/** Whether the controller publishes endpoints for this Service (else they are the user's). */
export function hasSelector(svc: Service): boolean {
  return !!svc.spec.selector && Object.keys(svc.spec.selector).length > 0;
}

export function selects(svc: Service, pod: Pod): boolean {
  if (!hasSelector(svc) || pod.metadata.namespace !== svc.metadata.namespace) return false;
  return Object.entries(svc.spec.selector!).every(([k, v]) => pod.metadata.labels?.[k] === v);
}

/** Pods that are endpoints at all: scheduled, with an address, not finished. */
function isCandidate(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return !!pod.spec.nodeName && !!pod.status?.podIP && phase !== 'Succeeded' && phase !== 'Failed';
}

/** What of a pod matters to endpoints; a pod change that leaves it alone needs no sync. */
export function endpointFingerprint(pod: Pod): string {
  return JSON.stringify([
    pod.metadata.labels ?? {},
    pod.metadata.annotations?.[PORTS_ANNOTATION] ?? '',
    !!pod.metadata.deletionTimestamp,
    pod.spec.nodeName ?? '',
    pod.spec.hostname ?? '',
    pod.spec.subdomain ?? '',
    pod.status?.podIP ?? '',
    pod.status?.phase ?? '',
    readyCondition(pod)?.status ?? '',
  ]);
}

function servicePortLabel(p: ServicePort): string {
  return p.name || `${p.port}/${p.protocol ?? 'TCP'}`;
}

interface PodEndpoint {
  pod: Pod;
  ip: string;
  ports: SlicePort[];
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  hostname?: string;
}

function byAddress(a: PodEndpoint, b: PodEndpoint): number {
  return a.ip.localeCompare(b.ip, 'en', { numeric: true }) || (a.pod.metadata.name ?? '').localeCompare(b.pod.metadata.name ?? '');
}

/** Short stable text for a port set, used in slice names. */
function hashOf(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(36).padStart(7, '0');
}

export function serviceOwnerRef(svc: Service): OwnerReference {
  return { apiVersion: 'v1', kind: 'Service', name: svc.metadata.name!, uid: svc.metadata.uid!, controller: true, blockOwnerDeletion: true };
}

/**
 * The Endpoints and EndpointSlices a Service with a selector should have, from the pods of its
 * namespace (others are ignored). Ready pods are `addresses`; the rest, terminating ones
 * included, `notReadyAddresses` (all are `addresses` with publishNotReadyAddresses).
 */
export function endpointsFor(svc: Service, pods: Pod[]): EndpointsPlan {
  const ns = svc.metadata.namespace ?? 'default';
  const name = svc.metadata.name!;
  const publishNotReady = svc.spec.publishNotReadyAddresses === true;
  const svcPorts = svc.spec.ports ?? [];
  const unresolved = new Map<string, UnresolvedPort>();
  const members: PodEndpoint[] = [];

  for (const pod of pods) {
    if (!selects(svc, pod) || !isCandidate(pod)) continue;
    const ports: SlicePort[] = [];
    for (const sp of svcPorts) {
      const protocol = sp.protocol ?? 'TCP';
      const resolved = allocatedPort(pod, sp.targetPort ?? sp.port, protocol);
      if ('port' in resolved) {
        ports.push({ name: sp.name ?? '', port: resolved.port, protocol, ...(sp.appProtocol ? { appProtocol: sp.appProtocol } : {}) });
      } else if ('missing' in resolved) {
        const key = `${servicePortLabel(sp)}\u0000${resolved.missing}`;
        const u = unresolved.get(key) ?? { servicePort: servicePortLabel(sp), targetPort: resolved.missing, pods: [] };
        u.pods.push(pod.metadata.name!);
        unresolved.set(key, u);
      }
    }
    // A pod that serves none of the Service's ports is no endpoint (a port-less headless Service
    // takes every pod).
    if (svcPorts.length && !ports.length) continue;
    const terminating = !!pod.metadata.deletionTimestamp;
    const serving = isReady(pod);
    members.push({
      pod,
      ip: pod.status!.podIP!,
      ports,
      ready: publishNotReady || (serving && !terminating),
      serving,
      terminating,
      hostname: pod.spec.hostname && pod.spec.subdomain === name ? pod.spec.hostname : undefined,
    });
  }

  // Pods whose ports resolved alike form one group: one Endpoints subset, one or more slices.
  const groups = new Map<string, PodEndpoint[]>();
  for (const m of members) {
    const key = JSON.stringify([...m.ports].sort((a, b) => a.name.localeCompare(b.name) || a.protocol.localeCompare(b.protocol)));
    groups.set(key, [...(groups.get(key) ?? []), m]);
  }
  const sortedGroups = [...groups.entries()].sort(([a], [b]) => a.localeCompare(b));

  const subsets: EndpointSubset[] = [];
  for (const [, group] of sortedGroups) {
    group.sort(byAddress);
    const address = (m: PodEndpoint): EndpointAddress => ({
      ip: m.ip,
      ...(m.hostname ? { hostname: m.hostname } : {}),
      nodeName: m.pod.spec.nodeName,
      targetRef: { kind: 'Pod', namespace: ns, name: m.pod.metadata.name!, uid: m.pod.metadata.uid },
    });
    const subset: EndpointSubset = {};
    const ready = group.filter((m) => m.ready);
    const notReady = group.filter((m) => !m.ready);
    if (ready.length) subset.addresses = ready.map(address);
    if (notReady.length) subset.notReadyAddresses = notReady.map(address);
    if (group[0].ports.length) {
      subset.ports = group[0].ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.port, protocol: p.protocol, ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) }));
    }
    subsets.push(subset);
  }

  const headless = svc.spec.clusterIP === 'None';
  const labels = { ...(svc.metadata.labels ?? {}), ...(headless ? { [HEADLESS_LABEL]: '' } : {}) };
  const endpoints: Endpoints = {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name, namespace: ns, labels },
    ...(subsets.length ? { subsets } : {}),
  };

  const slices: EndpointSlice[] = [];
  const names = new Set<string>();
  for (const [key, group] of sortedGroups) {
    for (let i = 0; i < group.length; i += MAX_ENDPOINTS_PER_SLICE) {
      let sliceName = `${name}-${hashOf(key)}${i ? `-${i / MAX_ENDPOINTS_PER_SLICE}` : ''}`;
      while (names.has(sliceName)) sliceName += 'x';
      names.add(sliceName);
      slices.push({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: sliceName,
          namespace: ns,
          labels: { ...labels, [SERVICE_NAME_LABEL]: name, [MANAGED_BY_LABEL]: MANAGED_BY },
          ownerReferences: [serviceOwnerRef(svc)],
        },
        addressType: 'IPv4',
        endpoints: group.slice(i, i + MAX_ENDPOINTS_PER_SLICE).map((m) => ({
          addresses: [m.ip],
          conditions: { ready: m.ready, serving: m.serving, terminating: m.terminating },
          ...(m.hostname ? { hostname: m.hostname } : {}),
          nodeName: m.pod.spec.nodeName,
          targetRef: { kind: 'Pod', namespace: ns, name: m.pod.metadata.name!, uid: m.pod.metadata.uid },
        })),
        ports: group[0].ports,
      });
    }
  }

  return { endpoints, slices, unresolved: [...unresolved.values()] };
}

/** Whether the stored Endpoints already say what `wanted` says (labels and subsets). */
export function sameEndpoints(stored: Endpoints | undefined, wanted: Endpoints): boolean {
  if (!stored) return false;
  return canonical(stored.metadata.labels ?? {}) === canonical(wanted.metadata.labels ?? {}) && canonical(stored.subsets ?? []) === canonical(wanted.subsets ?? []);
}

export function sameSlice(stored: EndpointSlice | undefined, wanted: EndpointSlice): boolean {
  if (!stored) return false;
  const part = (s: EndpointSlice) => canonical([s.metadata.labels ?? {}, s.metadata.ownerReferences ?? [], s.addressType, s.endpoints ?? [], s.ports ?? []]);
  return part(stored) === part(wanted);
}

export interface SliceChanges {
  create: EndpointSlice[];
  update: EndpointSlice[];
  delete: EndpointSlice[];
}

/** What to write so that the Service's managed slices become `wanted`; nothing when they are. */
export function sliceChanges(wanted: EndpointSlice[], existing: EndpointSlice[]): SliceChanges {
  const byName = new Map(existing.map((s) => [s.metadata.name!, s]));
  const changes: SliceChanges = { create: [], update: [], delete: [] };
  for (const w of wanted) {
    const cur = byName.get(w.metadata.name!);
    if (!cur) changes.create.push(w);
    else if (!sameSlice(cur, w)) changes.update.push(w);
    byName.delete(w.metadata.name!);
  }
  changes.delete = [...byName.values()];
  return changes;
}

/** JSON with sorted keys and undefined values dropped, for content comparison. */
function canonical(value: unknown): string {
  const norm = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(norm);
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) {
        const x = (v as Record<string, unknown>)[k];
        if (x !== undefined) out[k] = norm(x);
      }
      return out;
    }
    return v;
  };
  return JSON.stringify(norm(value));
}

/** The Warning message for pods that do not declare a Service's named targetPort. */
export function unresolvedMessage(svc: Service, u: UnresolvedPort, pods: string[]): string {
  const shown = pods.slice(0, 3).join(', ') + (pods.length > 3 ? ` and ${pods.length - 3} more` : '');
  return (
    `targetPort "${u.targetPort}" of port ${u.servicePort} of service ${svc.metadata.name} is not declared by any container of pod${pods.length > 1 ? 's' : ''} ${shown}, ` +
    `so ${pods.length > 1 ? 'they are' : 'it is'} not an endpoint for this port; name a containerPort "${u.targetPort}" in the pod template or use a port number`
  );
}
