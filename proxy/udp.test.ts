import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, it } from 'node:test';
import { Balancer } from './balancer.js';
import type { Endpoint } from './types.js';
import { UdpForwarder } from './udp.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function bound(): Promise<Socket> {
  const s = createSocket('udp4');
  s.on('error', () => undefined);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
  return s;
}

/** A UDP server answering `name:<datagram>` to whoever sent it. */
async function echo(name: string): Promise<Endpoint> {
  const s = await bound();
  s.on('message', (m, r) => s.send(`${name}:${m}`, r.port, r.address));
  return { ip: '127.0.0.1', port: s.address().port };
}

async function relay(endpoints: Endpoint[], now?: () => number) {
  const balancer = new Balancer();
  balancer.setEndpoints(endpoints);
  const failures: string[] = [];
  const udp = new UdpForwarder({ service: 'default/dns:dns', picker: () => balancer, observer: { upstreamFailure: (e, r) => failures.push(`${e.port}:${r}`) }, idleTimeoutMs: 30_000, now });
  cleanups.push(() => udp.close());
  const front = await bound();
  udp.attach(front);
  let received = 0;
  front.on('message', () => received++);
  return { udp, port: front.address().port, balancer, failures, received: () => received };
}

/** A client socket that sends datagrams to the relay and hands back the replies in order. */
async function client(port: number) {
  const s = await bound();
  const replies: string[] = [];
  const waiters: (() => void)[] = [];
  s.on('message', (m) => {
    replies.push(String(m));
    waiters.shift()?.();
  });
  return {
    async ask(text: string): Promise<string> {
      const got = new Promise<void>((r) => waiters.push(r));
      s.send(text, port, '127.0.0.1');
      await got;
      return replies.shift()!;
    },
  };
}

describe('UDP forwarder', () => {
  it('keeps one flow per client address and relays both ways; new clients are spread round robin', async () => {
    const r = await relay([await echo('a'), await echo('b'), await echo('c')]);
    const clients = await Promise.all(Array.from({ length: 6 }, () => client(r.port)));
    const answers: string[] = [];
    for (const c of clients) answers.push(await c.ask('q1'));
    assert.deepEqual(answers, ['a:q1', 'b:q1', 'c:q1', 'a:q1', 'b:q1', 'c:q1']);
    // The same client stays on its endpoint for later datagrams.
    for (const [i, c] of clients.entries()) assert.equal(await c.ask('q2'), `${'abc'[i % 3]}:q2`);
    assert.equal(r.udp.flowCount(), 6);
  });

  it('expires idle flows; the client then gets a new flow', async () => {
    let now = 0;
    const r = await relay([await echo('a'), await echo('b')], () => now);
    const c = await client(r.port);
    assert.equal(await c.ask('x'), 'a:x');
    now += 29_000;
    r.udp.sweep();
    assert.equal(r.udp.flowCount(), 1);
    assert.equal(await c.ask('y'), 'a:y'); // activity renews the flow
    now += 30_000;
    r.udp.sweep();
    assert.equal(r.udp.flowCount(), 0);
    assert.equal(await c.ask('z'), 'b:z');
  });

  it('drops datagrams when there is no endpoint, and opens no flow', async () => {
    const r = await relay([]);
    const s = await bound();
    s.send('lost', r.port, '127.0.0.1');
    while (r.received() === 0) await new Promise((res) => setImmediate(res));
    assert.equal(r.udp.flowCount(), 0);
  });

  it('a refused endpoint (ICMP unreachable) is reported and ejected, the next datagram goes elsewhere', async () => {
    const gone = await bound();
    const deadPort = gone.address().port;
    await new Promise<void>((res) => gone.close(() => res()));
    cleanups.pop();
    const r = await relay([{ ip: '127.0.0.1', port: deadPort }, await echo('b')]);
    const c = await client(r.port);
    // The first datagram is lost to the dead endpoint (UDP has no retry); its flow ends on the ICMP error.
    const s = await bound();
    s.send('ping', r.port, '127.0.0.1');
    while (r.failures.length === 0) await new Promise((res) => setImmediate(res));
    assert.deepEqual(r.failures, [`${deadPort}:connect`]);
    assert.equal(r.balancer.ejectedCount(), 1);
    assert.equal(await c.ask('again'), 'b:again');
  });
});
