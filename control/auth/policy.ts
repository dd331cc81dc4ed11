// The roles and bindings every cluster starts with: Kubernetes' user-facing roles (cluster-admin,
// admin, edit, view, built by aggregation as upstream does) and the `system:` roles that the
// discovery endpoints, node bootstrapping, the scheduler and the controllers need. Control puts
// them in place at every start (missing ones created, ones marked for auto-update refreshed), so
// an upgrade brings new permissions and a deleted default comes back.
import type { KubeObject } from '../../api/types.js';
import { RBAC_GROUP, type PolicyRule, type Subject } from './rbac.js';
import { GROUP, USER } from './user.js';

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'delete', 'deletecollection', 'patch', 'update'];
const AUTOUPDATE = 'rbac.authorization.kubernetes.io/autoupdate';
export const AGGREGATE_TO = (role: 'admin' | 'edit' | 'view') => `rbac.authorization.k8s.io/aggregate-to-${role}`;

const rule = (verbs: string[], apiGroups: string[], resources: string[], resourceNames?: string[]): PolicyRule => ({
  verbs,
  apiGroups,
  resources,
  ...(resourceNames ? { resourceNames } : {}),
});
const urls = (verbs: string[], nonResourceURLs: string[]): PolicyRule => ({ verbs, nonResourceURLs });

/** What `view` may read: every workload and config object but Secrets (and RBAC). */
const VIEW_RULES: PolicyRule[] = [
  rule(READ, [''], ['configmaps', 'endpoints', 'persistentvolumeclaims', 'persistentvolumeclaims/status', 'pods', 'replicationcontrollers', 'replicationcontrollers/scale', 'serviceaccounts', 'services', 'services/status']),
  rule(READ, [''], ['bindings', 'events', 'limitranges', 'namespaces/status', 'pods/log', 'pods/status', 'replicationcontrollers/status', 'resourcequotas', 'resourcequotas/status']),
  rule(READ, [''], ['namespaces']),
  rule(READ, ['discovery.k8s.io'], ['endpointslices']),
  rule(READ, ['apps'], ['controllerrevisions', 'daemonsets', 'daemonsets/status', 'deployments', 'deployments/scale', 'deployments/status', 'replicasets', 'replicasets/scale', 'replicasets/status', 'statefulsets', 'statefulsets/scale', 'statefulsets/status']),
  rule(READ, ['autoscaling'], ['horizontalpodautoscalers', 'horizontalpodautoscalers/status']),
  rule(READ, ['batch'], ['cronjobs', 'cronjobs/status', 'jobs', 'jobs/status']),
  rule(READ, ['policy'], ['poddisruptionbudgets', 'poddisruptionbudgets/status']),
  rule(READ, ['networking.k8s.io'], ['ingresses', 'ingresses/status', 'networkpolicies']),
  rule(READ, ['security.istio.io'], ['authorizationpolicies']),
  rule(READ, ['gateway.networking.k8s.io'], ['gateways', 'httproutes', 'grpcroutes']),
];

/**
 * What `edit` adds: writing those objects, Secrets, exec and port-forward, Leases; not RBAC, and not
 * Endpoints or EndpointSlices (as in Kubernetes since 1.22: writing them redirects a Service).
 */
const EDIT_RULES: PolicyRule[] = [
  rule(['create', 'delete', 'deletecollection', 'patch', 'update'], [''], ['pods', 'pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy']),
  rule(['create'], [''], ['pods/eviction']),
  rule([...WRITE], [''], ['configmaps', 'events', 'persistentvolumeclaims', 'replicationcontrollers', 'replicationcontrollers/scale', 'secrets', 'serviceaccounts', 'services', 'services/proxy']),
  rule(['create'], [''], ['serviceaccounts/token']),
  rule(READ, [''], ['pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy', 'secrets', 'services/proxy']),
  rule(['impersonate'], [''], ['serviceaccounts']),
  rule(WRITE, ['apps'], ['daemonsets', 'deployments', 'deployments/rollback', 'deployments/scale', 'replicasets', 'replicasets/scale', 'statefulsets', 'statefulsets/scale']),
  rule(WRITE, ['autoscaling'], ['horizontalpodautoscalers']),
  rule(WRITE, ['batch'], ['cronjobs', 'jobs']),
  rule(WRITE, ['policy'], ['poddisruptionbudgets']),
  rule(WRITE, ['networking.k8s.io'], ['ingresses', 'networkpolicies']),
  rule(WRITE, ['security.istio.io'], ['authorizationpolicies']),
  rule([...READ, ...WRITE], ['coordination.k8s.io'], ['leases']),
  rule(WRITE, ['gateway.networking.k8s.io'], ['httproutes', 'grpcroutes']),
];

/** What `admin` adds: Roles and RoleBindings in its namespace, and reviews of others' access there. */
const ADMIN_RULES: PolicyRule[] = [
  rule(['create'], ['authorization.k8s.io'], ['localsubjectaccessreviews']),
  rule([...READ, ...WRITE], [RBAC_GROUP], ['rolebindings', 'roles']),
];

/** What a node may do beyond the objects of its own pods (the Node authorizer decides those). */
export const NODE_RULES: PolicyRule[] = [
  rule(READ, [''], ['services', 'endpoints', 'nodes', 'pods']),
  rule(READ, ['discovery.k8s.io'], ['endpointslices']),
  // NetworkPolicy is enforced by every node: the policies, and the namespaces their selectors match.
  rule(READ, [''], ['namespaces']),
  rule(READ, ['networking.k8s.io'], ['networkpolicies']),
  // AuthorizationPolicy is enforced by every node's proxy.
  rule(READ, ['security.istio.io'], ['authorizationpolicies']),
  rule(['create', 'get', 'update', 'patch', 'delete'], [''], ['nodes', 'nodes/status']),
  rule(['update', 'patch'], [''], ['pods/status']),
  rule(['delete'], [''], ['pods']),
  // The node ports a pod got (hostport mode), published as an annotation; NodeRestriction allows nothing else.
  rule(['patch'], [''], ['pods']),
  rule(['create', 'update', 'patch'], [''], ['events']),
  rule([...READ, 'create', 'update', 'patch', 'delete'], ['coordination.k8s.io'], ['leases']),
  rule(['create', 'get', 'list', 'watch'], ['certificates.k8s.io'], ['certificatesigningrequests']),
  rule(['create'], ['authentication.k8s.io'], ['tokenreviews']),
  rule(['create'], ['authorization.k8s.io'], ['subjectaccessreviews', 'localsubjectaccessreviews']),
  // The mesh CA: workload certificates for the node's own pods (checked by the handler), and its roots.
  urls(['post'], ['/tugboat/mesh/certificates']),
  urls(['get'], ['/tugboat/mesh/bundle']),
];

interface Role {
  name: string;
  rules?: PolicyRule[];
  labels?: Record<string, string>;
  aggregateFrom?: string[];
}

const CLUSTER_ROLES: Role[] = [
  { name: 'cluster-admin', rules: [rule(['*'], ['*'], ['*']), urls(['*'], ['*'])] },
  { name: 'admin', aggregateFrom: [AGGREGATE_TO('admin')] },
  { name: 'edit', aggregateFrom: [AGGREGATE_TO('edit')], labels: { [AGGREGATE_TO('admin')]: 'true' } },
  { name: 'view', aggregateFrom: [AGGREGATE_TO('view')], labels: { [AGGREGATE_TO('edit')]: 'true' } },
  { name: 'system:aggregate-to-admin', rules: ADMIN_RULES, labels: { [AGGREGATE_TO('admin')]: 'true' } },
  { name: 'system:aggregate-to-edit', rules: EDIT_RULES, labels: { [AGGREGATE_TO('edit')]: 'true' } },
  { name: 'system:aggregate-to-view', rules: VIEW_RULES, labels: { [AGGREGATE_TO('view')]: 'true' } },
  {
    name: 'system:basic-user',
    rules: [rule(['create'], ['authorization.k8s.io'], ['selfsubjectaccessreviews', 'selfsubjectrulesreviews']), rule(['create'], ['authentication.k8s.io'], ['selfsubjectreviews'])],
  },
  { name: 'system:discovery', rules: [urls(['get'], ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/'])] },
  { name: 'system:public-info-viewer', rules: [urls(['get'], ['/healthz', '/livez', '/readyz', '/version', '/version/'])] },
  // The trusted CAs (public certificates), which nodes and clients follow through a CA rotation.
  { name: 'tugboat:ca-bundle-reader', rules: [urls(['get'], ['/tugboat/ca/bundle'])] },
  { name: 'system:monitoring', rules: [urls(['get'], ['/metrics', '/metrics/slis', '/livez', '/readyz', '/healthz', '/livez/*', '/readyz/*', '/healthz/*'])] },
  { name: 'system:node-bootstrapper', rules: [rule(['create', 'get', 'list', 'watch'], ['certificates.k8s.io'], ['certificatesigningrequests'])] },
  { name: 'system:certificates.k8s.io:certificatesigningrequests:nodeclient', rules: [rule(['create'], ['certificates.k8s.io'], ['certificatesigningrequests/nodeclient'])] },
  { name: 'system:certificates.k8s.io:certificatesigningrequests:selfnodeclient', rules: [rule(['create'], ['certificates.k8s.io'], ['certificatesigningrequests/selfnodeclient'])] },
  { name: 'system:node', rules: NODE_RULES },
  {
    // tugboat's controllers and scheduler run in control's process under this one identity.
    name: 'system:kube-controller-manager',
    rules: [
      // The garbage collector reads and deletes objects of every kind.
      rule([...READ, 'delete', 'patch', 'update'], ['*'], ['*']),
      rule([...READ, ...WRITE], ['', 'apps', 'discovery.k8s.io', 'coordination.k8s.io', 'autoscaling', 'batch', 'policy'], ['*']),
      rule(['update', 'patch', 'create'], ['', 'apps'], ['*/status', '*/scale', 'pods/binding', 'pods/eviction']),
      rule([...READ, 'update', 'patch'], ['certificates.k8s.io'], ['certificatesigningrequests', 'certificatesigningrequests/approval', 'certificatesigningrequests/status']),
      rule(['approve'], ['certificates.k8s.io'], ['signers'], ['kubernetes.io/kube-apiserver-client-kubelet', 'kubernetes.io/kubelet-serving']),
      rule(['sign'], ['certificates.k8s.io'], ['signers'], ['kubernetes.io/kube-apiserver-client-kubelet', 'kubernetes.io/kubelet-serving', 'kubernetes.io/kube-apiserver-client']),
      rule(['create'], ['authentication.k8s.io'], ['tokenreviews']),
      rule(['create'], ['authorization.k8s.io'], ['subjectaccessreviews']),
    ],
  },
];

const CLUSTER_ROLE_BINDINGS: { name: string; role: string; subjects: Subject[] }[] = [
  { name: 'cluster-admin', role: 'cluster-admin', subjects: [group(GROUP.masters)] },
  { name: 'system:basic-user', role: 'system:basic-user', subjects: [group(GROUP.authenticated)] },
  { name: 'system:discovery', role: 'system:discovery', subjects: [group(GROUP.authenticated)] },
  { name: 'tugboat:ca-bundle-reader', role: 'tugboat:ca-bundle-reader', subjects: [group(GROUP.authenticated)] },
  { name: 'system:public-info-viewer', role: 'system:public-info-viewer', subjects: [group(GROUP.authenticated), group(GROUP.unauthenticated)] },
  { name: 'system:node-bootstrapper', role: 'system:node-bootstrapper', subjects: [group(GROUP.bootstrappers)] },
  { name: 'system:certificates.k8s.io:certificatesigningrequests:nodeclient', role: 'system:certificates.k8s.io:certificatesigningrequests:nodeclient', subjects: [group(GROUP.bootstrappers)] },
  { name: 'system:certificates.k8s.io:certificatesigningrequests:selfnodeclient', role: 'system:certificates.k8s.io:certificatesigningrequests:selfnodeclient', subjects: [group(GROUP.nodes)] },
  { name: 'system:kube-controller-manager', role: 'system:kube-controller-manager', subjects: [user(USER.controllerManager)] },
];

function group(name: string): Subject {
  return { kind: 'Group', apiGroup: RBAC_GROUP, name };
}

function user(name: string): Subject {
  return { kind: 'User', apiGroup: RBAC_GROUP, name };
}

/** The default ClusterRoles as objects (aggregated ones with their selectors and no rules yet). */
export function defaultClusterRoles(): KubeObject[] {
  return CLUSTER_ROLES.map((r) => ({
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'ClusterRole',
    metadata: { name: r.name, labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults', ...r.labels }, annotations: { [AUTOUPDATE]: 'true' } },
    ...(r.aggregateFrom ? { aggregationRule: { clusterRoleSelectors: r.aggregateFrom.map((label) => ({ matchLabels: { [label]: 'true' } })) }, rules: [] } : { rules: r.rules }),
  }));
}

export function defaultClusterRoleBindings(): KubeObject[] {
  return CLUSTER_ROLE_BINDINGS.map((b) => ({
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'ClusterRoleBinding',
    metadata: { name: b.name, labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' }, annotations: { [AUTOUPDATE]: 'true' } },
    roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: b.role },
    subjects: b.subjects,
  }));
}

/** Whether a stored default may be brought up to date (its autoupdate annotation is not "false"). */
export function autoUpdates(obj: KubeObject): boolean {
  return obj.metadata.annotations?.[AUTOUPDATE] !== 'false';
}
