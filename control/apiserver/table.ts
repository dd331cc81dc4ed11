// The Table renderer behind `kubectl get`: turns stored objects into a meta.k8s.io/v1 Table
// (Accept: application/json;as=Table;v=v1;g=meta.k8s.io) with the columns Kubernetes' own
// printers use, because kubectl 1.32 has no client-side printers and shows only NAME/AGE
// otherwise. Pure: the caller passes `now`; nothing here reads the clock or does I/O.

import type { KubeObject } from '../../api/types.js';
import { type ResourceInfo, apiVersionOf, qualifiedName } from '../../api/resources.js';
import { deploymentPrinter, replicaSetPrinter } from './table-apps.js';
import {
  configMapPrinter,
  eventPrinter,
  leasePrinter,
  namespacePrinter,
  nodePrinter,
  secretPrinter,
} from './table-cluster.js';
import {
  type KindPrinter,
  type PartialObjectMetadata,
  type Table,
  type TableRow,
  ageColumn,
  ageOf,
  nameColumn,
  nameOf,
} from './table-common.js';
import { endpointSlicePrinter, endpointsPrinter, servicePrinter } from './table-network.js';
import { podPrinter } from './table-pod.js';
import { bindingPrinter, certificateSigningRequestPrinter, rolePrinter, serviceAccountPrinter } from './table-rbac.js';

export type {
  PartialObjectMetadata,
  Table,
  TableCell,
  TableColumnDefinition,
  TableColumnType,
  TableRow,
  TableRowCondition,
} from './table-common.js';
export { formatAge } from './table-common.js';
export { humanDuration } from '../../api/duration.js';

/** What each row carries besides its cells (the `includeObject` query parameter). */
export type IncludeObject = 'None' | 'Metadata' | 'Object';

export interface TableOptions {
  now: Date;
  resourceVersion?: string;
  /** The list's continue token, when the list was paginated. */
  continue?: string;
  /** Defaults to 'Metadata' (PartialObjectMetadata), as the API server does when kubectl sends none. */
  includeObject?: IncludeObject;
}

// Keyed by qualifiedName(): `pods`, `deployments.apps`, `endpointslices.discovery.k8s.io`, ...
const PRINTERS: Record<string, KindPrinter> = {
  pods: podPrinter,
  'deployments.apps': deploymentPrinter,
  'replicasets.apps': replicaSetPrinter,
  services: servicePrinter,
  endpoints: endpointsPrinter,
  'endpointslices.discovery.k8s.io': endpointSlicePrinter,
  nodes: nodePrinter,
  namespaces: namespacePrinter,
  configmaps: configMapPrinter,
  secrets: secretPrinter,
  events: eventPrinter,
  'leases.coordination.k8s.io': leasePrinter,
  serviceaccounts: serviceAccountPrinter,
  'roles.rbac.authorization.k8s.io': rolePrinter,
  'clusterroles.rbac.authorization.k8s.io': rolePrinter,
  'rolebindings.rbac.authorization.k8s.io': bindingPrinter,
  'clusterrolebindings.rbac.authorization.k8s.io': bindingPrinter,
  'certificatesigningrequests.certificates.k8s.io': certificateSigningRequestPrinter,
};

/** Any kind without its own printer: NAME and AGE, like the API server's default table. */
const defaultPrinter: KindPrinter = {
  columns: [nameColumn(), ageColumn()],
  row: (obj, now) => ({ cells: [nameOf(obj), ageOf(obj, now)] }),
};

export function printerFor(resource: ResourceInfo): KindPrinter {
  return PRINTERS[qualifiedName(resource)] ?? defaultPrinter;
}

function rowObject(resource: ResourceInfo, obj: KubeObject, include: IncludeObject): TableRow['object'] {
  if (include === 'None') return undefined;
  if (include === 'Metadata') {
    const partial: PartialObjectMetadata = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
    return partial;
  }
  // kubectl rejects the whole Table if an embedded object lacks kind/apiVersion.
  return { ...obj, apiVersion: obj.apiVersion || apiVersionOf(resource), kind: obj.kind || resource.kind };
}

export function toTable(
  resource: ResourceInfo,
  objects: KubeObject[],
  opts: TableOptions,
): Table {
  const printer = printerFor(resource);
  const include = opts.includeObject ?? 'Metadata';
  const rows = objects.map((obj): TableRow => {
    const { cells, conditions } = printer.row(obj, opts.now);
    const row: TableRow = { cells };
    if (conditions) row.conditions = conditions;
    const object = rowObject(resource, obj, include);
    if (object) row.object = object;
    return row;
  });
  const metadata: Table['metadata'] = {};
  if (opts.resourceVersion !== undefined) metadata.resourceVersion = opts.resourceVersion;
  if (opts.continue) metadata.continue = opts.continue;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata,
    columnDefinitions: printer.columns.map((c) => ({ ...c })),
    rows,
  };
}
