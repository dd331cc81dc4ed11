// A container's environment as Kubernetes builds it: service links, envFrom, env with
// valueFrom (ConfigMap and Secret keys, pod fields), plus tugboat's PORT variables. A missing
// ConfigMap, Secret or key is a CreateContainerConfigError that names it.
import type { Container, KubeObject, Pod, Service, ServiceSpec } from '../api/types.js';

export class ContainerConfigError extends Error {}

export interface EnvSources {
  configMap(namespace: string, name: string): Promise<KubeObject | undefined>;
  secret(namespace: string, name: string): Promise<KubeObject | undefined>;
  /** Services of the pod's namespace, for the `<SVC>_SERVICE_HOST` variables. */
  services(namespace: string): Service[];
  /** A token for the pod's ServiceAccount bound to the pod, and when to ask for a new one (ms). */
  serviceAccountToken(pod: Pod, audience: string | undefined, expirationSeconds: number): Promise<{ token: string; refreshAt: number }>;
}

function envName(service: string): string {
  return service.toUpperCase().replace(/-/g, '_');
}

/** Kubernetes' service link variables for every Service with a ClusterIP in the namespace. */
export function serviceEnv(services: Service[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const svc of services) {
    const spec = svc.spec as ServiceSpec;
    const ip = spec?.clusterIP;
    if (!ip || ip === 'None' || !spec.ports?.length) continue;
    const name = envName(svc.metadata.name!);
    const first = spec.ports[0];
    env[`${name}_SERVICE_HOST`] = ip;
    env[`${name}_SERVICE_PORT`] = String(first.port);
    for (const p of spec.ports) {
      if (p.name) env[`${name}_SERVICE_PORT_${envName(p.name)}`] = String(p.port);
      const proto = (p.protocol ?? 'TCP').toLowerCase();
      const prefix = `${name}_PORT_${p.port}_${proto.toUpperCase()}`;
      env[prefix] = `${proto}://${ip}:${p.port}`;
      env[`${prefix}_PROTO`] = proto;
      env[`${prefix}_PORT`] = String(p.port);
      env[`${prefix}_ADDR`] = ip;
    }
    env[`${name}_PORT`] = `${(first.protocol ?? 'TCP').toLowerCase()}://${ip}:${first.port}`;
  }
  return env;
}

function decode(value: string | undefined, base64: boolean): string | undefined {
  if (value === undefined) return undefined;
  return base64 ? Buffer.from(value, 'base64').toString('utf8') : value;
}

function fieldValue(pod: Pod, path: string, ips: { podIP: string; hostIP: string }): string | undefined {
  switch (path) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace;
    case 'metadata.uid':
      return pod.metadata.uid;
    case 'spec.nodeName':
      return pod.spec.nodeName;
    case 'spec.serviceAccountName':
      return (pod.spec.serviceAccountName as string | undefined) ?? 'default';
    case 'status.podIP':
      return ips.podIP;
    case 'status.hostIP':
      return ips.hostIP;
  }
  const label = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (label) return (pod.metadata[label[1] as 'labels' | 'annotations'] ?? {})[label[2]];
  return undefined;
}

/**
 * The full environment of one container. Later entries win, as in Kubernetes: service links,
 * then envFrom, then env; tugboat's own (PORT, HOSTNAME) come first so a pod may override them.
 */
export async function containerEnv(pod: Pod, container: Container, base: Record<string, string>, sources: EnvSources, ips: { podIP: string; hostIP: string }): Promise<Record<string, string>> {
  const ns = pod.metadata.namespace ?? 'default';
  const env: Record<string, string> = { ...base };
  if (pod.spec.enableServiceLinks !== false) Object.assign(env, serviceEnv(sources.services(ns)));
  // Every pod finds the API, whatever its namespace and enableServiceLinks, as in-cluster clients expect.
  const api = sources.services('default').find((s) => s.metadata.name === 'kubernetes');
  const apiEnv = api ? serviceEnv([api]) : {};
  for (const key of ['KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'KUBERNETES_SERVICE_PORT_HTTPS']) if (apiEnv[key]) env[key] = apiEnv[key];

  for (const from of container.envFrom ?? []) {
    const prefix = (from.prefix as string | undefined) ?? '';
    const ref = (from.configMapRef ?? from.secretRef) as { name?: string; optional?: boolean } | undefined;
    if (!ref?.name) continue;
    const isSecret = !!from.secretRef;
    const obj = isSecret ? await sources.secret(ns, ref.name) : await sources.configMap(ns, ref.name);
    if (!obj) {
      if (ref.optional) continue;
      throw new ContainerConfigError(`${isSecret ? 'secret' : 'configmap'} "${ref.name}" not found`);
    }
    for (const [k, v] of Object.entries((obj.data ?? {}) as Record<string, string>)) env[prefix + k] = decode(v, isSecret) ?? '';
  }

  for (const e of container.env ?? []) {
    if (e.valueFrom === undefined) {
      env[e.name] = expand(e.value ?? '', env);
      continue;
    }
    const from = e.valueFrom;
    if (from.fieldRef) {
      const value = fieldValue(pod, from.fieldRef.fieldPath, ips);
      if (value === undefined) throw new ContainerConfigError(`env ${e.name}: fieldRef "${from.fieldRef.fieldPath}" is not supported`);
      env[e.name] = value;
    } else if (from.configMapKeyRef || from.secretKeyRef) {
      const isSecret = !!from.secretKeyRef;
      const ref = (from.configMapKeyRef ?? from.secretKeyRef) as { name: string; key: string; optional?: boolean };
      const kind = isSecret ? 'secret' : 'configmap';
      const obj = isSecret ? await sources.secret(ns, ref.name) : await sources.configMap(ns, ref.name);
      const value = decode(((obj?.data ?? {}) as Record<string, string>)[ref.key], isSecret);
      if (value === undefined) {
        if (ref.optional) continue;
        throw new ContainerConfigError(obj ? `couldn't find key ${ref.key} in ${kind} ${ns}/${ref.name}` : `${kind} "${ref.name}" not found`);
      }
      env[e.name] = value;
    } else if (from.resourceFieldRef) {
      continue;
    }
  }
  return env;
}

/** Kubernetes `$(VAR)` expansion in env values; `$$(VAR)` escapes. */
export function expand(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return name !== undefined && env[name] !== undefined ? env[name] : m;
  });
}
