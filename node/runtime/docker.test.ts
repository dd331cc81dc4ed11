// DockerRuntime against the real dockerd and the local busybox image (never pulled). Every
// container carries this run's unique node name, and the after hook removes all of them.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { dockerClient, ensureBusyboxImage } from '../../test/e2e/docker-support.js';
import { needs } from '../../test/requirements.js';
import { DockerRuntime, LABEL } from './docker.js';
import { RuntimeError, type ContainerSpec, type ContainerState } from './types.js';

const NODE = `test-${process.pid}-${randomUUID().slice(0, 8)}`;
const runtimes: DockerRuntime[] = [];
let engine: Docker | undefined;

after(async () => {
  for (const rt of runtimes) await rt.close();
  if (!engine) return;
  const ours = await engine.listContainers({ all: true, filters: { label: [`${LABEL.node}=${NODE}`] } });
  await Promise.all(ours.map((c) => engine!.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
});

/** The runtime under test, on this run's own node name. */
async function setup(): Promise<{ rt: DockerRuntime; docker: Docker; image: string }> {
  const docker = dockerClient();
  engine = docker;
  const image = await ensureBusyboxImage(docker);
  const rt = new DockerRuntime({ nodeName: NODE });
  runtimes.push(rt);
  return { rt, docker, image };
}

let seq = 0;
function spec(image: string, command: string[], extra: Partial<ContainerSpec> = {}): ContainerSpec {
  seq++;
  return {
    labels: { podUid: randomUUID(), podName: `pod-${seq}`, namespace: 'default', containerName: 'main', restartCount: 0 },
    image,
    command,
    args: [],
    env: {},
    mounts: [],
    ports: [],
    logFile: '/dev/null',
    ...extra,
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address() as { port: number };
  await new Promise((res) => server.close(res));
  return port;
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`, { cause: last });
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resolves with the exit of `id` as onExit reports it. Subscribe before the container can exit. */
function exitOf(rt: DockerRuntime): { wait(id: string): Promise<ContainerState> } {
  const seen = new Map<string, ContainerState>();
  const waiters = new Map<string, (s: ContainerState) => void>();
  rt.onExit((s) => {
    seen.set(s.id, s);
    waiters.get(s.id)?.(s);
  });
  return {
    wait: (id) =>
      new Promise((res, rej) => {
        if (seen.has(id)) return res(seen.get(id)!);
        const timer = setTimeout(() => rej(new Error(`no exit reported for ${id}`)), 20_000);
        waiters.set(id, (s) => (clearTimeout(timer), res(s)));
      }),
  };
}

async function text(stream: Readable): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += chunk;
  return out;
}

describe('DockerRuntime with the real engine', await needs('docker'), () => {
  it('serves HTTP on the host network and carries the tugboat labels', async (t) => {
    const env = await setup();
    const port = await freePort();
    const s = spec(env.image, ['httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', '/www'], {
      labels: { podUid: randomUUID(), podName: 'web', namespace: 'shop', containerName: 'httpd', restartCount: 2 },
      resources: { memoryBytes: 64 * 1024 * 1024, cpuMillis: 500 },
    });
    const state = await env.rt.start(s);
    assert.equal(state.phase, 'running');
    assert.ok(state.pid && state.pid > 0);
    assert.deepEqual(state.labels, s.labels);

    const body = await eventually('httpd to answer', async () => {
      const res = await fetch(`http://127.0.0.1:${port}/index.html`);
      return res.ok ? res.text() : undefined;
    });
    assert.equal(body, 'ok\n');

    const info = await env.docker.getContainer(state.id).inspect();
    assert.equal(info.Name, `/tug_shop_web_httpd_2_${s.labels.podUid.slice(0, 8)}`);
    assert.deepEqual(
      Object.fromEntries(Object.entries(info.Config.Labels).filter(([k]) => k.startsWith('io.tugboat.'))),
      {
        'io.tugboat.pod.uid': s.labels.podUid,
        'io.tugboat.pod.name': 'web',
        'io.tugboat.pod.namespace': 'shop',
        'io.tugboat.container.name': 'httpd',
        'io.tugboat.restart-count': '2',
        'io.tugboat.node': NODE,
      },
    );
    assert.equal(info.HostConfig.NetworkMode, 'host');
    assert.equal(info.HostConfig.Init, true);
    assert.equal(info.HostConfig.Memory, 64 * 1024 * 1024);
    assert.equal(info.HostConfig.NanoCpus, 500_000_000);
    assert.deepEqual(info.HostConfig.LogConfig, { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } });

    const stopped = await env.rt.stop(state.id, 10);
    assert.equal(stopped?.phase, 'exited');
  });

  it('exit codes: 0 is Completed, 3 is Error, both reported by onExit', async (t) => {
    const env = await setup();
    const exits = exitOf(env.rt);
    const ok = await env.rt.start(spec(env.image, ['sh', '-c', 'exit 0']));
    const bad = await env.rt.start(spec(env.image, ['sh', '-c', 'sleep 0.2; exit 3']));
    const [okExit, badExit] = await Promise.all([exits.wait(ok.id), exits.wait(bad.id)]);
    assert.equal(okExit.phase, 'exited');
    assert.equal(okExit.exitCode, 0);
    assert.equal(okExit.reason, 'Completed');
    assert.equal(badExit.exitCode, 3);
    assert.equal(badExit.reason, 'Error');
    assert.equal(badExit.signal, undefined);
    assert.ok(badExit.finishedAt && badExit.finishedAt >= badExit.startedAt);
    assert.deepEqual(await env.rt.status(bad.id), badExit);
  });

  it('logs hold stdout and stderr; follow ends when the container stops', async (t) => {
    const env = await setup();
    const exits = exitOf(env.rt);
    const done = await env.rt.start(spec(env.image, ['sh', '-c', 'echo hello; echo err >&2']));
    await exits.wait(done.id);
    const all = await text(await env.rt.logs(done.id, {}));
    assert.deepEqual(all.split('\n').filter(Boolean).sort(), ['err', 'hello']);
    assert.equal(await text(await env.rt.logs(done.id, { limitBytes: 3 })), all.slice(0, 3));
    assert.match(await text(await env.rt.logs(done.id, { timestamps: true, tailLines: 1 })), /^\d{4}-\d\d-\d\dT\S+ (hello|err)\n$/);

    const slow = await env.rt.start(spec(env.image, ['sh', '-c', 'echo one; sleep 1; echo two']));
    const followed = await text(await env.rt.logs(slow.id, { follow: true }));
    assert.equal(followed, 'one\ntwo\n');

    const forever = await env.rt.start(spec(env.image, ['sh', '-c', 'echo tick; sleep 1000']));
    const abort = new AbortController();
    const stream = await env.rt.logs(forever.id, { follow: true, signal: abort.signal });
    const first = await new Promise<string>((res) => stream.once('data', (d: Buffer) => res(d.toString())));
    assert.equal(first, 'tick\n');
    abort.abort();
    await text(stream);
  });

  it('a kill from outside docker is exit 137, SIGKILL, reported even while the events stream reconnects', async (t) => {
    const env = await setup();
    const exits = exitOf(env.rt);
    const state = await env.rt.start(spec(env.image, ['sleep', '1000']));
    // Drop the runtime's events stream (as a daemon hiccup would); the kill lands during the reopen.
    const internals = env.rt as unknown as { events?: Readable };
    const events = await eventually('the events stream', async () => internals.events);
    events.destroy();
    await env.docker.getContainer(state.id).kill({ signal: 'KILL' });
    const exit = await exits.wait(state.id);
    assert.equal(exit.exitCode, 137);
    assert.equal(exit.signal, 'SIGKILL');
    assert.equal(exit.reason, 'Error');
  });

  it('stop: prompt for a process that takes SIGTERM, the grace period for one that ignores it', async (t) => {
    const env = await setup();
    const polite = await env.rt.start(spec(env.image, ['sleep', '1000']));
    let began = Date.now();
    const politeEnd = await env.rt.stop(polite.id, 10);
    assert.ok(Date.now() - began < 3000, `stop took ${Date.now() - began} ms`);
    assert.equal(politeEnd?.exitCode, 143);
    assert.equal(politeEnd?.signal, 'SIGTERM');

    const stubborn = await env.rt.start(spec(env.image, ['sh', '-c', "trap '' TERM; sleep 1000"]));
    began = Date.now();
    const stubbornEnd = await env.rt.stop(stubborn.id, 2);
    const took = Date.now() - began;
    assert.ok(took >= 1900 && took < 8000, `stop took ${took} ms`);
    assert.equal(stubbornEnd?.phase, 'exited');
    assert.equal(stubbornEnd?.exitCode, 137);

    // Stopping what already stopped is fine; removing twice too.
    assert.equal((await env.rt.stop(stubborn.id, 2))?.exitCode, 137);
    await env.rt.remove(stubborn.id);
    await env.rt.remove(stubborn.id);
    assert.equal(await env.rt.status(stubborn.id), undefined);
    assert.equal(await env.rt.stop(stubborn.id, 1), undefined);
  });

  it('start failures carry Kubernetes waiting reasons and leave nothing behind', async (t) => {
    const env = await setup();
    // A registry on loopback where nothing listens: a pull fails at once, and never leaves the machine.
    const absent = '127.0.0.1:9/not-here:1';
    await assert.rejects(env.rt.start(spec(absent, ['true'], { imagePullPolicy: 'Never' })), { name: 'RuntimeError', reason: 'ErrImageNeverPull', message: `Container image "${absent}" is not present with pull policy of Never` });
    for (const policy of ['IfNotPresent', 'Always', undefined]) {
      const events: string[] = [];
      await assert.rejects(env.rt.start(spec(absent, ['true'], { imagePullPolicy: policy, onImageEvent: (_type, reason, message) => events.push(`${reason}: ${message}`) })), (e: unknown) => {
        assert.ok(e instanceof RuntimeError);
        assert.equal(e.reason, 'ErrImagePull');
        assert.match(e.message, /^failed to pull image "127\.0\.0\.1:9\/not-here:1": .*connection refused/);
        return true;
      });
      assert.deepEqual(events, [`Pulling: Pulling image "${absent}"`]);
    }
    await assert.rejects(env.rt.start(spec('', ['true'], { image: undefined })), { name: 'RuntimeError', reason: 'InvalidImageName' });

    // Twice each, under the same name: a failed start leaves no container to collide with.
    const before = (await env.rt.list()).length;
    const cases: [ContainerSpec, RegExp][] = [
      [spec(env.image, ['/bin/no-such-command']), /exec: "\/bin\/no-such-command": stat \/bin\/no-such-command: no such file or directory/],
      [spec(env.image, ['no-such-command'], { env: { PATH: '/usr/bin:/bin' } }), /exec: "no-such-command": executable file not found in \$PATH/],
      [spec(env.image, [], { args: ['no-such-command'] }), /executable file not found in \$PATH/],
    ];
    for (const [s, message] of cases) {
      for (let attempt = 0; attempt < 2; attempt++) {
        await assert.rejects(env.rt.start(s), (e: unknown) => {
          assert.ok(e instanceof RuntimeError);
          assert.equal(e.reason, 'RunContainerError');
          assert.match(e.message, message);
          return true;
        });
      }
    }
    // The imported image has no default command: docker refuses to create, and says why.
    await assert.rejects(env.rt.start(spec(env.image, [])), { reason: 'RunContainerError', message: /no command specified/i });
    assert.equal((await env.rt.list()).length, before);
  });

  it('exec: exit code, output, stdin and the container env', async (t) => {
    const env = await setup();
    const state = await env.rt.start(spec(env.image, ['sleep', '1000'], { env: { HOSTNAME: 'exec-pod', GREETING: 'hi there' } }));
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const code = await env.rt.exec(state.id, ['sh', '-c', 'echo $HOSTNAME; echo "$GREETING" >&2; exit 3'], { stdout, stderr });
    assert.equal(code, 3);
    stdout.end();
    stderr.end();
    assert.equal(await text(stdout), 'exec-pod\n');
    assert.equal(await text(stderr), 'hi there\n');

    const echoed = new PassThrough();
    const catCode = await env.rt.exec(state.id, ['cat'], { stdin: Readable.from(['from ', 'stdin\n']), stdout: echoed, stderr: new PassThrough() });
    assert.equal(catCode, 0);
    echoed.end();
    assert.equal(await text(echoed), 'from stdin\n');

    const tty = new PassThrough();
    assert.equal(await env.rt.exec(state.id, ['sh', '-c', 'echo tty; exit 7'], { stdout: tty, stderr: tty, tty: true }), 7);
    tty.end();
    assert.match(await text(tty), /^tty\r?\n$/);

    const abort = new AbortController();
    const hanging = env.rt.exec(state.id, ['sleep', '1000'], { stdout: new PassThrough(), stderr: new PassThrough(), signal: abort.signal });
    setTimeout(() => abort.abort(), 200);
    await assert.rejects(hanging, { name: 'AbortError' });
    await env.rt.stop(state.id, 5);
  });

  it('adoption: a new runtime on the same node lists and stops what the old one started', async (t) => {
    const env = await setup();
    const s = spec(env.image, ['sleep', '1000']);
    const state = await env.rt.start(s);
    await env.rt.close();

    const successor = new DockerRuntime({ nodeName: NODE });
    runtimes.push(successor);
    const other = new DockerRuntime({ nodeName: `${NODE}-other` });
    runtimes.push(other);
    const exits = exitOf(successor);
    const adopted = (await successor.list()).find((c) => c.id === state.id);
    assert.ok(adopted, 'the running container is listed');
    assert.equal(adopted.phase, 'running');
    assert.deepEqual(adopted.labels, s.labels);
    assert.deepEqual(adopted.startedAt, state.startedAt);
    assert.equal((await other.list()).some((c) => c.id === state.id), false, 'another node does not see it');

    const final = await successor.stop(state.id, 5);
    assert.equal(final?.phase, 'exited');
    assert.equal((await exits.wait(state.id)).exitCode, final?.exitCode);
  });
});
