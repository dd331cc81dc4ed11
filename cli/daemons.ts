// `tug control` and `tug node`: the long-running daemons, their flags, and waiting for Ctrl-C.
import { checkTrustDomain } from '../lib/spiffe.js';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readKubeconfig, type Connection } from '../api/kubeconfig.js';
import { startControl, type ControlOptions, type RunningControl } from '../control/index.js';
import { checkNodeCidrs, startNode, type NodeOptions } from '../node/index.js';
import { flagHelp, parseFlags, UsageError, type FlagSpec, type Flags } from './args.js';
import { CONTROLLER_FLAGS, controllerSettings } from './controller-flags.js';
import { writePrometheusFiles } from './prometheus.js';
import type { Out } from './resources-cmd.js';

export const HELP_FLAG: Record<string, FlagSpec> = { help: { type: 'boolean', short: 'h', help: 'show this help' } };

/** Sandboxes the bridge network keeps made ahead of process pods. */
export const WARM_FLAG: Record<string, FlagSpec> = {
  'warm-sandboxes': { type: 'string', default: '4', help: 'bridge network: pod sandboxes kept ready for process pods, so they start without waiting for one (0 to 64)' },
};

/** The service mesh on a node: workload certificates for its pods (on by default). */
export const MESH_FLAG: Record<string, FlagSpec> = {
  mesh: { type: 'string', default: 'on', help: "service mesh: workload certificates for this node's pods from control's mesh CA (on), or off" },
};

export const CONTROL_FLAGS: Record<string, FlagSpec> = {
  'trust-domain': { type: 'string', default: 'cluster.local', help: 'trust domain of the mesh identities (spiffe://<trust domain>/ns/<namespace>/sa/<service account>)' },
  'mesh-cert-ttl': { type: 'string', default: '24h', help: "lifetime of workload certificates (nodes renew them half way), 1m to 720h" },
  listen: { type: 'string', default: '127.0.0.1:6443', help: 'address of the API server (port 0 picks a free one)' },
  'data-dir': { type: 'string', help: 'state directory (default $TUG_HOME/control)' },
  store: { type: 'string', default: 'sqlite', help: 'store backend: sqlite or memory' },
  'tls-san': { type: 'string', multiple: true, help: 'extra name or IP for the serving certificate' },
  'service-cidr': { type: 'string', default: '127.77.0.0/16', help: 'range ClusterIPs come from' },
  'cluster-cidr': { type: 'string', default: '198.19.0.0/16', help: "range pod addresses come from; each Node gets a share as spec.podCIDR" },
  'node-cidr-mask-size': { type: 'string', default: '24', help: "prefix length of each node's share of --cluster-cidr" },
  kubeconfig: { type: 'string', help: 'where to write the admin kubeconfig (default $TUG_HOME/kubeconfig)' },
  controllers: { type: 'string', default: 'all', help: 'run the scheduler and controllers (all) or serve the API alone (none)' },
  'encryption-config': { type: 'string', help: 'EncryptionConfiguration for Secrets at rest (default: made in the data dir with a new AES-GCM key)' },
  'audit-log-path': { type: 'string', help: 'write an audit event per request here (JSON lines); unset: no audit log' },
  'audit-policy-file': { type: 'string', help: 'audit.k8s.io/v1 Policy (default: every request at Metadata, health checks not at all)' },
  ...CONTROLLER_FLAGS,
};

/** Cluster DNS flags, shared by `tug node` and `tug up`. */
export const DNS_FLAGS: Record<string, FlagSpec> = {
  'dns-addr': { type: 'string', default: '127.77.0.10:53', help: 'where the cluster DNS listens (UDP and TCP), or off' },
  'cluster-domain': { type: 'string', default: 'cluster.local', help: 'the domain Services are named in' },
  'dns-upstream': { type: 'string', multiple: true, help: "server (host:port) for names outside the cluster domain (default: /etc/resolv.conf's)" },
};

/** The node's DNS settings from the flags; false when turned off. */
export function dnsSettings(flags: Flags): { addr: string; domain: string; upstreams?: string[] } | false {
  const addr = String(flags['dns-addr']);
  if (addr === 'off') return false;
  if (!/^(\[[^\]]+\]|[^:]+):\d+$/.test(addr)) throw new UsageError(`--dns-addr "${addr}" is not host:port (for example 127.77.0.10:53) or off`);
  const domain = String(flags['cluster-domain']).toLowerCase().replace(/\.$/, '');
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(domain)) throw new UsageError(`--cluster-domain "${flags['cluster-domain']}" is not a domain name (for example cluster.local)`);
  const upstreams = (flags['dns-upstream'] as string[] | undefined) ?? [];
  for (const u of upstreams) if (!/^(\[[^\]]+\]|[^:]+):\d+$/.test(u)) throw new UsageError(`--dns-upstream "${u}" is not host:port (for example 127.0.0.1:53)`);
  return { addr, domain, upstreams: upstreams.length ? upstreams : undefined };
}

const NODE_FLAGS: Record<string, FlagSpec> = {
  kubeconfig: { type: 'string', help: 'kubeconfig to join with (default $TUG_HOME/kubeconfig unless --server is given)' },
  server: { type: 'string', help: 'API server URL, with --token (and --ca-cert)' },
  token: { type: 'string', help: 'join token from `tug token create --node`' },
  'ca-cert': { type: 'string', help: 'PEM file of the cluster CA (the kubeconfig carries it)' },
  'node-name': { type: 'string', help: 'name of this node (default the host name)' },
  'node-ip': { type: 'string', help: 'address pods and Services use for this node (default the primary address)' },
  runtime: { type: 'string', default: 'process', help: 'default container runtime: process or docker' },
  'state-dir': { type: 'string', help: 'state directory (default $TUG_HOME/node)' },
  'node-api': { type: 'string', default: '0.0.0.0:10250', help: 'address of the node API (logs, exec)' },
  'metrics-addr': { type: 'string', default: '0.0.0.0:10249', help: 'address of the Prometheus /metrics endpoint' },
  'port-range': { type: 'string', default: '20000-29999', help: 'node ports handed to pods (hostport network)' },
  network: { type: 'string', default: 'hostport', help: 'pod network: hostport (pods share the node network) or bridge (each pod its own namespace and address)' },
  overlay: { type: 'string', default: 'none', help: "bridge network between nodes: none (routes to each node's podCIDR; nodes on one L2 segment) or vxlan" },
  ...WARM_FLAG,
  'cluster-cidr': { type: 'string', default: '198.19.0.0/16', help: 'range of every pod address in the cluster (bridge network: left unmasqueraded)' },
  'service-cidr': { type: 'string', default: '127.77.0.0/16', help: 'range of ClusterIPs (bridge network: routed from pods to this node)' },
  heartbeat: { type: 'string', default: '2', help: 'seconds between Lease renewals' },
  'ca-poll': { type: 'string', default: '60', help: "seconds between fetches of control's CA bundle (to follow `tug ca rotate`)" },
  'drain-on-exit': { type: 'boolean', help: "stop this node's pods when tug node stops (default: leave them running)" },
  ...MESH_FLAG,
  proxy: { type: 'string', default: 'on', help: 'run the service proxy (ClusterIPs, NodePorts): on, or off for a second node on a host whose loopback another node already serves' },
  ...DNS_FLAGS,
};

export function tugHome(env: NodeJS.ProcessEnv): string {
  return env.TUG_HOME || join(env.HOME || homedir(), '.tug');
}

/** --network and the ranges the bridge mode needs, checked before anything starts. */
export function networkSettings(flags: Flags): NonNullable<NodeOptions['network']> {
  const mode = String(flags.network);
  if (mode !== 'hostport' && mode !== 'bridge') throw new UsageError(`--network "${mode}" is not known; use hostport or bridge`);
  const clusterCidr = String(flags['cluster-cidr']);
  const serviceCidr = String(flags['service-cidr']);
  try {
    checkNodeCidrs(clusterCidr, serviceCidr);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const overlay = String(flags.overlay ?? 'none');
  if (overlay !== 'none' && overlay !== 'vxlan') throw new UsageError(`--overlay "${overlay}" is not known; use none or vxlan`);
  const warm = String(flags['warm-sandboxes'] ?? '4');
  if (!/^\d+$/.test(warm) || Number(warm) > 64) throw new UsageError(`--warm-sandboxes "${warm}" is not a whole number from 0 to 64`);
  return { mode, clusterCidr, serviceCidr, warmSandboxes: Number(warm), ...(overlay === 'vxlan' ? { overlay } : {}) };
}

export function checkRuntime(flags: Flags): 'process' | 'docker' {
  const runtime = flags.runtime as string;
  if (runtime !== 'process' && runtime !== 'docker') throw new UsageError(`--runtime "${runtime}" is not known; use process or docker`);
  return runtime;
}

/**
 * Resolves on the first SIGINT or SIGTERM (aborting `stop` too); a second one while shutting down
 * exits at once. `dispose` removes the handlers.
 */
export function onStopSignal(io: Out, who: string): { stop: AbortSignal; stopped: Promise<void>; dispose(): void } {
  const abort = new AbortController();
  let resolve!: () => void;
  const stopped = new Promise<void>((r) => (resolve = r));
  const handler = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) {
      io.err(`${who}: ${signal} again, exiting now; whatever was still stopping is left running (the next start adopts it)`);
      process.exit(130);
    }
    io.out(`${who}: ${signal} received, shutting down`);
    abort.abort();
    resolve();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    stop: abort.signal,
    stopped,
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/** Starts the control node `tug control` and `tug up` flags describe, and says where it serves. */
export async function startControlFromFlags(flags: Flags, io: Out, home: string, kubeconfig: string, controllers: ControlOptions['controllers']): Promise<RunningControl> {
  const control = await startControl({
    listen: flags.listen as string,
    dataDir: (flags['data-dir'] as string | undefined) ?? join(home, 'control'),
    store: flags.store as 'sqlite' | 'memory',
    tlsSans: flags['tls-san'] as string[] | undefined,
    serviceCidr: flags['service-cidr'] as string,
    clusterNetwork: { clusterCidr: flags['cluster-cidr'] as string, nodeCidrMaskSize: Number(flags['node-cidr-mask-size']) },
    kubeconfig,
    controllers,
    encryptionConfig: flags['encryption-config'] as string | undefined,
    auditLogPath: flags['audit-log-path'] as string | undefined,
    auditPolicyFile: flags['audit-policy-file'] as string | undefined,
    mesh: { trustDomain: meshTrustDomain(String(flags['trust-domain'])), certTtlMs: certTtlMs(String(flags['mesh-cert-ttl'])) },
  });
  io.out(`tug control: serving the Kubernetes API at ${control.url}`);
  io.out(`tug control: kubeconfig written to ${kubeconfig}`);
  try {
    io.out(`tug control: Prometheus scrape config written to ${writePrometheusFiles(join(home, 'prometheus'), control)}`);
  } catch (e) {
    io.err(`tug control: could not write the Prometheus scrape config: ${(e as Error).message}`);
  }
  return control;
}

function meshTrustDomain(value: string): string {
  try {
    checkTrustDomain(value);
  } catch (e) {
    throw new UsageError(`--trust-domain: ${(e as Error).message}`);
  }
  return value;
}

/** An on|off flag's value. */
export function onOff(flag: string, value: string): boolean {
  if (value !== 'on' && value !== 'off') throw new UsageError(`--${flag} "${value}" is not known; use on or off`);
  return value === 'on';
}

/** `--mesh-cert-ttl`: a Go-style duration of minutes or hours (1m to 30 days). */
function certTtlMs(value: string): number {
  const m = /^(\d+)(m|h)$/.exec(value);
  const ms = m ? Number(m[1]) * (m[2] === 'h' ? 3600_000 : 60_000) : NaN;
  if (!(ms >= 60_000 && ms <= 30 * 24 * 3600_000)) throw new UsageError(`--mesh-cert-ttl "${value}" must be minutes or hours from 1m to 720h (for example 24h)`);
  return ms;
}

export async function runControl(argv: string[], io: Out, env: NodeJS.ProcessEnv): Promise<number> {
  const { flags } = parseFlags(argv, { ...CONTROL_FLAGS, ...HELP_FLAG }, env);
  if (flags.help) {
    io.out(`Usage: tug control [flags]\n${flagHelp(CONTROL_FLAGS)}`);
    return 0;
  }
  const which = String(flags.controllers);
  if (which !== 'all' && which !== 'none') throw new UsageError(`--controllers "${which}" is not known; use all or none`);
  const controllers = which === 'none' ? false : controllerSettings(flags);
  const home = tugHome(env);
  const kubeconfig = (flags.kubeconfig as string | undefined) ?? join(home, 'kubeconfig');
  const signals = onStopSignal(io, 'tug control');
  try {
    const control = await startControlFromFlags(flags, io, home, kubeconfig, controllers);
    io.out(
      controllers
        ? `tug control: scheduler strategy ${controllers.schedulerStrategy}; nodes NotReady after ${controllers.nodeMonitorGraceMs / 1000}s without a heartbeat, their pods evicted ${controllers.podEvictionTimeoutMs / 1000}s after it`
        : 'tug control: serving the API alone (--controllers none): no scheduler, no controllers',
    );
    await signals.stopped;
    await control.stop();
    return 0;
  } finally {
    signals.dispose();
  }
}

function nodeConnection(flags: Flags, env: NodeJS.ProcessEnv): Connection {
  if (flags.server) {
    if (!flags.token) throw new UsageError('--server needs --token (make one with `tug token create --node`)');
    const caFile = flags['ca-cert'] as string | undefined;
    return { server: flags.server as string, token: flags.token as string, caCert: caFile ? readFileSync(caFile, 'utf8') : undefined };
  }
  return readKubeconfig((flags.kubeconfig as string | undefined) ?? env.KUBECONFIG ?? join(tugHome(env), 'kubeconfig'));
}

export async function runNode(argv: string[], io: Out, env: NodeJS.ProcessEnv): Promise<number> {
  const { flags } = parseFlags(argv, { ...NODE_FLAGS, ...HELP_FLAG }, env);
  if (flags.help) {
    io.out(`Usage: tug node [flags]\n${flagHelp(NODE_FLAGS)}`);
    return 0;
  }
  const runtime = checkRuntime(flags);
  const heartbeat = Number(flags.heartbeat);
  if (!(heartbeat > 0)) throw new UsageError(`--heartbeat "${flags.heartbeat}" must be a number of seconds above 0`);
  const caPoll = Number(flags['ca-poll']);
  if (!(caPoll > 0)) throw new UsageError(`--ca-poll "${flags['ca-poll']}" must be a number of seconds above 0`);
  const network = networkSettings(flags);
  const signals = onStopSignal(io, 'tug node');
  try {
    const node = await startNode({
      signal: signals.stop,
      connection: nodeConnection(flags, env),
      nodeName: flags['node-name'] as string | undefined,
      nodeIP: flags['node-ip'] as string | undefined,
      runtime,
      stateDir: (flags['state-dir'] as string | undefined) ?? join(tugHome(env), 'node'),
      nodeApi: flags['node-api'] as string,
      metricsAddr: flags['metrics-addr'] as string,
      portRange: flags['port-range'] as string,
      heartbeatMs: heartbeat * 1000,
      trustPollMs: caPoll * 1000,
      drainOnExit: !!flags['drain-on-exit'],
      proxy: onOff('proxy', String(flags.proxy)),
      mesh: onOff('mesh', String(flags.mesh)),
      dns: dnsSettings(flags),
      network,
    });
    io.out(`tug node: ${node.nodeName} (${node.nodeIP}) joined; node API on port ${node.nodeApiPort}, metrics on port ${node.metricsPort}`);
    await signals.stopped;
    await node.stop();
    return 0;
  } catch (e) {
    // Stopped while still waiting for the control node: a clean stop, not a failure.
    if (signals.stop.aborted) return 0;
    throw e;
  } finally {
    signals.dispose();
  }
}
