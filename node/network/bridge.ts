// The bridge network mode (DESIGN.md §4): every pod gets its own network namespace and an address
// of the node's podCIDR (given by control's node IPAM), behind the node's bridge; the node routes
// the other nodes' podCIDRs to their node addresses (host-gw, or the vxlan overlay), so pods
// reach each other across hosts with their own addresses. Pods' processes join their sandbox; the proxy and the probes
// reach them at podIP:containerPort.
import { join } from 'node:path';
import type { ApiClient } from '../../api/client.js';
import type { Pod } from '../../api/types.js';
import { programHostTable, setUpBridge, type BridgeConfig } from './host.js';
import { overlayMtu, setUpVxlan } from './overlay.js';
import { internalIP, NodeRoutes } from './routes.js';

/** How soon a bridge that could not be set up is tried again (pods wait for it meanwhile). */
const SETUP_RETRY_MS = 5000;
import { PodAddresses } from './ipam.js';
import { NetworkPolicies } from './policy.js';
import { HostPorts, type HostPortMapping } from './hostports.js';
import { declaredPorts, SandboxError, type PodAttachment, type PodNetwork, type SandboxHolder } from './types.js';
import { createSandbox, deleteSandbox, holdsNamespaceOf, sandboxAddresses, sandboxFor, sandboxIntact, sandboxScope, type SandboxNetwork } from './sandbox.js';
import { isWarmKey, WarmSandboxes } from './warm.js';

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
  /** Holds the namespaces of docker pods (pause containers); without one docker pods are not attached here. */
  holder?: SandboxHolder;
  /** vxlan: reach other nodes' pods through the overlay (their hosts need not share an L2 segment); else host-gw routes. */
  overlay?: 'vxlan';
  /** This node's address (the overlay's tunnel end). */
  nodeIP: string;
  /** How many sandboxes to keep made ahead of process pods (0: none). */
  warmSandboxes?: number;
}

export class BridgeNetwork implements PodNetwork {
  readonly mode = 'bridge';
  private readonly scope: string;
  private readonly bridge: string;
  private readonly nodes: NodeRoutes;
  private addresses?: PodAddresses;
  private net?: SandboxNetwork;
  private readonly waiters = new Set<() => void>();
  private readonly made = new Set<string>();
  private stopped = false;
  private settingUp = false;
  private retry?: NodeJS.Timeout;
  /** The node table's settings once the bridge is up; rewritten as node addresses come and go. */
  private hostConfig?: BridgeConfig;
  private hostTable: Promise<void> = Promise.resolve();
  private readonly policies: NetworkPolicies;
  private readonly hostPorts: HostPorts;
  private warm?: WarmSandboxes;

  constructor(private readonly opts: BridgeOptions) {
    this.scope = sandboxScope(opts.nodeName);
    this.bridge = opts.bridge ?? 'tug0';
    this.hostPorts = new HostPorts(this.bridge, opts.serviceCidr);
    this.nodes = new NodeRoutes({ client: opts.client, nodeName: opts.nodeName, overlay: opts.overlay, log: opts.log, onChange: () => this.nodesChanged() });
    this.policies = new NetworkPolicies({ client: opts.client, nodeName: opts.nodeName, stateDir: opts.stateDir, serviceCidr: opts.serviceCidr, nodes: () => this.nodes.list(), log: opts.log, onProgrammed: opts.onPolicyProgrammed });
  }

  carries(runtime: string): boolean {
    return runtime === 'process' || (runtime === 'docker' && this.opts.holder !== undefined);
  }

  start(): void {
    this.nodes.start();
    this.policies.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    for (const wake of this.waiters) wake();
    await Promise.all([this.nodes.stop(), this.policies.stop(), this.warm?.stop()]);
    await this.hostTable;
  }

  /** NetworkPolicy for the node proxy: may this client reach this endpoint? */
  readonly admits = (clientIP: string, endpoint: { ip: string; port: number }, protocol: string): boolean => this.policies.admits(clientIP, endpoint.ip, endpoint.port, protocol);

  /** The pod's address and sandbox: adopted from before a restart, taken ready-made, or made now. */
  async attach(pod: Pod, runtime: string): Promise<PodAttachment> {
    const uid = pod.metadata.uid!;
    const { addresses, net } = await this.ready();
    let ip = addresses.get(uid);
    if (ip === undefined && runtime === 'process') {
      ip = this.warm?.take(uid);
      if (ip !== undefined) this.made.add(uid); // ready-made: nothing left to do
    }
    ip ??= await this.allocate(uid);
    const sandbox = sandboxFor(this.scope, ip);
    if (!this.made.has(uid)) {
      const holder = runtime === 'docker' ? this.opts.holder : undefined;
      const labels = { podName: pod.metadata.name!, namespace: pod.metadata.namespace! };
      try {
        // A holder that had to be started anew has a namespace of its own: the sandbox is remade in it.
        const held = holder ? await holder.ensure(uid, labels) : undefined;
        const fresh = held !== undefined && !(await holdsNamespaceOf(sandbox, held));
        if (fresh || !(await sandboxIntact(sandbox))) await createSandbox(sandbox, net, held);
      } catch (e) {
        throw new SandboxError(`cannot set up the network sandbox of pod ${pod.metadata.namespace}/${pod.metadata.name}: ${(e as Error).message}`, { cause: e });
      }
      this.made.add(uid);
    }
    await this.hostPorts.set(uid, hostPortMappings(pod, ip)).catch((e) => {
      throw new SandboxError(`cannot forward the hostPorts of pod ${pod.metadata.namespace}/${pod.metadata.name}: ${(e as Error).message}`, { cause: e });
    });
    return { podIP: ip, netns: sandbox.path, ports: declaredPorts(pod) };
  }

  /** A new address for the pod; with the podCIDR full, a ready-made sandbox gives its own back first. */
  private async allocate(uid: string): Promise<string> {
    const addresses = this.addresses!;
    try {
      if (addresses.free() === 0) await this.warm?.yieldOne();
      return addresses.allocate(uid);
    } catch (e) {
      throw new SandboxError((e as Error).message, { cause: e });
    }
  }

  async sandboxLost(uid: string, runtime: string): Promise<boolean> {
    const holder = runtime === 'docker' ? this.opts.holder : undefined;
    if (!holder || !this.made.has(uid) || (await holder.alive(uid))) return false;
    this.made.delete(uid);
    return true;
  }

  /** Removes the pod's sandbox (veth and namespace) and frees its address. */
  async detach(uid: string): Promise<void> {
    const ip = this.addresses?.get(uid);
    await this.hostPorts.set(uid, []);
    if (ip !== undefined) await deleteSandbox(sandboxFor(this.scope, ip));
    await this.opts.holder?.remove(uid);
    this.made.delete(uid);
    this.addresses?.release(uid);
  }

  /**
   * Removes the sandboxes and addresses of pods this node no longer runs (gone while it was down),
   * and sandboxes no address of the book is for.
   */
  async collect(isKept: (uid: string) => boolean): Promise<void> {
    const { addresses } = await this.ready();
    const held = new Set(addresses.pods().map((key) => addresses.get(key)));
    for (const ip of await sandboxAddresses(this.scope)) {
      if (held.has(ip)) continue;
      this.opts.log(`removing the network sandbox at ${ip}: no pod holds that address`);
      await deleteSandbox(sandboxFor(this.scope, ip));
    }
    const uids = new Set([...addresses.pods().filter((key) => !isWarmKey(key)), ...((await this.opts.holder?.pods()) ?? [])]);
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
    const ips = this.nodeIPs();
    const config = this.hostConfig;
    if (config && ips.join() !== config.nodeIPs?.join()) {
      this.hostConfig = { ...config, nodeIPs: ips };
      const next = this.hostConfig;
      this.hostTable = this.hostTable.then(() => programHostTable(next)).catch((e) => this.opts.log(`cannot program the node table: ${(e as Error).message}`));
    }
  }

  /** Every node's InternalIP, sorted. */
  private nodeIPs(): string[] {
    const ips = this.nodes.list().map(internalIP).filter((ip): ip is string => !!ip);
    return [...new Set(ips)].sort();
  }

  /** Once control has given this node its podCIDR: the address book and the bridge. */
  private async useOwnCidr(): Promise<void> {
    const cidr = this.nodes.get(this.opts.nodeName)?.spec?.podCIDR;
    if (!cidr || this.settingUp || this.stopped) return;
    this.settingUp = true;
    try {
      const addresses = new PodAddresses(cidr, join(this.opts.stateDir, 'pod-addresses.json'), this.opts.log);
      this.hostConfig = { bridge: this.bridge, gatewayCidr: `${addresses.gateway}/${addresses.cidr.prefix}`, clusterCidr: this.opts.clusterCidr, serviceCidr: this.opts.serviceCidr, nodeIPs: this.nodeIPs() };
      const warning = await setUpBridge(this.hostConfig);
      if (warning) this.opts.log(warning);
      // Forwards of pods deleted while the node was down go; adopted pods put theirs back as they attach.
      await this.hostPorts.reset();
      if (this.opts.overlay) await setUpVxlan(this.opts.nodeIP, cidr);
      const mtu = this.opts.overlay ? await overlayMtu(this.opts.nodeIP) : undefined;
      this.net = { bridge: this.bridge, gateway: addresses.gateway, prefix: addresses.cidr.prefix, serviceCidr: this.opts.serviceCidr, mtu };
      this.addresses = addresses;
      this.warm = new WarmSandboxes({ size: this.opts.warmSandboxes ?? 0, scope: this.scope, addresses, net: this.net, log: this.opts.log });
      await this.warm.start();
      this.opts.log(`bridge network: pods get addresses of ${cidr} behind ${this.bridge} (gateway ${addresses.gateway})`);
      for (const wake of this.waiters) wake();
      this.waiters.clear();
      if (this.opts.overlay) this.nodes.overlayUp();
    } catch (e) {
      this.opts.log(`cannot set up the bridge network for podCIDR ${cidr} (trying again in ${SETUP_RETRY_MS / 1000} s): ${(e as Error).message}`);
      this.retry = setTimeout(() => void this.useOwnCidr(), SETUP_RETRY_MS);
    } finally {
      this.settingUp = false;
    }
  }
}

/** The declared hostPorts of a pod, forwarded to its containerPorts at its address. */
function hostPortMappings(pod: Pod, podIP: string): HostPortMapping[] {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers].flatMap((c) =>
    (c.ports ?? []).filter((p) => p.hostPort).map((p) => ({ hostPort: p.hostPort!, protocol: p.protocol ?? 'TCP', podIP, containerPort: p.containerPort })),
  );
}
