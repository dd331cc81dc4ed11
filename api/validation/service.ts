// Validation of Services: type, clusterIP, ports (numbers, names, target ports, node ports), the
// selector, and the immutability of an allocated clusterIP on update.

import { cause, checkArray, checkEnum, checkInt, checkObject, checkString, checkSyntax, isObj, type Causes, type Obj } from './causes.js';
import { validateLabels } from './meta.js';
import { isDNS1123Label, isDNS1123Subdomain, isIPv4 } from './names.js';
import { checkPortNumberOrName, PROTOCOLS } from './pod.js';

const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
const NODE_PORT_MIN = 30000;
const NODE_PORT_MAX = 32767;

export function validateService(obj: Obj, old?: Obj): Causes {
  const causes: Causes = [];
  const spec = obj.spec;
  if (!checkObject(causes, 'spec', spec, { required: true })) return causes;

  checkEnum(causes, 'spec.type', spec.type, SERVICE_TYPES);
  const type = typeof spec.type === 'string' ? spec.type : 'ClusterIP';
  const clusterIP = checkString(causes, 'spec.clusterIP', spec.clusterIP) ? spec.clusterIP : '';
  const headless = clusterIP === 'None';

  if (clusterIP !== '' && clusterIP !== 'None' && !isIPv4(clusterIP)) {
    causes.push(cause.invalid('spec.clusterIP', clusterIP, "must be empty (to allocate one), 'None' (headless) or a valid IPv4 address inside --service-cidr, e.g. 127.77.0.20"));
  }
  if (headless && (type === 'NodePort' || type === 'LoadBalancer')) {
    causes.push(cause.invalid('spec.clusterIP', clusterIP, `may not be set to 'None' for ${type} services`));
  }

  if (type === 'ExternalName') {
    if (clusterIP !== '') causes.push(cause.forbidden('spec.clusterIP', 'must not be set for ExternalName services'));
    if (checkString(causes, 'spec.externalName', spec.externalName, { required: true })) {
      checkSyntax(causes, 'spec.externalName', spec.externalName.replace(/\.$/, ''), isDNS1123Subdomain);
    }
  }

  const ports = checkArray(causes, 'spec.ports', spec.ports);
  const noPorts = spec.ports === undefined || spec.ports === null || (Array.isArray(spec.ports) && spec.ports.length === 0);
  if (noPorts && !headless && type !== 'ExternalName') {
    causes.push(cause.required('spec.ports', 'a ClusterIP, NodePort or LoadBalancer Service needs at least one port'));
  }
  validatePorts(causes, ports, type);

  validateLabels(causes, 'spec.selector', spec.selector);
  checkEnum(causes, 'spec.sessionAffinity', spec.sessionAffinity, ['None', 'ClientIP']);
  checkEnum(causes, 'spec.externalTrafficPolicy', spec.externalTrafficPolicy, ['Cluster', 'Local']);
  checkEnum(causes, 'spec.internalTrafficPolicy', spec.internalTrafficPolicy, ['Cluster', 'Local']);
  checkArray(causes, 'spec.externalIPs', spec.externalIPs).forEach((ip, i) => {
    if (checkString(causes, `spec.externalIPs[${i}]`, ip, { required: true }) && !isIPv4(ip)) {
      causes.push(cause.invalid(`spec.externalIPs[${i}]`, ip, 'must be a valid IPv4 address'));
    }
  });

  // An allocated clusterIP is what clients and the proxy rules hold on to; an empty one on update
  // means "keep it" and is filled by the server.
  const oldIP = old && isObj(old.spec) && typeof old.spec.clusterIP === 'string' ? old.spec.clusterIP : '';
  if (oldIP !== '' && clusterIP !== '' && clusterIP !== oldIP) {
    causes.push(cause.invalid('spec.clusterIP', clusterIP, 'field is immutable'));
  }
  return causes;
}

function validatePorts(causes: Causes, ports: unknown[], type: string): void {
  const names = new Set<string>();
  const portKeys = new Set<string>();
  const nodePorts = new Set<string>();
  ports.forEach((port, i) => {
    const p = `spec.ports[${i}]`;
    if (!checkObject(causes, p, port, { required: true })) return;

    // Names become SRV records and Endpoints port names, so they are required once there are two.
    if (port.name === undefined || port.name === null || port.name === '') {
      if (ports.length > 1) causes.push(cause.required(`${p}.name`, 'each port needs a name when a Service has more than one port'));
    } else if (checkString(causes, `${p}.name`, port.name)) {
      checkSyntax(causes, `${p}.name`, port.name, isDNS1123Label);
      if (names.has(port.name)) causes.push(cause.duplicate(`${p}.name`, port.name));
      names.add(port.name);
    }

    const number = checkInt(causes, `${p}.port`, port.port, { required: true, min: 1, max: 65535 });
    checkEnum(causes, `${p}.protocol`, port.protocol, PROTOCOLS);
    const protocol = typeof port.protocol === 'string' ? port.protocol : 'TCP';
    if (number !== undefined) {
      const key = `${number}/${protocol}`;
      if (portKeys.has(key)) causes.push(cause.duplicate(p, { port: number, protocol }));
      portKeys.add(key);
    }

    // 0 means "same as port" and is defaulted.
    if (port.targetPort !== 0) checkPortNumberOrName(causes, `${p}.targetPort`, port.targetPort);

    if (port.nodePort !== undefined && port.nodePort !== null && port.nodePort !== 0) {
      if (type !== 'NodePort' && type !== 'LoadBalancer') {
        causes.push(cause.forbidden(`${p}.nodePort`, `may not be used when \`type\` is '${type}'`));
      } else {
        const nodePort = checkInt(causes, `${p}.nodePort`, port.nodePort, {
          min: NODE_PORT_MIN,
          max: NODE_PORT_MAX,
          rangeMessage: `provided port is not in the valid range. The range of valid ports is ${NODE_PORT_MIN}-${NODE_PORT_MAX}`,
        });
        if (nodePort !== undefined) {
          const key = `${nodePort}/${protocol}`;
          if (nodePorts.has(key)) causes.push(cause.duplicate(`${p}.nodePort`, nodePort));
          nodePorts.add(key);
        }
      }
    }
    checkString(causes, `${p}.appProtocol`, port.appProtocol);
  });
}
