// The three PATCH body formats kubectl sends (KUBECTL.md §1, §2.4, §2.7): JSON merge patch
// (RFC 7386), Kubernetes strategic merge patch, and JSON patch (RFC 6902). Pure functions: the
// inputs are never mutated and the result shares no objects with them.

import { errors } from './errors.js';

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Keys come from client JSON: read and write them as own properties only, so a "__proto__"
// key is stored as data instead of reaching (and polluting) Object.prototype.
function getOwn(obj: JsonObject, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

function setOwn(obj: JsonObject, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

function clone<T>(v: T): T {
  return v === undefined ? v : structuredClone(v);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// RFC 7386 JSON merge patch (kubectl label, annotate, scale)

export function applyMergePatch(target: unknown, patch: unknown): unknown {
  return mergePatch(clone(target), clone(patch));
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: JsonObject = isObject(target) ? target : {};
  for (const [name, value] of Object.entries(patch)) {
    if (value === null) delete result[name];
    else setOwn(result, name, mergePatch(getOwn(result, name), value));
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch (client-side apply, set image, rollout restart)
//
// Without the Go struct tags, the patch strategy of a list is decided by its field name. The
// table follows the `+patchMergeKey`/`+patchStrategy=merge` tags of k8s.io/api; any list not
// named here is atomic and replaced whole (tolerations, args, command, envFrom, ...).

const MERGE_KEY_BY_FIELD: Readonly<Record<string, string>> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  env: 'name',
  imagePullSecrets: 'name',
  resourceClaims: 'name',
  schedulingGates: 'name',
  secrets: 'name',
  hostAliases: 'ip',
  podIPs: 'ip',
  hostIPs: 'ip',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  conditions: 'type',
  ownerReferences: 'uid',
  topologySpreadConstraints: 'topologyKey',
};

/** Lists of scalars with `+patchStrategy=merge`: set union, `$deleteFromPrimitiveList` removes. */
const MERGED_SCALAR_LISTS: ReadonlySet<string> = new Set(['finalizers', 'podCIDRs']);

/** Kinds whose `ports` list is atomic (EndpointPort lists carry no merge key upstream). */
const ATOMIC_PORTS_KINDS: ReadonlySet<string> = new Set(['Endpoints', 'EndpointSlice']);

const PATCH_DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const SET_ELEMENT_ORDER = '$setElementOrder/';
const DELETE_FROM_PRIMITIVE_LIST = '$deleteFromPrimitiveList/';

/** Returned by mergeMap for `{"$patch": "delete"}`: the parent drops the key. */
const DELETED = Symbol('deleted');

type ListStrategy = { merge: false } | { merge: true; key?: string };

function listStrategy(field: string, lists: unknown[][], kind: string | undefined): ListStrategy {
  if (MERGED_SCALAR_LISTS.has(field)) return { merge: true };
  if (field === 'ports') {
    if (kind && ATOMIC_PORTS_KINDS.has(kind)) return { merge: false };
    if (kind === 'Service') return { merge: true, key: 'port' };
    const elements = lists.flat().filter(isObject);
    if (elements.some((e) => 'containerPort' in e)) return { merge: true, key: 'containerPort' };
    if (elements.some((e) => 'port' in e)) return { merge: true, key: 'port' };
    return { merge: true, key: 'containerPort' };
  }
  const key = MERGE_KEY_BY_FIELD[field];
  if (!key) return { merge: false };
  // A keyed list holding scalars is not something Kubernetes defines; replace it like JSON would.
  if (lists.flat().some((e) => !isObject(e))) return { merge: false };
  return { merge: true, key };
}

function isDirectiveKey(k: string): boolean {
  return k === PATCH_DIRECTIVE || k === RETAIN_KEYS || k.startsWith(SET_ELEMENT_ORDER) || k.startsWith(DELETE_FROM_PRIMITIVE_LIST);
}

function smpError(message: string): never {
  throw errors.badRequest(`invalid strategic merge patch: ${message}`);
}

export function applyStrategicMergePatch(target: unknown, patch: unknown, kind?: string): unknown {
  if (!isObject(patch)) smpError('the body must be a JSON object');
  const base = isObject(target) ? clone(target) : {};
  const effectiveKind = kind ?? (typeof base.kind === 'string' ? base.kind : undefined);
  const merged = mergeMap(base, clone(patch), effectiveKind, '');
  return merged === DELETED ? {} : merged;
}

/** Merges `patch` into `original` (a private copy that may be reused for the result). */
function mergeMap(original: JsonObject, patch: JsonObject, kind: string | undefined, path: string): JsonObject | typeof DELETED {
  let body = patch;
  if (Object.hasOwn(patch, PATCH_DIRECTIVE)) {
    const directive = patch[PATCH_DIRECTIVE];
    const { [PATCH_DIRECTIVE]: _drop, ...rest } = patch;
    if (directive === 'delete') return DELETED;
    if (directive === 'replace') return mergeMap({}, rest, kind, path);
    if (directive !== 'merge') smpError(`unknown $patch value ${JSON.stringify(directive)} at ${path || '/'} (use merge, replace or delete)`);
    body = rest;
  }

  const result = original;

  if (Object.hasOwn(body, RETAIN_KEYS)) {
    const retain = body[RETAIN_KEYS];
    if (!Array.isArray(retain) || retain.some((k) => typeof k !== 'string')) smpError(`$retainKeys at ${path || '/'} must be a list of field names`);
    const keep = new Set(retain as string[]);
    for (const [k, v] of Object.entries(body)) {
      if (v !== null && !isDirectiveKey(k) && !keep.has(k)) smpError(`field ${path}/${k} is set but not named in $retainKeys`);
    }
    for (const k of Object.keys(result)) if (!keep.has(k)) delete result[k];
  }

  const orders = new Map<string, unknown[]>();
  for (const [k, v] of Object.entries(body)) {
    if (k.startsWith(DELETE_FROM_PRIMITIVE_LIST)) {
      const field = k.slice(DELETE_FROM_PRIMITIVE_LIST.length);
      if (!Array.isArray(v)) smpError(`${path}/${k} must be a list`);
      const current = getOwn(result, field);
      if (Array.isArray(current)) setOwn(result, field, current.filter((e) => !v.some((d) => deepEqual(d, e))));
    } else if (k.startsWith(SET_ELEMENT_ORDER)) {
      if (!Array.isArray(v)) smpError(`${path}/${k} must be a list`);
      orders.set(k.slice(SET_ELEMENT_ORDER.length), v);
    } else if (k.startsWith('$') && !isDirectiveKey(k)) {
      smpError(`unknown directive ${JSON.stringify(k)} at ${path || '/'}`);
    }
  }

  for (const [k, patchValue] of Object.entries(body)) {
    if (isDirectiveKey(k)) continue;
    const fieldPath = `${path}/${k}`;
    if (patchValue === null) {
      delete result[k];
      continue;
    }
    const current = getOwn(result, k);
    if (isObject(patchValue)) {
      const merged = mergeMap(isObject(current) ? current : {}, patchValue, kind, fieldPath);
      if (merged === DELETED) delete result[k];
      else setOwn(result, k, merged);
    } else if (Array.isArray(patchValue)) {
      setOwn(result, k, mergeList(k, Array.isArray(current) ? current : [], patchValue, kind, orders.get(k), fieldPath));
    } else {
      setOwn(result, k, patchValue);
    }
  }

  // `$setElementOrder` may come without its list (only deletions, or no change to contents).
  for (const [field, order] of orders) {
    if (Object.hasOwn(body, field)) continue;
    const current = getOwn(result, field);
    if (!Array.isArray(current)) continue;
    const strategy = listStrategy(field, [current, order], kind);
    if (strategy.merge) setOwn(result, field, orderBy(current, order, keyOf(strategy.key)));
  }
  return result;
}

function keyOf(mergeKey: string | undefined): (element: unknown) => unknown {
  return mergeKey === undefined ? (e) => e : (e) => (isObject(e) ? getOwn(e, mergeKey) : undefined);
}

function indexByKey(list: unknown[], key: unknown, keyFn: (e: unknown) => unknown): number {
  if (key === undefined) return -1;
  return list.findIndex((e) => deepEqual(keyFn(e), key));
}

function mergeList(
  field: string,
  original: unknown[],
  patch: unknown[],
  kind: string | undefined,
  order: unknown[] | undefined,
  path: string,
): unknown[] {
  const strategy = listStrategy(field, [original, patch, order ?? []], kind);
  if (!strategy.merge) {
    // Atomic list: the patch value replaces it, with directives and nulls cleaned out of elements.
    return patch.map((e) => cleanValue(e, kind, path));
  }

  const keyFn = keyOf(strategy.key);
  let merged: unknown[];
  let patchItems: unknown[];

  if (strategy.key === undefined) {
    merged = [];
    for (const e of [...original, ...patch]) if (!merged.some((m) => deepEqual(m, e))) merged.push(e);
    patchItems = patch;
  } else {
    const mergeKey = strategy.key;
    let base = original.slice();
    const items: JsonObject[] = [];
    let replace = false;
    for (const element of patch) {
      if (!isObject(element)) smpError(`${path} is merged by "${mergeKey}", so each element must be an object`);
      const directive = element[PATCH_DIRECTIVE];
      if (directive === undefined || directive === 'merge') {
        const { [PATCH_DIRECTIVE]: _drop, ...rest } = element;
        items.push(rest);
      } else if (directive === 'delete') {
        if (!Object.hasOwn(element, mergeKey)) smpError(`a $patch: delete element of ${path} must name its "${mergeKey}"`);
        base = base.filter((e) => !deepEqual(keyFn(e), element[mergeKey]));
      } else if (directive === 'replace') {
        replace = true;
      } else {
        smpError(`unknown $patch value ${JSON.stringify(directive)} in ${path} (use merge, replace or delete)`);
      }
    }
    if (replace) base = [];
    merged = base;
    for (const item of items) {
      if (!Object.hasOwn(item, mergeKey) || item[mergeKey] === null) {
        smpError(`element ${JSON.stringify(item)} of ${path} has no "${mergeKey}", which Kubernetes merges this list by`);
      }
      const at = indexByKey(merged, item[mergeKey], keyFn);
      const elementPath = `${path}[${mergeKey}=${String(item[mergeKey])}]`;
      const next = mergeMap(at >= 0 && isObject(merged[at]) ? (merged[at] as JsonObject) : {}, item, kind, elementPath);
      if (next === DELETED) {
        if (at >= 0) merged.splice(at, 1);
      } else if (at >= 0) {
        merged[at] = next;
      } else {
        merged.push(next);
      }
    }
    patchItems = items;
  }

  if (order) return orderBy(merged, order, keyFn);
  return normalizeOrder(merged, patchItems, original, keyFn);
}

/** `$setElementOrder`: listed elements first, in the given order; the rest keep their order after. */
function orderBy(list: unknown[], order: unknown[], keyFn: (e: unknown) => unknown): unknown[] {
  const rest = list.slice();
  const ordered: unknown[] = [];
  for (const entry of order) {
    const at = indexByKey(rest, keyFn(entry), keyFn);
    if (at >= 0) ordered.push(...rest.splice(at, 1));
  }
  return [...ordered, ...rest];
}

/**
 * Ordering without `$setElementOrder`, as apimachinery's normalizeElementOrder does it: patched
 * elements follow the patch order, server-only elements keep theirs, and the two are interleaved
 * by their positions in the original list (new elements go before server-only ones they cannot
 * be placed against).
 */
function normalizeOrder(merged: unknown[], patchOrder: unknown[], serverOrder: unknown[], keyFn: (e: unknown) => unknown): unknown[] {
  const inPatch = (e: unknown): boolean => indexByKey(patchOrder, keyFn(e), keyFn) >= 0;
  const patchItems = merged.filter(inPatch);
  const serverOnly = merged.filter((e) => !inPatch(e));
  const rank = (list: unknown[]) => (e: unknown) => indexByKey(list, keyFn(e), keyFn);
  const patchRank = rank(patchOrder);
  const serverRank = rank(serverOrder);
  patchItems.sort((a, b) => patchRank(a) - patchRank(b));
  serverOnly.sort((a, b) => serverRank(a) - serverRank(b));

  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < serverOnly.length || j < patchItems.length) {
    if (j >= patchItems.length) out.push(serverOnly[i++]);
    else if (i >= serverOnly.length) out.push(patchItems[j++]);
    else {
      const li = serverRank(serverOnly[i]);
      const ri = serverRank(patchItems[j]);
      if (li >= 0 && ri >= 0 && li < ri) out.push(serverOnly[i++]);
      else out.push(patchItems[j++]);
    }
  }
  return out;
}

/** A patch value stored where nothing was before: directives applied against empty, nulls dropped. */
function cleanValue(value: unknown, kind: string | undefined, path: string): unknown {
  if (isObject(value)) {
    const merged = mergeMap({}, value, kind, path);
    return merged === DELETED ? {} : merged;
  }
  if (Array.isArray(value)) return value.map((e) => cleanValue(e, kind, path));
  return value;
}

// ---------------------------------------------------------------------------------------------
// RFC 6902 JSON patch (kubectl rollout undo)

type Token = string;

function jsonPatchError(index: number, op: string, message: string): never {
  throw errors.badRequest(`json patch operation #${index} (${op}): ${message}`);
}

function parsePointer(pointer: unknown, index: number, op: string, name: string): Token[] {
  if (typeof pointer !== 'string') jsonPatchError(index, op, `"${name}" must be a JSON pointer string`);
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) jsonPatchError(index, op, `${name} "${pointer}" is not a JSON pointer (it must start with "/")`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => {
      if (/~[^01]|~$/.test(t)) jsonPatchError(index, op, `${name} "${pointer}" has an invalid escape (only ~0 and ~1 are allowed)`);
      return t.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

function arrayIndex(token: Token, length: number, allowEnd: boolean): number | undefined {
  if (allowEnd && token === '-') return length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) return undefined;
  const n = Number(token);
  return n < length || (allowEnd && n === length) ? n : undefined;
}

interface Ctx {
  index: number;
  op: string;
  pointer: string;
}

function missing(ctx: Ctx, what = ctx.pointer): never {
  jsonPatchError(ctx.index, ctx.op, `path "${what}" does not exist`);
}

/** The container holding the last token; throws if any step on the way does not exist. */
function parentOf(doc: unknown, tokens: Token[], ctx: Ctx): unknown {
  let node = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(node)) {
      const i = arrayIndex(t, node.length, false);
      if (i === undefined) missing(ctx);
      node = node[i];
    } else if (isObject(node) && Object.hasOwn(node, t)) {
      node = node[t];
    } else {
      missing(ctx);
    }
  }
  return node;
}

function getAt(doc: unknown, tokens: Token[], ctx: Ctx): unknown {
  if (tokens.length === 0) return doc;
  const parent = parentOf(doc, tokens, ctx);
  const last = tokens[tokens.length - 1];
  if (Array.isArray(parent)) {
    const i = arrayIndex(last, parent.length, false);
    if (i === undefined) missing(ctx);
    return parent[i];
  }
  if (isObject(parent) && Object.hasOwn(parent, last)) return parent[last];
  missing(ctx);
}

function addAt(doc: unknown, tokens: Token[], value: unknown, ctx: Ctx): unknown {
  if (tokens.length === 0) return value;
  const parent = parentOf(doc, tokens, ctx);
  const last = tokens[tokens.length - 1];
  if (Array.isArray(parent)) {
    const i = arrayIndex(last, parent.length, true);
    if (i === undefined) jsonPatchError(ctx.index, ctx.op, `path "${ctx.pointer}": index "${last}" is out of range for a list of ${parent.length}`);
    parent.splice(i, 0, value);
  } else if (isObject(parent)) {
    setOwn(parent, last, value);
  } else {
    missing(ctx);
  }
  return doc;
}

function removeAt(doc: unknown, tokens: Token[], ctx: Ctx): unknown {
  if (tokens.length === 0) jsonPatchError(ctx.index, ctx.op, 'cannot remove the whole document');
  const parent = parentOf(doc, tokens, ctx);
  const last = tokens[tokens.length - 1];
  if (Array.isArray(parent)) {
    const i = arrayIndex(last, parent.length, false);
    if (i === undefined) missing(ctx);
    parent.splice(i, 1);
  } else if (isObject(parent) && Object.hasOwn(parent, last)) {
    delete parent[last];
  } else {
    missing(ctx);
  }
  return doc;
}

function replaceAt(doc: unknown, tokens: Token[], value: unknown, ctx: Ctx): unknown {
  if (tokens.length === 0) return value;
  const parent = parentOf(doc, tokens, ctx);
  const last = tokens[tokens.length - 1];
  if (Array.isArray(parent)) {
    const i = arrayIndex(last, parent.length, false);
    if (i === undefined) missing(ctx);
    parent[i] = value;
  } else if (isObject(parent) && Object.hasOwn(parent, last)) {
    setOwn(parent, last, value);
  } else {
    missing(ctx);
  }
  return doc;
}

export function applyJsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw errors.badRequest('a JSON patch (application/json-patch+json) must be a JSON list of operations');
  let doc = clone(target);
  clone(ops).forEach((raw: unknown, index: number) => {
    if (!isObject(raw)) jsonPatchError(index, '?', 'each operation must be an object with "op" and "path"');
    const op = typeof raw.op === 'string' ? raw.op : '?';
    const tokens = parsePointer(raw.path, index, op, 'path');
    const ctx: Ctx = { index, op, pointer: raw.path as string };
    const needValue = (): unknown => {
      if (!Object.hasOwn(raw, 'value')) jsonPatchError(index, op, `"value" is required (path "${ctx.pointer}")`);
      return raw.value;
    };
    switch (op) {
      case 'add':
        doc = addAt(doc, tokens, needValue(), ctx);
        break;
      case 'remove':
        doc = removeAt(doc, tokens, ctx);
        break;
      case 'replace':
        doc = replaceAt(doc, tokens, needValue(), ctx);
        break;
      case 'move':
      case 'copy': {
        const fromTokens = parsePointer(raw.from, index, op, 'from');
        const fromCtx: Ctx = { ...ctx, pointer: raw.from as string };
        if (op === 'move' && ctx.pointer.startsWith(`${fromCtx.pointer}/`)) {
          jsonPatchError(index, op, `cannot move "${fromCtx.pointer}" into its own child "${ctx.pointer}"`);
        }
        const value = getAt(doc, fromTokens, fromCtx);
        if (op === 'move') {
          if (fromCtx.pointer === ctx.pointer) break;
          doc = removeAt(doc, fromTokens, fromCtx);
          doc = addAt(doc, tokens, value, ctx);
        } else {
          doc = addAt(doc, tokens, clone(value), ctx);
        }
        break;
      }
      case 'test': {
        const expected = needValue();
        const actual = getAt(doc, tokens, ctx);
        if (!deepEqual(actual, expected)) {
          jsonPatchError(index, op, `test failed at path "${ctx.pointer}": expected ${JSON.stringify(expected)}, found ${JSON.stringify(actual)}`);
        }
        break;
      }
      default:
        jsonPatchError(index, op, `unknown op ${JSON.stringify(raw.op)} (use add, remove, replace, move, copy or test)`);
    }
  });
  return doc;
}
