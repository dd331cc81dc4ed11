// Prometheus HTTP service discovery (`GET /sd/prometheus`): control's own metrics target and
// every node's (the address the node publishes in its metrics-address annotation), in the
// http_sd JSON shape. Control serves HTTPS with a token and nodes plain HTTP, so a scrape config
// wants one job per role; `?role=` lets each job ask for its own targets.
import { METRICS_ADDRESS_ANNOTATION } from '../../api/annotations.js';
import { errors } from '../../api/errors.js';
import type { Node } from '../../api/types.js';

export const SD_ROLES = ['control', 'node'] as const;
export type SdRole = (typeof SD_ROLES)[number];

/** One http_sd entry: https://prometheus.io/docs/prometheus/latest/http_sd/ */
export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

export interface ControlTarget {
  /** host:port of control's /metrics (its API address). */
  address: string;
  /** The machine control runs on, for the `node` label. */
  name: string;
}

/**
 * The target groups for the given role (both when none): control first (when it serves metrics),
 * then the nodes by name. Nodes without a published address, or being deleted, have nothing to scrape.
 */
export function prometheusTargets(nodes: readonly Node[], control: ControlTarget | undefined, role?: SdRole): TargetGroup[] {
  const groups: TargetGroup[] = [];
  if (control && role !== 'node') groups.push({ targets: [control.address], labels: { node: control.name, role: 'control' } });
  if (role === 'control') return groups;
  const scrapable = nodes
    .filter((n) => !n.metadata.deletionTimestamp && n.metadata.annotations?.[METRICS_ADDRESS_ANNOTATION])
    .sort((a, b) => (a.metadata.name! < b.metadata.name! ? -1 : a.metadata.name! > b.metadata.name! ? 1 : 0));
  for (const n of scrapable) {
    groups.push({ targets: [n.metadata.annotations![METRICS_ADDRESS_ANNOTATION]], labels: { node: n.metadata.name!, role: 'node' } });
  }
  return groups;
}

/**
 * The role asked for in a raw query string (`role=node`), strictly: an unknown parameter, a
 * repeated or empty one, bad percent-encoding or an unknown role is a 400 naming the parameter,
 * so a typo in a scrape config fails loudly instead of returning every target.
 */
export function parseSdQuery(rawQuery: string): SdRole | undefined {
  let role: SdRole | undefined;
  for (const pair of rawQuery.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawKey = eq < 0 ? pair : pair.slice(0, eq);
    const key = decodeParam(rawKey, rawKey);
    const value = eq < 0 ? '' : decodeParam(key, pair.slice(eq + 1));
    if (key !== 'role') throw errors.badRequest(`the query parameter "${key}" is not known here; the only one is role (${SD_ROLES.join(' or ')})`);
    if (role !== undefined) throw errors.badRequest('the query parameter "role" is given more than once; give it once');
    if (!(SD_ROLES as readonly string[]).includes(value)) throw errors.badRequest(`the query parameter "role" is "${value}"; use ${SD_ROLES.join(' or ')}, or leave it out for every target`);
    role = value as SdRole;
  }
  return role;
}

function decodeParam(name: string, raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    throw errors.badRequest(`the query parameter "${name}" is not valid percent-encoding; escape "%" as %25`);
  }
}
