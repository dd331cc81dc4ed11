// Service, Endpoints and EndpointSlice rows, as upstream printService / printEndpoints /
// printEndpointSlice print them.

import type { Endpoints, KubeObject, Service } from '../../api/types.js';
import {
  type KindPrinter,
  NONE,
  ageColumn,
  ageOf,
  column,
  formatLabels,
  listWithMore,
  nameColumn,
  nameOf,
} from './table-common.js';

const MAX_LISTED = 3;

/** A slice as stored: written by anyone, so every field may be missing. */
interface StoredSlice extends KubeObject {
  addressType?: string;
  endpoints?: { addresses?: string[] }[];
  ports?: { name?: string | null; port?: number | null; protocol?: string }[];
}

/** net.JoinHostPort: IPv6 literals are bracketed. */
function joinHostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function serviceType(svc: Service): string {
  // The API server defaults spec.type; render what it would have stored.
  return svc.spec?.type || 'ClusterIP';
}

/** getServiceExternalIP (wide): explicit externalIPs, load-balancer ingress, or the externalName. */
function externalIP(svc: Service): string {
  const externalIPs = svc.spec?.externalIPs ?? [];
  switch (serviceType(svc)) {
    case 'ClusterIP':
    case 'NodePort':
      return externalIPs.length > 0 ? externalIPs.join(',') : NONE;
    case 'LoadBalancer': {
      const ingress = new Set<string>();
      for (const i of svc.status?.loadBalancer?.ingress ?? []) {
        if (i.ip) ingress.add(i.ip);
        else if (i.hostname) ingress.add(i.hostname);
      }
      const all = [...ingress, ...externalIPs];
      return all.length > 0 ? all.join(',') : '<pending>';
    }
    case 'ExternalName':
      return svc.spec?.externalName ?? '';
    default:
      return '<unknown>';
  }
}

/** makePortString: `80/TCP`, `80:30080/TCP` with a node port, comma-joined. */
function portsCell(svc: Service): string {
  const ports = (svc.spec?.ports ?? []).map((p) => {
    const protocol = p.protocol || 'TCP';
    return p.nodePort && p.nodePort > 0 ? `${p.port}:${p.nodePort}/${protocol}` : `${p.port}/${protocol}`;
  });
  return ports.length > 0 ? ports.join(',') : NONE;
}

export const servicePrinter: KindPrinter = {
  columns: [
    nameColumn(),
    column('Type', 'Type determines how the Service is exposed.'),
    column('Cluster-IP', 'The IP address assigned to the service, for in-cluster clients.'),
    column('External-IP', 'IP addresses (or the external name) the service is reachable at from outside.'),
    column('Port(s)', 'The ports exposed by this service.'),
    ageColumn(),
    column('Selector', 'Route service traffic to pods with label keys and values matching this selector.', { priority: 1 }),
  ],
  row(obj: KubeObject, now: Date) {
    const svc = obj as Service;
    const clusterIP = svc.spec?.clusterIPs?.[0] || svc.spec?.clusterIP || NONE;
    return {
      cells: [nameOf(svc), serviceType(svc), clusterIP, externalIP(svc), portsCell(svc), ageOf(svc, now), formatLabels(svc.spec?.selector)],
    };
  },
};

/** formatEndpoints: `ip:port` for every (port, ready address) pair, at most 3 then `+ N more...`. */
function endpointsCell(ep: Endpoints): string {
  const subsets = ep.subsets ?? [];
  if (subsets.length === 0) return NONE;
  const list: string[] = [];
  let count = 0;
  for (const ss of subsets) {
    const addresses = ss.addresses ?? [];
    if (!ss.ports || ss.ports.length === 0) {
      // Headless services may have no ports: list bare IPs.
      count += addresses.length;
      for (const a of addresses) if (list.length < MAX_LISTED) list.push(a.ip);
      continue;
    }
    for (const port of ss.ports) {
      count += addresses.length;
      for (const a of addresses) if (list.length < MAX_LISTED) list.push(joinHostPort(a.ip, port.port));
    }
  }
  // Subsets holding only not-ready addresses print an empty cell upstream.
  return listWithMore(list, count, MAX_LISTED, '');
}

export const endpointsPrinter: KindPrinter = {
  columns: [nameColumn(), column('Endpoints', 'The ready addresses and ports of this service.'), ageColumn()],
  row(obj: KubeObject, now: Date) {
    const ep = obj as Endpoints;
    return { cells: [nameOf(ep), endpointsCell(ep), ageOf(ep, now)] };
  },
};

function slicePortsCell(slice: StoredSlice): string {
  const ports = slice.ports ?? [];
  const list = ports.map((p) => (p.port != null ? String(p.port) : p.name != null ? p.name : '*'));
  return listWithMore(list, ports.length, MAX_LISTED, '<unset>');
}

function sliceEndpointsCell(slice: StoredSlice): string {
  const addresses = (slice.endpoints ?? []).flatMap((e) => e.addresses ?? []);
  return listWithMore(addresses, addresses.length, MAX_LISTED, '<unset>');
}

export const endpointSlicePrinter: KindPrinter = {
  columns: [
    nameColumn(),
    column('AddressType', 'The type of address carried by this EndpointSlice (IPv4, IPv6, FQDN).'),
    column('Ports', 'The network ports exposed by each endpoint in this slice.'),
    column('Endpoints', 'The addresses of the endpoints in this slice.'),
    ageColumn(),
  ],
  row(obj: KubeObject, now: Date) {
    const slice = obj as StoredSlice;
    return { cells: [nameOf(slice), slice.addressType ?? '', slicePortsCell(slice), sliceEndpointsCell(slice), ageOf(slice, now)] };
  },
};
