// The Node authorizer: what a node (`system:node:<name>` in system:nodes) may read is decided by
// the pods bound to it. It may get a Secret, ConfigMap or PersistentVolumeClaim only while a pod
// on it uses that object, and request a token only for the ServiceAccount of such a pod; beyond
// that, the fixed node rules (its pods, Services, Endpoints, Leases, events, its Node) apply.
// The pod index follows the store's own watch, so a pod bound a moment ago already counts.
import { resourceOfKind } from '../../api/resources.js';
import type { KubeObject, Pod } from '../../api/types.js';
import type { StoreWatch } from '../store/index.js';
import type { Registry } from '../apiserver/registry.js';
import type { Attributes } from './attributes.js';
import { NODE_RULES } from './policy.js';
import { ruleAllows } from './rbac.js';
import type { Decision } from './rbac-cache.js';
import { nodeNameOf, type UserInfo } from './user.js';

const POD = resourceOfKind('Pod');
/** Resources a node reads only through its pods, and the verbs it may read them with. */
const GRAPH_RESOURCES = new Set(['secrets', 'configmaps', 'persistentvolumeclaims']);
const READ_VERBS = new Set(['get', 'list', 'watch']);

type Obj = Record<string, any>;

/** `secrets/ns/name`, `configmaps/ns/name`, ... for every object a pod's spec refers to. */
export function podReferences(pod: Pod): string[] {
  const ns = pod.metadata.namespace ?? 'default';
  const spec = (pod.spec ?? {}) as Obj;
  const refs = new Set<string>([`serviceaccounts/${ns}/${spec.serviceAccountName || spec.serviceAccount || 'default'}`]);
  const add = (resource: string, name: unknown) => {
    if (typeof name === 'string' && name) refs.add(`${resource}/${ns}/${name}`);
  };
  for (const v of (Array.isArray(spec.volumes) ? spec.volumes : []) as Obj[]) {
    add('secrets', v?.secret?.secretName);
    add('configmaps', v?.configMap?.name);
    add('persistentvolumeclaims', v?.persistentVolumeClaim?.claimName);
    for (const source of (Array.isArray(v?.projected?.sources) ? v.projected.sources : []) as Obj[]) {
      add('secrets', source?.secret?.name);
      add('configmaps', source?.configMap?.name);
    }
  }
  const containers = [spec.containers, spec.initContainers, spec.ephemeralContainers].flatMap((l) => (Array.isArray(l) ? l : [])) as Obj[];
  for (const c of containers) {
    for (const e of (Array.isArray(c?.env) ? c.env : []) as Obj[]) {
      add('secrets', e?.valueFrom?.secretKeyRef?.name);
      add('configmaps', e?.valueFrom?.configMapKeyRef?.name);
    }
    for (const e of (Array.isArray(c?.envFrom) ? c.envFrom : []) as Obj[]) {
      add('secrets', e?.secretRef?.name);
      add('configmaps', e?.configMapRef?.name);
    }
  }
  for (const s of (Array.isArray(spec.imagePullSecrets) ? spec.imagePullSecrets : []) as Obj[]) add('secrets', s?.name);
  return [...refs];
}

export class NodeAuthorizer {
  /** Object key → node → how many of that node's pods refer to it. */
  private readonly related = new Map<string, Map<string, number>>();
  /** Pod key → its node and references, as last indexed. */
  private readonly pods = new Map<string, { node: string; refs: string[] }>();
  private watch?: StoreWatch;

  constructor(private readonly registry: Registry) {}

  async start(): Promise<void> {
    const { items, revision } = await this.registry.list(POD, undefined);
    for (const p of items) this.index(p as Pod);
    this.watch = this.registry.watch(POD, undefined, revision, {}, (e) => (e.type === 'DELETED' ? this.unindex(e.object) : this.index(e.object as Pod)));
  }

  stop(): void {
    this.watch?.stop();
  }

  private index(pod: Pod): void {
    this.unindex(pod);
    const node = pod.spec?.nodeName;
    if (!node) return;
    const refs = podReferences(pod);
    this.pods.set(`${pod.metadata.namespace}/${pod.metadata.name}`, { node, refs });
    for (const ref of refs) {
      let nodes = this.related.get(ref);
      if (!nodes) this.related.set(ref, (nodes = new Map()));
      nodes.set(node, (nodes.get(node) ?? 0) + 1);
    }
  }

  private unindex(pod: KubeObject): void {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const old = this.pods.get(key);
    if (!old) return;
    this.pods.delete(key);
    for (const ref of old.refs) {
      const nodes = this.related.get(ref)!;
      const n = (nodes.get(old.node) ?? 1) - 1;
      if (n > 0) nodes.set(old.node, n);
      else nodes.delete(old.node);
      if (nodes.size === 0) this.related.delete(ref);
    }
  }

  /** Whether a pod on `node` refers to `resource` `namespace/name`. */
  relates(node: string, resource: string, namespace: string, name: string): boolean {
    return (this.related.get(`${resource}/${namespace}/${name}`)?.get(node) ?? 0) > 0;
  }

  /** Whether `node` runs the pod `namespace/name`. */
  runs(node: string, namespace: string, name: string): boolean {
    return this.pods.get(`${namespace}/${name}`)?.node === node;
  }

  /** A decision for node users; undefined (no opinion) for everyone else and for what nodes are not granted. */
  authorize(user: UserInfo, a: Attributes): Decision | undefined {
    const node = nodeNameOf(user);
    if (!node) return undefined;
    if (a.resourceRequest && a.apiGroup === '' && GRAPH_RESOURCES.has(a.resource) && !a.subresource) {
      if (!READ_VERBS.has(a.verb) || !a.name || !this.relates(node, a.resource, a.namespace, a.name)) return undefined;
      return { allowed: true, reason: `Node: a pod on node "${node}" uses ${a.resource} "${a.namespace}/${a.name}"` };
    }
    if (a.resourceRequest && a.apiGroup === '' && a.resource === 'serviceaccounts' && a.subresource === 'token') {
      if (a.verb !== 'create' || !this.relates(node, 'serviceaccounts', a.namespace, a.name)) return undefined;
      return { allowed: true, reason: `Node: a pod on node "${node}" runs as ServiceAccount "${a.namespace}/${a.name}"` };
    }
    return NODE_RULES.some((r) => ruleAllows(r, a)) ? { allowed: true, reason: 'Node: allowed to nodes' } : undefined;
  }
}
