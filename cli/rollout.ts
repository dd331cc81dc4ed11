// `tug rollout status|history|undo|restart|pause|resume deploy/NAME` and `tug scale`, with the
// requests kubectl sends (KUBECTL.md §2.7), so a Deployment behaves the same under either tool.
import { rfc3339 } from '../api/time.js';
import type { ApiClient } from '../api/client.js';
import { resourceOfKind } from '../api/resources.js';
import { labelSelectorToString } from '../api/selectors.js';
import type { Deployment, KubeObject, ReplicaSet } from '../api/types.js';
import { UsageError } from './args.js';
import { DescribeWriter, podTemplateSection } from './describe-writer.js';
import type { Out } from './resources-cmd.js';
import { formatHistory, history, planUndo, RESTARTED_AT, rolloutStatus, withoutHash } from './rollout-logic.js';
import { displayName, type Target } from './target.js';
import { waitForObject } from './watch.js';

const DEPLOYMENT = resourceOfKind('Deployment');
const REPLICA_SET = resourceOfKind('ReplicaSet');

export const ROLLOUT_SUBCOMMANDS = ['status', 'history', 'undo', 'restart', 'pause', 'resume'] as const;
export type RolloutSubcommand = (typeof ROLLOUT_SUBCOMMANDS)[number];

export interface RolloutArgs {
  sub: RolloutSubcommand;
  name: string;
  namespace: string;
  /** undo: the revision to go back to (0: the previous one). */
  toRevision?: number;
  /** history: show this revision's pod template. */
  revision?: number;
  /** status: keep watching until done (default) or print the state once. */
  watch?: boolean;
  /** status: give up after this long (0: never). */
  timeoutMs?: number;
}

/** `30s`, `2m`, `1h` or a plain number of seconds; 0 means no limit. */
export function parseTimeout(text: string, flag = '--timeout'): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag} "${text}" is not a duration; give one like 30s, 5m or 0 (no limit)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's']!;
  return Number(m[1]) * unit;
}

/** A non-negative whole number from a flag, or a usage error naming it. */
export function parseCount(text: string | undefined, flag: string, example: string): number {
  if (text === undefined || !/^\d+$/.test(text.trim())) {
    throw new UsageError(`${flag}${text === undefined ? ' is required' : `=${text} is not allowed`}: it must be a whole number of 0 or more (for example ${example})`);
  }
  return Number(text);
}

async function replicaSetsOf(client: ApiClient, d: Deployment): Promise<ReplicaSet[]> {
  return (await client.list<ReplicaSet>(REPLICA_SET, d.metadata.namespace, { labelSelector: labelSelectorToString(d.spec.selector ?? {}) })).items;
}

async function status(client: ApiClient, io: Out, args: RolloutArgs, d: Deployment, signal?: AbortSignal): Promise<number> {
  if (args.watch === false) {
    const v = rolloutStatus(d);
    if (v.error) throw new Error(v.error);
    io.out(v.message);
    return 0;
  }
  const timeout = args.timeoutMs ? AbortSignal.timeout(args.timeoutMs) : undefined;
  const stop = timeout && signal ? AbortSignal.any([timeout, signal]) : (timeout ?? signal);
  const result = await waitForObject<Deployment, string>(
    client,
    DEPLOYMENT,
    args.namespace,
    args.name,
    (obj) => {
      if (!obj) return { failed: new Error(`deployment "${args.name}" was deleted while waiting for its rollout`) };
      const v = rolloutStatus(obj);
      if (v.error) return { failed: new Error(v.error) };
      return v.done ? { done: v.message } : { message: v.message };
    },
    (m) => io.out(m),
    stop,
  );
  if (result === undefined) {
    if (timeout?.aborted) throw new Error(`timed out waiting for deployment "${args.name}" to roll out; see \`tug describe deploy ${args.name}\``);
    return 130;
  }
  io.out(result);
  return 0;
}

async function showHistory(client: ApiClient, io: Out, args: RolloutArgs, d: Deployment): Promise<number> {
  const entries = history(d, await replicaSetsOf(client, d));
  const label = displayName(DEPLOYMENT, args.name);
  if (args.revision) {
    const entry = entries.find((e) => e.revision === args.revision);
    if (!entry) throw new Error(`unable to find the specified revision ${args.revision}; \`tug rollout history ${label}\` lists them`);
    const w = new DescribeWriter();
    podTemplateSection(w, 0, entry.replicaSet.spec.template && withoutHash(entry.replicaSet.spec.template));
    io.out(`${label} with revision #${entry.revision}\n${w.toString()}`);
    return 0;
  }
  if (!entries.length) {
    io.out('No rollout history found.');
    return 0;
  }
  io.out(`${label}\n${formatHistory(entries)}`);
  return 0;
}

async function undo(client: ApiClient, io: Out, args: RolloutArgs, d: Deployment): Promise<number> {
  const plan = planUndo(d, await replicaSetsOf(client, d), args.toRevision ?? 0);
  const label = displayName(DEPLOYMENT, args.name);
  if (plan.kind === 'error') throw new Error(plan.message);
  if (plan.kind === 'skip') {
    io.out(`${label} ${plan.message}`);
    return 0;
  }
  await client.patch(DEPLOYMENT, args.namespace, args.name, plan.patch, 'json');
  io.out(`${label} rolled back`);
  return 0;
}

async function restart(client: ApiClient, io: Out, args: RolloutArgs, d: Deployment): Promise<number> {
  const label = displayName(DEPLOYMENT, args.name);
  if (d.spec.paused) throw new Error(`can't restart paused deployment ${args.name} (run \`tug rollout resume deploy/${args.name}\` first)`);
  const patch = { spec: { template: { metadata: { annotations: { [RESTARTED_AT]: rfc3339() } } } } };
  await client.request<KubeObject>('PATCH', client.pathFor(DEPLOYMENT, args.namespace, args.name), {
    body: patch,
    contentType: 'application/strategic-merge-patch+json',
    query: { fieldManager: 'kubectl-rollout' },
  });
  io.out(`${label} restarted`);
  return 0;
}

async function setPaused(client: ApiClient, io: Out, args: RolloutArgs, d: Deployment, paused: boolean): Promise<number> {
  const label = displayName(DEPLOYMENT, args.name);
  const verb = paused ? 'paused' : 'resumed';
  if (!!d.spec.paused === paused) {
    io.out(`${label} already ${verb}`);
    return 0;
  }
  await client.patch(DEPLOYMENT, args.namespace, args.name, { spec: { paused } }, 'merge');
  io.out(`${label} ${verb}`);
  return 0;
}

/** One `tug rollout` subcommand on one Deployment; the Deployment is fetched first (404 names it). */
export async function rolloutCommand(client: ApiClient, io: Out, args: RolloutArgs, signal?: AbortSignal): Promise<number> {
  const d = await client.get<Deployment>(DEPLOYMENT, args.namespace, args.name);
  switch (args.sub) {
    case 'status':
      return status(client, io, args, d, signal);
    case 'history':
      return showHistory(client, io, args, d);
    case 'undo':
      return undo(client, io, args, d);
    case 'restart':
      return restart(client, io, args, d);
    case 'pause':
      return setPaused(client, io, args, d, true);
    case 'resume':
      return setPaused(client, io, args, d, false);
  }
}

/** `tug scale KIND/NAME --replicas=N`: GET, then a merge PATCH of the scale subresource. */
export async function scaleCommand(client: ApiClient, io: Out, args: { target: Target; namespace: string; replicas: number }): Promise<number> {
  const { resource, name } = args.target;
  await client.get(resource, args.namespace, name);
  await client.patch(resource, args.namespace, name, { spec: { replicas: args.replicas } }, 'merge', 'scale');
  io.out(`${displayName(resource, name)} scaled`);
  return 0;
}
