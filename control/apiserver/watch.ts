// Watch streams: newline-delimited JSON events (as Tables when kubectl asked for Tables), with
// replay from a resourceVersion, 410 Gone when that is too old, bookmarks and timeouts.
import type { Context } from 'hono';
import { errors, isApiError } from '../../api/errors.js';
import type { KubeObject } from '../../api/types.js';
import type { StoreEvent, StoreWatch } from '../store/index.js';
import type { ListQuery } from './registry.js';
import { tableRequest, type ResourceRequest, type RouteContext } from './routes.js';
import { toTable } from './table.js';

const BOOKMARK_INTERVAL_MS = 30_000;
/** A watcher this far behind is cut off; it re-watches from its last revision. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

/**
 * Store events are frozen and shared by every watcher, so each one is serialised once however
 * many watchers receive it.
 */
const encodedEvents = new WeakMap<object, Uint8Array>();
const encoder = new TextEncoder();

function encodeShared(type: string, object: KubeObject): Uint8Array {
  let bytes = encodedEvents.get(object);
  if (!bytes) {
    bytes = encoder.encode(JSON.stringify({ type, object }) + '\n');
    if (Object.isFrozen(object)) encodedEvents.set(object, bytes);
  }
  return bytes;
}

function parseRevision(text: string | undefined): number | undefined {
  if (text === undefined || text === '' || text === '0') return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw errors.badRequest(`resourceVersion "${text}" is not valid: pass a resourceVersion returned by a list or watch`);
  return n;
}

export async function watchResponse(c: Context, req: ResourceRequest, query: ListQuery, ctx: RouteContext): Promise<Response> {
  const { resource: r, namespace } = req;
  const registry = ctx.registry;
  const table = tableRequest(c);
  const bookmarks = c.req.query('allowWatchBookmarks') === 'true';
  const timeoutText = c.req.query('timeoutSeconds');
  const timeoutParam = Number(timeoutText);
  if (timeoutText !== undefined && timeoutText !== '' && !(Number.isInteger(timeoutParam) && timeoutParam >= 0)) {
    throw errors.badRequest(`timeoutSeconds must be a whole number of seconds, not ${JSON.stringify(timeoutText)}`);
  }
  // Unset or 0: as kube-apiserver, a random time between its minimum (30 min) and twice that.
  const timeoutMs = (timeoutParam > 0 ? timeoutParam : 1800 + Math.random() * 1800) * 1000;
  const requested = parseRevision(c.req.query('resourceVersion'));
  const line = (type: string, object: KubeObject): Uint8Array => {
    if (!table || type === 'BOOKMARK') return encodeShared(type, object);
    const shown = toTable(r, [object], { now: ctx.now(), resourceVersion: object.metadata.resourceVersion, includeObject: table.includeObject });
    return encoder.encode(JSON.stringify({ type, object: shown }) + '\n');
  };

  // With no resourceVersion the client first gets the current state as ADDED events.
  let initial: KubeObject[] = [];
  let from: number;
  if (requested === undefined) {
    const listed = await registry.list(r, namespace, query);
    initial = listed.items;
    from = listed.revision;
  } else {
    from = requested;
  }

  let storeWatch: StoreWatch | undefined;
  let lastRevision = from;
  const pending: StoreEvent[] = [];
  // Declared before subscribing: the store replays retained events synchronously inside watch().
  let flush: (() => void) | undefined;
  // Subscribe before the response starts so that a 410 can still be an HTTP status.
  try {
    storeWatch = registry.watch(r, namespace, from, query, (event) => {
      pending.push(event);
      flush?.();
    });
  } catch (e) {
    if (isApiError(e) && e.code === 410) return c.json(e.toStatus(), 410);
    throw e;
  }

  const timers: NodeJS.Timeout[] = [];
  let closed = false;
  const stop = () => {
    if (closed) return;
    closed = true;
    storeWatch?.stop();
    for (const t of timers) clearTimeout(t), clearInterval(t);
    c.req.raw.signal.removeEventListener('abort', stop);
  };
  c.req.raw.signal.addEventListener('abort', stop, { once: true });

  const stream = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const end = () => {
          stop();
          try {
            controller.close();
          } catch {
            // already closed by the client going away
          }
        };
        for (const obj of initial) controller.enqueue(line('ADDED', obj));
        flush = () => {
          if (closed) return;
          while (pending.length) {
            const event = pending.shift()!;
            lastRevision = event.revision;
            controller.enqueue(line(event.type, event.object));
          }
          if ((controller.desiredSize ?? 0) < -MAX_BUFFERED_BYTES) end();
        };
        flush();
        timers.push(setTimeout(end, timeoutMs));
        if (bookmarks) {
          timers.push(
            setInterval(() => {
              if (closed) return;
              const revision = Math.max(lastRevision, registry.store.revision());
              lastRevision = revision;
              controller.enqueue(line('BOOKMARK', { kind: r.kind, apiVersion: req.resource.group ? `${req.resource.group}/${req.resource.version}` : req.resource.version, metadata: { resourceVersion: String(revision) } }));
            }, BOOKMARK_INTERVAL_MS),
          );
        }
        if (c.req.raw.signal.aborted) end();
      },
      cancel() {
        stop();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: 64 * 1024 }),
  );
  return new Response(stream, { status: 200, headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' } });
}
