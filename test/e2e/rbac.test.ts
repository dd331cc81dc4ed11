// RBAC with the real kubectl against `tug control`: `auth whoami` and `auth can-i`, roles and
// bindings made with `kubectl create` (protobuf bodies), a person's token from `tug token create
// --user`, impersonation with --as, and the refusals a user without the permissions gets.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEBIAN_PYTHON, needs, present } from '../requirements.js';
import { eventually, kubectlFor, run, startControl, tempDir, tug, type ControlProcess } from './harness.js';

/** Debian's python3-kubernetes as a person: the kubeconfig's server and CA, the token given. */
const PYTHON_AS_USER = `
import json, sys
from kubernetes import client, config
config.load_kube_config(config_file=sys.argv[1])
conf = client.Configuration.get_default_copy()
conf.api_key = {'authorization': 'Bearer ' + sys.argv[2]}
api = client.ApiClient(conf)
core = client.CoreV1Api(api)
out = {'pods': [p.metadata.name for p in core.list_namespaced_pod('dev').items]}
try:
    core.list_namespaced_secret('prod')
    out['secrets'] = 'allowed'
except client.exceptions.ApiException as e:
    body = json.loads(e.body)
    out['secrets'] = {'status': e.status, 'reason': body['reason'], 'message': body['message']}
spec = client.V1SelfSubjectAccessReviewSpec(resource_attributes=client.V1ResourceAttributes(namespace='dev', verb='delete', resource='pods'))
out['canDelete'] = client.AuthorizationV1Api(api).create_self_subject_access_review(client.V1SelfSubjectAccessReview(spec=spec)).status.allowed
print(json.dumps(out))
`;

describe('RBAC with kubectl', { ...(await needs('kubectl')), concurrency: false }, () => {
  const cleanups: (() => unknown)[] = [];
  const scope = { after: (fn: () => unknown) => cleanups.push(fn) };
  let control: ControlProcess;
  let kubectl: ReturnType<typeof kubectlFor>;
  let home = '';
  /** kubectl as someone else: the same cluster and CA, another token. */
  let as: (token: string) => (args: string[]) => ReturnType<typeof kubectl>;

  before(async () => {
    home = tempDir(scope);
    control = await startControl(scope, home, ['--controllers', 'none']);
    kubectl = kubectlFor(control, home);
    as = (token) => (args) => kubectl(['--token', token, ...args]);
    assert.equal((await kubectl(['create', 'namespace', 'dev'])).code, 0);
    assert.equal((await kubectl(['create', 'namespace', 'prod'])).code, 0);
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  async function tokenFor(user: string, ...groups: string[]): Promise<string> {
    const r = await tug({ HOME: home, KUBECONFIG: control.kubeconfig }, ['token', 'create', '--user', user, ...groups.flatMap((g) => ['--group', g])]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`bind roles to User "${user}"`));
    return r.stdout.trim();
  }

  it('says who the admin is and that it may do anything', async () => {
    const who = await kubectl(['auth', 'whoami']);
    assert.equal(who.code, 0, who.stderr);
    assert.match(who.stdout, /^Username\s+system:admin$/m);
    assert.match(who.stdout, /^Groups\s+\[system:masters system:authenticated\]$/m);
    assert.equal((await kubectl(['auth', 'can-i', 'delete', 'nodes'])).stdout.trim(), 'yes');
    const list = await kubectl(['auth', 'can-i', '--list']);
    assert.match(list.stdout, /^\*\.\*\s+\[\]\s+\[\]\s+\[\*\]$/m);
  });

  it('lists the default roles and bindings', async () => {
    const roles = await kubectl(['get', 'clusterroles']);
    for (const name of ['cluster-admin', 'admin', 'edit', 'view', 'system:basic-user', 'system:discovery']) assert.match(roles.stdout, new RegExp(`^${name}\\s`, 'm'));
    const bindings = await kubectl(['get', 'clusterrolebindings', '-o', 'wide']);
    assert.match(bindings.stdout, /^cluster-admin\s+ClusterRole\/cluster-admin\s+\S+\s+system:masters\s/m);
  });

  it('gives a person with a token only what is bound to them', async () => {
    const jane = as(await tokenFor('jane', 'developers'));
    const who = await jane(['auth', 'whoami']);
    assert.match(who.stdout, /^Username\s+jane$/m);
    assert.match(who.stdout, /^Groups\s+\[developers system:authenticated\]$/m);
    const denied = await jane(['get', 'pods', '-n', 'dev']);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /Error from server \(Forbidden\): pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "dev"/);

    for (const args of [
      ['create', 'role', 'pod-reader', '--verb=get,list,watch', '--resource=pods,pods/log', '-n', 'dev'],
      ['create', 'rolebinding', 'jane-reads-pods', '--role=pod-reader', '--user=jane', '-n', 'dev'],
      ['create', 'rolebinding', 'devs-view', '--clusterrole=view', '--group=developers', '-n', 'prod'],
    ]) {
      const r = await kubectl(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    const rb = await kubectl(['get', 'rolebinding', 'jane-reads-pods', '-n', 'dev', '-o', 'wide']);
    assert.match(rb.stdout, /^jane-reads-pods\s+Role\/pod-reader\s+\S+\s+jane\s/m);
    await eventually(async () => ((await jane(['get', 'pods', '-n', 'dev'])).code === 0 ? true : undefined));
    assert.equal((await jane(['auth', 'can-i', 'list', 'pods', '-n', 'dev'])).stdout.trim(), 'yes');
    const no = await jane(['auth', 'can-i', 'delete', 'pods', '-n', 'dev']);
    assert.equal(no.stdout.trim(), 'no');
    assert.equal(no.code, 1);
    assert.equal((await jane(['auth', 'can-i', 'get', 'deployments', '-n', 'prod'])).stdout.trim(), 'yes', 'through the group');
    assert.equal((await jane(['auth', 'can-i', 'get', 'secrets', '-n', 'prod'])).stdout.trim(), 'no', 'view does not read Secrets');
    const rules = await jane(['auth', 'can-i', '--list', '-n', 'dev']);
    assert.match(rules.stdout, /^pods\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
    assert.match(rules.stdout, /^pods\/log\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
  });

  it("gives Debian's python3-kubernetes client, as that person, the same answers", async (t) => {
    if (!(await present(t, 'python-kubernetes'))) return;
    assert.equal((await kubectl(['run', 'py-visible', '-n', 'dev', '--image=local/echo:1'])).code, 0);
    const r = await run(DEBIAN_PYTHON, ['-c', PYTHON_AS_USER, control.kubeconfig, await tokenFor('jane', 'developers')]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.pods, ['py-visible']);
    assert.deepEqual(out.secrets, { status: 403, reason: 'Forbidden', message: 'secrets is forbidden: User "jane" cannot list resource "secrets" in API group "" in the namespace "prod"' });
    assert.equal(out.canDelete, false);
  });

  it('lets the admin act as someone else with --as, and no one else', async () => {
    assert.equal((await kubectl(['auth', 'can-i', 'list', 'pods', '-n', 'dev', '--as', 'jane'])).stdout.trim(), 'yes');
    assert.equal((await kubectl(['auth', 'can-i', 'list', 'pods', '-n', 'prod', '--as', 'jane'])).stdout.trim(), 'no');
    assert.equal((await kubectl(['auth', 'can-i', 'list', 'pods', '-n', 'prod', '--as', 'jane', '--as-group', 'developers'])).stdout.trim(), 'yes');
    const bob = as(await tokenFor('bob'));
    const r = await bob(['get', 'pods', '-n', 'dev', '--as', 'jane']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /users "jane" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope/);
  });

  it('refuses a namespace admin who tries to grant more than they hold', async () => {
    assert.equal((await kubectl(['create', 'rolebinding', 'carol-admin', '--clusterrole=admin', '--user=carol', '-n', 'dev'])).code, 0);
    const carol = as(await tokenFor('carol'));
    await eventually(async () => ((await carol(['get', 'roles', '-n', 'dev'])).code === 0 ? true : undefined));
    const ok = await carol(['create', 'rolebinding', 'dave-view', '--clusterrole=view', '--user=dave', '-n', 'dev']);
    assert.equal(ok.code, 0, ok.stderr);
    const up = await carol(['create', 'rolebinding', 'carol-root', '--clusterrole=cluster-admin', '--user=carol', '-n', 'dev']);
    assert.equal(up.code, 1);
    assert.match(up.stderr, /rolebindings\.rbac\.authorization\.k8s\.io "carol-root" is forbidden: user "carol" .* is attempting to bind ClusterRole "cluster-admin"/);
    const role = await carol(['create', 'role', 'node-reader', '--verb=get', '--resource=nodes', '-n', 'dev']);
    assert.equal(role.code, 1);
    assert.match(role.stderr, /attempting to grant RBAC permissions not currently held/);
    const cluster = await carol(['create', 'clusterrolebinding', 'carol-everywhere', '--clusterrole=admin', '--user=carol']);
    assert.equal(cluster.code, 1);
    assert.match(cluster.stderr, /clusterrolebindings\.rbac\.authorization\.k8s\.io is forbidden: User "carol" cannot create resource "clusterrolebindings"/);
  });

  it('makes ServiceAccount tokens with `kubectl create token` that act as the ServiceAccount', async () => {
    assert.equal((await kubectl(['create', 'serviceaccount', 'ci', '-n', 'dev'])).code, 0);
    assert.equal((await kubectl(['create', 'rolebinding', 'ci-view', '--clusterrole=view', '--serviceaccount=dev:ci', '-n', 'dev'])).code, 0);
    const made = await kubectl(['create', 'token', 'ci', '-n', 'dev', '--duration=15m']);
    assert.equal(made.code, 0, made.stderr);
    const ci = as(made.stdout.trim());
    assert.match((await ci(['auth', 'whoami'])).stdout, /^Username\s+system:serviceaccount:dev:ci$/m);
    await eventually(async () => ((await ci(['get', 'deployments', '-n', 'dev'])).code === 0 ? true : undefined));
    assert.match((await ci(['get', 'secrets', '-n', 'dev'])).stderr, /User "system:serviceaccount:dev:ci" cannot list resource "secrets"/);
    const short = await kubectl(['create', 'token', 'ci', '-n', 'dev', '--duration=1m']);
    assert.equal(short.code, 1);
    assert.match(short.stderr, /may not specify a duration less than 10 minutes/);
    assert.match((await kubectl(['get', 'serviceaccounts', '-n', 'dev'])).stdout, /^ci\s+0\s/m);
  });

  it('turns a deleted token away with 401', async () => {
    const r = await tug({ HOME: home, KUBECONFIG: control.kubeconfig }, ['token', 'create', '--user', 'temp']);
    const secret = /delete secret (user-token-[a-z0-9]{6})/.exec(r.stderr)![1];
    const temp = as(r.stdout.trim());
    assert.equal((await temp(['auth', 'whoami'])).code, 0);
    assert.equal((await kubectl(['-n', 'kube-system', 'delete', 'secret', secret])).code, 0);
    const gone = await temp(['auth', 'whoami']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /Unauthorized|must be logged in/);
  });
});
