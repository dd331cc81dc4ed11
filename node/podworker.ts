// One worker per pod (kubelet's pod worker): a loop that waits to be woken (pod changed, a
// container exited, a probe result changed, a back-off ran out), asks the pure `decide` what to
// do, does it through the runtime, and writes the pod's status back only when it changed.
import { rfc3339 } from '../api/time.js';
import { nodeResolvConf, resolvConfFor } from './resolvconf.js';
import type { DrainBarrier } from './drain.js';
import { PORTS_ANNOTATION, portsAnnotationValue } from '../api/ports.js';
import type { Container, KubeObject, Pod, PodStatus } from '../api/types.js';
import { credentialsFrom, imageBackoffMs, type RegistryCredential } from './image-pull.js';
import { ContainerConfigError, containerEnv, expand, type EnvSources } from './podenv.js';
import { decide, podStatus, recordStarted, statusChanged, type ContainerRecord } from './podstate.js';
import { portEnv, PortRangeExhausted, resolvePort, type PortAssignment } from './ports.js';
import { SandboxError, type PodAttachment, type PodNetwork } from './network/types.js';
import { startContainerProbes, type ContainerProbes, type ProbeOptions } from './probes.js';
import { RuntimeError, type ContainerSpec, type ContainerState, type Runtime } from './runtime/types.js';
import { mountsFor, podDir, prepareVolumes, removePodDir, volumeEnv } from './volumes.js';
import type { NodeMetrics } from './metrics.js';
import { dirname, join } from 'node:path';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';

export interface WorkerDeps {
  nodeName: string;
  nodeIP: string;
  stateDir: string;
  runtimeFor(pod: Pod): Runtime;
  /** How the pod is put on the network (the node's mode; hostport for runtimes that cannot join a sandbox). */
  networkFor(pod: Pod): PodNetwork;
  sources: EnvSources;
  /** Writes the pod's status (status subresource). */
  writeStatus(pod: Pod, status: PodStatus): Promise<void>;
  /** Acknowledged draining: waits until no proxy routes to a terminating pod. */
  drain?: Pick<DrainBarrier, 'holders' | 'waitUntilUnrouted'>;
  /** The node's cluster DNS, when it runs: host:port, and the address and domain for resolv.conf. */
  clusterDns?: () => { addr: string; ip?: string; domain: string } | undefined;
  /** Records the pod's node ports in its `tugboat.io/ports` annotation (before its containers start). */
  publishPorts(pod: Pod, annotation: string): Promise<void>;
  /** Removes the pod object for good once its containers are gone (grace period 0, uid precondition). */
  finalizeDeletion(pod: Pod): Promise<void>;
  /** Records a Kubernetes Event about the pod. */
  event(pod: Pod, type: 'Normal' | 'Warning', reason: string, message: string): void;
  probeOptions?: ProbeOptions;
  metrics?: NodeMetrics;
  log(message: string): void;
}

function graceOf(pod: Pod): number {
  return pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
}

export function logFileFor(stateDir: string, pod: Pod, container: string, restartCount: number): string {
  return join(stateDir, 'logs', `${pod.metadata.namespace}_${pod.metadata.name}_${pod.metadata.uid}`, container, `${restartCount}.log`);
}

export class PodWorker {
  private pod: Pod;
  private deleted = false;
  private stopped = false;
  private wake?: () => void;
  private dirty = true;
  private readonly records = new Map<string, ContainerRecord>();
  private readonly probes = new Map<string, ContainerProbes>();
  private readonly liveness = new Map<string, 'success' | 'failure' | undefined>();
  private ports?: PortAssignment[];
  private attachment?: PodAttachment;
  private sandboxDied = false;
  private publishedPorts?: string;
  private volumePaths?: Map<string, string>;
  /** When a projected ServiceAccount token must be renewed (the next sync is due by then). */
  private tokenRefreshAt?: number;
  private configError?: { reason: string; message: string };
  private lastStatus?: PodStatus;
  private startTime?: string;
  private readonly seenAt = performance.now();
  private startObserved = false;
  readonly finished: Promise<void>;

  constructor(
    private readonly deps: WorkerDeps,
    pod: Pod,
    adopted: ContainerState[] = [],
  ) {
    this.pod = pod;
    this.lastStatus = pod.status;
    this.startTime = pod.status?.startTime;
    for (const state of adopted) this.adopt(state);
    this.finished = this.run();
  }

  get uid(): string {
    return this.pod.metadata.uid!;
  }

  /** The current (or previous) instance of a container, for logs and exec. */
  instance(container: string | undefined, previous = false): { runtime: Runtime; state: ContainerState } | undefined {
    const name = container ?? this.pod.spec.containers[0]?.name;
    const rec = name === undefined ? undefined : this.records.get(name);
    const state = previous ? rec?.previous : rec?.current;
    return state ? { runtime: this.deps.runtimeFor(this.pod), state } : undefined;
  }

  get podObject(): Pod {
    return this.pod;
  }

  /** The phase last written for this pod. */
  get phase(): string {
    return this.lastStatus?.phase ?? 'Pending';
  }

  /** A newer version of the pod from the API, or `undefined` when it was deleted there. */
  update(pod: Pod | undefined): void {
    if (pod) {
      // A status this worker did not write (the node controller marks pods not ready while their
      // node is unreachable) becomes the one to compare with, so the next publish puts the real
      // one back. Our own writes come back equal, so this cannot loop.
      if (pod.status && statusChanged(this.lastStatus, pod.status)) this.lastStatus = pod.status;
      this.pod = pod;
    } else this.deleted = true;
    this.poke();
  }

  /** The pod's sandbox holder stopped: the next sync checks whether the sandbox is gone. */
  sandboxExited(): void {
    this.sandboxDied = true;
    this.poke();
  }

  containerExited(state: ContainerState): void {
    const rec = this.records.get(state.labels.containerName);
    if (!rec || rec.current?.id !== state.id) return;
    rec.current = state;
    rec.ready = false;
    this.poke();
  }

  /**
   * Stops the worker (agent shutdown). Its containers keep running, as kubelet's do, unless
   * `drain` is set: then they are stopped and removed, while the pod object stays, so the next
   * agent on this node starts them again.
   */
  async stop(drain = false): Promise<void> {
    this.stopped = true;
    this.poke();
    await this.finished;
    if (!drain) return;
    // Not ready before stopping, so nothing keeps sending traffic to it and, when the node comes
    // back, the pod counts as available only once its probes pass again.
    if (!this.terminating()) {
      for (const rec of this.records.values()) rec.ready = false;
      await this.publishStatus().catch(() => undefined);
    }
    await this.stopContainers();
  }

  private poke(): void {
    this.dirty = true;
    this.wake?.();
  }

  private adopt(state: ContainerState): void {
    const name = state.labels.containerName;
    const rec = this.records.get(name) ?? { name, restartCount: 0, ready: false, started: false };
    // The newest instance is the current one; an older exited one is the previous.
    if (!rec.current || rec.current.startedAt < state.startedAt) {
      if (rec.current) rec.previous = rec.current;
      rec.current = state;
      rec.restartCount = Math.max(rec.restartCount, state.labels.restartCount);
    } else if (!rec.previous || rec.previous.startedAt < state.startedAt) {
      rec.previous = state;
    }
    rec.started = rec.current?.phase === 'running';
    this.records.set(name, rec);
  }

  private terminating(): boolean {
    return this.deleted || !!this.pod.metadata.deletionTimestamp;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      if (!this.dirty) await this.sleep(this.nextDeadline());
      if (this.stopped) break;
      this.dirty = false;
      try {
        if (this.terminating()) {
          await this.terminate();
          return;
        }
        await this.syncOnce();
        failures = 0;
      } catch (e) {
        this.deps.log(`pod ${this.pod.metadata.namespace}/${this.pod.metadata.name}: ${(e as Error).message}`);
        // Try again (a status write that failed is otherwise only retried on the next change).
        this.dirty = true;
        await this.sleep(Date.now() + Math.min(1000 * 2 ** failures++, 10_000));
      }
    }
    await this.stopProbes();
  }

  private sleep(until: number | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = until === undefined ? undefined : setTimeout(done, Math.max(0, until - Date.now()));
      this.wake = done;
      function done() {
        if (timer) clearTimeout(timer);
        resolve();
      }
    }).then(() => {
      this.wake = undefined;
    });
  }

  private nextDeadline(): number | undefined {
    let next = this.tokenRefreshAt;
    for (const rec of this.records.values()) {
      for (const at of [rec.backoffUntil, rec.pullBackOffAt]) if (at !== undefined && (next === undefined || at < next)) next = at;
    }
    return next;
  }

  private async prepare(): Promise<boolean> {
    const pod = this.pod;
    try {
      if (this.sandboxDied) await this.replaceLostSandbox();
      this.attachment ??= await this.deps.networkFor(pod).attach(pod, this.deps.runtimeFor(pod).name);
      this.ports = this.attachment.ports;
      // Endpoints need to know where each port is served before the pod can turn ready.
      const annotation = portsAnnotationValue(this.ports);
      if (pod.metadata.annotations?.[PORTS_ANNOTATION] !== annotation && this.publishedPorts !== annotation) {
        await this.deps.publishPorts(pod, annotation);
        this.publishedPorts = annotation;
      }
      const volumes = await prepareVolumes(this.deps.stateDir, pod, this.deps.sources);
      this.volumePaths = volumes.paths;
      this.tokenRefreshAt = volumes.refreshAt;
      this.configError = undefined;
      return true;
    } catch (e) {
      const reason = e instanceof PortRangeExhausted ? 'PortsExhausted' : e instanceof SandboxError ? 'ContainerCreating' : e instanceof ContainerConfigError ? 'CreateContainerConfigError' : 'CreateContainerError';
      if (this.configError?.message !== (e as Error).message) {
        if (e instanceof SandboxError) this.deps.event(pod, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${(e as Error).message}`);
        else this.deps.event(pod, 'Warning', 'Failed', `Error: ${(e as Error).message}`);
      }
      this.configError = { reason, message: (e as Error).message };
      return false;
    }
  }

  /**
   * As kubelet does when a pod's sandbox dies under its containers: they are stopped (they sit in
   * a namespace nothing holds), and the next attach makes a new sandbox with the same address.
   */
  private async replaceLostSandbox(): Promise<void> {
    this.sandboxDied = false;
    const pod = this.pod;
    if (!this.attachment || !(await this.deps.networkFor(pod).sandboxLost?.(this.uid, this.deps.runtimeFor(pod).name))) return;
    this.deps.event(pod, 'Normal', 'SandboxChanged', 'Pod sandbox changed, it will be killed and re-created.');
    for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
      const rec = this.records.get(c.name);
      if (rec?.current?.phase === 'running') await this.killContainer(c, rec, 'SandboxChanged', `Stopping container ${c.name}`);
    }
    this.attachment = undefined;
  }

  private async syncOnce(): Promise<void> {
    const pod = this.pod;
    const now = Date.now();
    this.startTime ??= rfc3339(now);
    const ready = await this.prepare();
    const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
    for (const c of all) {
      if (!this.records.has(c.name)) this.records.set(c.name, { name: c.name, restartCount: 0, ready: false, started: false });
    }
    // Containers adopted from before an agent restart get their probes back.
    if (ready) {
      for (const c of all) {
        const rec = this.records.get(c.name)!;
        if (rec.current?.phase === 'running' && !this.probes.has(c.name)) await this.restartProbes(c, rec);
      }
    }
    if (!ready) {
      for (const c of all) if (!this.records.get(c.name)!.current) this.records.get(c.name)!.waiting = this.configError;
      // A fixed ConfigMap or Secret shows up as a pod update only if it changes the pod; retry.
      this.records.get(all[0].name)!.backoffUntil = now + 5000;
    } else {
      this.showPullBackOff(now);
      for (const action of decide(pod, this.records, now, this.liveness)) {
        const rec = this.records.get(action.container)!;
        const container = all.find((c) => c.name === action.container)!;
        if (action.type === 'start') await this.startContainer(container, rec);
        else if (action.type === 'kill') await this.killContainer(container, rec, action.reason);
        else {
          if (rec.backoffUntil !== action.until) {
            this.deps.event(pod, 'Warning', 'BackOff', `Back-off restarting failed container ${container.name} in pod ${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})`);
          }
          rec.backoffUntil = action.until;
        }
      }
    }
    await this.publishStatus();
  }

  private async startContainer(container: Container, rec: ContainerRecord): Promise<void> {
    const pod = this.pod;
    const runtime = this.deps.runtimeFor(pod);
    const restartCount = rec.current ? rec.restartCount + 1 : rec.restartCount;
    try {
      const dns = this.deps.clusterDns?.();
      const base: Record<string, string> = { HOSTNAME: pod.metadata.name!, ...portEnv(this.ports ?? [], container.name), ...(dns ? { TUG_DNS: dns.addr } : {}) };
      const mounts = mountsFor(container, this.volumePaths ?? new Map());
      const resolvConf = this.writeResolvConf(dns);
      if (runtime.name === 'process') Object.assign(base, volumeEnv(this.deps.stateDir, this.uid, container.name, mounts));
      const env = await containerEnv(pod, container, base, this.deps.sources, { podIP: this.attachment?.podIP ?? this.deps.nodeIP, hostIP: this.deps.nodeIP });
      const spec: ContainerSpec = {
        labels: { podUid: this.uid, podName: pod.metadata.name!, namespace: pod.metadata.namespace!, containerName: container.name, restartCount },
        image: container.image,
        // Kubernetes expands $(VAR) in command and args from the container's environment.
        command: (container.command ?? []).map((a) => expand(a, env)),
        args: (container.args ?? []).map((a) => expand(a, env)),
        env,
        workingDir: container.workingDir,
        mounts,
        resolvConf,
        ports: (this.ports ?? []).filter((p) => p.container === container.name),
        netns: this.attachment?.netns,
        logFile: logFileFor(this.deps.stateDir, pod, container.name, restartCount),
        imagePullPolicy: container.imagePullPolicy,
        pullCredentials: runtime.name === 'docker' ? await this.pullCredentials() : undefined,
        onImageEvent: (type, reason, message) => this.deps.event(pod, type, reason, message),
      };
      const state = await runtime.start(spec);
      // Only the previous instance is kept (for `kubectl logs --previous`); older ones go.
      if (rec.current && rec.previous) await runtime.remove(rec.previous.id).catch(() => undefined);
      const next = recordStarted(rec, container, state);
      this.records.set(container.name, next);
      if (rec.current) this.deps.metrics?.restarts.inc({ namespace: pod.metadata.namespace, pod: pod.metadata.name, container: container.name });
      this.observeStart();
      this.deps.event(pod, 'Normal', 'Started', `Started container ${container.name}`);
      await this.restartProbes(container, next);
    } catch (e) {
      const reason = e instanceof RuntimeError ? e.reason : e instanceof ContainerConfigError ? 'CreateContainerConfigError' : 'RunContainerError';
      const message = (e as Error).message;
      if (reason === 'ErrImagePull') return this.pullFailed(container, rec, message);
      if (rec.waiting?.message !== message) this.deps.event(pod, 'Warning', 'Failed', `Error: ${message}`);
      rec.waiting = { reason, message };
      // Retry with the same back-off a crashing container gets.
      rec.backoffUntil = Date.now() + 10_000;
    }
  }

  /** A failed pull shows as ErrImagePull, then ImagePullBackOff until the next try (10 s, doubling to 5 min). */
  private pullFailed(container: Container, rec: ContainerRecord, message: string): void {
    const now = Date.now();
    rec.pullFailures = (rec.pullFailures ?? 0) + 1;
    this.deps.event(this.pod, 'Warning', 'Failed', message.replace(/^failed/, 'Failed'));
    this.deps.event(this.pod, 'Warning', 'Failed', 'Error: ErrImagePull');
    rec.waiting = { reason: 'ErrImagePull', message };
    rec.backoffUntil = now + imageBackoffMs(rec.pullFailures);
    rec.pullBackOffAt = now + 1000;
  }

  /** Shown ErrImagePull turns ImagePullBackOff once its moment comes (see pullFailed). */
  private showPullBackOff(now: number): void {
    const all = [...(this.pod.spec.initContainers ?? []), ...this.pod.spec.containers];
    for (const c of all) {
      const rec = this.records.get(c.name);
      if (rec?.pullBackOffAt === undefined || now < rec.pullBackOffAt) continue;
      rec.pullBackOffAt = undefined;
      const message = `Back-off pulling image "${c.image}"`;
      rec.waiting = { reason: 'ImagePullBackOff', message };
      this.deps.event(this.pod, 'Normal', 'BackOff', message);
      this.deps.event(this.pod, 'Warning', 'Failed', 'Error: ImagePullBackOff');
    }
  }

  /** The registry logins of the pod's imagePullSecrets; one that cannot be read is an event, and the pull goes on without it. */
  private async pullCredentials(): Promise<RegistryCredential[]> {
    const pod = this.pod;
    const refs = (pod.spec as { imagePullSecrets?: { name?: string }[] }).imagePullSecrets;
    const names = (Array.isArray(refs) ? refs : []).map((r) => r?.name).filter((n): n is string => !!n);
    if (!names.length) return [];
    const found: KubeObject[] = [];
    const missing: string[] = [];
    for (const name of names) {
      const secret = await this.deps.sources.secret(pod.metadata.namespace!, name).catch(() => undefined);
      if (secret) found.push(secret);
      else missing.push(name);
    }
    const { credentials, problems } = credentialsFrom(found);
    if (missing.length || problems.length) {
      const why = [...(missing.length ? [`not found: ${missing.join(', ')}`] : []), ...problems].join('; ');
      this.deps.event(pod, 'Warning', 'FailedToRetrieveImagePullSecret', `Unable to retrieve some image pull secrets (${why}); attempting to pull the image may not succeed.`);
    }
    return credentials;
  }

  /** Writes the pod's resolv.conf into its state directory; returns where (undefined: none to give). */
  private writeResolvConf(dns: { ip?: string; domain: string } | undefined): ContainerSpec['resolvConf'] {
    let host = '';
    try {
      host = readFileSync('/etc/resolv.conf', 'utf8');
    } catch {
      // no host file: only the cluster DNS and dnsConfig
    }
    const text = resolvConfFor(this.pod, dns?.ip ? { ip: dns.ip, domain: dns.domain } : undefined, host);
    if (!text) return undefined;
    const file = join(podDir(this.deps.stateDir, this.uid), 'resolv.conf');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    return { hostPath: file, sameAsNode: text === nodeResolvConf(host) };
  }

  /** Stops a container with a `Killing` event: `reason` is a probe's or, given in full, `message`. */
  private async killContainer(container: Container, rec: ContainerRecord, reason: string, message?: string): Promise<void> {
    if (!rec.current) return;
    const runtime = this.deps.runtimeFor(this.pod);
    this.deps.event(this.pod, 'Normal', 'Killing', message ?? `Container ${container.name} failed ${reason === 'LivenessProbe' ? 'liveness probe' : reason}, will be restarted`);
    const final = await runtime.stop(rec.current.id, this.pod.spec.terminationGracePeriodSeconds ?? 30);
    if (final) rec.current = final;
    rec.ready = false;
    this.liveness.delete(container.name);
  }

  /** Records, once, how long the pod took from reaching this node to all containers running. */
  private observeStart(): void {
    if (this.startObserved) return;
    const running = this.pod.spec.containers.every((c) => this.records.get(c.name)?.current?.phase === 'running');
    if (!running) return;
    this.startObserved = true;
    this.deps.metrics?.podStart.observe((performance.now() - this.seenAt) / 1000);
  }

  private async restartProbes(container: Container, rec: ContainerRecord): Promise<void> {
    await this.probes.get(container.name)?.stop();
    this.liveness.delete(container.name);
    const runtime = this.deps.runtimeFor(this.pod);
    const id = rec.current!.id;
    // Results of a replaced instance's probes must not touch the new instance's record.
    const current = () => {
      const r = this.records.get(container.name);
      return r?.current?.id === id ? r : undefined;
    };
    const probes = startContainerProbes(
      container,
      {
        host: this.attachment?.podIP ?? this.deps.nodeIP,
        resolvePort: (port) => resolvePort(this.ports ?? [], container.name, port),
        exec: (command, timeoutMs) => execWithTimeout(runtime, id, command, timeoutMs),
      },
      {
        onStarted: () => {
          const r = current();
          if (r) r.started = true;
          this.poke();
        },
        onReadiness: (ready) => {
          const r = current();
          if (r) r.ready = ready;
          this.poke();
        },
        onLiveness: (result) => {
          if (current()) this.liveness.set(container.name, result);
          this.poke();
        },
      },
      this.deps.probeOptions,
    );
    this.probes.set(container.name, probes);
  }

  private async stopProbes(): Promise<void> {
    await Promise.all([...this.probes.values()].map((p) => p.stop()));
    this.probes.clear();
  }

  /** The pod's address: its own once attached (bridge), the node's in the hostport mode. */
  private podIP(): string | undefined {
    return this.attachment?.podIP ?? (this.deps.networkFor(this.pod).mode === 'hostport' ? this.deps.nodeIP : undefined);
  }

  private async publishStatus(): Promise<void> {
    const status = podStatus(this.pod, this.records, { hostIP: this.deps.nodeIP, podIP: this.podIP(), now: Date.now(), startTime: this.startTime, containerIDPrefix: `${this.deps.runtimeFor(this.pod).name}://` });
    if (!statusChanged(this.lastStatus, status)) return;
    await this.deps.writeStatus(this.pod, status);
    this.lastStatus = status;
  }

  /** Not ready first, so Services stop sending traffic; then SIGTERM, grace, SIGKILL; then gone. */
  private async terminate(): Promise<void> {
    const pod = this.pod;
    const holding = this.deleted ? undefined : this.deps.drain?.holders(pod);
    for (const rec of this.records.values()) rec.ready = false;
    if (!this.deleted) await this.publishStatus().catch(() => undefined);
    if (holding) {
      const waited = await this.deps.drain!.waitUntilUnrouted(pod, holding);
      if (waited > 1000) this.deps.log(`pod ${pod.metadata.namespace}/${pod.metadata.name}: waited ${Math.round(waited)} ms for the proxies to stop routing to it`);
    }
    for (const rec of this.records.values()) if (rec.current?.phase === 'running') this.deps.event(pod, 'Normal', 'Killing', `Stopping container ${rec.name}`);
    await this.stopProbes();
    await this.stopContainers();
    await this.deps.networkFor(pod).detach(this.uid).catch((e) => this.deps.log(`pod ${pod.metadata.namespace}/${pod.metadata.name}: cannot take it off the network: ${(e as Error).message}`));
    removePodDir(this.deps.stateDir, this.uid);
    if (!this.deleted) await this.deps.finalizeDeletion(pod);
  }

  /** SIGTERM, grace period, SIGKILL for every running container; then forget them all. */
  private async stopContainers(): Promise<void> {
    const runtime = this.deps.runtimeFor(this.pod);
    const grace = graceOf(this.pod);
    await Promise.all(
      [...this.records.values()].map(async (rec) => {
        if (rec.current?.phase === 'running') {
          const final = await runtime.stop(rec.current.id, grace).catch(() => undefined);
          if (final) rec.current = final;
        }
        for (const state of [rec.current, rec.previous]) if (state) await runtime.remove(state.id).catch(() => undefined);
      }),
    );
  }
}

/** An exec probe: the command's output is discarded, only its exit code counts. */
function execWithTimeout(runtime: Runtime, id: string, command: string[], timeoutMs: number): Promise<number> {
  const sink = () => new Writable({ write: (_c, _e, cb) => cb() });
  return runtime.exec(id, command, { stdout: sink(), stderr: sink(), signal: AbortSignal.timeout(timeoutMs) });
}
