// Fields tugboat stores but does not act on, where ignoring them would change what the user
// gets. The API server accepts such objects and says so in a `Warning:` header, which kubectl
// prints, instead of ignoring the field silently.
import type { ResourceInfo } from './resources.js';
import type { KubeObject, PodSpec, ServiceSpec } from './types.js';

const POD_FIELDS: [keyof PodSpec, string][] = [
  ['affinity', 'node and pod affinity are not used by the tugboat scheduler'],
  ['topologySpreadConstraints', 'pods are spread by the scheduler\'s own "spread" scoring instead'],
  ['tolerations', 'tolerations are stored, but only the unschedulable taint is enforced'],
  ['securityContext', 'pod security settings (users, groups, sysctls) are not applied'],
  ['priorityClassName', 'pod priority and preemption are not implemented'],
  ['hostIPC', 'hostIPC is not applied'],
  ['hostPID', 'hostPID is not applied'],
];

const SUPPORTED_VOLUMES = new Set(['name', 'emptyDir', 'hostPath', 'configMap', 'secret', 'projected', 'downwardAPI']);

function podSpecWarnings(spec: PodSpec | undefined, path: string): string[] {
  if (!spec || typeof spec !== 'object') return [];
  const out: string[] = [];
  for (const [field, why] of POD_FIELDS) {
    const value = spec[field];
    if (value === undefined || value === null) continue;
    if (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0) continue;
    if (Array.isArray(value) && value.length === 0) continue;
    out.push(`${path}.${String(field)}: ${why}`);
  }
  (Array.isArray(spec.volumes) ? spec.volumes : []).forEach((v, i) => {
    const kinds = Object.keys(v ?? {}).filter((k) => !SUPPORTED_VOLUMES.has(k));
    if (kinds.length) out.push(`${path}.volumes[${i}].${kinds[0]}: only emptyDir, hostPath, configMap, secret, downwardAPI and projected volumes are mounted`);
  });
  (Array.isArray(spec.containers) ? spec.containers : []).forEach((c, i) => {
    if (c?.securityContext && Object.keys(c.securityContext as object).length) {
      out.push(`${path}.containers[${i}].securityContext: container security settings are not applied`);
    }
  });
  return out;
}

/** Human-readable warnings for fields of `obj` that tugboat keeps but does not enforce. */
export function unenforcedFieldWarnings(r: ResourceInfo, obj: KubeObject): string[] {
  const spec = obj.spec as Record<string, unknown> | undefined;
  switch (r.kind) {
    case 'Pod':
      return podSpecWarnings(spec as PodSpec | undefined, 'spec');
    case 'Deployment':
    case 'ReplicaSet':
      return podSpecWarnings((spec?.template as { spec?: PodSpec } | undefined)?.spec, 'spec.template.spec');
    case 'Service': {
      const s = spec as ServiceSpec | undefined;
      const out: string[] = [];
      if (s?.type === 'LoadBalancer') out.push('spec.type: LoadBalancer is served like NodePort; no external load balancer is provisioned');
      if (s?.externalTrafficPolicy === 'Local') out.push('spec.externalTrafficPolicy: Local is not enforced; traffic may go to any node\'s endpoints');
      return out;
    }
    case 'AuthorizationPolicy':
      return ['AuthorizationPolicy is stored and validated, but the node proxies do not enforce it yet: it does not protect any workload'];
    default:
      return [];
  }
}

/** The header value Kubernetes uses: `299 - "<text>"`. */
export function warningHeader(text: string): string {
  return `299 - "${text.replace(/["\\]/g, '\\$&')}"`;
}
