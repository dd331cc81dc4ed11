// Validation of RBAC objects (rbac.authorization.k8s.io/v1) as Kubernetes does it: names are any
// path segment (so `system:node` is fine), every rule has verbs, a rule names either resources or
// non-resource URLs, a binding's roleRef is required and cannot change, and subjects are of a
// known kind with a name.
import type { KubeObject } from '../types.js';
import { cause, checkArray, checkEnum, checkObject, checkString, sameValue, type Causes } from './causes.js';

const SUBJECT_KINDS = ['User', 'Group', 'ServiceAccount'];

/** Kubernetes' path segment names: anything but `.` and `..`, without `/` or `%`. */
export function isPathSegmentName(value: string): string[] {
  if (value === '.' || value === '..') return [`may not be '${value}'`];
  const bad = ['/', '%'].filter((c) => value.includes(c));
  return bad.length ? [`may not contain '${bad.join("', '")}'`] : [];
}

function validateStrings(causes: Causes, field: string, value: unknown): string[] {
  const list = checkArray(causes, field, value);
  list.forEach((v, i) => checkString(causes, `${field}[${i}]`, v));
  return list.filter((v): v is string => typeof v === 'string');
}

function validateRules(causes: Causes, field: string, rules: unknown, namespaced: boolean): void {
  checkArray(causes, field, rules).forEach((rule, i) => {
    const p = `${field}[${i}]`;
    if (!checkObject(causes, p, rule, { required: true })) return;
    const verbs = validateStrings(causes, `${p}.verbs`, rule.verbs);
    if (verbs.length === 0) causes.push(cause.required(`${p}.verbs`, 'verbs must contain at least one value'));
    const urls = validateStrings(causes, `${p}.nonResourceURLs`, rule.nonResourceURLs);
    const groups = validateStrings(causes, `${p}.apiGroups`, rule.apiGroups);
    const resources = validateStrings(causes, `${p}.resources`, rule.resources);
    validateStrings(causes, `${p}.resourceNames`, rule.resourceNames);
    if (urls.length) {
      if (namespaced) causes.push(cause.invalid(`${p}.nonResourceURLs`, urls, 'namespaced rules cannot apply to non-resource URLs'));
      if (groups.length || resources.length) causes.push(cause.invalid(`${p}.nonResourceURLs`, urls, 'rules cannot apply to both regular resources and non-resource URLs'));
    } else {
      if (!groups.length) causes.push(cause.required(`${p}.apiGroups`, 'resource rules must supply at least one api group'));
      if (!resources.length) causes.push(cause.required(`${p}.resources`, 'resource rules must supply at least one resource'));
    }
  });
}

function validateBinding(causes: Causes, obj: KubeObject, old: KubeObject | undefined, namespaced: boolean): void {
  if (checkObject(causes, 'roleRef', obj.roleRef, { required: true })) {
    const ref = obj.roleRef as Record<string, unknown>;
    if (ref.apiGroup !== 'rbac.authorization.k8s.io') checkEnum(causes, 'roleRef.apiGroup', ref.apiGroup ?? '', ['rbac.authorization.k8s.io']);
    checkEnum(causes, 'roleRef.kind', ref.kind, namespaced ? ['Role', 'ClusterRole'] : ['ClusterRole']);
    if (checkString(causes, 'roleRef.name', ref.name, { required: true }) && isPathSegmentName(ref.name as string).length) {
      causes.push(cause.invalid('roleRef.name', ref.name, isPathSegmentName(ref.name as string).join('; ')));
    }
  }
  if (old && !sameValue(old.roleRef, obj.roleRef)) causes.push(cause.invalid('roleRef', obj.roleRef, 'cannot change roleRef'));
  checkArray(causes, 'subjects', obj.subjects).forEach((s, i) => {
    const p = `subjects[${i}]`;
    if (!checkObject(causes, p, s, { required: true })) return;
    checkEnum(causes, `${p}.kind`, s.kind, SUBJECT_KINDS);
    checkString(causes, `${p}.name`, s.name, { required: true });
    if (s.kind === 'ServiceAccount' && s.apiGroup) causes.push(cause.notSupported(`${p}.apiGroup`, s.apiGroup, ['']));
    if ((s.kind === 'User' || s.kind === 'Group') && s.apiGroup !== 'rbac.authorization.k8s.io') causes.push(cause.notSupported(`${p}.apiGroup`, s.apiGroup ?? '', ['rbac.authorization.k8s.io']));
    if (s.kind === 'ServiceAccount' && !namespaced && !s.namespace) causes.push(cause.required(`${p}.namespace`));
  });
}

export function validateRbac(kind: string, obj: KubeObject, old?: KubeObject): Causes {
  const causes: Causes = [];
  if (kind === 'Role' || kind === 'ClusterRole') validateRules(causes, 'rules', obj.rules, kind === 'Role');
  else validateBinding(causes, obj, old, kind === 'RoleBinding');
  return causes;
}
