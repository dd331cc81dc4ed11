// Shared informers for the control node's controllers and scheduler: one list+watch per resource,
// however many controllers look at it; each controller adds its own handlers, which only record.
import type { ApiClient } from '../../api/client.js';
import { Informer, type InformerHandlers } from '../../api/informer.js';
import { resourceOfKind } from '../../api/resources.js';
import type { KubeObject } from '../../api/types.js';

export class SharedInformers {
  private readonly informers = new Map<string, { informer: Informer<KubeObject>; handlers: InformerHandlers<KubeObject>[] }>();

  constructor(private readonly client: ApiClient) {}

  /** The informer of a kind, with `handlers` added to it (started by `start`). */
  of<T extends KubeObject>(kind: string, handlers?: InformerHandlers<T>): Informer<T> {
    let entry = this.informers.get(kind);
    if (!entry) {
      const list: InformerHandlers<KubeObject>[] = [];
      const fanOut: InformerHandlers<KubeObject> = {
        onAdd: (o) => list.forEach((h) => h.onAdd?.(o)),
        onUpdate: (a, b) => list.forEach((h) => h.onUpdate?.(a, b)),
        onDelete: (o) => list.forEach((h) => h.onDelete?.(o)),
      };
      entry = { informer: new Informer(this.client, resourceOfKind(kind), fanOut), handlers: list };
      this.informers.set(kind, entry);
    }
    if (handlers) entry.handlers.push(handlers as InformerHandlers<KubeObject>);
    return entry.informer as unknown as Informer<T>;
  }

  async start(): Promise<void> {
    for (const { informer } of this.informers.values()) informer.start();
    await Promise.all([...this.informers.values()].map(({ informer }) => informer.waitForSync()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.informers.values()].map(({ informer }) => informer.stop()));
  }
}
