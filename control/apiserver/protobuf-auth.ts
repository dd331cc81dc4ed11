// The messages of the access-control kinds as `kubectl create role|rolebinding|clusterrole|
// clusterrolebinding|serviceaccount|token`, `kubectl auth can-i|whoami` and `kubectl certificate
// approve` send them (rbac/v1, authorization/v1, authentication/v1, certificates/v1 and core/v1
// generated.proto). `extra` maps of ExtraValue are not decoded (kubectl sends none).
import { bool, DeleteOptions, int32, int64, LabelSelector, msg, ObjectMeta, str, strs, type MessageSchema } from './protobuf-schema.js';

const PolicyRule: MessageSchema = { 1: strs('verbs'), 2: strs('apiGroups'), 3: strs('resources'), 4: strs('resourceNames'), 5: strs('nonResourceURLs') };
const Subject: MessageSchema = { 1: str('kind'), 2: str('apiGroup'), 3: str('name'), 4: str('namespace') };
const RoleRef: MessageSchema = { 1: str('apiGroup'), 2: str('kind'), 3: str('name') };
const Role: MessageSchema = { 1: msg('metadata', ObjectMeta), 2: msg('rules', PolicyRule, true) };
const ClusterRole: MessageSchema = { ...Role, 3: msg('aggregationRule', { 1: msg('clusterRoleSelectors', LabelSelector, true) }) };
const Binding: MessageSchema = { 1: msg('metadata', ObjectMeta), 2: msg('subjects', Subject, true), 3: msg('roleRef', RoleRef) };

const ResourceAttributes: MessageSchema = { 1: str('namespace'), 2: str('verb'), 3: str('group'), 4: str('version'), 5: str('resource'), 6: str('subresource'), 7: str('name') };
const NonResourceAttributes: MessageSchema = { 1: str('path'), 2: str('verb') };
const SelfAccessSpec: MessageSchema = { 1: msg('resourceAttributes', ResourceAttributes), 2: msg('nonResourceAttributes', NonResourceAttributes) };
const AccessSpec: MessageSchema = { ...SelfAccessSpec, 3: str('user'), 4: strs('groups'), 6: str('uid') };

const ObjectReference: MessageSchema = { 1: str('kind'), 2: str('namespace'), 3: str('name'), 4: str('uid'), 5: str('apiVersion'), 6: str('resourceVersion'), 7: str('fieldPath') };
const ServiceAccount: MessageSchema = {
  1: msg('metadata', ObjectMeta),
  2: msg('secrets', ObjectReference, true),
  3: msg('imagePullSecrets', { 1: str('name') }, true),
  4: bool('automountServiceAccountToken', true),
};
const TokenRequest: MessageSchema = {
  1: msg('metadata', ObjectMeta),
  2: msg('spec', { 1: strs('audiences'), 3: msg('boundObjectRef', { 1: str('kind'), 2: str('apiVersion'), 3: str('name'), 4: str('uid') }), 4: int64('expirationSeconds', true) }),
};

const CertificateSigningRequest: MessageSchema = {
  1: msg('metadata', ObjectMeta),
  2: msg('spec', { 1: { name: 'request', type: 'bytes' }, 2: str('username'), 3: str('uid'), 4: strs('groups'), 5: strs('usages'), 7: str('signerName'), 8: int32('expirationSeconds', true) }),
  3: msg('status', {
    1: msg('conditions', { 1: str('type'), 2: str('reason'), 3: str('message'), 4: { name: 'lastUpdateTime', type: 'time' }, 5: { name: 'lastTransitionTime', type: 'time' }, 6: str('status') }, true),
    2: { name: 'certificate', type: 'bytes' },
  }),
};

/** Keyed by `apiVersion/kind`, like the core kinds. */
export const AUTH_KINDS: Readonly<Record<string, MessageSchema>> = {
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/RoleBinding': Binding,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': Binding,
  'rbac.authorization.k8s.io/v1/DeleteOptions': DeleteOptions,
  'authorization.k8s.io/v1/SelfSubjectAccessReview': { 1: msg('metadata', ObjectMeta), 2: msg('spec', SelfAccessSpec) },
  'authorization.k8s.io/v1/SubjectAccessReview': { 1: msg('metadata', ObjectMeta), 2: msg('spec', AccessSpec) },
  'authorization.k8s.io/v1/LocalSubjectAccessReview': { 1: msg('metadata', ObjectMeta), 2: msg('spec', AccessSpec) },
  'authorization.k8s.io/v1/SelfSubjectRulesReview': { 1: msg('metadata', ObjectMeta), 2: msg('spec', { 1: str('namespace') }) },
  'authentication.k8s.io/v1/SelfSubjectReview': { 1: msg('metadata', ObjectMeta) },
  'authentication.k8s.io/v1/TokenReview': { 1: msg('metadata', ObjectMeta), 2: msg('spec', { 1: str('token'), 2: strs('audiences') }) },
  'authentication.k8s.io/v1/TokenRequest': TokenRequest,
  'v1/ServiceAccount': ServiceAccount,
  'certificates.k8s.io/v1/CertificateSigningRequest': CertificateSigningRequest,
};
