// Nodes as the attacker finds them: a node joins with a bootstrap token and from then on is
// system:node:<name> with certificates of its own; the token alone reads no Secret, makes no
// Node, Pod or token; a node reads only what its pods use and writes only itself; control sends
// no credential to a node API that is not the node's, and the node API lets in only callers
// control vouches for. Every attack here was once a way in.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer as createTlsServer } from 'node:tls';
import { createServer as createTcpServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiClient } from '../../api/client.js';
import { isApiError } from '../../api/errors.js';
import { readKubeconfig, type Connection } from '../../api/kubeconfig.js';
import { resourceOfKind } from '../../api/resources.js';
import { needs } from '../requirements.js';
import { NodeCluster, webPod } from './node-support.js';
import { tug } from './harness.js';

const A = 'ida';
const B = 'idb';

describe('node identity, the Node authorizer and NodeRestriction', { ...(await needs('kubectl')), concurrency: false }, () => {
  const cluster = new NodeCluster();
  let admin: Connection;
  let joinToken = '';
  const clients: ApiClient[] = [];

  function clientFor(creds: Partial<Connection>): ApiClient {
    const c = new ApiClient({ server: admin.server, caCert: admin.caCert, ...creds });
    clients.push(c);
    return c;
  }

  /** A client authenticating with the certificate node `name` got. */
  function nodeClient(name: string): ApiClient {
    const dir = join(cluster.stateDir(name), 'pki');
    return clientFor({ clientCert: readFileSync(join(dir, 'node-client.crt'), 'utf8'), clientKey: readFileSync(join(dir, 'node-client.key'), 'utf8') });
  }

  /** The HTTP status a request ends with (2xx, or the error's code). */
  async function status(client: ApiClient, method: string, path: string, body?: unknown, contentType?: string): Promise<number> {
    try {
      await client.request(method, path, { body, contentType });
      return 200;
    } catch (e) {
      if (isApiError(e)) return e.code;
      throw e;
    }
  }

  before(async () => {
    await cluster.start();
    admin = readKubeconfig(cluster.control.kubeconfig);
    const made = await tug({ HOME: cluster.dir, KUBECONFIG: cluster.control.kubeconfig }, ['token', 'create', '--node']);
    assert.equal(made.code, 0, made.stderr);
    joinToken = made.stdout.trim();
    await cluster.startNode({ name: A, portRange: '26100-26149', token: joinToken });
    await cluster.startNode({ name: B, portRange: '26150-26199' });
    const marker = cluster.marker('identity');
    for (const [pod, node] of [['on-a', A], ['on-b', B]]) {
      const p = webPod(pod, { marker, node, flag: cluster.flag(marker) }) as any;
      p.spec.containers[0].env.push({ name: 'SECRET', valueFrom: { secretKeyRef: { name: `secret-${pod}`, key: 'k' } } });
      assert.equal((await cluster.kubectl(['create', 'secret', 'generic', `secret-${pod}`, '--from-literal=k=v'])).code, 0);
      await cluster.apply(p);
    }
    assert.equal((await cluster.kubectl(['create', 'secret', 'generic', 'unused', '--from-literal=k=v'])).code, 0);
    await cluster.waitFor('both pods running', async () => {
      const phases = await Promise.all(['on-a', 'on-b'].map(async (n) => (await cluster.podJson(n)).status?.phase));
      return phases.every((p) => p === 'Running') ? true : undefined;
    }, 300);
  });
  after(async () => {
    for (const c of clients) c.close();
    await cluster.cleanup();
  });

  it('joins with a token and runs as system:node:<name>, its client and serving certificates issued through CSRs', async () => {
    const csrs = await cluster.kubectl(['get', 'csr']);
    const id = joinToken.split('.')[0];
    assert.match(csrs.stdout, new RegExp(`kubernetes\\.io/kube-apiserver-client-kubelet\\s+system:bootstrap:${id}\\s+<none>\\s+Approved,Issued`), csrs.stdout);
    assert.match(csrs.stdout, new RegExp(`kubernetes\\.io/kubelet-serving\\s+system:node:${A}\\s+<none>\\s+Approved,Issued`), csrs.stdout);
    const who = await nodeClient(A).create(resourceOfKind('SelfSubjectReview'), undefined, { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview', metadata: {} });
    assert.deepEqual((who.status as any).userInfo, { username: `system:node:${A}`, groups: ['system:nodes', 'system:authenticated'] });
    assert.match(cluster.nodes.get(A)!.output(), new RegExp(`has its own client certificate as system:node:${A}`));
  });

  it('the join token only joins: it reads no Secret, lists nothing, and makes no Node, Pod or token', async () => {
    const token = clientFor({ token: joinToken });
    assert.equal(await status(token, 'GET', '/api/v1/namespaces/default/secrets/secret-on-a'), 403);
    assert.equal(await status(token, 'GET', '/api/v1/secrets'), 403);
    assert.equal(await status(token, 'GET', '/api/v1/namespaces/kube-system/secrets'), 403);
    assert.equal(await status(token, 'POST', '/api/v1/namespaces/kube-system/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bootstrap-token-aaaaaa' }, type: 'bootstrap.kubernetes.io/token' }), 403);
    assert.equal(await status(token, 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'evil' } }), 403);
    assert.equal(await status(token, 'POST', '/api/v1/namespaces/default/pods', webPod('evil', { marker: 'x', node: A, flag: '/nonexistent' })), 403);
    assert.equal(await status(token, 'PATCH', `/api/v1/nodes/${B}`, { metadata: { labels: { evil: 'yes' } } }, 'application/merge-patch+json'), 403);
    assert.equal(await status(token, 'DELETE', `/api/v1/nodes/${B}`), 403);
  });

  it('a node reads the Secrets its pods use, and no other', async () => {
    const a = nodeClient(A);
    assert.equal(await status(a, 'GET', '/api/v1/namespaces/default/secrets/secret-on-a'), 200);
    assert.equal(await status(a, 'GET', '/api/v1/namespaces/default/secrets/secret-on-b'), 403, "node b's pod's Secret");
    assert.equal(await status(a, 'GET', '/api/v1/namespaces/default/secrets/unused'), 403);
    assert.equal(await status(a, 'GET', '/api/v1/namespaces/default/secrets'), 403, 'no listing');
    assert.equal(await status(nodeClient(B), 'GET', '/api/v1/namespaces/default/secrets/secret-on-b'), 200);
  });

  it('a node gets ServiceAccount tokens only bound to its own pods', async () => {
    const a = nodeClient(A);
    const podUid = async (name: string) => (await cluster.podJson(name)).metadata.uid as string;
    const ask = async (pod?: string) =>
      status(a, 'POST', '/api/v1/namespaces/default/serviceaccounts/default/token', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: pod ? { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod, uid: await podUid(pod) } } : {},
      });
    assert.equal(await ask('on-a'), 200);
    assert.equal(await ask('on-b'), 403, "node b's pod");
    assert.equal(await ask(), 403, 'unbound');
  });

  it('a node writes only itself: not another node, not its restricted labels or taints, not others\' pods or Leases', async () => {
    const a = nodeClient(A);
    const merge = 'application/merge-patch+json';
    assert.equal(await status(a, 'PATCH', `/api/v1/nodes/${B}`, { metadata: { labels: { evil: 'yes' } } }, merge), 403);
    assert.equal(await status(a, 'PATCH', `/api/v1/nodes/${A}`, { metadata: { labels: { 'node-restriction.kubernetes.io/trusted': 'yes' } } }, merge), 403);
    assert.equal(await status(a, 'PATCH', `/api/v1/nodes/${A}`, { spec: { taints: [{ key: 'x', effect: 'NoSchedule' }] } }, merge), 403);
    assert.equal(await status(a, 'PATCH', `/api/v1/nodes/${A}`, { metadata: { labels: { 'example.com/ok': 'yes' } } }, merge), 200, 'its own ordinary labels');
    assert.equal(await status(a, 'PATCH', '/api/v1/namespaces/default/pods/on-b/status', { status: { phase: 'Failed' } }, merge), 403);
    assert.equal(await status(a, 'PATCH', '/api/v1/namespaces/default/pods/on-a', { spec: { activeDeadlineSeconds: 1 } }, merge), 403, 'not even its own pod\'s spec');
    assert.equal(await status(a, 'DELETE', '/api/v1/namespaces/default/pods/on-b'), 403);
    assert.equal(await status(a, 'PATCH', `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${B}`, { spec: { holderIdentity: A } }, merge), 403);
    assert.equal(await status(a, 'POST', '/api/v1/namespaces/default/pods', webPod('sneaky', { marker: 'x', node: A, flag: '/nonexistent' })), 403, 'no pod but a mirror pod');
    assert.equal((await cluster.podJson('on-b')).status.phase, 'Running', 'nothing changed');
  });

  it('control sends no credential to a node API that is not the node, and refuses it', async () => {
    // Someone who may write Node objects points node a at their own listener, which even presents
    // a certificate the cluster CA really issued (node b's).
    const pki = join(cluster.stateDir(B), 'pki');
    const seen: Buffer[] = [];
    const impostor = createTlsServer({ cert: readFileSync(join(pki, 'node-serving.crt')), key: readFileSync(join(pki, 'node-serving.key')) }, (s) => {
      s.on('data', (d) => seen.push(d));
      s.on('error', () => undefined);
    });
    const raw: Buffer[] = [];
    const plain = createTcpServer((s) => {
      s.on('data', (d) => raw.push(d));
      s.on('error', () => undefined);
    });
    await Promise.all([new Promise<void>((r) => impostor.listen(0, '127.0.0.1', r)), new Promise<void>((r) => plain.listen(0, '127.0.0.1', r))]);
    try {
      const node = JSON.parse((await cluster.kubectl(['get', 'node', A, '-o', 'json'])).stdout);
      const realPort = node.status.daemonEndpoints.kubeletEndpoint.Port;
      const pointAt = async (port: number) => {
        const patch = JSON.stringify({ status: { daemonEndpoints: { kubeletEndpoint: { Port: port } } } });
        assert.equal((await cluster.kubectl(['patch', 'node', A, '--subresource=status', '--type=merge', '-p', patch])).code, 0);
      };
      await pointAt((impostor.address() as { port: number }).port);
      const logs = await cluster.kubectl(['logs', 'on-a']);
      assert.equal(logs.code, 1, 'kubectl logs fails');
      assert.match(logs.stderr, new RegExp(`is not node "${A}" \\(its certificate names system:node:${B}\\)`), logs.stderr);
      const exec = await cluster.kubectl(['exec', 'on-a', '--', 'true']);
      assert.notEqual(exec.code, 0, 'kubectl exec fails');
      // A listener that never answers the handshake: the relay gives up instead of waiting forever.
      await pointAt((plain.address() as { port: number }).port);
      assert.equal((await cluster.kubectl(['logs', 'on-a'])).code, 1);
      assert.deepEqual(seen, [], 'the impostor got no request: the handshake ended when its certificate named another node');
      const bytes = Buffer.concat(raw).toString('latin1');
      assert.ok(raw.length > 0, 'the plain listener saw a TLS hello');
      assert.doesNotMatch(bytes, /Authorization|Bearer|GET \//, 'nothing readable reached the plain listener');
      assert.ok(!bytes.includes(admin.token!), 'least of all the admin token');
      const back = JSON.stringify({ status: { daemonEndpoints: { kubeletEndpoint: { Port: realPort } } } });
      assert.equal((await cluster.kubectl(['patch', 'node', A, '--subresource=status', '--type=merge', '-p', back])).code, 0);
      assert.match((await cluster.kubectl(['logs', 'on-a'])).stdout, /listening on/, 'the real node answers again');
    } finally {
      impostor.close();
      plain.close();
    }
  });

  it('the node API lets in control and whoever control says may proxy to the node, no one else', async () => {
    const node = JSON.parse((await cluster.kubectl(['get', 'node', A, '-o', 'json'])).stdout);
    const port = node.status.daemonEndpoints.kubeletEndpoint.Port;
    const get = async (token?: string) => {
      const res = await fetchNode(port, '/pods/default/on-a/log', admin.caCert!, A, token);
      return res.status;
    };
    assert.equal(await get(), 401, 'no credential');
    assert.equal(await get(joinToken), 403, 'the token the node joined with is nothing here');
    const jane = (await tug({ HOME: cluster.dir, KUBECONFIG: cluster.control.kubeconfig }, ['token', 'create', '--user', 'jane'])).stdout.trim();
    assert.equal(await get(jane), 403);
    assert.equal(await get(admin.token), 200, 'the admin may (nodes/proxy through RBAC)');
  });
});

/** GET on a node API, verifying its certificate as node `nodeName`'s, with an optional bearer token. */
async function fetchNode(port: number, path: string, ca: string, nodeName: string, token?: string): Promise<{ status: number }> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca, servername: nodeName, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0 });
    });
    req.on('error', reject);
    req.end();
  });
}
