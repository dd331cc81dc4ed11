// The node's workload certificates against a real mesh CA (in this process, behind a stand-in for
// the API client), on a clock the test moves: asked for when a pod needs an identity, renewed half
// way to the end, taken up again after a restart, dropped when unused, retried when refused.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ApiClient } from '../../api/client.js';
import type { Pod } from '../../api/types.js';
import { MeshCa, MeshCaError } from '../../control/mesh/ca.js';
import { MESH_BUNDLE_PATH } from '../../lib/spiffe.js';
import { WorkloadCertificates } from './certificates.js';

const HOUR = 3600_000;
const pod = (name: string, serviceAccountName?: string): Pod => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'shop', uid: name }, spec: { nodeName: 'n1', serviceAccountName, containers: [] }, status: { phase: 'Running' } }) as Pod;

async function until(check: () => boolean, what: string | (() => string)): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), `timed out waiting for ${typeof what === 'string' ? what : what()}`);
}

describe('WorkloadCertificates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tug-workload-certs-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function setup(name: string) {
    const ca = await MeshCa.open(join(dir, name, 'ca'), 'cluster.local', 24 * HOUR);
    const state = { now: Date.now(), pods: [] as Pod[], requests: 0, refuse: false, logs: [] as string[] };
    const client = {
      async request(method: string, path: string, opts?: { body?: { csr: string } }) {
        if (method === 'GET' && path === MESH_BUNDLE_PATH) return { trustDomain: ca.trustDomain, caBundle: ca.bundle() };
        state.requests++;
        const runsAs = (ns: string, sa: string) => !state.refuse && state.pods.some((p) => p.metadata.namespace === ns && (p.spec.serviceAccountName ?? 'default') === sa);
        try {
          return await ca.issue(opts!.body!.csr, 'n1', runsAs, new Date(state.now));
        } catch (e) {
          throw e instanceof MeshCaError ? new Error(`${e.status}: ${e.message}`) : e;
        }
      },
    } as unknown as ApiClient;
    const make = () => new WorkloadCertificates({ client, pods: () => state.pods, dir: join(dir, name, 'node'), log: (m) => state.logs.push(m), now: () => state.now });
    return { state, make };
  }

  it('asks when a pod needs an identity, renews half way to the end, and drops it when no pod runs as it', async () => {
    const { state, make } = await setup('life');
    const certs = make();
    state.pods = [pod('web-1'), pod('web-2'), pod('api', 'api')];
    certs.start();
    await until(() => certs.identities().length === 2, 'both identities');
    assert.deepEqual(certs.identities(), ['spiffe://cluster.local/ns/shop/sa/api', 'spiffe://cluster.local/ns/shop/sa/default']);
    assert.equal(state.requests, 2, 'one request per identity, not per pod');
    const first = certs.get('spiffe://cluster.local/ns/shop/sa/default')!;

    state.now += 11 * HOUR;
    certs.changed();
    await until(() => state.requests === 2, 'nothing to renew yet');
    assert.equal(certs.get('spiffe://cluster.local/ns/shop/sa/default'), first);

    state.now += 2 * HOUR; // past half of 24 h
    certs.changed();
    await until(() => certs.get('spiffe://cluster.local/ns/shop/sa/default') !== first, () => `the renewal (${state.requests} requests; ${state.logs.join(' ')})`);
    await until(() => state.requests === 4, 'both renewed');
    assert.notEqual(certs.get('spiffe://cluster.local/ns/shop/sa/default')!.keyPem, first.keyPem, 'with a new key');

    state.pods = [pod('web-1')];
    certs.changed();
    await until(() => certs.identities().length === 1, 'the api identity dropped');
    assert.deepEqual(readdirSync(join(dir, 'life', 'node')).sort(), ['cluster.local_ns_shop_sa_default.crt', 'cluster.local_ns_shop_sa_default.key']);
    await certs.stop();
  });

  it('takes up the certificates kept before a restart without asking again', async () => {
    const { state, make } = await setup('restart');
    state.pods = [pod('web-1')];
    const first = make();
    first.start();
    await until(() => first.identities().length === 1, 'the identity');
    await first.stop();
    const again = make();
    again.start();
    await until(() => again.identities().length === 1, 'the kept identity');
    assert.equal(state.requests, 1);
    assert.equal(again.get('spiffe://cluster.local/ns/shop/sa/default')!.certPem, first.get('spiffe://cluster.local/ns/shop/sa/default')!.certPem);
    await again.stop();
  });

  it('says why a request was refused and asks again', async () => {
    const { state, make } = await setup('refused');
    state.pods = [pod('web-1')];
    state.refuse = true;
    const certs = make();
    certs.start();
    await until(() => state.logs.length > 0, 'the refusal said');
    assert.match(state.logs[0], /cannot get the certificate of spiffe:\/\/cluster\.local\/ns\/shop\/sa\/default \(trying again in 2 s\): 403: node "n1" runs no pod/);
    assert.equal(existsSync(join(dir, 'refused', 'node', 'cluster.local_ns_shop_sa_default.crt')), false);
    state.refuse = false;
    await until(() => certs.identities().length === 1, 'the retry to succeed');
    await certs.stop();
  });
});
