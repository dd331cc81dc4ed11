// The `process` runtime (DESIGN.md §4), the embedded default that needs nothing installed: each
// container is its command run as a host process group. A tiny /bin/sh shim leads the group (its
// own session, so the agent can die, even by SIGKILL, without taking pods along); it runs the
// command as its child, writes the exit status to `<stateDir>/<id>.exit`, then exits with it, so
// exit codes survive an agent restart. Output goes straight from the process to its log file.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { sleep } from '../../api/timers.js';
import { readLog, rotateLog } from './process-logs.js';
import { BIND_SHIM, bindArgs, bindsOf, MountPointLedger } from './process-mounts.js';
import { groupMembers, isAlive, lookupCommand, readStat, signalGroup, signalNumber, signalOf } from './process-proc.js';
import { RuntimeError, type ContainerLabels, type ContainerSpec, type ContainerState, type ExecIO, type LogOptions, type Runtime } from './types.js';

/**
 * `$1` is the command's resolved path, the rest its argv; arguments only ever travel in "$@".
 * - The exit file's path arrives on stdin once the container is recorded; EOF instead means the
 *   agent died before that, and nothing unrecorded is started.
 * - The command runs in the foreground: sh then waits for it whatever signals arrive (a trap
 *   runs only after a foreground command ends), and the command starts with default signal
 *   dispositions (traps reset on exec). A background job would start with SIGINT/SIGQUIT
 *   ignored, which dash cannot undo. So the shim forwards nothing: every signal the runtime sends
 *   goes to the whole group, the command included; the traps only keep the shim alive to report.
 * - $? is the exit code, or 128 + signal number when the command was killed.
 */
const SHIM_HANDSHAKE = ['IFS= read -r exitfile || exit 125', 'exec </dev/null'];
const SHIM_RUN = ['trap : HUP INT QUIT TERM USR1 USR2 ALRM', '"$@"', 'st=$?', 'echo "$st" >"$exitfile"', 'exit "$st"'];
const SHIM = [...SHIM_HANDSHAKE, ...SHIM_RUN].join('\n');

/**
 * The shim for a container with binds (its volumes at their mountPath, its own resolv.conf), run
 * in a private mount namespace (`unshare --mount`): the binds come first in its arguments
 * (process-mounts.ts). They happen after the handshake, so even a shim that fails at once has been
 * recorded; a failed bind fails the container (exit 125, the reason in its log).
 */
const BIND_SHIM_SCRIPT = [...SHIM_HANDSHAKE, ...BIND_SHIM, ...SHIM_RUN].join('\n');

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** How often adopted containers are checked for exit, and log files for size. */
const ADOPTED_POLL_MS = 500;
const ROTATE_EVERY_MS = 1000;
/** Waiting for a SIGKILLed group to vanish is bounded only for processes stuck in the kernel. */
const KILL_WAIT_MS = 10_000;

/** One file per container in the state dir: what adoption, exec and logs need to know. */
interface ContainerRecord {
  id: string;
  pid: number;
  startTime: string;
  labels: ContainerLabels;
  logFile: string;
  startedAt: string;
  command: string[];
  env: Record<string, string>;
  workingDir: string;
  /** The container runs in its own mount namespace (for its binds): exec enters it. */
  mountNamespace?: boolean;
  /** Where its binds are, which keeps their mount points on the node's filesystem. */
  mountTargets?: string[];
  /** The container runs in its pod's network namespace (bridge mode): exec enters it. */
  netns?: string;
}

interface Watched {
  record: ContainerRecord;
  /** Set for containers this instance started; others were adopted and are polled. */
  child?: ChildProcess;
  /** Settles once the exit has been recorded and reported (one handling per container). */
  exiting?: Promise<void>;
  /** For children: settles after their 'exit' event has been handled. */
  childExit?: Promise<void>;
}

export class ProcessRuntime implements Runtime {
  readonly name = 'process';
  private readonly stateDir: string;
  private readonly logMaxBytes: number;
  private readonly logMaxFiles: number;
  private readonly closing = new AbortController();
  private readonly running = new Map<string, Watched>();
  private readonly listeners = new Set<(state: ContainerState) => void>();
  private readonly reported = new Set<string>();
  /** Containers whose group we SIGKILLed: the shim died too, so their exit file is ours to write. */
  private readonly killed = new Set<string>();
  private readonly adopted: Promise<void>;
  private readonly loops: Promise<void>[] = [];
  private polling = false;

  /** Whether pods get their binds through a private mount namespace (needs root). */
  private readonly privateMounts: boolean;
  private readonly mountPoints: MountPointLedger;

  constructor(opts: { stateDir: string; logMaxBytes?: number; logMaxFiles?: number; privateMounts?: boolean }) {
    this.stateDir = opts.stateDir;
    this.privateMounts = opts.privateMounts ?? process.getuid?.() === 0;
    this.mountPoints = new MountPointLedger(opts.stateDir);
    this.logMaxBytes = opts.logMaxBytes ?? 10 * 1024 * 1024;
    this.logMaxFiles = opts.logMaxFiles ?? 2;
    this.adopted = this.adoptRecorded();
    this.loops.push(this.rotateLoop());
  }

  async start(spec: ContainerSpec): Promise<ContainerState> {
    await this.adopted;
    if (this.closing.signal.aborted) throw new Error('the process runtime is closed');
    const name = `container ${spec.labels.containerName} of pod ${spec.labels.namespace}/${spec.labels.podName}`;
    if (spec.command.length === 0) {
      throw new RuntimeError('RunContainerError', `${name}: the process runtime needs \`command\` (it has no image entrypoint to fall back on); set command in the container spec`);
    }
    const workingDir = spec.workingDir ?? '/';
    if (!(await stat(workingDir).then((s) => s.isDirectory(), () => false))) {
      throw new RuntimeError('RunContainerError', `${name}: workingDir ${workingDir} is not an existing directory; create it or fix workingDir in the container spec`);
    }
    const env = { ...spec.env };
    env.PATH ??= process.env.PATH ?? DEFAULT_PATH;
    const found = await lookupCommand(spec.command[0], env.PATH, workingDir);
    if ('error' in found) {
      throw new RuntimeError('RunContainerError', `${name}: cannot run command "${spec.command[0]}": ${found.error}; fix command in the container spec`);
    }
    await mkdir(this.stateDir, { recursive: true });
    await mkdir(path.dirname(spec.logFile), { recursive: true });

    const ownResolvConf = spec.resolvConf && !spec.resolvConf.sameAsNode ? spec.resolvConf.hostPath : undefined;
    const binds = this.privateMounts ? bindsOf(spec.mounts, ownResolvConf) : [];
    const shim = ['/bin/sh', '-c', SHIM, 'tugboat-shim', found.path, ...spec.command.slice(1), ...spec.args];
    if (binds.length > 0) {
      // unshare execs the shell in place: the pid recorded is still the group's leader.
      shim.splice(0, 3, 'unshare', '--mount', '--propagation', 'private', '/bin/sh', '-c', BIND_SHIM_SCRIPT);
      shim.splice(shim.indexOf('tugboat-shim') + 1, 0, ...bindArgs(binds));
      await this.mountPoints.note(binds);
    }
    // nsenter execs in place too: the pod's sandbox first, then the rest as before.
    if (spec.netns) shim.unshift('nsenter', `--net=${spec.netns}`, '--');
    const log = await open(spec.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(shim[0], shim.slice(1), {
        cwd: workingDir,
        env,
        detached: true, // setsid: own session and process group, outliving the agent
        stdio: ['pipe', log.fd, log.fd],
      });
    } catch (err) {
      throw new RuntimeError('RunContainerError', `${name}: cannot start ${shim[0]} for command "${spec.command[0]}": ${(err as Error).message}`, { cause: err });
    } finally {
      await log.close(); // the shim holds its own copy
    }
    // Listen at once: the shim may die while we are still recording it.
    const exit = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? 128 + signalNumber(signal ?? ''))));
    const spawnError = new Promise<Error>((resolve) => child.on('error', resolve));
    child.stdin?.on('error', () => {}); // EPIPE when the shim is gone before the handshake

    const startTime = child.pid === undefined ? undefined : (await readStat(child.pid))?.startTime;
    if (child.pid === undefined || startTime === undefined) {
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
      const err = child.pid === undefined ? await spawnError : new Error('the shim exited before it was recorded');
      throw new RuntimeError('RunContainerError', `${name}: cannot start command "${spec.command[0]}": ${err.message}`, { cause: err });
    }
    const record: ContainerRecord = {
      id: `proc-${child.pid}-${startTime}`,
      pid: child.pid,
      startTime,
      labels: spec.labels,
      logFile: spec.logFile,
      startedAt: new Date().toISOString(),
      command: [...spec.command, ...spec.args],
      env,
      workingDir,
      ...(binds.length > 0 ? { mountNamespace: true, mountTargets: binds.map((b) => b.target) } : {}),
      ...(spec.netns ? { netns: spec.netns } : {}),
    };
    try {
      await writeAtomic(this.recordPath(record.id), JSON.stringify(record));
    } catch (err) {
      signalGroup(record.pid, 'SIGKILL');
      throw new RuntimeError('RunContainerError', `${name}: cannot record the container in ${this.stateDir}: ${(err as Error).message}`, { cause: err });
    }
    const watched: Watched = { record, child };
    watched.childExit = exit.then((status) => this.exited(record.id, status));
    this.running.set(record.id, watched);
    child.stdin?.end(`${this.exitPath(record.id)}\n`);
    return { id: record.id, labels: record.labels, phase: 'running', pid: record.pid, startedAt: new Date(record.startedAt) };
  }

  async stop(id: string, graceSeconds: number): Promise<ContainerState | undefined> {
    await this.adopted;
    const record = await this.readRecord(id);
    if (!record) return undefined;
    if (await isAlive(record.pid, record.startTime)) {
      signalGroup(record.pid, 'SIGTERM');
      const graceEnds = Date.now() + Math.max(0, graceSeconds) * 1000;
      while (Date.now() < graceEnds && (await groupMembers(record.pid)).length > 0) await sleep(50);
      if ((await groupMembers(record.pid)).length > 0) {
        this.killed.add(id);
        signalGroup(record.pid, 'SIGKILL');
        const killEnds = Date.now() + KILL_WAIT_MS;
        while (Date.now() < killEnds && (await groupMembers(record.pid)).length > 0) await sleep(20);
      }
    }
    if (await isAlive(record.pid, record.startTime)) return this.stateOf(record); // stuck in the kernel
    // Record and report the exit before answering, so status() and onExit agree with us.
    const watched = this.running.get(id);
    await (watched?.child ? watched.childExit : this.exited(id));
    return this.stateOf(record);
  }

  async remove(id: string): Promise<void> {
    await this.adopted;
    const record = await this.readRecord(id);
    if (record && (await isAlive(record.pid, record.startTime))) {
      throw new Error(`container ${id} is still running; stop it before removing it`);
    }
    await rm(this.recordPath(id), { force: true });
    await rm(this.exitPath(id), { force: true });
    this.running.delete(id);
    this.reported.delete(id);
    this.killed.delete(id);
    if (record?.mountTargets) await this.mountPoints.release((await this.readRecords()).flatMap((r) => r.mountTargets ?? []));
  }

  async status(id: string): Promise<ContainerState | undefined> {
    const record = await this.readRecord(id);
    return record && this.stateOf(record);
  }

  async list(): Promise<ContainerState[]> {
    return Promise.all((await this.readRecords()).map((r) => this.stateOf(r)));
  }

  onExit(listener: (state: ContainerState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Runs `command` as a new process with the container's env and working dir (not inside its
   * process group: it is the agent's child and ends on `io.signal`). A command that cannot be
   * found resolves 127 (126 if not executable) with the reason on stderr, as a shell would. A
   * tty is not supported: `io.tty` is ignored and plain pipes are used.
   */
  async exec(id: string, command: string[], io: ExecIO): Promise<number> {
    const record = await this.readRecord(id);
    if (!record) throw new Error(`no process container ${id}`);
    if (!(await isAlive(record.pid, record.startTime))) throw new Error(`container ${id} is not running`);
    if (command.length === 0) throw new Error('exec needs a command');
    const found = await lookupCommand(command[0], record.env.PATH ?? DEFAULT_PATH, record.workingDir);
    if ('error' in found) {
      io.stderr.write(`exec: "${command[0]}": ${found.error}\n`);
      return found.code === 'EACCES' ? 126 : 127;
    }
    // The container's own namespaces are entered: it sees its resolv.conf and its pod's network.
    const namespaces = [...(record.mountNamespace ? ['--mount'] : []), ...(record.netns ? ['--net'] : [])];
    const argv = namespaces.length > 0 ? ['nsenter', `--target=${record.pid}`, ...namespaces, '--', found.path, ...command.slice(1)] : [found.path, ...command.slice(1)];
    return new Promise<number>((resolve, reject) => {
      const child = spawn(argv[0], argv.slice(1), {
        argv0: namespaces.length > 0 ? undefined : command[0],
        cwd: record.workingDir,
        env: record.env,
        detached: true, // its own group, so an abort ends whatever it started too
        stdio: [io.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      });
      const abort = () => child.pid !== undefined && signalGroup(child.pid, 'SIGKILL');
      io.signal?.addEventListener('abort', abort, { once: true });
      if (io.signal?.aborted) abort();
      child.stdout?.pipe(io.stdout, { end: false });
      child.stderr?.pipe(io.stderr, { end: false });
      if (io.stdin && child.stdin) {
        child.stdin.on('error', () => {}); // the command may exit without reading all of it
        io.stdin.pipe(child.stdin);
      }
      const done = () => {
        io.signal?.removeEventListener('abort', abort);
        if (io.stdin && child.stdin) io.stdin.unpipe(child.stdin);
      };
      child.on('error', (err) => {
        done();
        reject(new Error(`exec in container ${id}: cannot run "${command[0]}": ${err.message}`, { cause: err }));
      });
      child.on('close', (code, signal) => {
        done();
        resolve(code ?? 128 + signalNumber(signal ?? ''));
      });
    });
  }

  /** See readLog for how sinceSeconds is approximated; `timestamps` is not supported (ignored). */
  async logs(id: string, opts: LogOptions): Promise<Readable> {
    const record = await this.readRecord(id);
    if (!record) throw new Error(`no process container ${id}`);
    const signals = opts.signal ? [opts.signal, this.closing.signal] : [this.closing.signal];
    return readLog(record.logFile, {
      follow: opts.follow ?? false,
      tailLines: opts.tailLines,
      limitBytes: opts.limitBytes,
      sinceSeconds: opts.sinceSeconds,
      signal: AbortSignal.any(signals),
      running: () => isAlive(record.pid, record.startTime),
    });
  }

  async close(): Promise<void> {
    this.closing.abort();
    // Containers keep running; only our handles on them go, so the agent can exit.
    for (const watched of this.running.values()) watched.child?.unref();
    await Promise.allSettled(this.loops);
  }

  /** Watches the recorded containers that still run (started by an earlier agent). */
  private async adoptRecorded(): Promise<void> {
    for (const record of await this.readRecords()) {
      if (await isAlive(record.pid, record.startTime)) this.running.set(record.id, { record });
    }
    this.pollAdopted();
  }

  /**
   * Linux tells only a parent that its child exited, and Node has no pidfd API, so containers
   * adopted from an earlier agent (children of init now) are checked in /proc every 500 ms,
   * by one loop that runs only while any exist.
   */
  private pollAdopted(): void {
    if (this.polling || ![...this.running.values()].some((w) => !w.child)) return;
    this.polling = true;
    this.loops.push(
      (async () => {
        const signal = this.closing.signal;
        for (;;) {
          const adopted = [...this.running.values()].filter((w) => !w.child);
          if (signal.aborted || adopted.length === 0) break;
          await sleep(ADOPTED_POLL_MS, signal);
          for (const { record } of adopted) {
            if (!signal.aborted && !(await isAlive(record.pid, record.startTime))) await this.exited(record.id);
          }
        }
        this.polling = false;
      })(),
    );
  }

  private async rotateLoop(): Promise<void> {
    const signal = this.closing.signal;
    while (!signal.aborted) {
      for (const { record } of [...this.running.values()]) {
        await rotateLog(record.logFile, this.logMaxBytes, this.logMaxFiles).catch(() => {});
      }
      await sleep(ROTATE_EVERY_MS, signal);
    }
  }

  /**
   * Records and reports one exit, once. `status` is what the shim's parent saw, for when the shim
   * itself was killed and wrote nothing. Leftovers of the group (daemons the command started)
   * are killed, as a container's end would: the group's id cannot have been reused while they live.
   */
  private exited(id: string, status?: number): Promise<void> {
    const watched = this.running.get(id);
    if (!watched || this.closing.signal.aborted) return Promise.resolve();
    watched.exiting ??= this.recordExit(watched, status)
      .catch(() => {}) // /proc unreadable: nothing better to report than what stateOf finds later
      .finally(() => this.running.delete(id));
    return watched.exiting;
  }

  private async recordExit({ record }: Watched, status: number | undefined): Promise<void> {
    const id = record.id;
    const exitFile = this.exitPath(id);
    if (!(await stat(exitFile).then(() => true, () => false))) {
      const known = this.killed.has(id) ? 137 : status;
      if (known !== undefined) await writeFile(exitFile, `${known}\n`).catch(() => {});
    }
    if ((await groupMembers(record.pid)).length > 0) signalGroup(record.pid, 'SIGKILL');
    const state = await this.stateOf(record);
    if (this.reported.has(id) || this.closing.signal.aborted) return;
    this.reported.add(id);
    for (const listener of this.listeners) {
      try {
        listener(state);
      } catch {
        // one listener's bug must not keep the others from hearing about the exit
      }
    }
  }

  private async stateOf(record: ContainerRecord): Promise<ContainerState> {
    const base = { id: record.id, labels: record.labels, pid: record.pid, startedAt: new Date(record.startedAt) };
    if (await isAlive(record.pid, record.startTime)) return { ...base, phase: 'running' };
    const exit = await readExit(this.exitPath(record.id));
    const code = exit?.code ?? (this.killed.has(record.id) ? 137 : undefined);
    if (code === undefined) return { ...base, phase: 'exited', reason: 'Unknown' };
    return {
      ...base,
      phase: 'exited',
      finishedAt: exit?.at ?? new Date(),
      exitCode: code,
      signal: signalOf(code),
      reason: code === 0 ? 'Completed' : 'Error',
    };
  }

  private recordPath(id: string): string {
    return path.join(this.stateDir, `${id}.json`);
  }

  private exitPath(id: string): string {
    return path.join(this.stateDir, `${id}.exit`);
  }

  private async readRecord(id: string): Promise<ContainerRecord | undefined> {
    if (!/^proc-\d+-\d+$/.test(id)) return undefined;
    try {
      return JSON.parse(await readFile(this.recordPath(id), 'utf8')) as ContainerRecord;
    } catch {
      return undefined;
    }
  }

  private async readRecords(): Promise<ContainerRecord[]> {
    const names = await readdir(this.stateDir).catch(() => [] as string[]);
    const ids = names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length));
    const records = await Promise.all(ids.map((id) => this.readRecord(id)));
    return records.filter((r): r is ContainerRecord => r !== undefined);
  }
}

async function writeAtomic(file: string, content: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, content);
  await rename(tmp, file);
}

/** The shim writes the file before it exits, so once the shim is gone the file is complete. */
async function readExit(file: string): Promise<{ code: number; at: Date } | undefined> {
  try {
    const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
    const code = Number.parseInt(text, 10);
    return Number.isNaN(code) ? undefined : { code, at: st.mtime };
  } catch {
    return undefined;
  }
}
