// Workload identity: a node holds one certificate per ServiceAccount its pods run as, signed by
// control's mesh CA with the SPIFFE ID as its only name, the key made on the node; control signs
// for a node only the identities of its own pods, and for nobody else.
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiClient } from '../../api/client.js';
import { isApiError } from '../../api/errors.js';
import { readKubeconfig, type Connection } from '../../api/kubeconfig.js';
import { certificateInfo, createKeyAndCsr, issuedBy } from '../../lib/pki.js';
import { MESH_BUNDLE_PATH, MESH_CERTIFICATES_PATH } from '../../lib/spiffe.js';
import { needs } from '../requirements.js';
import { NodeCluster } from './node-support.js';

const NODE = 'mesh-a';
const DEFAULT_ID = 'spiffe://cluster.local/ns/default/sa/default';
const LISTER_ID = 'spiffe://cluster.local/ns/default/sa/lister';

describe('workload identities from the mesh CA', { ...(await needs('kubectl')), concurrency: false }, () => {
  const cluster = new NodeCluster();
  const clients: ApiClient[] = [];
  let marker = '';

  function client(creds: Partial<Connection>): ApiClient {
    const c = new ApiClient({ ...readKubeconfig(cluster.control.kubeconfig), ...creds });
    clients.push(c);
    return c;
  }
  const nodeFile = (...path: string[]) => join(cluster.stateDir(NODE), ...path);
  /** The node's own credentials, as it talks to control. */
  const asNode = () => client({ token: undefined, clientCert: readFileSync(nodeFile('pki', 'node-client.crt'), 'utf8'), clientKey: readFileSync(nodeFile('pki', 'node-client.key'), 'utf8') });
  const sleeper = (name: string, serviceAccountName?: string) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { nodeName: NODE, ...(serviceAccountName ? { serviceAccountName } : {}), terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'x', command: ['/bin/sh', '-c', 'sleep 3600; :', marker] }] },
  });
  /** The identities whose certificate the node keeps, by the SPIFFE ID in each. */
  const kept = () => {
    const dir = nodeFile('mesh');
    if (!existsSync(dir)) return new Map<string, string>();
    return new Map(readdirSync(dir).filter((f) => f.endsWith('.crt')).map((f) => [certificateInfo(readFileSync(join(dir, f), 'utf8')).uris![0], join(dir, f)]));
  };
  async function status(request: Promise<unknown>): Promise<{ code: number; message: string }> {
    try {
      await request;
      return { code: 200, message: '' };
    } catch (e) {
      if (!isApiError(e)) throw e;
      return { code: e.code, message: e.message };
    }
  }

  before(async () => {
    await cluster.start(['--mesh-cert-ttl', '2h']);
    marker = cluster.marker('mesh');
    await cluster.startNode({ name: NODE, portRange: '26300-26349' });
    assert.equal((await cluster.kubectl(['create', 'serviceaccount', 'lister'])).code, 0);
  });
  after(async () => {
    for (const c of clients) c.close();
    await cluster.cleanup();
  });

  it("holds a certificate per ServiceAccount of its pods: the SPIFFE ID its only name, the mesh CA's, its key kept on the node", async () => {
    await cluster.apply(sleeper('plain'));
    await cluster.apply(sleeper('plain-2'));
    await cluster.apply(sleeper('lister', 'lister'));
    const certs = await cluster.waitFor('certificates for both identities', async () => {
      const now = kept();
      return now.size === 2 ? now : undefined;
    });
    assert.deepEqual([...certs.keys()].sort(), [DEFAULT_ID, LISTER_ID]);
    const meshCa = readFileSync(join(cluster.control.dataDir, 'pki', 'mesh', 'ca.crt'), 'utf8');
    const clusterCa = readKubeconfig(cluster.control.kubeconfig).caCert!;
    const bundle = await client({}).request<{ trustDomain: string; caBundle: string }>('GET', MESH_BUNDLE_PATH);
    assert.deepEqual(bundle, { trustDomain: 'cluster.local', caBundle: meshCa });
    for (const [id, file] of certs) {
      const pem = readFileSync(file, 'utf8');
      assert.ok(await issuedBy(pem, meshCa), `${id}: signed by the mesh CA`);
      assert.equal(await issuedBy(pem, clusterCa), false, `${id}: not by the cluster CA`);
      const info = certificateInfo(pem);
      assert.deepEqual([info.uris, info.dnsNames, info.ips], [[id], [], []]);
      const hours = (info.notAfter.getTime() - Date.now()) / 3600_000;
      assert.ok(hours > 1.9 && hours <= 2, `${id}: the lifetime control was given (${hours.toFixed(2)} h left)`);
      const keyFile = file.replace(/\.crt$/, '.key');
      assert.equal(statSync(keyFile).mode & 0o777, 0o600);
      assert.ok(new X509Certificate(pem).checkPrivateKey(createPrivateKey(readFileSync(keyFile, 'utf8'))), `${id}: for the key beside it`);
    }
    // Each identity's end, on the node's /metrics.
    const port = Number(/metrics on port (\d+)/.exec(cluster.nodes.get(NODE)!.output())?.[1]);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    const text = await res.text();
    for (const [id, file] of certs) {
      const end = Math.floor(certificateInfo(readFileSync(file, 'utf8')).notAfter.getTime() / 1000);
      assert.match(text, new RegExp(`^tug_mesh_certificate_expiry_timestamp_seconds\\{identity="${id.replace(/[./]/g, '\\$&')}",node="${NODE}"\\} ${end}$`, 'm'));
    }
  });

  it('control signs for a node only the identities of its own pods, and only for nodes', async () => {
    const node = asNode();
    const ask = async (c: ApiClient, id: string) => status(c.request('POST', MESH_CERTIFICATES_PATH, { body: { csr: (await createKeyAndCsr({ commonName: 'x', uris: [id] })).csrPem } }));
    assert.equal((await ask(node, LISTER_ID)).code, 200, 'an identity a pod of the node runs as');
    const stranger = await ask(node, 'spiffe://cluster.local/ns/default/sa/payments');
    assert.equal(stranger.code, 403);
    assert.match(stranger.message, /node "mesh-a" runs no pod as ServiceAccount "default\/payments"/);
    const foreign = await ask(node, 'spiffe://elsewhere.example/ns/default/sa/lister');
    assert.equal(foreign.code, 400);
    assert.match(foreign.message, /trust domain "elsewhere\.example" is not this cluster's/);
    const garbage = await status(node.request('POST', MESH_CERTIFICATES_PATH, { body: { csr: 'not a request' } }));
    assert.equal(garbage.code, 400);
    assert.match(garbage.message, /not a PEM CERTIFICATE REQUEST/);
    const admin = await ask(client({}), LISTER_ID);
    assert.equal(admin.code, 403);
    assert.match(admin.message, /issued to nodes only/);
  });

  it('drops an identity once no pod of the node runs as it', async () => {
    assert.equal((await cluster.kubectl(['delete', 'pod', 'lister', '--grace-period=1'])).code, 0);
    await cluster.waitFor('the lister identity dropped', async () => (kept().has(LISTER_ID) ? undefined : true));
    assert.ok(kept().has(DEFAULT_ID), 'the identity still used stays');
    const stale = await status(asNode().request('POST', MESH_CERTIFICATES_PATH, { body: { csr: (await createKeyAndCsr({ commonName: 'x', uris: [LISTER_ID] })).csrPem } }));
    assert.equal(stale.code, 403, 'and control no longer signs it for this node');
  });
});
