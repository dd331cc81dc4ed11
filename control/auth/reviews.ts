// The review APIs, objects that are created and answered but never stored: who am I
// (SelfSubjectReview), may I (SelfSubjectAccessReview, what `kubectl auth can-i` sends), may they
// (SubjectAccessReview, LocalSubjectAccessReview, asked by nodes about their callers), what may I
// (SelfSubjectRulesReview, `can-i --list`), and whose token is this (TokenReview).
import { errors } from '../../api/errors.js';
import type { KubeObject } from '../../api/types.js';
import type { Attributes } from './attributes.js';
import type { Authenticator } from './authenticator.js';
import type { Authorizer } from './authorizer.js';
import type { PolicyRule } from './rbac.js';
import type { UserInfo } from './user.js';

export interface ReviewContext {
  user: UserInfo;
  authorizer: Authorizer;
  authenticator: Authenticator;
  /** The namespace of the request URL (LocalSubjectAccessReview). */
  namespace?: string;
}

interface ResourceAttributes {
  namespace?: string;
  verb?: string;
  group?: string;
  version?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}

interface AccessReviewSpec {
  resourceAttributes?: ResourceAttributes;
  nonResourceAttributes?: { path?: string; verb?: string };
  user?: string;
  groups?: string[];
  uid?: string;
  extra?: Record<string, string[]>;
}

function attributesOf(kind: string, spec: AccessReviewSpec): Attributes {
  const r = spec.resourceAttributes;
  const n = spec.nonResourceAttributes;
  if (!!r === !!n) throw errors.invalid(kind, '', [{ field: 'spec', reason: 'FieldValueRequired', message: 'Required value: exactly one of resourceAttributes or nonResourceAttributes must be specified' }], 'authorization.k8s.io');
  if (n) return { verb: n.verb ?? '', resourceRequest: false, path: n.path ?? '', apiGroup: '', apiVersion: '', namespace: '', resource: '', subresource: '', name: '' };
  return {
    verb: r!.verb ?? '',
    resourceRequest: true,
    path: '',
    apiGroup: r!.group ?? '',
    apiVersion: r!.version ?? '',
    namespace: r!.namespace ?? '',
    resource: r!.resource ?? '',
    subresource: r!.subresource ?? '',
    name: r!.name ?? '',
  };
}

function answered(body: KubeObject, status: unknown): KubeObject {
  return { ...body, metadata: { ...(body.metadata ?? {}), creationTimestamp: null }, status };
}

function accessStatus(ctx: ReviewContext, user: UserInfo, a: Attributes): { allowed: boolean; reason?: string } {
  const d = ctx.authorizer.authorize(user, a);
  return d.allowed ? { allowed: true, reason: d.reason } : { allowed: false };
}

function ruleStatus(rules: PolicyRule[]) {
  return {
    resourceRules: rules.filter((r) => !r.nonResourceURLs?.length).map((r) => ({ verbs: r.verbs, apiGroups: r.apiGroups ?? [], resources: r.resources ?? [], ...(r.resourceNames?.length ? { resourceNames: r.resourceNames } : {}) })),
    nonResourceRules: rules.filter((r) => r.nonResourceURLs?.length).map((r) => ({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs })),
    incomplete: false,
  };
}

/** Answers a review object of `kind` sent by `ctx.user`. */
export async function answerReview(kind: string, body: KubeObject, ctx: ReviewContext): Promise<KubeObject> {
  const spec = (body.spec ?? {}) as AccessReviewSpec & { namespace?: string; token?: string; audiences?: string[] };
  switch (kind) {
    case 'SelfSubjectReview':
      return answered(body, { userInfo: ctx.user });
    case 'SelfSubjectAccessReview':
      return answered(body, accessStatus(ctx, ctx.user, attributesOf(kind, spec)));
    case 'SelfSubjectRulesReview':
      return answered(body, ruleStatus(ctx.authorizer.rulesFor(ctx.user, spec.namespace ?? '')));
    case 'SubjectAccessReview':
    case 'LocalSubjectAccessReview': {
      if (!spec.user && !spec.groups?.length) throw errors.invalid(kind, '', [{ field: 'spec.user', reason: 'FieldValueRequired', message: 'Required value: at least one of user or group must be specified' }], 'authorization.k8s.io');
      const a = attributesOf(kind, spec);
      if (kind === 'LocalSubjectAccessReview' && a.namespace !== ctx.namespace) {
        throw errors.invalid(kind, '', [{ field: 'spec.resourceAttributes.namespace', reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(a.namespace)}: must match metadata.namespace ${JSON.stringify(ctx.namespace)}` }], 'authorization.k8s.io');
      }
      const subject: UserInfo = { username: spec.user ?? '', groups: spec.groups ?? [], ...(spec.uid ? { uid: spec.uid } : {}), ...(spec.extra ? { extra: spec.extra } : {}) };
      return answered(body, accessStatus(ctx, subject, a));
    }
    case 'TokenReview': {
      const user = spec.token ? await ctx.authenticator.authenticateToken(spec.token) : undefined;
      return answered(body, user ? { authenticated: true, user, audiences: spec.audiences ?? [] } : { authenticated: false, user: {} });
    }
    default:
      throw errors.methodNotAllowed('POST', kind);
  }
}
