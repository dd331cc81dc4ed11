// The core/v1, apps/v1 and policy/v1 messages `kubectl create`, `drain` and `delete` send as
// protobuf (KUBECTL.md §2.6), from the upstream generated.proto files.
import { bool, DeleteOptions, int32, int64, LabelSelector, map, msg, ObjectMeta, str, strs, type MessageSchema } from './protobuf-schema.js';
import { AUTH_KINDS } from './protobuf-auth.js';

// k8s.io/api core/v1
const ContainerPort: MessageSchema = {
  1: str('name'),
  2: int32('hostPort'),
  3: int32('containerPort'),
  4: str('protocol'),
  5: str('hostIP'),
};
const EnvVar: MessageSchema = { 1: str('name'), 2: str('value') };
const ResourceRequirements: MessageSchema = { 1: map('limits', 'quantity'), 2: map('requests', 'quantity') };
const VolumeMount: MessageSchema = {
  1: str('name'),
  2: bool('readOnly'),
  3: str('mountPath'),
  4: str('subPath'),
  5: str('mountPropagation'),
  6: str('subPathExpr'),
};

const Container: MessageSchema = {
  1: str('name'),
  2: str('image'),
  3: strs('command'),
  4: strs('args'),
  5: str('workingDir'),
  6: msg('ports', ContainerPort, true),
  7: msg('env', EnvVar, true),
  8: msg('resources', ResourceRequirements),
  9: msg('volumeMounts', VolumeMount, true),
  13: str('terminationMessagePath'),
  14: str('imagePullPolicy'),
  16: bool('stdin'),
  17: bool('stdinOnce'),
  18: bool('tty'),
  20: str('terminationMessagePolicy'),
};

const LocalObjectReference: MessageSchema = { 1: str('name') };
const VolumeSource: MessageSchema = {
  1: msg('hostPath', { 1: str('path'), 2: str('type') }),
  2: msg('emptyDir', { 1: str('medium'), 2: { name: 'sizeLimit', type: 'quantity' } }),
  19: msg('configMap', {
    1: { name: 'localObjectReference', type: { message: LocalObjectReference }, inline: true },
    3: int32('defaultMode', true),
    4: bool('optional', true),
  }),
};
const Volume: MessageSchema = {
  1: str('name'),
  2: { name: 'volumeSource', type: { message: VolumeSource }, inline: true },
};

const Toleration: MessageSchema = {
  1: str('key'),
  2: str('operator'),
  3: str('value'),
  4: str('effect'),
  5: int64('tolerationSeconds', true),
};
const HostAlias: MessageSchema = { 1: str('ip'), 2: strs('hostnames') };

const PodSpec: MessageSchema = {
  1: msg('volumes', Volume, true),
  2: msg('containers', Container, true),
  3: str('restartPolicy'),
  4: int64('terminationGracePeriodSeconds', true),
  5: int64('activeDeadlineSeconds', true),
  6: str('dnsPolicy'),
  7: map('nodeSelector', 'string'),
  8: str('serviceAccountName'),
  9: str('serviceAccount'),
  10: str('nodeName'),
  11: bool('hostNetwork'),
  12: bool('hostPID'),
  13: bool('hostIPC'),
  15: msg('imagePullSecrets', LocalObjectReference, true),
  16: str('hostname'),
  17: str('subdomain'),
  19: str('schedulerName'),
  20: msg('initContainers', Container, true),
  21: bool('automountServiceAccountToken', true),
  22: msg('tolerations', Toleration, true),
  23: msg('hostAliases', HostAlias, true),
  24: str('priorityClassName'),
  25: int32('priority', true),
  27: bool('shareProcessNamespace', true),
  29: str('runtimeClassName'),
  30: bool('enableServiceLinks', true),
  31: str('preemptionPolicy'),
  35: bool('setHostnameAsFQDN', true),
};

const PodTemplateSpec: MessageSchema = { 1: msg('metadata', ObjectMeta), 2: msg('spec', PodSpec) };

const NamespaceCondition: MessageSchema = {
  1: str('type'),
  2: str('status'),
  4: { name: 'lastTransitionTime', type: 'time' },
  5: str('reason'),
  6: str('message'),
};
const Namespace: MessageSchema = {
  1: msg('metadata', ObjectMeta),
  2: msg('spec', { 1: strs('finalizers') }),
  3: msg('status', { 1: str('phase'), 2: msg('conditions', NamespaceCondition, true) }),
};

const ConfigMap: MessageSchema = {
  1: msg('metadata', ObjectMeta),
  2: map('data', 'string'),
  3: map('binaryData', 'bytes'),
  4: bool('immutable', true),
};

const Secret: MessageSchema = {
  1: msg('metadata', ObjectMeta),
  2: map('data', 'bytes'),
  3: str('type'),
  4: map('stringData', 'string'),
  5: bool('immutable', true),
};

const ServicePort: MessageSchema = {
  1: str('name'),
  2: str('protocol'),
  3: int32('port'),
  4: { name: 'targetPort', type: 'intOrString' },
  5: int32('nodePort'),
  6: str('appProtocol'),
};
const ServiceSpec: MessageSchema = {
  1: msg('ports', ServicePort, true),
  2: map('selector', 'string'),
  3: str('clusterIP'),
  4: str('type'),
  5: strs('externalIPs'),
  7: str('sessionAffinity'),
  8: str('loadBalancerIP'),
  9: strs('loadBalancerSourceRanges'),
  10: str('externalName'),
  11: str('externalTrafficPolicy'),
  12: int32('healthCheckNodePort'),
  13: bool('publishNotReadyAddresses'),
  17: str('ipFamilyPolicy'),
  18: strs('clusterIPs'),
  19: strs('ipFamilies'),
  20: bool('allocateLoadBalancerNodePorts', true),
  21: str('loadBalancerClass'),
  22: str('internalTrafficPolicy'),
};
const Service: MessageSchema = { 1: msg('metadata', ObjectMeta), 2: msg('spec', ServiceSpec) };

const Pod: MessageSchema = { 1: msg('metadata', ObjectMeta), 2: msg('spec', PodSpec) };

// k8s.io/api apps/v1
const DeploymentStrategy: MessageSchema = {
  1: str('type'),
  2: msg('rollingUpdate', {
    1: { name: 'maxUnavailable', type: 'intOrString', keepZero: true },
    2: { name: 'maxSurge', type: 'intOrString', keepZero: true },
  }),
};
const DeploymentSpec: MessageSchema = {
  1: int32('replicas', true),
  2: msg('selector', LabelSelector),
  3: msg('template', PodTemplateSpec),
  4: msg('strategy', DeploymentStrategy),
  5: int32('minReadySeconds'),
  6: int32('revisionHistoryLimit', true),
  7: bool('paused'),
  9: int32('progressDeadlineSeconds', true),
};
const Deployment: MessageSchema = { 1: msg('metadata', ObjectMeta), 2: msg('spec', DeploymentSpec) };

const ReplicaSetSpec: MessageSchema = {
  1: int32('replicas', true),
  2: msg('selector', LabelSelector),
  3: msg('template', PodTemplateSpec),
  4: int32('minReadySeconds'),
};
const ReplicaSet: MessageSchema = { 1: msg('metadata', ObjectMeta), 2: msg('spec', ReplicaSetSpec) };

// The Eviction that `kubectl drain` POSTs to pods/{name}/eviction (policy/v1 generated.proto, and
// DeleteOptions from apimachinery meta/v1).
const Eviction: MessageSchema = { 1: msg('metadata', ObjectMeta), 2: msg('deleteOptions', DeleteOptions) };

/** Keyed by `apiVersion/kind` as found in the envelope's typeMeta. */
export const KINDS: Readonly<Record<string, MessageSchema>> = {
  ...AUTH_KINDS,
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/Pod': Pod,
  'apps/v1/Deployment': Deployment,
  'apps/v1/ReplicaSet': ReplicaSet,
  'policy/v1/Eviction': Eviction,
  // client-go sends DeleteOptions under the resource's group version or meta.k8s.io's.
  'v1/DeleteOptions': DeleteOptions,
  'meta.k8s.io/v1/DeleteOptions': DeleteOptions,
  'apps/v1/DeleteOptions': DeleteOptions,
};

/** `apiVersion/kind` pairs this module can decode. */
export const PROTOBUF_KINDS: readonly string[] = Object.keys(KINDS);
