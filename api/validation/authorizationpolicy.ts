// Validation of security.istio.io/v1 AuthorizationPolicy, the subset tugboat honours: a workload
// selector, action ALLOW or DENY, and rules of sources (principals, namespaces, ipBlocks and their
// not- forms) and operations (ports, methods, paths, hosts and their not- forms). What tugboat does
// not enforce (conditions, request principals, AUDIT and CUSTOM) is refused by name rather than
// stored and ignored, so a policy never means less than it says.
import { tryParseCidr } from '../cidr.js';
import { cause, checkArray, checkObject, checkString, type Causes, type Obj } from './causes.js';
import { checkLabelSelector } from './selector.js';

export const AUTHZ_ACTIONS = ['ALLOW', 'DENY'];
const SOURCE_FIELDS = ['principals', 'notPrincipals', 'namespaces', 'notNamespaces', 'ipBlocks', 'notIpBlocks'];
const OPERATION_FIELDS = ['ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths', 'hosts', 'notHosts'];
const NOT_HONOURED: Record<string, string> = {
  when: 'conditions are not enforced by tugboat',
  requestPrincipals: 'request principals (JWT) are not enforced by tugboat',
  notRequestPrincipals: 'request principals (JWT) are not enforced by tugboat',
  remoteIpBlocks: 'remote IP blocks are not enforced by tugboat; use ipBlocks',
  notRemoteIpBlocks: 'remote IP blocks are not enforced by tugboat; use notIpBlocks',
};

export function validateAuthorizationPolicy(obj: Obj): Causes {
  const causes: Causes = [];
  const spec = obj.spec ?? {};
  if (!checkObject(causes, 'spec', spec)) return causes;
  if (checkObject(causes, 'spec.selector', spec.selector)) checkLabelSelector(causes, 'spec.selector', spec.selector);
  if (spec.targetRef !== undefined || spec.targetRefs !== undefined) causes.push(cause.forbidden(spec.targetRef !== undefined ? 'spec.targetRef' : 'spec.targetRefs', 'not supported by tugboat; select workloads with spec.selector'));
  if (spec.provider !== undefined) causes.push(cause.forbidden('spec.provider', 'CUSTOM authorization providers are not supported by tugboat'));
  if (spec.action !== undefined && !AUTHZ_ACTIONS.includes(spec.action as string)) causes.push(cause.notSupported('spec.action', spec.action, AUTHZ_ACTIONS));
  checkArray(causes, 'spec.rules', spec.rules).forEach((rule, i) => validateRule(causes, `spec.rules[${i}]`, rule));
  return causes;
}

function validateRule(causes: Causes, p: string, rule: unknown): void {
  if (!checkObject(causes, p, rule, { required: true })) return;
  if (rule.when !== undefined) causes.push(cause.forbidden(`${p}.when`, NOT_HONOURED.when));
  checkArray(causes, `${p}.from`, rule.from).forEach((f, j) => {
    const q = `${p}.from[${j}]`;
    if (!checkObject(causes, q, f, { required: true })) return;
    if (!checkObject(causes, `${q}.source`, f.source, { required: true })) return;
    validateFields(causes, `${q}.source`, f.source, SOURCE_FIELDS);
  });
  checkArray(causes, `${p}.to`, rule.to).forEach((t, j) => {
    const q = `${p}.to[${j}]`;
    if (!checkObject(causes, q, t, { required: true })) return;
    if (!checkObject(causes, `${q}.operation`, t.operation, { required: true })) return;
    validateFields(causes, `${q}.operation`, t.operation, OPERATION_FIELDS);
  });
}

/** Each field a list of non-empty strings, of the form its kind needs; fields tugboat does not enforce refused. */
function validateFields(causes: Causes, p: string, o: Obj, known: string[]): void {
  for (const [key, value] of Object.entries(o)) {
    const field = `${p}.${key}`;
    if (NOT_HONOURED[key]) {
      causes.push(cause.forbidden(field, NOT_HONOURED[key]));
      continue;
    }
    if (!known.includes(key)) {
      causes.push(cause.notSupported(field, key, known));
      continue;
    }
    const items = checkArray(causes, field, value);
    if (Array.isArray(value) && items.length === 0) causes.push(cause.required(field, 'must have at least one value, or be left out'));
    items.forEach((item, i) => {
      if (checkString(causes, `${field}[${i}]`, item, { required: true })) checkValue(causes, `${field}[${i}]`, key, item);
    });
  }
}

function checkValue(causes: Causes, field: string, key: string, value: string): void {
  const base = key.replace(/^not/, '').toLowerCase();
  if (value === '') causes.push(cause.required(field, 'must not be empty'));
  else if (base === 'ipblocks' && !tryParseCidr(value.includes('/') ? value : `${value}/32`)) causes.push(cause.invalid(field, value, 'must be an IPv4 address or CIDR'));
  else if (base === 'ports' && !(/^\d{1,5}$/.test(value) && Number(value) >= 1 && Number(value) <= 65535)) causes.push(cause.invalid(field, value, 'must be a port number from 1 to 65535, as a string'));
  else if (base === 'methods' && !/^[A-Z]+$|^\*$/.test(value)) causes.push(cause.invalid(field, value, 'must be an HTTP method in capitals (GET, POST, ...) or *'));
  else if (base === 'paths' && !/^(\/|\*)/.test(value)) causes.push(cause.invalid(field, value, 'must start with / (or * for a suffix match)'));
  else if (value.indexOf('*', 1) !== -1 && value.indexOf('*', 1) !== value.length - 1) causes.push(cause.invalid(field, value, 'may hold * only as its first or last character (a prefix or suffix match)'));
}
