// API discovery documents: /version, /api, /apis (plain and aggregated v2, which kubectl 1.32
// asks for first), and the per-group-version APIResourceLists.
import { RESOURCES, groupVersions, verbsOf, type ResourceInfo } from '../../api/resources.js';

export const AGGREGATED_DISCOVERY_TYPE = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

export function versionInfo(): Record<string, string> {
  // Minor "32" makes the installed kubectl dispatcher choose its 1.32 client.
  return {
    major: '1',
    minor: '32',
    gitVersion: 'v1.32.0-tugboat',
    gitCommit: 'tugboat',
    gitTreeState: 'clean',
    buildDate: '2026-01-01T00:00:00Z',
    goVersion: 'go1.23',
    compiler: 'gc',
    platform: `linux/${process.arch === 'x64' ? 'amd64' : process.arch}`,
  };
}

function subresourceKind(r: ResourceInfo, sub: string): { group: string; version: string; kind: string } {
  if (sub === 'scale') return { group: 'autoscaling', version: 'v1', kind: 'Scale' };
  if (sub === 'exec') return { group: '', version: 'v1', kind: 'PodExecOptions' };
  // kubectl drain evicts only when pods/eviction names its group and version (policy/v1).
  if (sub === 'eviction') return { group: 'policy', version: 'v1', kind: 'Eviction' };
  if (sub === 'token') return { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest' };
  return { group: r.group, version: r.version, kind: r.kind };
}

function subresourceVerbs(sub: string): string[] {
  if (sub === 'log') return ['get'];
  if (sub === 'exec') return ['create', 'get'];
  if (sub === 'eviction' || sub === 'token') return ['create'];
  return ['get', 'patch', 'update'];
}

export function apiVersions(serverAddress: string) {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

export function apiGroupList() {
  const groups = groupVersions()
    .filter((gv) => gv.group)
    .map((gv) => {
      const groupVersion = { groupVersion: `${gv.group}/${gv.version}`, version: gv.version };
      return { name: gv.group, versions: [groupVersion], preferredVersion: groupVersion };
    });
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

export function apiGroup(group: string) {
  const gv = groupVersions().find((g) => g.group === group);
  if (!gv) return undefined;
  const groupVersion = { groupVersion: `${gv.group}/${gv.version}`, version: gv.version };
  return { kind: 'APIGroup', apiVersion: 'v1', name: group, versions: [groupVersion], preferredVersion: groupVersion };
}

export function apiResourceList(group: string, version: string) {
  const inGroup = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (!inGroup.length) return undefined;
  const resources = inGroup.flatMap((r) => [
    {
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: verbsOf(r),
      ...(r.shortNames ? { shortNames: r.shortNames } : {}),
      ...(r.categories ? { categories: r.categories } : {}),
    },
    ...(r.subresources ?? []).map((sub) => {
      const k = subresourceKind(r, sub);
      return {
        name: `${r.plural}/${sub}`,
        singularName: '',
        namespaced: r.namespaced,
        ...(k.group !== r.group ? { group: k.group, version: k.version } : {}),
        kind: k.kind,
        verbs: subresourceVerbs(sub),
      };
    }),
  ]);
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
}

/** The aggregated discovery document for `/api` (core) or `/apis` (named groups). */
export function aggregatedDiscovery(core: boolean) {
  const items = groupVersions()
    .filter((gv) => (core ? !gv.group : !!gv.group))
    .map((gv) => ({
      metadata: { name: gv.group },
      versions: [
        {
          version: gv.version,
          freshness: 'Current',
          resources: RESOURCES.filter((r) => r.group === gv.group && r.version === gv.version).map((r) => ({
            resource: r.plural,
            responseKind: { group: r.group, version: r.version, kind: r.kind },
            scope: r.namespaced ? 'Namespaced' : 'Cluster',
            singularResource: r.singular,
            verbs: verbsOf(r),
            ...(r.shortNames ? { shortNames: r.shortNames } : {}),
            ...(r.categories ? { categories: r.categories } : {}),
            subresources: (r.subresources ?? []).map((sub) => ({
              subresource: sub,
              responseKind: subresourceKind(r, sub),
              verbs: subresourceVerbs(sub),
            })),
          })),
        },
      ],
    }));
  return { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items };
}

export function wantsAggregated(accept: string | undefined): boolean {
  return !!accept && accept.includes('as=APIGroupDiscoveryList') && accept.includes('v=v2') && accept.indexOf('g=apidiscovery.k8s.io') >= 0;
}

