// The proxy's table as data (Traefik's shape): a pure function of the Services and Endpoints the
// informers hold, rebuilt whole at each sync and swapped in. One entry per Service port says
// where to listen, how to forward, and which ready endpoints serve it.
import type { Endpoints, Service, ServicePort } from '../api/types.js';
import { endpointKey, type Endpoint } from './types.js';

export type ForwardMode = 'tcp' | 'http' | 'udp';

export interface ServicePortEntry {
  /** `namespace/service:portName` (portName may be empty for a single unnamed port). */
  key: string;
  namespace: string;
  service: string;
  /** The Service port's name ('' when unnamed). */
  portName: string;
  protocol: 'TCP' | 'UDP';
  mode: ForwardMode;
  /** Absent for headless and ExternalName Services: nothing to listen on. */
  clusterIP?: string;
  port: number;
  /** For NodePort and LoadBalancer Services: listened on 0.0.0.0. */
  nodePort?: number;
  /** `sessionAffinity: ClientIP`: the stickiness timeout in seconds. */
  affinityTimeoutSeconds?: number;
  /** Ready endpoints for this port, sorted by ip:port so the order is stable across syncs. */
  endpoints: Endpoint[];
  /** How many listed addresses are not ready (for metrics and `describe`). */
  notReady: number;
}

/** Kubernetes' default ClientIP affinity timeout (3 hours). */
export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;

function keyOf(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? 'default'}/${name ?? ''}`;
}

/** Ports speaking HTTP/1.1 get the per-request forwarder: by appProtocol, or by Istio's port-name convention. */
export function isHttpPort(port: ServicePort): boolean {
  if (port.appProtocol !== undefined && port.appProtocol !== '') return port.appProtocol.toLowerCase() === 'http';
  const name = port.name ?? '';
  return name === 'http' || name.startsWith('http-');
}

/** The entries of every Service port that the proxy serves (SCTP is not supported and left out). */
export function buildTable(services: Iterable<Service>, endpoints: Iterable<Endpoints>): ServicePortEntry[] {
  const endpointsByService = new Map<string, Endpoints>();
  for (const e of endpoints) endpointsByService.set(keyOf(e.metadata.namespace, e.metadata.name), e);
  const entries: ServicePortEntry[] = [];
  for (const svc of services) {
    const spec = svc.spec ?? {};
    const type = spec.type ?? 'ClusterIP';
    if (type === 'ExternalName') continue;
    const namespace = svc.metadata.namespace ?? 'default';
    const service = svc.metadata.name ?? '';
    const clusterIP = spec.clusterIP && spec.clusterIP !== 'None' ? spec.clusterIP : undefined;
    const withNodePort = type === 'NodePort' || type === 'LoadBalancer';
    const affinity =
      spec.sessionAffinity === 'ClientIP'
        ? positiveOr((spec.sessionAffinityConfig as { clientIP?: { timeoutSeconds?: number } } | undefined)?.clientIP?.timeoutSeconds, DEFAULT_AFFINITY_TIMEOUT_SECONDS)
        : undefined;
    const eps = endpointsByService.get(keyOf(namespace, service));
    const ports = spec.ports ?? [];
    for (const port of ports) {
      const protocol = (port.protocol ?? 'TCP').toUpperCase();
      if (protocol !== 'TCP' && protocol !== 'UDP') continue;
      const nodePort = withNodePort && port.nodePort ? port.nodePort : undefined;
      if (!clusterIP && !nodePort) continue;
      const resolved = endpointsForPort(eps, port, ports.length);
      entries.push({
        key: `${namespace}/${service}:${port.name ?? ''}`,
        namespace,
        service,
        portName: port.name ?? '',
        protocol,
        mode: protocol === 'UDP' ? 'udp' : isHttpPort(port) ? 'http' : 'tcp',
        ...(clusterIP ? { clusterIP } : {}),
        port: port.port,
        ...(nodePort ? { nodePort } : {}),
        ...(affinity !== undefined ? { affinityTimeoutSeconds: affinity } : {}),
        endpoints: resolved.ready,
        notReady: resolved.notReady,
      });
    }
  }
  return entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function positiveOr(n: number | undefined, fallback: number): number {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : fallback;
}

/**
 * The ready endpoints of one Service port. Endpoints name their ports after the Service's ports;
 * hand-written ones sometimes do not, so a lone port matches a lone port, and a numeric
 * targetPort matches a port of that number.
 */
export function endpointsForPort(eps: Endpoints | undefined, port: ServicePort, servicePorts = 1): { ready: Endpoint[]; notReady: number } {
  const ready = new Map<string, Endpoint>();
  let notReady = 0;
  const protocol = (port.protocol ?? 'TCP').toUpperCase();
  for (const subset of eps?.subsets ?? []) {
    const candidates = (subset.ports ?? []).filter((p) => (p.protocol ?? 'TCP').toUpperCase() === protocol);
    const match =
      candidates.find((p) => (p.name ?? '') === (port.name ?? '')) ??
      (servicePorts === 1 && candidates.length === 1 ? candidates[0] : undefined) ??
      (typeof port.targetPort === 'number' ? candidates.find((p) => p.port === port.targetPort) : undefined);
    if (!match) continue;
    for (const a of subset.addresses ?? []) {
      const ep: Endpoint = { ip: a.ip, port: match.port, ...(a.targetRef?.name ? { pod: a.targetRef.name } : {}) };
      ready.set(endpointKey(ep), ep);
    }
    notReady += subset.notReadyAddresses?.length ?? 0;
  }
  const list = [...ready.values()].sort((a, b) => compareEndpoints(a, b));
  return { ready: list, notReady };
}

function compareEndpoints(a: Endpoint, b: Endpoint): number {
  if (a.ip !== b.ip) return a.ip < b.ip ? -1 : 1;
  return a.port - b.port;
}

/** Where an entry listens: its ClusterIP and, for NodePort Services, every address on the nodePort. */
export interface ListenAddress {
  /** `TCP:127.77.0.5:80`: unique per socket the proxy holds. */
  key: string;
  protocol: 'TCP' | 'UDP';
  host: string;
  port: number;
  entryKey: string;
}

export function listenAddresses(entry: ServicePortEntry): ListenAddress[] {
  const out: ListenAddress[] = [];
  const add = (host: string, port: number) => out.push({ key: `${entry.protocol}:${host}:${port}`, protocol: entry.protocol, host, port, entryKey: entry.key });
  if (entry.clusterIP) add(entry.clusterIP, entry.port);
  if (entry.nodePort) add('0.0.0.0', entry.nodePort);
  return out;
}
