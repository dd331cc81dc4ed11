// The Kubernetes REST surface of `tug control`, as a Hono app: authentication, discovery,
// OpenAPI, and the resource routes, which hand their work to the Registry. Tests drive it with
// `app.request()`; `server.ts` puts it behind HTTPS.
import { nodeNameOf } from '../auth/user.js';
import { MESH_BUNDLE_PATH, MESH_CERTIFICATES_PATH } from '../../lib/spiffe.js';
import { MeshCa, MeshCaError } from '../mesh/ca.js';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { hostname } from 'node:os';
import type { TLSSocket } from 'node:tls';
import type { Registry as MetricsRegistry } from 'prom-client';
import { ApiError, errors, toApiError } from '../../api/errors.js';
import { qualifiedName, resourceByPlural, resourceOfKind, type ResourceInfo } from '../../api/resources.js';
import type { Node } from '../../api/types.js';
import { forbidden, impersonated, requestAttributes, type Attributes, type ClusterAuth, type UserInfo } from '../auth/index.js';
import { auditLevel, type AuditLog } from './audit.js';
import { consoleApi, consolePages } from '../console/index.js';
import { BODY_LIMIT_BYTES } from './body.js';
import {
  AGGREGATED_DISCOVERY_TYPE,
  aggregatedDiscovery,
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  versionInfo,
  wantsAggregated,
} from './discovery.js';
import { DEFAULT_INFLIGHT, inflightLimiter, type InflightLimits } from './inflight.js';
import { ApiMetrics } from './metrics.js';
import { ROTATION_PHASES, type RotationPhase } from '../ca-rotation.js';
import { CA_BUNDLE_PATH, CA_ROTATE_PATH, ROTATE_PATH } from '../../api/paths.js';
import { OPENAPI_V2_PROTOBUF, openApiDocument, openApiIndex, openApiV2Json, openApiV2Protobuf } from './openapi.js';
import type { Registry } from './registry.js';
import type { NodeClientCredentials } from './nodeproxy.js';
import { handleResource, type ResourceRequest } from './routes.js';
import { parseSdQuery, prometheusTargets } from './sd.js';

export interface ApiServerOptions {
  registry: Registry;
  /** Who is asking (authentication) and whether they may (RBAC). */
  auth: ClusterAuth;
  /** How control authenticates to node APIs and checks them (logs); absent, logs are not relayed. */
  nodeClient?: NodeClientCredentials;
  /** Where every request is recorded, at its policy's level (--audit-log-path). */
  audit?: AuditLog;
  /** Requests in flight at once before 429 (default Kubernetes': 400 reads, 200 writes). */
  inflight?: InflightLimits;
  /** Puts a new encryption key in use and rewrites what older keys guard (`tug secrets rotate`). */
  rotateEncryptionKey?: () => Promise<{ key: string; rewritten: number }>;
  /** Takes a CA rotation one step (`tug ca rotate`); absent, the path is not served. */
  rotateCa?: (phase: RotationPhase) => Promise<{ phase: RotationPhase; message: string }>;
  /** The CAs clients should trust now, served at CA_BUNDLE_PATH. */
  caBundle?: () => string;
  /** Signs workload certificates for nodes (MESH_CERTIFICATES_PATH) and serves its roots. */
  meshCa?: MeshCa;
  metrics?: MetricsRegistry;
  /** host:port clients should use, for discovery's serverAddressByClientCIDRs. */
  serverAddress?: () => string;
  /** The machine control runs on, the `node` label of its own Prometheus target (default the host name). */
  hostName?: string;
  now?: () => Date;
}

// /metrics is not here: like kube-apiserver's, it needs the token.
const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/livez']);
const NODE = resourceOfKind('Node');

export type ApiEnv = { Variables: { user: UserInfo; authenticated: UserInfo; attributes: Attributes; decision: { allowed: boolean; reason?: string } } };

export function statusResponse(c: Context, e: ApiError): Response {
  if (e.details?.retryAfterSeconds) c.header('Retry-After', String(e.details.retryAfterSeconds));
  return c.json(e.toStatus(), e.code as 400);
}

export function createApiApp(opts: ApiServerOptions): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const metrics = opts.metrics ? new ApiMetrics(opts.metrics) : undefined;
  const now = opts.now ?? (() => new Date());

  app.onError((err, c) => {
    const e = toApiError(err);
    if (e.code >= 500) console.error(`tug control: ${c.req.method} ${c.req.path}:`, err);
    return statusResponse(c, e);
  });
  app.notFound((c) => statusResponse(c, errors.notFoundPath()));

  if (metrics) {
    app.use('*', async (c, next) => {
      const started = performance.now();
      await next();
      metrics.observe(c.req.method, c.req.path, c.req.query('watch'), c.res.status, (performance.now() - started) / 1000);
    });
  }

  if (opts.audit) app.use('*', auditMiddleware(opts.audit));

  app.get('/healthz', (c) => c.text('ok'));
  app.get('/readyz', (c) => c.text('ok'));
  app.get('/livez', (c) => c.text('ok'));
  app.route('/', consolePages()); // /ui: before the token check, the page signs in itself

  // Every request is authenticated, then authorized, before anything is parsed or routed.
  app.use('*', async (c, next) => {
    if (PUBLIC_PATHS.has(c.req.path)) return next();
    const socket = (c.env as { incoming?: { socket?: TLSSocket } } | undefined)?.incoming?.socket;
    const authenticated = await opts.auth.authenticator.authenticate(socket, c.req.header('authorization'));
    if (!authenticated) {
      throw c.req.header('authorization') ? errors.unauthorized('Unauthorized: the bearer token is not valid for this cluster; use the kubeconfig that `tug control` wrote') : errors.unauthorized();
    }
    c.set('authenticated', authenticated);
    const attributes = requestAttributes(c.req.method, new URL(c.req.url));
    c.set('attributes', attributes);
    const user = impersonated(authenticated, (name) => c.req.header(name), opts.auth.authorizer);
    c.set('user', user);
    const decision = opts.auth.authorizer.authorize(user, attributes);
    c.set('decision', decision);
    if (!decision.allowed) throw forbidden(user, attributes);
    return next();
  });

  app.use('*', inflightLimiter({ ...DEFAULT_INFLIGHT, ...opts.inflight, onRejected: (kind) => metrics?.rejected(kind) }));

  app.use(
    '*',
    bodyLimit({
      maxSize: BODY_LIMIT_BYTES,
      onError: (c) => statusResponse(c, errors.requestEntityTooLarge(BODY_LIMIT_BYTES)),
    }),
  );

  app.get('/version', (c) => c.json(versionInfo()));
  app.route('/ui/api', consoleApi({ registry: opts.registry }));

  // Not a Kubernetes API: a path, so only those RBAC allows the path (cluster-admin) may call it.
  app.post(ROTATE_PATH, async (c) => {
    if (!opts.rotateEncryptionKey) throw errors.notFoundPath();
    return c.json(await opts.rotateEncryptionKey());
  });
  app.post(CA_ROTATE_PATH, async (c) => {
    if (!opts.rotateCa) throw errors.notFoundPath();
    const phase = c.req.query('phase') as RotationPhase;
    if (!ROTATION_PHASES.includes(phase)) throw errors.badRequest(`phase must be one of ${ROTATION_PHASES.join(', ')} (the steps of a CA rotation, in order)`);
    return c.json(await opts.rotateCa(phase));
  });
  app.get(CA_BUNDLE_PATH, (c) => {
    if (!opts.caBundle) throw errors.notFoundPath();
    return c.body(opts.caBundle(), 200, { 'Content-Type': 'application/x-pem-file' });
  });

  app.route('/', meshRoutes(opts));

  app.get('/metrics', async (c) => {
    if (!opts.metrics) throw errors.notFoundPath();
    return c.body(await opts.metrics.metrics(), 200, { 'Content-Type': opts.metrics.contentType });
  });
  app.get('/sd/prometheus', async (c) => {
    const role = parseSdQuery(new URL(c.req.url).search.slice(1));
    const nodes = role === 'control' ? [] : ((await opts.registry.list(NODE, undefined)).items as Node[]);
    const address = opts.serverAddress?.() ?? new URL(c.req.url).host;
    const control = opts.metrics ? { address, name: opts.hostName ?? hostname().toLowerCase() } : undefined;
    return c.json(prometheusTargets(nodes, control, role));
  });

  const discovery = (core: boolean) => (c: Context) => {
    if (wantsAggregated(c.req.header('accept'))) {
      return c.body(JSON.stringify(aggregatedDiscovery(core)), 200, { 'Content-Type': AGGREGATED_DISCOVERY_TYPE });
    }
    return c.json(core ? apiVersions(opts.serverAddress?.() ?? new URL(c.req.url).host) : apiGroupList());
  };
  app.get('/api', discovery(true));
  app.get('/apis', discovery(false));
  app.get('/api/v1', (c) => c.json(apiResourceList('', 'v1')));
  app.get('/apis/:group', (c) => {
    const g = apiGroup(c.req.param('group'));
    if (!g) throw errors.notFoundPath();
    return c.json(g);
  });
  app.get('/apis/:group/:version', (c) => {
    const list = apiResourceList(c.req.param('group'), c.req.param('version'));
    if (!list) throw errors.notFoundPath();
    return c.json(list);
  });

  app.get('/openapi/v2', (c) => {
    // Go's mime parser rejects the '@' of the type kubectl asks for; kube-apiserver answers octet-stream.
    if ((c.req.header('accept') ?? '').includes(OPENAPI_V2_PROTOBUF)) {
      return c.body(openApiV2Protobuf(), 200, { 'Content-Type': 'application/octet-stream' });
    }
    return c.json(openApiV2Json());
  });
  app.get('/openapi/v3', (c) => c.json(openApiIndex()));
  app.get('/openapi/v3/*', (c) => {
    const rest = c.req.path.slice('/openapi/v3/'.length).split('/');
    const doc = rest[0] === 'api' ? openApiDocument('', rest[1]) : rest[0] === 'apis' ? openApiDocument(rest[1], rest[2]) : undefined;
    if (!doc) throw errors.notFoundPath();
    return c.json(doc);
  });

  const resourceRoute = (group: string, version: string, segments: string[], c: Context<ApiEnv>) => {
    const req = parseResourcePath(group, version, segments);
    return handleResource(c, req, { registry: opts.registry, now, nodeClient: opts.nodeClient, auth: opts.auth, user: c.get('user') });
  };
  app.all('/api/v1/*', (c) => resourceRoute('', 'v1', c.req.path.slice('/api/v1/'.length).split('/'), c));
  app.all('/apis/:group/:version/*', (c) => {
    const prefix = `/apis/${c.req.param('group')}/${c.req.param('version')}/`;
    return resourceRoute(c.req.param('group'), c.req.param('version'), c.req.path.slice(prefix.length).split('/'), c);
  });

  return app;
}

/** Records each request in the audit log once its response is known. */
function auditMiddleware(audit: AuditLog): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const received = new Date();
    try {
      await next();
    } finally {
      const attributes = c.get('attributes') ?? requestAttributes(c.req.method, new URL(c.req.url));
      const authenticated = c.get('authenticated');
      const user = c.get('user');
      const level = auditLevel(audit.policy, user ?? authenticated, attributes);
      if (level !== 'None') {
        const url = new URL(c.req.url);
        const body = level !== 'Metadata' && /json/.test(c.req.header('content-type') ?? '') ? await c.req.json().catch(() => undefined) : undefined;
        audit.write({
          level,
          attributes,
          requestURI: url.pathname + url.search,
          user: authenticated,
          impersonatedUser: user && authenticated && user !== authenticated ? user : undefined,
          sourceIP: (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress ?? '',
          userAgent: c.req.header('user-agent'),
          code: c.res.status,
          received,
          decision: c.get('decision'),
          requestObject: body,
        });
      }
    }
  };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw errors.badRequest(`the path segment "${segment}" is not valid percent-encoding; escape "%" as %25`);
  }
}

/**
 * Splits `namespaces/{ns}/{plural}/{name}/{sub}` (or the cluster-scoped forms) into its parts.
 * `namespaces/{name}/status` is the Namespace's own subresource.
 */
export function parseResourcePath(group: string, version: string, raw: string[]): ResourceRequest {
  const segments = raw.filter((s) => s !== '').map(decodeSegment);
  let namespace: string | undefined;
  let rest = segments;
  const namespaceOwnSubresource = group === '' && ['status', 'finalize'].includes(segments[2]);
  if (segments[0] === 'namespaces' && segments.length >= 3 && !namespaceOwnSubresource) {
    namespace = segments[1];
    rest = segments.slice(2);
  }
  const [plural, name, subresource, ...extra] = rest;
  const resource: ResourceInfo | undefined = plural ? resourceByPlural(group, version, plural) : undefined;
  if (!resource || extra.length) throw errors.notFoundPath();
  if (namespace !== undefined && !resource.namespaced) throw errors.notFoundPath();
  if (subresource && !(resource.subresources ?? []).includes(subresource as 'status')) throw errors.notFoundPath();
  return { resource, namespace, name, subresource, qualified: qualifiedName(resource) };
}

/** The mesh CA's paths: nodes alone ask for workload certificates, each for its own pods. */
function meshRoutes(opts: ApiServerOptions): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.post(MESH_CERTIFICATES_PATH, async (c) => {
    const ca = opts.meshCa;
    if (!ca) throw errors.notFoundPath();
    const node = nodeNameOf(c.get('user'));
    if (!node) throw errors.forbidden(`workload certificates are issued to nodes only (system:node:<name> in system:nodes), not to "${c.get('user').username}"`);
    const body = (await c.req.json().catch(() => undefined)) as { csr?: unknown } | undefined;
    if (typeof body?.csr !== 'string') throw errors.badRequest('the body must be JSON {"csr": "<PEM CERTIFICATE REQUEST>"}');
    try {
      return c.json(await ca.issue(body.csr, node, (namespace, serviceAccount) => opts.auth.nodes.relates(node, 'serviceaccounts', namespace, serviceAccount)));
    } catch (e) {
      if (!(e instanceof MeshCaError)) throw e;
      throw e.status === 400 ? errors.badRequest(e.message) : errors.forbidden(e.message);
    }
  });
  app.get(MESH_BUNDLE_PATH, (c) => {
    if (!opts.meshCa) throw errors.notFoundPath();
    return c.json({ trustDomain: opts.meshCa.trustDomain, caBundle: opts.meshCa.bundle() });
  });
  return app;
}
