// Validation of a PodSpec, used for Pods (path `spec`) and for the Pod templates of Deployments
// and ReplicaSets (path `spec.template.spec`). Fields that defaulting fills are checked only when
// present, so the checks hold whether or not defaults were applied first.

import { isValidQuantity, parseQuantity } from '../quantity.js';
import {
  cause,
  checkArray,
  checkEnum,
  checkInt,
  checkObject,
  checkString,
  checkSyntax,
  type Causes,
  type Obj,
} from './causes.js';
import { validateLabels } from './meta.js';
import { isDNS1123Label, isDNS1123Subdomain, isEnvVarName, isQualifiedName, isValidPortName } from './names.js';

export const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];
const DNS_POLICIES = ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'];
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];
const TERMINATION_MESSAGE_POLICIES = ['File', 'FallbackToLogsOnError'];
const STANDARD_CONTAINER_RESOURCES = ['cpu', 'memory', 'ephemeral-storage'];
const PROBE_HANDLERS = ['exec', 'httpGet', 'tcpSocket', 'grpc'];

/** What the containers of one pod share: names and port names are unique pod-wide. */
interface PodContext {
  causes: Causes;
  volumes: Set<string>;
  containerNames: Set<string>;
  portNames: Set<string>;
}

export function validatePodSpec(spec: unknown, path: string): Causes {
  const causes: Causes = [];
  if (!checkObject(causes, path, spec, { required: true })) return causes;
  const ctx: PodContext = { causes, volumes: validateVolumes(causes, `${path}.volumes`, spec.volumes), containerNames: new Set(), portNames: new Set() };

  checkArray(causes, `${path}.initContainers`, spec.initContainers).forEach((c, i) => validateContainer(ctx, c, `${path}.initContainers[${i}]`, true));
  const containers = checkArray(causes, `${path}.containers`, spec.containers);
  if (spec.containers === undefined || spec.containers === null || (Array.isArray(spec.containers) && spec.containers.length === 0)) {
    causes.push(cause.required(`${path}.containers`, 'a pod needs at least one container'));
  }
  containers.forEach((c, i) => validateContainer(ctx, c, `${path}.containers[${i}]`, false));

  checkEnum(causes, `${path}.restartPolicy`, spec.restartPolicy, RESTART_POLICIES);
  checkEnum(causes, `${path}.dnsPolicy`, spec.dnsPolicy, DNS_POLICIES);
  checkInt(causes, `${path}.terminationGracePeriodSeconds`, spec.terminationGracePeriodSeconds, { min: 0 });
  checkInt(causes, `${path}.activeDeadlineSeconds`, spec.activeDeadlineSeconds, { min: 1 });
  for (const f of ['nodeName', 'serviceAccountName', 'schedulerName', 'runtimeClassName']) {
    if (checkString(causes, `${path}.${f}`, spec[f]) && spec[f] !== '') checkSyntax(causes, `${path}.${f}`, spec[f] as string, isDNS1123Subdomain);
  }
  for (const f of ['hostname', 'subdomain']) {
    if (checkString(causes, `${path}.${f}`, spec[f]) && spec[f] !== '') checkSyntax(causes, `${path}.${f}`, spec[f] as string, isDNS1123Label);
  }
  validateLabels(causes, `${path}.nodeSelector`, spec.nodeSelector);
  return causes;
}

function validateVolumes(causes: Causes, path: string, volumes: unknown): Set<string> {
  const names = new Set<string>();
  checkArray(causes, path, volumes).forEach((v, i) => {
    const p = `${path}[${i}]`;
    if (!checkObject(causes, p, v, { required: true })) return;
    if (!checkString(causes, `${p}.name`, v.name, { required: true })) return;
    checkSyntax(causes, `${p}.name`, v.name, isDNS1123Label);
    if (names.has(v.name)) causes.push(cause.duplicate(`${p}.name`, v.name));
    names.add(v.name);
  });
  return names;
}

function validateContainer(ctx: PodContext, c: unknown, p: string, isInit: boolean): void {
  const { causes } = ctx;
  if (!checkObject(causes, p, c, { required: true })) return;

  if (checkString(causes, `${p}.name`, c.name, { required: true })) {
    checkSyntax(causes, `${p}.name`, c.name, isDNS1123Label);
    if (ctx.containerNames.has(c.name)) causes.push(cause.duplicate(`${p}.name`, c.name));
    ctx.containerNames.add(c.name);
  }
  if (checkString(causes, `${p}.image`, c.image, { required: true }) && c.image.trim() !== c.image) {
    causes.push(cause.invalid(`${p}.image`, c.image, 'must not have leading or trailing whitespace'));
  }
  checkEnum(causes, `${p}.imagePullPolicy`, c.imagePullPolicy, PULL_POLICIES);
  checkEnum(causes, `${p}.terminationMessagePolicy`, c.terminationMessagePolicy, TERMINATION_MESSAGE_POLICIES);
  for (const f of ['command', 'args']) {
    checkArray(causes, `${p}.${f}`, c[f]).forEach((s, i) => checkString(causes, `${p}.${f}[${i}]`, s));
  }
  checkString(causes, `${p}.workingDir`, c.workingDir);

  checkArray(causes, `${p}.ports`, c.ports).forEach((port, i) => validateContainerPort(ctx, port, `${p}.ports[${i}]`));
  checkArray(causes, `${p}.env`, c.env).forEach((e, i) => validateEnvVar(causes, e, `${p}.env[${i}]`));
  checkArray(causes, `${p}.envFrom`, c.envFrom).forEach((e, i) => checkObject(causes, `${p}.envFrom[${i}]`, e, { required: true }));
  if (checkObject(causes, `${p}.resources`, c.resources)) validateResources(causes, c.resources, `${p}.resources`);

  // Only sidecars (init containers that keep running) may have probes.
  const sidecar = isInit && c.restartPolicy === 'Always';
  if (isInit) checkEnum(causes, `${p}.restartPolicy`, c.restartPolicy, ['Always']);
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    if (c[probe] === undefined || c[probe] === null) continue;
    if (isInit && !sidecar) causes.push(cause.forbidden(`${p}.${probe}`, 'may not be set for init containers without restartPolicy=Always'));
    else validateProbe(causes, c[probe], `${p}.${probe}`, probe !== 'readinessProbe');
  }

  const mountPaths = new Set<string>();
  checkArray(causes, `${p}.volumeMounts`, c.volumeMounts).forEach((m, i) => {
    const mp = `${p}.volumeMounts[${i}]`;
    if (!checkObject(causes, mp, m, { required: true })) return;
    if (checkString(causes, `${mp}.name`, m.name, { required: true }) && !ctx.volumes.has(m.name)) {
      causes.push(cause.notFound(`${mp}.name`, m.name, 'no volume of this name in spec.volumes'));
    }
    if (checkString(causes, `${mp}.mountPath`, m.mountPath, { required: true })) {
      if (mountPaths.has(m.mountPath)) causes.push(cause.invalid(`${mp}.mountPath`, m.mountPath, 'must be unique'));
      mountPaths.add(m.mountPath);
    }
  });
}

function validateContainerPort(ctx: PodContext, port: unknown, p: string): void {
  const { causes } = ctx;
  if (!checkObject(causes, p, port, { required: true })) return;
  checkInt(causes, `${p}.containerPort`, port.containerPort, { required: true, min: 1, max: 65535 });
  // hostPort 0 means "no host port".
  if (port.hostPort !== 0) checkInt(causes, `${p}.hostPort`, port.hostPort, { min: 1, max: 65535 });
  checkEnum(causes, `${p}.protocol`, port.protocol, PROTOCOLS);
  checkString(causes, `${p}.hostIP`, port.hostIP);
  if (checkString(causes, `${p}.name`, port.name) && port.name !== '') {
    checkSyntax(causes, `${p}.name`, port.name, isValidPortName);
    if (ctx.portNames.has(port.name)) causes.push(cause.duplicate(`${p}.name`, port.name));
    ctx.portNames.add(port.name);
  }
}

function validateEnvVar(causes: Causes, e: unknown, p: string): void {
  if (!checkObject(causes, p, e, { required: true })) return;
  if (checkString(causes, `${p}.name`, e.name, { required: true })) checkSyntax(causes, `${p}.name`, e.name, isEnvVarName);
  // Numbers and booleans in `value` are a classic YAML slip (`value: 8080`, `value: true`).
  checkString(causes, `${p}.value`, e.value);
  if (checkObject(causes, `${p}.valueFrom`, e.valueFrom) && typeof e.value === 'string' && e.value !== '') {
    causes.push(cause.invalid(`${p}.valueFrom`, '', 'may not be specified when `value` is not empty'));
  }
}

function validateResources(causes: Causes, resources: Obj, p: string): void {
  const amounts: Record<'limits' | 'requests', Map<string, { text: unknown; value: number }>> = { limits: new Map(), requests: new Map() };
  for (const kind of ['limits', 'requests'] as const) {
    const list = resources[kind];
    if (!checkObject(causes, `${p}.${kind}`, list)) continue;
    for (const [name, q] of Object.entries(list)) {
      const f = `${p}.${kind}[${name}]`;
      if (!name.includes('/') && !STANDARD_CONTAINER_RESOURCES.includes(name) && !name.startsWith('hugepages-')) {
        causes.push(cause.invalid(f, name, `must be a standard resource for containers (${STANDARD_CONTAINER_RESOURCES.join(', ')}, hugepages-<size>) or a fully qualified name such as example.com/gpu`));
      } else if (name.includes('/')) {
        checkSyntax(causes, f, name, isQualifiedName);
      }
      if (typeof q !== 'string' && typeof q !== 'number') {
        causes.push(cause.typeInvalid(f, q, 'string'));
      } else if (!isValidQuantity(q)) {
        causes.push(cause.invalid(f, q, 'must be a quantity such as "500m", "2", "128Mi" or "1Gi"'));
      } else if (parseQuantity(q) < 0) {
        causes.push(cause.invalid(f, q, 'must be greater than or equal to 0'));
      } else {
        amounts[kind].set(name, { text: q, value: parseQuantity(q) });
      }
    }
  }
  for (const [name, req] of amounts.requests) {
    const limit = amounts.limits.get(name);
    if (limit && req.value > limit.value) {
      causes.push(cause.invalid(`${p}.requests[${name}]`, String(req.text), `must be less than or equal to ${name} limit of ${String(limit.text)}`));
    }
  }
}

/** A port given as a number (1-65535) or as the name of a container port. */
export function checkPortNumberOrName(causes: Causes, f: string, value: unknown, opts: { required?: boolean } = {}): void {
  if (value === undefined || value === null) {
    if (opts.required) causes.push(cause.required(f));
  } else if (typeof value === 'number') {
    checkInt(causes, f, value, { min: 1, max: 65535 });
  } else if (typeof value === 'string') {
    if (/^\d+$/.test(value)) {
      causes.push(cause.invalid(f, value, `must be a port number or a port name; write the number ${value} without quotes`));
    } else {
      checkSyntax(causes, f, value, isValidPortName);
    }
  } else {
    causes.push(cause.typeInvalid(f, value, 'integer or string'));
  }
}

function validateProbe(causes: Causes, probe: unknown, p: string, mustSucceedOnce: boolean): void {
  if (!checkObject(causes, p, probe)) return;
  const handlers = PROBE_HANDLERS.filter((h) => probe[h] !== undefined && probe[h] !== null);
  if (handlers.length === 0) causes.push(cause.required(p, `must specify a handler type (${PROBE_HANDLERS.join(', ')})`));
  if (handlers.length > 1) causes.push(cause.forbidden(`${p}.${handlers[1]}`, 'may not specify more than 1 handler type'));

  if (checkObject(causes, `${p}.exec`, probe.exec)) {
    const cmd = probe.exec.command;
    if (cmd === undefined || cmd === null || (Array.isArray(cmd) && cmd.length === 0)) causes.push(cause.required(`${p}.exec.command`));
    checkArray(causes, `${p}.exec.command`, cmd).forEach((s, i) => checkString(causes, `${p}.exec.command[${i}]`, s));
  }
  if (checkObject(causes, `${p}.httpGet`, probe.httpGet)) {
    checkPortNumberOrName(causes, `${p}.httpGet.port`, probe.httpGet.port, { required: true });
    checkEnum(causes, `${p}.httpGet.scheme`, probe.httpGet.scheme, ['HTTP', 'HTTPS']);
    checkString(causes, `${p}.httpGet.path`, probe.httpGet.path);
    checkString(causes, `${p}.httpGet.host`, probe.httpGet.host);
  }
  if (checkObject(causes, `${p}.tcpSocket`, probe.tcpSocket)) {
    checkPortNumberOrName(causes, `${p}.tcpSocket.port`, probe.tcpSocket.port, { required: true });
  }
  if (checkObject(causes, `${p}.grpc`, probe.grpc)) {
    checkInt(causes, `${p}.grpc.port`, probe.grpc.port, { required: true, min: 1, max: 65535 });
  }

  for (const f of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold']) {
    checkInt(causes, `${p}.${f}`, probe[f], { min: 0 });
  }
  // 0 means "unset" (defaulted to 1); negatives were reported above.
  if (mustSucceedOnce && typeof probe.successThreshold === 'number' && Number.isInteger(probe.successThreshold) && probe.successThreshold > 1) {
    causes.push(cause.invalid(`${p}.successThreshold`, probe.successThreshold, 'must be 1'));
  }
}
