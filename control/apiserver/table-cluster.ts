// Node, Namespace, ConfigMap, Secret, Event and Lease rows, as the upstream printers print them.

import type { ConfigMap, Event, KubeObject, Node, Secret } from '../../api/types.js';
import {
  type KindPrinter,
  NONE,
  ageColumn,
  ageOf,
  column,
  formatAge,
  nameColumn,
  nameOf,
} from './table-common.js';

const ROLE_LABEL_PREFIX = 'node-role.kubernetes.io/';
const LEGACY_ROLE_LABEL = 'kubernetes.io/role';
const UNKNOWN = '<unknown>';

/** Ready / NotReady from the Ready condition, Unknown without one; `,SchedulingDisabled` when cordoned. */
function nodeStatus(node: Node): string {
  const ready = (node.status?.conditions ?? []).find((c) => c.type === 'Ready');
  const status = [ready ? (ready.status === 'True' ? 'Ready' : 'NotReady') : 'Unknown'];
  if (node.spec?.unschedulable) status.push('SchedulingDisabled');
  return status.join(',');
}

/** findNodeRoles: `node-role.kubernetes.io/<role>` keys and the legacy `kubernetes.io/role` value. */
function nodeRoles(node: Node): string {
  const roles = new Set<string>();
  for (const [key, value] of Object.entries(node.metadata.labels ?? {})) {
    if (key.startsWith(ROLE_LABEL_PREFIX)) {
      const role = key.slice(ROLE_LABEL_PREFIX.length);
      if (role) roles.add(role);
    } else if (key === LEGACY_ROLE_LABEL && value) {
      roles.add(value);
    }
  }
  // Upstream's order is a Go map's; sorted is stable across refreshes.
  return roles.size > 0 ? [...roles].sort().join(',') : NONE;
}

function nodeAddress(node: Node, type: string): string {
  return node.status?.addresses?.find((a) => a.type === type)?.address ?? NONE;
}

export const nodePrinter: KindPrinter = {
  columns: [
    nameColumn(),
    column('Status', 'The status of the node'),
    column('Roles', 'The roles of the node'),
    ageColumn(),
    column('Version', 'Kubelet version reported by the node.'),
    column('Internal-IP', 'The node\'s internal IP address.', { priority: 1 }),
    column('External-IP', 'The node\'s external IP address.', { priority: 1 }),
    column('OS-Image', 'OS image reported by the node.', { priority: 1 }),
    column('Kernel-Version', 'Kernel version reported by the node.', { priority: 1 }),
    column('Container-Runtime', 'Container runtime version reported by the node.', { priority: 1 }),
  ],
  row(obj: KubeObject, now: Date) {
    const node = obj as Node;
    const info = node.status?.nodeInfo ?? {};
    return {
      cells: [
        nameOf(node),
        nodeStatus(node),
        nodeRoles(node),
        ageOf(node, now),
        info.kubeletVersion ?? '',
        nodeAddress(node, 'InternalIP'),
        nodeAddress(node, 'ExternalIP'),
        info.osImage || UNKNOWN,
        info.kernelVersion || UNKNOWN,
        info.containerRuntimeVersion || UNKNOWN,
      ],
    };
  },
};

export const namespacePrinter: KindPrinter = {
  columns: [nameColumn(), column('Status', 'The status of the namespace'), ageColumn()],
  row(obj: KubeObject, now: Date) {
    // The API server sets phase Active on create; render that when the store has not.
    const phase = (obj.status as { phase?: string } | undefined)?.phase;
    const status = phase || (obj.metadata.deletionTimestamp ? 'Terminating' : 'Active');
    return { cells: [nameOf(obj), status, ageOf(obj, now)] };
  },
};

export const configMapPrinter: KindPrinter = {
  columns: [nameColumn(), column('Data', 'Number of keys in data and binaryData.', { type: 'integer' }), ageColumn()],
  row(obj: KubeObject, now: Date) {
    const cm = obj as ConfigMap;
    const count = Object.keys(cm.data ?? {}).length + Object.keys(cm.binaryData ?? {}).length;
    return { cells: [nameOf(cm), count, ageOf(cm, now)] };
  },
};

export const secretPrinter: KindPrinter = {
  columns: [
    nameColumn(),
    column('Type', 'Used to facilitate programmatic handling of secret data.'),
    column('Data', 'Number of keys in data.', { type: 'integer' }),
    ageColumn(),
  ],
  row(obj: KubeObject, now: Date) {
    const secret = obj as Secret;
    // stringData is merged into data on write; count it too in case the store kept it apart.
    const keys = new Set([...Object.keys(secret.data ?? {}), ...Object.keys(secret.stringData ?? {})]);
    return { cells: [nameOf(secret), secret.type || 'Opaque', keys.size, ageOf(secret, now)] };
  },
};

// Fields of core/v1 Event written by the events.k8s.io API that api/types.ts leaves untyped.
interface EventView extends Event {
  eventTime?: string | null;
  series?: { count?: number; lastObservedTime?: string };
  reportingComponent?: string; // Go field ReportingController
  reportingInstance?: string;
}

function eventSource(ev: EventView): string {
  const component = ev.source?.component || ev.reportingComponent || '';
  const instance = ev.source?.host || ev.reportingInstance || '';
  return instance ? `${component}, ${instance}` : component;
}

export const eventPrinter: KindPrinter = {
  columns: [
    column('Last Seen', 'The time at which the most recent occurrence of this event was recorded.'),
    column('Type', 'Type of this event (Normal, Warning).'),
    column('Reason', 'A short, machine understandable string for the transition into the object\'s current status.'),
    column('Object', 'The object that this event is about.'),
    column('Subobject', 'The field of the object this event is about, if any.', { priority: 1 }),
    column('Source', 'The component reporting this event.', { priority: 1 }),
    column('Message', 'A human-readable description of the status of this operation.'),
    column('First Seen', 'The time at which the event was first recorded.', { priority: 1 }),
    column('Count', 'The number of times this event has occurred.', { type: 'integer', priority: 1 }),
    column('Name', 'Name must be unique within a namespace.', { priority: 1, format: 'name' }),
  ],
  row(obj: KubeObject, now: Date) {
    const ev = obj as EventView;
    const first = ev.firstTimestamp ? formatAge(ev.firstTimestamp, now) : formatAge(ev.eventTime ?? undefined, now);
    let last = ev.lastTimestamp ? formatAge(ev.lastTimestamp, now) : first;
    let count = ev.count || 1; // singleton events carry no count in the new API
    if (ev.series) {
      last = formatAge(ev.series.lastObservedTime, now);
      count = ev.series.count ?? 0;
    }
    const involved = ev.involvedObject ?? {};
    const kind = (involved.kind ?? '').toLowerCase();
    const target = involved.name ? `${kind}/${involved.name}` : kind;
    return {
      cells: [
        last,
        ev.type ?? '',
        ev.reason ?? '',
        target,
        involved.fieldPath ?? '',
        eventSource(ev),
        (ev.message ?? '').trim(),
        first,
        count,
        nameOf(ev),
      ],
    };
  },
};

export const leasePrinter: KindPrinter = {
  columns: [nameColumn(), column('Holder', 'The identity of the current holder of the lease.'), ageColumn()],
  row(obj: KubeObject, now: Date) {
    const holder = (obj.spec as { holderIdentity?: string } | undefined)?.holderIdentity ?? '';
    return { cells: [nameOf(obj), holder, ageOf(obj, now)] };
  },
};
