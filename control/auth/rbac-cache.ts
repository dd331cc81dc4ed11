// The RBAC authorizer: Roles, ClusterRoles and their bindings kept in memory from the store's own
// watch (list, then watch from the list's revision), with bindings indexed by subject so a request
// looks only at the bindings that can name its user. Deciding a request is then a few map lookups
// and rule matches, whatever the number of bindings.
import { resourceOfKind, type ResourceInfo } from '../../api/resources.js';
import type { KubeObject } from '../../api/types.js';
import type { StoreWatch } from '../store/index.js';
import type { Registry } from '../apiserver/registry.js';
import type { Attributes } from './attributes.js';
import { ruleAllows, subjectMatches, type PolicyRule, type RoleRef, type Subject } from './rbac.js';
import { serviceAccountUsername, type UserInfo } from './user.js';

export const ROLE = resourceOfKind('Role');
export const CLUSTER_ROLE = resourceOfKind('ClusterRole');
export const ROLE_BINDING = resourceOfKind('RoleBinding');
export const CLUSTER_ROLE_BINDING = resourceOfKind('ClusterRoleBinding');

interface Binding {
  namespace: string; // '' for a ClusterRoleBinding
  roleRef: RoleRef;
  subjects: Subject[];
}

export interface Decision {
  allowed: boolean;
  /** Why, for an allowed request: the binding and role that allowed it. */
  reason: string;
}

const keyOf = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** The index keys a subject is found under: users (ServiceAccounts as their user names) and groups. */
function subjectKey(s: Subject, bindingNamespace: string): string | undefined {
  if (s.kind === 'User') return `u:${s.name}`;
  if (s.kind === 'Group') return `g:${s.name}`;
  if (s.kind === 'ServiceAccount') return `u:${serviceAccountUsername(s.namespace || bindingNamespace, s.name)}`;
  return undefined;
}

export class RbacCache {
  private readonly roles = new Map<string, PolicyRule[]>();
  private readonly clusterRoles = new Map<string, KubeObject>();
  private readonly bindings = new Map<string, Binding>();
  /** Subject key → keys of the bindings naming it (`rb:ns/name` or `crb:/name`). */
  private readonly bySubject = new Map<string, Set<string>>();
  private readonly watches: StoreWatch[] = [];
  private readonly clusterRoleListeners: (() => void)[] = [];

  constructor(private readonly registry: Registry) {}

  async start(): Promise<void> {
    await this.follow(ROLE, (type, o) => (type === 'DELETED' ? this.roles.delete(keyOf(o)) : this.roles.set(keyOf(o), rulesOf(o))));
    await this.follow(CLUSTER_ROLE, (type, o) => {
      if (type === 'DELETED') this.clusterRoles.delete(o.metadata.name!);
      else this.clusterRoles.set(o.metadata.name!, o);
      for (const listener of this.clusterRoleListeners) listener();
    });
    await this.follow(ROLE_BINDING, (type, o) => this.setBinding(`rb:${keyOf(o)}`, type === 'DELETED' ? undefined : o));
    await this.follow(CLUSTER_ROLE_BINDING, (type, o) => this.setBinding(`crb:${keyOf(o)}`, type === 'DELETED' ? undefined : o));
  }

  stop(): void {
    for (const w of this.watches.splice(0)) w.stop();
  }

  /** Calls `listener` after every ClusterRole change (the aggregation loop records it). */
  onClusterRoleChange(listener: () => void): void {
    this.clusterRoleListeners.push(listener);
  }

  clusterRoleObjects(): KubeObject[] {
    return [...this.clusterRoles.values()];
  }

  private async follow(r: ResourceInfo, apply: (type: string, o: KubeObject) => void): Promise<void> {
    const { items, revision } = await this.registry.list(r, undefined);
    for (const o of items) apply('ADDED', o);
    this.watches.push(this.registry.watch(r, undefined, revision, {}, (e) => apply(e.type, e.object)));
  }

  private setBinding(key: string, obj: KubeObject | undefined): void {
    const old = this.bindings.get(key);
    for (const s of old?.subjects ?? []) this.bySubject.get(subjectKey(s, old!.namespace) ?? '')?.delete(key);
    if (!obj) {
      this.bindings.delete(key);
      return;
    }
    const binding: Binding = { namespace: obj.metadata.namespace ?? '', roleRef: (obj.roleRef ?? {}) as RoleRef, subjects: Array.isArray(obj.subjects) ? (obj.subjects as Subject[]) : [] };
    this.bindings.set(key, binding);
    for (const s of binding.subjects) {
      const k = subjectKey(s, binding.namespace);
      if (!k) continue;
      let set = this.bySubject.get(k);
      if (!set) this.bySubject.set(k, (set = new Set()));
      set.add(key);
    }
  }

  /** The bindings that apply to `user` in `namespace` ('' for cluster-scoped requests): every matching ClusterRoleBinding and the namespace's RoleBindings. */
  private bindingsFor(user: UserInfo, namespace: string): { key: string; binding: Binding }[] {
    const found: { key: string; binding: Binding }[] = [];
    const seen = new Set<string>();
    for (const k of [`u:${user.username}`, ...user.groups.map((g) => `g:${g}`)]) {
      for (const key of this.bySubject.get(k) ?? []) {
        if (seen.has(key)) continue;
        seen.add(key);
        const binding = this.bindings.get(key)!;
        if (binding.namespace && binding.namespace !== namespace) continue;
        if (binding.subjects.some((s) => subjectMatches(s, user, binding.namespace))) found.push({ key, binding });
      }
    }
    return found;
  }

  private rulesOfRef(binding: Binding): PolicyRule[] {
    return this.roleRules(binding.namespace, binding.roleRef);
  }

  /** The rules of the role a binding in `namespace` ('' for a ClusterRoleBinding) refers to. */
  roleRules(namespace: string, ref: RoleRef): PolicyRule[] {
    if (ref.kind === 'ClusterRole') return rulesOf(this.clusterRoles.get(ref.name));
    if (ref.kind === 'Role' && namespace) return this.roles.get(`${namespace}/${ref.name}`) ?? [];
    return [];
  }

  /** Every rule that applies to `user` in `namespace` (cluster-wide ones included). */
  rulesFor(user: UserInfo, namespace: string): PolicyRule[] {
    return this.bindingsFor(user, namespace).flatMap(({ binding }) => this.rulesOfRef(binding));
  }

  authorize(user: UserInfo, a: Attributes): Decision {
    for (const { key, binding } of this.bindingsFor(user, a.namespace)) {
      if (this.rulesOfRef(binding).some((rule) => ruleAllows(rule, a))) {
        const [kind, name] = key.startsWith('crb:') ? ['ClusterRoleBinding', key.slice(5)] : ['RoleBinding', key.slice(3)];
        return { allowed: true, reason: `RBAC: allowed by ${kind} "${name}" of ${binding.roleRef.kind} "${binding.roleRef.name}"` };
      }
    }
    return { allowed: false, reason: '' };
  }
}

export function rulesOf(role: KubeObject | undefined): PolicyRule[] {
  return Array.isArray(role?.rules) ? (role.rules as PolicyRule[]) : [];
}
