// The `tug` CLI against a real `tug control` process, the way a user types it: apply, get and
// delete over the kubeconfig that `tug control` wrote, and the errors a user meets (no server, a
// bad token, a broken manifest), each with exit code 1 and a message that says what to do.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import YAML from 'yaml';
import { podManifest, webAppManifest } from './fixtures.js';
import { eventually, startControl, tempDir, tug, type ControlProcess, type RunResult } from './harness.js';

const APP = webAppManifest('cli');
const POD = podManifest;

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function ok(r: RunResult): string {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return r.stdout;
}

/** Asserts a failure with exit code 1 and returns stderr. */
function fails(r: RunResult): string {
  assert.equal(r.code, 1, `expected exit 1, got ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  assert.ok(r.stderr.trim(), 'the failure says something on stderr');
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  return r.stderr;
}

describe('the tug CLI against tug control', { concurrency: false }, () => {
  let control: ControlProcess;
  let dir: string;
  /** The environment every `tug` run gets: its own TUG_HOME and HOME, nothing inherited that picks a cluster. */
  let env: NodeJS.ProcessEnv;
  const cleanups: (() => unknown)[] = [];
  const scope = { after: (fn: () => unknown) => cleanups.push(fn) };
  const run = (args: string[], input?: string) => tug(env, args, input);

  before(async () => {
    dir = tempDir(scope);
    control = await startControl(scope, dir);
    // `tug control` wrote $TUG_HOME/kubeconfig, which is where the CLI looks by default.
    assert.equal(control.kubeconfig, join(dir, 'kubeconfig'));
    env = { TUG_HOME: dir, HOME: dir, KUBECONFIG: undefined, TUG_KUBECONFIG: undefined, TUG_NAMESPACE: undefined, TUG_OUTPUT: undefined, TUG_SELECTOR: undefined };
  });
  beforeEach(() => {
    // Every test needs the server; if it died, say so with its output rather than fail obscurely.
    assert.ok(control.child.exitCode === null && control.child.signalCode === null, `tug control exited (${control.child.exitCode ?? control.child.signalCode}):\n${control.output()}`);
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  it('applies a multi-document file: created, then unchanged, then configured after a change', async () => {
    const file = join(dir, 'app.yaml');
    writeFileSync(file, APP);
    const first = ok(await run(['apply', '-f', file]));
    assert.deepEqual(first.trim().split('\n'), ['namespace/cli created', 'configmap/settings created', 'secret/creds created', 'deployment.apps/web created', 'service/web created']);

    const second = ok(await run(['apply', '-f', file]));
    assert.deepEqual(second.trim().split('\n'), ['namespace/cli unchanged', 'configmap/settings unchanged', 'secret/creds unchanged', 'deployment.apps/web unchanged', 'service/web unchanged']);

    writeFileSync(file, webAppManifest('cli', { replicas: 3, color: 'green' }));
    const third = ok(await run(['apply', '-f', file, '--kubeconfig', control.kubeconfig]));
    assert.deepEqual(third.trim().split('\n'), ['namespace/cli unchanged', 'configmap/settings configured', 'secret/creds unchanged', 'deployment.apps/web configured', 'service/web unchanged']);

    const deploy = JSON.parse(ok(await run(['get', 'deploy', 'web', '-n', 'cli', '-o', 'json'])));
    assert.equal(deploy.spec.replicas, 3);
    assert.equal(deploy.metadata.generation, 2);
    const cm = YAML.parse(ok(await run(['get', 'cm', 'settings', '-n', 'cli', '-o', 'yaml'])));
    assert.deepEqual(cm.data, { color: 'green' });
  });

  it('applies from stdin with -f -', async () => {
    const out = ok(await run(['apply', '-f', '-', '-n', 'cli'], POD('from-stdin', { app: 'blue' })));
    assert.equal(out.trim(), 'pod/from-stdin created');
    const again = ok(await run(['apply', '-f', '-', '-n', 'cli'], POD('from-stdin', { app: 'blue' })));
    assert.equal(again.trim(), 'pod/from-stdin unchanged');
    const got = YAML.parse(ok(await run(['get', 'pod', 'from-stdin', '-n', 'cli', '-o', 'yaml'])));
    assert.equal(got.metadata.namespace, 'cli');
    assert.deepEqual(got.metadata.labels, { app: 'blue' });
  });

  it('prints Kubernetes columns for `get deploy,svc`', async () => {
    const out = ok(await run(['get', 'deploy,svc', '-n', 'cli']));
    const blocks = out.trimEnd().split('\n\n');
    assert.equal(blocks.length, 2, `two blocks separated by a blank line:\n${out}`);
    assert.match(blocks[0], /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\n/);
    assert.match(blocks[0], /^deployment\.apps\/web\s+0\/3\s+[03]\s+0\s+\d+s$/m);
    assert.match(blocks[1], /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\n/);
    assert.match(blocks[1], /^service\/web\s+ClusterIP\s+127\.77\.\d+\.\d+\s+<none>\s+80\/TCP\s+\d+s$/m);

    const one = ok(await run(['get', 'deployments', '-n', 'cli']));
    assert.match(one, /^web\s+0\/3\s+[03]\s+0\s+\d+s$/m, 'one kind: no kind/ prefix');
    const empty = await run(['get', 'roles', '-n', 'kube-public']);
    assert.equal(empty.code, 0);
    assert.equal(empty.stdout, '');
    assert.match(empty.stderr, /^No resources found in kube-public namespace\.$/m);
  });

  it('prints the wide pod columns with -o wide', async () => {
    const out = ok(await run(['get', 'pods', '-o', 'wide', '-n', 'cli']));
    assert.match(out, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$/m);
    assert.match(out, /^from-stdin\s+0\/1\s+Pending\s+0\s+\d+s\s+<none>\s+<none>\s+<none>\s+<none>$/m);
    const narrow = ok(await run(['get', 'pods', '-n', 'cli']));
    assert.match(narrow, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/m);
  });

  it('prints raw objects with -o yaml, -o json and -o name', async () => {
    const yaml = YAML.parse(ok(await run(['get', 'svc', 'web', '-n', 'cli', '-o', 'yaml'])));
    assert.equal(yaml.kind, 'Service');
    assert.equal(yaml.apiVersion, 'v1');
    assert.match(yaml.spec.clusterIP, /^127\.77\./);
    assert.ok(yaml.metadata.uid && yaml.metadata.resourceVersion && yaml.metadata.creationTimestamp);

    const list = JSON.parse(ok(await run(['get', 'deploy', '-n', 'cli', '-o', 'json'])));
    assert.equal(list.kind, 'List');
    assert.equal(list.items.length, 1);
    assert.equal(list.items[0].kind, 'Deployment');
    assert.equal(list.items[0].apiVersion, 'apps/v1');
    assert.equal(list.items[0].metadata.name, 'web');

    const names = ok(await run(['get', 'deploy,svc,cm', '-n', 'cli', '-o', 'name']));
    // Every namespace also holds the cluster CA's ConfigMap, as in Kubernetes.
    assert.deepEqual(names.trim().split(/\n+/), ['deployment.apps/web', 'service/web', 'configmap/kube-root-ca.crt', 'configmap/settings']);
    const one = ok(await run(['get', 'ns', 'cli', '-o', 'name']));
    assert.equal(one.trim(), 'namespace/cli');

    const bad = fails(await run(['get', 'pods', '-n', 'cli', '-o', 'xml']));
    assert.match(bad, /output format "xml"/);
  });

  it('selects by label with -l', async () => {
    for (const [name, app] of [
      ['p-blue-1', 'blue'],
      ['p-blue-2', 'blue'],
      ['p-green', 'green'],
    ]) {
      ok(await run(['apply', '-f', '-'], POD(name, { app }, 'cli')));
    }
    const blue = ok(await run(['get', 'pods', '-n', 'cli', '-l', 'app=blue', '-o', 'name']));
    assert.deepEqual(blue.trim().split('\n').sort(), ['pod/from-stdin', 'pod/p-blue-1', 'pod/p-blue-2']);
    const notBlue = ok(await run(['get', 'pods', '-n', 'cli', '-l', 'app notin (blue)']));
    assert.match(notBlue, /^NAME\s+READY/m);
    assert.match(notBlue, /^p-green\s/m);
    assert.doesNotMatch(notBlue, /p-blue/);
    const none = await run(['get', 'pods', '-n', 'cli', '--selector', 'app=purple']);
    assert.equal(none.code, 0);
    assert.match(none.stderr, /No resources found in cli namespace/);
    const bad = fails(await run(['get', 'pods', '-n', 'cli', '-l', 'app in blue']));
    assert.match(bad, /label selector/);
  });

  it('lists across namespaces with -A', async () => {
    ok(await run(['apply', '-f', '-'], POD('elsewhere', { app: 'blue' }, 'default')));
    const out = ok(await run(['get', 'pods', '-A']));
    assert.match(out, /^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/m);
    assert.match(out, /^cli\s+p-green\s+0\/1\s+Pending\s/m);
    assert.match(out, /^default\s+elsewhere\s+0\/1\s+Pending\s/m);
    const names = ok(await run(['get', 'pods', '-A', '-l', 'app=blue', '-o', 'name']));
    assert.deepEqual(names.trim().split('\n').sort(), ['pod/elsewhere', 'pod/from-stdin', 'pod/p-blue-1', 'pod/p-blue-2']);
    const ns = ok(await run(['get', 'ns', '-A']));
    assert.match(ns, /^NAME\s+STATUS\s+AGE$/m, 'cluster-scoped kinds get no NAMESPACE column');
    assert.match(ns, /^cli\s+Active\s/m);
  });

  it('deletes by KIND NAME', async () => {
    const out = ok(await run(['delete', 'pod', 'p-blue-1', 'p-blue-2', '-n', 'cli']));
    assert.deepEqual(out.trim().split('\n').sort(), ['pod "p-blue-1" deleted', 'pod "p-blue-2" deleted']);
    const gone = fails(await run(['get', 'pod', 'p-blue-1', '-n', 'cli']));
    assert.match(gone, /pods "p-blue-1" not found/);
    ok(await run(['delete', 'po', 'elsewhere']));

    const missing = fails(await run(['delete', 'pod', 'nope', '-n', 'cli']));
    assert.match(missing, /Error from server \(NotFound\): pods "nope" not found/);
    ok(await run(['delete', 'pod', 'nope', '-n', 'cli', '--ignore-not-found']));
  });

  it('deletes what a file created with delete -f', async () => {
    const file = join(dir, 'app.yaml');
    const out = ok(await run(['delete', '-f', file]));
    for (const line of ['service "web" deleted', 'deployment.apps "web" deleted', 'configmap "settings" deleted', 'namespace "cli" deleted']) {
      assert.ok(out.includes(line), `missing '${line}' in:\n${out}`);
    }
    const deploys = await run(['get', 'deploy', '-n', 'cli']);
    assert.match(deploys.stderr + deploys.stdout, /No resources found|not found/);
    // The namespace goes Terminating at once and disappears with its pods shortly after.
    await eventually(async () => {
      const r = await run(['get', 'ns', 'cli']);
      return r.code === 1 && /namespaces "cli" not found/.test(r.stderr) ? true : undefined;
    }, 40, 250);
    const pods = await run(['get', 'pods', '-A', '-o', 'name']);
    assert.doesNotMatch(pods.stdout, /from-stdin|p-green/);
  });

  describe('errors', () => {
    /** A copy of the real kubeconfig with one change. */
    function kubeconfigWith(name: string, change: (doc: any) => void): string {
      const doc = YAML.parse(readFileSync(control.kubeconfig, 'utf8'));
      change(doc);
      const file = join(dir, name);
      writeFileSync(file, YAML.stringify(doc));
      return file;
    }

    it('says nothing is listening when the server is not running', async () => {
      const port = await closedPort();
      const file = kubeconfigWith('closed.kubeconfig', (doc) => (doc.clusters[0].cluster.server = `https://127.0.0.1:${port}`));
      const err = fails(await run(['get', 'pods', '--kubeconfig', file]));
      assert.match(err, new RegExp(`nothing is listening at https://127\\.0\\.0\\.1:${port}`));
      assert.match(err, /is `tug control` running\?/);
      const applied = fails(await run(['apply', '-f', '-', '--kubeconfig', file], POD('x', { app: 'x' })));
      assert.match(applied, /nothing is listening/);
    });

    it('rejects a bad token as Unauthorized', async () => {
      const file = kubeconfigWith('badtoken.kubeconfig', (doc) => (doc.users[0].user.token = 'not-the-token'));
      const err = fails(await run(['get', 'ns', '--kubeconfig', file]));
      assert.match(err, /Unauthorized/);
      assert.match(err, /token/);
    });

    it('names the file and line of a YAML syntax error', async () => {
      const file = join(dir, 'broken.yaml');
      writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n  key: [unclosed\n  other: x\n');
      const err = fails(await run(['apply', '-f', file]));
      assert.ok(err.includes(file), `names ${file}: ${err}`);
      assert.match(err, /line \d+/);
      const fromStdin = fails(await run(['apply', '-f', '-'], 'kind: ConfigMap\n  bad: indentation\n'));
      assert.match(fromStdin, /stdin/);
      assert.match(fromStdin, /line \d+/);
      const nothing = await run(['get', 'cm', 'broken', '-n', 'default']);
      assert.equal(nothing.code, 1, 'nothing was created');
    });

    it('rejects an unknown kind', async () => {
      const file = join(dir, 'gizmo.yaml');
      writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: before-gizmo\n---\napiVersion: example.com/v1\nkind: Gizmo\nmetadata:\n  name: g\n');
      const err = fails(await run(['apply', '-f', file]));
      assert.match(err, /kind "Gizmo"/);
      assert.match(err, /example\.com\/v1/);
      assert.ok(err.includes(file), `names ${file}: ${err}`);
      assert.doesNotMatch(err, /error: error:/, 'one error prefix');
      const unknownType = fails(await run(['get', 'gizmos']));
      assert.match(unknownType, /doesn't have a resource type "gizmos"/);
    });

    it('reports a missing file', async () => {
      const missing = join(dir, 'no-such-file.yaml');
      const err = fails(await run(['apply', '-f', missing]));
      assert.match(err, new RegExp(`the path "${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" does not exist`));
      const del = fails(await run(['delete', '-f', missing]));
      assert.match(del, /does not exist/);
    });

    it('reports a missing kubeconfig and usage mistakes', async () => {
      const err = fails(await run(['get', 'pods', '--kubeconfig', join(dir, 'absent', 'kubeconfig')]));
      assert.match(err, /cannot read kubeconfig/);
      assert.match(err, /tug control/);
      assert.match(fails(await run(['apply'])), /apply needs -f/);
      assert.match(fails(await run(['get'])), /say what to get/);
      assert.match(fails(await run(['get', 'pods', '--bogus'])), /bogus/);
      assert.match(fails(await run(['frobnicate'])), /unknown command "frobnicate"/);
    });
  });
});
