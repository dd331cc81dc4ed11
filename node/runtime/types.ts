// The Runtime contract (DESIGN.md §4): how the node agent starts, stops, inspects, adopts and
// execs into containers, whatever runs them. One implementation per runtime, picked once per pod.
import type { Readable, Writable } from 'node:stream';
import type { RegistryCredential } from '../image-pull.js';

/** Labels every container carries, so a restarted agent can adopt what it started. */
export interface ContainerLabels {
  podUid: string;
  podName: string;
  namespace: string;
  containerName: string;
  /** How many times this container had been restarted when this instance started. */
  restartCount: number;
}

export interface Mount {
  hostPath: string;
  containerPath: string;
  readOnly: boolean;
}

/** Everything a runtime needs to start one container; the agent resolves it from the pod. */
export interface ContainerSpec {
  labels: ContainerLabels;
  image?: string;
  /** Kubernetes `command` (the entrypoint); empty means the image's. */
  command: string[];
  /** Kubernetes `args`. */
  args: string[];
  env: Record<string, string>;
  workingDir?: string;
  mounts: Mount[];
  /**
   * The pod's resolv.conf, a file on the node, and whether it says what the node's own says
   * (a container sharing the node's filesystem then needs nothing).
   */
  resolvConf?: { hostPath: string; sameAsNode: boolean };
  /** Node ports the container listens on (hostport network mode): for information and docker. */
  ports: { name?: string; containerPort: number; hostPort: number; protocol: string }[];
  /** The pod's network namespace (bridge mode), which the container joins; unset: the node's. */
  netns?: string;
  /** File the container's stdout and stderr go to (the process runtime writes it; docker keeps its own). */
  logFile: string;
  resources?: { cpuMillis?: number; memoryBytes?: number };
  /** `IfNotPresent` | `Always` | `Never` (unset: Always for `:latest` or no tag, else IfNotPresent). */
  imagePullPolicy?: string;
  /** Registry logins from the pod's imagePullSecrets. */
  pullCredentials?: RegistryCredential[];
  /** Told of image events (Pulling, Pulled), as kubelet records them on the pod. */
  onImageEvent?: (type: 'Normal' | 'Warning', reason: string, message: string) => void;
}

export type ContainerPhase = 'running' | 'exited';

export interface ContainerState {
  /** Runtime-specific id (docker container id, or `proc-<pid>-<starttime>` for processes). */
  id: string;
  labels: ContainerLabels;
  phase: ContainerPhase;
  pid?: number;
  startedAt: Date;
  finishedAt?: Date;
  exitCode?: number;
  /** Set when the container was ended by a signal (e.g. SIGKILL). */
  signal?: string;
  /** Kubernetes terminated reason: Completed, Error, OOMKilled. */
  reason?: string;
}

/** A start failure with the Kubernetes waiting reason to show (e.g. ErrImageNeverPull). */
export class RuntimeError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RuntimeError';
  }
}

export interface LogOptions {
  follow?: boolean;
  tailLines?: number;
  timestamps?: boolean;
  sinceSeconds?: number;
  limitBytes?: number;
  signal?: AbortSignal;
}

export interface ExecIO {
  stdin?: Readable;
  stdout: Writable;
  stderr: Writable;
  tty?: boolean;
  signal?: AbortSignal;
}

export interface Runtime {
  readonly name: string;
  /** Starts a container; throws RuntimeError with a waiting reason when it cannot. */
  start(spec: ContainerSpec): Promise<ContainerState>;
  /** SIGTERM, then SIGKILL after `graceSeconds`; resolves once nothing of it is left running. */
  stop(id: string, graceSeconds: number): Promise<ContainerState | undefined>;
  /** Forgets an exited container (removes the docker container; process state). */
  remove(id: string): Promise<void>;
  status(id: string): Promise<ContainerState | undefined>;
  /** Every container this runtime started on this node, running or exited (for adoption). */
  list(): Promise<ContainerState[]>;
  /** Calls `listener` when a container exits (adopted ones included). Returns an unsubscribe. */
  onExit(listener: (state: ContainerState) => void): () => void;
  /** Told when a pod's sandbox holder (a pause container) stops, for runtimes that have one. */
  onSandboxExit?(listener: (podUid: string) => void): () => void;
  /** Runs a command in the container's context; resolves with its exit code. */
  exec(id: string, command: string[], io: ExecIO): Promise<number>;
  /**
   * The output of one container instance (the agent passes the previous instance's id for
   * `kubectl logs --previous`, so an exited instance's output stays readable until removed).
   */
  logs(id: string, opts: LogOptions): Promise<Readable>;
  /** Stops watching and releases resources; leaves containers running. */
  close(): Promise<void>;
}
