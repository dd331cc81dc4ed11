// The node agent (kubelet's job): registers the Node, renews its Lease, watches the pods bound
// to it and keeps one PodWorker per pod. Containers left from before a restart are adopted, and
// containers whose pod is gone are stopped.
import { rfc3339 } from '../api/time.js';
import { METRICS_ADDRESS_ANNOTATION } from '../api/annotations.js';
import { DrainBarrier, PROXY_REVISION_ANNOTATION } from './drain.js';
import { PORTS_ANNOTATION } from '../api/ports.js';
import { hostname, release, platform, arch } from 'node:os';
import si from 'systeminformation';
import { ApiClient } from '../api/client.js';
import { isApiError } from '../api/errors.js';
import { Informer } from '../api/informer.js';
import { resourceOfKind } from '../api/resources.js';
import { sleep } from '../api/timers.js';
import type { Event as KubeEvent, KubeObject, Node, Pod, PodStatus, Service } from '../api/types.js';
import type { EnvSources } from './podenv.js';
import { PodTokens } from './tokens.js';
import type { NodeMetrics } from './metrics.js';
import { PodWorker } from './podworker.js';
import { PortAllocator, type PortAssignment } from './ports.js';
import { readStateFile, writeFileAtomic } from './statefile.js';
import { HostportNetwork } from './network/hostport.js';
import type { PodNetwork } from './network/types.js';
import { join } from 'node:path';
import { NodeApiError, type ContainerAccess } from './nodeapi.js';
import { RuntimeError, type ContainerState, type Runtime } from './runtime/types.js';

const POD = resourceOfKind('Pod');
const NODE = resourceOfKind('Node');
const LEASE = resourceOfKind('Lease');
const SERVICE = resourceOfKind('Service');
const CONFIGMAP = resourceOfKind('ConfigMap');
const SECRET = resourceOfKind('Secret');
const EVENT = resourceOfKind('Event');

export const NODE_VERSION = 'v1.32.0-tugboat';

export interface AgentOptions {
  client: ApiClient;
  nodeName: string;
  nodeIP: string;
  stateDir: string;
  runtimes: Map<string, Runtime>;
  defaultRuntime: string;
  portRange: [number, number];
  heartbeatMs: number;
  nodeApiPort: number;
  /** Where this node's /metrics listens (host:port), published on the Node for `tug traffic` and Prometheus discovery. */
  metricsAddress?: () => string | undefined;
  metrics?: NodeMetrics;
  log?: (message: string) => void;
  /** The node's cluster DNS for pods (TUG_DNS, resolv.conf), once it runs. */
  clusterDns?: () => { addr: string; ip?: string; domain: string } | undefined;
  /** The longest a terminating pod waits for every proxy to stop routing to it. */
  drainCapMs?: number;
  /** The node's network mode for pods (default: hostport). */
  network?: PodNetwork;
  /** Told whenever a pod bound to this node comes, changes or goes (after the agent has seen it). */
  podsChanged?: () => void;
}

function microTime(): string {
  return new Date().toISOString().replace(/Z$/, '000Z');
}

export class NodeAgent {
  private readonly workers = new Map<string, PodWorker>();
  private readonly tokens: PodTokens;
  private readonly adoptable = new Map<string, ContainerState[]>();
  private readonly runtimeOf = new Map<string, Runtime>();
  private readonly abort = new AbortController();
  private pods?: Informer<Pod>;
  private services?: Informer<Service>;
  private heartbeat?: Promise<void>;
  private readonly drain: DrainBarrier;
  /** The Endpoints revision this node's proxy has programmed, published on the Lease. */
  private proxyRevision?: string;
  private revisionWrite?: Promise<void>;
  private revisionDirty = false;
  private reachable = true;
  private unsubscribes: (() => void)[] = [];
  private readonly ports: PortAllocator;
  private readonly hostport: HostportNetwork;
  private readonly network: PodNetwork;
  private readonly log: (message: string) => void;

  constructor(private readonly opts: AgentOptions) {
    this.tokens = new PodTokens(opts.client);
    // Port assignments outlive the agent: an adopted pod keeps listening where it was told to.
    const portsFile = join(opts.stateDir, 'ports.json');
    this.log = opts.log ?? ((m) => console.error(`tug node: ${m}`));
    this.ports = new PortAllocator(opts.portRange, undefined, (snapshot) => writeFileAtomic(portsFile, JSON.stringify(snapshot)));
    for (const [uid, ports] of Object.entries(readStateFile<Record<string, PortAssignment[]>>(portsFile, this.log) ?? {})) this.ports.restore(uid, ports);
    this.hostport = new HostportNetwork(opts.nodeIP, this.ports);
    this.network = opts.network ?? this.hostport;
    this.drain = new DrainBarrier(opts.client, opts.drainCapMs);
  }

  /** How many of this node's pods are in each phase (for the tug_node_pods gauge). */
  podPhases(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const w of this.workers.values()) counts.set(w.phase, (counts.get(w.phase) ?? 0) + 1);
    return counts;
  }

  runtimeFor(pod: Pod): Runtime {
    const name = pod.spec.runtimeClassName ?? this.opts.defaultRuntime;
    return this.opts.runtimes.get(name) ?? unavailableRuntime(name, [...this.opts.runtimes.keys()]);
  }

  /** Pods join the node's network mode when their runtime can; else they share the node's network (hostport). */
  networkFor(pod: Pod): PodNetwork {
    return this.network.carries(this.runtimeFor(pod).name) ? this.network : this.hostport;
  }

  /** Logs and exec for the node API, found through the pod's worker. */
  access(): ContainerAccess {
    const find = (namespace: string, pod: string, container: string | undefined, previous = false) => {
      const worker = [...this.workers.values()].find((w) => w.podObject.metadata.namespace === namespace && w.podObject.metadata.name === pod);
      if (!worker) throw new NodeApiError(404, `pod "${pod}" in namespace "${namespace}" is not running on node ${this.opts.nodeName}`);
      const names = worker.podObject.spec.containers.map((c) => c.name);
      if (container && ![...names, ...(worker.podObject.spec.initContainers ?? []).map((c) => c.name)].includes(container)) {
        throw new NodeApiError(400, `container ${container} is not valid for pod ${pod}; choose one of: [${names.join(' ')}]`);
      }
      const instance = worker.instance(container, previous);
      if (!instance) throw new NodeApiError(400, previous ? `previous terminated container "${container ?? names[0]}" in pod "${pod}" not found` : `container "${container ?? names[0]}" in pod "${pod}" is waiting to start`);
      return instance;
    };
    return {
      logs: async (ns, pod, container, opts) => {
        const { runtime, state } = find(ns, pod, container, opts.previous);
        return runtime.logs(state.id, opts);
      },
      exec: async (ns, pod, container, command, io) => {
        const { runtime, state } = find(ns, pod, container);
        if (state.phase !== 'running') throw new NodeApiError(400, `container "${state.labels.containerName}" in pod "${pod}" is not running`);
        return runtime.exec(state.id, command, { stdin: io.stdin as never, stdout: io.stdout, stderr: io.stderr, tty: io.tty, signal: io.signal });
      },
    };
  }

  async start(): Promise<void> {
    await this.register();
    for (const runtime of this.opts.runtimes.values()) {
      for (const state of await runtime.list()) {
        this.runtimeOf.set(state.id, runtime);
        const list = this.adoptable.get(state.labels.podUid) ?? [];
        list.push(state);
        this.adoptable.set(state.labels.podUid, list);
      }
      this.unsubscribes.push(runtime.onExit((state) => this.workers.get(state.labels.podUid)?.containerExited(state)));
      if (runtime.onSandboxExit) this.unsubscribes.push(runtime.onSandboxExit((uid) => this.workers.get(uid)?.sandboxExited()));
    }
    this.heartbeat = this.heartbeatLoop();
    const client = this.opts.client;
    this.drain.start();
    this.network.start();
    this.services = new Informer<Service>(client, SERVICE).start();
    const told = () => this.opts.podsChanged?.();
    this.pods = new Informer<Pod>(client, POD, {
      onAdd: (pod) => (this.podChanged(pod), told()),
      onUpdate: (_old, pod) => (this.podChanged(pod), told()),
      onDelete: (pod) => (this.workers.get(pod.metadata.uid!)?.update(undefined), told()),
    }, { fieldSelector: `spec.nodeName=${this.opts.nodeName}` }).start();
    await Promise.all([this.pods.waitForSync(), this.services.waitForSync()]);
    await this.removeOrphans();
    void this.network.collect((uid) => this.workers.has(uid)).catch((e) => this.log(`cannot remove the network of pods no longer here: ${(e as Error).message}`));
  }

  /**
   * Stops watching and the workers. Running containers keep running (as kubelet's do) unless
   * `drain` is set, which stops them (their pods stay in the API and start again on return).
   */
  async stop(drain = false): Promise<void> {
    this.abort.abort();
    for (const off of this.unsubscribes) off();
    await Promise.all([this.pods?.stop(), this.services?.stop()]);
    // First, so that no worker still waits for its pod's network.
    await this.network.stop();
    await Promise.all([...this.workers.values()].map((w) => w.stop(drain)));
    await Promise.all([this.heartbeat, this.drain.stop(), this.revisionWrite]);
  }

  /** The pods bound to this node, as the agent's informer has them. */
  localPods(): Pod[] {
    return this.pods?.list() ?? [];
  }

  /** Whether the last heartbeat reached the control node. */
  controlReachable(): boolean {
    return this.reachable;
  }

  /**
   * Publishes the Endpoints revision this node's proxy serves (on its Lease), so that nodes
   * draining a pod know when this proxy has stopped sending it traffic. Writes coalesce: one in
   * flight, the newest value next.
   */
  reportProxyRevision(revision: string): void {
    if (this.abort.signal.aborted || revision === this.proxyRevision) return;
    this.proxyRevision = revision;
    this.revisionDirty = true;
    this.revisionWrite ??= (async () => {
      while (this.revisionDirty && !this.abort.signal.aborted) {
        this.revisionDirty = false;
        const patch = { metadata: { annotations: { [PROXY_REVISION_ANNOTATION]: this.proxyRevision } } };
        await this.opts.client.patch(LEASE, 'kube-node-lease', this.opts.nodeName, patch, 'merge').catch(() => undefined);
      }
    })().finally(() => {
      this.revisionWrite = undefined;
    });
  }

  private podChanged(pod: Pod): void {
    if (this.abort.signal.aborted) return;
    const uid = pod.metadata.uid!;
    const existing = this.workers.get(uid);
    if (existing) {
      existing.update(pod);
      return;
    }
    const phase = pod.status?.phase;
    if ((phase === 'Succeeded' || phase === 'Failed') && !pod.metadata.deletionTimestamp && !this.adoptable.has(uid)) return;
    const adopted = this.adoptable.get(uid) ?? [];
    this.adoptable.delete(uid);
    const worker = new PodWorker(
      {
        nodeName: this.opts.nodeName,
        nodeIP: this.opts.nodeIP,
        stateDir: this.opts.stateDir,
        runtimeFor: (p) => this.runtimeFor(p),
        networkFor: (p) => this.networkFor(p),
        sources: this.envSources(),
        writeStatus: (p, status) => this.writeStatus(p, status),
        finalizeDeletion: (p) => this.finalizeDeletion(p),
        publishPorts: (p, annotation) => this.publishPorts(p, annotation),
        drain: this.drain,
        clusterDns: this.opts.clusterDns,
        event: (p, type, reason, message) => this.event(p, type, reason, message),
        metrics: this.opts.metrics,
        probeOptions: this.opts.metrics ? { onResult: (kind, result) => this.opts.metrics!.probeResults.inc({ probe: kind, result }) } : undefined,
        log: this.log,
      },
      pod,
      adopted,
    );
    this.workers.set(uid, worker);
    void worker.finished.then(() => {
      if (this.workers.get(uid) === worker) {
        this.workers.delete(uid);
        this.tokens.forget(uid);
      }
    });
  }

  private envSources(): EnvSources {
    const client = this.opts.client;
    const getOrUndefined = (r: typeof CONFIGMAP) => (ns: string, name: string) =>
      client.get(r, ns, name).catch((e) => {
        if (isApiError(e) && e.code === 404) return undefined;
        throw e;
      });
    return {
      configMap: getOrUndefined(CONFIGMAP),
      secret: getOrUndefined(SECRET),
      services: (ns) => (this.services?.list() ?? []).filter((s) => s.metadata.namespace === ns),
      serviceAccountToken: (pod, audience, seconds) => this.tokens.tokenFor(pod, audience, seconds),
    };
  }

  /** Containers whose pod no longer exists (or is no longer bound here) are stopped and removed. */
  private async removeOrphans(): Promise<void> {
    for (const [uid, states] of this.adoptable) {
      if (this.workers.has(uid)) continue;
      this.adoptable.delete(uid);
      for (const state of states) {
        const runtime = this.runtimeOf.get(state.id);
        if (!runtime) continue;
        const l = state.labels;
        this.log(`removing container ${l.namespace}/${l.podName}/${l.containerName}: its pod is no longer bound to this node`);
        if (state.phase === 'running') await runtime.stop(state.id, 30).catch(() => undefined);
        await runtime.remove(state.id).catch(() => undefined);
      }
    }
  }

  private async writeStatus(pod: Pod, status: PodStatus): Promise<void> {
    const client = this.opts.client;
    const body = { apiVersion: 'v1', kind: 'Pod', metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace, uid: pod.metadata.uid }, spec: pod.spec, status };
    try {
      await client.request('PUT', client.pathFor(POD, pod.metadata.namespace, pod.metadata.name, 'status'), { body });
    } catch (e) {
      if (isApiError(e) && e.code === 404) return;
      throw e;
    }
  }

  private async publishPorts(pod: Pod, annotation: string): Promise<void> {
    const patch = { metadata: { annotations: { [PORTS_ANNOTATION]: annotation } } };
    try {
      await this.opts.client.patch(POD, pod.metadata.namespace, pod.metadata.name!, patch, 'merge');
    } catch (e) {
      if (isApiError(e) && e.code === 404) return;
      throw e;
    }
  }

  private async finalizeDeletion(pod: Pod): Promise<void> {
    const client = this.opts.client;
    try {
      await client.request('DELETE', client.pathFor(POD, pod.metadata.namespace, pod.metadata.name), {
        body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } },
      });
    } catch (e) {
      if (isApiError(e) && (e.code === 404 || e.code === 409)) return;
      throw e;
    }
  }

  private event(pod: Pod, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const ts = rfc3339();
    const ev: KubeEvent = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${pod.metadata.name}.`, namespace: pod.metadata.namespace },
      involvedObject: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid, apiVersion: 'v1' },
      reason,
      message,
      type,
      source: { component: 'kubelet', host: this.opts.nodeName },
      firstTimestamp: ts,
      lastTimestamp: ts,
      count: 1,
    };
    this.opts.client.create(EVENT, pod.metadata.namespace, ev).catch((e) => this.log(`could not record event ${reason}: ${(e as Error).message}`));
  }

  private async nodeObject(): Promise<Node> {
    const cpus = (await si.cpu()).cores;
    const mem = await si.mem();
    const osInfo = await si.osInfo();
    const capacity = { cpu: String(cpus), memory: `${Math.floor(mem.total / 1024)}Ki`, pods: '110' };
    const metricsAddress = this.opts.metricsAddress?.();
    return {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: this.opts.nodeName,
        annotations: {
          ...(metricsAddress ? { [METRICS_ADDRESS_ANNOTATION]: metricsAddress } : {}),
        },
        labels: {
          'kubernetes.io/hostname': this.opts.nodeName,
          'kubernetes.io/os': platform(),
          'kubernetes.io/arch': arch() === 'x64' ? 'amd64' : arch(),
          'tugboat.io/runtime': this.opts.defaultRuntime,
        },
      },
      spec: {},
      status: {
        capacity,
        allocatable: capacity,
        addresses: [
          { type: 'InternalIP', address: this.opts.nodeIP },
          { type: 'Hostname', address: hostname() },
        ],
        daemonEndpoints: { kubeletEndpoint: { Port: this.opts.nodeApiPort } },
        nodeInfo: {
          kubeletVersion: NODE_VERSION,
          kubeProxyVersion: NODE_VERSION,
          containerRuntimeVersion: [...this.opts.runtimes.keys()].map((n) => `${n}://tugboat`).join(','),
          osImage: osInfo.distro ? `${osInfo.distro} ${osInfo.release}` : platform(),
          kernelVersion: release(),
          operatingSystem: platform(),
          architecture: arch() === 'x64' ? 'amd64' : arch(),
          machineID: '',
          systemUUID: '',
          bootID: '',
        },
        conditions: [this.readyCondition()],
      },
    };
  }

  private readyCondition() {
    const ts = rfc3339();
    return { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'tug node is posting ready status', lastHeartbeatTime: ts, lastTransitionTime: ts };
  }

  /**
   * Registers the Node, waiting for the control node while it cannot be reached (the proxy and
   * DNS already serve from their checkpoints meanwhile); an answer the API gives is final.
   */
  private async register(): Promise<void> {
    let backoff = 500;
    for (;;) {
      try {
        return await this.registerOnce();
      } catch (e) {
        if (isApiError(e)) throw e;
        if (this.abort.signal.aborted) throw new Error('stopped before the node could register', { cause: e });
        this.log(`cannot register yet, retrying in ${backoff / 1000} s: ${(e as Error).message}`);
        await sleep(backoff, this.abort.signal);
        if (this.abort.signal.aborted) throw new Error('stopped before the node could register', { cause: e });
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  private async registerOnce(): Promise<void> {
    const client = this.opts.client;
    const wanted = await this.nodeObject();
    try {
      await client.create(NODE, undefined, wanted);
    } catch (e) {
      if (!(isApiError(e) && e.code === 409)) throw e;
      const current = await client.get<Node>(NODE, undefined, this.opts.nodeName);
      const metadata = { ...current.metadata, labels: { ...current.metadata.labels, ...wanted.metadata.labels }, annotations: { ...current.metadata.annotations, ...wanted.metadata.annotations } };
      await client.update(NODE, { ...current, metadata });
      const fresh = await client.get<Node>(NODE, undefined, this.opts.nodeName);
      await client.update(NODE, { ...fresh, status: wanted.status }, 'status');
    }
  }

  /** Renews the Lease every heartbeat and refreshes the Ready condition now and then. */
  private async heartbeatLoop(): Promise<void> {
    const client = this.opts.client;
    const signal = this.abort.signal;
    const leaseName = this.opts.nodeName;
    let lastStatus = 0;
    let lastRenewal = Date.now();
    while (!signal.aborted) {
      try {
        const lease: KubeObject = {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: leaseName, namespace: 'kube-node-lease', ...(this.proxyRevision ? { annotations: { [PROXY_REVISION_ANNOTATION]: this.proxyRevision } } : {}) },
          spec: { holderIdentity: this.opts.nodeName, leaseDurationSeconds: Math.max(1, Math.ceil((this.opts.heartbeatMs * 5) / 1000)), renewTime: microTime() },
        };
        await client.request('PATCH', client.pathFor(LEASE, 'kube-node-lease', leaseName), { body: lease, contentType: 'application/apply-patch+yaml' });
        // Back after failed renewals or a pause (the process stopped, the machine slept): the
        // control node may have marked this node NotReady, so post the status at once.
        if (Date.now() - lastRenewal > 3 * this.opts.heartbeatMs) lastStatus = 0;
        lastRenewal = Date.now();
        this.reachable = true;
        if (Date.now() - lastStatus > 10_000) {
          await client.patch(NODE, undefined, this.opts.nodeName, { status: { conditions: [this.readyCondition()] } }, 'merge', 'status');
          lastStatus = Date.now();
        }
      } catch (e) {
        this.reachable = false;
        if (!signal.aborted) this.log(`heartbeat failed: ${(e as Error).message}`);
      }
      await sleep(this.opts.heartbeatMs, signal);
    }
  }
}

/** Stands in for a runtime this node does not have, so pods asking for it get a clear reason. */
function unavailableRuntime(name: string, available: string[]): Runtime {
  const missing = () => Promise.reject(new RuntimeError('RuntimeClassNotFound', `runtime "${name}" is not available on this node (it has: ${available.join(', ')})`));
  return {
    name,
    start: missing,
    stop: async () => undefined,
    remove: async () => undefined,
    status: async () => undefined,
    list: async () => [],
    onExit: () => () => undefined,
    exec: missing,
    logs: missing,
    close: async () => undefined,
  };
}
