// NetworkPolicy enforcement on a bridge node: informers on NetworkPolicies, Pods and Namespaces
// feed one model (api/netpol.ts); every change rebuilds it (coalesced: one rebuild in flight, the
// newest state next), programs the node's nftables table for its own pods, and hands the model to
// the node proxy, which admits a client to an endpoint only when both ends' policies allow it.
// What the model was built from is kept in the state dir: a restarted node's proxy judges by it
// until the informers have listed (the kernel keeps its table across a restart by itself).
import { Coalesced } from '../../lib/coalesce.js';
import { join } from 'node:path';
import type { ApiClient } from '../../api/client.js';
import { Informer } from '../../api/informer.js';
import { PolicyIndex, policyPod, type PolicyPod } from '../../api/netpol.js';
import { resourceOfKind } from '../../api/resources.js';
import type { KubeObject, NetworkPolicy, Node, Pod } from '../../api/types.js';
import { readStateFile, writeFileAtomic } from '../statefile.js';
import { run } from './command.js';
import { policyTable } from './policy-rules.js';
import { vtepAddress } from './overlay.js';
import { internalIP } from './routes.js';

const POLICY = resourceOfKind('NetworkPolicy');
const POD = resourceOfKind('Pod');
const NAMESPACE = resourceOfKind('Namespace');

export interface PolicyOptions {
  client: ApiClient;
  nodeName: string;
  /** Where the checkpoint of the model's inputs is kept. */
  stateDir: string;
  /** The Service addresses (on the node's loopback): pods' egress rules leave them to the proxy. */
  serviceCidr: string;
  /** The cluster's Nodes (the bridge network's informer): their addresses pass ingress. */
  nodes: () => Node[];
  log: (message: string) => void;
  /** Told after each change is in force on this node (for tests and the programming metric). */
  onProgrammed?: (ms: number) => void;
}

/** What the policy model is built from, as saved after each change. */
interface Checkpoint {
  policies: NetworkPolicy[];
  pods: PolicyPod[];
  namespaces: Record<string, Record<string, string>>;
}

export class NetworkPolicies {
  private policies?: Informer<NetworkPolicy>;
  private pods?: Informer<Pod>;
  private namespaces?: Informer<KubeObject>;
  private index = new PolicyIndex([], [], new Map());
  private readonly syncs = new Coalesced(() => this.program());
  private lastTable = '';
  private stopped = false;
  private changedAt?: number;
  /** Until every informer has listed once, the table the kernel holds (from before a restart) stays. */
  private synced = false;

  private readonly checkpoint: string;

  constructor(private readonly opts: PolicyOptions) {
    this.checkpoint = join(opts.stateDir, 'network-policy.json');
    const saved = readStateFile<Checkpoint>(this.checkpoint, opts.log);
    if (saved && Array.isArray(saved.policies) && Array.isArray(saved.pods) && typeof saved.namespaces === 'object' && saved.namespaces) {
      this.index = new PolicyIndex(saved.policies, saved.pods, new Map(Object.entries(saved.namespaces)));
    } else if (saved) opts.log(`ignoring ${this.checkpoint}: it is not a NetworkPolicy checkpoint`);
  }

  start(): void {
    const changed = () => this.changed();
    const handlers = { onAdd: changed, onUpdate: changed, onDelete: changed };
    this.policies = new Informer<NetworkPolicy>(this.opts.client, POLICY, handlers).start();
    this.pods = new Informer<Pod>(this.opts.client, POD, handlers).start();
    this.namespaces = new Informer<KubeObject>(this.opts.client, NAMESPACE, handlers).start();
    void Promise.all([this.policies, this.pods, this.namespaces].map((i) => i.waitForSync())).then(() => {
      this.synced = true;
      this.changed();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([this.policies?.stop(), this.pods?.stop(), this.namespaces?.stop()]);
    await this.syncs.idle();
  }

  /** Whether a connection from clientIP to an endpoint passes NetworkPolicy (the proxy asks before connecting). */
  admits(clientIP: string, endpointIP: string, port: number, protocol: string): boolean {
    return this.index.admits(clientIP.replace(/^::ffff:/, ''), endpointIP, port, protocol);
  }

  /** Called by the node network when the Node list changes (their addresses are in the rules). */
  changed(): void {
    if (this.stopped || !this.synced) return;
    // Timed from the first change the next programming takes in.
    this.changedAt ??= performance.now();
    this.syncs.request();
  }

  private async program(): Promise<void> {
    if (this.stopped) return;
    const started = this.changedAt ?? performance.now();
    this.changedAt = undefined;
    await this.sync().catch((e) => this.opts.log(`cannot program NetworkPolicy: ${(e as Error).message}`));
    this.opts.onProgrammed?.(performance.now() - started);
  }

  private async sync(): Promise<void> {
    const pods = (this.pods?.list() ?? []).map(policyPod).filter((p): p is PolicyPod => !!p);
    const namespaces = new Map((this.namespaces?.list() ?? []).map((n) => [n.metadata.name!, { ...(n.metadata.labels ?? {}), 'kubernetes.io/metadata.name': n.metadata.name! }]));
    const policies = this.policies?.list() ?? [];
    this.index = new PolicyIndex(policies, pods, namespaces);
    writeFileAtomic(this.checkpoint, JSON.stringify({ policies, pods, namespaces: Object.fromEntries(namespaces) } satisfies Checkpoint));
    const localNames = new Set((this.pods?.list() ?? []).filter((p) => p.spec.nodeName === this.opts.nodeName).map((p) => `${p.metadata.namespace}/${p.metadata.name}`));
    const local = pods.filter((p) => localNames.has(`${p.namespace}/${p.name}`));
    // Node addresses pass ingress (the node proxies check the real client themselves), and so do
    // the overlay's tunnel ends, the source of a node's packets to another node's pods over vxlan.
    const nodeIPs = this.opts.nodes().flatMap((n) => [internalIP(n), n.spec?.podCIDR ? vtepAddress(n.spec.podCIDR) : undefined].filter((ip): ip is string => !!ip));
    const table = policyTable(this.index, local, [...new Set(nodeIPs)], this.opts.serviceCidr);
    if (table === this.lastTable) return;
    await run(['nft', '-f', '-'], table);
    this.lastTable = table;
  }
}
