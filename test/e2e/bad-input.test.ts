// Bad input against a real `tug control` process, sent the way users and broken clients send it:
// through kubectl where kubectl can send it, as raw HTTPS otherwise. Each one must come back as a
// Kubernetes Status with the right code and reason and a message that names the field or the fix;
// the server must stay up, and the objects stored before must come out of it untouched.
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiClient, type RequestOptions } from '../../api/client.js';
import type { Status } from '../../api/errors.js';
import { readKubeconfig, writeKubeconfig, type Connection } from '../../api/kubeconfig.js';
import type { KubeObject } from '../../api/types.js';
import { webAppManifest } from './fixtures.js';
import { kubectlFor, run, startControl, tempDir, type ControlProcess } from './harness.js';
import { needs } from '../requirements.js';

const NS = 'keep';

/** What is stored before any bad input arrives; the last test checks it is all still there, unchanged. */
const BASELINE = webAppManifest(NS);

const BASELINE_PATHS = [
  `/api/v1/namespaces/${NS}`,
  `/api/v1/namespaces/${NS}/configmaps/settings`,
  `/api/v1/namespaces/${NS}/configmaps/versioned`,
  `/api/v1/namespaces/${NS}/secrets/creds`,
  `/apis/apps/v1/namespaces/${NS}/deployments/web`,
  `/api/v1/namespaces/${NS}/services/web`,
];

const LISTS = [
  `/api/v1/namespaces/${NS}/configmaps`,
  `/api/v1/namespaces/${NS}/secrets`,
  `/api/v1/namespaces/${NS}/services`,
  `/api/v1/namespaces/${NS}/pods`,
  `/apis/apps/v1/namespaces/${NS}/deployments`,
  `/api/v1/namespaces/default/configmaps`,
  `/api/v1/namespaces/default/pods`,
  `/apis/apps/v1/namespaces/default/deployments`,
  '/api/v1/namespaces',
];

/** A Deployment manifest in the `keep` namespace with one container; `extra` lines go under the container. */
function deploymentYaml(name: string, opts: { replicas?: string; templateApp?: string; containerExtra?: string } = {}): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${NS}
spec:
  replicas: ${opts.replicas ?? '1'}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: ${opts.templateApp ?? 'web'}
    spec:
      containers:
      - name: web
        image: local/echo:1
${opts.containerExtra ?? ''}`;
}

function deploymentJson(name: string, container: Record<string, unknown> = {}, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'local/echo:1', ...container }] } },
      ...spec,
    },
  };
}

interface Answer {
  code: number;
  text: string;
  status: Status;
}

describe('bad input against tug control', { ...(await needs('kubectl')), concurrency: false }, () => {
  let control: ControlProcess;
  let kubectl: ReturnType<typeof kubectlFor>;
  let client: ApiClient;
  let conn: Connection;
  let dir: string;
  let staleVersioned: string;
  const snapshot = new Map<string, KubeObject>();
  const listed = new Map<string, string[]>();
  let revisionBefore: string;
  const cleanups: (() => unknown)[] = [];
  const scope = { after: (fn: () => unknown) => cleanups.push(fn) };
  const clients: ApiClient[] = [];

  /** A raw request whose answer must be a Status (any code); returns it parsed. */
  async function send(method: string, path: string, opts: RequestOptions = {}, via: ApiClient = client): Promise<Answer> {
    const res = await via.open(method, path, opts);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let status: Status;
    try {
      status = JSON.parse(text) as Status;
    } catch {
      assert.fail(`${method} ${path}: answered ${res.statusCode} with a body that is not JSON: ${text.slice(0, 300)}`);
    }
    assert.match(String(res.headers['content-type']), /application\/json/, `${method} ${path}: content-type`);
    return { code: res.statusCode ?? 0, text, status };
  }

  function expectStatus(answer: Answer, code: number, reason: string, message: RegExp): void {
    assert.equal(answer.code, code, answer.text);
    assert.equal(answer.status.kind, 'Status', answer.text);
    assert.equal(answer.status.apiVersion, 'v1', answer.text);
    assert.equal(answer.status.status, 'Failure', answer.text);
    assert.equal(answer.status.code, code, answer.text);
    assert.equal(answer.status.reason, reason, answer.text);
    assert.match(answer.status.message, message);
  }

  /** The cause for `field` in a 422 Invalid Status. */
  function causeFor(answer: Answer, field: string) {
    const found = (answer.status.details?.causes ?? []).find((c) => c.field === field);
    assert.ok(found, `no cause for ${field} in ${answer.text}`);
    return found;
  }

  /** `kubectl apply -f` of a temp file holding `yaml`. */
  async function applyFile(name: string, yaml: string) {
    const file = join(dir, name);
    writeFileSync(file, yaml);
    return { ...(await kubectl(['apply', '-f', file])), file };
  }

  /** The server answered the bad input and is still serving normal requests afterwards. */
  async function assertStillServing(): Promise<void> {
    assert.equal(control.child.exitCode, null, `tug control exited:\n${control.output()}`);
    assert.equal(control.child.signalCode, null, `tug control was killed:\n${control.output()}`);
    const cm = await client.request<KubeObject>('GET', `/api/v1/namespaces/${NS}/configmaps/settings`);
    assert.deepEqual(cm.data, { color: 'blue' });
  }

  async function listRevision(): Promise<string> {
    const list = await client.request<{ metadata: { resourceVersion: string } }>('GET', '/api/v1/namespaces');
    return list.metadata.resourceVersion;
  }

  before(async () => {
    dir = tempDir(scope);
    control = await startControl(scope, dir);
    kubectl = kubectlFor(control, dir);
    conn = readKubeconfig(control.kubeconfig);
    client = new ApiClient(conn);
    clients.push(client);

    const applied = await applyFile('baseline.yaml', BASELINE);
    assert.equal(applied.code, 0, applied.stderr);
    // An object whose first version is kept in a file, to replace it later with a stale resourceVersion.
    const created = await kubectl(['create', 'configmap', 'versioned', '-n', NS, '--from-literal=step=1']);
    assert.equal(created.code, 0, created.stderr);
    const old = await kubectl(['get', 'configmap', 'versioned', '-n', NS, '-o', 'yaml']);
    assert.equal(old.code, 0, old.stderr);
    staleVersioned = old.stdout.replace('step: "1"', 'step: "from-the-stale-file"');
    assert.notEqual(staleVersioned, old.stdout);
    const patched = await kubectl(['patch', 'configmap', 'versioned', '-n', NS, '--type', 'merge', '-p', '{"data":{"step":"2"}}']);
    assert.equal(patched.code, 0, patched.stderr);

    for (const path of BASELINE_PATHS) snapshot.set(path, await client.request<KubeObject>('GET', path));
    for (const path of LISTS) {
      const list = await client.request<{ items: KubeObject[] }>('GET', path);
      listed.set(path, list.items.map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}@${o.metadata.resourceVersion}`).sort());
    }
    revisionBefore = await listRevision();
  });
  after(async () => {
    for (const c of clients) c.close();
    for (const fn of cleanups.reverse()) await fn();
  });

  it('rejects a bad name with 422 Invalid naming metadata.name', async () => {
    const applied = await applyFile('bad-name.yaml', `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: My_App\n  namespace: ${NS}\ndata:\n  a: b\n`);
    assert.equal(applied.code, 1, applied.stderr);
    assert.match(applied.stderr, /The ConfigMap "My_App" is invalid: metadata\.name: Invalid value: "My_App": a lowercase RFC 1123 subdomain/);

    const raw = await send('POST', `/api/v1/namespaces/${NS}/configmaps`, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'My_App' } } });
    expectStatus(raw, 422, 'Invalid', /^ConfigMap "My_App" is invalid: metadata\.name: /);
    assert.equal(raw.status.details?.kind, 'ConfigMap');
    assert.equal(raw.status.details?.name, 'My_App');
    assert.equal(causeFor(raw, 'metadata.name').reason, 'FieldValueInvalid');
    await assertStillServing();
  });

  it('rejects a Deployment whose selector does not match its template labels, on create and on apply over an existing one', async () => {
    const created = await applyFile('selector-new.yaml', deploymentYaml('web2', { templateApp: 'other' }));
    assert.equal(created.code, 1, created.stderr);
    assert.match(created.stderr, /The Deployment "web2" is invalid: spec\.template\.metadata\.labels: .*`selector` does not match template `labels`/);
    // `web` exists: kubectl patches it, and the patched object must fail validation the same way.
    const patched = await applyFile('selector-existing.yaml', deploymentYaml('web', { templateApp: 'other' }));
    assert.equal(patched.code, 1, patched.stderr);
    assert.match(patched.stderr, /The Deployment "web" is invalid: spec\.template\.metadata\.labels: .*selector/);

    const body = deploymentJson('mismatch');
    (body.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels = { app: 'other' };
    const raw = await send('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, { body });
    expectStatus(raw, 422, 'Invalid', /^Deployment "mismatch" is invalid: spec\.template\.metadata\.labels: .*selector/);
    assert.equal(raw.status.details?.group, 'apps');
    assert.match(causeFor(raw, 'spec.template.metadata.labels').message, /selector/);
    await assertStillServing();
  });

  it('rejects a containerPort of 70000 naming the full field path', async () => {
    const applied = await applyFile('port.yaml', deploymentYaml('ported', { containerExtra: '        ports:\n        - containerPort: 70000\n' }));
    assert.equal(applied.code, 1, applied.stderr);
    assert.match(applied.stderr, /The Deployment "ported" is invalid: spec\.template\.spec\.containers\[0\]\.ports\[0\]\.containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive/);

    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'ported' }, spec: { containers: [{ name: 'main', image: 'local/echo:1', ports: [{ containerPort: 70000 }] }] } };
    const raw = await send('POST', `/api/v1/namespaces/${NS}/pods`, { body: pod });
    expectStatus(raw, 422, 'Invalid', /^Pod "ported" is invalid: spec\.containers\[0\]\.ports\[0\]\.containerPort: Invalid value: 70000/);
    assert.match(causeFor(raw, 'spec.containers[0].ports[0].containerPort').message, /between 1 and 65535/);
    await assertStillServing();
  });

  it('rejects a string where a number belongs with 422 FieldValueTypeInvalid naming the field', async () => {
    // kubectl does not check types itself: the server sees the string and names the field.
    const applied = await applyFile('replicas.yaml', deploymentYaml('counted', { replicas: '"three"' }));
    assert.equal(applied.code, 1, applied.stderr);
    assert.match(applied.stderr, /The Deployment "counted" is invalid: spec\.replicas: Invalid value: "three": must be of type integer, not string/);

    const replicas = await send('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, { body: deploymentJson('counted', {}, { replicas: 'three' }) });
    expectStatus(replicas, 422, 'Invalid', /spec\.replicas: Invalid value: "three": must be of type integer/);
    assert.equal(causeFor(replicas, 'spec.replicas').reason, 'FieldValueTypeInvalid');

    const port = await send('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, { body: deploymentJson('quoted', { ports: [{ containerPort: '80' }] }) });
    const field = 'spec.template.spec.containers[0].ports[0].containerPort';
    expectStatus(port, 422, 'Invalid', /containers\[0\]\.ports\[0\]\.containerPort: Invalid value: "80": must be of type integer, not string/);
    assert.equal(causeFor(port, field).reason, 'FieldValueTypeInvalid');

    // A number too large for Kubernetes' int32 is not a replica count either.
    const huge = await send('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, { body: deploymentJson('huge', {}, { replicas: 1e300 }) });
    expectStatus(huge, 422, 'Invalid', /spec\.replicas: Invalid value: 1e\+300: must be less than or equal to 2147483647/);
    await assertStillServing();
  });

  it('reports an unknown kind through kubectl, and a kind sent to the wrong resource as 400', async () => {
    const applied = await applyFile('gizmo.yaml', `apiVersion: example.com/v1\nkind: Gizmo\nmetadata:\n  name: g\n  namespace: ${NS}\n`);
    assert.notEqual(applied.code, 0, applied.stderr);
    assert.match(applied.stderr, /no matches for kind "Gizmo" in version "example\.com\/v1"/);

    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'misplaced' }, spec: { containers: [{ name: 'main', image: 'local/echo:1' }] } };
    const raw = await send('POST', `/api/v1/namespaces/${NS}/services`, { body: pod });
    expectStatus(raw, 400, 'BadRequest', /apiVersion\/kind \(v1\/Pod\) does not match the resource services \(v1\/Service\)/);

    const unknownGroup = await send('POST', `/apis/example.com/v1/namespaces/${NS}/gizmos`, { body: { apiVersion: 'example.com/v1', kind: 'Gizmo', metadata: { name: 'g' } } });
    expectStatus(unknownGroup, 404, 'NotFound', /^the server could not find the requested resource$/);
    await assertStillServing();
  });

  it('answers 400 BadRequest for invalid YAML (naming the line) and malformed JSON', async () => {
    const yaml = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n data: [\n`;
    const badYaml = await send('POST', `/api/v1/namespaces/${NS}/configmaps`, { body: yaml, contentType: 'application/yaml' });
    expectStatus(badYaml, 400, 'BadRequest', /not valid YAML \(line 5\)/);

    const badJson = await send('POST', `/api/v1/namespaces/${NS}/configmaps`, { body: '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ', contentType: 'application/json' });
    expectStatus(badJson, 400, 'BadRequest', /not valid JSON/);

    for (const body of ['null', '[1, 2]', '"configmap"', '42']) {
      const notObject = await send('POST', `/api/v1/namespaces/${NS}/configmaps`, { body });
      expectStatus(notObject, 400, 'BadRequest', /the request body must be a ConfigMap object/);
    }
    const badPatch = await send('PATCH', `/api/v1/namespaces/${NS}/configmaps/settings`, { body: '{"data": ', contentType: 'application/merge-patch+json' });
    expectStatus(badPatch, 400, 'BadRequest', /not valid JSON/);
    await assertStillServing();
  });

  it('refuses a 100,000-key ConfigMap, as YAML and as JSON, without stalling: /healthz answers throughout and the event loop waits under 100 ms (best of three tries)', async (t) => {
    const lagMax = async () => {
      const res = await client.open('GET', '/metrics');
      let text = '';
      for await (const c of res) text += c;
      return Number(/^nodejs_eventloop_lag_max_seconds(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1]);
    };
    const data: Record<string, string> = {};
    for (let i = 0; i < 100_000; i++) data[`k${i}`] = 'v';
    let yaml = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: many-keys\n  namespace: ${NS}\ndata:\n`;
    for (let i = 0; i < 100_000; i++) yaml += `  k${i}: v\n`;
    const json = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'many-keys', namespace: NS }, data });
    const attempt = async (body: string, contentType: string): Promise<number> => {
      await lagMax(); // each scrape starts the next window of the event-loop delay histogram
      let done = false;
      const created = send('POST', `/api/v1/namespaces/${NS}/configmaps`, { body, contentType }).finally(() => (done = true));
      let probes = 0;
      while (!done) {
        const res = await client.open('GET', '/healthz');
        res.resume();
        assert.equal(res.statusCode, 200);
        probes++;
      }
      const answer = await created;
      const lag = await lagMax();
      t.diagnostic(`${contentType}: /healthz answered ${probes} times while the body was read; control's event loop waited ${(lag * 1000).toFixed(1)} ms at most`);
      expectStatus(answer, 400, 'BadRequest', /more than 20000 keys and list items/);
      return lag;
    };
    // With both cores busy the scheduler alone can hold a process past 100 ms (two busy loops and
    // no body at all: up to 200 ms), so each body gets three tries. A body decoded on the event
    // loop stalls it for seconds in every one.
    for (const [body, contentType] of [[yaml, 'application/yaml'], [json, 'application/json']]) {
      const lags: number[] = [];
      while (lags.length < 3 && !lags.some((lag) => lag < 0.1)) lags.push(await attempt(body, contentType));
      assert.ok(lags.some((lag) => lag < 0.1), `the event loop waited ${lags.join(', ')} s`);
    }
    assert.equal((await send('GET', `/api/v1/namespaces/${NS}/configmaps/many-keys`)).code, 404);
  });

  it('answers hostile bodies and paths with 400, not a crash or a 500', async () => {
    const depth = 100_000;
    const deepJson = await send('POST', `/api/v1/namespaces/${NS}/configmaps`, { body: '['.repeat(depth) + ']'.repeat(depth) });
    expectStatus(deepJson, 400, 'BadRequest', /nested more than \d+ levels/);
    const deepPatch = await send('PATCH', `/api/v1/namespaces/${NS}/configmaps/settings`, {
      body: '{"data":'.repeat(5000) + '1' + '}'.repeat(5000),
      contentType: 'application/merge-patch+json',
    });
    expectStatus(deepPatch, 400, 'BadRequest', /nested more than \d+ levels/);
    const deepYaml = await send('POST', `/api/v1/namespaces/${NS}/configmaps`, { body: '['.repeat(depth) + ']'.repeat(depth), contentType: 'application/yaml' });
    assert.equal(deepYaml.code, 400, deepYaml.text);

    // "Billion laughs": each level refers to the one before nine times.
    let bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
    const names = 'abcdefghi';
    for (let i = 1; i < names.length; i++) bomb += `${names[i]}: &${names[i]} [${Array(9).fill(`*${names[i - 1]}`).join(',')}]\n`;
    const laughs = await send('POST', `/api/v1/namespaces/${NS}/configmaps`, { body: bomb, contentType: 'application/yaml' });
    expectStatus(laughs, 400, 'BadRequest', /not valid YAML/);

    const escape = await send('GET', `/api/v1/namespaces/%ZZ/configmaps`);
    expectStatus(escape, 400, 'BadRequest', /percent-encoding/);

    const mediaType = await send('POST', `/api/v1/namespaces/${NS}/configmaps`, { body: '<configmap/>', contentType: 'text/html' });
    expectStatus(mediaType, 415, 'UnsupportedMediaType', /application\/json/);
    assert.doesNotMatch(control.output(), /Maximum call stack|URIError|RangeError/);
    await assertStillServing();
  });

  it('answers a 5 MiB body with 413 RequestEntityTooLarge, with or without Content-Length', async () => {
    const big = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big' }, data: { blob: 'x'.repeat(5 * 1024 * 1024) } });
    // A client of its own: the server reads and drops the rest of the body for a bounded time, then
    // may close that connection, and a pooled socket reused across that close would hang up.
    const uploader = new ApiClient(conn);
    clients.push(uploader);
    const sized = await send('POST', `/api/v1/namespaces/${NS}/configmaps`, { body: big }, uploader);
    expectStatus(sized, 413, 'RequestEntityTooLarge', /larger than the \d+-byte limit/);
    uploader.close();
    await assertStillServing();

    // Chunked: the server cannot know the size up front and must stop reading at the limit.
    const url = new URL(conn.server);
    const chunked = await new Promise<Answer>((resolve, reject) => {
      const req = httpsRequest(
        {
          hostname: url.hostname,
          port: url.port,
          method: 'POST',
          path: `/api/v1/namespaces/${NS}/configmaps`,
          ca: conn.caCert,
          headers: { Authorization: `Bearer ${conn.token}`, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
          // Its own connection: the server closes it after the 413, and the writes still queued fail.
          agent: false,
        },
        async (res) => {
          const chunks: Buffer[] = [];
          for await (const c of res) chunks.push(c as Buffer);
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ code: res.statusCode ?? 0, text, status: JSON.parse(text) });
          } catch (e) {
            reject(new Error(`not a Status: ${text.slice(0, 300)}`, { cause: e }));
          }
        },
      );
      // After the answer, EPIPE/ECONNRESET from the unread rest of the body is expected.
      req.on('error', reject);
      const piece = Buffer.from(big.slice(0, 64 * 1024));
      let sent = 0;
      const pump = () => {
        while (sent < big.length) {
          sent += piece.length;
          if (!req.write(piece)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    expectStatus(chunked, 413, 'RequestEntityTooLarge', /split the manifest/);

    const applied = await applyFile('big.yaml', `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n  namespace: ${NS}\ndata:\n  blob: ${'x'.repeat(5 * 1024 * 1024)}\n`);
    assert.equal(applied.code, 1, applied.stderr.slice(0, 500));
    assert.match(applied.stderr, /Error from server \(RequestEntityTooLarge\): error when creating ".*big\.yaml": the request body is larger than/);
    await assertStillServing();
  });

  it('answers a stale resourceVersion with 409 Conflict and the Kubernetes message', async () => {
    const message = 'the object has been modified; please apply your changes to the latest version and try again';
    const file = join(dir, 'stale.yaml');
    writeFileSync(file, staleVersioned);
    const replaced = await kubectl(['replace', '-f', file]);
    assert.equal(replaced.code, 1, replaced.stderr);
    assert.ok(
      replaced.stderr.includes(`Error from server (Conflict): error when replacing "${file}": Operation cannot be fulfilled on configmaps "versioned": ${message}`),
      replaced.stderr,
    );

    const current = snapshot.get(`/api/v1/namespaces/${NS}/configmaps/versioned`)!;
    const stale = structuredClone(current);
    stale.metadata.resourceVersion = String(Number(current.metadata.resourceVersion) - 1);
    stale.data = { step: 'raw-stale' };
    const raw = await send('PUT', `/api/v1/namespaces/${NS}/configmaps/versioned`, { body: stale });
    expectStatus(raw, 409, 'Conflict', new RegExp(`^Operation cannot be fulfilled on configmaps "versioned": ${message.replace(/[.;]/g, '\\$&')}$`));
    assert.equal(raw.status.details?.name, 'versioned');

    const deployment = structuredClone(snapshot.get(`/apis/apps/v1/namespaces/${NS}/deployments/web`)!);
    deployment.metadata.resourceVersion = '1';
    const rawDeployment = await send('PUT', `/apis/apps/v1/namespaces/${NS}/deployments/web`, { body: deployment });
    expectStatus(rawDeployment, 409, 'Conflict', /^Operation cannot be fulfilled on deployments\.apps "web": the object has been modified/);
    await assertStillServing();
  });

  it('answers a missing or wrong token with 401, and kubectl says to log in', async () => {
    const anonymous = new ApiClient({ ...conn, token: undefined });
    clients.push(anonymous);
    const none = await send('GET', `/api/v1/namespaces/${NS}/configmaps`, {}, anonymous);
    expectStatus(none, 401, 'Unauthorized', /bearer token is required/);

    // Same length as the real token, so the comparison itself runs, and a short one.
    const flipped = conn.token!.replace(/^./, (ch) => (ch === 'A' ? 'B' : 'A'));
    for (const token of [flipped, 'wrong']) {
      const impostor = new ApiClient({ ...conn, token });
      clients.push(impostor);
      const wrong = await send('GET', `/api/v1/namespaces/${NS}/configmaps`, {}, impostor);
      expectStatus(wrong, 401, 'Unauthorized', /not valid for this cluster/);
      const write = await send('POST', `/api/v1/namespaces/${NS}/configmaps`, { body: { metadata: { name: 'intruder' } } }, impostor);
      expectStatus(write, 401, 'Unauthorized', /not valid for this cluster/);
    }

    const badConfig = join(dir, 'wrong-token.kubeconfig');
    writeKubeconfig(badConfig, { ...conn, token: flipped });
    const home = tempDir(scope, 'tug-e2e-home-');
    const got = await run('kubectl', ['get', 'configmaps', '-n', NS], { env: { ...process.env, HOME: home, KUBECONFIG: badConfig } });
    assert.equal(got.code, 1, got.stderr);
    assert.match(got.stderr, /^error: You must be logged in to the server \(.+\)$/m);
    await assertStillServing();
  });

  it('answers an unknown route with 404 and a malformed label selector with 400', async () => {
    for (const path of ['/api/v1/gizmos', '/apis/apps/v1/namespaces/keep/gizmos', '/nope', '/api/v1/namespaces/keep/configmaps/settings/nope/deeper']) {
      const answer = await send('GET', path);
      expectStatus(answer, 404, 'NotFound', /^the server could not find the requested resource$/);
    }
    const selector = await send('GET', `/api/v1/namespaces/${NS}/configmaps`, { query: { labelSelector: 'a in b' } });
    expectStatus(selector, 400, 'BadRequest', /unable to parse label selector "a in b".*parentheses/);
    // The same selector on a watch fails before the stream starts, as a plain HTTP 400.
    const watch = await send('GET', `/api/v1/namespaces/${NS}/configmaps`, { query: { watch: 'true', labelSelector: 'a in b' } });
    expectStatus(watch, 400, 'BadRequest', /unable to parse label selector/);
    const got = await kubectl(['get', 'configmaps', '-n', NS, '-l', 'a in b']);
    assert.equal(got.code, 1, got.stderr);
    assert.match(got.stderr, /^Error from server \(BadRequest\): .*unable to parse label selector "a in b"/);
    await assertStillServing();
  });

  it('answers creation into a missing namespace with 404 naming the namespace', async () => {
    const applied = await applyFile('nowhere.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lost\n  namespace: nowhere\ndata:\n  a: b\n');
    assert.equal(applied.code, 1, applied.stderr);
    assert.ok(applied.stderr.includes(`Error from server (NotFound): error when creating "${applied.file}": namespaces "nowhere" not found`), applied.stderr);

    const raw = await send('POST', '/api/v1/namespaces/nowhere/configmaps', { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'lost' } } });
    expectStatus(raw, 404, 'NotFound', /^namespaces "nowhere" not found$/);
    assert.equal(raw.status.details?.name, 'nowhere');
    assert.equal(raw.status.details?.kind, 'namespaces');
    await assertStillServing();
  });

  it('kept every object stored before unchanged, and wrote nothing at all', async () => {
    for (const [path, before] of snapshot) {
      const now = await client.request<KubeObject>('GET', path);
      assert.deepEqual(now, before, `${path} changed`);
    }
    for (const [path, before] of listed) {
      const list = await client.request<{ items: KubeObject[] }>('GET', path);
      const names = list.items.map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}@${o.metadata.resourceVersion}`).sort();
      assert.deepEqual(names, before, `${path} gained or lost objects`);
    }
    assert.equal(await listRevision(), revisionBefore, 'a rejected request wrote to the store');
    const got = await kubectl(['get', 'configmap', 'versioned', '-n', NS, '-o', 'jsonpath={.data.step}']);
    assert.equal(got.stdout, '2');
    assert.equal(control.child.exitCode, null, control.output());
  });
});
