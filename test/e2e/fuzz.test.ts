// Mutated API requests against a real `tug control`: bodies (JSON, YAML, Kubernetes protobuf as
// kubectl sends it, patches of every type), content types, methods, paths and queries, each taken
// from a valid request and broken at random. Every answer must be a Kubernetes Status below 500
// (or a success, where the mutation left the request valid), the server must stay up, and what
// it stored must be valid (each object is taken back unchanged on an update) and the objects
// stored before, in another namespace, untouched. TUG_FUZZ_REQUESTS sets the count (default
// 100,000); TUG_FUZZ_SEED picks the run (a number, or `random`; by default one fixed seed, so the
// suite asks the same questions every time).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiClient } from '../../api/client.js';
import { readKubeconfig, type Connection } from '../../api/kubeconfig.js';
import type { KubeObject } from '../../api/types.js';
import { KUBECTL_PROTOBUF } from '../kubectl-protobuf.js';
import { needs } from '../requirements.js';
import { startControl, tempDir, type ControlProcess } from './harness.js';

const NS = 'fuzz';
const KEEP = 'keep';
const COUNT = Number(process.env.TUG_FUZZ_REQUESTS ?? 100_000);
const SEED = !process.env.TUG_FUZZ_SEED ? 20261207 : process.env.TUG_FUZZ_SEED === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.TUG_FUZZ_SEED);
const ROUNDS = 10;
const CONCURRENCY = 16;

interface Req {
  method: string;
  path: string;
  contentType?: string;
  body?: Buffer;
}

/** mulberry32: a small PRNG, so a seed replays a run exactly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const cm = (name: string, data: Record<string, string> = { a: '1' }) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NS, labels: { fuzz: 'yes' } }, data });
const deployment = (name: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: NS },
  spec: { replicas: 0, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'local/echo:1', ports: [{ containerPort: 80 }] }] } } },
});
const core = (p: string) => `/api/v1/namespaces/${NS}/${p}`;

/** Valid requests, the seeds every mutation starts from. */
function seeds(): Req[] {
  const yaml = Buffer.from(`apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\n  namespace: ${NS}\n  labels: {fuzz: "yes"}\ndata:\n  key: |\n    multi\n    line\n`);
  const pb = (name: string) => Buffer.from(KUBECTL_PROTOBUF[name], 'hex');
  return [
    { method: 'POST', path: core('configmaps'), contentType: 'application/json', body: json(cm('seed-json')) },
    { method: 'POST', path: core('configmaps'), contentType: 'application/json', body: json({ ...cm(''), metadata: { generateName: 'gen-', namespace: NS, labels: { fuzz: 'yes' } } }) },
    { method: 'POST', path: core('configmaps'), contentType: 'application/yaml', body: yaml },
    { method: 'POST', path: core('configmaps'), contentType: 'application/vnd.kubernetes.protobuf', body: pb('configmap') },
    { method: 'POST', path: core('secrets'), contentType: 'application/vnd.kubernetes.protobuf', body: pb('secret') },
    { method: 'POST', path: `/apis/apps/v1/namespaces/${NS}/deployments`, contentType: 'application/vnd.kubernetes.protobuf', body: pb('deployment') },
    { method: 'POST', path: core('services'), contentType: 'application/vnd.kubernetes.protobuf', body: pb('serviceClusterIP') },
    { method: 'POST', path: `/apis/apps/v1/namespaces/${NS}/deployments`, contentType: 'application/json', body: json(deployment('seed-deploy')) },
    { method: 'POST', path: core('secrets'), contentType: 'application/json', body: json({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'seed-secret', namespace: NS }, stringData: { password: 'p' }, type: 'Opaque' }) },
    { method: 'POST', path: core('services'), contentType: 'application/json', body: json({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'seed-svc', namespace: NS }, spec: { selector: { app: 'x' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } }) },
    { method: 'PUT', path: core('configmaps/base'), contentType: 'application/json', body: json(cm('base', { b: '2' })) },
    { method: 'PATCH', path: core('configmaps/base'), contentType: 'application/merge-patch+json', body: json({ data: { c: '3' } }) },
    { method: 'PATCH', path: core('configmaps/base'), contentType: 'application/strategic-merge-patch+json', body: json({ metadata: { labels: { x: 'y' } } }) },
    { method: 'PATCH', path: core('configmaps/base'), contentType: 'application/json-patch+json', body: json([{ op: 'add', path: '/data/d', value: '4' }, { op: 'test', path: '/metadata/name', value: 'base' }]) },
    { method: 'PATCH', path: `${core('configmaps/base')}?fieldManager=fuzz&force=true`, contentType: 'application/apply-patch+yaml', body: Buffer.from(`apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: base\ndata:\n  e: "5"\n`) },
    { method: 'PATCH', path: `/apis/apps/v1/namespaces/${NS}/deployments/seed-deploy/scale`, contentType: 'application/merge-patch+json', body: json({ spec: { replicas: 0 } }) },
    { method: 'GET', path: `${core('configmaps')}?labelSelector=fuzz%3Dyes,app+in+(a,b)&fieldSelector=metadata.name!%3Dx&limit=5` },
    { method: 'GET', path: `${core('pods')}?fieldSelector=spec.nodeName%3Dn1,status.phase%3DRunning&resourceVersion=0` },
    { method: 'GET', path: '/apis/apps/v1/deployments?limit=2&continue=abc' },
    { method: 'DELETE', path: `${core('configmaps')}?labelSelector=fuzz%3Dnever` },
    { method: 'DELETE', path: core('configmaps/gone'), contentType: 'application/json', body: json({ kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Foreground', preconditions: { uid: 'x' } }) },
    { method: 'POST', path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', contentType: 'application/json', body: json({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'get', resource: 'pods', namespace: NS } } }) },
    { method: 'GET', path: `${core('pods')}/x/log?container=c&tailLines=5` },
  ];
}

const TOKENS = ['null', '{}', '[]', '""', '-1', '1e309', '0.5', '"\\u0000"', '"__proto__"', '{"__proto__":{"x":1}}', 'true', '"a'.repeat(40), '9007199254740993', '"\\ud800"'];
const TYPES = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf', 'application/json; charset=utf-16', 'text/plain', '', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/merge-patch+json', 'application/json-patch+json', 'application/apply-patch+yaml', 'application/strategic-merge-patch+json', '*/*', 'application/json;;', 'application/\u00e9'];
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND'];
const PATH_BITS = ['..', '%2e%2e', '%2F', '//', '%00', '%ZZ', '~', '\u00e9', ':', '?', '#', ';', '&', '=', '*', 'x'.repeat(300), 'status', 'scale', 'namespaces', 'kube-system', KEEP, 'watch=1&timeoutSeconds=1', 'timeoutSeconds=-1', 'limit=-5', 'continue=%FF', 'labelSelector=a%20in%20(', 'fieldSelector=%3D%3D', 'dryRun=All', 'propagationPolicy=Bogus', 'gracePeriodSeconds=-9'];

/** One mutation of `seed`. */
function mutate(seed: Req, rand: () => number): Req {
  const pick = <T>(list: readonly T[]) => list[Math.floor(rand() * list.length)];
  const out: Req = { ...seed };
  const kinds = 1 + Math.floor(rand() * 2);
  for (let k = 0; k < kinds; k++) {
    const what = rand();
    if (what < 0.55 && out.body) out.body = mutateBody(out.body, rand, pick);
    else if (what < 0.7) out.contentType = pick(TYPES);
    else if (what < 0.78) out.method = pick(METHODS);
    else out.path = mutatePath(out.path, rand, pick);
  }
  return out;
}

function mutateBody(body: Buffer, rand: () => number, pick: <T>(l: readonly T[]) => T): Buffer {
  const at = Math.floor(rand() * body.length);
  const op = rand();
  if (op < 0.25) {
    const copy = Buffer.from(body);
    for (let i = 0; i < 1 + Math.floor(rand() * 8); i++) copy[Math.floor(rand() * copy.length)] ^= 1 << Math.floor(rand() * 8);
    return copy;
  }
  if (op < 0.4) return body.subarray(0, at);
  if (op < 0.55) return Buffer.concat([body.subarray(0, at), Buffer.from(pick(TOKENS)), body.subarray(at)]);
  if (op < 0.65) return Buffer.concat([body.subarray(0, at), body.subarray(at + Math.floor(rand() * 32))]);
  if (op < 0.75) return Buffer.concat([body.subarray(0, at), body.subarray(Math.floor(rand() * body.length)), body.subarray(at)]);
  if (op < 0.85) return Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)));
  return replaceJsonValue(body, rand, pick);
}

/** A JSON body with one value, somewhere in it, replaced by one of TOKENS; other bodies as they are. */
function replaceJsonValue(body: Buffer, rand: () => number, pick: <T>(l: readonly T[]) => T): Buffer {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return body;
  }
  let node = value as Record<string, unknown>;
  for (let depth = 0; depth < 6; depth++) {
    if (node === null || typeof node !== 'object') break;
    const keys = Object.keys(node);
    if (!keys.length) break;
    const key = pick(keys);
    if (rand() < 0.4 || typeof node[key] !== 'object' || node[key] === null) {
      node[key] = JSON.parse(pick(TOKENS).replace(/^"a(?:"a)*$/, '"aaaa"'));
      break;
    }
    node = node[key] as Record<string, unknown>;
  }
  return json(value);
}

function mutatePath(path: string, rand: () => number, pick: <T>(l: readonly T[]) => T): string {
  const at = Math.floor(rand() * (path.length + 1));
  const op = rand();
  if (op < 0.4) return path.slice(0, at) + pick(PATH_BITS) + path.slice(at);
  if (op < 0.6) return path.slice(0, at) + path.slice(at + 1 + Math.floor(rand() * 8));
  if (op < 0.8) return `${path}${path.includes('?') ? '&' : '?'}${pick(PATH_BITS)}`;
  return path.replace(/[a-z]/, pick(['A', '%61', '\u0430', '_']));
}

describe('fuzzing the API', { ...(await needs('kubectl')), concurrency: false, timeout: 900_000 }, () => {
  const cleanups: (() => unknown)[] = [];
  const scope = { after: (fn: () => unknown) => cleanups.push(fn) };
  let control: ControlProcess;
  let conn: Connection;
  let admin: ApiClient;
  let kept: KubeObject[] = [];
  let auditLog = '';

  /** The requests the audit log shows writing in KEEP, for the message when KEEP changed. */
  function writesInKeep(): string {
    const lines = readFileSync(auditLog, 'utf8').split('\n').filter(Boolean);
    const events = lines.map((l) => JSON.parse(l) as { verb: string; requestURI: string; objectRef?: { namespace?: string }; responseStatus?: { code?: number } });
    const writes = events.filter((e) => ['delete', 'deletecollection', 'update', 'patch'].includes(e.verb) && (e.objectRef?.namespace === KEEP || !e.objectRef?.namespace) && (e.responseStatus?.code ?? 0) < 300);
    return writes.map((e) => `${e.verb} ${e.requestURI} → ${e.responseStatus?.code}`).slice(0, 20).join('\n');
  }

  before(async () => {
    const dir = tempDir(scope);
    auditLog = join(dir, 'audit.log');
    control = await startControl(scope, dir, ['--controllers', 'none', '--audit-log-path', auditLog]);
    conn = readKubeconfig(control.kubeconfig);
    admin = new ApiClient(conn);
    cleanups.push(() => admin.close());
    for (const ns of [NS, KEEP]) await admin.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
    await admin.request('POST', core('configmaps'), { body: cm('base') });
    await admin.request('POST', `/api/v1/namespaces/${KEEP}/configmaps`, { body: { ...cm('precious'), metadata: { name: 'precious', namespace: KEEP } } });
    await admin.request('POST', `/api/v1/namespaces/${KEEP}/secrets`, { body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'precious', namespace: KEEP }, data: { k: 'dg==' } } });
    kept = await Promise.all(['configmaps', 'secrets'].map((p) => admin.request<KubeObject>('GET', `/api/v1/namespaces/${KEEP}/${p}/precious`)));
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  it(`answers ${COUNT.toLocaleString('en')} mutated requests below 500, stays up, keeps what was stored before, and stores nothing invalid`, async (t) => {
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY, ca: conn.caCert });
    t.after(() => agent.destroy());
    const rand = prng(SEED);
    const base = seeds();
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    let next = 0;
    /**
     * The answer's status; 0 when Node refuses to send the request; -1 with the error when no
     * answer came. A kept-alive connection the server closed just as it was reused (the race every
     * HTTP client retries) is retried once on a new connection.
     */
    const send = (req: Req, fresh = false): Promise<{ code: number; error?: string }> =>
      new Promise((resolve) => {
        const url = new URL(conn.server);
        const fail = (e: NodeJS.ErrnoException) => {
          if (!fresh && r?.reusedSocket && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) resolve(send(req, true));
          else resolve({ code: -1, error: e.code ?? e.message });
        };
        const headers = { authorization: `Bearer ${conn.token}`, ...(req.contentType !== undefined ? { 'content-type': req.contentType } : {}) };
        let r: ReturnType<typeof request> | undefined;
        try {
          const via = fresh ? { agent: false as const, ca: conn.caCert } : { agent };
          r = request({ host: url.hostname, port: url.port, method: req.method, path: req.path, ...via, headers, timeout: 30_000 }, (res) => {
            // A watch that was taken goes on for half an hour: its status is the answer.
            if (res.statusCode === 200 && /[?&]watch=(1|true)(&|$)/.test(req.path)) {
              resolve({ code: 200 });
              res.destroy();
              return;
            }
            res.resume();
            res.on('end', () => resolve({ code: res.statusCode ?? 0 }));
            res.on('error', fail);
          });
        } catch {
          // Node itself refuses to send it (a character not allowed in a path or header): nothing reached the server.
          return resolve({ code: 0 });
        }
        r.on('timeout', () => r!.destroy(new Error('no answer in 30 s')));
        r.on('error', fail);
        r.end(req.body);
      });
    const worker = async (end: number) => {
      while (next < end) {
        const n = next++;
        const req = n % 10 === 0 ? base[n % base.length] : mutate(base[Math.floor(rand() * base.length)], rand);
        // The one request that would take every later one's target away, and which is valid.
        if (req.method === 'DELETE' && /\/namespaces\/fuzz\/?(\?|$)/.test(req.path)) continue;
        const { code, error } = await send(req);
        statuses.set(code, (statuses.get(code) ?? 0) + 1);
        if ((code >= 500 || code === -1) && failures.length < 20) failures.push(`${error ?? code} ${req.method} ${req.path} ${req.contentType ?? '-'} ${req.body?.toString('base64').slice(0, 200) ?? ''}`);
      }
    };
    // In rounds, checking what is stored after each: a later request may delete what an earlier one stored.
    let checked = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const end = Math.round((COUNT * round) / ROUNDS);
      await Promise.all(Array.from({ length: CONCURRENCY }, () => worker(end)));
      checked += await checkValid();
    }
    t.diagnostic(`seed ${SEED}: ${[...statuses].sort(([a], [b]) => a - b).map(([code, n]) => `${code}×${n}`).join(' ')}; ${checked} stored objects taken back unchanged over ${ROUNDS} rounds`);
    const errors = control.output().split('\n').filter((l) => /Error/.test(l)).slice(0, 10).join('\n');
    assert.deepEqual(failures, [], `replay with TUG_FUZZ_SEED=${SEED}; control said:\n${errors}`);
    assert.equal(control.child.exitCode, null, control.output());
    assert.equal((await admin.request<string>('GET', '/healthz')) !== undefined, true);
    assert.ok(checked > 0, 'objects were stored in the namespace the requests wrote to');
    await checkKept();
  });

  /** How many objects are stored in NS, each valid: the server takes it back unchanged on an update. */
  async function checkValid(): Promise<number> {
    let checked = 0;
    for (const path of [`/api/v1/namespaces/${NS}/configmaps`, `/api/v1/namespaces/${NS}/secrets`, `/api/v1/namespaces/${NS}/services`, `/apis/apps/v1/namespaces/${NS}/deployments`]) {
      const list = await admin.request<{ items: KubeObject[] }>('GET', path);
      for (const item of list.items) {
        const self = `${path}/${encodeURIComponent(item.metadata.name!)}`;
        await admin.request('PUT', `${self}?dryRun=All`, { body: item }).catch((e) => assert.fail(`${self} as stored is refused on update: ${(e as Error).message}`));
        checked++;
      }
    }
    return checked;
  }

  /** The objects stored in KEEP before are there, unchanged, and nothing else is. */
  async function checkKept(): Promise<void> {
    const now = await Promise.all(['configmaps', 'secrets'].map((p) => admin.request<KubeObject>('GET', `/api/v1/namespaces/${KEEP}/${p}/precious`).catch(() => undefined)));
    assert.deepEqual(now, kept, `successful changes in ${KEEP} or across namespaces:\n${writesInKeep()}`);
    const keepLists = await Promise.all(['configmaps', 'secrets', 'services', 'pods'].map((p) => admin.request<{ items: KubeObject[] }>('GET', `/api/v1/namespaces/${KEEP}/${p}`)));
    assert.deepEqual(keepLists.flatMap((l) => l.items.map((o) => o.metadata.name)).sort(), ['precious', 'precious']);
  }
});
