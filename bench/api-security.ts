// What access control costs the API server: authorizing one request with 1,000 RoleBindings in
// place (in-process, per decision, and as a share of the CPU a real `tug control` spends per
// request), and requests/s with the audit log at Metadata against none, measured in one run.
//
//   node dist/bench/api-security.js [--requests 4000] [--concurrency 16] [--bindings 1000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiClient } from '../api/client.js';
import { readKubeconfig } from '../api/kubeconfig.js';
import { resourceOfKind } from '../api/resources.js';
import { requestAttributes } from '../control/auth/attributes.js';
import { startClusterAuth } from '../control/auth/cluster-auth.js';
import { Registry } from '../control/index.js';
import { createMemoryStore } from '../control/store/index.js';
import { newUserTokenSecret } from '../control/tokens.js';
import { cpuSeconds, pool, startTugControl, table } from './harness.js';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '4000' }, concurrency: { type: 'string', default: '16' }, bindings: { type: 'string', default: '1000' } } });
const REQUESTS = Number(values.requests);
const CONCURRENCY = Number(values.concurrency);
const BINDINGS = Number(values.bindings);
const RBAC = resourceOfKind('RoleBinding');
const NAMESPACE = resourceOfKind('Namespace');
const SECRET = resourceOfKind('Secret');
const POD = resourceOfKind('Pod');

function binding(ns: string, name: string, user: string) {
  return { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name, namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: user }] };
}

/** 1,000 RoleBindings over 100 namespaces, each for its own user, and `jane` bound in ns-7. */
async function populate(create: (r: typeof RBAC, ns: string | undefined, obj: object) => Promise<unknown>): Promise<void> {
  for (let n = 0; n < 100; n++) await create(NAMESPACE, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${n}` } });
  for (let i = 0; i < BINDINGS; i++) await create(RBAC, `ns-${i % 100}`, binding(`ns-${i % 100}`, `b-${i}`, `user-${i}`));
  await create(RBAC, 'ns-7', binding('ns-7', 'jane', 'jane'));
}

/** Microseconds per authorization decision, in-process, for a bound user and for one with no binding. */
async function decisionCost(): Promise<{ bound: number; unbound: number }> {
  const registry = new Registry(createMemoryStore());
  await registry.start();
  const auth = await startClusterAuth(registry, { adminToken: 'bench', log: () => undefined });
  try {
    await populate((r, ns, obj) => registry.create(r, ns, obj as never));
    await new Promise((r) => setTimeout(r, 200));
    const attrs = requestAttributes('GET', new URL('https://x/api/v1/namespaces/ns-7/pods'));
    const time = (user: { username: string; groups: string[] }) => {
      const n = 200_000;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) auth.authorizer.authorize(user, attrs);
      return Number(process.hrtime.bigint() - t0) / 1000 / n;
    };
    const jane = { username: 'jane', groups: ['developers', 'system:authenticated'] };
    if (!auth.authorizer.authorize(jane, attrs).allowed) throw new Error('jane should be allowed');
    return { bound: time(jane), unbound: time({ username: 'nobody', groups: ['system:authenticated'] }) };
  } finally {
    await auth.stop();
    await registry.close();
  }
}

async function startControl(dir: string, extra: string[]) {
  const { child, kubeconfig } = await startTugControl(dir, ['--store', 'memory', '--controllers', 'none', ...extra]);
  return { child, conn: readKubeconfig(kubeconfig) };
}

/** Requests/s and control CPU µs per request for REQUESTS GETs of a pod list, as `token`. */
async function load(pid: number, conn: ReturnType<typeof readKubeconfig>, token: string): Promise<{ perSec: number; cpuUs: number }> {
  const client = new ApiClient({ ...conn, token });
  try {
    await pool(200, CONCURRENCY, () => client.list(POD, 'ns-7'));
    const cpu0 = cpuSeconds(pid);
    const secs = await pool(REQUESTS, CONCURRENCY, () => client.list(POD, 'ns-7'));
    return { perSec: REQUESTS / secs, cpuUs: ((cpuSeconds(pid) - cpu0) * 1e6) / REQUESTS };
  } finally {
    client.close();
  }
}

async function measureServer(extra: string[]): Promise<{ admin: { perSec: number; cpuUs: number }; jane: { perSec: number; cpuUs: number } }> {
  const dir = mkdtempSync(join(tmpdir(), 'tug-bench-sec-'));
  const { child, conn } = await startControl(dir, extra);
  const admin = new ApiClient(conn);
  try {
    await populate((r, ns, obj) => admin.create(r, ns, obj as never));
    const { token, secret } = newUserTokenSecret('jane', []);
    await admin.create(SECRET, 'kube-system', secret);
    // Alternate who goes first, so neither always runs on a cooler process.
    const a1 = await load(child.pid!, conn, conn.token!);
    const j1 = await load(child.pid!, conn, token);
    const j2 = await load(child.pid!, conn, token);
    const a2 = await load(child.pid!, conn, conn.token!);
    const avg = (x: { perSec: number; cpuUs: number }, y: typeof x) => ({ perSec: (x.perSec + y.perSec) / 2, cpuUs: (x.cpuUs + y.cpuUs) / 2 });
    return { admin: avg(a1, a2), jane: avg(j1, j2) };
  } finally {
    admin.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

const decision = await decisionCost();
const plain = await measureServer([]);
const auditDir = mkdtempSync(join(tmpdir(), 'tug-bench-audit-'));
const audited = await measureServer(['--audit-log-path', join(auditDir, 'audit.log')]);
rmSync(auditDir, { recursive: true, force: true });

console.log(`\nAccess control, ${BINDINGS} RoleBindings over 100 namespaces, ${REQUESTS} pod lists per run, ${CONCURRENCY} in flight, HTTPS on loopback\n`);
console.log(
  table(
    ['measure', 'value'],
    [
      ['one RBAC decision, user with a binding', `${decision.bound.toFixed(2)} µs`],
      ['one RBAC decision, user with none', `${decision.unbound.toFixed(2)} µs`],
      ['control CPU per request, admin (no RBAC lookup)', `${plain.admin.cpuUs.toFixed(0)} µs`],
      ['control CPU per request, RBAC-bound user', `${plain.jane.cpuUs.toFixed(0)} µs`],
      ['authorization share of request CPU', `${((decision.bound / plain.jane.cpuUs) * 100).toFixed(2)} % (target ≤ 5 %)`],
      ['requests/s, no audit log', plain.admin.perSec.toFixed(0)],
      ['requests/s, audit log at Metadata', audited.admin.perSec.toFixed(0)],
      ['audit log at Metadata / none', `${(audited.admin.perSec / plain.admin.perSec).toFixed(2)}×`],
    ],
  ),
);
