// Image pulls by the docker runtime, against Debian's docker-registry on loopback with a login
// (htpasswd): a pod pulls with its imagePullSecrets (made by kubectl create secret
// docker-registry) and runs; without a login it shows ErrImagePull, then ImagePullBackOff; with a
// wrong one the message names the registry and the Secret refused; an image already present is
// not pulled with IfNotPresent. Nothing is pulled from outside the machine.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { needs } from '../requirements.js';
import { dockerClient, ensureBusyboxImage } from './docker-support.js';
import { NodeCluster } from './node-support.js';
import { eventually, freePort, run } from './harness.js';

const NODE = 'puller';
const USER = 'tug';
const PASSWORD = 's3cret-pull';

/** The HTTP status of GET /v2/ on the registry (0 while it does not answer). */
function registryStatus(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/v2/' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

describe('image pulls from a registry on loopback', { ...(await needs('kubectl', 'docker', 'registry')), concurrency: false }, () => {
  const cluster = new NodeCluster();
  let docker: Docker;
  let registry: ChildProcess | undefined;
  let host = '';
  const pushed: string[] = [];

  /** Pushes the busybox image as `name:1` and removes the local tag, so the node has to pull it. */
  async function push(name: string, dockerConfig: string): Promise<string> {
    const ref = `${host}/${name}:1`;
    for (const args of [['tag', 'local/busybox:1', ref], ['push', ref], ['rmi', ref]]) {
      const r = await run('docker', args, { env: { ...process.env, DOCKER_CONFIG: dockerConfig }, timeoutMs: 120_000 });
      assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    }
    pushed.push(ref);
    return ref;
  }

  const sleeper = (name: string, image: string, extra: Record<string, unknown> = {}) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { nodeName: NODE, ...extra, containers: [{ name: 'c', image, command: ['sh', '-c', 'echo started; sleep 3600'] }] },
  });

  const waitingReason = async (pod: string) => (await cluster.podJson(pod)).status?.containerStatuses?.[0]?.state?.waiting;

  before(async () => {
    docker = dockerClient();
    await ensureBusyboxImage(docker);
    await cluster.start();
    const dir = join(cluster.dir, 'registry');
    mkdirSync(join(dir, 'data'), { recursive: true });
    const hash = await run('htpasswd', ['-Bbn', USER, PASSWORD]);
    assert.equal(hash.code, 0, hash.stderr);
    writeFileSync(join(dir, 'htpasswd'), hash.stdout);
    const port = await freePort();
    host = `127.0.0.1:${port}`;
    writeFileSync(
      join(dir, 'config.yml'),
      `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: ${host}\nauth:\n  htpasswd:\n    realm: tugboat-test\n    path: ${join(dir, 'htpasswd')}\n`,
    );
    registry = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
    await eventually(async () => ((await registryStatus(port)) === 401 ? true : undefined), 100, 100);
    const dockerConfig = join(dir, 'docker-config');
    const login = await run('docker', ['login', host, '-u', USER, '--password-stdin'], { env: { ...process.env, DOCKER_CONFIG: dockerConfig }, input: PASSWORD });
    assert.equal(login.code, 0, login.stderr);
    for (const name of ['with-secret', 'no-secret', 'wrong-secret']) await push(name, dockerConfig);
    await cluster.startNode({ name: NODE, portRange: '21600-21649', runtime: 'docker' });
    for (const [name, password] of [['regcred', PASSWORD], ['badcred', 'not-the-password']]) {
      const r = await cluster.kubectl(['create', 'secret', 'docker-registry', name, `--docker-server=${host}`, `--docker-username=${USER}`, `--docker-password=${password}`]);
      assert.equal(r.code, 0, r.stderr);
    }
  });

  after(async () => {
    await cluster.cleanup();
    for (const c of await docker.listContainers({ all: true, filters: { label: [`io.tugboat.node=${NODE}`] } })) {
      await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    }
    for (const ref of pushed) await docker.getImage(ref).remove().catch(() => undefined);
    registry?.kill('SIGTERM');
  });

  it("pulls an image that is not on the node with the pod's imagePullSecrets, and runs it", async () => {
    const image = `${host}/with-secret:1`;
    await cluster.apply(sleeper('pulled', image, { imagePullSecrets: [{ name: 'regcred' }] }));
    await cluster.waitFor('pulled running', async () => ((await cluster.podJson('pulled')).status?.phase === 'Running' ? true : undefined), 300);
    const events = (await cluster.eventsFor('pulled')).map((e) => `${e.reason}: ${e.message}`);
    assert.ok(events.includes(`Pulling: Pulling image "${image}"`), events.join('\n'));
    assert.ok(events.some((e) => new RegExp(`^Pulled: Successfully pulled image "${image.replace(/\./g, '\\.')}" in \\d+\\.\\d+s$`).test(e)), events.join('\n'));
    assert.ok(events.includes('Started: Started container c'), events.join('\n'));
  });

  it('runs a second pod of the same image without pulling it again (IfNotPresent)', async () => {
    const image = `${host}/with-secret:1`;
    await cluster.apply(sleeper('present', image, { imagePullSecrets: [{ name: 'regcred' }] }));
    await cluster.waitFor('present running', async () => ((await cluster.podJson('present')).status?.phase === 'Running' ? true : undefined), 300);
    const events = (await cluster.eventsFor('present')).map((e) => `${e.reason}: ${e.message}`);
    assert.ok(events.includes(`Pulled: Container image "${image}" already present on machine`), events.join('\n'));
    assert.ok(!events.some((e) => e.startsWith('Pulling:')), events.join('\n'));
  });

  it('shows ErrImagePull, then ImagePullBackOff, for an image the registry will not give without a login', async () => {
    const image = `${host}/no-secret:1`;
    await cluster.apply(sleeper('anonymous', image));
    const first = await cluster.waitFor('ErrImagePull', async () => {
      const w = await waitingReason('anonymous');
      return w?.reason === 'ErrImagePull' || w?.reason === 'ImagePullBackOff' ? w : undefined;
    }, 300);
    const backOff = await cluster.waitFor('ImagePullBackOff', async () => {
      const w = await waitingReason('anonymous');
      return w?.reason === 'ImagePullBackOff' ? w : undefined;
    }, 300);
    assert.equal(backOff.message, `Back-off pulling image "${image}"`);
    const events = (await cluster.eventsFor('anonymous')).map((e) => `${e.type} ${e.reason}: ${e.message}`);
    const failed = events.find((e) => e.startsWith('Warning Failed: Failed to pull image'));
    assert.ok(failed && /no basic auth credentials|authentication required|unauthorized/.test(failed), `${JSON.stringify(first)}\n${events.join('\n')}`);
    assert.ok(events.includes('Warning Failed: Error: ErrImagePull'), events.join('\n'));
    assert.ok(events.includes(`Normal BackOff: Back-off pulling image "${image}"`), events.join('\n'));
    assert.ok(events.includes('Warning Failed: Error: ImagePullBackOff'), events.join('\n'));
  });

  it('names the registry and the Secret whose login was refused', async () => {
    await cluster.apply(sleeper('refused', `${host}/wrong-secret:1`, { imagePullSecrets: [{ name: 'badcred' }] }));
    const refusal = new RegExp(`^Failed to pull image "${host.replace(/\./g, '\\.')}/wrong-secret:1": registry ${host.replace(/\./g, '\\.')} refused the login of Secret "badcred" \\(.*(unauthorized|authentication required).*\\)`);
    await cluster.waitFor('a Failed event naming the refused login', async () => ((await cluster.eventsFor('refused')).some((e) => e.type === 'Warning' && refusal.test(e.message)) ? true : undefined), 300);
    assert.match((await waitingReason('refused'))?.reason ?? '', /^(ErrImagePull|ImagePullBackOff)$/);
  });
});
