import assert from 'node:assert/strict';
import { test } from 'node:test';
import { render } from './traffic.js';

test('renders one row per endpoint with a bar for its share', () => {
  const rows = [
    { endpoint: 'a', requestsPerSecond: 100, connectionsPerSecond: 0, share: 0.5 },
    { endpoint: 'b', requestsPerSecond: 100, connectionsPerSecond: 0, share: 0.5 },
  ];
  const view = render('title', rows, 10);
  assert.match(view, /^a\s+100\.0\s+0\.0\s+█{5} 50%$/m);
  assert.match(render('t', []), /no traffic/);
});
