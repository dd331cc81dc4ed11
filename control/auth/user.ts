// Who made a request, as the authenticators establish it and the authorizers and admission read
// it: Kubernetes' user.Info, with the well-known names and groups tugboat uses.

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export const GROUP = {
  masters: 'system:masters',
  authenticated: 'system:authenticated',
  unauthenticated: 'system:unauthenticated',
  nodes: 'system:nodes',
  bootstrappers: 'system:bootstrappers',
  serviceAccounts: 'system:serviceaccounts',
} as const;

export const USER = {
  admin: 'system:admin',
  anonymous: 'system:anonymous',
  controllerManager: 'system:kube-controller-manager',
  scheduler: 'system:kube-scheduler',
  /** The API server's own identity towards nodes (kube-apiserver's kubelet client certificate). */
  apiserverNodeClient: 'system:kube-apiserver-kubelet-client',
} as const;

/** A user with system:authenticated added, as every authenticator's result gets it. */
export function authenticatedUser(username: string, groups: string[] = [], extra?: Partial<UserInfo>): UserInfo {
  return { ...extra, username, groups: [...new Set([...groups, GROUP.authenticated])] };
}

export const NODE_USER_PREFIX = 'system:node:';
export const SERVICE_ACCOUNT_USER_PREFIX = 'system:serviceaccount:';

/** The node a user is, when it is one (`system:node:<name>` in system:nodes). */
export function nodeNameOf(user: UserInfo): string | undefined {
  if (!user.groups.includes(GROUP.nodes) || !user.username.startsWith(NODE_USER_PREFIX)) return undefined;
  const name = user.username.slice(NODE_USER_PREFIX.length);
  return name || undefined;
}

export const isNodeUser = (user: UserInfo) => nodeNameOf(user) !== undefined;

export function serviceAccountUsername(namespace: string, name: string): string {
  return `${SERVICE_ACCOUNT_USER_PREFIX}${namespace}:${name}`;
}

/** The namespace and name of a ServiceAccount user, when it is one. */
export function serviceAccountOf(username: string): { namespace: string; name: string } | undefined {
  if (!username.startsWith(SERVICE_ACCOUNT_USER_PREFIX)) return undefined;
  const [namespace, name, ...rest] = username.slice(SERVICE_ACCOUNT_USER_PREFIX.length).split(':');
  return namespace && name && rest.length === 0 ? { namespace, name } : undefined;
}

/** The groups every ServiceAccount of `namespace` is in. */
export function serviceAccountGroups(namespace: string): string[] {
  return [GROUP.serviceAccounts, `${GROUP.serviceAccounts}:${namespace}`];
}
