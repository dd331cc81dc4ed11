import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PodAddresses, PodAddressesExhausted } from './ipam.js';

describe('PodAddresses', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tug-ipam-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('never gives the network, gateway or broadcast address, nor one address twice', () => {
    const a = new PodAddresses('198.19.3.0/29', undefined);
    assert.equal(a.gateway, '198.19.3.1');
    const given = ['p1', 'p2', 'p3', 'p4', 'p5'].map((uid) => a.allocate(uid));
    assert.deepEqual(given, ['198.19.3.2', '198.19.3.3', '198.19.3.4', '198.19.3.5', '198.19.3.6']);
    assert.equal(a.allocate('p3'), '198.19.3.4', 'idempotent per pod');
    assert.throws(() => a.allocate('p6'), (e: Error) => e instanceof PodAddressesExhausted && /198\.19\.3\.0\/29/.test(e.message));
    a.release('p2');
    assert.equal(a.allocate('p6'), '198.19.3.3', 'a freed address is given again');
  });

  it('keeps addresses across a restart and drops them when the podCIDR changed', () => {
    const file = join(dir, 'addresses.json');
    const first = new PodAddresses('198.19.4.0/24', file);
    const ip = first.allocate('pod-a');
    first.allocate('pod-b');
    first.release('pod-b');
    const again = new PodAddresses('198.19.4.0/24', file);
    assert.equal(again.get('pod-a'), ip);
    assert.deepEqual(again.pods(), ['pod-a']);
    assert.notEqual(again.allocate('pod-c'), ip);
    const moved = new PodAddresses('198.19.5.0/24', file, () => undefined);
    assert.deepEqual(moved.pods(), []);
  });

  it('ignores a saved address outside the range or given twice', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ podCIDR: '198.19.6.0/24', addresses: { a: '198.19.6.9', b: '198.19.6.9', c: '198.19.7.1', d: '198.19.6.1' } }));
    const a = new PodAddresses('198.19.6.0/24', file);
    assert.deepEqual(a.pods(), ['a']);
    a.allocate('e');
    assert.deepEqual(Object.keys(JSON.parse(readFileSync(file, 'utf8')).addresses).sort(), ['a', 'e']);
  });

  it('hands a held address over to a pod, once, and counts what is free', () => {
    const file = join(dir, 'transfer.json');
    const a = new PodAddresses('198.19.8.0/29', file);
    assert.equal(a.free(), 5);
    const ip = a.allocate('warm:1');
    a.allocate('pod-x');
    assert.equal(a.free(), 3);
    assert.equal(a.transfer('warm:1', 'pod-y'), ip);
    assert.equal(a.get('pod-y'), ip);
    assert.equal(a.get('warm:1'), undefined);
    assert.throws(() => a.transfer('warm:1', 'pod-z'), /holds no address/);
    a.allocate('warm:2');
    assert.throws(() => a.transfer('warm:2', 'pod-x'), /already holds/);
    assert.equal(new PodAddresses('198.19.8.0/29', file).get('pod-y'), ip, 'the hand-over is saved');
    assert.equal(a.free(), 2);
  });
});
