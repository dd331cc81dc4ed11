// The one informer type every component uses (client-go's shape): list, then watch from the
// list's resourceVersion; reopen the watch from the last revision when it ends; relist on 410.
// Handlers only record; consumers apply changes in their own loop. With a checkpoint, what the
// informer knows is saved as it changes, and a start that cannot reach the API begins from it.
import type { Checkpoint } from './checkpoint.js';
import type { ApiClient } from './client.js';
import { isApiError } from './errors.js';
import type { ResourceInfo } from './resources.js';
import { sleep } from './timers.js';
import type { KubeObject } from './types.js';

export interface InformerHandlers<T extends KubeObject> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Delay before retrying after an error (doubles up to MAX_RETRY_MS). */
  retryMs?: number;
}

export interface InformerCheckpointOptions<T extends KubeObject> {
  checkpoint: Checkpoint<T>;
  /** Changes are saved at most this often (default 1 s); the last state is saved on stop. */
  saveEveryMs?: number;
}

/**
 * The longest wait between retries. Kept short so that a node, proxy or DNS server is back in
 * sync seconds after the control node returns; a retry is one cheap request.
 */
const MAX_RETRY_MS = 5_000;

function keyOf(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

export class Informer<T extends KubeObject = KubeObject> {
  private readonly items = new Map<string, T>();
  private readonly abort = new AbortController();
  private revision = '';
  private synced = false;
  private running?: Promise<void>;
  private syncWaiters: (() => void)[] = [];
  /** Synced from the checkpoint, not yet from the API. */
  private fromCheckpoint = false;
  private saveTimer?: NodeJS.Timeout;
  lastError?: Error;

  constructor(
    private readonly client: ApiClient,
    private readonly resource: ResourceInfo,
    private readonly handlers: InformerHandlers<T> = {},
    private readonly opts: InformerOptions & Partial<InformerCheckpointOptions<T>> = {},
  ) {}

  start(): this {
    this.running ??= this.run();
    return this;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = undefined;
      this.save();
    }
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Whether what it holds came from the checkpoint and the API has not answered since. */
  servesCheckpoint(): boolean {
    return this.fromCheckpoint;
  }

  /** Resolves once the first list has been loaded (or when stopped). */
  waitForSync(): Promise<void> {
    if (this.synced || this.abort.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  list(): T[] {
    return [...this.items.values()];
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.items.get(`${namespace ?? ''}/${name}`);
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let backoff = this.opts.retryMs ?? 500;
    while (!signal.aborted) {
      try {
        if (!this.revision) await this.relist();
        await this.client.watch(
          this.resource,
          this.opts.namespace,
          {
            resourceVersion: this.revision,
            labelSelector: this.opts.labelSelector,
            fieldSelector: this.opts.fieldSelector,
            allowWatchBookmarks: true,
            timeoutSeconds: 300 + Math.floor(Math.random() * 300),
          },
          (event) => {
            backoff = this.opts.retryMs ?? 500;
            this.apply(event.type, event.object as T);
          },
          signal,
        );
      } catch (e) {
        if (signal.aborted) break;
        this.lastError = e as Error;
        if (isApiError(e) && e.code === 410) this.revision = '';
        if (!this.synced) this.seedFromCheckpoint();
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, MAX_RETRY_MS);
      }
    }
    for (const w of this.syncWaiters.splice(0)) w();
  }

  private async relist(): Promise<void> {
    const list = await this.client.list<T>(this.resource, this.opts.namespace, {
      labelSelector: this.opts.labelSelector,
      fieldSelector: this.opts.fieldSelector,
    });
    const seen = new Set<string>();
    for (const obj of list.items) {
      seen.add(keyOf(obj));
      this.apply('ADDED', obj);
    }
    for (const [key, obj] of this.items) {
      if (!seen.has(key)) {
        this.items.delete(key);
        this.handlers.onDelete?.(obj);
      }
    }
    this.revision = list.metadata.resourceVersion ?? '';
    this.fromCheckpoint = false;
    this.markSynced();
    this.scheduleSave();
  }

  /** The API cannot be reached before the first list: start from the checkpoint, if there is one. */
  private seedFromCheckpoint(): void {
    const items = this.opts.checkpoint?.load();
    if (!items) return;
    for (const obj of items) this.apply('ADDED', obj);
    // The next list that succeeds reconciles everything (and deletes what is gone).
    this.revision = '';
    this.fromCheckpoint = true;
    this.markSynced();
  }

  private scheduleSave(): void {
    if (!this.opts.checkpoint || this.fromCheckpoint || this.saveTimer || this.abort.signal.aborted) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.save();
    }, this.opts.saveEveryMs ?? 1000);
    this.saveTimer.unref();
  }

  private save(): void {
    if (!this.fromCheckpoint && this.synced) this.opts.checkpoint?.save(this.list());
  }

  private apply(type: string, obj: T): void {
    if (obj.metadata?.resourceVersion) this.revision = obj.metadata.resourceVersion;
    if (type === 'BOOKMARK') return;
    const key = keyOf(obj);
    const old = this.items.get(key);
    if (type === 'DELETED') {
      if (old) {
        this.items.delete(key);
        this.handlers.onDelete?.(obj);
        if (this.synced) this.scheduleSave();
      }
      return;
    }
    if (old && old.metadata.resourceVersion === obj.metadata.resourceVersion) return;
    this.items.set(key, obj);
    if (this.synced) this.scheduleSave();
    if (old) this.handlers.onUpdate?.(old, obj);
    else this.handlers.onAdd?.(obj);
  }

  private markSynced(): void {
    this.synced = true;
    for (const w of this.syncWaiters.splice(0)) w();
  }
}
