// Which controllers a control node runs, in one list.
import type { CertificateAuthority } from '../../lib/pki.js';
import type { Controller, ControllerContext, ControllerSettings } from './manager.js';
import { schedulerController } from '../scheduler/index.js';
import { DeploymentController } from './deployment-controller.js';
import { ReplicaSetController } from './replicaset-controller.js';
import { nodeLifecycleController } from './nodelifecycle.js';
import { garbageCollector } from './gc.js';
import { endpointsController } from './endpoints-controller.js';
import { csrController } from './csr.js';
import { nodeIpamController, type ClusterNetwork } from './node-ipam.js';

export function defaultControllers(_settings: ControllerSettings, ca?: CertificateAuthority, network?: ClusterNetwork): ((ctx: ControllerContext) => Controller)[] {
  return [
    ...(network ? [nodeIpamController(network)] : []),
    ...(ca ? [csrController(ca)] : []),
    schedulerController({ strategy: _settings.schedulerStrategy }),
    (ctx) => new ReplicaSetController(ctx),
    (ctx) => new DeploymentController(ctx),
    nodeLifecycleController(_settings),
    garbageCollector(),
    endpointsController(),
  ];
}
