// `tug describe KIND [NAME...]`: fetches an object, its Events (fieldSelector involvedObject.*, as
// kubectl does) and the objects its description needs, then prints the kind's renderer.
import YAML from 'yaml';
import type { ApiClient } from '../api/client.js';
import { isApiError } from '../api/errors.js';
import { resourceOfKind, type ResourceInfo } from '../api/resources.js';
import { labelSelectorToString } from '../api/selectors.js';
import type { Deployment, EndpointSubset, Event, KubeObject, Node, Pod, ReplicaSet, Service } from '../api/types.js';
import { describeDeployment, describeGeneric, describeNode, describePod, describeReplicaSet, describeService, type Related } from './describe-format.js';
import type { Out } from './resources-cmd.js';
import { resourceArg } from './target.js';

const EVENT = resourceOfKind('Event');
const POD = resourceOfKind('Pod');
const REPLICA_SET = resourceOfKind('ReplicaSet');
const ENDPOINTS = resourceOfKind('Endpoints');
const ENDPOINT_SLICE = resourceOfKind('EndpointSlice');
const LEASE = resourceOfKind('Lease');

function missingIsEmpty<T>(fallback: T): (e: unknown) => T {
  return (e) => {
    if (isApiError(e) && e.code === 404) return fallback;
    throw e;
  };
}

async function eventsFor(client: ApiClient, r: ResourceInfo, o: KubeObject): Promise<Event[]> {
  // Node events name the node (kubelet) or carry its uid (controllers): match by kind and name.
  const fields =
    r.kind === 'Node'
      ? [`involvedObject.kind=Node`, `involvedObject.name=${o.metadata.name}`]
      : [`involvedObject.name=${o.metadata.name}`, `involvedObject.namespace=${o.metadata.namespace}`, `involvedObject.uid=${o.metadata.uid}`, ...(r.kind === 'Service' ? ['involvedObject.kind=Service'] : [])];
  const list = await client.list<Event>(EVENT, r.kind === 'Node' ? undefined : o.metadata.namespace, { fieldSelector: fields.join(',') });
  return list.items;
}

/** Ready addresses per port, from the Service's EndpointSlices, else its Endpoints object. */
async function serviceEndpoints(client: ApiClient, svc: Service): Promise<EndpointSubset[]> {
  const ns = svc.metadata.namespace;
  const slices = await client.list(ENDPOINT_SLICE, ns, { labelSelector: `kubernetes.io/service-name=${svc.metadata.name}` }).catch(missingIsEmpty({ items: [] as KubeObject[] }));
  if (slices.items.length) {
    return slices.items.map((s) => ({
      addresses: ((s.endpoints ?? []) as { addresses: string[]; conditions?: { ready?: boolean } }[])
        .filter((e) => e.conditions?.ready !== false)
        .flatMap((e) => e.addresses.map((ip) => ({ ip }))),
      ports: (s.ports ?? []) as EndpointSubset['ports'],
    }));
  }
  const ep = await client.get(ENDPOINTS, ns, svc.metadata.name!).catch(missingIsEmpty(undefined));
  return ((ep?.subsets ?? []) as EndpointSubset[]);
}

async function related(client: ApiClient, r: ResourceInfo, o: KubeObject): Promise<Related> {
  const rel: Related = { events: await eventsFor(client, r, o) };
  const ns = o.metadata.namespace;
  switch (r.kind) {
    case 'Deployment': {
      const d = o as Deployment;
      rel.replicaSets = (await client.list<ReplicaSet>(REPLICA_SET, ns, { labelSelector: labelSelectorToString(d.spec.selector ?? {}) })).items;
      break;
    }
    case 'ReplicaSet': {
      const rs = o as ReplicaSet;
      const pods = await client.list<Pod>(POD, ns, { labelSelector: labelSelectorToString(rs.spec.selector ?? {}) });
      rel.pods = pods.items.filter((p) => p.metadata.ownerReferences?.some((ref) => ref.controller && ref.uid === rs.metadata.uid));
      break;
    }
    case 'Service':
      rel.endpoints = await serviceEndpoints(client, o as Service);
      break;
    case 'Node':
      rel.pods = (await client.list<Pod>(POD, undefined, { fieldSelector: `spec.nodeName=${o.metadata.name}` })).items;
      rel.lease = await client.get(LEASE, 'kube-node-lease', o.metadata.name!).catch(() => undefined);
      break;
  }
  return rel;
}

export function render(r: ResourceInfo, o: KubeObject, rel: Related, now: Date): string {
  switch (r.kind) {
    case 'Pod':
      return describePod(o as Pod, rel, now);
    case 'Deployment':
      return describeDeployment(o as Deployment, rel, now);
    case 'ReplicaSet':
      return describeReplicaSet(o as ReplicaSet, rel, now);
    case 'Service':
      return describeService(o as Service, rel, now);
    case 'Node':
      return describeNode(o as Node, rel, now);
    default:
      return describeGeneric(o, r.namespaced, rel, now, (v) => YAML.stringify(v));
  }
}

/**
 * `describe KIND NAME...`, `describe KIND/NAME...`, or `describe KIND [-l SELECTOR]` (all of
 * them). Several descriptions are separated by a blank line.
 */
export async function describeCommand(client: ApiClient, io: Out, args: { positionals: string[]; namespace: string; selector?: string; allNamespaces?: boolean }): Promise<number> {
  const targets: { r: ResourceInfo; name?: string }[] = [];
  const [first, ...rest] = args.positionals;
  if (!first) throw new Error('say what to describe: `tug describe pod NAME`, `tug describe deploy/echo`, `tug describe nodes`');
  if (first.includes('/')) {
    for (const p of args.positionals) {
      const slash = p.indexOf('/');
      if (slash < 0) throw new Error(`"${p}" is not KIND/NAME; mix no KIND/NAME and KIND NAME forms`);
      targets.push({ r: resourceArg(p.slice(0, slash)), name: p.slice(slash + 1) });
    }
  } else {
    const r = resourceArg(first);
    if (rest.length) for (const name of rest) targets.push({ r, name });
    else targets.push({ r });
  }
  const now = new Date();
  const blocks: string[] = [];
  let failures = 0;
  for (const t of targets) {
    const ns = t.r.namespaced && !(args.allNamespaces && !t.name) ? args.namespace : undefined;
    try {
      const objects = t.name ? [await client.get(t.r, ns, t.name)] : (await client.list(t.r, ns, { labelSelector: args.selector })).items;
      if (!t.name && !objects.length) {
        io.err(t.r.namespaced && ns ? `No resources found in ${ns} namespace.` : 'No resources found');
        continue;
      }
      for (const o of objects) blocks.push(render(t.r, o, await related(client, t.r, o), now));
    } catch (e) {
      if (!isApiError(e)) throw e;
      failures++;
      io.err(`Error from server (${e.reason}): ${e.message}`);
    }
  }
  if (blocks.length) io.out(blocks.join('\n\n\n'));
  return failures ? 1 : 0;
}
