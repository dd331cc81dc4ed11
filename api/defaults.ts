// The defaults the API server fills into objects on create and update, as Kubernetes does, so what
// clients read back (kubectl get -o yaml, apply's diff) looks the same as against a real cluster.
// Defaulting never throws: fields of the wrong type are left alone for validation to report.

import type { ResourceInfo } from './resources.js';
import type { KubeObject } from './types.js';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The object at `parent[key]`, created empty when missing; undefined when something else is there. */
function child(parent: Obj, key: string): Obj | undefined {
  if (parent[key] === undefined) parent[key] = {};
  return isObj(parent[key]) ? (parent[key] as Obj) : undefined;
}

function setDefault(o: Obj, key: string, value: unknown): void {
  if (o[key] === undefined || o[key] === null || o[key] === '') o[key] = value;
}

function objects(list: unknown): Obj[] {
  return Array.isArray(list) ? list.filter(isObj) : [];
}

/** Fills Kubernetes defaults into `obj` in place. Metadata is left to the API server. */
export function applyDefaults(resource: ResourceInfo, obj: KubeObject): void {
  switch (resource.kind) {
    case 'Pod':
      if (isObj(obj.spec)) defaultPodSpec(obj.spec);
      break;
    case 'Deployment':
      if (isObj(obj.spec)) defaultDeploymentSpec(obj.spec);
      break;
    case 'ReplicaSet':
      if (isObj(obj.spec)) {
        setDefault(obj.spec, 'replicas', 1);
        defaultTemplate(obj.spec);
      }
      break;
    case 'Service':
      if (isObj(obj.spec)) defaultServiceSpec(obj.spec);
      break;
    case 'NetworkPolicy':
      if (isObj(obj.spec)) defaultNetworkPolicySpec(obj.spec);
      break;
    case 'Secret':
      defaultSecret(obj);
      break;
    case 'Namespace':
      defaultNamespace(obj);
      break;
    case 'Node':
      if (isObj(obj.spec)) defaultNodeSpec(obj.spec);
      break;
  }
}

function defaultTemplate(spec: Obj): void {
  const template = spec.template;
  if (isObj(template) && isObj(template.spec)) defaultPodSpec(template.spec);
}

export function defaultPodSpec(spec: Obj): void {
  setDefault(spec, 'restartPolicy', 'Always');
  setDefault(spec, 'terminationGracePeriodSeconds', 30);
  setDefault(spec, 'dnsPolicy', 'ClusterFirst');
  setDefault(spec, 'schedulerName', 'default-scheduler');
  setDefault(spec, 'enableServiceLinks', true);
  if (spec.securityContext === undefined) spec.securityContext = {};
  for (const c of [...objects(spec.initContainers), ...objects(spec.containers)]) defaultContainer(c);
}

function defaultContainer(c: Obj): void {
  setDefault(c, 'imagePullPolicy', pullPolicyFor(c.image));
  setDefault(c, 'terminationMessagePath', '/dev/termination-log');
  setDefault(c, 'terminationMessagePolicy', 'File');
  if (c.resources === undefined) c.resources = {};
  for (const port of objects(c.ports)) setDefault(port, 'protocol', 'TCP');
  for (const name of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    if (isObj(c[name])) defaultProbe(c[name] as Obj);
  }
}

/** `Always` for `:latest` or an untagged image, otherwise `IfNotPresent` (a digest counts as pinned). */
export function pullPolicyFor(image: unknown): 'Always' | 'IfNotPresent' {
  if (typeof image !== 'string' || image === '') return 'IfNotPresent';
  if (image.includes('@')) {
    const named = image.slice(0, image.indexOf('@'));
    return tagOf(named) === 'latest' ? 'Always' : 'IfNotPresent';
  }
  const tag = tagOf(image);
  return tag === undefined || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/** The tag after the last ':' that follows the last '/', so `registry:5000/app` has no tag. */
function tagOf(image: string): string | undefined {
  const colon = image.lastIndexOf(':');
  return colon > image.lastIndexOf('/') ? image.slice(colon + 1) : undefined;
}

function defaultProbe(probe: Obj): void {
  // These are plain integers in Kubernetes, where 0 means "unset".
  for (const [key, value] of [['periodSeconds', 10], ['timeoutSeconds', 1], ['failureThreshold', 3], ['successThreshold', 1]] as const) {
    if (probe[key] === undefined || probe[key] === null || probe[key] === 0) probe[key] = value;
  }
  if (isObj(probe.httpGet)) {
    setDefault(probe.httpGet, 'scheme', 'HTTP');
    setDefault(probe.httpGet, 'path', '/');
  }
}

function defaultDeploymentSpec(spec: Obj): void {
  setDefault(spec, 'replicas', 1);
  setDefault(spec, 'revisionHistoryLimit', 10);
  setDefault(spec, 'progressDeadlineSeconds', 600);
  const strategy = child(spec, 'strategy');
  if (strategy) {
    setDefault(strategy, 'type', 'RollingUpdate');
    if (strategy.type === 'RollingUpdate') {
      const rolling = child(strategy, 'rollingUpdate');
      if (rolling) {
        setDefault(rolling, 'maxSurge', '25%');
        setDefault(rolling, 'maxUnavailable', '25%');
      }
    }
  }
  defaultTemplate(spec);
}

function defaultServiceSpec(spec: Obj): void {
  setDefault(spec, 'type', 'ClusterIP');
  setDefault(spec, 'sessionAffinity', 'None');
  if (spec.type !== 'ExternalName') setDefault(spec, 'internalTrafficPolicy', 'Cluster');
  if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') setDefault(spec, 'externalTrafficPolicy', 'Cluster');
  for (const port of objects(spec.ports)) {
    setDefault(port, 'protocol', 'TCP');
    // A targetPort of 0 means "unset" in Kubernetes, so it is defaulted too.
    if (port.targetPort === undefined || port.targetPort === null || port.targetPort === 0 || port.targetPort === '') {
      if (port.port !== undefined) port.targetPort = port.port;
    }
  }
}

function defaultSecret(obj: KubeObject): void {
  setDefault(obj, 'type', 'Opaque');
  const stringData = obj.stringData;
  if (stringData === undefined || stringData === null) {
    delete obj.stringData;
    return;
  }
  // A stringData of the wrong shape stays for validation to report.
  if (!isObj(stringData) || !Object.values(stringData).every((v) => typeof v === 'string')) return;
  const data = child(obj, 'data');
  if (!data) return;
  // stringData wins over data for the same key, as in Kubernetes.
  for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(v as string, 'utf8').toString('base64');
  delete obj.stringData;
}

function defaultNamespace(obj: KubeObject): void {
  // Every namespace carries its own name as a label (Kubernetes 1.21+), so selectors (a
  // NetworkPolicy's namespaceSelector) can pick one by name.
  if (typeof obj.metadata.name === 'string' && obj.metadata.name) {
    obj.metadata.labels = { ...(obj.metadata.labels ?? {}), 'kubernetes.io/metadata.name': obj.metadata.name };
  }
  const spec = child(obj, 'spec');
  if (spec && spec.finalizers === undefined) spec.finalizers = ['kubernetes'];
  const status = child(obj, 'status');
  if (status) setDefault(status, 'phase', 'Active');
}

/** spec.podCIDR and spec.podCIDRs say the same (the first of the list is the one), as Kubernetes keeps them. */
function defaultNodeSpec(spec: Record<string, unknown>): void {
  const list = spec.podCIDRs;
  if (typeof spec.podCIDR === 'string' && spec.podCIDR && (list === undefined || (Array.isArray(list) && list.length === 0))) spec.podCIDRs = [spec.podCIDR];
  else if (!spec.podCIDR && Array.isArray(list) && typeof list[0] === 'string') spec.podCIDR = list[0];
}

/**
 * Kubernetes' defaults: policyTypes is Ingress, plus Egress when the policy has egress rules;
 * a port without a protocol is TCP.
 */
function defaultNetworkPolicySpec(spec: Record<string, unknown>): void {
  if (spec.policyTypes === undefined || (Array.isArray(spec.policyTypes) && spec.policyTypes.length === 0)) {
    spec.policyTypes = Array.isArray(spec.egress) && spec.egress.length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
  }
  for (const key of ['ingress', 'egress']) {
    const rules = spec[key];
    if (!Array.isArray(rules)) continue;
    for (const rule of rules) {
      if (!isObj(rule) || !Array.isArray(rule.ports)) continue;
      for (const port of rule.ports) if (isObj(port) && port.protocol === undefined) port.protocol = 'TCP';
    }
  }
}
