// Which controllers a control node runs, in one list.
import type { Controller, ControllerContext, ControllerSettings } from './manager.js';
import { schedulerController } from '../scheduler/index.js';
import { DeploymentController } from './deployment-controller.js';
import { ReplicaSetController } from './replicaset-controller.js';
import { nodeLifecycleController } from './nodelifecycle.js';
import { garbageCollector } from './gc.js';
import { endpointsController } from './endpoints-controller.js';

export function defaultControllers(_settings: ControllerSettings): ((ctx: ControllerContext) => Controller)[] {
  return [
    schedulerController({ strategy: _settings.schedulerStrategy }),
    (ctx) => new ReplicaSetController(ctx),
    (ctx) => new DeploymentController(ctx),
    nodeLifecycleController(_settings),
    garbageCollector(),
    endpointsController(),
  ];
}
