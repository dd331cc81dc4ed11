// Every request is authorized here, after authentication: system:masters may do anything; nodes
// get what the Node authorizer grants them; then RBAC decides. A denial is a Kubernetes Forbidden Status that names the user, the verb, the
// resource and the namespace, as kube-apiserver's does.
import { ApiError } from '../../api/errors.js';
import { describeDenial, type Attributes } from './attributes.js';
import type { NodeAuthorizer } from './node-authorizer.js';
import { NODE_RULES } from './policy.js';
import type { Decision, RbacCache } from './rbac-cache.js';
import type { PolicyRule } from './rbac.js';
import { GROUP, nodeNameOf, type UserInfo } from './user.js';

export interface Authorizer {
  authorize(user: UserInfo, a: Attributes): Decision;
  /** Every rule that applies to `user` in `namespace`, for escalation checks and SelfSubjectRulesReview. */
  rulesFor(user: UserInfo, namespace: string): PolicyRule[];
}

const EVERYTHING: PolicyRule[] = [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, { verbs: ['*'], nonResourceURLs: ['*'] }];

export function isSuperuser(user: UserInfo): boolean {
  return user.groups.includes(GROUP.masters);
}

export class ClusterAuthorizer implements Authorizer {
  constructor(
    private readonly rbac: RbacCache,
    private readonly nodes?: NodeAuthorizer,
  ) {}

  authorize(user: UserInfo, a: Attributes): Decision {
    if (isSuperuser(user)) return { allowed: true, reason: `${GROUP.masters} may do anything` };
    return this.nodes?.authorize(user, a) ?? this.rbac.authorize(user, a);
  }

  rulesFor(user: UserInfo, namespace: string): PolicyRule[] {
    if (isSuperuser(user)) return EVERYTHING;
    return [...(nodeNameOf(user) ? NODE_RULES : []), ...this.rbac.rulesFor(user, namespace)];
  }
}

/** The 403 for a denied request. */
export function forbidden(user: UserInfo, a: Attributes): ApiError {
  const denial = describeDenial(user.username, a);
  if (!a.resourceRequest) return new ApiError(403, 'Forbidden', `forbidden: ${denial}`);
  const qualified = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  const subject = a.name ? `${qualified} "${a.name}"` : qualified;
  return new ApiError(403, 'Forbidden', `${subject} is forbidden: ${denial}`, {
    ...(a.name ? { name: a.name } : {}),
    ...(a.apiGroup ? { group: a.apiGroup } : {}),
    kind: a.resource,
  });
}
