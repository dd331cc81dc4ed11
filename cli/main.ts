#!/usr/bin/env node
// The `tug` command: starts the control node (and, as the project grows, nodes and the
// all-in-one cluster) and manages objects through the kubeconfig.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../api/client.js';
import { readKubeconfig, type Connection } from '../api/kubeconfig.js';
import { startNode } from '../node/index.js';
import { resourceOfKind } from '../api/resources.js';
import { newNodeTokenSecret, startControl } from '../control/index.js';
import { flagHelp, parseFlags, UsageError, type FlagSpec } from './args.js';
import { applyCommand, deleteCommand, getCommand, type Out } from './resources-cmd.js';

function tugHome(env: NodeJS.ProcessEnv): string {
  return env.TUG_HOME || join(homedir(), '.tug');
}

const CONTROL_FLAGS: Record<string, FlagSpec> = {
  listen: { type: 'string', default: '127.0.0.1:6443', help: 'address of the API server (port 0 picks a free one)' },
  'data-dir': { type: 'string', help: 'state directory (default $TUG_HOME/control)' },
  store: { type: 'string', default: 'sqlite', help: 'store backend: sqlite or memory' },
  'tls-san': { type: 'string', multiple: true, help: 'extra name or IP for the serving certificate' },
  'service-cidr': { type: 'string', default: '127.77.0.0/16', help: 'range ClusterIPs come from' },
  kubeconfig: { type: 'string', help: 'where to write the admin kubeconfig (default $TUG_HOME/kubeconfig)' },
};

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
  'port-range': { type: 'string', default: '20000-29999', help: 'node ports handed to pods' },
  heartbeat: { type: 'string', default: '2', help: 'seconds between Lease renewals' },
  'drain-on-exit': { type: 'boolean', help: "stop this node's pods when tug node stops (default: leave them running)" },
};

const CLIENT_FLAGS: Record<string, FlagSpec> = {
  kubeconfig: { type: 'string', help: 'kubeconfig to use (default $TUG_HOME/kubeconfig)' },
  namespace: { type: 'string', short: 'n', help: 'namespace (default: the kubeconfig context, else default)' },
};

const USAGE = `tug — a small, fast, Kubernetes-compatible orchestrator

Usage:
  tug up                      an all-in-one cluster (control + one node) with its state in $TUG_HOME (default ~/.tug)
  tug control [flags]         run the control plane (API server and store)
  tug node [flags]            run a node: pods, probes, logs, exec (joins with a kubeconfig or token)
  tug apply -f FILE|DIR|-     create or update objects from manifests
  tug get KIND[,KIND] [NAME]  list objects (-o wide|yaml|json|name, -l SELECTOR, -A)
  tug delete -f FILE | KIND NAME...
  tug token create --node     make a token a node joins with (printed on stdout)
  tug version

Run \`tug COMMAND --help\` for a command's flags. Every flag has an environment twin: --data-dir is TUG_DATA_DIR.`;

function waitForSignal(io: Out, who: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      io.out(`${who}: ${signal} received, shutting down`);
      resolve();
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });
}

function nodeConnection(flags: Record<string, unknown>, env: NodeJS.ProcessEnv): Connection {
  if (flags.server) {
    if (!flags.token) throw new UsageError('--server needs --token (make one with `tug token create --node`)');
    const caFile = flags['ca-cert'] as string | undefined;
    return { server: flags.server as string, token: flags.token as string, caCert: caFile ? readFileSync(caFile, 'utf8') : undefined };
  }
  return readKubeconfig((flags.kubeconfig as string | undefined) ?? env.KUBECONFIG ?? join(tugHome(env), 'kubeconfig'));
}

async function runNode(argv: string[], io: Out, env: NodeJS.ProcessEnv): Promise<number> {
  const { flags } = parseFlags(argv, { ...NODE_FLAGS, help: { type: 'boolean', short: 'h', help: 'show this help' } }, env);
  if (flags.help) {
    io.out(`Usage: tug node [flags]\n${flagHelp(NODE_FLAGS)}`);
    return 0;
  }
  const runtime = flags.runtime as string;
  if (runtime !== 'process' && runtime !== 'docker') throw new UsageError(`--runtime "${runtime}" is not known; use process or docker`);
  const heartbeat = Number(flags.heartbeat);
  if (!(heartbeat > 0)) throw new UsageError(`--heartbeat "${flags.heartbeat}" must be a number of seconds above 0`);
  const node = await startNode({
    connection: nodeConnection(flags, env),
    nodeName: flags['node-name'] as string | undefined,
    nodeIP: flags['node-ip'] as string | undefined,
    runtime,
    stateDir: (flags['state-dir'] as string | undefined) ?? join(tugHome(env), 'node'),
    nodeApi: flags['node-api'] as string,
    metricsAddr: flags['metrics-addr'] as string,
    portRange: flags['port-range'] as string,
    heartbeatMs: heartbeat * 1000,
    drainOnExit: !!flags['drain-on-exit'],
  });
  io.out(`tug node: ${node.nodeName} (${node.nodeIP}) joined; node API on port ${node.nodeApiPort}, metrics on port ${node.metricsPort}`);
  await waitForSignal(io, 'tug node');
  await node.stop();
  return 0;
}

const UP_FLAGS: Record<string, FlagSpec> = {
  runtime: { type: 'string', default: 'process', help: 'container runtime of the node: process or docker' },
  'node-api': { type: 'string', default: '127.0.0.1:10250', help: 'address of the node API (logs, exec)' },
  'metrics-addr': { type: 'string', default: '127.0.0.1:10249', help: "address of the node's Prometheus /metrics endpoint" },
  'port-range': { type: 'string', default: '20000-29999', help: 'node ports handed to pods' },
};

async function runControl(argv: string[], io: Out, env: NodeJS.ProcessEnv, allInOne: boolean): Promise<number> {
  const spec = allInOne ? { ...CONTROL_FLAGS, ...UP_FLAGS } : CONTROL_FLAGS;
  const { flags } = parseFlags(argv, { ...spec, help: { type: 'boolean', short: 'h', help: 'show this help' } }, env);
  if (flags.help) {
    io.out(`Usage: tug ${allInOne ? 'up' : 'control'} [flags]\n${flagHelp(spec)}`);
    return 0;
  }
  const home = tugHome(env);
  const kubeconfig = (flags.kubeconfig as string | undefined) ?? join(home, 'kubeconfig');
  const control = await startControl({
    listen: flags.listen as string,
    dataDir: (flags['data-dir'] as string | undefined) ?? join(home, 'control'),
    store: flags.store as 'sqlite' | 'memory',
    tlsSans: flags['tls-san'] as string[] | undefined,
    serviceCidr: flags['service-cidr'] as string,
    kubeconfig,
  });
  io.out(`tug control: serving the Kubernetes API at ${control.url}`);
  io.out(`tug control: kubeconfig written to ${kubeconfig}`);
  let node: Awaited<ReturnType<typeof startNode>> | undefined;
  if (allInOne) {
    const runtime = flags.runtime as string;
    if (runtime !== 'process' && runtime !== 'docker') throw new UsageError(`--runtime "${runtime}" is not known; use process or docker`);
    try {
      node = await startNode({
        connection: { server: control.url, caCert: control.caCert, token: control.token },
        nodeIP: '127.0.0.1',
        runtime,
        stateDir: join(home, 'node'),
        nodeApi: flags['node-api'] as string,
        metricsAddr: flags['metrics-addr'] as string,
        portRange: flags['port-range'] as string,
        // `tug up` owns its pods: Ctrl-C stops them; the next `tug up` starts them again.
        drainOnExit: true,
      });
    } catch (e) {
      await control.stop();
      throw e;
    }
    io.out(`tug node: ${node.nodeName} (${node.nodeIP}) is Ready; runtime ${runtime}`);
  }
  io.out(`\nUse it with kubectl:\n  export KUBECONFIG=${kubeconfig}\n  kubectl get nodes\n  kubectl apply -f examples/hello.yaml`);
  await waitForSignal(io, allInOne ? 'tug up' : 'tug control');
  await node?.stop();
  await control.stop();
  return 0;
}

function clientFor(flags: Record<string, unknown>, env: NodeJS.ProcessEnv): { client: ApiClient; namespace: string } {
  const file = (flags.kubeconfig as string | undefined) ?? env.KUBECONFIG ?? join(tugHome(env), 'kubeconfig');
  const conn = readKubeconfig(file);
  return { client: new ApiClient(conn), namespace: (flags.namespace as string | undefined) ?? conn.namespace };
}

function readStdin(): string {
  return readFileSync(0, 'utf8');
}

export async function main(argv: string[], io: Out, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      io.out(USAGE);
      return 0;
    case 'version':
    case '--version':
      io.out(`tug ${JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version}`);
      return 0;
    case 'control':
      return runControl(rest, io, env, false);
    case 'node':
      return runNode(rest, io, env);
    case 'up':
      return runControl(rest, io, env, true);
    case 'token': {
      const { flags, positionals } = parseFlags(rest, { ...CLIENT_FLAGS, node: { type: 'boolean', help: 'a token nodes join with' } }, env);
      if (positionals[0] !== 'create' || !flags.node) throw new UsageError('usage: tug token create --node');
      const { client } = clientFor(flags, env);
      try {
        const { token, secret } = newNodeTokenSecret();
        await client.create(resourceOfKind('Secret'), 'kube-system', secret);
        io.out(token);
        io.err(`Join a node with:\n  tug node --server ${client.conn.server} --token ${token} --ca-cert FILE\n(the CA is in the kubeconfig's certificate-authority-data; revoke with: kubectl -n kube-system delete secret ${secret.metadata.name})`);
        return 0;
      } finally {
        client.close();
      }
    }
    case 'get': {
      const { flags, positionals } = parseFlags(
        rest,
        {
          ...CLIENT_FLAGS,
          output: { type: 'string', short: 'o', help: 'wide, yaml, json or name' },
          selector: { type: 'string', short: 'l', help: 'label selector' },
          'all-namespaces': { type: 'boolean', short: 'A', help: 'list across all namespaces' },
        },
        env,
      );
      if (!positionals[0]) throw new UsageError('say what to get: `tug get pods`, `tug get deploy,svc`, `tug get ns default`');
      const { client, namespace } = clientFor(flags, env);
      try {
        return await getCommand(client, io, {
          kinds: positionals[0],
          name: positionals[1],
          namespace,
          allNamespaces: !!flags['all-namespaces'],
          output: flags.output as string | undefined,
          selector: flags.selector as string | undefined,
        });
      } finally {
        client.close();
      }
    }
    case 'apply':
    case 'delete': {
      const { flags, positionals } = parseFlags(
        rest,
        {
          ...CLIENT_FLAGS,
          filename: { type: 'string', short: 'f', multiple: true, help: 'manifest file, directory, or - for stdin' },
          'ignore-not-found': { type: 'boolean', help: 'treat a missing object as deleted' },
        },
        env,
      );
      const files = (flags.filename as string[] | undefined) ?? [];
      if (command === 'apply' && !files.length) throw new UsageError('apply needs -f FILE, a directory, or - for stdin');
      const { client, namespace } = clientFor(flags, env);
      try {
        if (command === 'apply') return await applyCommand(client, io, { files, namespace, readStdin });
        return await deleteCommand(client, io, {
          files,
          kind: positionals[0],
          names: positionals.slice(1),
          namespace,
          readStdin,
          ignoreNotFound: !!flags['ignore-not-found'],
        });
      } finally {
        client.close();
      }
    }
    default:
      throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

const isEntryPoint = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntryPoint || process.argv[1]?.endsWith('/tug')) {
  const io: Out = { out: (t) => process.stdout.write(t + '\n'), err: (t) => process.stderr.write(t + '\n') };
  main(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (e: Error) => {
      io.err(e instanceof UsageError ? `error: ${e.message}` : `error: ${e.message}`);
      process.exitCode = 1;
    },
  );
}
