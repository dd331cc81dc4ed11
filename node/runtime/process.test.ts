// The process runtime against real processes: output, env, exit codes, signals, stop of whole
// groups, adoption by a new agent after the old one was SIGKILLed, log rotation, logs and exec.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, test, type TestContext } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ProcessRuntime } from './process.js';
import { RuntimeError, type ContainerSpec, type ContainerState } from './types.js';
import { needs } from '../../test/requirements.js';

process.env.TUGBOAT_TEST_LEAK = 'node-only';
const TIMEOUT = { timeout: 60_000 };

// ---- helpers ---------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Bounded poll: up to ~10 s, then fails naming what never happened. */
async function until<T>(check: () => Promise<T | undefined | false> | T | undefined | false, what: string): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = await check();
    if (v) return v;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface Proc { pid: number; ppid: number; pgrp: number; state: string }
async function procs(): Promise<Proc[]> {
  const out: Proc[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = await readFile(`/proc/${name}/stat`, 'utf8');
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      out.push({ pid: Number(name), state: f[0], ppid: Number(f[1]), pgrp: Number(f[2]) });
    } catch {
      // exited while we looked
    }
  }
  return out;
}
/** Processes of a group that still run (zombies waiting for init to reap them have exited). */
const liveGroup = async (pgid: number) => (await procs()).filter((p) => p.pgrp === pgid && p.state !== 'Z').map((p) => p.pid);
const childOf = async (pid: number) => (await procs()).find((p) => p.ppid === pid && p.state !== 'Z')?.pid;
const alive = async (pid: number) => (await procs()).some((p) => p.pid === pid && p.state !== 'Z');

async function killGroupsIn(stateDir: string): Promise<void> {
  for (const name of await readdir(stateDir).catch(() => [] as string[])) {
    if (!name.endsWith('.json')) continue;
    const { pid } = JSON.parse(await readFile(path.join(stateDir, name), 'utf8')) as { pid: number };
    if ((await liveGroup(pid)).length === 0) continue;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
    await until(async () => (await liveGroup(pid)).length === 0, `group ${pid} to die`).catch(() => {});
  }
}

const stateDirs = new Set<string>();
after(async () => {
  for (const dir of stateDirs) await killGroupsIn(dir);
});

/** A temp dir, a runtime on it, and cleanup (every process, every runtime) even if the test fails. */
async function setup(t: TestContext, opts: { logMaxBytes?: number; logMaxFiles?: number } = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'tug-proc-'));
  const stateDir = path.join(dir, 'state');
  stateDirs.add(stateDir);
  const runtimes: ProcessRuntime[] = [];
  const newRuntime = () => {
    const rt = new ProcessRuntime({ stateDir, ...opts });
    runtimes.push(rt);
    return rt;
  };
  t.after(async () => {
    await killGroupsIn(stateDir);
    for (const rt of runtimes) await rt.close();
    await rm(dir, { recursive: true, force: true });
  });
  let n = 0;
  const spec = (command: string[], extra: Partial<ContainerSpec> = {}): ContainerSpec => {
    const containerName = `c${n++}`;
    return {
      labels: { podUid: 'uid-1', podName: 'pod', namespace: 'default', containerName, restartCount: 0 },
      command,
      args: [],
      env: {},
      mounts: [],
      ports: [],
      logFile: path.join(dir, 'logs', `${containerName}.log`),
      ...extra,
    };
  };
  return { dir, stateDir, rt: newRuntime(), newRuntime, spec };
}

function recordExits(rt: ProcessRuntime) {
  const seen: ContainerState[] = [];
  rt.onExit((s) => seen.push(s));
  return {
    seen,
    wait: (id: string) => until(() => seen.find((s) => s.id === id), `onExit for ${id}`),
    count: (id: string) => seen.filter((s) => s.id === id).length,
  };
}

async function text(stream: Readable): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += chunk.toString();
  return out;
}

const logOf = (file: string) => readFile(file, 'utf8').catch(() => '');

// ---- start, output, env, failures --------------------------------------------------------------

test('runs the command; stdout and stderr land in the log; exit 0 is Completed', TIMEOUT, async (t) => {
  const { rt, spec } = await setup(t);
  const exits = recordExits(rt);
  const s = spec(['sh', '-c', 'echo hello; echo oops >&2']);
  const started = await rt.start(s);
  assert.equal(started.phase, 'running');
  assert.match(started.id, /^proc-\d+-\d+$/);
  const exit = await exits.wait(started.id);
  assert.equal(exit.phase, 'exited');
  assert.equal(exit.exitCode, 0);
  assert.equal(exit.reason, 'Completed');
  assert.equal(exit.signal, undefined);
  assert.equal(await text(await rt.logs(started.id, {})), 'hello\noops\n');
  assert.equal((await rt.status(started.id))?.reason, 'Completed');
});

test('exit code 3 is Error with exitCode 3; remove forgets the record but keeps the log', TIMEOUT, async (t) => {
  const { rt, spec } = await setup(t);
  const exits = recordExits(rt);
  const s = spec(['sh', '-c', 'echo bye; exit 3']);
  const { id } = await rt.start(s);
  const exit = await exits.wait(id);
  assert.deepEqual([exit.exitCode, exit.reason, exit.signal], [3, 'Error', undefined]);
  const listed = await rt.list();
  assert.deepEqual(listed.map((c) => [c.id, c.phase, c.exitCode]), [[id, 'exited', 3]]);
  assert.ok(listed[0].finishedAt instanceof Date);
  await rt.remove(id);
  assert.deepEqual(await rt.list(), []);
  assert.equal(await rt.status(id), undefined);
  assert.equal(await logOf(s.logFile), 'bye\n');
  assert.equal(exits.count(id), 1);
});

test('exactly the spec env (plus PATH) and the working dir; args pass through unmangled', TIMEOUT, async (t) => {
  const { rt, dir, spec } = await setup(t);
  const exits = recordExits(rt);
  const work = path.join(dir, 'work dir');
  await mkdir(work);
  const s = spec(['sh', '-c', 'pwd; echo "FOO=$FOO"; env; printf "[%s]\\n" "$@"', 'argv0'], {
    args: ['a b', '$HOME', '"q"', "it's", '$(touch pwned)', '*'],
    env: { FOO: 'bar baz' },
    workingDir: work,
  });
  const { id } = await rt.start(s);
  assert.equal((await exits.wait(id)).exitCode, 0);
  const out = await logOf(s.logFile);
  const lines = out.split('\n');
  assert.equal(lines[0], work);
  assert.equal(lines[1], 'FOO=bar baz');
  assert.ok(lines.includes(`PATH=${process.env.PATH}`), 'PATH comes from the node');
  assert.ok(!out.includes('TUGBOAT_TEST_LEAK'), 'no node env leaks in');
  assert.ok(out.endsWith('[a b]\n[$HOME]\n["q"]\n[it\'s]\n[$(touch pwned)]\n[*]\n'), out);
  assert.ok(!existsSync(path.join(work, 'pwned')));
});

test('a command that does not exist, an empty command and a missing workingDir are RunContainerError', TIMEOUT, async (t) => {
  const { rt, dir, spec } = await setup(t);
  const isRunErr = (what: RegExp) => (err: unknown) => {
    assert.ok(err instanceof RuntimeError);
    assert.equal(err.reason, 'RunContainerError');
    assert.match(err.message, what);
    return true;
  };
  await assert.rejects(rt.start(spec(['no-such-command-tug'])), isRunErr(/no-such-command-tug/));
  await assert.rejects(rt.start(spec([path.join(dir, 'nope')])), isRunErr(/nope/));
  const notExec = path.join(dir, 'plain.txt');
  await writeFile(notExec, 'x');
  await assert.rejects(rt.start(spec([notExec])), isRunErr(/permission denied/));
  await assert.rejects(rt.start(spec([])), isRunErr(/set command/));
  await assert.rejects(rt.start(spec(['true'], { workingDir: path.join(dir, 'missing') })), isRunErr(/workingDir/));
  assert.deepEqual(await rt.list(), [], 'nothing was recorded as started');
});

// ---- signals and stop --------------------------------------------------------------------------

test('kill -9 of the command from outside: onExit with exit 137 / SIGKILL', TIMEOUT, async (t) => {
  const { rt, spec } = await setup(t);
  const exits = recordExits(rt);
  const { id, pid } = await rt.start(spec(['sleep', '1000']));
  const user = await until(() => childOf(pid!), 'the command under the shim');
  process.kill(user, 'SIGKILL');
  const exit = await exits.wait(id);
  assert.deepEqual([exit.exitCode, exit.signal, exit.reason], [137, 'SIGKILL', 'Error']);
  assert.deepEqual(await liveGroup(pid!), []);
});

test('stop SIGKILLs a command that ignores SIGTERM after the grace period; nothing of the group is left', TIMEOUT, async (t) => {
  const { rt, spec, newRuntime } = await setup(t);
  const exits = recordExits(rt);
  const s = spec(['sh', '-c', 'trap "" TERM; echo ready; while :; do sleep 0.1; done']);
  const { id, pid } = await rt.start(s);
  await until(async () => (await logOf(s.logFile)).includes('ready'), 'the TERM trap');
  const stopped = await rt.stop(id, 1);
  assert.deepEqual([stopped?.phase, stopped?.exitCode, stopped?.signal, stopped?.reason], ['exited', 137, 'SIGKILL', 'Error']);
  assert.deepEqual(await liveGroup(pid!), []);
  assert.equal(exits.count(id), 1);
  assert.equal((await rt.status(id))?.exitCode, 137, 'the kill is remembered on disk');
  assert.equal((await newRuntime().status(id))?.exitCode, 137, 'and seen by a later agent');
});

test('stop ends the children too, including one that ignores SIGTERM; the command saw SIGTERM first', TIMEOUT, async (t) => {
  const { rt, spec } = await setup(t);
  const s = spec(['sh', '-c', 'sleep 1000 & sh -c \'trap "" TERM; exec sleep 1001\' & echo ready; wait']);
  const { id, pid } = await rt.start(s);
  await until(async () => (await logOf(s.logFile)).includes('ready'), 'the children');
  const members = await until(async () => ((await liveGroup(pid!)).length >= 4 ? liveGroup(pid!) : undefined), 'shim, sh and two sleeps');
  const stopped = await rt.stop(id, 1);
  assert.deepEqual([stopped?.exitCode, stopped?.signal], [143, 'SIGTERM'], 'the command itself ended on SIGTERM');
  assert.deepEqual(await liveGroup(pid!), []);
  for (const member of members) assert.equal(await alive(member), false, `process ${member} is gone`);
});

test('a stopped process does not linger as a zombie of the agent', TIMEOUT, async (t) => {
  const { rt, spec } = await setup(t);
  const { id, pid } = await rt.start(spec(['sleep', '1000']));
  await rt.stop(id, 5);
  await until(async () => !(await procs()).some((p) => p.pid === pid), 'the shim to be reaped');
});

// ---- adoption ----------------------------------------------------------------------------------

const AGENT = `
const { ProcessRuntime } = await import(process.argv[1]);
const rt = new ProcessRuntime({ stateDir: process.argv[2] });
for (const spec of JSON.parse(process.argv[3])) process.stdout.write(JSON.stringify(await rt.start(spec)) + '\\n');
`;

test('adoption: the agent is SIGKILLed, pods keep running and logging, a new runtime lists, stops and watches them', TIMEOUT, async (t) => {
  const { stateDir, newRuntime, spec } = await setup(t);
  const ticking = spec(['sh', '-c', 'while :; do echo tick; sleep 0.05; done']);
  const sleeper = spec(['sleep', '1000']);
  const moduleUrl = pathToFileURL(fileURLToPath(new URL('./process.js', import.meta.url))).href;
  const agent = spawn(process.execPath, ['--input-type=module', '-e', AGENT, moduleUrl, stateDir, JSON.stringify([ticking, sleeper])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => agent.kill('SIGKILL'));
  let out = '';
  agent.stdout.on('data', (d) => (out += d));
  const [a, b] = (await until(() => out.split('\n').length > 2 && out, 'the agent to start both')).trim().split('\n').map((l) => JSON.parse(l) as ContainerState);
  const agentExit = new Promise((r) => agent.once('exit', r));
  agent.kill('SIGKILL');
  await agentExit;

  const size = (await stat(ticking.logFile)).size;
  await until(async () => (await stat(ticking.logFile)).size > size, 'the pod to keep logging without its agent');

  const rt = newRuntime();
  const exits = recordExits(rt);
  const listed = await rt.list();
  assert.deepEqual(listed.map((c) => [c.id, c.phase, c.labels.containerName]).sort(), [
    [a.id, 'running', ticking.labels.containerName],
    [b.id, 'running', sleeper.labels.containerName],
  ].sort());

  const stopped = await rt.stop(a.id, 5);
  assert.deepEqual([stopped?.phase, stopped?.exitCode, stopped?.signal], ['exited', 143, 'SIGTERM']);
  assert.deepEqual(await liveGroup(a.pid!), []);
  assert.equal((await exits.wait(a.id)).exitCode, 143);

  const user = await until(() => childOf(b.pid!), 'the adopted command');
  process.kill(user, 'SIGKILL');
  const exit = await exits.wait(b.id);
  assert.deepEqual([exit.exitCode, exit.signal, exit.reason], [137, 'SIGKILL', 'Error']);
  assert.equal(exits.count(a.id), 1);
  assert.equal(exits.count(b.id), 1);
});

test('adoption within one process: close() leaves the container running; a new runtime sees the same id', TIMEOUT, async (t) => {
  const { rt, newRuntime, spec } = await setup(t);
  const { id } = await rt.start(spec(['sleep', '1000']));
  await rt.close();
  const rt2 = newRuntime();
  assert.deepEqual((await rt2.list()).map((c) => [c.id, c.phase]), [[id, 'running']]);
  const stopped = await rt2.stop(id, 5);
  assert.equal(stopped?.phase, 'exited');
});

// ---- logs --------------------------------------------------------------------------------------

test('log rotation: past logMaxBytes the file is copied to .1 (older ones shifted) and truncated', TIMEOUT, async (t) => {
  const { rt, spec } = await setup(t, { logMaxBytes: 2000, logMaxFiles: 3 });
  const s = spec(['sh', '-c', 'i=0; while :; do echo "line $i of some log output"; i=$((i+1)); sleep 0.002; done']);
  const { id } = await rt.start(s);
  await until(() => existsSync(`${s.logFile}.2`), 'a second rotation');
  await rt.stop(id, 5);
  assert.ok(!existsSync(`${s.logFile}.3`), 'logMaxFiles counts the live file: only .1 and .2 are kept');
  const older = await readFile(`${s.logFile}.2`, 'utf8');
  const newer = await readFile(`${s.logFile}.1`, 'utf8');
  const live = await readFile(s.logFile, 'utf8');
  const last = (txt: string) => Number(/line (\d+)[^\n]*\n$/.exec(txt)?.[1]);
  assert.ok(last(older) < last(newer), '.2 is older than .1');
  assert.ok(!live.includes('\0'), 'O_APPEND writers leave no hole after the truncate');
  assert.match(older, /^(line \d+ of some log output\n)+$/);
});

test('logs: tailLines, limitBytes, and follow until aborted or until the container exits', TIMEOUT, async (t) => {
  const { rt, dir, spec } = await setup(t);
  const go = path.join(dir, 'go');
  const s = spec(['sh', '-c', 'echo one; echo two; echo three; while [ ! -e "$GO" ]; do sleep 0.05; done; echo four; sleep 1000'], { env: { GO: go } });
  const { id } = await rt.start(s);
  await until(async () => (await logOf(s.logFile)).includes('three'), 'the first lines');
  assert.equal(await text(await rt.logs(id, { tailLines: 2 })), 'two\nthree\n');
  assert.equal(await text(await rt.logs(id, { tailLines: 10 })), 'one\ntwo\nthree\n');
  assert.equal(await text(await rt.logs(id, { tailLines: 0 })), '');
  assert.equal(await text(await rt.logs(id, { limitBytes: 6 })), 'one\ntw');

  const abort = new AbortController();
  const stream = await rt.logs(id, { follow: true, tailLines: 1, signal: abort.signal });
  let got = '';
  const drained = (async () => {
    for await (const chunk of stream) got += chunk.toString();
  })();
  await until(() => got === 'three\n', 'the tail');
  await writeFile(go, '');
  await until(() => got === 'three\nfour\n', 'the appended line');
  abort.abort();
  await drained; // ends because of the abort: the container is still running
  assert.equal((await rt.status(id))?.phase, 'running');

  const s2 = spec(['sh', '-c', 'echo a; while [ ! -e "$GO" ]; do sleep 0.05; done; echo b'], { env: { GO: `${go}2` } });
  const second = await rt.start(s2);
  const followed = rt.logs(second.id, { follow: true }).then(text);
  await until(async () => (await logOf(s2.logFile)).includes('a'), 'the first line');
  await writeFile(`${go}2`, '');
  assert.equal(await followed, 'a\nb\n', 'follow ends by itself once the container exited and the file is drained');
});

// ---- exec --------------------------------------------------------------------------------------

test('exec: exit code, output and the container env and working dir; stdin; missing command 127; abort', TIMEOUT, async (t) => {
  const { rt, dir, spec } = await setup(t);
  const { id } = await rt.start(spec(['sleep', '1000'], { env: { FOO: 'from-pod' }, workingDir: dir }));
  const io = () => {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (d) => (out += d));
    stderr.on('data', (d) => (err += d));
    return { stdout, stderr, out: () => out, err: () => err };
  };

  const a = io();
  assert.equal(await rt.exec(id, ['sh', '-c', 'echo "$FOO"; pwd; echo to-err >&2; exit 4'], a), 4);
  assert.equal(a.out(), `from-pod\n${dir}\n`);
  assert.equal(a.err(), 'to-err\n');

  const b = io();
  assert.equal(await rt.exec(id, ['cat'], { ...b, stdin: Readable.from(['hello ', 'stdin']) }), 0);
  assert.equal(b.out(), 'hello stdin');

  const c = io();
  assert.equal(await rt.exec(id, ['no-such-command-tug'], c), 127);
  assert.match(c.err(), /no-such-command-tug/);

  const d = io();
  const abort = new AbortController();
  const pending = rt.exec(id, ['sh', '-c', 'echo started; sleep 1000'], { ...d, signal: abort.signal });
  await until(() => d.out().includes('started'), 'the exec to start');
  abort.abort();
  assert.equal(await pending, 137);

  await rt.stop(id, 5);
  await assert.rejects(rt.exec(id, ['true'], io()), /not running/);
});

test('as root, a pod of its own resolv.conf sees it at /etc/resolv.conf (and exec too); the node keeps its own', { ...TIMEOUT, ...(await needs('root')) }, async (t) => {
  const { rt, dir, spec } = await setup(t);
  const exits = recordExits(rt);
  const nodeFile = await readFile('/etc/resolv.conf', 'utf8');
  const podFile = path.join(dir, 'resolv.conf');
  await writeFile(podFile, 'nameserver 127.77.0.10\nsearch dev.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n');

  const own = spec(['sh', '-c', 'cat /etc/resolv.conf; sleep 1000'], { resolvConf: { hostPath: podFile, sameAsNode: false } });
  const { id } = await rt.start(own);
  await until(async () => (await logOf(own.logFile)).includes('ndots:5'), 'the pod to print its resolv.conf');
  assert.equal(await logOf(own.logFile), await readFile(podFile, 'utf8'));
  assert.equal(await readFile('/etc/resolv.conf', 'utf8'), nodeFile, "the node's own resolv.conf is untouched");

  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (d) => (out += d));
  assert.equal(await rt.exec(id, ['cat', '/etc/resolv.conf'], { stdout, stderr: new PassThrough() }), 0);
  assert.equal(out, await readFile(podFile, 'utf8'), 'exec runs inside the pod mount namespace');
  await rt.stop(id, 1);

  // Same as the node's: no namespace at all, the node's file shows through.
  const same = spec(['cat', '/etc/resolv.conf'], { resolvConf: { hostPath: podFile, sameAsNode: true } });
  const plain = await rt.start(same);
  await exits.wait(plain.id);
  assert.equal(await logOf(same.logFile), nodeFile);

  // A file that cannot be bound fails the container with the reason in its log.
  const broken = spec(['true'], { resolvConf: { hostPath: path.join(dir, 'missing'), sameAsNode: false } });
  const b = await rt.start(broken);
  assert.equal((await exits.wait(b.id)).exitCode, 125);
  assert.match(await logOf(broken.logFile), /cannot bind .*missing over \/etc\/resolv\.conf/);
});

test('as root, volumes appear at their mountPath inside the pod only (read-only ones too, a file, one nested in another); mount points made on the node go once unused', { ...TIMEOUT, ...(await needs('root')) }, async (t) => {
  const { rt, dir, spec } = await setup(t);
  const exits = recordExits(rt);
  const data = path.join(dir, 'data');
  const config = path.join(dir, 'config');
  await mkdir(path.join(data, 'nested-volume'), { recursive: true });
  await mkdir(config);
  await writeFile(path.join(data, 'hello'), 'from the data volume\n');
  await writeFile(path.join(config, 'app.conf'), 'level=debug\n');
  const nested = path.join(dir, 'nested');
  await mkdir(nested);
  await writeFile(path.join(nested, 'inner'), 'inner volume\n');
  // A mountPath that is nowhere on the node: its mount point is made, then removed when unused.
  const root = `/tmp/tug-mount-test-${process.pid}`;
  t.after(() => rm(root, { recursive: true, force: true }));
  const mounts = [
    { hostPath: data, containerPath: `${root}/srv/data`, readOnly: false },
    { hostPath: config, containerPath: `${root}/etc/app/`, readOnly: true },
    { hostPath: path.join(config, 'app.conf'), containerPath: `${root}/single.conf`, readOnly: true },
    { hostPath: nested, containerPath: `${root}/srv/data/nested-volume`, readOnly: false },
  ];
  const script = [
    `cat ${root}/srv/data/hello ${root}/etc/app/app.conf ${root}/single.conf ${root}/srv/data/nested-volume/inner`,
    `echo written >${root}/srv/data/out`,
    `touch ${root}/etc/app/x 2>/dev/null && echo WRITABLE || echo read-only`,
    'pwd',
    'sleep 1000',
  ].join('; ');
  const s = spec(['sh', '-c', script], { mounts, workingDir: '/' });
  const first = await rt.start(s);
  await until(async () => (await logOf(s.logFile)).includes('read-only\n/\n'), 'the pod to read its volumes');
  assert.equal(await logOf(s.logFile), 'from the data volume\nlevel=debug\nlevel=debug\ninner volume\nread-only\n/\n');
  assert.equal(await readFile(path.join(data, 'out'), 'utf8'), 'written\n', 'a write lands in the volume');
  assert.deepEqual(await readdir(`${root}/srv/data`), [], 'the node sees only the empty mount point');

  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (d) => (out += d));
  assert.equal(await rt.exec(first.id, ['cat', `${root}/single.conf`], { stdout, stderr: new PassThrough() }), 0);
  assert.equal(out, 'level=debug\n', 'exec sees the volumes too');

  // A second container on the same mountPath keeps the mount point while the first goes.
  const s2 = spec(['sh', '-c', `cat ${root}/srv/data/hello; sleep 1000`], { mounts: mounts.slice(0, 1) });
  const second = await rt.start(s2);
  await until(async () => (await logOf(s2.logFile)).includes('data volume'), 'the second pod to read its volume');
  await rt.stop(first.id, 1);
  await rt.remove(first.id);
  assert.ok(existsSync(`${root}/srv/data`), 'a mount point still in use stays');
  assert.ok(!existsSync(`${root}/etc`) && !existsSync(`${root}/single.conf`), 'mount points nobody uses are gone');
  await rt.stop(second.id, 1);
  await rt.remove(second.id);
  assert.ok(!existsSync(root), 'every mount point the runtime made is gone');
  assert.ok(existsSync(dir), 'what existed before stays');

  // A volume that cannot be bound fails the container with the reason in its log.
  const broken = spec(['true'], { mounts: [{ hostPath: path.join(dir, 'missing'), containerPath: `${root}/x`, readOnly: false }] });
  const b = await rt.start(broken);
  assert.equal((await exits.wait(b.id)).exitCode, 125);
  assert.match(await logOf(broken.logFile), /cannot bind .*missing over .*\/x/);
  await rt.remove(b.id);
  assert.ok(!existsSync(root), 'a failed bind leaves no mount point behind');
});
