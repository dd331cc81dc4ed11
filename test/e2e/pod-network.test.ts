// The bridge pod network across hosts: two simulated hosts (network namespaces on a private LAN),
// control on the first, a `tug node --network bridge` on each. Pods of a server that listens on
// a fixed port (8080, ignoring $PORT) each get their own address in their node's podCIDR, reach
// each other by address across hosts with their own source address, reach the ClusterIP and the
// cluster DNS from inside their namespace, and a headless Service answers one A record per pod.
// Deleting the pods leaves no sandbox, veth or address behind.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { cidrContains } from '../../api/cidr.js';
import { needs } from '../requirements.js';
import { NodeCluster } from './node-support.js';
import { SimulatedHosts } from './netns-support.js';
import { createHash } from 'node:crypto';

const PORT = 8080;

/** A server that ignores $PORT: it answers who it is and the address it saw the client come from. */
function serverCommand(marker: string): string[] {
  const script = `require('http').createServer((q,s)=>s.end(JSON.stringify({pod:process.env.HOSTNAME,from:q.socket.remoteAddress.replace(/^::ffff:/,'')}))).listen(${PORT},'0.0.0.0',()=>console.log('listening on ${PORT}'))`;
  return [process.execPath, '-e', script, marker];
}

/** Node.js run inside a pod (through kubectl exec): GETs `url`, prints the body or the error. */
const FETCH = `fetch(process.argv[1],{signal:AbortSignal.timeout(5000)}).then(r=>r.text()).then(t=>console.log(t),e=>{console.log('ERROR '+(e.cause?.code??e.message));process.exitCode=1})`;

/** The namespace prefix of a node's pod sandboxes (node/network/sandbox.ts names them so). */
function sandboxPrefix(nodeName: string): string {
  return `tug-${createHash('sha256').update(nodeName).digest('hex').slice(0, 8)}-`;
}

describe('bridge pod network on two hosts', { ...(await needs('kubectl', 'root', 'netns', 'nftables', 'dig')), concurrency: false }, () => {
  const hosts = new SimulatedHosts();
  let cluster: NodeCluster;
  const nodeNames = ['bridge-a', 'bridge-b'];
  let marker = '';

  before(async () => {
    hosts.create(2);
    cluster = new NodeCluster(hosts.host(1));
    await cluster.start();
    marker = cluster.marker('podnet');
    const dns = ['--dns-addr', '127.77.0.10:53', '--dns-upstream', '127.0.0.1:9'];
    for (const [i, name] of nodeNames.entries()) {
      await cluster.startNode({ name, portRange: '21900-21999', host: hosts.host(i + 1), extra: ['--network', 'bridge', ...dns] });
    }
  });

  after(async () => {
    await cluster?.cleanup();
    hosts.destroy(nodeNames.map(sandboxPrefix));
  });

  async function podCidrs(): Promise<Map<string, string>> {
    const r = await cluster.kubectl(['get', 'nodes', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return new Map(JSON.parse(r.stdout).items.map((n: any) => [n.metadata.name, n.spec.podCIDR]));
  }

  interface PodView {
    name: string;
    node: string;
    ip: string;
    ready: boolean;
  }

  async function pods(selector: string): Promise<PodView[]> {
    const r = await cluster.kubectl(['get', 'pods', '-l', selector, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).items.map((p: any) => ({
      name: p.metadata.name,
      node: p.spec.nodeName,
      ip: p.status?.podIP,
      ready: p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') ?? false,
    }));
  }

  /** GETs `url` from inside `pod`'s network namespace. */
  async function fetchFrom(pod: string, url: string): Promise<string> {
    const r = await cluster.kubectl(['exec', pod, '--', process.execPath, '-e', FETCH, url]);
    return r.stdout.trim() || r.stderr.trim();
  }

  it('gives each pod its own address in its node podCIDR, on a fixed port', async () => {
    await cluster.apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas: 4,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            terminationGracePeriodSeconds: 2,
            containers: [{ name: 'web', image: 'local/web:1', command: serverCommand(marker), ports: [{ name: 'http', containerPort: PORT }], readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1 } }],
          },
        },
      },
    });
    const ready = await cluster.waitFor('4 ready web pods', async () => {
      const list = await pods('app=web');
      return list.length === 4 && list.every((p) => p.ready) ? list : undefined;
    }, 600);
    const cidrs = await podCidrs();
    for (const p of ready) assert.ok(cidrContains(cidrs.get(p.node)!, p.ip), `${p.name} on ${p.node} has ${p.ip}, outside ${cidrs.get(p.node)}`);
    assert.equal(new Set(ready.map((p) => p.ip)).size, 4, 'four different addresses');
    assert.deepEqual(new Set(ready.map((p) => p.node)), new Set(nodeNames), 'pods on both hosts');
    const wide = await cluster.kubectl(['get', 'pods', '-l', 'app=web', '-o', 'wide']);
    for (const p of ready) assert.match(wide.stdout, new RegExp(`${p.name}\\s.*\\s${p.ip.replace(/\./g, '\\.')}\\s`));
  });

  it('every pod reaches every other pod by address, and the server sees the client pod address', async () => {
    const list = await pods('app=web');
    for (const client of list) {
      for (const server of list) {
        if (client === server) continue;
        const body = await fetchFrom(client.name, `http://${server.ip}:${PORT}/`);
        assert.deepEqual(JSON.parse(body), { pod: server.name, from: client.ip }, `${client.name} (${client.node}) -> ${server.name} (${server.node})`);
      }
    }
  });

  it('pods reach the ClusterIP and the cluster DNS name from inside their namespace', async () => {
    await cluster.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] } });
    const svc = JSON.parse((await cluster.kubectl(['get', 'svc', 'web', '-o', 'json'])).stdout);
    const list = await pods('app=web');
    const names = new Set(list.map((p) => p.name));
    for (const client of list) {
      const seen = new Set<string>();
      await cluster.waitFor(`${client.name} reaches the ClusterIP`, async () => {
        const body = await fetchFrom(client.name, `http://${svc.spec.clusterIP}/`);
        if (body.startsWith('{')) seen.add(JSON.parse(body).pod);
        return seen.size >= 2 ? true : undefined;
      }, 100);
      for (const s of seen) assert.ok(names.has(s), s);
      const byName = await fetchFrom(client.name, 'http://web.default.svc.cluster.local/');
      assert.ok(names.has(JSON.parse(byName).pod), `${client.name} by name: ${byName}`);
    }
  });

  it('a headless Service answers one A record per ready pod, and SRV lists each', async () => {
    await cluster.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web-hl' }, spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ name: 'http', port: PORT }] } });
    const ips = (await pods('app=web')).map((p) => p.ip).sort();
    const answer = await cluster.waitFor('4 A records', async () => {
      const r = await hosts.run(2, ['dig', '+short', '@127.77.0.10', 'web-hl.default.svc.cluster.local', 'A']);
      const got = r.stdout.trim().split('\n').filter(Boolean).sort();
      return got.length === 4 ? got : undefined;
    });
    assert.deepEqual(answer, ips);
    const srv = await hosts.run(1, ['dig', '+short', '@127.77.0.10', '_http._tcp.web-hl.default.svc.cluster.local', 'SRV']);
    assert.equal(srv.stdout.trim().split('\n').filter((l) => l.includes(` ${PORT} `)).length, 4, srv.stdout);
  });

  it('the containers of one pod reach each other on localhost', async () => {
    await cluster.apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'pair' },
      spec: {
        nodeName: 'bridge-b',
        containers: [
          { name: 'server', image: 'local/web:1', command: serverCommand(marker), ports: [{ containerPort: PORT }] },
          { name: 'idle', image: 'local/web:1', command: [process.execPath, '-e', 'setInterval(()=>{},1000)', marker] },
        ],
      },
    });
    const ip = await cluster.waitFor('pair running', async () => {
      const p = await cluster.podJson('pair');
      return p.status?.containerStatuses?.every((c: any) => c.state?.running) ? (p.status.podIP as string) : undefined;
    });
    const r = await cluster.waitFor('localhost answers', async () => {
      const out = await cluster.kubectl(['exec', 'pair', '-c', 'idle', '--', process.execPath, '-e', FETCH, `http://127.0.0.1:${PORT}/`]);
      return out.code === 0 ? out.stdout : undefined;
    });
    assert.deepEqual(JSON.parse(r), { pod: 'pair', from: '127.0.0.1' });
    // The port is the pod's own: the host does not listen on it.
    const onHost = await hosts.run(2, [process.execPath, '-e', FETCH, `http://127.0.0.1:${PORT}/`]);
    assert.match(onHost.stdout, /ERROR ECONNREFUSED/);
    assert.ok(ip.startsWith('198.19.'), ip);
  });

  it('deleting the pods removes their sandboxes, veths and addresses', async () => {
    const r = await cluster.kubectl(['delete', 'deployment', 'web']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await cluster.kubectl(['delete', 'pod', 'pair', '--grace-period=1'])).code, 0);
    await cluster.waitFor('no pods left', async () => ((await pods('app=web')).length === 0 ? true : undefined), 300);
    await cluster.waitFor('no sandbox left', async () => (nodeNames.every((n) => SimulatedHosts.namespaces(sandboxPrefix(n)).length === 0) ? true : undefined), 100);
    for (const i of [1, 2]) {
      const links = await hosts.run(i, ['ip', '-o', 'link', 'show']);
      assert.doesNotMatch(links.stdout, / tv[0-9a-f]{12}/, `host ${i} still has a pod veth`);
    }
    for (const n of nodeNames) {
      const saved = JSON.parse(readFileSync(`${cluster.stateDir(n)}/pod-addresses.json`, 'utf8'));
      assert.deepEqual(saved.addresses, {}, `${n} still holds addresses`);
    }
  });
});
