// RBAC's rules, as pure functions: whether a PolicyRule allows a request, whether a subject names a
// user, and whether one set of rules covers another (escalation prevention). The matching follows
// Kubernetes' rbac/validation exactly, wildcards included, so roles written for Kubernetes mean the
// same here.
import type { Attributes } from './attributes.js';
import type { UserInfo } from './user.js';
import { serviceAccountUsername } from './user.js';

export const RBAC_GROUP = 'rbac.authorization.k8s.io';

export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface Subject {
  kind: string;
  apiGroup?: string;
  name: string;
  namespace?: string;
}

export interface RoleRef {
  apiGroup?: string;
  kind: string;
  name: string;
}

const has = (list: string[] | undefined, value: string) => (list ?? []).includes(value);

function verbMatches(rule: PolicyRule, verb: string): boolean {
  return has(rule.verbs, '*') || has(rule.verbs, verb);
}

function apiGroupMatches(rule: PolicyRule, group: string): boolean {
  return has(rule.apiGroups, '*') || has(rule.apiGroups, group);
}

function resourceMatches(rule: PolicyRule, resource: string, subresource: string): boolean {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true;
    // `*/scale` is every resource's scale subresource.
    if (subresource && r === `*/${subresource}`) return true;
    // `pods/*` is every subresource of pods (not pods itself).
    if (r.endsWith('/*') && combined.startsWith(r.slice(0, -1))) return true;
  }
  return false;
}

function resourceNameMatches(rule: PolicyRule, name: string): boolean {
  return !rule.resourceNames?.length || rule.resourceNames.includes(name);
}

function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  for (const url of rule.nonResourceURLs ?? []) {
    if (url === '*' || url === path) return true;
    if (url.endsWith('*') && path.startsWith(url.slice(0, -1))) return true;
  }
  return false;
}

/** Whether `rule` allows the request described by `a`. */
export function ruleAllows(rule: PolicyRule, a: Attributes): boolean {
  if (!verbMatches(rule, a.verb)) return false;
  if (!a.resourceRequest) return nonResourceURLMatches(rule, a.path);
  return apiGroupMatches(rule, a.apiGroup) && resourceMatches(rule, a.resource, a.subresource) && resourceNameMatches(rule, a.name);
}

/** Whether a binding's subject is this user (a ServiceAccount subject without a namespace takes the binding's). */
export function subjectMatches(subject: Subject, user: UserInfo, bindingNamespace: string): boolean {
  switch (subject.kind) {
    case 'User':
      return subject.name === user.username;
    case 'Group':
      return user.groups.includes(subject.name);
    case 'ServiceAccount':
      return user.username === serviceAccountUsername(subject.namespace || bindingNamespace, subject.name);
    default:
      return false;
  }
}

/**
 * Whether `owner` rules allow everything `servant` rules allow: each servant rule is broken into
 * single (verb, group, resource, name) or (verb, URL) grants, and each must be allowed by one
 * owner rule, wildcards taken literally (a servant `*` needs an owner `*`).
 */
export function covers(owner: PolicyRule[], servant: PolicyRule[]): { covered: boolean; missing: PolicyRule[] } {
  const missing: PolicyRule[] = [];
  for (const rule of servant) {
    for (const atom of atomsOf(rule)) {
      if (!owner.some((o) => ruleCovers(o, atom))) missing.push(atom);
    }
  }
  return { covered: missing.length === 0, missing };
}

function atomsOf(rule: PolicyRule): PolicyRule[] {
  const atoms: PolicyRule[] = [];
  for (const verb of rule.verbs ?? []) {
    for (const url of rule.nonResourceURLs ?? []) atoms.push({ verbs: [verb], nonResourceURLs: [url] });
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        if (rule.resourceNames?.length) for (const name of rule.resourceNames) atoms.push({ verbs: [verb], apiGroups: [group], resources: [resource], resourceNames: [name] });
        else atoms.push({ verbs: [verb], apiGroups: [group], resources: [resource] });
      }
    }
  }
  return atoms;
}

function ruleCovers(owner: PolicyRule, atom: PolicyRule): boolean {
  if (!verbMatches(owner, atom.verbs[0])) return false;
  if (atom.nonResourceURLs) {
    const url = atom.nonResourceURLs[0];
    return (owner.nonResourceURLs ?? []).some((o) => o === '*' || o === url || (o.endsWith('*') && url.startsWith(o.slice(0, -1))));
  }
  if (!apiGroupMatches(owner, atom.apiGroups![0])) return false;
  const resource = atom.resources![0];
  const [base, sub = ''] = resource.split('/', 2);
  const resourceCovered = resource === '*' ? has(owner.resources, '*') : resourceMatches(owner, base, sub);
  if (!resourceCovered) return false;
  if (!owner.resourceNames?.length) return true;
  return !!atom.resourceNames && owner.resourceNames.includes(atom.resourceNames[0]);
}

/** The rule as `kubectl auth can-i --list` and an escalation error print it. */
export function describeRule(rule: PolicyRule): string {
  const parts = [`verbs=${JSON.stringify(rule.verbs)}`];
  if (rule.nonResourceURLs?.length) parts.push(`nonResourceURLs=${JSON.stringify(rule.nonResourceURLs)}`);
  if (rule.apiGroups) parts.push(`apiGroups=${JSON.stringify(rule.apiGroups)}`);
  if (rule.resources) parts.push(`resources=${JSON.stringify(rule.resources)}`);
  if (rule.resourceNames?.length) parts.push(`resourceNames=${JSON.stringify(rule.resourceNames)}`);
  return `{${parts.join(' ')}}`;
}
