// The cluster zone as data: a pure function of Services and Endpoints (Kubernetes DNS-based
// service discovery spec v1.1.0, DESIGN.md §6). The server only looks names up in what this
// builds, so every record rule lives here and is unit-tested without sockets.
import { isIPv4, isIPv6 } from 'node:net';
import type { Endpoints, Service } from '../api/types.js';

/** Wire type codes (RFC 1035 and friends), the same numbers dns2 uses. */
export const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, ANY: 255 } as const;

export const SCHEMA_VERSION = '1.1.0';

interface Base {
  /** Owner name, lower case, no trailing dot. */
  name: string;
  ttl: number;
  class: 1;
}
export type ZoneRecord = Base &
  (
    | { type: 1 | 28; address: string }
    | { type: 2; ns: string }
    | { type: 5 | 12; domain: string }
    | { type: 16; data: string[] }
    | { type: 33; priority: number; weight: number; port: number; target: string }
    | { type: 6; primary: string; admin: string; serial: number; refresh: number; retry: number; expiration: number; minimum: number }
  );

export interface Zone {
  /** The cluster domain, lower case, no trailing dot. */
  domain: string;
  soa: ZoneRecord & { type: 6 };
  /** Owner name → its records. */
  records: Map<string, ZoneRecord[]>;
  /** Every owner name and every name between an owner and the apex (empty non-terminals → NODATA). */
  names: Set<string>;
}

export interface ZoneOptions {
  domain?: string;
  ttl?: number;
  /** SOA serial; the caller bumps it on every rebuild (e.g. a counter or unix seconds). */
  serial?: number;
  /** Address of this DNS server, published as the A of the apex NS name. */
  nsAddress?: string;
}

export function normalizeName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/** `d.c.b.a.in-addr.arpa` for an IPv4 address, nibble form under ip6.arpa for IPv6. */
export function reverseName(ip: string): string | undefined {
  if (isIPv4(ip)) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  if (!isIPv6(ip)) return undefined;
  const [head, tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return `${groups.map((g) => g.padStart(4, '0')).join('').split('').reverse().join('.')}.ip6.arpa`;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The per-endpoint label of a headless service: the hostname, else the pod name, else the IP in dashes. */
export function endpointLabel(address: { ip: string; hostname?: string; targetRef?: { name: string } }): string {
  if (address.hostname && LABEL.test(address.hostname)) return address.hostname;
  const pod = address.targetRef?.name?.toLowerCase();
  if (pod && LABEL.test(pod)) return pod;
  return address.ip.replace(/[.:]/g, '-');
}

export function buildZone(services: readonly Service[], endpoints: readonly Endpoints[], opts: ZoneOptions = {}): Zone {
  const domain = normalizeName(opts.domain ?? 'cluster.local');
  const ttl = opts.ttl ?? 5;
  const records = new Map<string, ZoneRecord[]>();
  const names = new Set<string>();
  const add = (r: ZoneRecord): void => {
    const list = records.get(r.name);
    if (!list) records.set(r.name, [r]);
    else if (!list.some((x) => sameRecord(x, r))) list.push(r);
  };
  const nsName = `ns.dns.${domain}`;
  const soa = {
    name: domain, ttl, class: 1 as const, type: TYPE.SOA,
    primary: nsName, admin: `hostmaster.${domain}`, serial: (opts.serial ?? 1) >>> 0,
    refresh: 7200, retry: 1800, expiration: 86400, minimum: ttl,
  };
  add(soa);
  add({ name: domain, ttl, class: 1, type: TYPE.NS, ns: nsName });
  if (opts.nsAddress) addAddress(add, nsName, opts.nsAddress, ttl);
  add({ name: `dns-version.${domain}`, ttl, class: 1, type: TYPE.TXT, data: [SCHEMA_VERSION] });

  const endpointsByKey = new Map<string, Endpoints>();
  for (const e of endpoints) endpointsByKey.set(`${e.metadata.namespace ?? 'default'}/${e.metadata.name}`, e);

  for (const svc of services) {
    const svcName = svc.metadata.name?.toLowerCase();
    const ns = (svc.metadata.namespace ?? 'default').toLowerCase();
    if (!svcName || !LABEL.test(svcName) || !LABEL.test(ns)) continue;
    const fqdn = `${svcName}.${ns}.svc.${domain}`;
    const spec = svc.spec ?? {};
    if (spec.type === 'ExternalName') {
      if (spec.externalName) add({ name: fqdn, ttl, class: 1, type: TYPE.CNAME, domain: normalizeName(spec.externalName) });
      continue;
    }
    const clusterIPs = (spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []).filter((ip) => ip && ip !== 'None');
    const headless = spec.clusterIP === 'None';
    if (!headless) {
      if (clusterIPs.length === 0) continue; // not allocated yet: no records, NXDOMAIN like CoreDNS
      for (const ip of clusterIPs) {
        addAddress(add, fqdn, ip, ttl);
        const rev = reverseName(ip);
        if (rev) add({ name: rev, ttl, class: 1, type: TYPE.PTR, domain: fqdn });
      }
      for (const p of spec.ports ?? []) {
        if (!p.name) continue;
        const proto = (p.protocol ?? 'TCP').toLowerCase();
        add({ name: `_${p.name.toLowerCase()}._${proto}.${fqdn}`, ttl, class: 1, type: TYPE.SRV, priority: 0, weight: 100, port: p.port, target: fqdn });
      }
      markName(names, fqdn, domain); // a service with only a ClusterIP still exists
      continue;
    }
    // Headless: one A per distinct ready address (hostport mode puts many pods on one node IP),
    // a name per endpoint, and one SRV per endpoint and named port with the endpoint's own port.
    markName(names, fqdn, domain);
    const eps = endpointsByKey.get(`${svc.metadata.namespace ?? 'default'}/${svc.metadata.name}`);
    for (const subset of eps?.subsets ?? []) {
      for (const address of subset.addresses ?? []) {
        if (!isIPv4(address.ip) && !isIPv6(address.ip)) continue;
        addAddress(add, fqdn, address.ip, ttl);
        const host = `${endpointLabel(address)}.${fqdn}`;
        addAddress(add, host, address.ip, ttl);
        for (const p of subset.ports ?? []) {
          if (!p.name) continue;
          const proto = (p.protocol ?? 'TCP').toLowerCase();
          add({ name: `_${p.name.toLowerCase()}._${proto}.${fqdn}`, ttl, class: 1, type: TYPE.SRV, priority: 0, weight: 100, port: p.port, target: host });
        }
      }
    }
  }
  for (const name of records.keys()) markName(names, name, domain);
  return { domain, soa, records, names };
}

function addAddress(add: (r: ZoneRecord) => void, name: string, ip: string, ttl: number): void {
  if (isIPv4(ip)) add({ name, ttl, class: 1, type: TYPE.A, address: ip });
  else if (isIPv6(ip)) add({ name, ttl, class: 1, type: TYPE.AAAA, address: ip });
}

function sameRecord(a: ZoneRecord, b: ZoneRecord): boolean {
  if (a.type !== b.type) return false;
  const { name: _an, ttl: _at, ...ra } = a;
  const { name: _bn, ttl: _bt, ...rb } = b;
  return JSON.stringify(ra) === JSON.stringify(rb);
}

/** Records `name` and each ancestor down to the apex (only for names inside the domain). */
function markName(names: Set<string>, name: string, domain: string): void {
  if (name !== domain && !name.endsWith(`.${domain}`)) {
    names.add(name);
    return;
  }
  let n = name;
  while (n.length >= domain.length) {
    names.add(n);
    if (n === domain) break;
    n = n.slice(n.indexOf('.') + 1);
  }
}

/** Whether `name` (normalized) is the domain or below it. */
export function inDomain(name: string, domain: string): boolean {
  return name === domain || name.endsWith(`.${domain}`);
}
