// Impersonation (`kubectl --as jane --as-group dev`): a user allowed the `impersonate` verb on
// users, groups, ServiceAccounts and uids may act as someone else; the request is then
// authorized, and attributed, as that someone.
import type { Attributes } from './attributes.js';
import { forbidden, type Authorizer } from './authorizer.js';
import { authenticatedUser, serviceAccountGroups, serviceAccountOf, USER, type UserInfo } from './user.js';

type HeaderGetter = (name: string) => string | undefined;

function impersonateAttributes(resource: string, name: string, namespace = ''): Attributes {
  return { verb: 'impersonate', resourceRequest: true, path: '', apiGroup: '', apiVersion: 'v1', namespace, resource, subresource: '', name };
}

function list(value: string | undefined): string[] {
  return (value ?? '').split(',').map((v) => v.trim()).filter(Boolean);
}

/** The user a request acts as: `user` itself, or whom its Impersonate-* headers name if `user` may. */
export function impersonated(user: UserInfo, header: HeaderGetter, authorizer: Authorizer): UserInfo {
  const username = header('impersonate-user');
  const groups = list(header('impersonate-group'));
  const uid = header('impersonate-uid');
  if (username === undefined) {
    if (groups.length || uid) throw forbidden(user, impersonateAttributes('users', ''));
    return user;
  }
  const checks: Attributes[] = [];
  const sa = serviceAccountOf(username);
  checks.push(sa ? impersonateAttributes('serviceaccounts', sa.name, sa.namespace) : impersonateAttributes('users', username));
  for (const g of groups) checks.push(impersonateAttributes('groups', g));
  if (uid) checks.push(impersonateAttributes('uids', uid));
  for (const a of checks) if (!authorizer.authorize(user, a).allowed) throw forbidden(user, a);
  const extraGroups = sa ? serviceAccountGroups(sa.namespace) : [];
  if (username === USER.anonymous) return { username, groups, ...(uid ? { uid } : {}) };
  return authenticatedUser(username, [...groups, ...extraGroups], uid ? { uid } : undefined);
}
