import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rfc3339 } from './time.js';

test('RFC 3339 in whole seconds, as Go prints metav1.Time', () => {
  assert.equal(rfc3339(new Date('2025-03-04T05:06:07.891Z')), '2025-03-04T05:06:07Z');
  assert.equal(rfc3339(Date.parse('2025-03-04T05:06:07Z')), '2025-03-04T05:06:07Z');
});
