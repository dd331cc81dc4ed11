import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from './errors.js';
import {
  fieldValue,
  fromLabelSelector,
  labelSelectorToString,
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
} from './selectors.js';
import type { KubeObject } from './types.js';

test('parseLabelSelector understands every requirement form', () => {
  assert.deepEqual(parseLabelSelector('app=web,tier==front,env!=prod'), [
    { key: 'app', operator: 'In', values: ['web'] },
    { key: 'tier', operator: 'In', values: ['front'] },
    { key: 'env', operator: 'NotIn', values: ['prod'] },
  ]);
  assert.deepEqual(parseLabelSelector('tier in (a, b),env notin (dev,test), canary, !legacy'), [
    { key: 'tier', operator: 'In', values: ['a', 'b'] },
    { key: 'env', operator: 'NotIn', values: ['dev', 'test'] },
    { key: 'canary', operator: 'Exists', values: [] },
    { key: 'legacy', operator: 'DoesNotExist', values: [] },
  ]);
  assert.deepEqual(parseLabelSelector('example.com/team in(x)'), [{ key: 'example.com/team', operator: 'In', values: ['x'] }]);
  assert.deepEqual(parseLabelSelector('app='), [{ key: 'app', operator: 'In', values: [''] }]);
  assert.deepEqual(parseLabelSelector(''), []);
  assert.deepEqual(parseLabelSelector('   '), []);
});

test('parseLabelSelector rejects bad selectors with a 400 naming the bad part', () => {
  const cases: [string, string, RegExp][] = [
    ['app=web,tier in a', 'tier in a', /parentheses/],
    ['app=web,tier in (a,b', 'tier in (a,b', /missing '\)'/],
    ['tier in ()', 'tier in ()', /must not be empty/],
    ['app=web,,x', '', /empty requirement/],
    ['a b=c', 'a b=c', /operator/],
    ['app=a=b', 'app=a=b', /single value/],
    ['x>1', 'x>1', /not supported/],
    ['bad key!=1', 'bad key!=1', /operator/],
    ['app=not valid', 'app=not valid', /single value/],
    ['app=-web', 'app=-web', /invalid label value "-web"/],
    ['-app=web', '-app=web', /invalid label key "-app"/],
    ['!', '!', /after '!'/],
  ];
  for (const [text, part, why] of cases) {
    assert.throws(
      () => parseLabelSelector(text),
      (e: unknown) => {
        assert.ok(e instanceof ApiError);
        assert.equal(e.code, 400);
        assert.equal(e.reason, 'BadRequest');
        assert.ok(e.message.includes(`requirement "${part}"`), e.message);
        assert.match(e.message, why);
        return true;
      },
      text,
    );
  }
});

test('fromLabelSelector turns matchLabels and matchExpressions into requirements', () => {
  assert.deepEqual(
    fromLabelSelector({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['a', 'b'] },
        { key: 'env', operator: 'NotIn', values: ['dev'] },
        { key: 'canary', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist', values: [] },
      ],
    }),
    [
      { key: 'app', operator: 'In', values: ['web'] },
      { key: 'tier', operator: 'In', values: ['a', 'b'] },
      { key: 'env', operator: 'NotIn', values: ['dev'] },
      { key: 'canary', operator: 'Exists', values: [] },
      { key: 'legacy', operator: 'DoesNotExist', values: [] },
    ],
  );
  assert.deepEqual(fromLabelSelector({}), []);
  assert.throws(() => fromLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['x'] }] }), /"Equals" is not a valid label selector operator/);
  assert.throws(() => fromLabelSelector({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }), /must be non-empty/);
  assert.throws(() => fromLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }), /must be empty/);
});

test('matchesLabels applies each operator, and no requirements match everything', () => {
  const labels = { app: 'web', tier: 'front' };
  const m = (sel: string, l?: Record<string, string>): boolean => matchesLabels(parseLabelSelector(sel), l);
  assert.equal(m('', labels), true);
  assert.equal(m('', undefined), true);
  assert.equal(m('app=web', labels), true);
  assert.equal(m('app=api', labels), false);
  assert.equal(m('app=web,tier=back', labels), false);
  assert.equal(m('app!=api', labels), true);
  assert.equal(m('env!=prod', labels), true, 'NotIn matches a missing key');
  assert.equal(m('tier in (front,back)', labels), true);
  assert.equal(m('tier notin (front,back)', labels), false);
  assert.equal(m('app', labels), true);
  assert.equal(m('env', labels), false);
  assert.equal(m('!env', labels), true);
  assert.equal(m('!app', labels), false);
  assert.equal(m('app=web', undefined), false);
  assert.equal(m('constructor', {}), false, 'inherited properties are not labels');
});

test('labelSelectorToString renders like kubectl, sorted by key', () => {
  assert.equal(
    labelSelectorToString({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['b', 'a'] }] }),
    'app=web,tier in (a,b)',
  );
  assert.equal(
    labelSelectorToString({
      matchLabels: { z: '1' },
      matchExpressions: [
        { key: 'env', operator: 'NotIn', values: ['dev'] },
        { key: 'canary', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    }),
    'canary,env notin (dev),!legacy,z=1',
  );
  assert.equal(labelSelectorToString({}), '');
  const text = labelSelectorToString({ matchLabels: { app: 'web', tier: 'front' } });
  assert.deepEqual(parseLabelSelector(text), fromLabelSelector({ matchLabels: { app: 'web', tier: 'front' } }));
});

test('parseFieldSelector reads =, == and != and unescapes values', () => {
  assert.deepEqual(parseFieldSelector('metadata.name=web,spec.nodeName==n1,status.phase!=Running'), [
    { field: 'metadata.name', operator: '=', value: 'web' },
    { field: 'spec.nodeName', operator: '=', value: 'n1' },
    { field: 'status.phase', operator: '!=', value: 'Running' },
  ]);
  assert.deepEqual(parseFieldSelector('spec.nodeName='), [{ field: 'spec.nodeName', operator: '=', value: '' }]);
  assert.deepEqual(parseFieldSelector('reason=a\\,b\\=c\\\\'), [{ field: 'reason', operator: '=', value: 'a,b=c\\' }]);
  assert.deepEqual(parseFieldSelector(''), []);
});

test('parseFieldSelector rejects bad parts with a 400 naming them', () => {
  for (const [text, part] of [
    ['metadata.name', 'metadata.name'],
    ['metadata.name=a,status', 'status'],
    ['=x', '=x'],
    ['meta data=x', 'meta data=x'],
    ['reason=a\\x', 'reason=a\\x'],
  ]) {
    assert.throws(
      () => parseFieldSelector(text),
      (e: unknown) => e instanceof ApiError && e.code === 400 && e.message.includes(`"${part}"`),
      text,
    );
  }
});

test('matchesFields compares dotted paths, a missing field being empty', () => {
  const pod: KubeObject = {
    metadata: { name: 'web-1', namespace: 'default' },
    spec: { nodeName: 'n1', priority: 0 },
    status: { phase: 'Running' },
  };
  const m = (sel: string, obj: KubeObject = pod): boolean => matchesFields(parseFieldSelector(sel), obj);
  assert.equal(m('metadata.name=web-1'), true);
  assert.equal(m('metadata.name=web-2'), false);
  assert.equal(m('metadata.namespace=default,spec.nodeName=n1'), true);
  assert.equal(m('status.phase!=Running'), false);
  assert.equal(m('status.phase!=Pending'), true);
  assert.equal(m('spec.priority=0'), true);
  assert.equal(m('spec.nodeName=', { metadata: { name: 'p' }, spec: {} }), true, 'unscheduled pods have nodeName ""');
  assert.equal(m('spec.nodeName!=', { metadata: { name: 'p' } }), false);
  assert.equal(m(''), true);

  const event: KubeObject = {
    metadata: { name: 'web-1.17a' },
    involvedObject: { kind: 'Pod', name: 'web-1', namespace: 'default', uid: 'u-1' },
    type: 'Warning',
    reason: 'BackOff',
  };
  assert.equal(m('involvedObject.name=web-1,involvedObject.kind=Pod,involvedObject.uid=u-1,type=Warning,reason=BackOff', event), true);
  assert.equal(m('involvedObject.namespace=other', event), false);
  assert.equal(fieldValue(event, 'involvedObject.fieldPath'), '');
  assert.equal(fieldValue(event, 'metadata.name.length'), '');
});
