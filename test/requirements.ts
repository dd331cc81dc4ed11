// What the tests need from the machine beyond Node, checked in one place. A suite (or a test) that
// needs a component the machine lacks is skipped as a whole, with a reason that names the
// component and how to add it; under TUG_TEST_REQUIRE=all (as in CI) the missing component is an
// error that fails the file instead. test/reporter.ts lists every such skip at the end of a run.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Every skip reason given for a missing component starts with this; the reporter relies on it. */
export const SKIP_PREFIX = 'needs ';
/** And every error for a required one (TUG_TEST_REQUIRE=all) holds this. */
export const REQUIRED_MARKER = ' is required (TUG_TEST_REQUIRE=all) but ';

export const DOCKER_SOCKET = '/var/run/docker.sock';
/** Debian's Python, where python3-kubernetes is installed (not whatever python3 is first on PATH). */
export const DEBIAN_PYTHON = '/usr/bin/python3';
export const SHARED_EXAMPLES = resolve(fileURLToPath(new URL('../../../shared/k8s-examples', import.meta.url)));
const NATIVE_DIR = resolve(fileURLToPath(new URL('../../lib/native/build/Release', import.meta.url)));

interface Component {
  /** What the tests that need it cover (the README lists these). */
  adds: string;
  /** How to add it to this machine. */
  fix: string;
  /** Why it is not usable here, or undefined when it is. */
  problem(): string | undefined | Promise<string | undefined>;
}

export const COMPONENTS = {
  kubectl: {
    adds: 'the end-to-end suites that drive a cluster with the real kubectl (most of test/e2e)',
    fix: 'install kubectl 1.32 as /usr/bin/kubectl',
    problem: () => missingCommands('kubectl'),
  },
  docker: {
    adds: 'the docker runtime: its unit tests, `tug node --runtime docker` end to end, resolv.conf in docker pods',
    fix: 'run .ci/docker.sh (installs docker.io and busybox-static, starts dockerd)',
    problem: dockerProblem,
  },
  chromium: {
    adds: 'the web console driven in headless Chromium',
    fix: 'apt-get install -y chromium',
    problem: () => missingCommands('chromium'),
  },
  prometheus: {
    adds: 'a real Prometheus scraping a cluster, and every Grafana panel query checked against it',
    fix: 'apt-get install -y prometheus',
    problem: () => missingCommands('prometheus', 'promtool'),
  },
  dig: {
    adds: 'cluster DNS queried with dig',
    fix: 'apt-get install -y dnsutils',
    problem: () => missingCommands('dig'),
  },
  registry: {
    adds: "image pulls by the docker runtime from Debian's docker-registry on loopback, with and without a login",
    fix: 'apt-get install -y docker-registry apache2-utils',
    problem: () => missingCommands('docker-registry', 'htpasswd'),
  },
  'python-kubernetes': {
    adds: "Debian's python3-kubernetes client against the cluster (RBAC, in-cluster ServiceAccounts)",
    fix: 'apt-get install -y python3-kubernetes',
    problem: () => (spawnSync(DEBIAN_PYTHON, ['-c', 'import kubernetes'], { stdio: 'ignore' }).status === 0 ? undefined : `${DEBIAN_PYTHON} cannot import kubernetes`),
  },
  etcd: {
    adds: 'the etcd store',
    fix: 'apt-get install -y etcd-server etcd-client',
    problem: () => missingCommands('etcd', 'etcdctl'),
  },
  cc: {
    adds: 'programs built from C during a test',
    fix: 'apt-get install -y gcc',
    problem: () => missingCommands('cc'),
  },
  native: {
    adds: 'the native relay and batched UDP (lib/native)',
    fix: 'apt-get install -y g++ make python3, then npm install (node-gyp builds lib/native)',
    problem: nativeProblem,
  },
  root: {
    adds: 'private mount namespaces for process pods, DNS on port 53, network namespaces',
    fix: 'run the tests as root',
    problem: () => (process.getuid?.() === 0 ? undefined : 'the tests do not run as root'),
  },
  netns: {
    adds: 'several simulated hosts in network namespaces',
    fix: 'run the tests as root on Linux with iproute2 (apt-get install -y iproute2)',
    problem: netnsProblem,
  },
  nftables: {
    adds: 'the bridge pod network (masquerade, NetworkPolicy)',
    fix: 'apt-get install -y nftables',
    problem: () => (missingCommands('nft') ? 'the nft command (nftables) is not on PATH' : undefined),
  },
  examples: {
    adds: 'the upstream Kubernetes manifests applied unchanged',
    fix: `check out the shared folder beside the repository (${SHARED_EXAMPLES})`,
    problem: () => (existsSync(SHARED_EXAMPLES) ? undefined : `${SHARED_EXAMPLES} does not exist`),
  },
} satisfies Record<string, Component>;

export type ComponentName = keyof typeof COMPONENTS;

const checked = new Map<ComponentName, Promise<string | undefined>>();

/** Why `name` is not usable on this machine (checked once per process), or undefined. */
export function componentProblem(name: ComponentName): Promise<string | undefined> {
  let p = checked.get(name);
  if (!p) {
    p = Promise.resolve(COMPONENTS[name].problem());
    checked.set(name, p);
  }
  return p;
}

/** The skip reason for the first missing component, or undefined when all are present. */
async function missingReason(components: ComponentName[]): Promise<string | undefined> {
  for (const name of components) {
    const problem = await componentProblem(name);
    if (problem === undefined) continue;
    const fix = COMPONENTS[name].fix;
    if (process.env.TUG_TEST_REQUIRE === 'all') {
      throw new Error(`${name}${REQUIRED_MARKER}${problem}; fix: ${fix}`);
    }
    return `${SKIP_PREFIX}${name}: ${problem}; fix: ${fix}`;
  }
  return undefined;
}

/**
 * Options for `describe`, `it` or `test` that skip the suite or test when a component is
 * missing: `describe('...', { ...(await needs('kubectl', 'docker')), concurrency: false }, ...)`.
 * Under TUG_TEST_REQUIRE=all a missing component throws, which fails the file naming it.
 */
export async function needs(...components: ComponentName[]): Promise<{ skip?: string }> {
  const reason = await missingReason(components);
  return reason === undefined ? {} : { skip: reason };
}

/**
 * The same check from inside a running test, for a part that needs more than the rest: skips the
 * test and returns false when a component is missing (throws under TUG_TEST_REQUIRE=all).
 */
export async function present(t: { skip(message?: string): void }, ...components: ComponentName[]): Promise<boolean> {
  const reason = await missingReason(components);
  if (reason === undefined) return true;
  t.skip(reason);
  return false;
}

/** The full path of an executable on PATH, or undefined. */
export function commandPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function missingCommands(...commands: string[]): string | undefined {
  const missing = commands.filter((c) => commandPath(c) === undefined);
  return missing.length ? `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not on PATH` : undefined;
}

async function dockerProblem(): Promise<string | undefined> {
  if (!existsSync(DOCKER_SOCKET)) return `no Docker engine: ${DOCKER_SOCKET} does not exist`;
  try {
    const { default: Docker } = await import('dockerode');
    await new Docker({ socketPath: DOCKER_SOCKET, timeout: 5000 }).ping();
  } catch (e) {
    return `the Docker engine at ${DOCKER_SOCKET} does not answer (${(e as Error).message})`;
  }
  // The test image is imported from the static busybox (notes/docker.md); nothing can be pulled.
  if (!existsSync('/bin/busybox') || spawnSync('ldd', ['/bin/busybox']).status === 0) {
    return 'no static /bin/busybox to build the test image from';
  }
  return undefined;
}

function nativeProblem(): string | undefined {
  const require = createRequire(import.meta.url);
  for (const module of ['relay.node', 'udpbatch.node']) {
    try {
      require(join(NATIVE_DIR, module));
    } catch (e) {
      return `lib/native/build/Release/${module} did not load (${(e as Error).message.split('\n')[0]})`;
    }
  }
  return undefined;
}

function netnsProblem(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  if (missingCommands('ip')) return 'the ip command (iproute2) is not on PATH';
  const probe = `tugprobe${process.pid}`;
  const made = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (made.status !== 0) return `ip netns add failed: ${(made.stderr || String(made.error)).trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return undefined;
}
