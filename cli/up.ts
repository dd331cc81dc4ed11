// `tug up`: the all-in-one cluster. Control (SQLite under $TUG_HOME) and one node in this process,
// the kubeconfig written, the node waited for, the examples applied and waited for if asked, and
// what to try next printed. Ctrl-C stops all of it, pods included; the next `tug up` on the same
// $TUG_HOME resumes the same cluster (and a SIGKILLed one's pods are adopted, not duplicated).
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../api/client.js';
import { resourceOfKind } from '../api/resources.js';
import { labelSelectorToString } from '../api/selectors.js';
import type { Deployment, Node, Pod, Service } from '../api/types.js';
import type { RunningControl } from '../control/index.js';
import { bridgeProblem, startNode, type NodeOptions, type RunningNode } from '../node/index.js';
import { flagHelp, parseFlags, UsageError, type FlagSpec, type Flags } from './args.js';
import { controllerSettings } from './controller-flags.js';
import { checkRuntime, CONTROL_FLAGS, DNS_FLAGS, dnsSettings, HELP_FLAG, networkSettings, onStopSignal, WARM_FLAG, MESH_FLAG, onOff, startControlFromFlags, tugHome } from './daemons.js';
import { readManifests } from './manifests.js';
import { prometheusInstalled, PROMETHEUS_DEFAULT_LISTEN, startPrometheus, type RunningPrometheus } from './prometheus.js';
import { applyCommand, type Out } from './resources-cmd.js';
import { rolloutStatus } from './rollout-logic.js';
import { waitForList, waitForObject } from './watch.js';

const NODE = resourceOfKind('Node');
const POD = resourceOfKind('Pod');
const DEPLOYMENT = resourceOfKind('Deployment');
const SERVICE = resourceOfKind('Service');

/** The manifests `--with-examples` applies: the package's examples/ folder. */
export const EXAMPLES_DIR = fileURLToPath(new URL('../../examples/', import.meta.url));

const UP_FLAGS: Record<string, FlagSpec> = {
  ...CONTROL_FLAGS,
  runtime: { type: 'string', default: 'process', help: 'default container runtime of the node: process or docker' },
  'node-api': { type: 'string', default: '127.0.0.1:10250', help: 'address of the node API (logs, exec; port 0 picks a free one)' },
  'metrics-addr': { type: 'string', default: '127.0.0.1:10249', help: "address of the node's Prometheus /metrics endpoint (port 0 picks a free one)" },
  'port-range': { type: 'string', default: '20000-29999', help: 'node ports handed to pods (hostport network)' },
  network: { type: 'string', default: 'auto', help: 'pod network: bridge (each pod its own address), hostport (pods share the node network), or auto: bridge where this host can run it' },
  ...WARM_FLAG,
  ...MESH_FLAG,
  'with-examples': { type: 'boolean', help: `apply the manifests in ${EXAMPLES_DIR} and wait for their Deployments` },
  prometheus: { type: 'boolean', help: 'also run Prometheus (the installed prometheus binary) scraping this cluster, data in $TUG_HOME/prometheus' },
  'prometheus-addr': { type: 'string', default: PROMETHEUS_DEFAULT_LISTEN, help: 'where that Prometheus serves its web UI and API' },
  ...DNS_FLAGS,
};

/** The node's pod network: as asked, or with `auto` the bridge where this host can run it; and why. */
function upNetwork(flags: Flags): { settings: NonNullable<NodeOptions['network']>; why: string } {
  const asked = String(flags.network);
  if (asked !== 'auto' && asked !== 'bridge' && asked !== 'hostport') throw new UsageError(`--network "${asked}" is not known; use auto, bridge or hostport`);
  const settings = networkSettings({ ...flags, network: asked === 'auto' ? 'hostport' : asked });
  const ports = `pods share the node network on ports ${flags['port-range']}`;
  if (asked === 'hostport') return { settings, why: `network hostport as asked: ${ports}` };
  const problem = bridgeProblem();
  if (asked === 'bridge' && problem) throw new UsageError(`--network bridge: ${problem}; use --network hostport`);
  if (problem) return { settings, why: `network hostport, because ${problem}: ${ports}` };
  return { settings: { ...settings, mode: 'bridge' }, why: `network bridge: each pod gets its own address of the node's share of ${settings.clusterCidr}` };
}

/** How to run this CLI in the printed hints: `tug` when installed as such, else an alias line. */
function tugCommand(): { name: string; alias?: string } {
  const script = process.argv[1] ?? '';
  if (basename(script) === 'tug') return { name: 'tug' };
  return { name: 'tug', alias: `alias tug='${process.execPath} ${script}'` };
}

/** Waits until the Node reports Ready=True, printing what it reports meanwhile. */
async function waitForNodeReady(client: ApiClient, io: Out, name: string, stop: AbortSignal): Promise<boolean> {
  const ready = await waitForObject<Node, true>(
    client,
    NODE,
    undefined,
    name,
    (node) => {
      const cond = node?.status?.conditions?.find((c) => c.type === 'Ready');
      if (cond?.status === 'True') return { done: true };
      const why = !node ? 'not registered yet' : cond ? `Ready=${cond.status}${cond.reason ? ` (${cond.reason}${cond.message ? `: ${cond.message}` : ''})` : ''}` : 'no Ready condition yet';
      return { message: `tug up: waiting for node ${name} to be Ready: ${why}` };
    },
    (m) => io.out(m),
    stop,
  );
  return ready === true;
}

/** Applies the examples, then waits for each of their Deployments to be available. */
async function applyExamples(client: ApiClient, io: Out, stop: AbortSignal): Promise<Deployment[]> {
  io.out(`tug up: applying ${EXAMPLES_DIR}`);
  // Only what is missing: a resumed cluster keeps the user's changes (scale, rollout undo, edits).
  const code = await applyCommand(client, io, { files: [EXAMPLES_DIR], namespace: 'default', readStdin: () => '', onlyMissing: true });
  if (code !== 0) io.err('tug up: some examples could not be applied (see above); the cluster keeps running');
  const wanted = readManifests([EXAMPLES_DIR], () => '').filter((m) => m.resource.kind === 'Deployment');
  const ready: Deployment[] = [];
  for (const m of wanted) {
    const ns = m.object.metadata.namespace ?? 'default';
    const name = m.object.metadata.name!;
    io.out(`tug up: waiting for deployment ${name} to be available`);
    try {
      const d = await waitForObject<Deployment, Deployment>(
        client,
        DEPLOYMENT,
        ns,
        name,
        (obj) => {
          if (!obj) return { message: `tug up: deployment ${name} is not there yet` };
          const v = rolloutStatus(obj);
          if (v.error) return { failed: new Error(v.error) };
          return v.done ? { done: obj } : { message: `tug up: ${v.message}` };
        },
        (msg) => io.out(msg),
        stop,
      );
      if (!d) break;
      // The status may predate a restart (its pods were ready before the last Ctrl-C): the pods
      // themselves must answer their readiness probes again.
      const want = d.spec.replicas ?? 1;
      const pods = await waitForList<Pod, true>(
        client,
        POD,
        { namespace: ns, labelSelector: labelSelectorToString(d.spec.selector) },
        (items) => {
          const live = items.filter((p) => !p.metadata.deletionTimestamp);
          const ready = live.filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
          return ready >= want && live.length === ready ? { done: true } : { message: `tug up: ${ready} of ${want} pods of ${name} ready` };
        },
        (msg) => io.out(msg),
        stop,
      );
      if (!pods) break;
      io.out(`tug up: deployment ${name} is available`);
      ready.push(d);
    } catch (e) {
      io.err(`tug up: ${(e as Error).message}; see \`tug describe deploy ${name}\` (the cluster keeps running)`);
    }
  }
  return ready;
}

/** `curl` lines for the pods of the Deployments, from the port each logged (`listening on port N`). */
async function podUrls(client: ApiClient, deployments: Deployment[]): Promise<string[]> {
  const lines: string[] = [];
  for (const d of deployments) {
    const pods = await client.list<Pod>(POD, d.metadata.namespace, { labelSelector: labelSelectorToString(d.spec.selector ?? {}) });
    for (const pod of pods.items) {
      if (pod.metadata.deletionTimestamp) continue;
      const log = await client.request<string>('GET', client.pathFor(POD, pod.metadata.namespace, pod.metadata.name, 'log'), { accept: 'text/plain' }).catch(() => '');
      const port = /listening on port (\d+)/.exec(String(log))?.[1];
      if (port) lines.push(`curl http://${pod.status?.podIP ?? '127.0.0.1'}:${port}/   # ${pod.metadata.name} answers with its name`);
    }
  }
  return lines;
}

/** `curl` lines for the example Services: their ClusterIP and NodePorts, through the node proxy. */
async function serviceUrls(client: ApiClient): Promise<string[]> {
  const lines: string[] = [];
  for (const m of readManifests([EXAMPLES_DIR], () => '').filter((x) => x.resource.kind === 'Service')) {
    const name = m.object.metadata.name!;
    const svc = await client.get<Service>(SERVICE, m.object.metadata.namespace ?? 'default', name).catch(() => undefined);
    for (const p of svc?.spec.ports ?? []) {
      if (svc?.spec.clusterIP && svc.spec.clusterIP !== 'None') lines.push(`curl http://${svc.spec.clusterIP}:${p.port}/   # the ${name} Service: each request goes to the next pod`);
      if (p.nodePort) lines.push(`curl http://127.0.0.1:${p.nodePort}/   # the same on its NodePort`);
    }
    lines.push(`tug traffic ${name}   # watch the requests spread over the pods`);
  }
  return lines;
}

function nextSteps(kubeconfig: string, server: string, withExamples: boolean, curls: string[], prometheus: RunningPrometheus | undefined): string {
  const tug = tugCommand();
  const lines = ['', 'The cluster is up. In another shell:', `  export KUBECONFIG=${kubeconfig}`];
  if (tug.alias) lines.push(`  ${tug.alias}`);
  lines.push('  kubectl get nodes,deploy,pods -o wide        # or: tug get pods -o wide');
  if (!withExamples) {
    lines.push(`  kubectl apply -f ${join(EXAMPLES_DIR, 'echo.yaml')}   # or start with: tug up --with-examples`);
  } else {
    for (const c of curls) lines.push(`  ${c}`);
    lines.push(
      '  tug scale deploy/echo --replicas=5',
      '  tug rollout restart deploy/echo && tug rollout status deploy/echo',
      '  tug rollout history deploy/echo',
      '  tug rollout undo deploy/echo',
      '  tug describe deploy echo',
      '  kubectl logs deploy/echo',
    );
  }
  // The console URL without its #token=: this output lands in scrollback and logs, and the token
  // is the cluster's admin credential. The kubeconfig (mode 0600) is where it stays.
  lines.push(`  ${server}/ui   # the web console; sign in with the token in ${kubeconfig} (users[0].user.token)`);
  if (prometheus) lines.push(`Prometheus: ${prometheus.url}/targets   # scraping control and the node (log: ${prometheus.log})`);
  lines.push(`Ctrl-C stops the cluster${prometheus ? ', Prometheus' : ''} and its pods; \`tug up\` again brings the same cluster back.`);
  return lines.join('\n');
}

export async function runUp(argv: string[], io: Out, env: NodeJS.ProcessEnv): Promise<number> {
  const { flags } = parseFlags(argv, { ...UP_FLAGS, ...HELP_FLAG }, env);
  if (flags.help) {
    io.out(`Usage: tug up [flags]\n${flagHelp(UP_FLAGS)}`);
    return 0;
  }
  const runtime = checkRuntime(flags);
  const network = upNetwork(flags);
  const mesh = onOff('mesh', String(flags.mesh));
  const controllers = controllerSettings(flags);
  // Checked before anything starts, so a missing binary costs nothing.
  if (flags.prometheus && !prometheusInstalled()) throw new UsageError('--prometheus needs the prometheus binary, which is not installed: apt install prometheus, or leave out --prometheus');
  const home = tugHome(env);
  const kubeconfig = (flags.kubeconfig as string | undefined) ?? join(home, 'kubeconfig');
  const signals = onStopSignal(io, 'tug up');
  const { stop } = signals;
  let control: RunningControl | undefined;
  let node: RunningNode | undefined;
  let client: ApiClient | undefined;
  let prometheus: RunningPrometheus | undefined;
  try {
    io.out(`tug up: starting the control plane (state in ${home})`);
    control = await startControlFromFlags(flags, io, home, kubeconfig, controllers);
    const connection = { server: control.url, caCert: control.caCert, token: control.token };
    client = new ApiClient(connection);
    if (!stop.aborted) {
      const nodeName = hostname().toLowerCase();
      io.out(`tug up: starting node ${nodeName} (runtime ${runtime}; ${network.why})`);
      node = await startNode({
        connection,
        nodeName,
        nodeIP: '127.0.0.1',
        runtime,
        stateDir: join(home, 'node'),
        nodeApi: flags['node-api'] as string,
        metricsAddr: flags['metrics-addr'] as string,
        portRange: flags['port-range'] as string,
        // `tug up` owns its pods: Ctrl-C stops them; the next `tug up` starts them again.
        drainOnExit: true,
        dns: dnsSettings(flags),
        network: network.settings,
        mesh,
      });
      if (await waitForNodeReady(client, io, node.nodeName, stop)) {
        io.out(`tug node: ${node.nodeName} (${node.nodeIP}) is Ready; node API on port ${node.nodeApiPort}, metrics on port ${node.metricsPort}`);
      }
    }
    if (flags.prometheus && !stop.aborted) {
      io.out(`tug up: starting Prometheus on ${flags['prometheus-addr']} (data in ${join(home, 'prometheus', 'data')})`);
      prometheus = await startPrometheus(join(home, 'prometheus'), flags['prometheus-addr'] as string);
    }
    const withExamples = !!flags['with-examples'];
    let curls: string[] = [];
    if (withExamples && !stop.aborted) {
      const deployments = await applyExamples(client, io, stop);
      curls = [...(await serviceUrls(client)), ...(await podUrls(client, deployments))];
    }
    if (!stop.aborted) io.out(nextSteps(kubeconfig, control.url, withExamples, curls, prometheus));
    await signals.stopped;
    return 0;
  } finally {
    client?.close();
    await prometheus?.stop();
    await node?.stop();
    await control?.stop();
    if (stop.aborted) io.out('tug up: stopped');
    signals.dispose();
  }
}
