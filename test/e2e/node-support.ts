// What the `tug node` end-to-end tests share: a small web pod, finding a pod's processes by a
// marker in their command line, and a cluster fixture (control, one or more `tug node`
// processes, kubectl) that removes every pod, process and flag file it made, also when a test fails.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { readKubeconfig } from '../../api/kubeconfig.js';
import { eventually, kubectlFor, LOCAL_HOST, startControl, tempDir, TUG, type ControlProcess, type Host } from './harness.js';

export interface WebPodOptions {
  /** Put in the command line, so the test finds (and at the end kills) the pod's processes. */
  marker: string;
  node: string;
  /** While this file exists, the server answers 500 on /unhealthy. */
  flag: string;
  /** Path of an httpGet readiness probe (period 1 s, failureThreshold 1). */
  readiness?: string;
  /** Path of an httpGet liveness probe (period 1 s, failureThreshold 2). */
  liveness?: string;
  grace?: number;
}

/** A pod running a small Node.js HTTP server on $PORT (its node port, logged at start). */
export function webPod(name: string, o: WebPodOptions) {
  const script = `require('http').createServer((q,s)=>{ if(q.url==='/unhealthy'&&require('fs').existsSync(process.env.FLAG))return s.writeHead(500).end(); s.end('hi from '+process.env.HOSTNAME+'\\n'); }).listen(process.env.PORT, '127.0.0.1', ()=>console.log('listening on '+process.env.PORT)); setInterval(()=>console.log('tick'), 300);`;
  const probe = (path: string, failureThreshold: number) => ({ httpGet: { path, port: 'http' }, periodSeconds: 1, failureThreshold });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: name } },
    spec: {
      nodeName: o.node,
      terminationGracePeriodSeconds: o.grace ?? 5,
      containers: [
        {
          name: 'web',
          image: 'local/echo:1',
          command: [process.execPath, '-e', script, o.marker],
          env: [{ name: 'FLAG', value: o.flag }],
          ports: [{ name: 'http', containerPort: 8080 }],
          ...(o.readiness ? { readinessProbe: probe(o.readiness, 1) } : {}),
          ...(o.liveness ? { livenessProbe: probe(o.liveness, 2) } : {}),
        },
      ],
    },
  };
}

/** A Deployment of webPods (no node pinned: the scheduler places them). */
export function webDeployment(name: string, replicas: number, o: Omit<WebPodOptions, 'node'> & { env?: Record<string, string>; strategy?: unknown; progressDeadlineSeconds?: number; cpu?: string }) {
  const spec = structuredClone(webPod(name, { ...o, node: '' }).spec) as { nodeName?: string; containers: Record<string, any>[] };
  delete spec.nodeName;
  const container = spec.containers[0];
  // One slow probe on a loaded machine must not count as the pod going unready mid-rollout.
  if (container.readinessProbe) container.readinessProbe.failureThreshold = 3;
  for (const [k, v] of Object.entries(o.env ?? {})) container.env.push({ name: k, value: v });
  if (o.cpu) container.resources = { requests: { cpu: o.cpu, memory: '16Mi' } };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      ...(o.strategy ? { strategy: o.strategy } : {}),
      ...(o.progressDeadlineSeconds ? { progressDeadlineSeconds: o.progressDeadlineSeconds } : {}),
      template: { metadata: { labels: { app: name } }, spec },
    },
  };
}

/** PIDs of processes whose command line contains `marker` (the test runner itself excluded). */
export function pidsWith(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.includes(marker) && !cmd.includes('.test.')) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Whether a process exists and has not exited (a zombie has). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZXx]$/.test(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]);
  } catch {
    return false;
  }
}

export interface NodeProcess {
  name: string;
  child: ChildProcess;
  output(): string;
  /** Sends a signal and waits for the exit (SIGKILL after 30 s, so a hung stop cannot hang the test). */
  stop(signal: NodeJS.Signals): Promise<void>;
}

export interface NodeFlags {
  name: string;
  /** e.g. 21000-21099; a one-port range is `P-P`. */
  portRange: string;
  /** The node's default runtime (process unless given). */
  runtime?: 'process' | 'docker';
  /** Extra `tug node` flags (each node has cluster DNS off unless they turn it on). */
  extra?: string[];
  /** Wait for `joined` (default); false: only for the process to run (its control may be away). */
  waitForJoin?: boolean;
  /** Join with this token (`--server --token --ca-cert`) instead of the admin kubeconfig. */
  token?: string;
  /** The CA file given with a token (default: the CA of control's kubeconfig). */
  caCert?: string;
  /** The host it runs on (default this one, at 127.0.0.1). */
  host?: Host;
}

/** A control node, `tug node` processes joined to it, and a kubectl for it. */
export class NodeCluster {
  dir = '';
  control!: ControlProcess;
  kubectl!: ReturnType<typeof kubectlFor>;
  readonly nodes = new Map<string, NodeProcess>();
  private readonly markers: string[] = [];
  private readonly cleanups: (() => unknown)[] = [];
  readonly scope = { after: (fn: () => unknown) => this.cleanups.push(fn) };

  /** `controlHost`: where control and kubectl run (default this host, on loopback). */
  constructor(private readonly controlHost: Host = LOCAL_HOST) {}

  /** Starts the control process; `controlFlags` are extra `tug control` flags. */
  async start(controlFlags: string[] = []): Promise<void> {
    this.dir = tempDir(this.scope);
    this.useControl(await startControl(this.scope, this.dir, controlFlags, this.controlHost));
  }

  /** Points kubectl at a (re)started control process. */
  useControl(control: ControlProcess): void {
    this.control = control;
    this.kubectl = kubectlFor(control, this.dir, this.controlHost);
  }

  /** A marker unique to this test process, whose pod processes are killed at the end whatever happens. */
  marker(pod: string): string {
    const marker = `tugpod-${pod}-${process.pid}`;
    this.markers.push(marker);
    return marker;
  }

  /** The flag file of a webPod; it lives in the cluster's temp dir. */
  flag(marker: string): string {
    return join(this.dir, `${marker}.unhealthy`);
  }

  /** How a node authenticates to join: the admin kubeconfig, or a token with the cluster CA in a file. */
  private credentialFlags(flags: NodeFlags): string[] {
    if (!flags.token) return ['--kubeconfig', this.control.kubeconfig];
    const ca = join(this.dir, 'ca.crt');
    writeFileSync(ca, flags.caCert ?? readKubeconfig(this.control.kubeconfig).caCert ?? '');
    return ['--server', this.control.url, '--token', flags.token, '--ca-cert', ca];
  }

  /** Where a node started by startNode keeps its state. */
  stateDir(name: string): string {
    return join(this.dir, `node-${name}`);
  }

  async startNode(flags: NodeFlags): Promise<NodeProcess> {
    let out = '';
    const host = flags.host ?? LOCAL_HOST;
    const argv = [
      ...host.wrap,
      process.execPath,
      TUG,
      'node',
      ...this.credentialFlags(flags),
      ...['--node-name', flags.name, '--node-ip', host.ip, '--state-dir', this.stateDir(flags.name), '--node-api', `${host.ip}:0`, '--metrics-addr', `${host.ip}:0`],
      ...['--port-range', flags.portRange, '--heartbeat', '1', '--runtime', flags.runtime ?? 'process', '--dns-addr', 'off', ...(flags.extra ?? [])],
    ];
    const child = spawn(argv[0], argv.slice(1), { env: { ...process.env, TUG_HOME: this.dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const stop = async (signal: NodeJS.Signals) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    };
    this.scope.after(() => stop('SIGKILL'));
    const node: NodeProcess = { name: flags.name, child, output: () => out, stop };
    this.nodes.set(flags.name, node);
    if (flags.waitForJoin !== false) await eventually(async () => (/joined/.test(out) ? true : child.exitCode !== null ? Promise.reject(new Error(out)) : undefined), 300);
    return node;
  }

  async apply(obj: unknown): Promise<void> {
    const r = await this.kubectl(['apply', '-f', '-'], YAML.stringify(obj));
    assert.equal(r.code, 0, r.stderr);
  }

  async podJson(name: string): Promise<any> {
    const r = await this.kubectl(['get', 'pod', name, '-o', 'json']);
    if (r.code !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout);
  }

  /** The events about one object, oldest first. */
  async eventsFor(name: string): Promise<{ type: string; reason: string; message: string }[]> {
    const r = await this.kubectl(['get', 'events', '--field-selector', `involvedObject.name=${name}`, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).items;
  }

  /** The node port a webPod listens on, from its log. */
  async portOf(pod: string): Promise<number> {
    const logs = await this.waitFor(`${pod} listening`, async () => {
      const r = await this.kubectl(['logs', pod]);
      return /listening on (\d+)/.exec(r.stdout)?.[1];
    });
    return Number(logs);
  }

  /** Bounded polling; a failure carries the nodes' recent output. */
  async waitFor<T>(what: string, check: () => Promise<T | undefined>, attempts = 200, intervalMs = 100): Promise<T> {
    try {
      return await eventually(check, attempts, intervalMs);
    } catch (e) {
      const outputs = [...this.nodes.values()].map((n) => `node ${n.name} output:\n${n.output().slice(-2000)}`).join('\n');
      throw new Error(`${what}: ${(e as Error).message}\n${outputs}`);
    }
  }

  /**
   * Deletes the pods through the API while the nodes still run (so they stop them), then stops the
   * nodes; whatever is left of a pod's processes is killed by its marker.
   */
  async cleanup(): Promise<void> {
    // Controllers first, so nothing recreates the pods deleted next. With the control process
    // gone (a test stopped it) nobody can delete them: the markers below kill what is left.
    const controlRuns = !!this.control && this.control.child.exitCode === null && this.control.child.signalCode === null;
    if (this.kubectl && controlRuns) {
      await this.kubectl(['delete', 'deployments,replicasets', '--all', '--wait=false']).catch(() => undefined);
      await this.kubectl(['delete', 'pods', '--all', '--grace-period=1', '--wait=false']).catch(() => undefined);
      await eventually(async () => (this.markers.every((m) => pidsWith(m).length === 0) ? true : undefined), 100).catch(() => undefined);
    }
    for (const node of this.nodes.values()) await node.stop('SIGTERM');
    for (const m of this.markers) {
      for (const pid of pidsWith(m)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }
    }
    // The control process(es), the nodes if still there, and the temp dir with the flag files.
    for (const fn of this.cleanups.reverse()) await fn();
  }
}
