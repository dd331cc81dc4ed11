#!/usr/bin/env node
// The `tug` command: starts the control node (and, as the project grows, nodes and the
// all-in-one cluster) and manages objects through the kubeconfig.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../api/client.js';
import { readKubeconfig } from '../api/kubeconfig.js';
import { startControl } from '../control/index.js';
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

const CLIENT_FLAGS: Record<string, FlagSpec> = {
  kubeconfig: { type: 'string', help: 'kubeconfig to use (default $TUG_HOME/kubeconfig)' },
  namespace: { type: 'string', short: 'n', help: 'namespace (default: the kubeconfig context, else default)' },
};

const USAGE = `tug — a small, fast, Kubernetes-compatible orchestrator

Usage:
  tug up                      run the control plane with its state in $TUG_HOME (default ~/.tug)
  tug control [flags]         run the control plane (API server and store)
  tug apply -f FILE|DIR|-     create or update objects from manifests
  tug get KIND[,KIND] [NAME]  list objects (-o wide|yaml|json|name, -l SELECTOR, -A)
  tug delete -f FILE | KIND NAME...
  tug version

Run \`tug COMMAND --help\` for a command's flags. Every flag has an environment twin: --data-dir is TUG_DATA_DIR.`;

async function runControl(argv: string[], io: Out, env: NodeJS.ProcessEnv, allInOne: boolean): Promise<number> {
  const { flags } = parseFlags(argv, { ...CONTROL_FLAGS, help: { type: 'boolean', short: 'h', help: 'show this help' } }, env);
  if (flags.help) {
    io.out(`Usage: tug ${allInOne ? 'up' : 'control'} [flags]\n${flagHelp(CONTROL_FLAGS)}`);
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
  io.out(`\nUse it with kubectl:\n  export KUBECONFIG=${kubeconfig}\n  kubectl get ns\n  kubectl apply -f examples/`);
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      io.out(`tug control: ${signal} received, shutting down`);
      resolve();
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });
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
    case 'up':
      return runControl(rest, io, env, true);
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
