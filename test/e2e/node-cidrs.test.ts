// Pod CIDRs for nodes, from tug control's --cluster-cidr: each Node gets its own share, kept
// across a control restart; a deleted Node frees it; with none left a Node waits with a
// CIDRNotAvailable event; a node cannot pick its own; bad or overlapping ranges stop start-up.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiClient } from '../../api/client.js';
import { isApiError } from '../../api/errors.js';
import { readKubeconfig } from '../../api/kubeconfig.js';
import { resourceOfKind } from '../../api/resources.js';
import { needs } from '../requirements.js';
import { NodeCluster } from './node-support.js';
import { run, startControl, tempDir, TUG } from './harness.js';

const NETWORK = ['--cluster-cidr', '198.19.0.0/22', '--node-cidr-mask-size', '24'];

describe('node pod CIDRs', { ...(await needs('kubectl')), concurrency: false }, () => {
  const cluster = new NodeCluster();

  before(() => cluster.start(NETWORK));
  after(() => cluster.cleanup());

  const cidrOf = async (name: string) => (await cluster.kubectl(['get', 'node', name, '-o', 'jsonpath={.spec.podCIDR} {.spec.podCIDRs}'])).stdout.trim();
  const addNode = async (name: string) => {
    const r = await cluster.kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name } }));
    assert.equal(r.code, 0, r.stderr);
  };
  const cidrSoon = (name: string) => cluster.waitFor(`${name} gets a pod CIDR`, async () => (await cidrOf(name)) || undefined);

  it('gives a joined node a pod CIDR of its own, which the node cannot change', async () => {
    await cluster.startNode({ name: 'c1', portRange: '26300-26349' });
    assert.equal(await cidrSoon('c1'), '198.19.0.0/24 ["198.19.0.0/24"]');
    const described = await cluster.kubectl(['describe', 'node', 'c1']);
    assert.match(described.stdout, /^PodCIDR:\s+198\.19\.0\.0\/24$/m, 'kubectl describe shows it');
    assert.match(described.stdout, /^PodCIDRs:\s+198\.19\.0\.0\/24$/m);
    const pki = join(cluster.stateDir('c1'), 'pki');
    const asNode = new ApiClient({ ...readKubeconfig(cluster.control.kubeconfig), token: undefined, clientCert: readFileSync(join(pki, 'node-client.crt'), 'utf8'), clientKey: readFileSync(join(pki, 'node-client.key'), 'utf8') });
    try {
      await assert.rejects(asNode.patch(resourceOfKind('Node'), undefined, 'c1', { spec: { podCIDR: '198.19.3.0/24', podCIDRs: ['198.19.3.0/24'] } }), (e) => isApiError(e) && e.code === 403 && /is not allowed to set its pod CIDR/.test(e.message));
    } finally {
      asNode.close();
    }
    const edit = await cluster.kubectl(['patch', 'node', 'c1', '--type=merge', '-p', '{"spec":{"podCIDR":"198.19.2.0/24","podCIDRs":["198.19.2.0/24"]}}']);
    assert.equal(edit.code, 1);
    assert.match(edit.stderr, /spec\.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid/);
  });

  it('hands out the lowest free CIDRs, makes a node wait with CIDRNotAvailable when none is left, and gives it one a deleted Node freed', async () => {
    for (const n of ['c2', 'c3', 'c4']) await addNode(n);
    const given = await Promise.all(['c2', 'c3', 'c4'].map(cidrSoon));
    assert.deepEqual(given.map((g) => g.split(' ')[0]).sort(), ['198.19.1.0/24', '198.19.2.0/24', '198.19.3.0/24']);
    await addNode('c5');
    await cluster.waitFor('CIDRNotAvailable for c5', async () => ((await cluster.eventsFor('c5')).some((e) => e.reason === 'CIDRNotAvailable' && e.message === 'Node c5 status is now: CIDRNotAvailable') ? true : undefined));
    assert.equal(await cidrOf('c5'), '');
    const freed = (await cidrOf('c3')).split(' ')[0];
    assert.equal((await cluster.kubectl(['delete', 'node', 'c3'])).code, 0);
    assert.equal((await cidrSoon('c5')).split(' ')[0], freed);
  });

  it('keeps every node’s CIDR across a control restart', async () => {
    const before = Object.fromEntries(await Promise.all(['c1', 'c2', 'c4', 'c5'].map(async (n) => [n, await cidrOf(n)])));
    await cluster.control.kill('SIGTERM');
    cluster.useControl(await startControl(cluster.scope, cluster.dir, NETWORK));
    await addNode('c6');
    await cluster.waitFor('CIDRNotAvailable for c6', async () => ((await cluster.eventsFor('c6')).some((e) => e.reason === 'CIDRNotAvailable') ? true : undefined));
    const afterRestart = Object.fromEntries(await Promise.all(['c1', 'c2', 'c4', 'c5'].map(async (n) => [n, await cidrOf(n)])));
    assert.deepEqual(afterRestart, before);
  });

  it('refuses to start with a bad or overlapping --cluster-cidr, naming both ranges', async (t) => {
    const dir = tempDir(t);
    for (const [flags, message] of [
      [['--cluster-cidr', '127.77.128.0/17'], /--cluster-cidr 127\.77\.128\.0\/17 overlaps --service-cidr 127\.77\.0\.0\/16/],
      [['--cluster-cidr', '198.19.0.0/16', '--service-cidr', '198.19.200.0/24'], /--cluster-cidr 198\.19\.0\.0\/16 overlaps --service-cidr 198\.19\.200\.0\/24/],
      [['--cluster-cidr', 'pods'], /invalid --cluster-cidr "pods": expected an IPv4 CIDR such as 198\.19\.0\.0\/16/],
      [['--node-cidr-mask-size', '12'], /--node-cidr-mask-size 12 must be a whole number from 16/],
    ] as const) {
      const r = await run(process.execPath, [TUG, 'control', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'control'), '--kubeconfig', join(dir, 'kubeconfig'), ...flags], { env: { ...process.env, TUG_HOME: dir } });
      assert.equal(r.code, 1, `${flags.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });
});
