// NodeRestriction, the admission check that keeps a node to itself: it writes only its own Node
// (never the labels under node-restriction.kubernetes.io/, never its taints once registered), its
// own Lease, the status of pods bound to it, and deletes only those pods; it creates no pod but a
// mirror pod bound to itself that uses no Secret, ConfigMap or ServiceAccount.
import { ApiError } from '../../api/errors.js';
import type { ResourceInfo } from '../../api/resources.js';
import type { KubeObject } from '../../api/types.js';
import { PORTS_ANNOTATION } from '../../api/ports.js';
import { podReferences } from './node-authorizer.js';
import { nodeNameOf, type UserInfo } from './user.js';

export const RESTRICTED_LABEL_PREFIX = 'node-restriction.kubernetes.io/';
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';
const LEASE_NAMESPACE = 'kube-node-lease';

export interface NodeWrite {
  user: UserInfo;
  verb: 'create' | 'update' | 'patch' | 'delete';
  resource: ResourceInfo;
  subresource?: string;
  namespace: string;
  name: string;
  /** The object as it would be stored (create, update, patch). */
  object?: KubeObject;
  /** The object as stored now (update, patch, delete). */
  old?: KubeObject;
}

function denied(w: NodeWrite, node: string, why: string): ApiError {
  const qualified = w.resource.group ? `${w.resource.plural}.${w.resource.group}` : w.resource.plural;
  return new ApiError(403, 'Forbidden', `${qualified} "${w.name}" is forbidden: node "${node}" ${why}`, { name: w.name, ...(w.resource.group ? { group: w.resource.group } : {}), kind: w.resource.plural });
}

function restrictedLabels(obj: KubeObject | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(obj?.metadata?.labels ?? {}).filter(([k]) => k.startsWith(RESTRICTED_LABEL_PREFIX)));
}

/** The pod CIDRs a Node object names (podCIDR and podCIDRs), sorted and joined; '' for none. */
function podCidrsOf(obj: KubeObject | undefined): string {
  const spec = (obj?.spec ?? {}) as { podCIDR?: unknown; podCIDRs?: unknown };
  const all = [spec.podCIDR, ...(Array.isArray(spec.podCIDRs) ? spec.podCIDRs : [])].filter((c): c is string => typeof c === 'string' && c !== '');
  return [...new Set(all)].sort().join(',');
}

function checkNode(w: NodeWrite, node: string): void {
  const name = w.verb === 'create' ? (w.object?.metadata?.name ?? w.name) : w.name;
  if (name !== node) throw denied({ ...w, name }, node, `is not allowed to modify node "${name}"`);
  if (w.verb === 'delete') return;
  if (JSON.stringify(restrictedLabels(w.object)) !== JSON.stringify(restrictedLabels(w.old))) {
    throw denied(w, node, `is not allowed to modify labels: ${Object.keys({ ...restrictedLabels(w.object), ...restrictedLabels(w.old) }).join(', ')}`);
  }
  const taints = (o: KubeObject | undefined) => JSON.stringify((o?.spec as { taints?: unknown } | undefined)?.taints ?? []);
  if (w.old && taints(w.object) !== taints(w.old)) throw denied(w, node, 'is not allowed to modify taints');
  // Its pod CIDR is given by control: a node that chose one could take another node's pod traffic.
  // (A write that leaves it out is not choosing one: a stale copy gets its 409, validation the rest.)
  const wanted = podCidrsOf(w.object);
  if (wanted && wanted !== podCidrsOf(w.old)) throw denied(w, node, 'is not allowed to set its pod CIDR; control assigns it');
}

function checkPod(w: NodeWrite, node: string): void {
  if (w.verb === 'create' && !w.subresource) {
    const pod = w.object;
    if (!pod?.metadata?.annotations?.[MIRROR_POD_ANNOTATION]) throw denied(w, node, `can only create mirror pods (with the ${MIRROR_POD_ANNOTATION} annotation)`);
    if ((pod.spec as { nodeName?: string } | undefined)?.nodeName !== node) throw denied(w, node, `can only create pods with spec.nodeName set to itself`);
    const uses = podReferences(pod as never).filter((r) => !r.startsWith('serviceaccounts/'));
    if (uses.length || (pod.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName) throw denied(w, node, 'can not create pods that reference secrets, configmaps, persistentvolumeclaims or serviceaccounts');
    return;
  }
  const boundTo = (w.old?.spec as { nodeName?: string } | undefined)?.nodeName;
  if (boundTo !== node) throw denied(w, node, `can only ${w.verb === 'delete' ? 'delete' : 'update the status of'} pods bound to it; pod "${w.namespace}/${w.name}" is ${boundTo ? `bound to "${boundTo}"` : 'not bound'}`);
  // Beyond status, a node may set one thing on its pods: the node ports they were given.
  if ((w.verb === 'update' || w.verb === 'patch') && !w.subresource && JSON.stringify(withoutPorts(w.object)) !== JSON.stringify(withoutPorts(w.old))) {
    throw denied(w, node, `may change only the ${PORTS_ANNOTATION} annotation of a pod, and its status`);
  }
}

/** The pod with its ports annotation, resourceVersion and status left out: what a node may not change. */
function withoutPorts(pod: KubeObject | undefined): unknown {
  if (!pod) return undefined;
  const { resourceVersion: _rv, annotations, ...meta } = pod.metadata ?? {};
  const { [PORTS_ANNOTATION]: _ports, ...rest } = (annotations ?? {}) as Record<string, string>;
  const { status: _status, ...body } = pod;
  return JSON.parse(JSON.stringify({ ...body, metadata: { ...meta, annotations: rest } }));
}

/** Throws Forbidden when a node's write reaches beyond itself; other users pass untouched. */
export function checkNodeRestriction(w: NodeWrite): void {
  const node = nodeNameOf(w.user);
  if (!node) return;
  const r = w.resource;
  if (r.group === '' && r.kind === 'Node') checkNode(w, node);
  else if (r.group === '' && r.kind === 'Pod') checkPod(w, node);
  else if (r.group === 'coordination.k8s.io' && r.kind === 'Lease') {
    const name = w.verb === 'create' ? (w.object?.metadata?.name ?? w.name) : w.name;
    if (w.namespace !== LEASE_NAMESPACE || name !== node) throw denied({ ...w, name }, node, `can only write its own Lease (${LEASE_NAMESPACE}/${node})`);
  }
}
