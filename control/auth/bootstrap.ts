// RBAC's start-up and upkeep inside control: the default roles and bindings put in place at every
// start, and ClusterRole aggregation (admin, edit and view are the union of the roles labelled to
// aggregate into them), recomputed whenever a ClusterRole changes, in one loop fed by the cache.
import { isDeepStrictEqual } from 'node:util';
import { fromLabelSelector, matchesLabels } from '../../api/selectors.js';
import type { KubeObject, LabelSelector } from '../../api/types.js';
import type { Registry } from '../apiserver/registry.js';
import { WorkQueue } from '../controllers/queue.js';
import { autoUpdates, defaultClusterRoleBindings, defaultClusterRoles } from './policy.js';
import { CLUSTER_ROLE, CLUSTER_ROLE_BINDING, rulesOf, type RbacCache } from './rbac-cache.js';
import type { PolicyRule } from './rbac.js';

/** Creates missing default roles and bindings and refreshes auto-updating ones that drifted. */
export async function ensureDefaultPolicy(registry: Registry): Promise<void> {
  type Refresh = (cur: KubeObject, want: KubeObject) => KubeObject;
  // An aggregated role's rules belong to the aggregation loop; only its selectors are ours.
  const refreshRole: Refresh = (cur, want) => (want.aggregationRule ? { ...cur, aggregationRule: want.aggregationRule } : { ...cur, rules: want.rules });
  const refreshBinding: Refresh = (cur, want) => ({ ...cur, roleRef: want.roleRef, subjects: want.subjects });
  const wanted: [typeof CLUSTER_ROLE, KubeObject, Refresh][] = [
    ...defaultClusterRoles().map((o): [typeof CLUSTER_ROLE, KubeObject, Refresh] => [CLUSTER_ROLE, o, refreshRole]),
    ...defaultClusterRoleBindings().map((o): [typeof CLUSTER_ROLE, KubeObject, Refresh] => [CLUSTER_ROLE_BINDING, o, refreshBinding]),
  ];
  for (const [r, want, refresh] of wanted) {
    const name = want.metadata.name!;
    const current = await registry.get(r, undefined, name).catch(() => undefined);
    if (!current) {
      await registry.create(r, undefined, want).catch((e) => {
        if ((e as { code?: number }).code !== 409) throw e;
      });
      continue;
    }
    if (!autoUpdates(current)) continue;
    const next = refresh(structuredClone(current), want);
    next.metadata.labels = { ...current.metadata.labels, ...want.metadata.labels };
    if (!isDeepStrictEqual(JSON.parse(JSON.stringify(next)), JSON.parse(JSON.stringify(current)))) await registry.modify(r, undefined, name, () => next);
  }
}

/** The rules an aggregated ClusterRole should hold: those of every other ClusterRole its selectors match, in name order, each once. */
export function aggregatedRules(role: KubeObject, all: KubeObject[]): PolicyRule[] {
  const selectors = ((role.aggregationRule as { clusterRoleSelectors?: LabelSelector[] } | undefined)?.clusterRoleSelectors ?? []).map(fromLabelSelector);
  const rules: PolicyRule[] = [];
  const seen = new Set<string>();
  const sources = all.filter((o) => o.metadata.name !== role.metadata.name && selectors.some((s) => s.length > 0 && matchesLabels(s, o.metadata.labels)));
  for (const source of sources.sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!))) {
    for (const rule of rulesOf(source)) {
      const key = JSON.stringify(rule);
      if (!seen.has(key)) {
        seen.add(key);
        rules.push(rule);
      }
    }
  }
  return rules;
}

/** Keeps aggregated ClusterRoles' rules up to date; runs until `signal` aborts. */
export async function runAggregation(registry: Registry, cache: RbacCache, signal: AbortSignal, log: (m: string) => void): Promise<void> {
  const queue = new WorkQueue();
  cache.onClusterRoleChange(() => queue.add('all'));
  queue.add('all');
  await queue.run(
    async () => {
      const all = cache.clusterRoleObjects();
      for (const role of all) {
        if (!role.aggregationRule) continue;
        const rules = aggregatedRules(role, all);
        if (isDeepStrictEqual(rules, rulesOf(role))) continue;
        await registry.modify(CLUSTER_ROLE, undefined, role.metadata.name!, (cur) => ({ ...cur, rules }));
      }
    },
    signal,
    (_key, e) => log(`ClusterRole aggregation: ${(e as Error).message}`),
  );
}
