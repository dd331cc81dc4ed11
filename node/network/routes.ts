// Routes to the other nodes' pods, from the Node informer: host-gw (a route per node's podCIDR
// via its InternalIP, for nodes on one L2 segment) or the vxlan overlay. Every node keeps them,
// whatever its own pods' mode, so that in a mixed cluster a hostport node and its proxy reach
// the pods of bridge nodes too. A node reached over loopback (several nodes sharing one host's
// address) gets no route. Writes coalesce: one sync in flight, the newest Node list next.
import { Coalesced } from '../../lib/coalesce.js';
import type { ApiClient } from '../../api/client.js';
import { Informer } from '../../api/informer.js';
import { resourceOfKind } from '../../api/resources.js';
import type { Node } from '../../api/types.js';
import { syncRoutes, type Route } from './host.js';
import { syncOverlay } from './overlay.js';

const NODE = resourceOfKind('Node');

/** The address a node is reached at (its InternalIP). */
export function internalIP(node: Node): string | undefined {
  return node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
}

export interface NodeRoutesOptions {
  client: ApiClient;
  nodeName: string;
  overlay?: 'vxlan';
  log: (message: string) => void;
  /** Told of every change to the Node list (after the routes are queued). */
  onChange?: () => void;
}

export class NodeRoutes {
  private informer?: Informer<Node>;
  private readonly syncs = new Coalesced(() => this.sync());
  private stopped = false;
  /** The overlay's routes need its device, which the bridge makes once the node has its podCIDR. */
  private overlayReady = false;

  constructor(private readonly opts: NodeRoutesOptions) {}

  start(): void {
    const changed = () => this.changed();
    this.informer = new Informer<Node>(this.opts.client, NODE, { onAdd: changed, onUpdate: changed, onDelete: changed }).start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.informer?.stop();
    await this.syncs.idle();
  }

  list(): Node[] {
    return this.informer?.list() ?? [];
  }

  get(name: string): Node | undefined {
    return this.informer?.get('', name);
  }

  /** The overlay device is up: its routes can be programmed. */
  overlayUp(): void {
    this.overlayReady = true;
    this.changed();
  }

  private changed(): void {
    if (this.stopped) return;
    this.syncs.request();
    this.opts.onChange?.();
  }

  private async sync(): Promise<void> {
    if (this.stopped) return;
    const want = this.wanted();
    const sync = !this.opts.overlay ? syncRoutes(want) : this.overlayReady ? syncOverlay(want) : Promise.resolve();
    await sync.catch((e) => this.opts.log(`cannot program the routes to other nodes' pods: ${(e as Error).message}`));
  }

  private wanted(): Route[] {
    const routes: Route[] = [];
    for (const node of this.list()) {
      if (node.metadata.name === this.opts.nodeName) continue;
      const via = internalIP(node);
      if (node.spec?.podCIDR && via && !via.startsWith('127.')) routes.push({ cidr: node.spec.podCIDR, via });
    }
    return routes;
  }
}
