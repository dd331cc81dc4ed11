import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Deployment, ReplicaSet } from '../api/types.js';
import { CHANGE_CAUSE, formatHistory, history, planUndo, REVISION, rolloutStatus, sameTemplate, withoutHash } from './rollout-logic.js';

const template = (image: string, extra: Record<string, string> = {}) => ({
  metadata: { labels: { app: 'web', ...extra } as Record<string, string> },
  spec: { containers: [{ name: 'web', image }] },
});

function deployment(over: Partial<Deployment['spec']> = {}, status: Deployment['status'] = {}, generation = 1): Deployment {
  return {
    metadata: { name: 'web', namespace: 'default', uid: 'd-uid', generation, annotations: { [REVISION]: '3' } },
    spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: template('web:3'), ...over },
    status: { observedGeneration: generation, ...status },
  };
}

function rs(name: string, revision: number | undefined, image: string, owner = 'd-uid', annotations: Record<string, string> = {}): ReplicaSet {
  return {
    metadata: {
      name,
      uid: `${name}-uid`,
      annotations: { ...(revision ? { [REVISION]: String(revision) } : {}), ...annotations },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: owner, controller: true }],
    },
    spec: { replicas: 0, selector: { matchLabels: { app: 'web' } }, template: template(image, { 'pod-template-hash': name.split('-')[1] }) },
  };
}

test('rollout status: the messages kubectl prints, in its order', () => {
  assert.deepEqual(rolloutStatus(deployment({}, { observedGeneration: 1 }, 2)), { done: false, message: 'Waiting for deployment spec update to be observed...' });
  assert.equal(rolloutStatus(deployment({}, { updatedReplicas: 1, replicas: 4 })).message, 'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...');
  assert.equal(rolloutStatus(deployment({}, { updatedReplicas: 3, replicas: 4 })).message, 'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...');
  assert.equal(rolloutStatus(deployment({}, { updatedReplicas: 3, replicas: 3, availableReplicas: 2 })).message, 'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...');
  const done = rolloutStatus(deployment({}, { updatedReplicas: 3, replicas: 3, availableReplicas: 3 }));
  assert.deepEqual(done, { done: true, message: 'deployment "web" successfully rolled out' });
  const zero = rolloutStatus(deployment({ replicas: 0 }, {}));
  assert.equal(zero.done, true, 'a deployment scaled to 0 is rolled out');
});

test('rollout status fails on ProgressDeadlineExceeded', () => {
  const d = deployment({}, { updatedReplicas: 1, replicas: 4, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] });
  const v = rolloutStatus(d);
  assert.equal(v.done, false);
  assert.equal(v.error, 'deployment "web" exceeded its progress deadline');
});

test('history lists only the ReplicaSets the deployment controls, by revision', () => {
  const all = [rs('web-c', 3, 'web:3'), rs('web-a', 1, 'web:1', 'd-uid', { [CHANGE_CAUSE]: 'first' }), rs('other-x', 9, 'x', 'someone-else'), rs('web-b', 2, 'web:2'), rs('web-n', undefined, 'web:0')];
  const h = history(deployment(), all);
  assert.deepEqual(h.map((e) => e.revision), [1, 2, 3]);
  assert.equal(formatHistory(h), 'REVISION  CHANGE-CAUSE\n1         first\n2         <none>\n3         <none>');
});

test('undo goes to the second-newest revision with kubectl\'s JSON patch', () => {
  const d = deployment();
  d.metadata.annotations![CHANGE_CAUSE] = 'now';
  const plan = planUndo(d, [rs('web-a', 1, 'web:1'), rs('web-c', 3, 'web:3'), rs('web-b', 2, 'web:2', 'd-uid', { [CHANGE_CAUSE]: 'second', 'deployment.kubernetes.io/desired-replicas': '3' })]);
  assert.equal(plan.kind, 'patch');
  if (plan.kind !== 'patch') return;
  assert.equal(plan.revision, 2);
  assert.deepEqual(plan.patch, [
    { op: 'replace', path: '/spec/template', value: template('web:2') },
    { op: 'replace', path: '/metadata/annotations', value: { [REVISION]: '3', [CHANGE_CAUSE]: 'second' } },
  ]);
});

test('undo --to-revision, and the ways it refuses', () => {
  const all = [rs('web-a', 1, 'web:1'), rs('web-b', 2, 'web:2'), rs('web-c', 3, 'web:3')];
  const to1 = planUndo(deployment(), all, 1);
  assert.equal(to1.kind === 'patch' && to1.revision, 1);
  assert.deepEqual(planUndo(deployment(), all, 7), { kind: 'error', message: 'unable to find specified revision 7 in history; `tug rollout history deployment/web` lists them' });
  assert.deepEqual(planUndo(deployment(), all, 3), { kind: 'skip', revision: 3, message: 'skipped rollback (current template already matches revision 3)' });
  assert.match((planUndo(deployment({ paused: true }), all) as { message: string }).message, /cannot rollback a paused deployment; resume it first/);
  assert.match((planUndo(deployment(), []) as { message: string }).message, /no rollout history found for deployment "web"/);
  assert.match((planUndo(deployment(), [all[2]]) as { message: string }).message, /no rollout history found for deployment "web": it has only revision 3/);
  const bare = deployment();
  delete bare.metadata.annotations;
  const added = planUndo(bare, all);
  assert.equal(added.kind === 'patch' && (added.patch[1] as { op: string }).op, 'add', 'no annotations yet: add, since replace needs the path');
});

test('templates compare without the hash label, key order or empty fields', () => {
  const a = template('web:1', { 'pod-template-hash': 'abc' });
  const b = { spec: { containers: [{ image: 'web:1', name: 'web', resources: {} }] }, metadata: { labels: { app: 'web' }, creationTimestamp: null } };
  assert.ok(sameTemplate(a, b as never));
  assert.ok(!sameTemplate(a, template('web:2')));
  assert.deepEqual(withoutHash(a), template('web:1'));
  assert.equal(a.metadata.labels['pod-template-hash'], 'abc', 'the input is not changed');
});
