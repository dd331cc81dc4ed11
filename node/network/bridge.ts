// The bridge network mode (DESIGN.md §4): every pod gets its own network namespace and an address
// of the node's podCIDR (given by control's node IPAM), behind the node's bridge; the node routes
// the other nodes' podCIDRs to their node addresses (host-gw), so pods reach each other across
// hosts with their own addresses. Pods' processes join their sandbox; the proxy and the probes
// reach them at podIP:containerPort.
import { join } from 'node:path';
import type { ApiClient } from '../../api/client.js';
import { Informer } from '../../api/informer.js';
import { resourceOfKind } from '../../api/resources.js';
import type { Node, Pod } from '../../api/types.js';
import { setUpBridge, syncRoutes, type Route } from './host.js';
import { PodAddresses } from './ipam.js';
import { NetworkPolicies } from './policy.js';
import { declaredPorts, SandboxError, type PodAttachment, type PodNetwork } from './types.js';
import { createSandbox, deleteSandbox, sandboxedPods, sandboxFor, sandboxIntact, sandboxScope, type SandboxNetwork } from './sandbox.js';

const NODE = resourceOfKind('Node');

export interface BridgeOptions {
  client: ApiClient;
  nodeName: string;
  stateDir: string;
  /** Where every pod address of the cluster comes from (masquerade leaves it alone). */
  clusterCidr: string;
  /** Where ClusterIPs and the cluster DNS address come from: routed from pods to the node. */
  serviceCidr: string;
  bridge?: string;
  log: (message: string) => void;
  /** Told how long each NetworkPolicy change took to be in force on this node. */
  onPolicyProgrammed?: (ms: number) => void;
}

export class BridgeNetwork implements PodNetwork {
  readonly mode = 'bridge';
  private readonly scope: string;
  private readonly bridge: string;
  private nodes?: Informer<Node>;
  private addresses?: PodAddresses;
  private net?: SandboxNetwork;
  private readonly waiters = new Set<() => void>();
  private readonly made = new Set<string>();
  private routing?: Promise<void>;
  private routesDirty = false;
  private stopped = false;
  private settingUp = false;
  private readonly policies: NetworkPolicies;

  constructor(private readonly opts: BridgeOptions) {
    this.scope = sandboxScope(opts.nodeName);
    this.bridge = opts.bridge ?? 'tug0';
    this.policies = new NetworkPolicies({ client: opts.client, nodeName: opts.nodeName, nodes: () => this.nodes?.list() ?? [], log: opts.log, onProgrammed: opts.onPolicyProgrammed });
  }

  start(): void {
    const changed = () => this.nodesChanged();
    this.nodes = new Informer<Node>(this.opts.client, NODE, { onAdd: changed, onUpdate: changed, onDelete: changed }).start();
    this.policies.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of this.waiters) wake();
    await Promise.all([this.nodes?.stop(), this.policies.stop()]);
    await this.routing;
  }

  /** NetworkPolicy for the node proxy: may this client reach this endpoint? */
  readonly admits = (clientIP: string, endpoint: { ip: string; port: number }, protocol: string): boolean => this.policies.admits(clientIP, endpoint.ip, endpoint.port, protocol);

  /** The pod's address and sandbox, made now or adopted from before a restart. */
  async attach(pod: Pod): Promise<PodAttachment> {
    const uid = pod.metadata.uid!;
    const { addresses, net } = await this.ready();
    let ip: string;
    try {
      ip = addresses.allocate(uid);
    } catch (e) {
      throw new SandboxError((e as Error).message, { cause: e });
    }
    const sandbox = sandboxFor(this.scope, uid, ip);
    if (!this.made.has(uid)) {
      if (!(await sandboxIntact(sandbox))) {
        try {
          await createSandbox(sandbox, net);
        } catch (e) {
          throw new SandboxError(`cannot set up the network sandbox of pod ${pod.metadata.namespace}/${pod.metadata.name}: ${(e as Error).message}`, { cause: e });
        }
      }
      this.made.add(uid);
    }
    return { podIP: ip, netns: sandbox.path, ports: declaredPorts(pod) };
  }

  /** Removes the pod's sandbox (veth and namespace) and frees its address. */
  async detach(uid: string): Promise<void> {
    const ip = this.addresses?.get(uid) ?? '0.0.0.0';
    await deleteSandbox(sandboxFor(this.scope, uid, ip));
    this.made.delete(uid);
    this.addresses?.release(uid);
  }

  /** Removes the sandboxes and addresses of pods this node no longer runs (gone while it was down). */
  async collect(isKept: (uid: string) => boolean): Promise<void> {
    const { addresses } = await this.ready();
    const uids = new Set([...(await sandboxedPods(this.scope)), ...addresses.pods()]);
    for (const uid of uids) {
      if (isKept(uid)) continue;
      this.opts.log(`removing the network sandbox of pod ${uid}: the pod is no longer bound to this node`);
      await this.detach(uid);
    }
  }

  /** Resolves once the node has its podCIDR and the bridge is up. */
  private async ready(): Promise<{ addresses: PodAddresses; net: SandboxNetwork }> {
    while (!this.addresses || !this.net) {
      if (this.stopped) throw new SandboxError('the node is stopping');
      await new Promise<void>((resolve) => this.waiters.add(resolve)).then(() => undefined);
    }
    return { addresses: this.addresses, net: this.net };
  }

  private nodesChanged(): void {
    if (!this.addresses) void this.useOwnCidr();
    this.policies.changed();
    this.routesDirty = true;
    this.routing ??= (async () => {
      while (this.routesDirty && !this.stopped) {
        this.routesDirty = false;
        await syncRoutes(this.wantedRoutes()).catch((e) => this.opts.log(`cannot program the routes to other nodes' pods: ${(e as Error).message}`));
      }
    })().finally(() => {
      this.routing = undefined;
    });
  }

  private wantedRoutes(): Route[] {
    const routes: Route[] = [];
    for (const node of this.nodes?.list() ?? []) {
      if (node.metadata.name === this.opts.nodeName) continue;
      const via = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
      if (node.spec?.podCIDR && via) routes.push({ cidr: node.spec.podCIDR, via });
    }
    return routes;
  }

  /** Once control has given this node its podCIDR: the address book and the bridge. */
  private async useOwnCidr(): Promise<void> {
    const cidr = this.nodes?.get('', this.opts.nodeName)?.spec?.podCIDR;
    if (!cidr || this.settingUp) return;
    this.settingUp = true;
    try {
      const addresses = new PodAddresses(cidr, join(this.opts.stateDir, 'pod-addresses.json'), this.opts.log);
      await setUpBridge({ bridge: this.bridge, gatewayCidr: `${addresses.gateway}/${addresses.cidr.prefix}`, clusterCidr: this.opts.clusterCidr });
      this.net = { bridge: this.bridge, gateway: addresses.gateway, prefix: addresses.cidr.prefix, serviceCidr: this.opts.serviceCidr };
      this.addresses = addresses;
      this.opts.log(`bridge network: pods get addresses of ${cidr} behind ${this.bridge} (gateway ${addresses.gateway})`);
      for (const wake of this.waiters) wake();
      this.waiters.clear();
    } catch (e) {
      this.opts.log(`cannot set up the bridge network for podCIDR ${cidr}: ${(e as Error).message}`);
    } finally {
      this.settingUp = false;
    }
  }
}
