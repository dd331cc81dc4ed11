import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Endpoints, Service } from '../api/types.js';
import { buildTable, endpointsForPort, isHttpPort, listenAddresses } from './table.js';

const svc = (name: string, spec: Service['spec'], namespace = 'default'): Service => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec });
const eps = (name: string, subsets: Endpoints['subsets'], namespace = 'default'): Endpoints => ({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace }, subsets });
const addr = (ip: string, pod?: string) => ({ ip, ...(pod ? { targetRef: { kind: 'Pod', name: pod } } : {}) });

describe('buildTable', () => {
  it('makes one entry per Service port with its ready endpoints, resolved by port name', () => {
    const services = [
      svc('web', {
        clusterIP: '127.77.0.20',
        ports: [
          { name: 'http', port: 80, targetPort: 'http' },
          { name: 'admin', port: 9000, targetPort: 9000 },
        ],
      }),
    ];
    // hostport mode: each pod has its own node ports, so subsets are grouped by port set.
    const endpoints = [
      eps('web', [
        { addresses: [addr('127.0.0.1', 'web-a')], notReadyAddresses: [addr('127.0.0.1', 'web-c')], ports: [{ name: 'http', port: 20001 }, { name: 'admin', port: 20002 }] },
        { addresses: [addr('127.0.0.1', 'web-b')], ports: [{ name: 'admin', port: 20004 }, { name: 'http', port: 20003 }] },
      ]),
    ];
    const table = buildTable(services, endpoints);
    assert.deepEqual(
      table.map((e) => [e.key, e.mode, e.clusterIP, e.port, e.endpoints.map((x) => `${x.pod}@${x.port}`), e.notReady]),
      [
        ['default/web:admin', 'tcp', '127.77.0.20', 9000, ['web-a@20002', 'web-b@20004'], 1],
        ['default/web:http', 'http', '127.77.0.20', 80, ['web-a@20001', 'web-b@20003'], 1],
      ],
    );
  });

  it('gives NodePort and LoadBalancer Services a nodePort, ClusterIP ones none', () => {
    const table = buildTable(
      [
        svc('a', { type: 'NodePort', clusterIP: '127.77.0.21', ports: [{ port: 80, nodePort: 30080 }] }),
        svc('b', { type: 'LoadBalancer', clusterIP: '127.77.0.22', ports: [{ port: 81, nodePort: 30081 }] }),
        svc('c', { type: 'ClusterIP', clusterIP: '127.77.0.23', ports: [{ port: 82, nodePort: 30082 }] }),
      ],
      [],
    );
    assert.deepEqual(table.map((e) => [e.service, e.nodePort]), [['a', 30080], ['b', 30081], ['c', undefined]]);
    assert.deepEqual(listenAddresses(table[0]).map((a) => a.key), ['TCP:127.77.0.21:80', 'TCP:0.0.0.0:30080']);
  });

  it('leaves out headless, ExternalName, unallocated and SCTP ports', () => {
    const table = buildTable(
      [
        svc('headless', { clusterIP: 'None', ports: [{ port: 80 }] }),
        svc('ext', { type: 'ExternalName', externalName: 'example.com' }),
        svc('pending', { ports: [{ port: 80 }] }),
        svc('sctp', { clusterIP: '127.77.0.24', ports: [{ name: 's', port: 80, protocol: 'SCTP' }, { name: 'u', port: 53, protocol: 'UDP' }] }),
      ],
      [eps('headless', [{ addresses: [addr('127.0.0.1')], ports: [{ port: 20000 }] }])],
    );
    assert.deepEqual(table.map((e) => [e.key, e.protocol, e.mode]), [['default/sctp:u', 'UDP', 'udp']]);
  });

  it('honours sessionAffinity ClientIP with its timeout, 10800 s by default', () => {
    const table = buildTable(
      [
        svc('a', { clusterIP: '127.77.0.25', sessionAffinity: 'ClientIP', ports: [{ port: 80 }] }),
        svc('b', { clusterIP: '127.77.0.26', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } }, ports: [{ port: 80 }] }),
        svc('c', { clusterIP: '127.77.0.27', sessionAffinity: 'None', ports: [{ port: 80 }] }),
      ],
      [],
    );
    assert.deepEqual(table.map((e) => e.affinityTimeoutSeconds), [10800, 60, undefined]);
  });

  it('keeps Endpoints of another namespace apart and sorts endpoints stably', () => {
    const table = buildTable(
      [svc('web', { clusterIP: '127.77.0.28', ports: [{ port: 80 }] }, 'prod')],
      [
        eps('web', [{ addresses: [addr('127.0.0.1')], ports: [{ port: 1 }] }], 'default'),
        eps('web', [{ addresses: [addr('127.0.0.2'), addr('127.0.0.1'), addr('127.0.0.1')], ports: [{ port: 20010 }] }], 'prod'),
      ],
    );
    assert.deepEqual(table[0].endpoints, [{ ip: '127.0.0.1', port: 20010 }, { ip: '127.0.0.2', port: 20010 }]);
  });
});

describe('endpointsForPort', () => {
  const e = eps('x', [{ addresses: [addr('127.0.0.1')], ports: [{ name: 'p', port: 20020 }, { name: 'q', port: 20021 }, { name: 'd', port: 20022, protocol: 'UDP' }] }]);
  it('matches by name, by protocol, and by a numeric targetPort for hand-written Endpoints', () => {
    assert.deepEqual(endpointsForPort(e, { name: 'q', port: 80 }, 2).ready.map((x) => x.port), [20021]);
    assert.deepEqual(endpointsForPort(e, { name: 'd', port: 53, protocol: 'UDP' }, 2).ready.map((x) => x.port), [20022]);
    assert.deepEqual(endpointsForPort(e, { name: 'd', port: 53 }, 2).ready, []);
    assert.deepEqual(endpointsForPort(e, { name: 'zz', port: 80, targetPort: 20020 }, 2).ready.map((x) => x.port), [20020]);
    assert.deepEqual(endpointsForPort(e, { name: 'zz', port: 80, targetPort: 'zz' }, 2).ready, []);
  });
  it('matches a lone unnamed port to a lone port', () => {
    const one = eps('y', [{ addresses: [addr('127.0.0.1')], ports: [{ name: 'whatever', port: 20030 }] }]);
    assert.deepEqual(endpointsForPort(one, { port: 80 }).ready.map((x) => x.port), [20030]);
    assert.deepEqual(endpointsForPort(undefined, { port: 80 }), { ready: [], notReady: 0 });
  });
});

describe('isHttpPort', () => {
  it('follows appProtocol, else the port name', () => {
    assert.equal(isHttpPort({ port: 80, appProtocol: 'http' }), true);
    assert.equal(isHttpPort({ port: 80, appProtocol: 'HTTP' }), true);
    assert.equal(isHttpPort({ port: 80, name: 'http', appProtocol: 'kubernetes.io/h2c' }), false);
    assert.equal(isHttpPort({ port: 80, name: 'http' }), true);
    assert.equal(isHttpPort({ port: 80, name: 'http-admin' }), true);
    assert.equal(isHttpPort({ port: 80, name: 'https' }), false);
    assert.equal(isHttpPort({ port: 80 }), false);
  });
});
