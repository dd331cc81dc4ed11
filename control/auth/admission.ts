// Admission checks that need to know who is writing: RBAC's escalation prevention. A user may
// create or change a Role only with permissions they already hold (or the `escalate` verb), and
// bind a role only if they hold its permissions (or the `bind` verb), so no one can grant
// themselves or others more than they have.
import { ApiError } from '../../api/errors.js';
import type { ResourceInfo } from '../../api/resources.js';
import type { KubeObject } from '../../api/types.js';
import type { Attributes } from './attributes.js';
import { isSuperuser, type Authorizer } from './authorizer.js';
import type { RbacCache } from './rbac-cache.js';
import { covers, describeRule, RBAC_GROUP, type PolicyRule, type RoleRef } from './rbac.js';
import type { UserInfo } from './user.js';

export interface WriteRequest {
  user: UserInfo;
  resource: ResourceInfo;
  namespace: string;
  /** The object as it will be stored. */
  object: KubeObject;
}

const EVERYTHING: PolicyRule[] = [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, { verbs: ['*'], nonResourceURLs: ['*'] }];

function verbAllowed(authorizer: Authorizer, user: UserInfo, verb: string, resource: string, namespace: string, name: string): boolean {
  const a: Attributes = { verb, resourceRequest: true, path: '', apiGroup: RBAC_GROUP, apiVersion: 'v1', namespace, resource, subresource: '', name };
  return authorizer.authorize(user, a).allowed;
}

function escalation(req: WriteRequest, what: string, missing: PolicyRule[]): ApiError {
  const name = (req.object.metadata as { name?: string } | undefined)?.name ?? '';
  const qualified = `${req.resource.plural}.${RBAC_GROUP}`;
  const shown = missing.slice(0, 20).map(describeRule).join('\n');
  const more = missing.length > 20 ? `\n... and ${missing.length - 20} more` : '';
  return new ApiError(
    403,
    'Forbidden',
    `${qualified} "${name}" is forbidden: user "${req.user.username}" (groups=${JSON.stringify(req.user.groups)}) is attempting to ${what} not currently held:\n${shown}${more}`,
    { name, group: RBAC_GROUP, kind: req.resource.plural },
  );
}

function checkRole(req: WriteRequest, authorizer: Authorizer): void {
  const name = (req.object.metadata as { name?: string } | undefined)?.name ?? '';
  if (verbAllowed(authorizer, req.user, 'escalate', req.resource.plural, req.namespace, name)) return;
  const held = authorizer.rulesFor(req.user, req.namespace);
  // An aggregated ClusterRole can come to hold anything: only someone who holds everything may make one.
  const wanted = req.object.aggregationRule ? EVERYTHING : (Array.isArray(req.object.rules) ? (req.object.rules as PolicyRule[]) : []);
  const { covered, missing } = covers(held, wanted);
  if (!covered) throw escalation(req, 'grant RBAC permissions', missing);
}

function checkBinding(req: WriteRequest, authorizer: Authorizer, rbac: RbacCache): void {
  const ref = (req.object.roleRef ?? {}) as RoleRef;
  const roleResource = ref.kind === 'ClusterRole' ? 'clusterroles' : 'roles';
  if (verbAllowed(authorizer, req.user, 'bind', roleResource, req.namespace, ref.name ?? '')) return;
  const { covered, missing } = covers(authorizer.rulesFor(req.user, req.namespace), rbac.roleRules(req.namespace, ref));
  if (!covered) throw escalation(req, `bind ${ref.kind} "${ref.name}", which grants RBAC permissions`, missing);
}

/** Throws Forbidden when the write would give anyone permissions its author does not hold. */
export function checkNoEscalation(req: WriteRequest, authorizer: Authorizer, rbac: RbacCache): void {
  if (req.resource.group !== RBAC_GROUP || isSuperuser(req.user)) return;
  if (req.resource.kind === 'Role' || req.resource.kind === 'ClusterRole') checkRole(req, authorizer);
  else checkBinding(req, authorizer, rbac);
}
