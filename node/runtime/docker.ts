// The `docker` runtime (DESIGN.md §4): runs pod containers through dockerode on the local Docker
// socket. Every container carries io.tugboat.* labels (pod uid, names, restart count, node) so a
// restarted agent adopts what is already running instead of duplicating or orphaning it.
import { constants as osConstants } from 'node:os';
import { posix } from 'node:path';
import { Readable, type Duplex } from 'node:stream';
import Docker from 'dockerode';
import { RuntimeError, type ContainerLabels, type ContainerSpec, type ContainerState, type ExecIO, type LogOptions, type Runtime } from './types.js';
import { pullPolicyFor } from '../../api/defaults.js';
import { credentialsFor, type RegistryCredential } from '../image-pull.js';
import { DockerSandboxes, sandboxContainerName } from './docker-sandbox.js';

export { LABEL } from './docker-labels.js';
import { LABEL, SANDBOX_LABEL } from './docker-labels.js';

export interface DockerRuntimeOptions {
  /** Docker engine socket; default /var/run/docker.sock. */
  socketPath?: string;
  /** This node's name: written on every container and used to find ours among all of them. */
  nodeName: string;
}

/** Docker's zero time, which inspect reports for "never started" / "not finished". */
const ZERO_TIME = '0001-01-01T00:00:00Z';
/** The PATH docker gives a container whose image sets none. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const signalNames = new Map(Object.entries(osConstants.signals).map(([name, num]) => [num, name]));

export class DockerRuntime implements Runtime {
  readonly name = 'docker';
  /** The dockerode client, for callers (and tests) that need the engine directly. */
  readonly docker: Docker;
  private readonly nodeName: string;
  private readonly listeners = new Set<(state: ContainerState) => void>();
  private readonly sandboxListeners = new Set<(podUid: string) => void>();
  private events?: NodeJS.ReadableStream;
  private eventsOpen = false;
  private reopenTimer?: NodeJS.Timeout;
  private backoffMs = 0;
  /** Where a reopened events stream resumes (unix seconds), so no exit is lost in the gap. */
  private resumeFrom = 0;
  /** Recently delivered events, so the overlap of a resumed stream is not delivered twice. */
  private readonly delivered: string[] = [];
  /** Exit notifications are delivered in the order docker reported them. */
  private delivery: Promise<void> = Promise.resolve();
  private closed = false;

  /** The pods' pause containers, for the bridge network mode. */
  readonly sandboxes: DockerSandboxes;

  constructor(opts: DockerRuntimeOptions) {
    this.docker = new Docker({ socketPath: opts.socketPath ?? '/var/run/docker.sock' });
    this.nodeName = opts.nodeName;
    this.sandboxes = new DockerSandboxes(this.docker, this.nodeName);
  }

  async start(spec: ContainerSpec): Promise<ContainerState> {
    const image = spec.image?.trim();
    if (!image) throw new RuntimeError('InvalidImageName', `container "${spec.labels.containerName}": image is required by the docker runtime; set spec.containers[].image`);
    await this.ensureImage(image, spec);
    const name = containerName(spec.labels);
    const create: Docker.ContainerCreateOptions = {
      name,
      Image: image,
      Labels: labelsFor(spec.labels, this.nodeName),
      Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
      HostConfig: {
        // bridge mode: the pod's sandbox (its pause container's namespace); hostport mode: the node's network.
        NetworkMode: spec.netns ? `container:${sandboxContainerName(spec.labels.podUid)}` : 'host',
        // docker-init forwards SIGTERM and reaps, so a shell entrypoint still stops promptly.
        Init: true,
        Binds: [...spec.mounts, ...(spec.resolvConf ? [{ hostPath: spec.resolvConf.hostPath, containerPath: '/etc/resolv.conf', readOnly: true }] : [])].map(
          (m) => `${m.hostPath}:${m.containerPath}${m.readOnly ? ':ro' : ''}`,
        ),
        LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } },
        ...(spec.resources?.memoryBytes ? { Memory: spec.resources.memoryBytes } : {}),
        ...(spec.resources?.cpuMillis ? { NanoCpus: Math.round(spec.resources.cpuMillis * 1e6) } : {}),
      },
    };
    // Kubernetes semantics: a command replaces the image's entrypoint *and* its default args.
    if (spec.command.length) create.Entrypoint = spec.command;
    if (spec.args.length) create.Cmd = spec.args;
    if (spec.workingDir) create.WorkingDir = spec.workingDir;

    let container: Docker.Container;
    try {
      container = await this.createReplacingLeftover(create);
    } catch (e) {
      if (e instanceof RuntimeError) throw e;
      throw new RuntimeError('RunContainerError', `container "${spec.labels.containerName}": docker could not create it: ${dockerReason(e)}`, { cause: e });
    }
    try {
      await requireExecutable(container);
      await container.start();
    } catch (e) {
      // Leave nothing behind: the agent retries under the same name after its back-off.
      await container.remove({ force: true, v: true }).catch(() => undefined);
      throw new RuntimeError('RunContainerError', `container "${spec.labels.containerName}" (image ${image}) failed to start: ${dockerReason(e)}`, { cause: e });
    }
    const state = await this.status(container.id);
    if (state) return state;
    throw new RuntimeError('RunContainerError', `container "${spec.labels.containerName}" disappeared right after it started (removed from outside?)`);
  }

  async stop(id: string, graceSeconds: number): Promise<ContainerState | undefined> {
    try {
      // Docker sends SIGTERM, waits up to t seconds, then SIGKILLs and waits for the exit.
      await this.docker.getContainer(id).stop({ t: Math.max(0, Math.ceil(graceSeconds)) });
    } catch (e) {
      const code = statusCode(e);
      if (code === 404) return undefined;
      if (code !== 304) throw new Error(`stopping docker container ${id}: ${dockerReason(e)}`, { cause: e });
    }
    return this.status(id);
  }

  async remove(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (e) {
      // 404: already gone; 409: a removal is already in progress.
      const code = statusCode(e);
      if (code !== 404 && code !== 409) throw new Error(`removing docker container ${id}: ${dockerReason(e)}`, { cause: e });
    }
  }

  async status(id: string): Promise<ContainerState | undefined> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(id).inspect();
    } catch (e) {
      if (statusCode(e) === 404) return undefined;
      throw new Error(`inspecting docker container ${id}: ${dockerReason(e)}`, { cause: e });
    }
    if (info.Config.Labels?.[LABEL.node] !== this.nodeName) return undefined;
    return stateFromInspect(info);
  }

  async list(): Promise<ContainerState[]> {
    const summaries = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL.node}=${this.nodeName}`] } });
    const states = await Promise.all(summaries.map((s) => this.status(s.Id)));
    return states.filter((s): s is ContainerState => s !== undefined);
  }

  /** Told when a pod's pause container (docker-sandbox.ts) stops; the events come with onExit's. */
  onSandboxExit(listener: (podUid: string) => void): () => void {
    this.sandboxListeners.add(listener);
    return () => this.sandboxListeners.delete(listener);
  }

  onExit(listener: (state: ContainerState) => void): () => void {
    this.listeners.add(listener);
    if (!this.eventsOpen && !this.closed) {
      // Resume from "now", so an exit that lands while the stream is still connecting is kept.
      this.resumeFrom = Date.now() / 1000;
      this.eventsOpen = true;
      void this.openEvents();
    }
    return () => this.listeners.delete(listener);
  }

  async exec(id: string, command: string[], io: ExecIO): Promise<number> {
    io.signal?.throwIfAborted();
    const tty = io.tty ?? false;
    const stdin = io.stdin !== undefined;
    let exec: Docker.Exec;
    let stream: Duplex;
    try {
      exec = await this.docker.getContainer(id).exec({ Cmd: command, AttachStdout: true, AttachStderr: true, AttachStdin: stdin, Tty: tty });
      stream = await exec.start({ hijack: true, stdin, Tty: tty, ...(io.signal ? { abortSignal: io.signal } : {}) });
    } catch (e) {
      if (io.signal?.aborted) throw io.signal.reason;
      throw new Error(`exec in docker container ${id}: ${dockerReason(e)}`, { cause: e });
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => (stream.destroy(), reject(io.signal!.reason));
      const done = (err?: Error) => {
        io.signal?.removeEventListener('abort', onAbort);
        io.stdin?.unpipe(stream);
        if (err && !io.signal?.aborted) reject(new Error(`exec in docker container ${id}: ${err.message}`, { cause: err }));
        else resolve();
      };
      io.signal?.addEventListener('abort', onAbort, { once: true });
      stream.on('error', done);
      stream.once('end', () => done());
      stream.once('close', () => done());
      if (tty) stream.on('data', (chunk: Buffer) => io.stdout.write(chunk));
      else this.docker.modem.demuxStream(stream, io.stdout, io.stderr);
      if (io.stdin) {
        io.stdin.on('error', (err) => stream.destroy(err));
        // Ending stdin half-closes the connection, which closes the process's stdin.
        io.stdin.pipe(stream);
      }
    });
    return this.execExitCode(exec, id, io.signal);
  }

  async logs(id: string, opts: LogOptions): Promise<Readable> {
    opts.signal?.throwIfAborted();
    const common = {
      stdout: true, stderr: true, timestamps: opts.timestamps ?? false,
      ...(opts.tailLines !== undefined ? { tail: opts.tailLines } : {}),
      ...(opts.sinceSeconds !== undefined ? { since: Math.floor(Date.now() / 1000 - opts.sinceSeconds) } : {}),
      ...(opts.signal ? { abortSignal: opts.signal } : {}),
    };
    const container = this.docker.getContainer(id);
    let source: Readable;
    try {
      source = opts.follow
        ? ((await container.logs({ ...common, follow: true })) as Readable)
        : Readable.from([await container.logs({ ...common, follow: false })]);
    } catch (e) {
      if (opts.signal?.aborted) return Readable.from([]);
      throw new Error(`logs of docker container ${id}: ${dockerReason(e)}`, { cause: e });
    }
    const out = Readable.from(demuxedLog(source, opts.limitBytes ?? Infinity, opts.signal));
    // The reader went away: close the docker connection now, not at the next log line.
    out.on('close', () => source.destroy());
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reopenTimer);
    (this.events as Readable | undefined)?.destroy();
    this.events = undefined;
    this.listeners.clear();
    await this.delivery;
  }

  /** Whether the image is on this node; a reference docker cannot parse is InvalidImageName. */
  private async imagePresent(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (e) {
      const code = statusCode(e);
      if (code === 404) return false;
      if (code === 400) throw new RuntimeError('InvalidImageName', `image "${image}" is not a valid image reference: ${dockerReason(e)}`, { cause: e });
      throw new RuntimeError('RunContainerError', `checking image "${image}": ${dockerReason(e)}`, { cause: e });
    }
  }

  /** Makes sure the image is here as the pull policy says (kubelet's image manager). */
  private async ensureImage(image: string, spec: ContainerSpec): Promise<void> {
    const policy = spec.imagePullPolicy || pullPolicyFor(image);
    const present = await this.imagePresent(image);
    if (policy === 'Never') {
      if (!present) throw new RuntimeError('ErrImageNeverPull', `Container image "${image}" is not present with pull policy of Never`);
      return;
    }
    if (present && policy === 'IfNotPresent') {
      spec.onImageEvent?.('Normal', 'Pulled', `Container image "${image}" already present on machine`);
      return;
    }
    spec.onImageEvent?.('Normal', 'Pulling', `Pulling image "${image}"`);
    const started = Date.now();
    await this.pull(image, credentialsFor(image, spec.pullCredentials));
    const took = ((Date.now() - started) / 1000).toFixed(3);
    spec.onImageEvent?.('Normal', 'Pulled', `Successfully pulled image "${image}" in ${took}s`);
  }

  /** Pulls with each matching login in turn, then without one (as kubelet); ErrImagePull saying who refused what. */
  private async pull(image: string, logins: RegistryCredential[]): Promise<void> {
    const failures: string[] = [];
    for (const login of [...logins, undefined]) {
      try {
        const authconfig = login && { username: login.username, password: login.password, serveraddress: login.registry };
        const stream = await this.docker.pull(image, authconfig ? { authconfig } : {});
        await new Promise<void>((resolve, reject) => this.docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
        return;
      } catch (e) {
        const why = pullReason(e);
        failures.push(login ? `registry ${login.registry} refused the login of Secret "${login.secret}" (${why})` : why);
      }
    }
    throw new RuntimeError('ErrImagePull', `failed to pull image "${image}": ${failures.join('; then without a login: ')}`);
  }

  /** A same-named container of ours that is not running is a leftover of a failed attempt: replace it. */
  private async createReplacingLeftover(create: Docker.ContainerCreateOptions): Promise<Docker.Container> {
    try {
      return await this.docker.createContainer(create);
    } catch (e) {
      if (statusCode(e) !== 409) throw e;
      const existing = this.docker.getContainer(create.name!);
      const info = await existing.inspect();
      if (info.State.Running || info.Config.Labels?.[LABEL.node] !== this.nodeName) {
        const whose = info.State.Running ? 'is already running' : `belongs to node "${info.Config.Labels?.[LABEL.node] ?? '?'}"`;
        throw new RuntimeError('RunContainerError', `a container named ${create.name} ${whose} (${info.Id.slice(0, 12)}); not starting a duplicate`, { cause: e });
      }
      await existing.remove({ force: true, v: true });
      return this.docker.createContainer(create);
    }
  }

  /** The exit code; docker records it a moment after the output stream closes, so wait for it. */
  private async execExitCode(exec: Docker.Exec, id: string, signal?: AbortSignal): Promise<number> {
    for (let i = 0; ; i++) {
      const info = await exec.inspect();
      if (!info.Running && info.ExitCode !== null) return info.ExitCode;
      if (i >= 100) throw new Error(`exec in docker container ${id}: docker did not report an exit code`);
      signal?.throwIfAborted();
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async openEvents(): Promise<void> {
    if (this.closed) return;
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.getEvents({
        since: this.resumeFrom,
        filters: { type: ['container'], event: ['die'], label: [`${LABEL.node}=${this.nodeName}`] },
      });
    } catch {
      this.scheduleReopen();
      return;
    }
    if (this.closed) {
      (stream as Readable).destroy();
      return;
    }
    this.events = stream;
    const openedAt = Date.now();
    let pending = '';
    let ended = false;
    const onEnd = () => {
      if (ended) return;
      ended = true;
      if (this.events === stream) this.events = undefined;
      // A stream that served for a while ended for a passing reason (a daemon restart): retry fast.
      if (Date.now() - openedAt > 30_000) this.backoffMs = 0;
      this.scheduleReopen();
    };
    stream.on('error', onEnd);
    stream.on('end', onEnd);
    stream.on('close', onEnd);
    stream.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) if (line.trim()) this.recordExit(line);
    });
  }

  private scheduleReopen(): void {
    if (this.closed) return;
    this.backoffMs = Math.min(Math.max(this.backoffMs * 2, 100), 5000);
    this.reopenTimer = setTimeout(() => void this.openEvents(), this.backoffMs);
  }

  private recordExit(line: string): void {
    let event: DieEvent;
    try { event = JSON.parse(line) as DieEvent; } catch { return; }
    const key = `${event.id}@${event.timeNano}`;
    if (this.delivered.includes(key)) return;
    this.delivered.push(key);
    if (this.delivered.length > 256) this.delivered.shift();
    this.resumeFrom = Math.max(this.resumeFrom, event.time);
    const attrs = event.Actor?.Attributes ?? {};
    if (attrs[SANDBOX_LABEL] === 'true' && attrs[LABEL.podUid]) {
      for (const listener of this.sandboxListeners) try { listener(attrs[LABEL.podUid]); } catch { /* ignored */ }
      return;
    }
    this.delivery = this.delivery.then(async () => {
      // If something restarted it meanwhile, the event itself still tells how this run ended.
      const inspected = await this.status(event.id).catch(() => undefined);
      const state = inspected?.phase === 'exited' ? inspected : stateFromEvent(event);
      if (!state || this.closed) return;
      // One bad listener must not keep the others from hearing about the exit.
      for (const listener of this.listeners) try { listener(state); } catch { /* ignored */ }
    });
  }
}

/** A docker `die` event: the actor's attributes hold the container's labels and exitCode. */
type DieEvent = { id: string; time: number; timeNano: number; Actor?: { Attributes?: Record<string, string> } };

/**
 * With docker-init as PID 1, `docker start` succeeds even when the command does not exist (init
 * then exits 127). Look the executable up in the created container's filesystem first, the way
 * runc would, so a wrong command is a RunContainerError at start as it is without an init.
 */
async function requireExecutable(container: Docker.Container): Promise<void> {
  const info = await container.inspect();
  const file = info.Path;
  if (!file) return;
  const pathVar = (info.Config.Env ?? []).find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  const cwd = info.Config.WorkingDir || '/';
  const candidates = file.includes('/') ? [posix.resolve(cwd, file)] : pathVar.split(':').map((dir) => posix.resolve(cwd, dir || '.', file));
  // dockerode hands back the (empty) HEAD response as a stream: drain it to free the socket.
  const found = await Promise.all(candidates.map((path) =>
    container.infoArchive({ path }).then((res: Readable) => (res.resume(), true), (e: unknown) => statusCode(e) !== 404),
  ));
  if (found.includes(true)) return;
  throw new Error(file.includes('/') ? `exec: "${file}": stat ${file}: no such file or directory` : `exec: "${file}": executable file not found in $PATH`);
}

/** `tug_<ns>_<pod>_<container>_<restartCount>_<uid prefix>`, limited to docker's name charset. */
export function containerName(l: ContainerLabels): string {
  const safe = (s: string) => s.replace(/[^a-zA-Z0-9.-]/g, '-');
  return `tug_${safe(l.namespace)}_${safe(l.podName)}_${safe(l.containerName)}_${l.restartCount}_${safe(l.podUid).slice(0, 8)}`;
}

function labelsFor(l: ContainerLabels, node: string): Record<string, string> {
  return {
    [LABEL.podUid]: l.podUid, [LABEL.podName]: l.podName, [LABEL.namespace]: l.namespace,
    [LABEL.containerName]: l.containerName, [LABEL.restartCount]: String(l.restartCount), [LABEL.node]: node,
  };
}

function labelsFrom(labels: Record<string, string> | undefined): ContainerLabels | undefined {
  if (!labels?.[LABEL.podUid] || !labels[LABEL.containerName]) return undefined;
  return {
    podUid: labels[LABEL.podUid],
    podName: labels[LABEL.podName] ?? '',
    namespace: labels[LABEL.namespace] ?? '',
    containerName: labels[LABEL.containerName],
    restartCount: Number.parseInt(labels[LABEL.restartCount] ?? '0', 10) || 0,
  };
}

function time(value: string | undefined): Date | undefined {
  return value && value !== ZERO_TIME ? new Date(value) : undefined;
}

/** Exit codes above 128 mean "killed by signal N" (docker-init reports its child's that way). */
function terminated(exitCode: number, oomKilled: boolean): Pick<ContainerState, 'exitCode' | 'reason' | 'signal'> {
  const signal = exitCode > 128 ? signalNames.get(exitCode - 128) : undefined;
  const reason = oomKilled ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error';
  return { exitCode, reason, ...(signal ? { signal } : {}) };
}

export function stateFromInspect(info: Docker.ContainerInspectInfo): ContainerState | undefined {
  const labels = labelsFrom(info.Config.Labels);
  if (!labels) return undefined;
  const s = info.State;
  const startedAt = time(s.StartedAt) ?? new Date(info.Created);
  if (s.Running) return { id: info.Id, labels, phase: 'running', pid: s.Pid || undefined, startedAt };
  const finishedAt = time(s.FinishedAt) ?? startedAt;
  if (s.Status === 'created') {
    // Created but never started (e.g. the agent died in between): report it as unable to run,
    // with a non-zero code so every restart policy starts it again.
    return { id: info.Id, labels, phase: 'exited', startedAt, finishedAt, exitCode: s.ExitCode || 128, reason: 'ContainerCannotRun' };
  }
  return { id: info.Id, labels, phase: 'exited', startedAt, finishedAt, ...terminated(s.ExitCode, s.OOMKilled) };
}

/** For a container removed before it could be inspected: the die event carries labels and code. */
function stateFromEvent(event: DieEvent): ContainerState | undefined {
  const attrs = event.Actor?.Attributes ?? {};
  const labels = labelsFrom(attrs);
  if (!labels) return undefined;
  const finishedAt = new Date(event.time * 1000);
  const exitCode = Number.parseInt(attrs.exitCode ?? '', 10);
  return { id: event.id, labels, phase: 'exited', startedAt: finishedAt, finishedAt, ...terminated(Number.isNaN(exitCode) ? 255 : exitCode, attrs.oomKilled === 'true') };
}

/**
 * Docker's multiplexed log frames (8-byte header: stream type, 3 zero bytes, payload length) as
 * one byte stream of stdout and stderr, cut at `limit` bytes; an abort ends it quietly.
 */
async function* demuxedLog(source: Readable, limit: number, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const abort = () => source.destroy();
  signal?.addEventListener('abort', abort, { once: true });
  let pending: Buffer = Buffer.alloc(0);
  let budget = limit;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 8 && pending.length >= 8 + pending.readUInt32BE(4)) {
        const end = 8 + pending.readUInt32BE(4);
        const part = pending.subarray(8, Math.min(end, 8 + budget));
        pending = pending.subarray(end);
        budget -= part.length;
        if (part.length) yield part;
        if (budget <= 0) return;
      }
    }
  } catch (e) {
    if (!signal?.aborted) throw new Error(`reading docker logs: ${(e as Error).message}`, { cause: e });
  } finally {
    signal?.removeEventListener('abort', abort);
    source.destroy();
  }
}

/** What a failed pull says, without dockerode's `(HTTP code 500) server error - ` prefix. */
function pullReason(e: unknown): string {
  return dockerReason(e).replace(/^\(HTTP code \d+\)[^-]*- /, '').trim();
}

function statusCode(e: unknown): number | undefined {
  return (e as { statusCode?: number } | undefined)?.statusCode;
}

/** Docker's own words for a failure (e.g. `exec: "nope": executable file not found in $PATH`). */
function dockerReason(e: unknown): string {
  const json = (e as { json?: { message?: unknown } } | undefined)?.json;
  if (typeof json?.message === 'string') return json.message.trim();
  if (Buffer.isBuffer(json)) return json.toString('utf8').trim();
  return e instanceof Error ? e.message.trim() : String(e);
}
