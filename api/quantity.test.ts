import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isValidQuantity, parseQuantity } from './quantity.js';

test('parseQuantity reads plain and signed numbers', () => {
  assert.equal(parseQuantity('1'), 1);
  assert.equal(parseQuantity('0.5'), 0.5);
  assert.equal(parseQuantity('.5'), 0.5);
  assert.equal(parseQuantity('5.'), 5);
  assert.equal(parseQuantity('+2'), 2);
  assert.equal(parseQuantity('-2'), -2);
  assert.equal(parseQuantity(3), 3);
  assert.equal(parseQuantity(0.25), 0.25);
});

test('parseQuantity reads decimal SI suffixes exactly', () => {
  assert.equal(parseQuantity('100m'), 0.1);
  assert.equal(parseQuantity('250m'), 0.25);
  assert.equal(parseQuantity('1500m'), 1.5);
  assert.equal(parseQuantity('5n'), 5e-9);
  assert.equal(parseQuantity('5u'), 5e-6);
  assert.equal(parseQuantity('1k'), 1000);
  assert.equal(parseQuantity('128M'), 128_000_000);
  assert.equal(parseQuantity('1G'), 1e9);
  assert.equal(parseQuantity('2T'), 2e12);
  assert.equal(parseQuantity('1P'), 1e15);
  assert.equal(parseQuantity('1E'), 1e18);
});

test('parseQuantity reads binary SI suffixes', () => {
  assert.equal(parseQuantity('128Mi'), 134217728);
  assert.equal(parseQuantity('1Ki'), 1024);
  assert.equal(parseQuantity('1.5Gi'), 1.5 * 2 ** 30);
  assert.equal(parseQuantity('1Ti'), 2 ** 40);
  assert.equal(parseQuantity('1Pi'), 2 ** 50);
  assert.equal(parseQuantity('1Ei'), 2 ** 60);
});

test('parseQuantity reads decimal exponents, telling 1E3 from 1E (exa)', () => {
  assert.equal(parseQuantity('1e3'), 1000);
  assert.equal(parseQuantity('1E3'), 1000);
  assert.equal(parseQuantity('12e-3'), 0.012);
  assert.equal(parseQuantity('2e+2'), 200);
});

test('parseQuantity throws on what is not a quantity, naming the value', () => {
  for (const bad of ['', ' 1', '1 ', 'abc', '1.2.3', '1K', '1mi', '1KiB', '1e', 'e3', 'm', '--1', '1Mi2', '0x10']) {
    assert.throws(() => parseQuantity(bad), (e: Error) => e.message.includes(`"${bad}"`) && e.message.includes('regular expression'), bad);
  }
  assert.throws(() => parseQuantity(Number.NaN), /finite/);
  assert.throws(() => parseQuantity(Infinity), /finite/);
});

test('isValidQuantity agrees with parseQuantity', () => {
  assert.equal(isValidQuantity('100m'), true);
  assert.equal(isValidQuantity('64Mi'), true);
  assert.equal(isValidQuantity(2), true);
  assert.equal(isValidQuantity('2 cores'), false);
  assert.equal(isValidQuantity('1K'), false);
  assert.equal(isValidQuantity(null), false);
  assert.equal(isValidQuantity({}), false);
});
