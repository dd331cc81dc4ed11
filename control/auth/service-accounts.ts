// ServiceAccounts as pods meet them. Every namespace has a `default` ServiceAccount and the
// `kube-root-ca.crt` ConfigMap holding the cluster CA (kept in place by one loop, as the
// serviceaccounts and root-ca-cert-publisher controllers do). A new pod runs as its
// serviceAccountName (`default` unless given), which must exist, and unless automounting is
// turned off it gets the `kube-api-access-*` projected volume at
// /var/run/secrets/kubernetes.io/serviceaccount: a token bound to the pod, the CA, its namespace.
import { randomInt } from 'node:crypto';
import { ApiError } from '../../api/errors.js';
import { resourceOfKind } from '../../api/resources.js';
import type { KubeObject } from '../../api/types.js';
import type { Registry } from '../apiserver/registry.js';
import { WorkQueue } from '../controllers/queue.js';
import type { StoreWatch } from '../store/index.js';
import { MIRROR_POD_ANNOTATION } from './node-restriction.js';

const NAMESPACE = resourceOfKind('Namespace');
const SERVICE_ACCOUNT = resourceOfKind('ServiceAccount');
const CONFIG_MAP = resourceOfKind('ConfigMap');
export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
export const SERVICE_ACCOUNT_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
/** What kubelet asks for: just over an hour, renewed at 80%. */
export const PROJECTED_TOKEN_SECONDS = 3607;

type Obj = Record<string, any>;

function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return Array.from({ length: 5 }, () => alphabet[randomInt(alphabet.length)]).join('');
}

/** The projected volume Kubernetes gives every pod that automounts its ServiceAccount token. */
export function apiAccessVolume(name: string): Obj {
  return {
    name,
    projected: {
      defaultMode: 0o644,
      sources: [
        { serviceAccountToken: { expirationSeconds: PROJECTED_TOKEN_SECONDS, path: 'token' } },
        { configMap: { name: ROOT_CA_CONFIGMAP, items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
    },
  };
}

async function ensureDefaultServiceAccount(registry: Registry, namespace: string): Promise<KubeObject> {
  try {
    return await registry.get(SERVICE_ACCOUNT, namespace, 'default');
  } catch {
    return registry.create(SERVICE_ACCOUNT, namespace, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace } }).catch((e) => {
      if ((e as { code?: number }).code === 409) return registry.get(SERVICE_ACCOUNT, namespace, 'default');
      throw e;
    });
  }
}

/**
 * The ServiceAccount admission step for a new pod: names its ServiceAccount, refuses one that does
 * not exist, and adds the API access volume and its mounts. Mirror pods are left alone.
 */
export async function admitPodServiceAccount(registry: Registry, pod: KubeObject, namespace: string): Promise<KubeObject> {
  const spec = pod.spec as Obj | undefined;
  if (!spec || typeof spec !== 'object' || pod.metadata?.annotations?.[MIRROR_POD_ANNOTATION]) return pod;
  const name = (typeof spec.serviceAccountName === 'string' && spec.serviceAccountName) || (typeof spec.serviceAccount === 'string' && spec.serviceAccount) || 'default';
  spec.serviceAccountName = name;
  spec.serviceAccount = name;
  let sa: KubeObject;
  try {
    // A namespace made a moment ago may not have its default ServiceAccount yet.
    sa = name === 'default' ? await ensureDefaultServiceAccount(registry, namespace) : await registry.get(SERVICE_ACCOUNT, namespace, name);
  } catch {
    const podName = pod.metadata?.name ?? pod.metadata?.generateName ?? '';
    throw new ApiError(403, 'Forbidden', `pods "${podName}" is forbidden: error looking up service account ${namespace}/${name}: serviceaccount "${name}" not found`, { name: podName, kind: 'pods' });
  }
  const automount = spec.automountServiceAccountToken ?? (sa.automountServiceAccountToken as boolean | undefined) ?? true;
  if (!automount) return pod;
  const containers = [spec.initContainers, spec.containers].flatMap((l) => (Array.isArray(l) ? l : [])) as Obj[];
  if (containers.some((c) => (c?.volumeMounts ?? []).some((m: Obj) => m?.mountPath === SERVICE_ACCOUNT_MOUNT))) return pod;
  const volume = apiAccessVolume(`kube-api-access-${randomSuffix()}`);
  spec.volumes = [...(Array.isArray(spec.volumes) ? spec.volumes : []), volume];
  for (const c of containers) {
    if (c && typeof c === 'object') c.volumeMounts = [...(Array.isArray(c.volumeMounts) ? c.volumeMounts : []), { name: volume.name, mountPath: SERVICE_ACCOUNT_MOUNT, readOnly: true }];
  }
  return pod;
}

/** The CA bundle to publish, and a way to hear when it changes (a CA rotation). */
export interface CaPublisher {
  bundle(): string;
  onChange(listener: () => void): void;
}

/** Keeps `default` and `kube-root-ca.crt` in every active namespace until `signal` aborts. */
export async function runNamespaceDefaults(registry: Registry, ca: CaPublisher, signal: AbortSignal, log: (m: string) => void): Promise<void> {
  const queue = new WorkQueue();
  const watches: StoreWatch[] = [];
  for (const [r, interesting] of [
    [NAMESPACE, () => true],
    [SERVICE_ACCOUNT, (o: KubeObject) => o.metadata.name === 'default'],
    [CONFIG_MAP, (o: KubeObject) => o.metadata.name === ROOT_CA_CONFIGMAP],
  ] as const) {
    const { items, revision } = await registry.list(r, undefined);
    for (const o of items) if (interesting(o)) queue.add(o.metadata.namespace ?? o.metadata.name!);
    watches.push(registry.watch(r, undefined, revision, {}, (e) => interesting(e.object) && queue.add(e.object.metadata.namespace ?? e.object.metadata.name!)));
  }
  // A new bundle goes to every namespace.
  ca.onChange(() => {
    void registry.list(NAMESPACE, undefined).then(({ items }) => items.forEach((n) => queue.add(n.metadata.name!)), () => undefined);
  });
  const reconcile = async (namespace: string) => {
    const caCert = ca.bundle();
    const ns = await registry.get(NAMESPACE, undefined, namespace).catch(() => undefined);
    if (!ns || ns.metadata.deletionTimestamp) return;
    await ensureDefaultServiceAccount(registry, namespace);
    const cm = await registry.get(CONFIG_MAP, namespace, ROOT_CA_CONFIGMAP).catch(() => undefined);
    const data = { 'ca.crt': caCert };
    if (!cm) {
      await registry.create(CONFIG_MAP, namespace, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ROOT_CA_CONFIGMAP, namespace }, data }).catch((e) => {
        if ((e as { code?: number }).code !== 409) throw e;
      });
    } else if ((cm.data as Record<string, string> | undefined)?.['ca.crt'] !== caCert) {
      await registry.modify(CONFIG_MAP, namespace, ROOT_CA_CONFIGMAP, (cur) => ({ ...cur, data }));
    }
  };
  try {
    await queue.run(reconcile, signal, (key, e) => {
      if (!signal.aborted) log(`namespace defaults for ${key}: ${(e as Error).message}`);
    });
  } finally {
    for (const w of watches) w.stop();
  }
}
