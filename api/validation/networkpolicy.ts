// Validation of networking.k8s.io/v1 NetworkPolicy, as kube-apiserver checks it: the pod
// selector, policy types, and each rule's peers (a pod and/or namespace selector, or an ipBlock
// whose exceptions lie inside it) and ports (a number or a port name, endPort only after a
// number). Addresses are IPv4: the cluster has no IPv6.
import { cidrsOverlap, tryParseCidr, type Cidr } from '../cidr.js';
import { cause, checkArray, checkEnum, checkInt, checkObject, checkString, checkSyntax, type Causes, type Obj } from './causes.js';
import { isValidPortName } from './names.js';
import { checkLabelSelector } from './selector.js';

const POLICY_TYPES = ['Ingress', 'Egress'];
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];

export function validateNetworkPolicy(obj: Obj): Causes {
  const causes: Causes = [];
  const spec = obj.spec;
  if (!checkObject(causes, 'spec', spec, { required: true })) return causes;
  if (checkObject(causes, 'spec.podSelector', spec.podSelector, { required: true })) checkLabelSelector(causes, 'spec.podSelector', spec.podSelector);
  const types = checkArray(causes, 'spec.policyTypes', spec.policyTypes);
  types.forEach((t, i) => checkEnum(causes, `spec.policyTypes[${i}]`, t, POLICY_TYPES));
  if (types.length > 2) causes.push(cause.invalid('spec.policyTypes', types, 'may not have more than 2 items (Ingress and Egress)'));
  for (const [key, peers] of [['ingress', 'from'], ['egress', 'to']] as const) {
    checkArray(causes, `spec.${key}`, spec[key]).forEach((rule, i) => {
      const p = `spec.${key}[${i}]`;
      if (!checkObject(causes, p, rule, { required: true })) return;
      checkArray(causes, `${p}.ports`, rule.ports).forEach((port, j) => validatePort(causes, `${p}.ports[${j}]`, port));
      checkArray(causes, `${p}.${peers}`, rule[peers]).forEach((peer, j) => validatePeer(causes, `${p}.${peers}[${j}]`, peer));
    });
  }
  return causes;
}

function validatePort(causes: Causes, p: string, port: unknown): void {
  if (!checkObject(causes, p, port, { required: true })) return;
  if (port.protocol !== undefined) checkEnum(causes, `${p}.protocol`, port.protocol, PROTOCOLS);
  const value = port.port;
  if (typeof value === 'string') checkSyntax(causes, `${p}.port`, value, isValidPortName);
  else if (value !== undefined) checkInt(causes, `${p}.port`, value, { min: 1, max: 65535 });
  if (port.endPort === undefined) return;
  const end = checkInt(causes, `${p}.endPort`, port.endPort, { min: 1, max: 65535 });
  if (value === undefined) causes.push(cause.required(`${p}.port`, 'must be specified when `endPort` is specified'));
  else if (typeof value === 'string') causes.push(cause.forbidden(`${p}.endPort`, 'may not be specified when `port` is non-numeric'));
  else if (end !== undefined && typeof value === 'number' && end < value) causes.push(cause.invalid(`${p}.endPort`, end, 'must be greater than or equal to `port`'));
}

function validatePeer(causes: Causes, p: string, peer: unknown): void {
  if (!checkObject(causes, p, peer, { required: true })) return;
  const given = ['podSelector', 'namespaceSelector', 'ipBlock'].filter((k) => peer[k] !== undefined && peer[k] !== null);
  if (given.length === 0) causes.push(cause.required(p, 'must specify a peer (podSelector, namespaceSelector or ipBlock)'));
  if (given.includes('ipBlock') && given.length > 1) causes.push(cause.forbidden(p, 'may not specify more than 1 peer: ipBlock cannot be combined with a pod or namespace selector'));
  for (const k of ['podSelector', 'namespaceSelector']) {
    if (checkObject(causes, `${p}.${k}`, peer[k])) checkLabelSelector(causes, `${p}.${k}`, peer[k] as Obj);
  }
  if (checkObject(causes, `${p}.ipBlock`, peer.ipBlock)) validateIpBlock(causes, `${p}.ipBlock`, peer.ipBlock);
}

function validateIpBlock(causes: Causes, p: string, block: Obj): void {
  const outer = cidrOf(causes, `${p}.cidr`, block.cidr, true);
  checkArray(causes, `${p}.except`, block.except).forEach((e, i) => {
    const inner = cidrOf(causes, `${p}.except[${i}]`, e, true);
    if (!outer || !inner) return;
    const inside = cidrsOverlap(outer, inner) && inner.prefix > outer.prefix;
    if (!inside) causes.push(cause.invalid(`${p}.except[${i}]`, e, `must be a strict subset of \`cidr\` ${String(block.cidr)}`));
  });
}

function cidrOf(causes: Causes, field: string, value: unknown, required: boolean): Cidr | undefined {
  if (!checkString(causes, field, value, { required })) return undefined;
  const parsed = tryParseCidr(value);
  if (!parsed) causes.push(cause.invalid(field, value, 'must be a valid IPv4 CIDR, for example 10.0.0.0/24'));
  return parsed;
}
