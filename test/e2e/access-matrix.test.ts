// Who may do what, cell by cell, against a real `tug control`: the admin, a user bound to `view`
// cluster-wide, a user bound to `edit` in one namespace, a node (system:node:<name>, with a pod
// that uses one Secret and one ConfigMap) and a ServiceAccount bound to a Role, over every verb of
// every kind the API serves. Each cell is one real request: an allowed one must succeed (200/201),
// a denied one must be a 403 Status. What is expected comes from Kubernetes' own default policy
// (plugin/pkg/auth/authorizer/rbac/bootstrappolicy: the system:aggregate-to-{view,edit,admin} and
// system:basic-user roles, and system:node with the Node authorizer and NodeRestriction), written
// out below as tables, not from tugboat's policy code. Where tugboat's node role is wider (it is
// also kube-proxy: it reads Endpoints and EndpointSlices; and it reads every node's Lease to know
// when all proxies have stopped routing to a pod), the table says so.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiClient } from '../../api/client.js';
import { isApiError } from '../../api/errors.js';
import { readKubeconfig, type Connection } from '../../api/kubeconfig.js';
import { apiVersionOf, resourceOfKind, RESOURCES, verbsOf, type ResourceInfo } from '../../api/resources.js';
import { createKeyAndCsr, loadCertificateAuthority, parseCsr, signCertificate } from '../../lib/pki.js';
import { needs } from '../requirements.js';
import { eventually, kubectlFor, startControl, tempDir, tug, type ControlProcess } from './harness.js';

const NS = 'team';
const OTHER_NS = 'elsewhere';
const NODE = 'm1';
const SUBJECTS = ['admin', 'viewer', 'editor', 'node', 'serviceaccount'] as const;
type Subject = (typeof SUBJECTS)[number];
const READ = ['get', 'list', 'watch'];

interface Cell {
  resource: ResourceInfo;
  verb: string;
  namespace?: string;
  /** The object a get/update/patch/delete names. */
  name?: string;
}

// ---- what Kubernetes' default policy allows ----

/** system:aggregate-to-view (what view grants), by plural. */
const VIEW_READS = new Set(['pods', 'services', 'endpoints', 'configmaps', 'serviceaccounts', 'events', 'namespaces', 'endpointslices', 'deployments', 'replicasets', 'networkpolicies', 'authorizationpolicies']);
/** system:aggregate-to-edit: create, update, patch, delete, deletecollection on these... */
const EDIT_WRITES = new Set(['pods', 'configmaps', 'events', 'secrets', 'serviceaccounts', 'services', 'deployments', 'replicasets', 'leases', 'networkpolicies', 'authorizationpolicies']);
/** ...and reading these besides what view reads. */
const EDIT_READS = new Set(['secrets', 'leases']);
/** system:basic-user, bound to system:authenticated. */
const SELF_REVIEWS = new Set(['selfsubjectaccessreviews', 'selfsubjectrulesreviews', 'selfsubjectreviews']);

function expected(subject: Subject, c: Cell): boolean {
  const r = c.resource.plural;
  if (subject === 'admin') return true;
  if (SELF_REVIEWS.has(r)) return true;
  switch (subject) {
    case 'viewer':
      return READ.includes(c.verb) && VIEW_READS.has(r);
    case 'editor': {
      // A RoleBinding in NS: its namespace only; a Namespace is "in" itself.
      const inNs = c.namespace === NS || (r === 'namespaces' && c.name === NS);
      if (!inNs) return false;
      if (READ.includes(c.verb)) return VIEW_READS.has(r) || EDIT_READS.has(r);
      return EDIT_WRITES.has(r);
    }
    case 'serviceaccount':
      // The Role bound to it: get/list/watch pods, get configmaps.
      return c.namespace === NS && ((r === 'pods' && READ.includes(c.verb)) || (r === 'configmaps' && c.verb === 'get'));
    case 'node':
      return nodeAllows(c);
  }
}

/** system:node with the Node authorizer and NodeRestriction, for objects that are not the node's own. */
function nodeAllows(c: Cell): boolean {
  const r = c.resource.plural;
  const reads = READ.includes(c.verb);
  if (r === 'secrets' || r === 'configmaps') return c.verb === 'get' && c.name === `used-${r}`;
  if (['services', 'nodes', 'pods'].includes(r)) return reads;
  // tugboat's node is also kube-proxy (system:node-proxier reads these).
  if (['endpoints', 'endpointslices'].includes(r)) return reads;
  // system:node gets Leases and writes only its own; tugboat's node also lists and watches them.
  if (r === 'leases') return reads;
  // NetworkPolicy is enforced by every node: it reads the policies and the namespaces they select.
  if (r === 'networkpolicies' || r === 'namespaces') return reads;
  // AuthorizationPolicy is enforced by every node's proxy.
  if (r === 'authorizationpolicies') return reads;
  if (r === 'events') return ['create', 'update', 'patch'].includes(c.verb);
  if (r === 'certificatesigningrequests') return ['create', ...READ].includes(c.verb);
  if (['tokenreviews', 'subjectaccessreviews', 'localsubjectaccessreviews'].includes(r)) return c.verb === 'create';
  return false;
}

/**
 * The object of `kind` a subject's delete cell names. Named after the kind too: deleting a Service
 * would take its Endpoints of the same name with it.
 */
function doomed(r: ResourceInfo, subject: Subject): string {
  return `${r.singular}-doomed-${subject}`;
}

// ---- bodies ----

const CONTAINERS = [{ name: 'c', image: 'local/echo:1' }];

function specOf(kind: string, name: string, csr: string, namespace = NS): Record<string, unknown> {
  const labels = { app: name };
  switch (kind) {
    case 'Pod':
      return { spec: { containers: CONTAINERS } };
    case 'Service':
      return { spec: { ports: [{ port: 80 }] } };
    case 'ConfigMap':
      return { data: { a: '1' } };
    case 'Secret':
      return { data: { a: 'MQ==' } };
    case 'Event':
      return { involvedObject: { kind: 'Pod', name: 'x', namespace }, reason: 'Matrix', message: 'a cell', type: 'Normal' };
    case 'Deployment':
    case 'ReplicaSet':
      return { spec: { replicas: 0, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: CONTAINERS } } } };
    case 'EndpointSlice':
      return { addressType: 'IPv4', endpoints: [] };
    case 'Lease':
      return { spec: { holderIdentity: 'matrix' } };
    case 'NetworkPolicy':
      return { spec: { podSelector: { matchLabels: labels } } };
    case 'AuthorizationPolicy':
      return { spec: { selector: { matchLabels: labels }, action: 'ALLOW', rules: [{}] } };
    case 'Role':
    case 'ClusterRole':
      return { rules: [] };
    case 'RoleBinding':
      return { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'empty' }, subjects: [] };
    case 'ClusterRoleBinding':
      return { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'matrix-empty' }, subjects: [] };
    case 'CertificateSigningRequest':
      return { spec: { request: Buffer.from(csr).toString('base64'), signerName: 'example.com/matrix', usages: ['digital signature'] } };
    case 'SelfSubjectAccessReview':
      return { spec: { resourceAttributes: { verb: 'get', resource: 'pods', namespace: NS } } };
    case 'SelfSubjectRulesReview':
      return { spec: { namespace: NS } };
    case 'SubjectAccessReview':
    case 'LocalSubjectAccessReview':
      return { spec: { user: 'someone', resourceAttributes: { verb: 'get', resource: 'pods', namespace } } };
    case 'TokenReview':
      return { spec: { token: 'not-a-token' } };
    default:
      return {};
  }
}

describe('the access matrix', { ...(await needs('kubectl')), concurrency: false }, () => {
  const cleanups: (() => unknown)[] = [];
  const scope = { after: (fn: () => unknown) => cleanups.push(fn) };
  const clients = new Map<Subject, ApiClient>();
  let control: ControlProcess;
  let admin: ApiClient;
  let csrPem = '';

  const object = (r: ResourceInfo, name: string, namespace?: string) => ({
    apiVersion: apiVersionOf(r),
    kind: r.kind,
    metadata: { name, ...(namespace ? { namespace } : {}) },
    ...specOf(r.kind, name, csrPem, namespace),
  });

  function pathOf(r: ResourceInfo, namespace?: string, name?: string): string {
    const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
    return `${base}${r.namespaced && namespace ? `/namespaces/${namespace}` : ''}/${r.plural}${name ? `/${name}` : ''}`;
  }

  async function create(r: ResourceInfo, name: string, namespace?: string): Promise<void> {
    await admin.request('POST', pathOf(r, namespace), { body: object(r, name, namespace) });
  }

  /** The HTTP status of one cell's request, made by `who`. */
  async function attempt(who: ApiClient, subject: Subject, c: Cell): Promise<number> {
    const { resource: r, verb, namespace } = c;
    const unique = `made-by-${subject}`;
    try {
      switch (verb) {
        case 'get':
          await who.request('GET', pathOf(r, namespace, c.name));
          return 200;
        case 'list':
          await who.request('GET', pathOf(r, namespace));
          return 200;
        case 'watch': {
          const res = await who.open('GET', pathOf(r, namespace), { query: { watch: '1', timeoutSeconds: 1 } });
          res.destroy();
          return res.statusCode ?? 0;
        }
        case 'create':
          await who.request('POST', pathOf(r, namespace), { body: object(r, r.virtual ? '' : unique, namespace) });
          return 201;
        case 'update': {
          const current = await admin.request<Record<string, any>>('GET', pathOf(r, namespace, c.name));
          current.metadata.labels = { ...(current.metadata.labels ?? {}), touched: subject };
          await who.request('PUT', pathOf(r, namespace, c.name), { body: current });
          return 200;
        }
        case 'patch':
          await who.request('PATCH', pathOf(r, namespace, c.name), { body: { metadata: { labels: { patched: subject } } }, contentType: 'application/merge-patch+json' });
          return 200;
        case 'delete':
          await who.request('DELETE', pathOf(r, namespace, c.name));
          return 200;
        case 'deletecollection':
          await who.request('DELETE', pathOf(r, namespace), { query: { labelSelector: 'matrix=none' } });
          return 200;
      }
      throw new Error(`no request for ${verb}`);
    } catch (e) {
      if (isApiError(e)) return e.code;
      throw e;
    }
  }

  /** Every cell for `subject`: each verb of each kind, in NS and in another namespace. */
  function cells(subject: Subject): Cell[] {
    const out: Cell[] = [];
    for (const r of RESOURCES) {
      for (const verb of r.virtual ? ['create'] : verbsOf(r)) {
        const name = ['get', 'update', 'patch'].includes(verb) ? (r.kind === 'Namespace' ? NS : 'target') : verb === 'delete' ? doomed(r, subject) : undefined;
        if (!r.namespaced) out.push({ resource: r, verb, name });
        else for (const namespace of [NS, OTHER_NS]) out.push({ resource: r, verb, namespace, name });
      }
    }
    if (subject === 'node') {
      for (const plural of ['secrets', 'configmaps']) out.push({ resource: RESOURCES.find((r) => r.plural === plural)!, verb: 'get', namespace: NS, name: `used-${plural}` });
    }
    return out;
  }

  before(async () => {
    const dir = tempDir(scope);
    control = await startControl(scope, dir);
    const conn = readKubeconfig(control.kubeconfig);
    admin = new ApiClient(conn);
    cleanups.push(() => admin.close());
    csrPem = (await createKeyAndCsr({ commonName: 'matrix' })).csrPem;
    await setUpObjects(conn, dir);
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  async function setUpObjects(conn: Connection, dir: string): Promise<void> {
    const namespaces = resourceOfKind('Namespace');
    for (const ns of [NS, OTHER_NS, ...SUBJECTS.map((s) => doomed(namespaces, s))]) await create(namespaces, ns);
    // Controllers make each namespace's default ServiceAccount, which pods need.
    await eventually(async () => {
      const sas = await Promise.all([NS, OTHER_NS].map((ns) => attempt(admin, 'admin', { resource: resourceOfKind('ServiceAccount'), verb: 'get', namespace: ns, name: 'default' })));
      return sas.every((s) => s === 200) ? true : undefined;
    });
    await create(resourceOfKind('Role'), 'empty', NS);
    await create(resourceOfKind('Role'), 'empty', OTHER_NS);
    await create(resourceOfKind('ClusterRole'), 'matrix-empty');
    for (const r of RESOURCES) {
      if (r.virtual || r.kind === 'Namespace') continue;
      for (const ns of r.namespaced ? [NS, OTHER_NS] : [undefined]) {
        await create(r, 'target', ns);
        for (const s of SUBJECTS) await create(r, doomed(r, s), ns);
      }
    }
    // The node and a pod on it that uses one Secret and one ConfigMap.
    await create(resourceOfKind('Node'), NODE);
    await create(resourceOfKind('Secret'), 'used-secrets', NS);
    await create(resourceOfKind('ConfigMap'), 'used-configmaps', NS);
    await admin.request('POST', pathOf(resourceOfKind('Pod'), NS), {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'on-m1', namespace: NS },
        spec: { nodeName: NODE, containers: [{ ...CONTAINERS[0], envFrom: [{ secretRef: { name: 'used-secrets' } }, { configMapRef: { name: 'used-configmaps' } }] }] },
      },
    });
    const ca = await loadCertificateAuthority(join(control.dataDir, 'pki'));
    const nodeKey = await createKeyAndCsr({ commonName: `system:node:${NODE}`, organizations: ['system:nodes'] });
    const nodeCert = await signCertificate(ca, await parseCsr(nodeKey.csrPem), { usages: ['digital signature', 'client auth'], durationMs: 3600_000 });
    const token = async (user: string) => (await tug({ HOME: dir, KUBECONFIG: control.kubeconfig }, ['token', 'create', '--user', user])).stdout.trim();
    const kubectl = kubectlFor(control, dir);
    for (const args of [
      ['create', 'clusterrolebinding', 'viewer-view', '--clusterrole=view', '--user=viewer'],
      ['create', 'rolebinding', 'editor-edit', '--clusterrole=edit', '--user=editor', '-n', NS],
      ['create', 'serviceaccount', 'reader', '-n', NS],
      ['create', 'role', 'reader', '--verb=get,list,watch', '--resource=pods', '-n', NS],
      ['create', 'role', 'cm-getter', '--verb=get', '--resource=configmaps', '-n', NS],
      ['create', 'rolebinding', 'reader-pods', '--role=reader', `--serviceaccount=${NS}:reader`, '-n', NS],
      ['create', 'rolebinding', 'reader-cms', '--role=cm-getter', `--serviceaccount=${NS}:reader`, '-n', NS],
    ]) {
      const r = await kubectl(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    const saToken = (await kubectl(['create', 'token', 'reader', '-n', NS])).stdout.trim();
    const make = (creds: Partial<Connection>) => {
      const c = new ApiClient({ server: conn.server, caCert: conn.caCert, ...creds });
      cleanups.push(() => c.close());
      return c;
    };
    clients.set('admin', admin);
    clients.set('viewer', make({ token: await token('viewer') }));
    clients.set('editor', make({ token: await token('editor') }));
    clients.set('node', make({ clientCert: nodeCert, clientKey: nodeKey.keyPem }));
    clients.set('serviceaccount', make({ token: saToken }));
  }

  for (const subject of SUBJECTS) {
    it(`${subject}: every allowed cell succeeds, every denied cell is 403`, async (t) => {
      const who = clients.get(subject)!;
      const wrong: string[] = [];
      let allowed = 0;
      const all = cells(subject);
      for (const c of all) {
        const want = expected(subject, c);
        const got = await attempt(who, subject, c);
        if (want) allowed++;
        const ok = want ? got >= 200 && got < 300 : got === 403;
        if (!ok) wrong.push(`${c.verb} ${c.resource.plural}${c.namespace ? ` in ${c.namespace}` : ''}${c.name ? ` (${c.name})` : ''}: ${got}, expected ${want ? 'success' : '403'}`);
      }
      t.diagnostic(`${all.length} cells, ${allowed} allowed, ${all.length - allowed} denied`);
      assert.deepEqual(wrong, []);
    });
  }
});
