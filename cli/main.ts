#!/usr/bin/env node
// The `tug` command: the daemons (up, control, node) and the object commands that work through
// the kubeconfig (apply, get, describe, delete, scale, rollout, token).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../api/client.js';
import { readKubeconfig } from '../api/kubeconfig.js';
import { resourceOfKind } from '../api/resources.js';
import { CA_ROTATE_PATH, newNodeTokenSecret, newUserTokenSecret, ROTATE_PATH } from '../control/index.js';
import { parseFlags, UsageError, type FlagSpec, type Flags } from './args.js';
import { runControl, runNode, tugHome } from './daemons.js';
import { describeCommand } from './describe.js';
import { formatError } from './errors.js';
import { applyCommand, deleteCommand, getCommand, type Out } from './resources-cmd.js';
import { parseCount, parseTimeout, rolloutCommand, ROLLOUT_SUBCOMMANDS, scaleCommand, type RolloutSubcommand } from './rollout.js';
import { parseTarget } from './target.js';
import { trafficCommand } from './traffic.js';
import { runUp } from './up.js';

const CLIENT_FLAGS: Record<string, FlagSpec> = {
  kubeconfig: { type: 'string', help: 'kubeconfig to use (default $TUG_HOME/kubeconfig)' },
  namespace: { type: 'string', short: 'n', help: 'namespace (default: the kubeconfig context, else default)' },
};

const USAGE = `tug — a small, fast, Kubernetes-compatible orchestrator

Usage:
  tug up [--with-examples]    an all-in-one cluster (control + one node) with its state in $TUG_HOME (default ~/.tug)
  tug control [flags]         run the control plane (API server, store, scheduler, controllers)
  tug node [flags]            run a node: pods, probes, logs, exec (joins with a kubeconfig or token)
  tug apply -f FILE|DIR|-     create or update objects from manifests
  tug get KIND[,KIND] [NAME]  list objects (-o wide|yaml|json|name, -l SELECTOR, -A)
  tug describe KIND [NAME...] an object in detail, with its events (also KIND/NAME; no NAME: all, -l SELECTOR)
  tug delete -f FILE | KIND NAME...
  tug scale deploy/NAME --replicas=N
  tug rollout status|history|undo|restart|pause|resume deploy/NAME
                              status waits for the rollout (--timeout 5m, --watch=false); history
                              [--revision=N]; undo [--to-revision=N] goes back to the previous revision
  tug traffic SERVICE [-n NS] live requests/s and connections per endpoint (from the node proxies)
  tug token create --node     make a token a node joins with (printed on stdout)
  tug token create --user NAME [--group G]... [--ttl 24h]
                              make a token for a person (bind roles to NAME or G)
  tug secrets rotate          encrypt Secrets at rest with a new key from now on, and re-encrypt them all
  tug ca rotate start|switch|finish
                              replace the cluster CA in three steps: trust a new one beside it, sign
                              with it, trust the old one no more
  tug version

Run \`tug COMMAND --help\` for a command's flags. Every flag has an environment twin: --data-dir is TUG_DATA_DIR.`;

function clientFor(flags: Flags, env: NodeJS.ProcessEnv): { client: ApiClient; namespace: string } {
  const file = (flags.kubeconfig as string | undefined) ?? env.KUBECONFIG ?? join(tugHome(env), 'kubeconfig');
  const conn = readKubeconfig(file);
  return { client: new ApiClient(conn), namespace: (flags.namespace as string | undefined) ?? conn.namespace };
}

/** Runs `work` with a client from the flags' kubeconfig, closing it afterwards. */
async function withClient(flags: Flags, env: NodeJS.ProcessEnv, work: (client: ApiClient, namespace: string) => Promise<number>): Promise<number> {
  const { client, namespace } = clientFor(flags, env);
  try {
    return await work(client, namespace);
  } finally {
    client.close();
  }
}

const TOKEN_FLAGS: Record<string, FlagSpec> = {
  ...CLIENT_FLAGS,
  node: { type: 'boolean', help: 'a token nodes join with' },
  user: { type: 'string', help: 'a token for this user name' },
  group: { type: 'string', multiple: true, help: 'a group the user is in (repeatable)' },
  ttl: { type: 'string', help: 'how long the token is valid (for example 24h; default: until its Secret is deleted)' },
};

/** `tug token create --node` or `--user NAME [--group G]... [--ttl D]`: the token on stdout, how to use and revoke it on stderr. */
async function runToken(rest: string[], io: Out, env: NodeJS.ProcessEnv): Promise<number> {
  const { flags, positionals } = parseFlags(rest, TOKEN_FLAGS, env);
  const user = flags.user as string | undefined;
  if (positionals[0] !== 'create' || !!flags.node === !!user) throw new UsageError('usage: tug token create --node | --user NAME [--group G]... [--ttl 24h]');
  const groups = (flags.group as string[] | undefined) ?? [];
  if (user !== undefined && (!user.trim() || user.includes(','))) throw new UsageError(`--user "${user}" is not a user name`);
  for (const g of groups) if (!g.trim() || g.includes(',') || g === 'system:masters' || g === 'system:nodes') throw new UsageError(`--group "${g}" cannot be given to a token (system:masters and system:nodes come only from the admin token and node certificates)`);
  const ttl = flags.ttl === undefined ? undefined : parseTimeout(String(flags.ttl), '--ttl');
  if (ttl !== undefined && ttl <= 0) throw new UsageError('--ttl must be longer than 0');
  return withClient(flags, env, async (client) => {
    const { token, secret } = user !== undefined ? newUserTokenSecret(user, groups, ttl !== undefined ? new Date(Date.now() + ttl) : undefined) : newNodeTokenSecret();
    await client.create(resourceOfKind('Secret'), 'kube-system', secret);
    io.out(token);
    const revoke = `revoke with: kubectl -n kube-system delete secret ${secret.metadata.name}`;
    if (user !== undefined) io.err(`Use it with:\n  kubectl --server ${client.conn.server} --token ${token} ...\nor bind roles to User "${user}"${groups.length ? ` or Group ${groups.map((g) => `"${g}"`).join(', ')}` : ''} (${revoke})`);
    else io.err(`Join a node with:\n  tug node --server ${client.conn.server} --token ${token} --ca-cert FILE\n(the CA is in the kubeconfig's certificate-authority-data; ${revoke})`);
    return 0;
  });
}

function readStdin(): string {
  return readFileSync(0, 'utf8');
}

/** `--watch=false` and friends: a string flag read as a boolean. */
function boolFlag(value: unknown, flag: string): boolean {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new UsageError(`--${flag}=${value} is not true or false`);
}

function optionalCount(value: unknown, flag: string): number | undefined {
  return value === undefined ? undefined : parseCount(String(value), `--${flag}`, `--${flag}=2`);
}

async function rollout(rest: string[], io: Out, env: NodeJS.ProcessEnv): Promise<number> {
  const { flags, positionals } = parseFlags(
    rest,
    {
      ...CLIENT_FLAGS,
      'to-revision': { type: 'string', help: 'undo: the revision to roll back to (default: the previous one)' },
      revision: { type: 'string', help: "history: show this revision's pod template" },
      watch: { type: 'string', short: 'w', default: 'true', help: 'status: wait until the rollout finishes (false: print the state once)' },
      timeout: { type: 'string', default: '0', help: 'status: give up after this long (30s, 5m; 0: never)' },
    },
    env,
  );
  const [sub, ...target] = positionals;
  const usage = `tug rollout ${ROLLOUT_SUBCOMMANDS.join('|')} deploy/NAME`;
  if (!sub || !(ROLLOUT_SUBCOMMANDS as readonly string[]).includes(sub)) throw new UsageError(sub ? `unknown rollout subcommand "${sub}"; use ${usage}` : `usage: ${usage}`);
  const { name } = parseTarget(target, `tug rollout ${sub} deploy/NAME`, ['Deployment']);
  const args = {
    sub: sub as RolloutSubcommand,
    name,
    toRevision: optionalCount(flags['to-revision'], 'to-revision'),
    revision: optionalCount(flags.revision, 'revision'),
    watch: boolFlag(flags.watch, 'watch'),
    timeoutMs: parseTimeout(String(flags.timeout)),
  };
  return withClient(flags, env, (client, namespace) => rolloutCommand(client, io, { ...args, namespace }));
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
      return runControl(rest, io, env);
    case 'node':
      return runNode(rest, io, env);
    case 'up':
      return runUp(rest, io, env);
    case 'token':
      return runToken(rest, io, env);
    case 'secrets': {
      const { flags, positionals } = parseFlags(rest, CLIENT_FLAGS, env);
      if (positionals[0] !== 'rotate') throw new UsageError('usage: tug secrets rotate');
      return withClient(flags, env, async (client) => {
        const r = await client.request<{ key: string; rewritten: number }>('POST', ROTATE_PATH);
        io.out(`encryption key ${r.key} now writes; ${r.rewritten} object(s) re-encrypted with it (older keys still read what they wrote)`);
        return 0;
      });
    }
    case 'ca': {
      const { flags, positionals } = parseFlags(rest, CLIENT_FLAGS, env);
      if (positionals[0] !== 'rotate' || !['start', 'switch', 'finish'].includes(positionals[1])) throw new UsageError('usage: tug ca rotate start|switch|finish');
      return withClient(flags, env, async (client) => {
        const r = await client.request<{ phase: string; message: string }>('POST', CA_ROTATE_PATH, { query: { phase: positionals[1] } });
        io.out(`CA rotation, ${r.phase}: ${r.message}`);
        return 0;
      });
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
      return withClient(flags, env, (client, namespace) =>
        getCommand(client, io, {
          kinds: positionals[0],
          name: positionals[1],
          namespace,
          allNamespaces: !!flags['all-namespaces'],
          output: flags.output as string | undefined,
          selector: flags.selector as string | undefined,
        }),
      );
    }
    case 'describe': {
      const { flags, positionals } = parseFlags(
        rest,
        {
          ...CLIENT_FLAGS,
          selector: { type: 'string', short: 'l', help: 'label selector (when no NAME is given)' },
          'all-namespaces': { type: 'boolean', short: 'A', help: 'describe across all namespaces (when no NAME is given)' },
        },
        env,
      );
      if (!positionals[0]) throw new UsageError('say what to describe: `tug describe pod NAME`, `tug describe deploy/echo`, `tug describe nodes`');
      return withClient(flags, env, (client, namespace) =>
        describeCommand(client, io, { positionals, namespace, selector: flags.selector as string | undefined, allNamespaces: !!flags['all-namespaces'] }),
      );
    }
    case 'scale': {
      const { flags, positionals } = parseFlags(rest, { ...CLIENT_FLAGS, replicas: { type: 'string', help: 'the number of replicas wanted' } }, env);
      const target = parseTarget(positionals, 'tug scale deploy/NAME --replicas=3', ['Deployment', 'ReplicaSet']);
      const replicas = parseCount(flags.replicas as string | undefined, '--replicas', 'tug scale deploy/NAME --replicas=3');
      return withClient(flags, env, (client, namespace) => scaleCommand(client, io, { target, namespace, replicas }));
    }
    case 'rollout':
      return rollout(rest, io, env);
    case 'traffic': {
      const { flags, positionals } = parseFlags(
        rest,
        {
          ...CLIENT_FLAGS,
          interval: { type: 'string', default: '2', help: 'seconds between views' },
          count: { type: 'string', help: 'stop after this many views (default: until Ctrl-C)' },
        },
        env,
      );
      const service = positionals[0]?.replace(/^(svc|service|services)\//, '');
      if (!service) throw new UsageError('say which Service: `tug traffic echo [-n NAMESPACE]`');
      const interval = Number(flags.interval);
      if (!(interval > 0)) throw new UsageError(`--interval "${flags.interval}" must be a number of seconds above 0`);
      const count = flags.count === undefined ? undefined : parseCount(flags.count as string, '--count', 'tug traffic echo --count 5');
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      try {
        return await withClient(flags, env, (client, namespace) =>
          trafficCommand(client, io, { service, namespace, intervalMs: interval * 1000, count, signal: stop.signal, redraw: !!process.stdout.isTTY && count === undefined }),
        );
      } finally {
        process.off('SIGINT', onSignal);
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
      return withClient(flags, env, (client, namespace) => {
        if (command === 'apply') return applyCommand(client, io, { files, namespace, readStdin });
        return deleteCommand(client, io, {
          files,
          kind: positionals[0],
          names: positionals.slice(1),
          namespace,
          readStdin,
          ignoreNotFound: !!flags['ignore-not-found'],
        });
      });
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
    (e: unknown) => {
      io.err(formatError(e));
      process.exitCode = 1;
    },
  );
}
