// Deployment and ReplicaSet rows, as upstream printDeployment / printReplicaSet print them.

import type { Deployment, KubeObject, ReplicaSet } from '../../api/types.js';
import {
  type KindPrinter,
  ageColumn,
  ageOf,
  column,
  containerCells,
  formatLabelSelector,
  nameColumn,
  nameOf,
  selectorString,
} from './table-common.js';

// The API server defaults spec.replicas to 1; render what it would have stored.
const DEFAULT_REPLICAS = 1;

const templateColumns = [
  column('Containers', 'Names of each container in the template.', { priority: 1 }),
  column('Images', 'Images referenced by each container in the template.', { priority: 1 }),
  column('Selector', 'Label query over pods that should match the replica count.', { priority: 1 }),
];

export const deploymentPrinter: KindPrinter = {
  columns: [
    nameColumn(),
    column('Ready', 'Number of the pod with ready state'),
    column('Up-to-date', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.', { type: 'integer' }),
    column('Available', 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.', { type: 'integer' }),
    ageColumn(),
    ...templateColumns,
  ],
  row(obj: KubeObject, now: Date) {
    const d = obj as Deployment;
    const desired = d.spec?.replicas ?? DEFAULT_REPLICAS;
    const [names, images] = containerCells(d.spec?.template?.spec?.containers);
    return {
      cells: [
        nameOf(d),
        `${d.status?.readyReplicas ?? 0}/${desired}`,
        d.status?.updatedReplicas ?? 0,
        d.status?.availableReplicas ?? 0,
        ageOf(d, now),
        names,
        images,
        // Upstream prints the bare selector here (empty, not <none>, when there is none).
        selectorString(d.spec?.selector),
      ],
    };
  },
};

export const replicaSetPrinter: KindPrinter = {
  columns: [
    nameColumn(),
    column('Desired', 'Number of desired pods.', { type: 'integer' }),
    column('Current', 'Replicas is the most recently observed number of replicas.', { type: 'integer' }),
    column('Ready', 'The number of ready replicas for this replica set.', { type: 'integer' }),
    ageColumn(),
    ...templateColumns,
  ],
  row(obj: KubeObject, now: Date) {
    const rs = obj as ReplicaSet;
    const [names, images] = containerCells(rs.spec?.template?.spec?.containers);
    return {
      cells: [
        nameOf(rs),
        rs.spec?.replicas ?? DEFAULT_REPLICAS,
        rs.status?.replicas ?? 0,
        rs.status?.readyReplicas ?? 0,
        ageOf(rs, now),
        names,
        images,
        formatLabelSelector(rs.spec?.selector),
      ],
    };
  },
};
