// The node IPAM controller (kube-controller-manager's nodeipam with the range allocator): every
// Node gets a `spec.podCIDR` (and `podCIDRs`) of its own, the lowest free subnet of
// --node-cidr-mask-size bits in --cluster-cidr. What is taken is read from the Nodes themselves,
// so a restarted control keeps every node's CIDR and a deleted Node frees its own. When none is
// free the Node gets a CIDRNotAvailable event and waits until one is.
import type { Informer } from '../../api/informer.js';
import { resourceOfKind } from '../../api/resources.js';
import type { Node } from '../../api/types.js';
import { cidrsOverlap, intToIp, parseCidr } from '../../api/cidr.js';
import type { EventRecorder } from './events.js';
import type { Controller, ControllerContext } from './manager.js';
import { WorkQueue } from './queue.js';

const NODE = resourceOfKind('Node');
/** How often a node waiting for a CIDR looks again (a deleted Node wakes it at once). */
const RETRY_MS = 30_000;

export interface ClusterNetwork {
  /** Where pod addresses come from (kube-controller-manager's --cluster-cidr). */
  clusterCidr: string;
  /** The prefix length of each node's share (--node-cidr-mask-size). */
  nodeCidrMaskSize: number;
}

/** 198.19.0.0/16: part of 198.18.0.0/15, reserved for benchmarking (RFC 2544), so no home or office network uses it. */
export const DEFAULT_CLUSTER_NETWORK: ClusterNetwork = { clusterCidr: '198.19.0.0/16', nodeCidrMaskSize: 24 };

/** Why the cluster network cannot be used beside `serviceCidr`, or undefined when it can. */
export function clusterNetworkProblem(net: ClusterNetwork, serviceCidr: string): string | undefined {
  let cluster: ReturnType<typeof parseCidr>;
  try {
    cluster = parseCidr(net.clusterCidr, '--cluster-cidr', DEFAULT_CLUSTER_NETWORK.clusterCidr);
  } catch (e) {
    return (e as Error).message;
  }
  const mask = net.nodeCidrMaskSize;
  if (!Number.isInteger(mask) || mask < cluster.prefix || mask > 30) {
    return `--node-cidr-mask-size ${mask} must be a whole number from ${cluster.prefix} (the prefix of --cluster-cidr ${net.clusterCidr}) to 30`;
  }
  const service = parseCidr(serviceCidr);
  if (cidrsOverlap(cluster, service)) {
    return `--cluster-cidr ${net.clusterCidr} overlaps --service-cidr ${serviceCidr}: pod and Service addresses must come from separate ranges`;
  }
  return undefined;
}

/** The lowest node CIDR of the cluster network not in `taken`, or undefined when every one is. */
export function freeNodeCidr(net: ClusterNetwork, taken: ReadonlySet<string>): string | undefined {
  const { base, size } = parseCidr(net.clusterCidr, '--cluster-cidr');
  const step = 2 ** (32 - net.nodeCidrMaskSize);
  for (let at = base; at < base + size; at += step) {
    const cidr = `${intToIp(at)}/${net.nodeCidrMaskSize}`;
    if (!taken.has(cidr)) return cidr;
  }
  return undefined;
}

export function podCidrOf(node: Node): string | undefined {
  return node.spec?.podCIDR || undefined;
}

export function nodeIpamController(net: ClusterNetwork): (ctx: ControllerContext) => Controller {
  return (ctx) => new NodeIpamController(ctx, net);
}

export class NodeIpamController implements Controller {
  readonly name = 'node-ipam-controller';
  private readonly queue = new WorkQueue();
  private readonly nodes: Informer<Node>;
  private readonly events: EventRecorder;
  /** CIDRs given by this controller, by node, until the informer shows them. */
  private readonly given = new Map<string, string>();
  /** Nodes that found no CIDR free. */
  private readonly waiting = new Set<string>();

  constructor(
    private readonly ctx: ControllerContext,
    private readonly net: ClusterNetwork,
  ) {
    this.events = ctx.events('node-ipam-controller');
    const changed = (n: Node) => this.queue.add(n.metadata.name!);
    this.nodes = ctx.informers.of<Node>('Node', {
      onAdd: changed,
      onUpdate: (_old, n) => changed(n),
      onDelete: (n) => {
        this.given.delete(n.metadata.name!);
        for (const name of this.waiting) this.queue.add(name);
      },
    });
  }

  run(signal: AbortSignal): Promise<void> {
    return this.queue.run((name) => this.sync(name), signal, (name, e) => this.ctx.log(`${this.name}: node ${name}: ${(e as Error).message}`));
  }

  private taken(): Set<string> {
    const taken = new Set(this.given.values());
    for (const node of this.nodes.list()) {
      const cidr = podCidrOf(node);
      if (cidr) taken.add(cidr);
    }
    return taken;
  }

  private async sync(name: string): Promise<void> {
    const node = this.nodes.get(undefined, name);
    if (!node || podCidrOf(node)) {
      // Gone, or its CIDR is in the cache now.
      this.given.delete(name);
      this.waiting.delete(name);
      return;
    }
    if (this.given.has(name)) return;
    const cidr = freeNodeCidr(this.net, this.taken());
    if (!cidr) {
      if (!this.waiting.has(name)) this.events.record(node, 'Normal', 'CIDRNotAvailable', `Node ${name} status is now: CIDRNotAvailable`);
      this.waiting.add(name);
      this.queue.addAfter(name, RETRY_MS);
      return;
    }
    await this.ctx.client.patch(NODE, undefined, name, { spec: { podCIDR: cidr, podCIDRs: [cidr] } });
    this.given.set(name, cidr);
    this.waiting.delete(name);
    this.ctx.metrics.reconciles.inc({ controller: this.name, result: 'changed' });
  }
}
