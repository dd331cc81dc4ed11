// Waiting on one object the way kubectl's informer-style watchers do (rollout status, delete):
// list + watch with fieldSelector=metadata.name, re-judging the object on every change and
// printing progress only when the message changes.
import type { ApiClient } from '../api/client.js';
import { Informer } from '../api/informer.js';
import type { ResourceInfo } from '../api/resources.js';
import type { KubeObject } from '../api/types.js';

/** What `judge` says about the object's current state (undefined: the object does not exist). */
export interface Verdict<R> {
  /** Set when the wait is over: its result. */
  done?: R;
  /** Set when the wait cannot succeed: the error to throw. */
  failed?: Error;
  /** A progress line, printed when it differs from the previous one. */
  message?: string;
}

/**
 * Watches `namespace/name` until `judge` says done (resolves with its result) or failed (throws).
 * Resolves with undefined when `signal` aborts first.
 */
export function waitForObject<T extends KubeObject, R>(
  client: ApiClient,
  resource: ResourceInfo,
  namespace: string | undefined,
  name: string,
  judge: (obj: T | undefined) => Verdict<R>,
  progress: (message: string) => void,
  signal?: AbortSignal,
): Promise<R | undefined> {
  const ns = resource.namespaced ? namespace : undefined;
  return waitForList<T, R>(client, resource, { namespace: ns, fieldSelector: `metadata.name=${name}` }, (items) => judge(items.find((o) => o.metadata.name === name)), progress, signal);
}

/** Like waitForObject, for every object a namespace and selectors pick. */
export async function waitForList<T extends KubeObject, R>(
  client: ApiClient,
  resource: ResourceInfo,
  scope: { namespace?: string; fieldSelector?: string; labelSelector?: string },
  judge: (items: T[]) => Verdict<R>,
  progress: (message: string) => void,
  signal?: AbortSignal,
): Promise<R | undefined> {
  let wake: () => void = () => undefined;
  let changed = true;
  const record = () => {
    changed = true;
    wake();
  };
  const informer = new Informer<T>(client, resource, { onAdd: record, onUpdate: record, onDelete: record }, scope);
  const onAbort = () => wake();
  signal?.addEventListener('abort', onAbort);
  try {
    informer.start();
    await informer.waitForSync();
    let last: string | undefined;
    while (!signal?.aborted) {
      if (changed) {
        changed = false;
        const verdict = judge(informer.list());
        if (verdict.message !== undefined && verdict.message !== last) progress(verdict.message);
        last = verdict.message ?? last;
        if (verdict.failed) throw verdict.failed;
        if (verdict.done !== undefined) return verdict.done;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        if (changed || signal?.aborted) resolve();
      });
    }
    return undefined;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await informer.stop();
  }
}
