// Events the control node's controllers and scheduler record, as Kubernetes' event recorder does:
// one Event per (object, reason, message); a repeat within a while bumps its count and
// lastTimestamp instead of adding a new object, so a pod that cannot be scheduled does not flood
// `kubectl get events`.
import { rfc3339 } from '../../api/time.js';
import type { ApiClient } from '../../api/client.js';
import { resourceOfKind } from '../../api/resources.js';
import type { Event as KubeEvent, KubeObject } from '../../api/types.js';

const EVENT = resourceOfKind('Event');
const REPEAT_WINDOW_MS = 10 * 60_000;
const REMEMBERED = 4096;

export type EventType = 'Normal' | 'Warning';

export interface EventSink {
  record(obj: KubeObject, type: EventType, reason: string, message: string): void;
}

export class EventRecorder implements EventSink {
  private readonly recent = new Map<string, { name: string; count: number; first: string; at: number }>();
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly client: ApiClient,
    private readonly component: string,
    private readonly log: (message: string) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  record(obj: KubeObject, type: EventType, reason: string, message: string): void {
    const work = this.write(obj, type, reason, message)
      .catch((e) => this.log(`could not record event ${reason} for ${obj.metadata.name}: ${(e as Error).message}`))
      .finally(() => this.pending.delete(work));
    this.pending.add(work);
  }

  /** Waits for the events being written. */
  async flush(): Promise<void> {
    await Promise.all(this.pending);
  }

  private async write(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const namespace = obj.metadata.namespace || 'default';
    const key = `${obj.metadata.uid}\u0000${reason}\u0000${message}`;
    const now = this.now();
    const ts = rfc3339(now);
    const seen = this.recent.get(key);
    if (seen && now - seen.at < REPEAT_WINDOW_MS) {
      seen.count++;
      seen.at = now;
      try {
        await this.client.patch(EVENT, namespace, seen.name, { count: seen.count, lastTimestamp: ts }, 'merge');
        return;
      } catch {
        // The event expired or was deleted: record a fresh one.
      }
    }
    const ev: KubeEvent = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${obj.metadata.name}.${now.toString(16)}${Math.floor(Math.random() * 0xfff).toString(16)}`, namespace },
      involvedObject: {
        kind: obj.kind,
        namespace: obj.metadata.namespace,
        name: obj.metadata.name,
        uid: obj.metadata.uid,
        apiVersion: obj.apiVersion,
        resourceVersion: obj.metadata.resourceVersion,
      },
      reason,
      message,
      type,
      source: { component: this.component },
      firstTimestamp: ts,
      lastTimestamp: ts,
      count: 1,
      reportingComponent: this.component,
    };
    const created = await this.client.create(EVENT, namespace, ev);
    this.recent.set(key, { name: created.metadata.name!, count: 1, first: ts, at: now });
    if (this.recent.size > REMEMBERED) this.recent.delete(this.recent.keys().next().value!);
  }
}
