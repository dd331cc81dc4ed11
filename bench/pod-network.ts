// Bridge network benchmark, inside network namespaces this run makes (two simulated hosts on a
// private LAN, as the tests do; nothing touches the machine's own interfaces):
//  1. sandbox overhead: the network step of 100 process pod starts, p50 and p99, against what the
//     hostport mode does instead (a node port checked free and taken): with the node's pool of
//     ready sandboxes, pods arriving --gap ms apart and all at once; and a sandbox (netns, veth,
//     address, routes) made when none is ready;
//  2. pod-to-pod TCP: request/response round trips over 8 connections for a few seconds, pod to
//     pod on one host and across hosts, against the same client and server on one loopback, and
//     across hosts also against node to node on the same simulated wire (best of two runs each);
//  3. NetworkPolicy programming: with 1,000 policies and 100 local pods, one policy changed at a
//     time, how long until the node's nftables table is swapped (model, rules, nft), p50 and p99.
//
//   node dist/bench/pod-network.js [--pods 100] [--seconds 5] [--gap 50] [--warm 4]
// Needs root, iproute2, nftables and util-linux (nsenter).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { intToIp, ipToInt } from '../api/cidr.js';
import { PolicyIndex, type PolicyPod } from '../api/netpol.js';
import type { NetworkPolicy } from '../api/types.js';
import { run } from '../node/network/command.js';
import { setUpBridge } from '../node/network/host.js';
import { policyTable } from '../node/network/policy-rules.js';
import { PodAddresses } from '../node/network/ipam.js';
import { createSandbox, deleteSandbox, sandboxFor } from '../node/network/sandbox.js';
import { WarmSandboxes } from '../node/network/warm.js';
import { PortAllocator } from '../node/ports.js';
import { makeSimulatedHosts, percentile, pingPong, requireTools } from './harness.js';

const SELF = fileURLToPath(import.meta.url);
const { values } = parseArgs({ options: { pods: { type: 'string', default: '100' }, seconds: { type: 'string', default: '5' }, gap: { type: 'string', default: '50' }, warm: { type: 'string', default: '4' }, inside: { type: 'string' }, host: { type: 'string' } } });
const PODS = Number(values.pods);
const GAP_MS = Number(values.gap);
const WARM = Number(values.warm);
const SECONDS = Number(values.seconds);
const PREFIX = `tb${process.pid % 100000}`;
const SCOPE = 'bench';

function podCidr(host: number): string {
  return `198.19.${host - 1}.0/24`;
}

/** Runs this file again inside host `h`'s namespace with `--inside part`; returns its JSON answer. */
function inside(h: number, part: string): Promise<any> {
  const child = spawn('nsenter', [`--net=/run/netns/${PREFIX}-h${h}`, '--', process.execPath, SELF, '--inside', part, '--host', String(h), '--pods', String(PODS), '--seconds', String(SECONDS), '--gap', String(GAP_MS), '--warm', String(WARM)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return once(child, 'exit').then(([code]) => {
    if (code !== 0) throw new Error(`${part} on host ${h} exited ${code}`);
    return JSON.parse(out);
  });
}

function removeHosts(): void {
  const names = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0]);
  for (const n of names) if (n.startsWith(`tug-${SCOPE}-`) || n.startsWith(`${PREFIX}-`)) spawnSync('ip', ['netns', 'del', n]);
}

/** The bridge of host `h` and the sandbox of its pod number i. */
async function bridgeOf(h: number) {
  const gateway = intToIp(ipToInt(podCidr(h).split('/')[0]) + 1);
  await setUpBridge({ bridge: 'tug0', gatewayCidr: `${gateway}/24`, clusterCidr: '198.19.0.0/16', serviceCidr: '127.77.0.0/16' });
  const net = { bridge: 'tug0', gateway, prefix: 24, serviceCidr: '127.77.0.0/16' };
  const sandbox = (i: number) => sandboxFor(SCOPE, intToIp(ipToInt(gateway) + 1 + i));
  return { net, sandbox };
}

const stats = (xs: number[]) => ({ p50: percentile([...xs].sort((a, b) => a - b), 50), p99: percentile([...xs].sort((a, b) => a - b), 99) });

/**
 * The node's network step for PODS pods, as BridgeNetwork.attach does it for a process pod: a
 * ready sandbox taken from the pool, else an address and a sandbox made now. `gapMs` apart
 * (pods arriving at a steady rate) or all at once (0).
 */
async function pooledStarts(h: number, gapMs: number): Promise<number[]> {
  const { net } = await bridgeOf(h);
  const addresses = new PodAddresses(podCidr(h), undefined);
  const warm = new WarmSandboxes({ size: WARM, scope: SCOPE, addresses, net, log: (m) => console.error(m) });
  await warm.start();
  while (warm.count < WARM) await sleep(10);
  const times: number[] = [];
  for (let i = 0; i < PODS; i++) {
    if (gapMs) await sleep(gapMs);
    const t = performance.now();
    const uid = `pod-${i}`;
    if (warm.take(uid) === undefined) await createSandbox(sandboxFor(SCOPE, addresses.allocate(uid)), net);
    times.push(performance.now() - t);
  }
  await warm.stop();
  for (const key of addresses.pods()) await deleteSandbox(sandboxFor(SCOPE, addresses.get(key)!));
  return times;
}

async function sandboxOverhead(h: number): Promise<unknown> {
  const { net, sandbox } = await bridgeOf(h);
  const made: number[] = [];
  const removed: number[] = [];
  for (let i = 0; i < PODS; i++) {
    const t = performance.now();
    await createSandbox(sandbox(i), net);
    made.push(performance.now() - t);
  }
  for (let i = 0; i < PODS; i++) {
    const t = performance.now();
    await deleteSandbox(sandbox(i));
    removed.push(performance.now() - t);
  }
  const ports = new PortAllocator([41000, 41000 + PODS]);
  const hostport: number[] = [];
  for (let i = 0; i < PODS; i++) {
    const t = performance.now();
    await ports.assign(`pod-${i}`, [{ name: 'c', image: 'x', ports: [{ containerPort: 8080 }] }]);
    hostport.push(performance.now() - t);
  }
  const steady = await pooledStarts(h, GAP_MS);
  const burst = await pooledStarts(h, 0);
  return { made: stats(made), removed: stats(removed), hostport: stats(hostport), steady: stats(steady), burst: stats(burst) };
}


/** An echo server in `netns` (a path, or undefined for the current one) on addr:port. */
function echoServer(netns: string | undefined, addr: string, port: number): ChildProcess {
  const script = `require('net').createServer((s)=>{s.setNoDelay(true);s.pipe(s)}).listen(${port},'${addr}',()=>console.log('up'))`;
  const argv = [...(netns ? ['nsenter', `--net=${netns}`, '--'] : []), process.execPath, '-e', script];
  return spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
}

async function up(child: ChildProcess): Promise<void> {
  await once(child.stdout!, 'data');
}

async function podToPod(h: number): Promise<unknown> {
  const { net, sandbox } = await bridgeOf(h);
  for (const i of [0, 1]) await createSandbox(sandbox(i), net);
  const local = echoServer(undefined, '127.0.0.1', 7000);
  const pod = echoServer(sandbox(1).path, '0.0.0.0', 7000);
  // The node itself on the LAN: what the simulated wire between hosts costs without pods.
  const node = echoServer(undefined, `198.18.0.${h}`, 7001);
  try {
    await Promise.all([up(local), up(pod), up(node)]);
    if (h === 2) {
      // The far end serves until the measuring side is done with it.
      process.stdout.write('ready\n');
      await once(process, 'SIGTERM');
      return { served: sandbox(1).ip };
    }
    const client = (target: string) => run(['nsenter', `--net=${sandbox(0).path}`, '--', process.execPath, SELF, '--inside', `client:${target}`, '--seconds', String(SECONDS)]).then((o) => JSON.parse(o));
    // Timings here are noisy: each path is measured twice, in turn with the others, and its better run counts.
    const runs: Record<string, { rate: number; p99us: number }[]> = { loopback: [], sameHost: [], acrossHosts: [], nodeToNode: [] };
    for (let round = 0; round < 2; round++) {
      runs.loopback.push(await pingPong('127.0.0.1', 7000, SECONDS));
      runs.sameHost.push(await client(sandbox(1).ip));
      runs.acrossHosts.push(await client(intToIp(ipToInt('198.19.1.1') + 2)));
      runs.nodeToNode.push(await pingPong('198.18.0.2', 7001, SECONDS));
    }
    return Object.fromEntries(Object.entries(runs).map(([path, rs]) => [path, rs.reduce((a, b) => (b.rate > a.rate ? b : a))]));
  } finally {
    local.kill();
    pod.kill();
    node.kill();
  }
}

function policies(n: number, version: number): NetworkPolicy[] {
  return Array.from({ length: n }, (_, i) => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: `p${i}`, namespace: 'default' },
    spec: { podSelector: { matchLabels: { app: `svc-${i % 100}` } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: `client-${(i + version) % 50}` } } }], ports: [{ protocol: 'TCP', port: 8080 + (i % 10) }] }] },
  }));
}

async function policyProgramming(): Promise<unknown> {
  const pods: PolicyPod[] = Array.from({ length: PODS * 2 }, (_, i) => ({ namespace: 'default', name: `pod-${i}`, ip: intToIp(ipToInt('198.19.0.2') + i), labels: (i < PODS ? { app: `svc-${i % 100}` } : { role: `client-${i % 50}` }) as Record<string, string>, ports: [] }));
  const local = pods.slice(0, PODS);
  const namespaces = new Map([['default', {}]]);
  const times: number[] = [];
  for (let change = 0; change < 50; change++) {
    const t = performance.now();
    const index = new PolicyIndex(policies(1000, change), pods, namespaces);
    await run(['nft', '-f', '-'], policyTable(index, local, ['198.18.0.1', '198.18.0.2'], '127.77.0.0/16'));
    times.push(performance.now() - t);
  }
  const rules = (await run(['nft', 'list', 'table', 'inet', 'tugboat_policy'])).split('\n').length;
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), lines: rules };
}

async function insideMain(part: string): Promise<void> {
  const h = Number(values.host ?? 1);
  let result: unknown;
  if (part === 'sandbox') result = await sandboxOverhead(h);
  else if (part === 'pods') result = await podToPod(h);
  else if (part === 'policy') result = await policyProgramming();
  else if (part.startsWith('client:')) result = await pingPong(part.slice(7), 7000, SECONDS);
  process.stdout.write(JSON.stringify(result));
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the pod network benchmark needs root (network namespaces)');
  requireTools(['ip', 'nft', 'nsenter'], 'iproute2 nftables util-linux');
  makeSimulatedHosts(PREFIX, 2, (h) => [`route add ${podCidr(3 - h)} via 198.18.0.${3 - h}`]);
  try {
    const sandbox = await inside(1, 'sandbox');
    // The far server first: host 2 keeps its pod's sandbox while host 1 measures.
    const far = spawn('nsenter', [`--net=/run/netns/${PREFIX}-h2`, '--', process.execPath, SELF, '--inside', 'pods', '--host', '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(far.stdout!, 'data');
    const pods = await inside(1, 'pods');
    far.kill('SIGTERM');
    await once(far, 'exit');
    const policy = await inside(1, 'policy');
    const ms = (x: number) => `${x.toFixed(2)} ms`;
    const plus = (x: number) => `${x < 0 ? '−' : '+'}${ms(Math.abs(x))}`;
    const lines = [
      `| measure | tugboat bridge | peer | ratio |`,
      `|---|---|---|---|`,
      `| network step of a pod start, pods ${GAP_MS} ms apart (${WARM} kept ready), p50 / p99 (${PODS} pods) | ${ms(sandbox.steady.p50)} / ${ms(sandbox.steady.p99)} | hostport port ${ms(sandbox.hostport.p50)} / ${ms(sandbox.hostport.p99)} | ${plus(sandbox.steady.p50 - sandbox.hostport.p50)} / ${plus(sandbox.steady.p99 - sandbox.hostport.p99)} |`,
      `| the same, ${PODS} pods one after another with no gap, p50 / p99 | ${ms(sandbox.burst.p50)} / ${ms(sandbox.burst.p99)} | hostport port ${ms(sandbox.hostport.p50)} / ${ms(sandbox.hostport.p99)} | ${plus(sandbox.burst.p50 - sandbox.hostport.p50)} / ${plus(sandbox.burst.p99 - sandbox.hostport.p99)} |`,
      `| a sandbox made for a pod (none ready), p50 / p99 | ${ms(sandbox.made.p50)} / ${ms(sandbox.made.p99)} | hostport port ${ms(sandbox.hostport.p50)} / ${ms(sandbox.hostport.p99)} | ${plus(sandbox.made.p50 - sandbox.hostport.p50)} / ${plus(sandbox.made.p99 - sandbox.hostport.p99)} |`,
      `| sandbox removed, p50 / p99 | ${ms(sandbox.removed.p50)} / ${ms(sandbox.removed.p99)} | | |`,
      `| pod to pod, one host (round trips/s, p99) | ${Math.round(pods.sameHost.rate)}, ${Math.round(pods.sameHost.p99us)} µs | loopback ${Math.round(pods.loopback.rate)}, ${Math.round(pods.loopback.p99us)} µs | ${(pods.sameHost.rate / pods.loopback.rate).toFixed(2)}× |`,
      `| pod to pod, across hosts | ${Math.round(pods.acrossHosts.rate)}, ${Math.round(pods.acrossHosts.p99us)} µs | loopback ${Math.round(pods.loopback.rate)}, ${Math.round(pods.loopback.p99us)} µs | ${(pods.acrossHosts.rate / pods.loopback.rate).toFixed(2)}× |`,
      `| pod to pod, across hosts, against node to node on the same wire | ${Math.round(pods.acrossHosts.rate)}, ${Math.round(pods.acrossHosts.p99us)} µs | node to node ${Math.round(pods.nodeToNode.rate)}, ${Math.round(pods.nodeToNode.p99us)} µs | ${(pods.acrossHosts.rate / pods.nodeToNode.rate).toFixed(2)}× |`,
      `| NetworkPolicy change in force, 1,000 policies (p50 / p99) | ${ms(policy.p50)} / ${ms(policy.p99)} | target 1 s | ${(policy.p99 / 1000).toFixed(3)}× |`,
    ];
    console.log(lines.join('\n'));
  } finally {
    removeHosts();
  }
}

if (values.inside) await insideMain(values.inside);
else await main();
