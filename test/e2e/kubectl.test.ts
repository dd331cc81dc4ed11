// The real kubectl against a real `tug control` process: the everyday verbs a Kubernetes user
// types, with no extra flags beyond the kubeconfig that `tug control` wrote.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { podManifest, webAppManifest } from './fixtures.js';
import { eventually, kubectlFor, startControl, tempDir, type ControlProcess } from './harness.js';
import { needs, SHARED_EXAMPLES } from '../requirements.js';


const APP = webAppManifest('shop');
const POD = podManifest;

const EXAMPLES = await needs('examples');

/** The files of the upstream website examples whose kinds tugboat serves. */
const WEBSITE_SERVED = ['service--networking--network-policy-default-deny-ingress.yaml', 'service--networking--networkpolicy.yaml'];

describe('kubectl against tug control', { ...(await needs('kubectl')), concurrency: false }, () => {
  let control: ControlProcess;
  let kubectl: ReturnType<typeof kubectlFor>;
  let dir: string;
  const cleanups: (() => unknown)[] = [];
  const scope = { after: (fn: () => unknown) => cleanups.push(fn) };

  before(async () => {
    dir = tempDir(scope);
    control = await startControl(scope, dir);
    kubectl = kubectlFor(control, dir);
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  it('reports its version and the resources it serves', async () => {
    const v = await kubectl(['version']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /Server Version: v1\.32/);
    const r = await kubectl(['api-resources']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^pods\s+po\s+v1\s+true\s+Pod$/m);
    assert.match(r.stdout, /^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment$/m);
    assert.match(r.stdout, /^endpointslices\s+discovery\.k8s\.io\/v1\s+true\s+EndpointSlice$/m);
  });

  it("applies Istio's AuthorizationPolicy (security.istio.io/v1) and refuses what tugboat does not enforce, naming the field", async () => {
    // The httpbin example of Istio's authorization task, with its YAML as the docs write it.
    const manifest = [
      'apiVersion: security.istio.io/v1',
      'kind: AuthorizationPolicy',
      'metadata:',
      '  name: get-only',
      'spec:',
      '  selector:',
      '    matchLabels:',
      '      app: httpbin',
      '  action: ALLOW',
      '  rules:',
      '  - from:',
      '    - source:',
      '        principals: ["cluster.local/ns/default/sa/curl"]',
      '    to:',
      '    - operation:',
      '        methods: ["GET"]',
      '        paths: ["/info*"]',
      '',
    ].join('\n');
    const applied = await kubectl(['apply', '-f', '-'], manifest);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /authorizationpolicy\.security\.istio\.io\/get-only created/);
    assert.match(applied.stderr, /Warning: AuthorizationPolicy is stored and validated, but the node proxies do not enforce it yet/);
    const listed = await kubectl(['get', 'authorizationpolicies', '-o', 'name']);
    assert.equal(listed.stdout.trim(), 'authorizationpolicy.security.istio.io/get-only');
    const refused = await kubectl(['apply', '-f', '-'], manifest.replace('name: get-only', 'name: audit').replace('action: ALLOW', 'action: AUDIT').replace('  - from:', '  - when:\n    - key: request.headers[x]\n      values: ["1"]\n    from:'));
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /spec\.action: Unsupported value: "AUDIT": supported values: "ALLOW", "DENY"/);
    assert.match(refused.stderr, /spec\.rules\[0\]\.when: Forbidden: conditions are not enforced by tugboat/);
    assert.equal((await kubectl(['delete', 'authorizationpolicy', 'get-only'])).code, 0);
  });

  it('lists the system namespaces and creates one with `create namespace` (protobuf body)', async () => {
    const ns = await kubectl(['get', 'ns']);
    assert.equal(ns.code, 0, ns.stderr);
    assert.match(ns.stdout, /^NAME\s+STATUS\s+AGE$/m);
    for (const n of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) assert.match(ns.stdout, new RegExp(`^${n}\\s+Active\\s`, 'm'));
    const created = await kubectl(['create', 'namespace', 'team-a']);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /namespace\/team-a created/);
    const got = await kubectl(['get', 'ns', 'team-a', '-o', 'jsonpath={.status.phase}']);
    assert.equal(got.stdout, 'Active');
  });

  it('creates configmaps, secrets and deployments with kubectl create generators', async () => {
    const cm = await kubectl(['create', 'configmap', 'settings', '-n', 'team-a', '--from-literal=color=blue', '--from-literal=size=3']);
    assert.equal(cm.code, 0, cm.stderr);
    const cmData = await kubectl(['get', 'cm', 'settings', '-n', 'team-a', '-o', 'jsonpath={.data.color}/{.data.size}']);
    assert.equal(cmData.stdout, 'blue/3');
    const secret = await kubectl(['create', 'secret', 'generic', 'creds', '-n', 'team-a', '--from-literal=user=admin']);
    assert.equal(secret.code, 0, secret.stderr);
    const secretData = await kubectl(['get', 'secret', 'creds', '-n', 'team-a', '-o', 'jsonpath={.type} {.data.user}']);
    assert.equal(secretData.stdout, `Opaque ${Buffer.from('admin').toString('base64')}`);
    const deploy = await kubectl(['create', 'deployment', 'api', '-n', 'team-a', '--image=local/echo:1', '--replicas=2']);
    assert.equal(deploy.code, 0, deploy.stderr);
    const spec = await kubectl(['get', 'deploy', 'api', '-n', 'team-a', '-o', 'json']);
    const obj = JSON.parse(spec.stdout);
    assert.equal(obj.spec.replicas, 2);
    assert.equal(obj.spec.template.spec.containers[0].image, 'local/echo:1');
    assert.deepEqual(obj.spec.selector.matchLabels, { app: 'api' });
    assert.equal(obj.spec.strategy.type, 'RollingUpdate');
    assert.equal(obj.spec.revisionHistoryLimit, 10);
  });

  it('applies a multi-document manifest twice: created, then unchanged or configured without error', async () => {
    const file = join(dir, 'app.yaml');
    writeFileSync(file, APP);
    const first = await kubectl(['apply', '-f', file]);
    assert.equal(first.code, 0, first.stderr);
    for (const line of ['namespace/shop created', 'configmap/settings created', 'secret/creds created', 'deployment.apps/web created', 'service/web created']) {
      assert.ok(first.stdout.includes(line), `missing "${line}" in:\n${first.stdout}`);
    }
    const second = await kubectl(['apply', '-f', file]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /deployment\.apps\/web unchanged/);
    writeFileSync(file, webAppManifest('shop', { replicas: 4 }));
    const third = await kubectl(['apply', '-f', file]);
    assert.equal(third.code, 0, third.stderr);
    assert.match(third.stdout, /deployment\.apps\/web configured/);
    const replicas = await kubectl(['get', 'deploy', 'web', '-n', 'shop', '-o', 'jsonpath={.spec.replicas} {.metadata.generation}']);
    assert.equal(replicas.stdout, '4 2');
  });

  it('prints Kubernetes columns for deployments, services and configmaps', async () => {
    const out = await kubectl(['get', 'deploy,svc,cm', '-n', 'shop']);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$/m);
    assert.match(out.stdout, /^deployment\.apps\/web\s+0\/4\s+[04]\s+0\s+\d+s$/m);
    assert.match(out.stdout, /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$/m);
    assert.match(out.stdout, /^service\/web\s+ClusterIP\s+127\.77\.\d+\.\d+\s+<none>\s+80\/TCP\s+\d+s$/m);
    assert.match(out.stdout, /^NAME\s+DATA\s+AGE$/m);
    assert.match(out.stdout, /^configmap\/settings\s+1\s+\d+s$/m);
  });

  it('round-trips a service with its defaults in -o yaml', async () => {
    const out = await kubectl(['get', 'svc', 'web', '-n', 'shop', '-o', 'yaml']);
    assert.equal(out.code, 0, out.stderr);
    const svc = YAML.parse(out.stdout);
    assert.equal(svc.kind, 'Service');
    assert.deepEqual(svc.spec.selector, { app: 'web' });
    assert.deepEqual(svc.spec.ports, [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }]);
    assert.equal(svc.spec.type, 'ClusterIP');
    assert.equal(svc.spec.sessionAffinity, 'None');
    assert.match(svc.spec.clusterIP, /^127\.77\./);
    assert.ok(svc.metadata.uid && svc.metadata.resourceVersion && svc.metadata.creationTimestamp);
    assert.ok(svc.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']);
  });

  it('lists pods wide and by label selector', async () => {
    for (const [name, app] of [
      ['p1', 'blue'],
      ['p2', 'blue'],
      ['p3', 'green'],
    ]) {
      const r = await kubectl(['apply', '-f', '-'], POD(name, { app }));
      assert.equal(r.code, 0, r.stderr);
    }
    const wide = await kubectl(['get', 'pods', '-o', 'wide']);
    assert.equal(wide.code, 0, wide.stderr);
    assert.match(wide.stdout, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$/m);
    assert.match(wide.stdout, /^p1\s+0\/1\s+Pending\s+0\s+\d+s\s+<none>\s+<none>\s+<none>\s+<none>$/m);
    const selected = await kubectl(['get', 'pods', '-l', 'app=blue', '-o', 'name']);
    assert.deepEqual(selected.stdout.trim().split('\n').sort(), ['pod/p1', 'pod/p2']);
    const notIn = await kubectl(['get', 'pods', '-l', 'app notin (blue,x)', '-o', 'name']);
    assert.equal(notIn.stdout.trim(), 'pod/p3');
  });

  it('streams a table row to `get pods -w` when a pod is created elsewhere', async () => {
    const env = { ...process.env, HOME: dir, KUBECONFIG: control.kubeconfig };
    const watcher = spawn('kubectl', ['get', 'pods', '-w'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    watcher.stdout.on('data', (d) => (out += d));
    try {
      await eventually(async () => (out.includes('p1') ? true : undefined));
      const created = await kubectl(['apply', '-f', '-'], POD('watched'));
      assert.equal(created.code, 0, created.stderr);
      await eventually(async () => (/^watched\s+0\/1\s+Pending\s+0\s+\d+s$/m.test(out) ? true : undefined));
      assert.equal((out.match(/^NAME\s+READY/gm) ?? []).length, 1, `one header only:\n${out}`);
    } finally {
      watcher.kill('SIGKILL');
    }
  });

  it('scales a deployment and patches with a merge patch', async () => {
    const scaled = await kubectl(['scale', 'deploy/web', '-n', 'shop', '--replicas=3']);
    assert.equal(scaled.code, 0, scaled.stderr);
    assert.match(scaled.stdout, /deployment\.apps\/web scaled/);
    const patched = await kubectl(['patch', 'deploy', 'web', '-n', 'shop', '--type', 'merge', '-p', '{"metadata":{"labels":{"tier":"front"}}}']);
    assert.equal(patched.code, 0, patched.stderr);
    const got = await kubectl(['get', 'deploy', 'web', '-n', 'shop', '-o', 'jsonpath={.spec.replicas} {.metadata.labels.tier}']);
    assert.equal(got.stdout, '3 front');
  });

  it('deletes what a file created, and a namespace with its contents', async () => {
    const file = join(dir, 'app.yaml');
    const del = await kubectl(['delete', '-f', file]);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stdout, /deployment\.apps "web" deleted/);
    const gone = await kubectl(['get', 'ns', 'shop']);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /NotFound/);

    const cmBefore = await kubectl(['get', 'cm', '-n', 'team-a', '-o', 'name']);
    assert.match(cmBefore.stdout, /configmap\/settings/);
    const delNs = await kubectl(['delete', 'namespace', 'team-a']);
    assert.equal(delNs.code, 0, delNs.stderr);
    const all = await kubectl(['get', 'cm,secret,deploy', '-A', '-o', 'name']);
    assert.doesNotMatch(all.stdout, /settings|creds|deployment\.apps\/api/);
  });

  it('accepts every manifest of the kubernetes/examples corpus unchanged and lists them in `get all -A`', EXAMPLES, async () => {
    const files = readdirSync(SHARED_EXAMPLES).filter((f) => f.endsWith('.yaml'));
    assert.ok(files.length >= 10);
    // Namespaces first, so that objects naming them have a place to go.
    const ordered = [...files.filter((f) => f.includes('namespace')), ...files.filter((f) => !f.includes('namespace'))];
    for (const f of ordered) {
      const r = await kubectl(['apply', '-f', join(SHARED_EXAMPLES, f)]);
      assert.equal(r.code, 0, `${f}: ${r.stderr}`);
    }
    const all = await kubectl(['get', 'all', '-A']);
    assert.equal(all.code, 0, all.stderr);
    for (const name of ['deployment.apps/frontend', 'deployment.apps/redis-master', 'service/redis-replica', 'pod/dns-frontend', 'service/dns-backend']) {
      assert.ok(all.stdout.includes(name), `missing ${name} in:\n${all.stdout}`);
    }
    const dev = await kubectl(['get', 'ns', 'development', 'production', '-o', 'name']);
    assert.equal(dev.stdout.trim(), 'namespace/development\nnamespace/production');
    // website/ joins kind by kind, as tugboat serves it.
    for (const f of WEBSITE_SERVED) {
      const r = await kubectl(['apply', '-f', join(SHARED_EXAMPLES, 'website', f)]);
      assert.equal(r.code, 0, `${f}: ${r.stderr}`);
    }
    const policies = await kubectl(['get', 'netpol', '-o', 'name']);
    assert.equal(policies.stdout.trim(), 'networkpolicy.networking.k8s.io/default-deny-ingress\nnetworkpolicy.networking.k8s.io/test-network-policy');
  });
});
