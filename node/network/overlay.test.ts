import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostPortTable } from './hostports.js';
import { vtepAddress, vtepMac } from './overlay.js';

describe('vxlan tunnel ends', () => {
  it("are the podCIDR's network address, with a MAC every node can work out from it", () => {
    assert.equal(vtepAddress('198.19.3.0/24'), '198.19.3.0');
    assert.equal(vtepMac('198.19.3.0/24'), '0a:58:c6:13:03:00');
    assert.notEqual(vtepMac('198.19.4.0/24'), vtepMac('198.19.3.0/24'));
  });
});

describe('hostPort forwarding rules', () => {
  it('forward each hostPort to the pod from outside and from the node, and masquerade the node loopback', () => {
    const table = hostPortTable([{ hostPort: 8081, protocol: 'TCP', podIP: '198.19.0.5', containerPort: 80 }, { hostPort: 5353, protocol: 'UDP', podIP: '198.19.0.6', containerPort: 53 }], 'tug0', '127.77.0.0/16');
    assert.equal(table.match(/fib daddr type local ip daddr != 127\.77\.0\.0\/16 tcp dport 8081 dnat to 198\.19\.0\.5:80/g)?.length, 2);
    assert.equal(table.match(/fib daddr type local ip daddr != 127\.77\.0\.0\/16 udp dport 5353 dnat to 198\.19\.0\.6:53/g)?.length, 2);
    assert.match(table, /ip saddr 127\.0\.0\.0\/8 oifname "tug0" masquerade/);
    assert.match(table, /^table ip tugboat_hostport\ndelete table ip tugboat_hostport\n/);
  });
});
