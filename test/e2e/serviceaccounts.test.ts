// In-cluster clients: a pod runs as its ServiceAccount with a token its node fetched (bound to the
// pod), reaches the API through the `kubernetes` Service, and can do exactly what RBAC gives that
// ServiceAccount. The clients are the official JavaScript one and Debian's python3-kubernetes,
// each configured the in-cluster way (the process pods see their volumes at their mountPath).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEBIAN_PYTHON, needs, present } from '../requirements.js';
import { dockerClient, ensureBusyboxImage } from './docker-support.js';
import { NodeCluster } from './node-support.js';

const CLIENT_NODE = fileURLToPath(new URL('../../../node_modules/@kubernetes/client-node', import.meta.url));

/** A script for a process pod: list pods and secrets with the in-cluster config, print what happened. */
const IN_CLUSTER = `
const k8s = require(${JSON.stringify(CLIENT_NODE)});
(async () => {
  const kc = new k8s.KubeConfig();
  kc.loadFromCluster();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  console.log('server=' + kc.getCurrentCluster().server);
  try {
    const pods = await core.listNamespacedPod({ namespace: 'default' });
    console.log('pods=' + pods.items.map((p) => p.metadata.name).sort().join(','));
  } catch (e) { console.log('pods-error=' + (e.code ?? e.message)); }
  try {
    await core.listNamespacedSecret({ namespace: 'default' });
    console.log('secrets=allowed');
  } catch (e) { console.log('secrets-error=' + (e.code ?? e.message)); }
})();
`;

/** The same in Python: in-cluster config from the projected volume at its usual path. */
const IN_CLUSTER_PY = `
from kubernetes import client, config
config.load_incluster_config()
core = client.CoreV1Api()
print('server=' + client.Configuration.get_default_copy().host)
print('pods=' + ','.join(sorted(p.metadata.name for p in core.list_namespaced_pod('default').items)))
try:
    core.list_namespaced_secret('default')
    print('secrets=allowed')
except client.exceptions.ApiException as e:
    print('secrets-error=%d' % e.status)
`;

// The node proxy binds the kubernetes Service's port 443 on its ClusterIP: root.
describe('ServiceAccounts in pods', { ...(await needs('kubectl', 'root')), concurrency: false }, () => {
  const cluster = new NodeCluster();
  let script = '';

  before(async () => {
    await cluster.start();
    await cluster.startNode({ name: 'sa1', portRange: '26200-26249' });
    script = join(cluster.dir, 'in-cluster.js');
    writeFileSync(script, IN_CLUSTER);
    for (const args of [
      ['create', 'serviceaccount', 'lister'],
      ['create', 'role', 'pod-lister', '--verb=list', '--resource=pods'],
      ['create', 'rolebinding', 'lister', '--role=pod-lister', '--serviceaccount=default:lister'],
    ]) {
      const r = await cluster.kubectl(args);
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(() => cluster.cleanup());

  async function logsOfCompleted(name: string): Promise<string> {
    return cluster.waitFor(`${name} done`, async () => {
      const p = await cluster.podJson(name);
      if (!['Succeeded', 'Failed'].includes(p.status?.phase)) return undefined;
      return (await cluster.kubectl(['logs', name])).stdout;
    }, 300);
  }

  it('the official JavaScript client in a pod lists pods with its ServiceAccount and is denied Secrets', async () => {
    const marker = cluster.marker('in-cluster');
    await cluster.apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'in-cluster' },
      spec: { nodeName: 'sa1', serviceAccountName: 'lister', restartPolicy: 'Never', containers: [{ name: 'c', image: 'x', command: [process.execPath, script, marker] }] },
    });
    const log = await logsOfCompleted('in-cluster');
    assert.match(log, /^server=https:\/\/127\.77\.0\.1:443$/m, log);
    assert.match(log, /^pods=in-cluster$/m, log);
    assert.match(log, /^secrets-error=403$/m, log);
  });

  it("Debian's python3-kubernetes client in a pod does the same with its in-cluster config", async (t) => {
    if (!(await present(t, 'python-kubernetes'))) return;
    const py = join(cluster.dir, 'in-cluster.py');
    writeFileSync(py, IN_CLUSTER_PY);
    await cluster.apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'in-cluster-py' },
      spec: { nodeName: 'sa1', serviceAccountName: 'lister', restartPolicy: 'Never', containers: [{ name: 'c', image: 'x', command: [DEBIAN_PYTHON, py, cluster.marker('in-cluster-py')] }] },
    });
    const log = await logsOfCompleted('in-cluster-py');
    assert.match(log, /^server=https:\/\/127\.77\.0\.1:443$/m, log);
    assert.match(log, /^pods=in-cluster,in-cluster-py$/m, log);
    assert.match(log, /^secrets-error=403$/m, log);
  });

  it('a pod with automountServiceAccountToken: false has no token', async () => {
    await cluster.apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'no-token' },
      spec: { nodeName: 'sa1', automountServiceAccountToken: false, restartPolicy: 'Never', containers: [{ name: 'c', image: 'x', command: ['sh', '-c', 'cat /var/run/secrets/kubernetes.io/serviceaccount/token "$TUG_ROOT/var/run/secrets/kubernetes.io/serviceaccount/token" 2>&1; echo done'] }] },
    });
    const log = await logsOfCompleted('no-token');
    assert.equal(log.match(/No such file or directory/g)?.length, 2, log);
  });

  it('a docker pod finds its token, CA and namespace at /var/run/secrets/kubernetes.io/serviceaccount', async (t) => {
    if (!(await present(t, 'docker'))) return;
    const image = await ensureBusyboxImage(dockerClient());
    await cluster.apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'docker-sa' },
      spec: {
        nodeName: 'sa1',
        runtimeClassName: 'docker',
        restartPolicy: 'Never',
        containers: [{ name: 'c', image, command: ['sh', '-c', 'cd /var/run/secrets/kubernetes.io/serviceaccount && ls && cat namespace && echo && head -c 3 token && echo && grep -c BEGIN ca.crt'] }],
      },
    });
    const log = await logsOfCompleted('docker-sa');
    assert.match(log, /^ca\.crt\nnamespace\ntoken\ndefault\neyJ\n1$/m, log);
  });
});
