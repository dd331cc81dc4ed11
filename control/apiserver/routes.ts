// The resource verbs over HTTP: get/list (JSON or Table), watch streams, create, replace,
// patch, delete, and the status and scale subresources.
import type { Context } from 'hono';
import { errors } from '../../api/errors.js';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from '../../api/patch.js';
import { apiVersionOf, verbsOf, type ResourceInfo } from '../../api/resources.js';
import { labelSelectorToString } from '../../api/selectors.js';
import { unenforcedFieldWarnings, warningHeader } from '../../api/warnings.js';
import type { KubeObject, LabelSelector } from '../../api/types.js';
import { decodeObject, decodePatch, LARGE_BODY_BYTES, mediaType as mediaTypeOf, patchTypeOf, type PatchType } from './body.js';
import { relayLog, type NodeClientCredentials } from './nodeproxy.js';
import type { Registry } from './registry.js';
import { toTable } from './table.js';
import { watchResponse } from './watch.js';
import { admitPodServiceAccount, answerReview, checkNodeRestriction, checkNoEscalation, forbidden, isNodeUser, issueServiceAccountToken, type ClusterAuth, type UserInfo } from '../auth/index.js';
import { specOf, withRequester } from '../certificates/requests.js';

export interface ResourceRequest {
  resource: ResourceInfo;
  namespace?: string;
  name?: string;
  subresource?: string;
  qualified: string;
}

export interface RouteContext {
  registry: Registry;
  now: () => Date;
  /** How control reaches node APIs (logs); absent, the relay is not available. */
  nodeClient?: NodeClientCredentials;
  auth: ClusterAuth;
  /** Who sent the request (authenticated and authorized for it already). */
  user: UserInfo;
}

type IncludeObject = 'None' | 'Metadata' | 'Object';

/** The Table options when the client asked for `as=Table`, else undefined. */
export function tableRequest(c: Context): { includeObject: IncludeObject } | undefined {
  const accept = c.req.header('accept') ?? '';
  if (!/as=Table/.test(accept)) return undefined;
  const include = c.req.query('includeObject');
  return { includeObject: include === 'None' || include === 'Object' ? include : 'Metadata' };
}

async function bodyBytes(c: Context): Promise<Uint8Array> {
  return new Uint8Array(await c.req.arrayBuffer());
}

function isDryRun(c: Context): boolean {
  return c.req.queries('dryRun')?.includes('All') ?? false;
}

/** Adds a `Warning:` header for each field of a written object that tugboat does not enforce. */
function warn(c: Context, r: ResourceInfo, obj: KubeObject): KubeObject {
  for (const text of unenforcedFieldWarnings(r, obj)) c.header('Warning', warningHeader(text), { append: true });
  return obj;
}

function listKind(r: ResourceInfo): string {
  return r.listKind ?? `${r.kind}List`;
}

type Operation = 'create' | 'update' | 'patch' | 'delete';

/**
 * The checks a write must pass that depend on its author: a CertificateSigningRequest records its
 * requester, RBAC objects may grant nothing their author lacks, a node stays within its own
 * objects. `old` is the stored object (update, patch, delete).
 */
function admit(ctx: RouteContext, req: ResourceRequest, obj: KubeObject, operation: Operation, old?: KubeObject): KubeObject {
  // A body that is not an object is left for the registry to refuse with a clear 400.
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return obj;
  const r = req.resource;
  const namespace = r.namespaced ? (obj.metadata?.namespace ?? req.namespace ?? 'default') : '';
  checkNodeRestriction({ user: ctx.user, verb: operation, resource: r, subresource: req.subresource, namespace, name: req.name ?? obj.metadata?.name ?? '', object: obj, old });
  if (operation === 'create' && r.kind === 'CertificateSigningRequest') return withRequester(obj, ctx.user);
  checkNoEscalation({ user: ctx.user, resource: r, namespace, object: obj }, ctx.auth.authorizer, ctx.auth.rbac);
  return obj;
}

/** Admission for a new object: the checks above, and a pod's ServiceAccount and API access volume. */
async function admitNew(ctx: RouteContext, req: ResourceRequest, obj: KubeObject): Promise<KubeObject> {
  const admitted = admit(ctx, req, obj, 'create');
  if (req.resource.kind !== 'Pod' || admitted === null || typeof admitted !== 'object' || Array.isArray(admitted)) return admitted;
  return admitPodServiceAccount(ctx.registry, admitted, admitted.metadata?.namespace ?? req.namespace ?? 'default');
}

/** The stored object a node's write is checked against (others need none). */
async function storedForNode(ctx: RouteContext, req: ResourceRequest): Promise<KubeObject | undefined> {
  if (!isNodeUser(ctx.user) || !req.name) return undefined;
  return ctx.registry.get(req.resource, req.namespace, req.name).catch(() => undefined);
}

/** A review (SelfSubjectAccessReview, TokenReview, ...): answered at once, never stored. */
async function handleReview(c: Context, req: ResourceRequest, ctx: RouteContext): Promise<Response> {
  if (c.req.method !== 'POST' || req.name) throw errors.methodNotAllowed(c.req.method, req.qualified);
  const body = await decodeObject(await bodyBytes(c), c.req.header('content-type')) as KubeObject;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw errors.badRequest(`the request body must be a ${req.resource.kind} object`);
  const answer = await answerReview(req.resource.kind, body, { user: ctx.user, authorizer: ctx.auth.authorizer, authenticator: ctx.auth.authenticator, namespace: req.namespace });
  return c.json({ ...answer, apiVersion: apiVersionOf(req.resource), kind: req.resource.kind }, 201);
}

export async function handleResource(c: Context, req: ResourceRequest, ctx: RouteContext): Promise<Response> {
  const { resource: r, namespace, name, subresource } = req;
  const method = c.req.method;
  const registry = ctx.registry;

  if (r.virtual) return handleReview(c, req, ctx);

  if (subresource === 'scale') return handleScale(c, req, ctx);
  if (subresource === 'approval') return handleApproval(c, req, ctx);
  if (subresource === 'token') return handleTokenRequest(c, req, ctx);
  if (subresource === 'log') {
    if (!name || method !== 'GET') throw errors.methodNotAllowed(method, `${req.qualified}/log`);
    if (!ctx.nodeClient) throw errors.internal('this API server has no credentials for node APIs');
    return relayLog(registry, namespace!, name, new URL(c.req.url).searchParams, ctx.nodeClient, c.req.raw.signal);
  }
  if (subresource === 'eviction') return handleEviction(c, req, ctx);
  if (subresource === 'exec') {
    throw errors.badRequest('exec needs a WebSocket upgrade (Sec-WebSocket-Protocol v5.channel.k8s.io or v4.channel.k8s.io), as kubectl 1.30+ sends; SPDY is not supported');
  }

  if (!name) {
    if (method === 'GET') {
      const query = { labelSelector: c.req.query('labelSelector'), fieldSelector: c.req.query('fieldSelector') };
      const watch = c.req.query('watch');
      if (watch === 'true' || watch === '1') return watchResponse(c, req, query, ctx);
      const { items, revision } = await registry.list(r, namespace, query);
      const table = tableRequest(c);
      if (table) return c.json(toTable(r, items, { now: ctx.now(), resourceVersion: String(revision), includeObject: table.includeObject }));
      return c.json({ apiVersion: apiVersionOf(r), kind: listKind(r), metadata: { resourceVersion: String(revision) }, items });
    }
    // As kube-apiserver: across all namespaces a namespaced kind can be listed and watched only,
    // and a kind without deletecollection (Namespace) is deleted one by one.
    if (r.namespaced && !namespace) throw errors.methodNotAllowed(method, req.qualified);
    if (method === 'DELETE' && !verbsOf(r).includes('deletecollection')) throw errors.methodNotAllowed(method, req.qualified);
    if (method === 'POST') {
      const bytes = await bodyBytes(c);
      const obj = await admitNew(ctx, req, await decodeObject(bytes, c.req.header('content-type')) as KubeObject);
      const created = await registry.create(r, namespace, obj, { dryRun: isDryRun(c), large: bytes.length > LARGE_BODY_BYTES });
      return c.json(warn(c, r, created), 201);
    }
    if (method === 'DELETE') {
      const query = { labelSelector: c.req.query('labelSelector'), fieldSelector: c.req.query('fieldSelector') };
      const { items, revision } = await registry.list(r, namespace, query);
      const deleted: KubeObject[] = [];
      for (const item of items) deleted.push(await registry.delete(r, item.metadata.namespace, item.metadata.name!, { dryRun: isDryRun(c) }));
      return c.json({ apiVersion: apiVersionOf(r), kind: listKind(r), metadata: { resourceVersion: String(revision) }, items: deleted });
    }
    throw errors.methodNotAllowed(method, req.qualified);
  }

  const sub = subresource === 'status' ? 'status' : undefined;
  switch (method) {
    case 'GET': {
      const obj = await registry.get(r, namespace, name);
      const table = tableRequest(c);
      if (table) return c.json(toTable(r, [obj], { now: ctx.now(), resourceVersion: obj.metadata.resourceVersion, includeObject: table.includeObject }));
      return c.json(obj);
    }
    case 'PUT': {
      const obj = await decodeObject(await bodyBytes(c), c.req.header('content-type')) as KubeObject;
      const stored = await storedForNode(ctx, req);
      return c.json(warn(c, r, await registry.update(r, namespace, name, admit(ctx, req, obj, 'update', stored), { dryRun: isDryRun(c), subresource: sub })));
    }
    case 'PATCH': {
      const type = patchTypeOf(c.req.header('content-type'));
      const patch = await decodePatch(await bodyBytes(c), type);
      if (type === 'apply') {
        const config = patch as KubeObject | null;
        if (config === null || typeof config !== 'object' || Array.isArray(config) || !config.apiVersion || !config.kind) {
          throw errors.badRequest('an apply patch must be an object with apiVersion and kind (a manifest, as kubectl apply --server-side sends)');
        }
        const existing = await registry.get(r, namespace, name).catch((e) => {
          if ((e as { code?: number }).code === 404) return undefined;
          throw e;
        });
        if (!existing) {
          const obj = await admitNew(ctx, req, { ...(patch as KubeObject), metadata: { ...((patch as KubeObject).metadata ?? {}), name } });
          return c.json(warn(c, r, await registry.create(r, namespace, obj, { dryRun: isDryRun(c) })), 201);
        }
      }
      const updated = await registry.modify(r, namespace, name, (current) => admit(ctx, req, patched(req, current, patch, type), 'patch', current), { dryRun: isDryRun(c), subresource: sub });
      return c.json(warn(c, r, updated));
    }
    case 'DELETE': {
      let options: { propagationPolicy?: string; preconditions?: { resourceVersion?: string; uid?: string }; dryRun?: string[]; gracePeriodSeconds?: number } = {};
      const bytes = await bodyBytes(c);
      if (mediaTypeOf(c.req.header('content-type')) === 'application/vnd.kubernetes.protobuf') {
        options = await decodeObject(bytes, c.req.header('content-type')) as typeof options;
      } else if (Buffer.from(bytes).toString('utf8').trim()) {
        try {
          options = JSON.parse(Buffer.from(bytes).toString('utf8'));
        } catch {
          throw errors.badRequest('the DeleteOptions body is not valid JSON');
        }
      }
      const policy = c.req.query('propagationPolicy') ?? options.propagationPolicy;
      if (policy && !['Background', 'Foreground', 'Orphan'].includes(policy)) {
        throw errors.badRequest(`propagationPolicy "${policy}" is not supported; use Background, Foreground or Orphan`);
      }
      const graceText = c.req.query('gracePeriodSeconds');
      const grace = graceText !== undefined ? Number(graceText) : options.gracePeriodSeconds;
      if (grace !== undefined && (!Number.isInteger(grace) || grace < 0)) {
        throw errors.badRequest(`gracePeriodSeconds must be a non-negative integer, not ${JSON.stringify(graceText ?? options.gracePeriodSeconds)}`);
      }
      checkNodeRestriction({ user: ctx.user, verb: 'delete', resource: r, namespace: namespace ?? '', name, old: await storedForNode(ctx, req) });
      const deleted = await registry.delete(r, namespace, name, {
        propagationPolicy: policy,
        gracePeriodSeconds: grace,
        preconditionUid: options.preconditions?.uid,
        preconditionRevision: options.preconditions?.resourceVersion,
        dryRun: isDryRun(c) || (options.dryRun ?? []).includes('All'),
      });
      return c.json(deleted);
    }
    default:
      throw errors.methodNotAllowed(method, `${req.qualified}/${name}`);
  }
}

/** Applies a PATCH body to the current object; a resourceVersion in the patch is a precondition. */
function patched(req: ResourceRequest, current: KubeObject, patch: unknown, type: PatchType): KubeObject {
  let next: unknown;
  if (type === 'json') next = applyJsonPatch(current, patch);
  else if (type === 'merge') next = applyMergePatch(current, patch);
  else next = applyStrategicMergePatch(current, patch, req.resource.kind);
  if (next === null || typeof next !== 'object' || Array.isArray(next)) throw errors.badRequest('the patch must produce an object');
  const wanted = (patch as KubeObject | undefined)?.metadata?.resourceVersion;
  if (type !== 'json' && wanted && wanted !== current.metadata.resourceVersion) throw errors.conflict(req.qualified, req.name!);
  // Registry.modify checks the result's shape and gives it the current resourceVersion.
  return next as KubeObject;
}

/**
 * pods/{name}/eviction, which `kubectl drain` uses: with no PodDisruptionBudgets to honour, an
 * eviction is a (graceful) delete with the Eviction's deleteOptions. Answers 201 with a Success Status.
 */
async function handleEviction(c: Context, req: ResourceRequest, ctx: RouteContext): Promise<Response> {
  const { resource: r, namespace, name } = req;
  if (!name) throw errors.notFoundPath();
  if (c.req.method !== 'POST') throw errors.methodNotAllowed(c.req.method, `${req.qualified}/${name}/eviction`);
  const eviction = await decodeObject(await bodyBytes(c), c.req.header('content-type')) as KubeObject & {
    deleteOptions?: { gracePeriodSeconds?: number; preconditions?: { uid?: string; resourceVersion?: string }; dryRun?: string[] };
  };
  if (eviction.metadata?.name && eviction.metadata.name !== name) throw errors.badRequest(`name in URL does not match name in Eviction object`);
  const options = eviction.deleteOptions ?? {};
  const grace = options.gracePeriodSeconds;
  if (grace !== undefined && grace !== null && (!Number.isInteger(grace) || grace < 0)) {
    throw errors.badRequest(`deleteOptions.gracePeriodSeconds must be a non-negative integer, not ${JSON.stringify(grace)}`);
  }
  await ctx.registry.delete(r, namespace, name, {
    gracePeriodSeconds: grace ?? undefined,
    preconditionUid: options.preconditions?.uid,
    preconditionRevision: options.preconditions?.resourceVersion,
    dryRun: isDryRun(c) || (options.dryRun ?? []).includes('All'),
  });
  return c.json({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 }, 201);
}

/** The autoscaling/v1 Scale view of a Deployment or ReplicaSet. */
export function scaleOf(obj: KubeObject): KubeObject {
  const spec = (obj.spec ?? {}) as { replicas?: number; selector?: LabelSelector };
  const status = (obj.status ?? {}) as { replicas?: number };
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: obj.metadata.name,
      namespace: obj.metadata.namespace,
      uid: obj.metadata.uid,
      resourceVersion: obj.metadata.resourceVersion,
      creationTimestamp: obj.metadata.creationTimestamp,
    },
    spec: { replicas: spec.replicas ?? 1 },
    status: { replicas: status.replicas ?? 0, selector: spec.selector ? labelSelectorToString(spec.selector) : '' },
  };
}

async function handleScale(c: Context, req: ResourceRequest, ctx: RouteContext): Promise<Response> {
  const { resource: r, namespace, name } = req;
  if (!name) throw errors.notFoundPath();
  const method = c.req.method;
  if (method === 'GET') return c.json(scaleOf(await ctx.registry.get(r, namespace, name)));
  if (method !== 'PUT' && method !== 'PATCH') throw errors.methodNotAllowed(method, `${req.qualified}/${name}/scale`);
  const bytes = await bodyBytes(c);
  const type = method === 'PATCH' ? patchTypeOf(c.req.header('content-type')) : undefined;
  const body = type ? await decodePatch(bytes, type) : await decodeObject(bytes, c.req.header('content-type'));
  const updated = await ctx.registry.modify(r, namespace, name, (current) => {
    const scale = scaleOf(current);
    const next = (type === 'json' ? applyJsonPatch(scale, body) : type ? applyMergePatch(scale, body) : body) as KubeObject;
    const replicas = (next?.spec as { replicas?: unknown } | undefined)?.replicas;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0 || replicas > 2147483647) {
      throw errors.invalid('Scale', name, [{ field: 'spec.replicas', message: `Invalid value: ${JSON.stringify(replicas)}: must be an integer from 0 to 2147483647` }], 'autoscaling');
    }
    const wanted = next.metadata?.resourceVersion;
    if (method === 'PUT' && wanted && wanted !== current.metadata.resourceVersion) throw errors.conflict(req.qualified, name);
    (current.spec as { replicas?: number }).replicas = replicas;
    return current;
  });
  return c.json(scaleOf(updated));
}

/**
 * certificatesigningrequests/{name}/approval (`kubectl certificate approve|deny`): only the
 * conditions change, and whoever sets them must also be allowed to `approve` for the request's
 * signer (`signers` in certificates.k8s.io, by name or `<domain>/*`).
 */
async function handleApproval(c: Context, req: ResourceRequest, ctx: RouteContext): Promise<Response> {
  const { resource: r, name } = req;
  if (!name) throw errors.notFoundPath();
  if (c.req.method === 'GET') return c.json(await ctx.registry.get(r, undefined, name));
  if (c.req.method !== 'PUT' && c.req.method !== 'PATCH') throw errors.methodNotAllowed(c.req.method, `${req.qualified}/${name}/approval`);
  const bytes = await bodyBytes(c);
  const type = c.req.method === 'PATCH' ? patchTypeOf(c.req.header('content-type')) : undefined;
  const body = type ? await decodePatch(bytes, type) : await decodeObject(bytes, c.req.header('content-type'));
  const updated = await ctx.registry.modify(r, undefined, name, (current) => {
    const signer = specOf(current).signerName ?? '';
    const domain = signer.split('/')[0];
    const may = (resourceName: string) =>
      ctx.auth.authorizer.authorize(ctx.user, { verb: 'approve', resourceRequest: true, path: '', apiGroup: 'certificates.k8s.io', apiVersion: 'v1', namespace: '', resource: 'signers', subresource: '', name: resourceName }).allowed;
    if (!may(signer) && !may(`${domain}/*`)) {
      throw forbidden(ctx.user, { verb: 'approve', resourceRequest: true, path: '', apiGroup: 'certificates.k8s.io', apiVersion: 'v1', namespace: '', resource: 'signers', subresource: '', name: signer });
    }
    const next = (type === 'json' ? applyJsonPatch(current, body) : type ? applyMergePatch(current, body) : body) as KubeObject;
    const conditions = (next?.status as { conditions?: unknown } | undefined)?.conditions;
    return { ...current, status: { ...((current.status as object) ?? {}), conditions } };
  }, { subresource: 'status' });
  return c.json(updated);
}

/** serviceaccounts/{name}/token: a TokenRequest answered with a token (`kubectl create token`). */
async function handleTokenRequest(c: Context, req: ResourceRequest, ctx: RouteContext): Promise<Response> {
  if (!req.name) throw errors.notFoundPath();
  if (c.req.method !== 'POST') throw errors.methodNotAllowed(c.req.method, `${req.qualified}/${req.name}/token`);
  const tokens = ctx.auth.serviceAccountTokens;
  if (!tokens) throw errors.internal('this API server issues no ServiceAccount tokens');
  const body = await decodeObject(await bodyBytes(c), c.req.header('content-type')) as KubeObject;
  const answer = await issueServiceAccountToken(body, req.namespace ?? 'default', req.name, { registry: ctx.registry, tokens, user: ctx.user, now: ctx.now() });
  return c.json(answer, 201);
}
