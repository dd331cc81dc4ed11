// The bridge pod network across hosts: three simulated hosts (network namespaces on a private LAN),
// control on the first, a `tug node --network bridge` on each. Pods of a server that listens on
// a fixed port (8080, ignoring $PORT) each get their own address in their node's podCIDR, reach
// each other by address across hosts with their own source address, reach the ClusterIP and the
// cluster DNS from inside their namespace, and a headless Service answers one A record per pod.
// Deleting the pods leaves no sandbox, veth or address behind.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { cidrContains } from '../../api/cidr.js';
import { needs, SHARED_EXAMPLES } from '../requirements.js';
import { join } from 'node:path';
import { NodeCluster } from './node-support.js';
import { SimulatedHosts } from './netns-support.js';
import { eventually, freePort, run, tempDir } from './harness.js';
import { BUSYBOX_IMAGE, dockerClient, ensureBusyboxImage } from './docker-support.js';
import { killPodsOf, startUp } from './up-support.js';
import { hostname } from 'node:os';
import { createHash } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';

const PORT = 8080;
/** Sandboxes a bridge node keeps made ahead of process pods (tug node's default --warm-sandboxes). */
const WARM = 4;

/** A server that ignores $PORT: it answers who it is and the address it saw the client come from. */
function serverCommand(marker: string): string[] {
  const script = `require('http').createServer((q,s)=>s.end(JSON.stringify({pod:process.env.HOSTNAME,from:q.socket.remoteAddress.replace(/^::ffff:/,'')}))).listen(${PORT},'0.0.0.0',()=>console.log('listening on ${PORT}'))`;
  return [process.execPath, '-e', script, marker];
}

/** Node.js run inside a pod (through kubectl exec): GETs `url`, prints the body or the error. */
const FETCH = `const q=require('http').get(process.argv[1],{timeout:5000},(r)=>{let b='';r.setEncoding('utf8');r.on('data',(d)=>b+=d);r.on('end',()=>console.log(r.statusCode===200?b:'HTTP '+r.statusCode+' '+b))});q.on('timeout',()=>q.destroy(Object.assign(new Error('timeout'),{code:'TIMEOUT'})));q.on('error',(e)=>{console.log('ERROR '+(e.code??e.message));process.exitCode=1})`;

function spawnOn(wrap: string[], argv: string[]): ChildProcess {
  const all = [...wrap, ...argv];
  return spawn(all[0], all.slice(1), { stdio: 'ignore' });
}

/** A node's address book: addresses of pods (by uid), and of sandboxes made ahead of pods. */
function savedAddresses(cluster: NodeCluster, node: string): { pods: Record<string, string>; warm: string[] } {
  const file = `${cluster.stateDir(node)}/pod-addresses.json`;
  const saved = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')).addresses as Record<string, string>) : {};
  const entries = Object.entries(saved);
  return { pods: Object.fromEntries(entries.filter(([key]) => !key.startsWith('warm:'))), warm: entries.filter(([key]) => key.startsWith('warm:')).map(([, ip]) => ip) };
}

/** A node's sandboxes, apart from those made ahead of pods. */
function podSandboxes(cluster: NodeCluster, node: string): string[] {
  const warm = new Set(savedAddresses(cluster, node).warm.map((ip) => `${sandboxPrefix(node)}${ip}`));
  return SimulatedHosts.namespaces(sandboxPrefix(node)).filter((n) => !warm.has(n));
}

/**
 * Waits until the nodes have no pod sandbox left, and then no pod address (a node frees the
 * address just after the sandbox and the pause container); a failure lists what is left and the
 * pods the API still has.
 */
async function noSandboxLeft(cluster: NodeCluster, nodes: string[]): Promise<void> {
  await sandboxesGone(cluster, nodes);
  await cluster.waitFor('no pod address held', async () => (nodes.every((n) => Object.keys(savedAddresses(cluster, n).pods).length === 0) ? true : undefined), 100);
}

async function sandboxesGone(cluster: NodeCluster, nodes: string[]): Promise<void> {
  const left = () => nodes.flatMap((n) => podSandboxes(cluster, n));
  try {
    await eventually(async () => (left().length === 0 ? true : undefined), 150);
  } catch {
    const pods = await cluster.kubectl(['get', 'pods', '-A', '-o', 'custom-columns=NAME:.metadata.name,UID:.metadata.uid,NODE:.spec.nodeName,DELETING:.metadata.deletionTimestamp']);
    const logs = [...cluster.nodes.values()].map((n) => `${n.name}:\n${n.output().slice(-3000)}`).join('\n');
    assert.fail(`sandboxes left: ${left().join(' ')}\npods:\n${pods.stdout}\n${logs}`);
  }
}

/** The namespace prefix of a node's pod sandboxes (node/network/sandbox.ts names them so). */
function sandboxPrefix(nodeName: string): string {
  return `tug-${createHash('sha256').update(nodeName).digest('hex').slice(0, 8)}-`;
}

describe('bridge pod network on three hosts', { ...(await needs('kubectl', 'root', 'netns', 'nftables', 'dig', 'examples')), concurrency: false }, () => {
  const hosts = new SimulatedHosts();
  let cluster: NodeCluster;
  const nodeNames = ['bridge-a', 'bridge-b', 'bridge-c'];
  const REPLICAS = 6;
  let marker = '';

  before(async () => {
    hosts.create(3);
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
    return r.stdout.trim() || `EXEC FAILED (exit ${r.code}): ${r.stderr.trim()}`;
  }

  it('gives each pod its own address in its node podCIDR, on a fixed port; pods take the sandboxes made ahead of them', async () => {
    const ahead = new Set<string>();
    for (const n of nodeNames) {
      const warm = await cluster.waitFor(`${n} to make ${WARM} sandboxes ahead of pods`, async () => {
        const now = savedAddresses(cluster, n).warm;
        return now.length === WARM && podSandboxes(cluster, n).length === 0 ? now : undefined;
      });
      for (const ip of warm) ahead.add(ip);
    }
    await cluster.apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas: REPLICAS,
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
    const ready = await cluster.waitFor(`${REPLICAS} ready web pods`, async () => {
      const list = await pods('app=web');
      return list.length === REPLICAS && list.every((p) => p.ready) ? list : undefined;
    }, 600);
    const cidrs = await podCidrs();
    for (const p of ready) assert.ok(cidrContains(cidrs.get(p.node)!, p.ip), `${p.name} on ${p.node} has ${p.ip}, outside ${cidrs.get(p.node)}`);
    assert.equal(new Set(ready.map((p) => p.ip)).size, REPLICAS, 'an address each');
    for (const n of nodeNames) assert.equal(ready.filter((p) => p.node === n).length, 2, `two pods on ${n}`);
    for (const p of ready) assert.ok(ahead.has(p.ip), `${p.name} took a sandbox made ahead (${p.ip}; ready were ${[...ahead].join(' ')})`);
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
    const answer = await cluster.waitFor(`${REPLICAS} A records`, async () => {
      const r = await hosts.run(2, ['dig', '+short', '@127.77.0.10', 'web-hl.default.svc.cluster.local', 'A']);
      const got = r.stdout.trim().split('\n').filter(Boolean).sort();
      return got.length === REPLICAS ? got : undefined;
    });
    assert.deepEqual(answer, ips);
    // One EndpointSlice per Service, as in Kubernetes: every pod serves the same port now.
    const slices = JSON.parse((await cluster.kubectl(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=web-hl', '-o', 'json'])).stdout).items;
    assert.equal(slices.length, 1, JSON.stringify(slices.map((x: any) => x.metadata.name)));
    assert.deepEqual(slices[0].endpoints.flatMap((e: any) => e.addresses).sort(), ips);
    const srv = await hosts.run(1, ['dig', '+short', '@127.77.0.10', '_http._tcp.web-hl.default.svc.cluster.local', 'SRV']);
    assert.equal(srv.stdout.trim().split('\n').filter((l) => l.includes(` ${PORT} `)).length, REPLICAS, srv.stdout);
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

  /** A labelled pod that runs the server too (so kubectl exec has a process to enter). */
  async function clientPod(name: string, node: string, role: string): Promise<string> {
    await cluster.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { role } }, spec: { nodeName: node, terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'local/web:1', command: serverCommand(marker), ports: [{ containerPort: PORT }] }] } });
    return cluster.waitFor(`${name} running`, async () => {
      const p = await cluster.podJson(name);
      return p.status?.containerStatuses?.[0]?.state?.running && p.status.podIP ? (p.status.podIP as string) : undefined;
    });
  }

  /** Applies a policy and waits until the tables of the nodes of the pods it selects changed; returns how long that took. */
  async function applyPolicy(policy: unknown, on: number[]): Promise<number> {
    const before = await Promise.all(on.map((i) => hosts.run(i, ['nft', 'list', 'table', 'inet', 'tugboat_policy'])));
    const started = performance.now();
    await cluster.apply(policy);
    await cluster.waitFor('the policy in force on its nodes', async () => {
      const now = await Promise.all(on.map((i) => hosts.run(i, ['nft', 'list', 'table', 'inet', 'tugboat_policy'])));
      return now.every((r, i) => r.stdout !== before[i].stdout) ? true : undefined;
    }, 300, 20);
    return performance.now() - started;
  }

  /** Whether `client` reaches `url` (an answer) or is refused (ERROR ...). */
  async function reaches(client: string, url: string): Promise<boolean> {
    const body = await fetchFrom(client, url);
    assert.doesNotMatch(body, /^EXEC FAILED/);
    return !body.startsWith('ERROR');
  }

  it('NetworkPolicy: the upstream manifests are accepted; default-deny ingress blocks pod IPs and the ClusterIP', async () => {
    const frontend = await clientPod('frontend', 'bridge-a', 'frontend');
    await clientPod('intruder', 'bridge-b', 'intruder');
    const svc = JSON.parse((await cluster.kubectl(['get', 'svc', 'web', '-o', 'json'])).stdout);
    const web = await pods('app=web');
    for (const f of ['service--networking--networkpolicy.yaml', 'service--networking--network-policy-default-deny-ingress.yaml']) {
      const r = await cluster.kubectl(['apply', '-f', join(SHARED_EXAMPLES, 'website', f)]);
      assert.equal(r.code, 0, `${f}: ${r.stderr}`);
    }
    await cluster.waitFor('default deny in force', async () => ((await reaches('intruder', `http://${web[0].ip}:${PORT}/`)) ? undefined : true), 100);
    for (const client of ['frontend', 'intruder']) {
      for (const w of web) assert.equal(await reaches(client, `http://${w.ip}:${PORT}/`), false, `${client} -> ${w.name} by address`);
      assert.equal(await reaches(client, `http://${svc.spec.clusterIP}/`), false, `${client} -> the ClusterIP`);
    }
    // Probes come from the pods' own node: isolated pods stay ready.
    assert.equal((await pods('app=web')).every((p) => p.ready), true);
    assert.ok(frontend.startsWith('198.19.'), frontend);
  });

  it('NetworkPolicy: allowing a label lets exactly those pods in, by address and through the ClusterIP, within 1 s', async (t) => {
    const ms = await applyPolicy({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'web-from-frontend' },
      spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'frontend' } } }], ports: [{ port: 'http' }] }] },
    }, [1, 2, 3]);
    t.diagnostic(`in force on every node ${Math.round(ms)} ms after kubectl apply began`);
    assert.ok(ms < 1000, `${Math.round(ms)} ms`);
    const svc = JSON.parse((await cluster.kubectl(['get', 'svc', 'web', '-o', 'json'])).stdout);
    for (const w of await pods('app=web')) {
      assert.equal(await reaches('frontend', `http://${w.ip}:${PORT}/`), true, `frontend -> ${w.name} (${w.node})`);
      assert.equal(await reaches('intruder', `http://${w.ip}:${PORT}/`), false, `intruder -> ${w.name} (${w.node})`);
    }
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add(JSON.parse(await fetchFrom('frontend', `http://${svc.spec.clusterIP}/`)).pod);
    assert.ok(seen.size >= 2, 'the ClusterIP still balances for an allowed client');
    assert.equal(await reaches('intruder', `http://${svc.spec.clusterIP}/`), false, 'intruder -> the ClusterIP');
  });

  it('NetworkPolicy: an egress rule blocks the pods it selects, through the ClusterIP too; deleting the policies opens up again', async () => {
    await applyPolicy({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'frontend-no-egress' }, spec: { podSelector: { matchLabels: { role: 'frontend' } }, policyTypes: ['Egress'] } }, [1]);
    const svc = JSON.parse((await cluster.kubectl(['get', 'svc', 'web', '-o', 'json'])).stdout);
    const web = await pods('app=web');
    assert.equal(await reaches('frontend', `http://${web[0].ip}:${PORT}/`), false, 'by address');
    assert.equal(await reaches('frontend', `http://${svc.spec.clusterIP}/`), false, 'through the ClusterIP');
    // The node's own address is no way around it; the cluster DNS still answers.
    const nodeServer = spawnOn(hosts.host(1).wrap, [process.execPath, '-e', `require('http').createServer((q,s)=>s.end('node')).listen(18095,'198.18.0.1')`, marker]);
    try {
      await cluster.waitFor('the server on node bridge-a', async () => ((await reaches('intruder', 'http://198.18.0.1:18095/')) ? true : undefined));
      assert.equal(await reaches('frontend', 'http://198.18.0.1:18095/'), false, "to its node's address");
    } finally {
      nodeServer.kill('SIGKILL');
    }
    const lookup = await cluster.kubectl(['exec', 'frontend', '--', process.execPath, '-e', "require('dns').resolve4('web.default.svc.cluster.local',(e,a)=>console.log(e?'ERROR '+e.code:a.join()))"]);
    assert.equal(lookup.stdout.trim(), svc.spec.clusterIP, 'the cluster DNS');
    const bad = await cluster.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'bad' }, spec: { podSelector: {}, ingress: [{ ports: [{ port: 'http', endPort: 90 }], from: [{ ipBlock: { cidr: '10.0.0.0/24', except: ['10.1.0.0/24'] } }] }] } }));
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /spec\.ingress\[0\]\.ports\[0\]\.endPort: Forbidden: may not be specified when `port` is non-numeric/);
    assert.match(bad.stderr, /spec\.ingress\[0\]\.from\[0\]\.ipBlock\.except\[0\]: Invalid value: "10\.1\.0\.0\/24": must be a strict subset of `cidr`/);
    const del = await cluster.kubectl(['delete', 'netpol', '--all']);
    assert.equal(del.code, 0, del.stderr);
    await cluster.waitFor('open again', async () => ((await reaches('intruder', `http://${web[0].ip}:${PORT}/`)) ? true : undefined), 100);
    assert.equal(await reaches('frontend', `http://${svc.spec.clusterIP}/`), true);
    assert.equal((await cluster.kubectl(['delete', 'pod', 'frontend', 'intruder', '--grace-period=1'])).code, 0);
  });

  it('a hostPort forwards the node port to the pod, from other hosts and from the node itself, and never takes a ClusterIP', async () => {
    // Port 80, the port of the web Service: its ClusterIP (on the node's loopback) must stay the Service's.
    await cluster.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'hp' }, spec: { nodeName: 'bridge-b', terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'local/web:1', command: serverCommand(marker), ports: [{ containerPort: PORT, hostPort: 80 }] }] } });
    await cluster.waitFor('hp running', async () => ((await cluster.podJson('hp')).status?.containerStatuses?.[0]?.state?.running ? true : undefined));
    const fromHost1 = await cluster.waitFor('the hostPort answers', async () => {
      const r = await hosts.run(1, [process.execPath, '-e', FETCH, 'http://198.18.0.2:80/']);
      return r.stdout.startsWith('{') ? JSON.parse(r.stdout) : undefined;
    });
    assert.deepEqual(fromHost1, { pod: 'hp', from: '198.18.0.1' });
    const fromNode = JSON.parse((await hosts.run(2, [process.execPath, '-e', FETCH, 'http://127.0.0.1:80/'])).stdout);
    assert.equal(fromNode.pod, 'hp');
    // The pod itself, through its node's address (hairpin): it answers itself, seeing its gateway.
    const hairpin = JSON.parse(await fetchFrom('hp', 'http://198.18.0.2:80/'));
    assert.equal(hairpin.pod, 'hp');
    const gatewayB = JSON.parse((await cluster.kubectl(['get', 'node', 'bridge-b', '-o', 'json'])).stdout).spec.podCIDR.replace(/0\/24$/, '1');
    assert.equal(hairpin.from, gatewayB);
    const svc = JSON.parse((await cluster.kubectl(['get', 'svc', 'web', '-o', 'json'])).stdout);
    const client = (await pods('app=web')).find((p) => p.node === 'bridge-b')!;
    for (let i = 0; i < 4; i++) assert.match(JSON.parse(await fetchFrom(client.name, `http://${svc.spec.clusterIP}/`)).pod, /^web-/);
    assert.equal((await cluster.kubectl(['delete', 'pod', 'hp', '--grace-period=1'])).code, 0);
    const after = await hosts.run(1, [process.execPath, '-e', FETCH, 'http://198.18.0.2:80/']);
    assert.match(after.stdout, /^ERROR/);
  });

  it("a pod that routes the node's loopback to itself reaches only the Service addresses there", async () => {
    // A server only for the node itself, on its loopback but outside the service CIDR.
    const server = spawnOn(hosts.host(1).wrap, [process.execPath, '-e', `require('http').createServer((q,s)=>s.end('private')).listen(18090,'127.0.0.2')`, marker]);
    try {
      await cluster.waitFor('the private server', async () => ((await hosts.run(1, [process.execPath, '-e', FETCH, 'http://127.0.0.2:18090/'])).stdout.trim() === 'private' ? true : undefined));
      const pod = (await pods('app=web')).find((p) => p.node === 'bridge-a')!;
      const gateway = JSON.parse((await cluster.kubectl(['get', 'node', 'bridge-a', '-o', 'json'])).stdout).spec.podCIDR.replace(/0\/24$/, '1');
      const route = await cluster.kubectl(['exec', pod.name, '--', 'ip', 'route', 'add', '127.0.0.2/32', 'via', gateway, 'dev', 'eth0', 'src', pod.ip]);
      assert.equal(route.code, 0, route.stderr);
      assert.match(await fetchFrom(pod.name, 'http://127.0.0.2:18090/'), /^ERROR/);
      assert.equal((await cluster.kubectl(['exec', pod.name, '--', 'ip', 'route', 'del', '127.0.0.2/32'])).code, 0);
    } finally {
      server.kill('SIGKILL');
    }
  });

  it('traffic from a pod to outside the cluster leaves as its node; to another node it keeps the pod address', async () => {
    // On host 1: a server on an address that is no node's (outside the cluster), and one on the node's own.
    assert.equal((await hosts.run(1, ['ip', 'addr', 'add', '198.18.0.100/24', 'dev', 'eth0'])).code, 0);
    const script = (ip: string) => `require('http').createServer((q,s)=>s.end(q.socket.remoteAddress)).listen(18080,'${ip}')`;
    const servers = ['198.18.0.100', '198.18.0.1'].map((ip) => spawnOn(hosts.host(1).wrap, [process.execPath, '-e', script(ip), marker]));
    try {
      const client = (await pods('app=web')).find((p) => p.node === 'bridge-b')!;
      const seen = (ip: string) =>
        cluster.waitFor(`the server on ${ip} answers`, async () => {
          const body = await fetchFrom(client.name, `http://${ip}:18080/`);
          return body.startsWith('ERROR') ? undefined : body;
        }, 50);
      assert.equal(await seen('198.18.0.100'), '198.18.0.2', 'masqueraded to node bridge-b');
      assert.equal(await seen('198.18.0.1'), client.ip, 'the pod address, to a node');
    } finally {
      for (const s of servers) s.kill('SIGKILL');
    }
  });

  it('a node killed with SIGKILL leaves its pods connected; started again it adopts them without duplicates', async () => {
    const before = (await pods('app=web')).filter((p) => p.node === 'bridge-b');
    const client = (await pods('app=web')).find((p) => p.node === 'bridge-a')!;
    await cluster.nodes.get('bridge-b')!.stop('SIGKILL');
    for (const p of before) assert.equal(JSON.parse(await fetchFrom(client.name, `http://${p.ip}:${PORT}/`)).pod, p.name, 'reachable while its node is down');
    await cluster.startNode({ name: 'bridge-b', portRange: '21900-21999', host: hosts.host(2), extra: ['--network', 'bridge', '--dns-addr', '127.77.0.10:53', '--dns-upstream', '127.0.0.1:9'] });
    // Let the restarted node sync and look for orphans, then count what it holds.
    await cluster.waitFor('pods on bridge-b ready again', async () => {
      const now = (await pods('app=web')).filter((p) => p.node === 'bridge-b');
      return now.length === before.length && now.every((p) => p.ready) ? true : undefined;
    }, 300);
    const after = (await pods('app=web')).filter((p) => p.node === 'bridge-b');
    assert.deepEqual(after.map((p) => [p.name, p.ip]).sort(), before.map((p) => [p.name, p.ip]).sort());
    const podsOnB = (await cluster.kubectl(['get', 'pods', '--field-selector', 'spec.nodeName=bridge-b', '-o', 'name'])).stdout.trim().split('\n').filter(Boolean);
    // The sandboxes made ahead of pods are kept too, and the pool is full again.
    const saved = await cluster.waitFor('bridge-b to have its ready sandboxes', async () => {
      const now = savedAddresses(cluster, 'bridge-b');
      return now.warm.length === WARM ? now : undefined;
    });
    const sandboxes = podSandboxes(cluster, 'bridge-b');
    assert.equal(sandboxes.length, podsOnB.length, `one sandbox per pod: ${sandboxes.join(' ')}`);
    assert.equal(SimulatedHosts.namespaces(sandboxPrefix('bridge-b')).length, podsOnB.length + WARM, 'and the ready ones');
    const veths = (await hosts.run(2, ['ip', '-o', 'link', 'show', 'master', 'tug0'])).stdout.trim().split('\n').filter(Boolean);
    assert.equal(veths.length, podsOnB.length + WARM, 'one veth per sandbox');
    assert.equal(Object.keys(saved.pods).length, podsOnB.length, 'one address per pod');
    assert.equal(new Set([...Object.values(saved.pods), ...saved.warm]).size, podsOnB.length + WARM, 'no address twice');
    for (const p of after) assert.equal(JSON.parse(await fetchFrom(client.name, `http://${p.ip}:${PORT}/`)).pod, p.name);
  });

  it('a rolling update under load through the ClusterIP, from another host: zero failed requests', async (t) => {
    const labels = { app: 'roll' };
    const template = (version: string) => ({
      metadata: { labels },
      spec: {
        terminationGracePeriodSeconds: 5,
        containers: [{ name: 'web', image: 'local/web:1', command: serverCommand(marker), env: [{ name: 'VERSION', value: version }], ports: [{ name: 'http', containerPort: PORT }], readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1 } }],
      },
    });
    const deployment = (version: string) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'roll' }, spec: { replicas: 3, selector: { matchLabels: labels }, strategy: { rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }, template: template(version) } });
    await cluster.apply(deployment('1'));
    // A port named http: the proxy balances each request, over keep-alive connections.
    await cluster.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'roll' }, spec: { selector: labels, ports: [{ name: 'http', port: 8080, targetPort: 'http' }] } });
    assert.equal((await cluster.kubectl(['rollout', 'status', 'deploy/roll', '--timeout=120s'])).code, 0);
    const svc = JSON.parse((await cluster.kubectl(['get', 'svc', 'roll', '-o', 'json'])).stdout);
    const stopFile = join(cluster.dir, 'roll.stop');
    // Four keep-alive clients on host 3 (whose node proxies them to pods on all three hosts) until told to stop.
    const script = `const http=require('http'),fs=require('fs');const agent=new http.Agent({keepAlive:true,maxSockets:4});let sent=0;const failures=[];const pods=new Set();const one=()=>new Promise((res)=>{const q=http.get('http://${svc.spec.clusterIP}:8080/',{agent,timeout:5000},(r)=>{let b='';r.on('data',(d)=>b+=d);r.on('end',()=>{if(r.statusCode!==200)failures.push('HTTP '+r.statusCode);else pods.add(JSON.parse(b).pod);res()})});q.on('timeout',()=>q.destroy(new Error('timeout')));q.on('error',(e)=>{failures.push(e.message);res()})});const until=Date.now()+120000;const worker=async()=>{while(!fs.existsSync('${stopFile}')&&Date.now()<until){sent++;await one()}};Promise.all([0,1,2,3].map(worker)).then(()=>{console.log(JSON.stringify({sent,failures,pods:[...pods]}));agent.destroy()})`;
    const loader = spawn(hosts.host(3).wrap[0], [...hosts.host(3).wrap.slice(1), process.execPath, '-e', script, marker], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    loader.stdout!.on('data', (d) => (out += d));
    const exited = new Promise((r) => loader.once('exit', r));
    try {
      await cluster.apply(deployment('2'));
      const status = await cluster.kubectl(['rollout', 'status', 'deploy/roll', '--timeout=120s']);
      assert.equal(status.code, 0, status.stderr);
    } finally {
      writeFileSync(stopFile, '');
      await exited;
    }
    const result = JSON.parse(out) as { sent: number; failures: string[]; pods: string[] };
    t.diagnostic(`${result.sent} requests during the rollout, ${result.failures.length} failed, answered by ${result.pods.length} pods`);
    assert.deepEqual(result.failures, [], 'zero failed requests');
    assert.ok(result.pods.length >= 6, `old and new pods answered: ${result.pods.join(' ')}`);
    assert.equal((await cluster.kubectl(['delete', 'deployment', 'roll'])).code, 0);
    await cluster.waitFor('roll pods gone', async () => ((await pods('app=roll')).length === 0 ? true : undefined), 300);
  });

  it('deleting the pods removes their sandboxes, veths and addresses', async () => {
    const r = await cluster.kubectl(['delete', 'deployment', 'web']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await cluster.kubectl(['delete', 'pod', 'pair', '--grace-period=1'])).code, 0);
    await cluster.waitFor('no pods left', async () => ((await pods('app=web')).length === 0 ? true : undefined), 300);
    await noSandboxLeft(cluster, nodeNames);
    for (const [i, n] of nodeNames.entries()) {
      const links = await hosts.run(i + 1, ['ip', '-o', 'link', 'show']);
      const { pods: held, warm } = savedAddresses(cluster, n);
      assert.equal(links.stdout.match(/ tv[0-9a-f]{12}@/g)?.length ?? 0, warm.length, `host ${i + 1}: a veth for each ready sandbox, none for a pod`);
      assert.deepEqual(held, {}, `${n} still holds addresses`);
    }
  });
  it('200 pod create/delete cycles leave no namespace, veth, address or rule behind', async () => {
    const ROUNDS = 10;
    const PER_ROUND = 20;
    for (let round = 0; round < ROUNDS; round++) {
      const items = Array.from({ length: PER_ROUND }, (_, i) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `cycle-${round}-${i}`, labels: { app: 'cycle' } },
        spec: { nodeName: nodeNames[i % nodeNames.length], terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'local/sleep:1', command: ['/bin/sh', '-c', 'sleep 3600; :', marker] }] },
      }));
      await cluster.apply({ apiVersion: 'v1', kind: 'List', items });
      await cluster.waitFor(`round ${round}: ${PER_ROUND} pods running with addresses`, async () => {
        const list = await pods('app=cycle');
        return list.length === PER_ROUND && list.every((p) => p.ip) ? true : undefined;
      }, 600);
      const del = await cluster.kubectl(['delete', 'pods', '-l', 'app=cycle', '--grace-period=1', '--wait=false']);
      assert.equal(del.code, 0, del.stderr);
      await cluster.waitFor(`round ${round}: pods gone`, async () => ((await pods('app=cycle')).length === 0 ? true : undefined), 600);
    }
    await noSandboxLeft(cluster, nodeNames);
    for (const [i, n] of nodeNames.entries()) {
      const veths = (await hosts.run(i + 1, ['ip', '-o', 'link', 'show', 'master', 'tug0'])).stdout.trim().split('\n').filter(Boolean);
      const { pods: held, warm } = savedAddresses(cluster, n);
      assert.equal(veths.length, warm.length, `${n}: a veth for each ready sandbox, none for a pod`);
      assert.ok(warm.length <= WARM, `${n}: ${warm.length} ready sandboxes`);
      assert.deepEqual(held, {}, `${n} still holds addresses`);
      const rules = (await hosts.run(i + 1, ['nft', 'list', 'ruleset'])).stdout;
      assert.doesNotMatch(rules, /dnat to|jump (ing|egr)_/, `${n}: a per-pod rule is left\n${rules}`);
      const nat = (await hosts.run(i + 1, ['nft', 'list', 'table', 'ip', 'tugboat_host'])).stdout;
      assert.equal(nat.match(/masquerade/g)?.length, 1, nat);
    }
  });
});

describe('tug up picks the bridge network where it can', { ...(await needs('kubectl', 'root', 'netns', 'nftables')), concurrency: false }, () => {
  const hosts = new SimulatedHosts();
  const cleanups: (() => unknown)[] = [];
  const scope = { after: (fn: () => unknown) => cleanups.push(fn) };
  let home = '';

  before(() => {
    hosts.create(1);
    home = tempDir(scope);
  });

  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
    killPodsOf(home);
    hosts.destroy([sandboxPrefix(hostname().toLowerCase())]);
  });

  it('says so, and the example pods have their own addresses behind the ClusterIP', async () => {
    const up = await startUp(scope, home, '22100-22199', [], hosts.host(1));
    assert.match(up.output(), /network bridge: each pod gets its own address/);
    const podUrls = [...up.output().matchAll(/curl (http:\/\/198\.19\.\d+\.\d+:8080\/)\s+# (\S+) answers with its name/g)];
    assert.equal(podUrls.length, 3, up.output());
    for (const [, url, pod] of podUrls) assert.equal((await hosts.run(1, [process.execPath, '-e', FETCH, url])).stdout.trim(), pod);
    const service = /curl (http:\/\/127\.77\.\d+\.\d+:\d+\/)\s+# the echo Service/.exec(up.output())?.[1];
    assert.ok(service, up.output());
    const answered = new Set<string>();
    for (let i = 0; i < 6; i++) answered.add((await hosts.run(1, [process.execPath, '-e', FETCH, service])).stdout.trim());
    assert.deepEqual(answered, new Set(podUrls.map((m) => m[2])));
    assert.equal(await up.stop('SIGTERM'), 0);
  });
});

describe('bridge pod network with the docker runtime on three hosts', { ...(await needs('kubectl', 'root', 'netns', 'nftables', 'docker', 'registry')), concurrency: false }, () => {
  const hosts = new SimulatedHosts();
  let cluster: NodeCluster;
  const nodeNames = ['dock-a', 'dock-b', 'dock-c'];
  const DOCKER_REPLICAS = 6;
  let registry: ChildProcess | undefined;
  let image = '';

  before(async () => {
    const docker = dockerClient();
    await ensureBusyboxImage(docker);
    hosts.create(3);
    cluster = new NodeCluster(hosts.host(1));
    await cluster.start();
    // An image built here and served by a registry on this machine's loopback, where dockerd pulls from.
    const dir = join(cluster.dir, 'registry');
    mkdirSync(join(dir, 'data'), { recursive: true });
    const port = await freePort();
    writeFileSync(join(dir, 'config.yml'), `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: 127.0.0.1:${port}\n`);
    registry = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
    image = `127.0.0.1:${port}/podnet-web:1`;
    await eventually(async () => ((await run('docker', ['tag', BUSYBOX_IMAGE, image])).code === 0 && (await run('docker', ['push', image], { timeoutMs: 60_000 })).code === 0 ? true : undefined), 50, 200);
    assert.equal((await run('docker', ['rmi', image])).code, 0);
    for (const [i, name] of nodeNames.entries()) {
      await cluster.startNode({ name, portRange: '22200-22299', runtime: 'docker', host: hosts.host(i + 1), extra: ['--network', 'bridge'] });
    }
  });

  after(async () => {
    await cluster?.cleanup();
    const docker = dockerClient();
    for (const n of nodeNames) {
      for (const c of await docker.listContainers({ all: true, filters: { label: [`io.tugboat.node=${n}`] } })) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    }
    await docker.getImage(image).remove().catch(() => undefined);
    registry?.kill('SIGTERM');
    hosts.destroy(nodeNames.map(sandboxPrefix));
  });

  it('runs 6 replicas of an image on port 80, two per host, each with its own address, reachable by address and ClusterIP from inside a docker pod and a process pod', async () => {
    await cluster.apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web80' },
      spec: {
        replicas: DOCKER_REPLICAS,
        selector: { matchLabels: { app: 'web80' } },
        template: {
          metadata: { labels: { app: 'web80' } },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'web', image, command: ['sh', '-c', 'hostname > /www/index.html; exec httpd -f -p 80 -h /www'], ports: [{ name: 'http', containerPort: 80 }], readinessProbe: { tcpSocket: { port: 80 }, periodSeconds: 1 } }],
          },
        },
      },
    });
    await cluster.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web80' }, spec: { selector: { app: 'web80' }, ports: [{ port: 80, targetPort: 'http' }] } });
    const list = await cluster.waitFor(`${DOCKER_REPLICAS} ready docker pods`, async () => {
      const r = await cluster.kubectl(['get', 'pods', '-l', 'app=web80', '-o', 'json']);
      const items = JSON.parse(r.stdout).items as any[];
      const ready = items.filter((p) => p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
      return ready.length === DOCKER_REPLICAS ? ready.map((p) => ({ name: p.metadata.name as string, node: p.spec.nodeName as string, ip: p.status.podIP as string })) : undefined;
    }, 900);
    assert.equal(new Set(list.map((p) => p.ip)).size, DOCKER_REPLICAS);
    for (const n of nodeNames) assert.equal(list.filter((p) => p.node === n).length, 2, `two pods on ${n}`);
    const cidrs = new Map((JSON.parse((await cluster.kubectl(['get', 'nodes', '-o', 'json'])).stdout).items as any[]).map((n) => [n.metadata.name, n.spec.podCIDR]));
    for (const p of list) assert.ok(cidrContains(cidrs.get(p.node), p.ip), `${p.name} ${p.ip} in ${cidrs.get(p.node)}`);
    const client = list[0];
    // busybox's nc (its static wget cannot run in a bare image): the body is the last line of the answer.
    const get = async (address: string) => {
      const r = await cluster.kubectl(['exec', client.name, '--', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${address} 80`]);
      return r.stdout.trim().split('\n').pop()?.trim() ?? `exit ${r.code}: ${r.stderr}`;
    };
    for (const server of list.slice(1)) assert.equal(await get(server.ip), server.name, `${client.name} -> ${server.name}`);
    const svc = JSON.parse((await cluster.kubectl(['get', 'svc', 'web80', '-o', 'json'])).stdout);
    const answered = new Set<string>();
    for (let i = 0; i < 6; i++) answered.add(await get(svc.spec.clusterIP));
    assert.ok([...answered].every((n) => list.some((p) => p.name === n)) && answered.size >= 2, [...answered].join(' '));
    const events = (await cluster.eventsFor(client.name)).map((e) => e.reason);
    assert.ok(events.includes('Pulled') || events.includes('Pulling'), events.join(' '));
    // A process pod in the same network reaches every docker pod by address, and the Service by name.
    await cluster.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'proc-client' }, spec: { nodeName: 'dock-c', runtimeClassName: 'process', terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'local/sleep:1', command: ['/bin/sh', '-c', 'sleep 3600; :', cluster.marker('proc-client')] }] } });
    await cluster.waitFor('the process pod running', async () => ((await cluster.podJson('proc-client')).status?.containerStatuses?.[0]?.state?.running ? true : undefined));
    const fetch = async (url: string) => (await cluster.kubectl(['exec', 'proc-client', '--', process.execPath, '-e', FETCH, url])).stdout.trim();
    for (const server of list) assert.equal(await fetch(`http://${server.ip}/`), server.name, `proc-client -> ${server.name} (${server.node})`);
    const viaService = await fetch(`http://${svc.spec.clusterIP}/`);
    assert.ok(list.some((p) => p.name === viaService), `the ClusterIP from a process pod: ${viaService}`);
    assert.equal((await cluster.kubectl(['delete', 'pod', 'proc-client', '--grace-period=1'])).code, 0);
  });

  it('a pause container that dies is replaced: the pod gets a new sandbox with its address and answers again', async () => {
    const docker = dockerClient();
    const items = JSON.parse((await cluster.kubectl(['get', 'pods', '-l', 'app=web80', '-o', 'json'])).stdout).items as any[];
    const [victim, client] = items;
    const pauseOf = async (uid: string) => (await docker.listContainers({ filters: { label: [`io.tugboat.pod.uid=${uid}`, 'io.tugboat.sandbox=true'] } }))[0];
    const before = await pauseOf(victim.metadata.uid);
    assert.ok(before, 'the pod has a running pause container');
    await docker.getContainer(before.Id).kill();
    const event = await cluster.waitFor('a SandboxChanged event', async () => (await cluster.eventsFor(victim.metadata.name)).find((e) => e.reason === 'SandboxChanged'));
    assert.match(event.message, /Pod sandbox changed, it will be killed and re-created/);
    const now = await cluster.waitFor('the pod ready again in a new sandbox', async () => {
      const p = await cluster.podJson(victim.metadata.name);
      const ready = p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
      const pause = await pauseOf(victim.metadata.uid);
      return ready && pause && pause.Id !== before.Id && p.status.containerStatuses[0].restartCount > 0 ? p : undefined;
    }, 300);
    assert.equal(now.status.podIP, victim.status.podIP, 'the same address');
    const r = await cluster.kubectl(['exec', client.metadata.name, '--', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${now.status.podIP} 80`]);
    assert.equal(r.stdout.trim().split('\n').pop()?.trim(), victim.metadata.name, r.stderr);
  });

  it('deleting the pods removes their pause containers, sandboxes and addresses', async () => {
    assert.equal((await cluster.kubectl(['delete', 'deployment', 'web80'])).code, 0);
    await noSandboxLeft(cluster, nodeNames);
    const docker = dockerClient();
    await cluster.waitFor('no pause container left', async () => {
      const left = await docker.listContainers({ all: true, filters: { label: ['io.tugboat.sandbox=true'] } });
      return left.filter((c) => nodeNames.includes(c.Labels['io.tugboat.node'])).length === 0 ? true : undefined;
    }, 100);
    for (const n of nodeNames) assert.deepEqual(savedAddresses(cluster, n).pods, {});
  });
});

describe('vxlan overlay between hosts on different segments', { ...(await needs('kubectl', 'root', 'netns', 'nftables')), concurrency: false }, () => {
  const hosts = new SimulatedHosts();
  let cluster: NodeCluster;
  const nodeNames = ['vx-a', 'vx-b'];
  let marker = '';

  before(async () => {
    hosts.createRouted(2);
    cluster = new NodeCluster(hosts.host(1));
    await cluster.start();
    marker = cluster.marker('vxlan');
    for (const [i, name] of nodeNames.entries()) {
      await cluster.startNode({ name, portRange: '22300-22399', host: hosts.host(i + 1), extra: ['--network', 'bridge', '--overlay', 'vxlan'] });
    }
  });

  after(async () => {
    await cluster?.cleanup();
    hosts.destroy(nodeNames.map(sandboxPrefix));
  });

  it('pods on hosts behind a router reach each other with their own addresses, through the tunnel', async () => {
    for (const [i, node] of nodeNames.entries()) {
      await cluster.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `vx-${i}`, labels: { app: 'vx' } }, spec: { nodeName: node, terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'local/web:1', command: serverCommand(marker), ports: [{ containerPort: PORT }] }] } });
    }
    const ips = await cluster.waitFor('both pods running', async () => {
      const got = await Promise.all([0, 1].map(async (i) => {
        const p = await cluster.podJson(`vx-${i}`);
        return p.status?.containerStatuses?.[0]?.state?.running ? (p.status.podIP as string) : undefined;
      }));
      return got.every(Boolean) ? (got as string[]) : undefined;
    }, 300);
    const exec = (pod: string, argv: string[]) => cluster.kubectl(['exec', pod, '--', ...argv]);
    const answer = await cluster.waitFor('vx-0 reaches vx-1', async () => {
      const r = await exec('vx-0', [process.execPath, '-e', FETCH, `http://${ips[1]}:${PORT}/`]);
      return r.stdout.startsWith('{') ? JSON.parse(r.stdout) : undefined;
    }, 100);
    assert.deepEqual(answer, { pod: 'vx-1', from: ips[0] });
    assert.deepEqual(JSON.parse((await exec('vx-1', [process.execPath, '-e', FETCH, `http://${ips[0]}:${PORT}/`])).stdout), { pod: 'vx-0', from: ips[1] });
    const cidrB = JSON.parse((await cluster.kubectl(['get', 'node', 'vx-b', '-o', 'json'])).stdout).spec.podCIDR;
    const route = await hosts.run(1, ['ip', 'route', 'show', cidrB]);
    assert.match(route.stdout, /dev tugvx/, route.stdout);
    const link = await exec('vx-0', ['ip', '-o', 'link', 'show', 'eth0']);
    assert.match(link.stdout, / mtu 1450 /, 'the pod MTU leaves room for the vxlan header');
  });

  it('a Service reaches an isolated pod on the other host through the tunnel when its policy allows the client', async () => {
    await cluster.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'vx' }, spec: { selector: { app: 'vx' }, ports: [{ port: 80, targetPort: PORT }] } });
    // vx-1 admits only pods labelled app=vx; the proxy on vx-a connects to it from its tunnel end.
    await cluster.apply({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'vx-only' }, spec: { podSelector: { matchLabels: { app: 'vx' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'vx' } } }] }] } });
    const svc = JSON.parse((await cluster.kubectl(['get', 'svc', 'vx', '-o', 'json'])).stdout);
    const seen = await cluster.waitFor('both pods through the Service', async () => {
      const got = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const r = await cluster.kubectl(['exec', 'vx-0', '--', process.execPath, '-e', FETCH, `http://${svc.spec.clusterIP}/`]);
        if (r.stdout.startsWith('{')) got.add(JSON.parse(r.stdout).pod);
      }
      return got.size === 2 ? got : undefined;
    }, 30);
    assert.deepEqual(seen, new Set(['vx-0', 'vx-1']));
  });
});

describe('a mixed cluster: a bridge node and a hostport node', { ...(await needs('kubectl', 'root', 'netns', 'nftables')), concurrency: false }, () => {
  const hosts = new SimulatedHosts();
  let cluster: NodeCluster;
  let marker = '';

  before(async () => {
    hosts.create(2);
    cluster = new NodeCluster(hosts.host(1));
    await cluster.start();
    marker = cluster.marker('mixed');
    await cluster.startNode({ name: 'mix-bridge', portRange: '22400-22449', host: hosts.host(1), extra: ['--network', 'bridge'] });
    await cluster.startNode({ name: 'mix-hostport', portRange: '22450-22499', host: hosts.host(2) });
  });

  after(async () => {
    await cluster?.cleanup();
    hosts.destroy([sandboxPrefix('mix-bridge')]);
  });

  it('pods of both kinds reach each other directly and through one Service', async () => {
    // The hostport pod listens on $PORT (its node port); the bridge pod on its containerPort.
    const hostportServer = `require('http').createServer((q,s)=>s.end(JSON.stringify({pod:process.env.HOSTNAME,from:q.socket.remoteAddress.replace(/^::ffff:/,'')}))).listen(process.env.PORT,'0.0.0.0')`;
    const pod = (name: string, node: string, command: string[]) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: 'mix' } }, spec: { nodeName: node, terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'local/web:1', command, ports: [{ name: 'http', containerPort: PORT }], readinessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 1 } }] } });
    await cluster.apply(pod('bp', 'mix-bridge', serverCommand(marker)));
    await cluster.apply(pod('hp', 'mix-hostport', [process.execPath, '-e', hostportServer, marker]));
    await cluster.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'mix' }, spec: { selector: { app: 'mix' }, ports: [{ port: 80, targetPort: 'http' }] } });
    const ready = await cluster.waitFor('both pods ready', async () => {
      const [bp, hp] = await Promise.all([cluster.podJson('bp'), cluster.podJson('hp')]);
      const isReady = (p: any) => p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
      return isReady(bp) && isReady(hp) ? { bp: bp.status.podIP as string, hp: hp.status.podIP as string } : undefined;
    }, 300);
    assert.ok(ready.bp.startsWith('198.19.'), `bridge pod ${ready.bp}`);
    assert.equal(ready.hp, '198.18.0.2', 'the hostport pod has its node address');
    const eps = JSON.parse((await cluster.kubectl(['get', 'endpoints', 'mix', '-o', 'json'])).stdout);
    const hpPort = eps.subsets.flatMap((s: any) => s.addresses.map((a: any) => [a.ip, s.ports[0].port])).find(([ip]: [string]) => ip === ready.hp)?.[1];
    assert.ok(hpPort, JSON.stringify(eps));
    const svc = JSON.parse((await cluster.kubectl(['get', 'svc', 'mix', '-o', 'json'])).stdout);
    for (const client of ['bp', 'hp']) {
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const r = await cluster.kubectl(['exec', client, '--', process.execPath, '-e', FETCH, `http://${svc.spec.clusterIP}/`]);
        if (r.stdout.startsWith('{')) seen.add(JSON.parse(r.stdout).pod);
      }
      assert.deepEqual(seen, new Set(['bp', 'hp']), `${client} through the Service`);
    }
    const direct = JSON.parse((await cluster.kubectl(['exec', 'bp', '--', process.execPath, '-e', FETCH, `http://${ready.hp}:${hpPort}/`])).stdout);
    assert.deepEqual(direct, { pod: 'hp', from: ready.bp }, 'a bridge pod reaches a hostport pod with its own address');
    const back = JSON.parse((await cluster.kubectl(['exec', 'hp', '--', process.execPath, '-e', FETCH, `http://${ready.bp}:${PORT}/`])).stdout);
    assert.deepEqual(back, { pod: 'bp', from: '198.18.0.2' }, 'a hostport pod reaches a bridge pod by its address');
  });
});

describe('an exhausted podCIDR', { ...(await needs('kubectl', 'root', 'netns', 'nftables')), concurrency: false }, () => {
  const hosts = new SimulatedHosts();
  let cluster: NodeCluster;
  let marker = '';

  before(async () => {
    hosts.create(1);
    cluster = new NodeCluster(hosts.host(1));
    // A /30 per node: its network address, the gateway, one pod address and the broadcast address.
    await cluster.start(['--node-cidr-mask-size', '30']);
    marker = cluster.marker('full');
    await cluster.startNode({ name: 'tiny', portRange: '22500-22549', host: hosts.host(1), extra: ['--network', 'bridge'] });
  });

  after(async () => {
    await cluster?.cleanup();
    hosts.destroy([sandboxPrefix('tiny')]);
  });

  it('gives a FailedCreatePodSandBox event and a waiting pod, never a duplicate address; the pod starts once an address is free', async () => {
    const pod = (name: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { nodeName: 'tiny', terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'local/web:1', command: serverCommand(marker) }] } });
    await cluster.apply(pod('first'));
    const ip = await cluster.waitFor('first running', async () => {
      const p = await cluster.podJson('first');
      return p.status?.containerStatuses?.[0]?.state?.running ? (p.status.podIP as string) : undefined;
    });
    assert.equal(ip, '198.19.0.2');
    await cluster.apply(pod('second'));
    const event = await cluster.waitFor('the sandbox event', async () => (await cluster.eventsFor('second')).find((e) => e.reason === 'FailedCreatePodSandBox'));
    assert.equal(event.type, 'Warning');
    assert.match(event.message, /every address of this node's podCIDR 198\.19\.0\.0\/30 is in use/);
    const waiting = await cluster.podJson('second');
    assert.equal(waiting.status?.podIP, undefined);
    assert.equal(waiting.status?.containerStatuses?.[0]?.state?.waiting?.reason, 'ContainerCreating');
    assert.equal((await cluster.kubectl(['delete', 'pod', 'first', '--grace-period=1'])).code, 0);
    const second = await cluster.waitFor('second running', async () => {
      const p = await cluster.podJson('second');
      return p.status?.containerStatuses?.[0]?.state?.running ? (p.status.podIP as string) : undefined;
    }, 300);
    assert.equal(second, '198.19.0.2', 'the freed address');
  });
});
