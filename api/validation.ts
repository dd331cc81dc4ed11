// Validation of API objects before they are stored: one StatusCause per problem, each naming the
// field path, a Kubernetes reason and what is allowed. The API server turns a non-empty list into
// a 422 with `errors.invalid(kind, name, causes)`. The per-kind rules live in validation/.

import type { StatusCause } from './errors.js';
import type { ResourceInfo } from './resources.js';
import type { KubeObject } from './types.js';
import { validateWorkload } from './validation/apps.js';
import { cause, checkArray, checkEnum, checkObject, checkString, checkSyntax, type Causes } from './validation/causes.js';
import { validateConfigMap, validateSecret } from './validation/config.js';
import { validateObjectMeta } from './validation/meta.js';
import { validatePodSpec } from './validation/pod.js';
import { tryParseCidr } from './cidr.js';
import { validateNetworkPolicy } from './validation/networkpolicy.js';
import { validateAuthorizationPolicy } from './validation/authorizationpolicy.js';
import { isDNS1035Label, isDNS1123Label, isDNS1123Subdomain, isQualifiedName } from './validation/names.js';
import { validateCertificateSigningRequest } from './validation/certificates.js';
import { isPathSegmentName, validateRbac } from './validation/rbac.js';
import { validateService } from './validation/service.js';

export { validatePodSpec };
export {
  isConfigMapKey,
  isDNS1035Label,
  isDNS1123Label,
  isDNS1123Subdomain,
  isEnvVarName,
  isIPv4,
  isQualifiedName,
  isValidLabelValue,
  isValidPortName,
  isValidPortNum,
} from './validation/names.js';

/** The syntax a kind's names must follow. */
export function nameCheckFor(kind: string): (name: string) => string[] {
  if (kind === 'Namespace') return isDNS1123Label;
  // Service names become DNS labels (`<svc>.<ns>.svc`) and env var prefixes, so they start with a letter.
  if (kind === 'Service') return isDNS1035Label;
  if (['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding'].includes(kind)) return isPathSegmentName;
  return isDNS1123Subdomain;
}

/**
 * Validates `obj` (after defaulting) as a `resource`; `old` is the stored object on update.
 * Returns no causes when the object is valid.
 */
export function validateObject(resource: ResourceInfo, obj: KubeObject, old?: KubeObject): StatusCause[] {
  const causes = validateObjectMeta(obj.metadata, { namespaced: resource.namespaced, nameCheck: nameCheckFor(resource.kind) });
  switch (resource.kind) {
    case 'Pod':
      causes.push(...validatePodSpec(obj.spec, 'spec'));
      break;
    case 'Deployment':
    case 'ReplicaSet':
      causes.push(...validateWorkload(resource.kind, obj, old));
      break;
    case 'Service':
      causes.push(...validateService(obj, old));
      break;
    case 'ConfigMap':
      causes.push(...validateConfigMap(obj, old));
      break;
    case 'Secret':
      causes.push(...validateSecret(obj, old));
      break;
    case 'Namespace':
      validateNamespace(causes, obj);
      break;
    case 'Node':
      validateNode(causes, obj, old);
      break;
    case 'CertificateSigningRequest':
      causes.push(...validateCertificateSigningRequest(obj, old));
      break;
    case 'NetworkPolicy':
      causes.push(...validateNetworkPolicy(obj));
      break;
    case 'AuthorizationPolicy':
      causes.push(...validateAuthorizationPolicy(obj));
      break;
    case 'Role':
    case 'ClusterRole':
    case 'RoleBinding':
    case 'ClusterRoleBinding':
      causes.push(...validateRbac(resource.kind, obj, old));
      break;
  }
  return causes;
}

function validateNamespace(causes: Causes, obj: KubeObject): void {
  if (!checkObject(causes, 'spec', obj.spec)) return;
  checkArray(causes, 'spec.finalizers', obj.spec.finalizers).forEach((f, i) => {
    if (checkString(causes, `spec.finalizers[${i}]`, f, { required: true })) checkSyntax(causes, `spec.finalizers[${i}]`, f, isQualifiedName);
  });
}

function isIPv4Cidr(value: string): boolean {
  return tryParseCidr(value) !== undefined;
}

/** podCIDR(s): valid CIDRs, the first of the list the same as podCIDR, and never changed once set (but from none). */
function validatePodCidrs(causes: Causes, obj: KubeObject, old: KubeObject | undefined): void {
  const spec = obj.spec as Record<string, unknown>;
  const cidr = spec.podCIDR;
  if (cidr !== undefined && cidr !== '' && checkString(causes, 'spec.podCIDR', cidr) && !isIPv4Cidr(cidr)) {
    causes.push(cause.invalid('spec.podCIDR', cidr, 'must be a valid CIDR, for example 198.19.1.0/24'));
  }
  const list = checkArray(causes, 'spec.podCIDRs', spec.podCIDRs);
  list.forEach((c, i) => {
    if (checkString(causes, `spec.podCIDRs[${i}]`, c, { required: true }) && !isIPv4Cidr(c)) causes.push(cause.invalid(`spec.podCIDRs[${i}]`, c, 'must be a valid CIDR, for example 198.19.1.0/24'));
  });
  if (list.length && cidr && list[0] !== cidr) causes.push(cause.invalid('spec.podCIDRs', list, 'the first entry must match spec.podCIDR'));
  const before = (old?.spec as { podCIDRs?: unknown } | undefined)?.podCIDRs;
  if (Array.isArray(before) && before.length && JSON.stringify(before) !== JSON.stringify(spec.podCIDRs ?? [])) {
    causes.push(cause.forbidden('spec.podCIDRs', 'node updates may not change podCIDR except from "" to valid'));
  }
}

function validateNode(causes: Causes, obj: KubeObject, old?: KubeObject): void {
  if (!checkObject(causes, 'spec', obj.spec)) return;
  validatePodCidrs(causes, obj, old);
  if (obj.spec.unschedulable !== undefined && typeof obj.spec.unschedulable !== 'boolean') {
    causes.push(cause.typeInvalid('spec.unschedulable', obj.spec.unschedulable, 'boolean'));
  }
  checkArray(causes, 'spec.taints', obj.spec.taints).forEach((t, i) => {
    const p = `spec.taints[${i}]`;
    if (!checkObject(causes, p, t, { required: true })) return;
    if (checkString(causes, `${p}.key`, t.key, { required: true })) checkSyntax(causes, `${p}.key`, t.key, isQualifiedName);
    if (t.effect === undefined || t.effect === null || t.effect === '') causes.push(cause.required(`${p}.effect`));
    else checkEnum(causes, `${p}.effect`, t.effect, ['NoSchedule', 'PreferNoSchedule', 'NoExecute']);
  });
}
