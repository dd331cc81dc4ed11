// `tug node`: one process per host running the agent (pods, probes, logs, exec) and the node API.
// The proxy, DNS and metrics join it in the same process.
import { WorkloadCertificates } from './mesh/certificates.js';
import { existsSync, mkdirSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../api/client.js';
import type { Connection } from '../api/kubeconfig.js';
import { startClusterDns, type RunningClusterDns } from './dns.js';
import { startProxy, type RunningProxy } from '../proxy/index.js';
import { NodeAgent } from './agent.js';
import { keepRenewed, nodeConnection, nodeServingCertificate, renewableClientCertificate, renewableServingCertificate, type IssuedCertificate } from './credentials.js';
import { nodeApiAuthorizer } from './nodeapi-auth.js';
import { startNodeApi, type NodeApiServer } from './nodeapi.js';
import { NodeTrust, savedTrust } from './trust.js';
import { parsePortRange } from './ports.js';
import { NodeMetrics, serveMetrics, type MetricsServer } from './metrics.js';
import { ProcessRuntime } from './runtime/process.js';
import type { DockerRuntime } from './runtime/docker.js';
import { dockerSandboxProblem } from './runtime/docker-sandbox.js';
import { BridgeNetwork, bridgeProblem, NodeRoutes, type NetworkMode } from './network/index.js';
import type { Runtime } from './runtime/types.js';

export interface NodeOptions {
  connection: Connection;
  /** Aborting it while the node still waits to register gives up the start (everything is stopped). */
  signal?: AbortSignal;
  nodeName?: string;
  nodeIP?: string;
  runtime: 'process' | 'docker';
  stateDir: string;
  /** The service mesh (workload certificates for the node's pods); false turns it off. */
  mesh?: boolean;
  nodeApi: string; // host:port
  metricsAddr?: string; // host:port, default 0.0.0.0:10249
  portRange: string;
  heartbeatMs?: number;
  dockerSocket?: string;
  /** Stop this node's pods when the node stops (default: leave them running, as kubelet does). */
  drainOnExit?: boolean;
  /**
   * Run the service proxy (default true). Off for extra nodes sharing one host's loopback with
   * another node, whose proxy already holds every ClusterIP and NodePort there.
   */
  proxy?: boolean;
  /** How often the node fetches control's CA bundle, following a CA rotation (default a minute). */
  trustPollMs?: number;
  /** The pod network (default hostport); bridge needs root, Linux, ip, nsenter and nft. */
  network?: { mode: NetworkMode; clusterCidr: string; serviceCidr: string; overlay?: 'vxlan'; warmSandboxes?: number };
  /** Cluster DNS: where it listens (host:port), the domain and the upstreams; false runs none. */
  dns?: { addr: string; domain: string; upstreams?: string[] } | false;
  log?: (message: string) => void;
}

export interface RunningNode {
  nodeName: string;
  nodeIP: string;
  nodeApiPort: number;
  metricsPort: number;
  stop(): Promise<void>;
}

/** The host's primary non-loopback IPv4 address, else 127.0.0.1. */
export function primaryAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

function parseHostPort(text: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  if (!m) throw new Error(`${flag} "${text}" is not host:port (for example 0.0.0.0:10250)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port: Number(m[3]) };
}

async function makeRuntimes(opts: NodeOptions): Promise<Map<string, Runtime>> {
  const runtimes = new Map<string, Runtime>();
  runtimes.set('process', new ProcessRuntime({ stateDir: join(opts.stateDir, 'process') }));
  const socket = opts.dockerSocket ?? '/var/run/docker.sock';
  if (opts.runtime === 'docker' || existsSync(socket)) {
    if (!existsSync(socket)) throw new Error(`--runtime docker needs a Docker engine at ${socket}; start dockerd or use --runtime process`);
    const { DockerRuntime } = await import('./runtime/docker.js');
    runtimes.set('docker', new DockerRuntime({ socketPath: socket, nodeName: opts.nodeName ?? hostname() }));
  }
  return runtimes;
}

function podNetwork(opts: NodeOptions, client: ApiClient, node: { nodeName: string; nodeIP: string }, runtimes: Map<string, Runtime>, log: (m: string) => void): BridgeNetwork | undefined {
  const { nodeName, nodeIP } = node;
  if (opts.network?.mode !== 'bridge') return undefined;
  const docker = runtimes.get('docker') as DockerRuntime | undefined;
  const problem = docker ? dockerSandboxProblem() : undefined;
  if (problem) log(`network: docker pods share the node's network: ${problem}`);
  const holder = docker && !problem ? docker.sandboxes : undefined;
  const { clusterCidr, serviceCidr, overlay, warmSandboxes } = opts.network;
  return new BridgeNetwork({ client, nodeName, nodeIP, stateDir: opts.stateDir, clusterCidr, serviceCidr, overlay, warmSandboxes, holder, log: (m) => log(`network: ${m}`) });
}

export async function startNode(opts: NodeOptions): Promise<RunningNode> {
  const nodeName = (opts.nodeName ?? hostname()).toLowerCase();
  const nodeIP = opts.nodeIP ?? primaryAddress();
  const log = opts.log ?? ((m: string) => console.error(`tug node: ${m}`));
  mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
  const problem = opts.network?.mode === 'bridge' ? bridgeProblem() : undefined;
  if (problem) throw new Error(`--network bridge: ${problem}; use --network hostport`);
  const portRange = parsePortRange(opts.portRange);
  const api = parseHostPort(opts.nodeApi, '--node-api');
  const pkiDir = join(opts.stateDir, 'pki');
  // The CAs saved after a rotation, if any, over those the node was started with.
  const connection = { ...opts.connection, caCert: savedTrust(pkiDir, opts.connection.caCert) };
  const trust = connection.caCert === undefined ? undefined : new NodeTrust(pkiDir, connection.caCert);
  // The node's own identity (system:node:<name>) first: everything after talks to control as it.
  const client = new ApiClient(await nodeConnection({ connection, nodeName, dir: pkiDir, log, signal: opts.signal }));
  let runtimes: Map<string, Runtime>;
  let serving: IssuedCertificate;
  try {
    serving = await nodeServingCertificate(client, nodeName, pkiDir, log, opts.signal);
    runtimes = await makeRuntimes({ ...opts, nodeName });
  } catch (e) {
    client.close();
    throw e;
  }

  let nodeApi: NodeApiServer | undefined;
  let agent: NodeAgent | undefined;
  let metricsServer: MetricsServer | undefined;
  let proxy: RunningProxy | undefined;
  let dns: RunningClusterDns | undefined;
  let dnsInfo: { addr: string; ip?: string; domain: string } | undefined;
  const metrics = new NodeMetrics(nodeName, () => agent?.podPhases() ?? new Map());
  const metricsAt = parseHostPort(opts.metricsAddr ?? '0.0.0.0:10249', '--metrics-addr');
  let routes: NodeRoutes | undefined;
  let workloadCerts: WorkloadCertificates | undefined;
  const closeAll = async () => {
    await agent?.stop(opts.drainOnExit);
    await workloadCerts?.stop();
    await proxy?.stop();
    await routes?.stop();
    await dns?.stop();
    await nodeApi?.close();
    await metricsServer?.close();
    for (const r of runtimes.values()) await r.close();
    renewal.abort();
    await Promise.all(renewing);
    client.close();
  };
  const renewal = new AbortController();
  const renewing = [keepRenewed(renewableClientCertificate(client, nodeName, pkiDir, log), log, renewal.signal, trust)];
  if (trust) {
    trust.onChange((bundle) => {
      client.useCredentials({ caCert: bundle });
      nodeApi?.useTls({ caCert: bundle });
    });
    renewing.push(trust.follow(client, log, renewal.signal, opts.trustPollMs));
  }
  try {
    // The node API comes first: its port goes into the Node object the agent registers.
    let access: ReturnType<NodeAgent['access']> | undefined;
    nodeApi = await startNodeApi({
      host: api.host,
      port: api.port,
      tls: { cert: serving.certPem, key: serving.keyPem, caCert: client.conn.caCert },
      authorize: nodeApiAuthorizer(client, nodeName),
      access: {
        logs: (...a) => access!.logs(...a),
        exec: (...a) => access!.exec(...a),
      },
      log,
    });
    const server = nodeApi;
    const renewedServing = (issued: IssuedCertificate) => {
      serving = issued;
      server.useTls({ cert: issued.certPem, key: issued.keyPem });
    };
    renewing.push(keepRenewed(renewableServingCertificate(client, nodeName, pkiDir, log, () => serving.certPem, renewedServing), log, renewal.signal, trust));
    const network = podNetwork(opts, client, { nodeName, nodeIP }, runtimes, log);
    // A hostport node still routes to the bridge nodes' pods (a mixed cluster), where it may.
    if (!network && bridgeProblem() === undefined) {
      routes = new NodeRoutes({ client, nodeName, log: (m) => log(`network: ${m}`) });
      routes.start();
    }
    agent = new NodeAgent({
      client,
      nodeName,
      nodeIP,
      stateDir: opts.stateDir,
      runtimes,
      defaultRuntime: opts.runtime,
      portRange,
      heartbeatMs: opts.heartbeatMs ?? 2000,
      nodeApiPort: nodeApi.port,
      metricsAddress: () => (metricsServer ? `${metricsAt.host === '0.0.0.0' || metricsAt.host === '::' ? nodeIP : metricsAt.host}:${metricsServer.port}` : undefined),
      metrics,
      log,
      clusterDns: () => dnsInfo,
      network,
      podsChanged: () => workloadCerts?.changed(),
    });
    if (opts.mesh !== false) {
      const agentNow = agent;
      const certs = new WorkloadCertificates({ client, pods: () => agentNow.localPods(), dir: join(opts.stateDir, 'mesh'), log });
      workloadCerts = certs;
      metrics.watchMeshCertificates(() => certs.list());
      certs.start();
    }
    metricsServer = await serveMetrics(metrics.registry, metricsAt.host, metricsAt.port, log);
    // Proxy and DNS keep what they last knew here: a node restarted while control is away serves on.
    const checkpointDir = join(opts.stateDir, 'checkpoints');
    if (opts.proxy !== false) {
      const reporter = agent;
      // Published on the Lease: nodes draining a pod wait until this proxy no longer routes to it.
      proxy = await startProxy({
        client,
        nodeName,
        nodeIP,
        metrics: metrics.registry,
        checkpointDir,
        log: (m) => log(`proxy: ${m}`),
        onProgrammed: (revision) => reporter.reportProxyRevision(revision),
        admits: network?.admits,
      });
    }
    access = agent.access();
    if (opts.dns) {
      const reporter = agent;
      try {
        dns = await startClusterDns({ client, ...opts.dns, metrics: metrics.registry, checkpointDir, controlUnreachable: () => !reporter.controlReachable(), log: (m) => log(`dns: ${m}`) });
        // resolv.conf names a server without a port: pods get it only when the DNS is on port 53.
        const [, ip, port] = /^\[?([^\]]*)\]?:(\d+)$/.exec(opts.dns.addr) ?? [];
        dnsInfo = { addr: opts.dns.addr.replace(/:0$/, `:${dns.port}`), ...(port === '53' ? { ip } : {}), domain: opts.dns.domain };
      } catch (e) {
        // Port 53 needs root (or CAP_NET_BIND_SERVICE), and one host serves one DNS address:
        // the node runs on without cluster DNS and says why.
        log(`cluster DNS is off: cannot listen on ${opts.dns.addr}: ${(e as Error).message}`);
      }
    }
    const giveUp = () => void agent?.stop();
    opts.signal?.addEventListener('abort', giveUp, { once: true });
    try {
      if (opts.signal?.aborted) giveUp();
      await agent.start();
    } finally {
      opts.signal?.removeEventListener('abort', giveUp);
    }
  } catch (e) {
    await closeAll();
    throw e;
  }
  return { nodeName, nodeIP, nodeApiPort: nodeApi.port, metricsPort: metricsServer!.port, stop: closeAll };
}
