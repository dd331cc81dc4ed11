// Rotating the cluster CA on a running cluster, the three steps of `tug ca rotate`: after start
// every client trusts both CAs (control's kubeconfig, kube-root-ca.crt, the node, which fetches
// the bundle); after switch the new CA signs, control and the node renew their certificates at
// once and keep talking both ways; after finish the old CA and what it signed are refused. The
// node stays Ready and `kubectl logs` (control → node API, client certificates both ways) works
// at every step; a node restarted with only the old CA file still reaches control.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiClient } from '../../api/client.js';
import { isApiError } from '../../api/errors.js';
import { readKubeconfig, type Connection } from '../../api/kubeconfig.js';
import { CA_BUNDLE_PATH } from '../../api/paths.js';
import { issuedBy, pemCertificates } from '../../lib/pki.js';
import { needs } from '../requirements.js';
import { NodeCluster, webPod } from './node-support.js';
import { tug } from './harness.js';

const NODE = 'rot';

describe('rotating the cluster CA with tug ca rotate', { ...(await needs('kubectl')), concurrency: false }, () => {
  const cluster = new NodeCluster();
  const clients: ApiClient[] = [];
  let joinToken = '';
  let oldCa = '';
  let newCa = '';
  let oldNodeClient: Pick<Connection, 'clientCert' | 'clientKey'> = {};

  function client(creds: Partial<Connection>): ApiClient {
    const c = new ApiClient({ ...readKubeconfig(cluster.control.kubeconfig), ...creds });
    clients.push(c);
    return c;
  }

  const pki = (file: string) => readFileSync(join(cluster.stateDir(NODE), 'pki', file), 'utf8');
  const rotate = (phase: string) => tug({ HOME: cluster.dir, KUBECONFIG: cluster.control.kubeconfig }, ['ca', 'rotate', phase]);

  async function bundle(): Promise<string[]> {
    const res = await client({}).open('GET', CA_BUNDLE_PATH);
    let text = '';
    for await (const chunk of res) text += chunk;
    assert.equal(res.statusCode, 200, text);
    return pemCertificates(text);
  }

  /** `kubectl logs` reaches the pod through control and the node API. */
  async function logsWork(): Promise<void> {
    const r = await cluster.kubectl(['logs', 'logger', '--tail=1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /tick|listening/);
  }

  /** The node is Ready, with a heartbeat renewed after `since`. */
  async function heartbeatAfter(since: Date): Promise<void> {
    await cluster.waitFor('a heartbeat after the step', async () => {
      const lease = await client({}).request<any>('GET', `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${NODE}`);
      return new Date(lease.spec.renewTime) > since ? true : undefined;
    });
    const node = await client({}).request<any>('GET', `/api/v1/nodes/${NODE}`);
    assert.equal(node.status.conditions.find((c: any) => c.type === 'Ready')?.status, 'True');
  }

  async function status(c: ApiClient, path: string): Promise<number | string> {
    try {
      await c.request('GET', path);
      return 200;
    } catch (e) {
      return isApiError(e) ? e.code : (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    }
  }

  before(async () => {
    await cluster.start();
    oldCa = readKubeconfig(cluster.control.kubeconfig).caCert!;
    const made = await tug({ HOME: cluster.dir, KUBECONFIG: cluster.control.kubeconfig }, ['token', 'create', '--node']);
    assert.equal(made.code, 0, made.stderr);
    joinToken = made.stdout.trim();
    await cluster.startNode({ name: NODE, portRange: '26200-26249', token: joinToken, extra: ['--ca-poll', '0.2'] });
    await cluster.apply(webPod('logger', { marker: cluster.marker('rotation'), node: NODE, flag: cluster.flag('rotation') }));
    await cluster.waitFor('the pod running', async () => ((await cluster.podJson('logger')).status?.phase === 'Running' ? true : undefined), 300);
    await cluster.portOf('logger');
    oldNodeClient = { clientCert: pki('node-client.crt'), clientKey: pki('node-client.key') };
  });
  after(async () => {
    for (const c of clients) c.close();
    await cluster.cleanup();
  });

  it('start: a new CA is trusted beside the old one by control, kubeconfig, kube-root-ca.crt and the node; nothing is re-signed', async () => {
    const started = await rotate('start');
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout, /trusted beside the current one/);
    const certs = await bundle();
    assert.equal(certs.length, 2);
    assert.equal(certs[0].trim(), oldCa.trim(), 'the signing CA stays first until switch');
    newCa = certs[1];
    assert.equal(pemCertificates(readKubeconfig(cluster.control.kubeconfig).caCert!).length, 2, 'kubeconfig trusts both');
    await cluster.waitFor('kube-root-ca.crt with both CAs', async () => {
      const cm = await client({}).request<any>('GET', '/api/v1/namespaces/default/configmaps/kube-root-ca.crt');
      return pemCertificates(cm.data['ca.crt']).length === 2 ? true : undefined;
    });
    await cluster.waitFor('the node saving both CAs', async () => (pemCertificates(pki('ca-bundle.crt')).length === 2 ? true : undefined));
    assert.ok(await issuedBy(pki('node-client.crt'), oldCa), 'the node keeps its certificate');
    await heartbeatAfter(new Date());
    await logsWork();
  });

  it('switch: the new CA signs; control and the node renew their certificates at once and keep talking both ways', async () => {
    const switched = await rotate('switch');
    assert.equal(switched.code, 0, switched.stderr);
    const certs = await bundle();
    assert.deepEqual(certs.map((c) => c.trim()), [newCa.trim(), oldCa.trim()], 'the new CA first');
    // Control serves with a certificate of the new CA: a client trusting only it connects.
    assert.equal(await status(client({ caCert: newCa }), '/version'), 200);
    await cluster.waitFor('the node renewing both certificates from the new CA', async () =>
      (await issuedBy(pki('node-client.crt'), newCa)) && (await issuedBy(pki('node-serving.crt'), newCa)) ? true : undefined,
    );
    assert.match(cluster.nodes.get(NODE)!.output(), /renewed its client certificate from the new cluster CA/);
    // What the old CA signed is still good until finish.
    assert.equal(await status(client({ ...oldNodeClient, token: undefined }), `/api/v1/nodes/${NODE}`), 200);
    await heartbeatAfter(new Date());
    await logsWork();
  });

  it('finish: the old CA, and every certificate it signed, is refused; the node and kubectl work on', async () => {
    const finished = await rotate('finish');
    assert.equal(finished.code, 0, finished.stderr);
    assert.deepEqual((await bundle()).map((c) => c.trim()), [newCa.trim()]);
    await cluster.waitFor('the node trusting only the new CA', async () => (pemCertificates(pki('ca-bundle.crt')).length === 1 ? true : undefined));
    assert.equal(await status(client({ ...oldNodeClient, token: undefined }), `/api/v1/nodes/${NODE}`), 401, 'a client certificate of the old CA');
    const stale = await status(client({ caCert: oldCa }), '/version');
    assert.notEqual(stale, 200, 'a client that trusts only the old CA does not trust control');
    await heartbeatAfter(new Date());
    await logsWork();
    const again = await rotate('finish');
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /cannot finish a CA rotation that is not under way; start one/);
  });

  it('a node restarted with only the old CA file reaches control through the bundle it saved', async () => {
    await cluster.nodes.get(NODE)!.stop('SIGTERM');
    const restarted = await cluster.startNode({ name: NODE, portRange: '26200-26249', token: joinToken, caCert: oldCa, extra: ['--ca-poll', '0.2'] });
    assert.doesNotMatch(restarted.output(), /cannot get a node certificate/);
    await heartbeatAfter(new Date());
    await logsWork();
  });
});
