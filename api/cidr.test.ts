import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cidrMinus, formatCidr, parseCidr } from './cidr.js';

describe('cidrMinus', () => {
  it('covers 127.0.0.0/8 except the service CIDR with one CIDR per prefix length', () => {
    const parts = cidrMinus(parseCidr('127.0.0.0/8', 'x'), parseCidr('127.77.0.0/16')).map(formatCidr);
    assert.deepEqual(parts, ['127.0.0.0/10', '127.64.0.0/13', '127.72.0.0/14', '127.76.0.0/16', '127.78.0.0/15', '127.80.0.0/12', '127.96.0.0/11', '127.128.0.0/9']);
    const total = parts.reduce((n, c) => n + parseCidr(c, 'x').size, 0);
    assert.equal(total, 2 ** 24 - 2 ** 16);
  });

  it('leaves a range without the hole whole, and an equal or wider hole leaves nothing', () => {
    assert.deepEqual(cidrMinus(parseCidr('10.0.0.0/8', 'x'), parseCidr('127.77.0.0/16')).map(formatCidr), ['10.0.0.0/8']);
    assert.deepEqual(cidrMinus(parseCidr('127.77.0.0/16'), parseCidr('127.0.0.0/8', 'x')), []);
  });
});
