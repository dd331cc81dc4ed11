// The Endpoints controller's loop (kube-controller-manager's endpoint and endpointslice
// controllers in one): Service, pod, Endpoints and EndpointSlice events mark Services dirty; one
// loop computes each Service's endpoints with endpointsFor and writes only what changed. A pod's
// Ready change reaches its Endpoints in one queue pass, with no batching delay.
import { ENDPOINTS_TRIGGER_TIME_ANNOTATION } from '../../api/annotations.js';
import type { EndpointSlice } from '../../api/types.js';
import { isApiError } from '../../api/errors.js';
import type { Informer } from '../../api/informer.js';
import { resourceOfKind, type ResourceInfo } from '../../api/resources.js';
import type { Endpoints, KubeObject, Pod, Service } from '../../api/types.js';
import type { EventRecorder } from './events.js';
import type { Controller, ControllerContext } from './manager.js';
import { keyOf, splitKey, WorkQueue } from './queue.js';
import {
  endpointFingerprint,
  endpointsFor,
  hasSelector,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  sameEndpoints,
  selects,
  SERVICE_NAME_LABEL,
  sliceChanges,
  unresolvedMessage,
} from './endpoints.js';

const ENDPOINTS = resourceOfKind('Endpoints');
const ENDPOINT_SLICE = resourceOfKind('EndpointSlice');


export function endpointsController(): (ctx: ControllerContext) => Controller {
  return (ctx) => new EndpointsController(ctx);
}

export class EndpointsController implements Controller {
  readonly name = 'endpoints-controller';
  private readonly queue = new WorkQueue();
  private readonly services: Informer<Service>;
  private readonly pods: Informer<Pod>;
  private readonly endpoints: Informer<Endpoints>;
  private readonly slices: Informer<EndpointSlice>;
  private readonly events: EventRecorder;
  /**
   * What this controller last wrote or deleted, by `kind/namespace/name`, until the informer
   * catches up: the next pass may run before the watch shows a write.
   */
  private readonly written = new Map<string, { obj?: KubeObject; rv: number }>();
  /**
   * Per Service, when the oldest change not yet reflected in its Endpoints was seen: written as
   * `endpoints.kubernetes.io/last-change-trigger-time`, from which proxies measure programming latency.
   */
  private readonly triggers = new Map<string, number>();
  /** Per Service, the `servicePort/targetPort/pod` triples already reported as unresolvable. */
  private readonly reported = new Map<string, Set<string>>();

  constructor(private readonly ctx: ControllerContext) {
    this.events = ctx.events('endpoint-controller');
    const service = (s: Service) => this.changed(keyOf(s));
    this.services = ctx.informers.of<Service>('Service', { onAdd: service, onUpdate: (_o, s) => service(s), onDelete: service });
    this.pods = ctx.informers.of<Pod>('Pod', {
      onAdd: (p) => this.podChanged(undefined, p),
      onUpdate: (o, p) => this.podChanged(o, p),
      onDelete: (p) => this.podChanged(p, undefined),
    });
    // Someone else changing or deleting what this controller wrote gets it written again.
    const changed = (kind: string, o: KubeObject, serviceName: string | undefined, deleted: boolean) => {
      const id = `${kind}/${keyOf(o)}`;
      const mine = this.written.get(id);
      if (mine?.obj && !deleted && String(mine.rv) === o.metadata.resourceVersion) return;
      if (mine?.obj && deleted && Number(o.metadata.resourceVersion ?? 0) >= mine.rv) this.written.delete(id);
      if (serviceName) this.queue.add(`${o.metadata.namespace ?? ''}/${serviceName}`);
    };
    this.endpoints = ctx.informers.of<Endpoints>('Endpoints', {
      onUpdate: (_o, ep) => changed('Endpoints', ep, ep.metadata.name, false),
      onDelete: (ep) => changed('Endpoints', ep, ep.metadata.name, true),
    });
    const sliceService = (s: EndpointSlice) => (s.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY ? s.metadata.labels?.[SERVICE_NAME_LABEL] : undefined);
    this.slices = ctx.informers.of<EndpointSlice>('EndpointSlice', {
      onUpdate: (_o, s) => changed('EndpointSlice', s, sliceService(s), false),
      onDelete: (s) => changed('EndpointSlice', s, sliceService(s), true),
    });
  }

  private podChanged(old: Pod | undefined, pod: Pod | undefined): void {
    if (old && pod && endpointFingerprint(old) === endpointFingerprint(pod)) return;
    const namespace = (pod ?? old)!.metadata.namespace;
    for (const svc of this.services.list()) {
      if (svc.metadata.namespace !== namespace) continue;
      if ((pod && selects(svc, pod)) || (old && selects(svc, old))) this.changed(keyOf(svc));
    }
  }

  /** A Service or one of its pods changed: remember when (the oldest change not yet written), and sync it. */
  private changed(key: string): void {
    if (!this.triggers.has(key)) this.triggers.set(key, Date.now());
    this.queue.add(key);
  }

  run(signal: AbortSignal): Promise<void> {
    const sync = async (key: string) => {
      const trigger = this.triggers.get(key);
      this.triggers.delete(key);
      try {
        await this.sync(key, trigger);
      } catch (e) {
        // Retried with back-off; the change it was for is still unwritten.
        if (trigger !== undefined && !this.triggers.has(key)) this.triggers.set(key, trigger);
        throw e;
      }
    };
    return this.queue.run(sync, signal, (key, e) => this.ctx.log(`endpoints ${key}: ${(e as Error).message}`));
  }

  private async sync(key: string, trigger: number | undefined): Promise<void> {
    const { namespace, name } = splitKey(key);
    const svc = this.services.get(namespace, name);
    const managedSlices = this.slices.list().filter((s) => s.metadata.namespace === namespace && isManagedSliceOf(s, name));
    let result = 'unchanged';
    if (!svc || svc.spec.type === 'ExternalName' || !hasSelector(svc)) {
      this.reported.delete(key);
      if (!svc) this.triggers.delete(key);
      // Endpoints of a Service without a selector are the user's; the rest go with the Service.
      if (!svc || (svc.spec.type === 'ExternalName' && hasSelector(svc))) {
        if (this.current('Endpoints', key, this.endpoints.get(namespace, name))) {
          await this.remove(ENDPOINTS, 'Endpoints', namespace, name);
          result = 'changed';
        }
      }
      for (const s of this.currentSlices(namespace, name, managedSlices)) {
        await this.remove(ENDPOINT_SLICE, 'EndpointSlice', namespace, s.metadata.name!);
        result = 'changed';
      }
      this.ctx.metrics.reconciles.inc({ controller: this.name, result });
      return;
    }

    const pods = this.pods.list().filter((p) => p.metadata.namespace === namespace);
    const plan = endpointsFor(svc, pods);
    this.report(svc, key, plan.unresolved);

    const stored = this.current('Endpoints', key, this.endpoints.get(namespace, name)) as Endpoints | undefined;
    if (!sameEndpoints(stored, plan.endpoints)) {
      await this.write(ENDPOINTS, 'Endpoints', withTriggerTime(plan.endpoints, stored, trigger), !!stored);
      result = 'changed';
    }
    const existing = this.currentSlices(namespace, name, managedSlices);
    const changes = sliceChanges(plan.slices, existing);
    for (const s of [...changes.create, ...changes.update]) {
      const before = existing.find((e) => e.metadata.name === s.metadata.name);
      await this.write(ENDPOINT_SLICE, 'EndpointSlice', withTriggerTime(s, before, trigger), !!before);
    }
    for (const s of changes.delete) await this.remove(ENDPOINT_SLICE, 'EndpointSlice', namespace, s.metadata.name!);
    if (changes.create.length || changes.update.length || changes.delete.length) result = 'changed';
    this.ctx.metrics.reconciles.inc({ controller: this.name, result });
  }

  /** The newer of the cached object and what this controller last wrote (undefined: gone). */
  private current(kind: string, key: string, cached: KubeObject | undefined): KubeObject | undefined {
    const id = `${kind}/${key}`;
    const mine = this.written.get(id);
    if (!mine) return cached;
    const cachedRv = Number(cached?.metadata.resourceVersion ?? 0);
    // A write is seen once the cache holds it (or newer); a deletion once the cache holds nothing
    // or something newer than what was deleted.
    const caughtUp = mine.obj ? !!cached && cachedRv >= mine.rv : !cached || cachedRv > mine.rv;
    if (caughtUp) {
      this.written.delete(id); // the informer has caught up
      return cached;
    }
    return mine.obj;
  }

  /** The Service's managed slices: the cached ones and those written but not yet seen. */
  private currentSlices(namespace: string | undefined, name: string, cached: EndpointSlice[]): EndpointSlice[] {
    const out = new Map<string, EndpointSlice>();
    for (const s of cached) {
      const cur = this.current('EndpointSlice', keyOf(s), s);
      if (cur) out.set(keyOf(s), cur as EndpointSlice);
    }
    const prefix = `EndpointSlice/${namespace ?? ''}/`;
    for (const [id, mine] of this.written) {
      const key = id.slice('EndpointSlice/'.length);
      if (!id.startsWith(prefix) || out.has(key) || !mine.obj || !isManagedSliceOf(mine.obj, name)) continue;
      const cur = this.current('EndpointSlice', key, this.slices.get(namespace, mine.obj.metadata.name!));
      if (cur) out.set(key, cur as EndpointSlice);
    }
    return [...out.values()];
  }

  /**
   * Creates or replaces an object this controller owns. Writes carry no resourceVersion: this
   * controller is the one writer, and the last computed state is the one that must win.
   */
  private async write(r: ResourceInfo, kind: string, obj: KubeObject, exists: boolean): Promise<void> {
    const ns = obj.metadata.namespace!;
    const id = `${kind}/${keyOf(obj)}`;
    let saved: KubeObject;
    try {
      saved = exists ? await this.ctx.client.update(r, obj) : await this.ctx.client.create(r, ns, obj);
    } catch (e) {
      if (!isApiError(e) || (e.code !== 404 && e.code !== 409)) throw e;
      // The cache was behind: it exists after all, or was deleted meanwhile.
      saved = e.code === 404 ? await this.ctx.client.create(r, ns, obj) : await this.ctx.client.update(r, obj);
    }
    this.written.set(id, { obj: saved, rv: Number(saved.metadata.resourceVersion ?? 0) });
  }

  private async remove(r: ResourceInfo, kind: string, namespace: string | undefined, name: string): Promise<void> {
    const id = `${kind}/${namespace ?? ''}/${name}`;
    let rv = 0;
    try {
      const gone = await this.ctx.client.delete(r, namespace, name);
      rv = Number((gone as KubeObject).metadata?.resourceVersion ?? 0);
    } catch (e) {
      if (!isApiError(e) || e.code !== 404) throw e;
    }
    this.written.set(id, { rv });
  }

  /** One Warning per pod newly found not to declare a named targetPort (not on every pass). */
  private report(svc: Service, key: string, unresolved: ReturnType<typeof endpointsFor>['unresolved']): void {
    const before = this.reported.get(key) ?? new Set<string>();
    const now = new Set<string>();
    for (const u of unresolved) {
      const fresh: string[] = [];
      for (const pod of u.pods) {
        const id = `${u.servicePort}\u0000${u.targetPort}\u0000${pod}`;
        now.add(id);
        if (!before.has(id)) fresh.push(pod);
      }
      if (fresh.length) this.events.record(svc, 'Warning', 'FailedToResolvePort', unresolvedMessage(svc, u, fresh));
    }
    if (now.size) this.reported.set(key, now);
    else this.reported.delete(key);
  }
}

function isManagedSliceOf(s: KubeObject, service: string): boolean {
  return s.metadata.labels?.[SERVICE_NAME_LABEL] === service && s.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY;
}

/**
 * `wanted` with the annotations already stored kept and the trigger time set (RFC 3339 with
 * milliseconds, as Kubernetes writes it with nanoseconds), or dropped when no change is known.
 */
function withTriggerTime<T extends KubeObject>(wanted: T, stored: KubeObject | undefined, trigger: number | undefined): T {
  const annotations: Record<string, string> = { ...(stored?.metadata.annotations ?? {}) };
  delete annotations[ENDPOINTS_TRIGGER_TIME_ANNOTATION];
  if (trigger !== undefined) annotations[ENDPOINTS_TRIGGER_TIME_ANNOTATION] = new Date(trigger).toISOString();
  return { ...wanted, metadata: { ...wanted.metadata, ...(Object.keys(annotations).length ? { annotations } : {}) } };
}
