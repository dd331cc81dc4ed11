import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { test } from 'node:test';
import { ApiClient } from './client.js';
import { resourceOfKind } from './resources.js';

/**
 * A server that answers the first request on each connection and drops the connection on the
 * second, the way a server closing an idle keep-alive connection looks to a client that reuses
 * it at the same moment.
 */
function flakyServer(): Promise<{ server: Server; url: string; connections: () => number }> {
  const served = new WeakMap<Socket, number>();
  let connections = 0;
  const server = createServer((req, res) => {
    const n = (served.get(req.socket) ?? 0) + 1;
    served.set(req.socket, n);
    if (n > 1) {
      req.socket.destroy();
      return;
    }
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ path: req.url, method: req.method }));
  });
  server.on('connection', () => connections++);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections })),
  );
}

test('a request on a kept-alive connection the server dropped goes again on a fresh one', async () => {
  const { server, url, connections } = await flakyServer();
  const client = new ApiClient({ server: url });
  try {
    assert.deepEqual(await client.request('GET', '/one'), { path: '/one', method: 'GET' });
    assert.deepEqual(await client.request('POST', '/two', { body: { a: 1 } }), { path: '/two', method: 'POST' });
    assert.equal(connections(), 2, 'the second request was retried on a new connection');
  } finally {
    client.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('a connection refused is an error that names the server', async () => {
  const { server, url } = await flakyServer();
  await new Promise((r) => server.close(r));
  const client = new ApiClient({ server: url });
  try {
    await assert.rejects(client.request('GET', '/x'), (e: Error) => e.message.includes(url));
  } finally {
    client.close();
  }
});

test('a watch stream is cut into events wherever its chunks end: a large event in many writes, several in one', async () => {
  const data = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, `v${i}`]));
  const big = JSON.stringify({ type: 'ADDED', object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big', resourceVersion: '1' }, data } }) + '\n';
  const small = (n: number) => JSON.stringify({ type: 'MODIFIED', object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `s${n}`, resourceVersion: String(n) } } }) + '\n';
  const server = createServer(async (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    for (let i = 0; i < big.length; i += 997) {
      res.write(big.slice(i, i + 997));
      await new Promise((r) => setImmediate(r));
    }
    res.end(small(2) + '\n' + small(3) + small(4).slice(0, 10));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = new ApiClient({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  try {
    const seen: string[] = [];
    let keys = 0;
    await client.watch(resourceOfKind('ConfigMap'), 'default', {}, (e) => {
      seen.push(`${e.type} ${e.object.metadata.name}`);
      if (e.object.metadata.name === 'big') keys = Object.keys((e.object as unknown as { data: object }).data).length;
    });
    assert.deepEqual(seen, ['ADDED big', 'MODIFIED s2', 'MODIFIED s3'], 'an unfinished last line is no event');
    assert.equal(keys, 5000);
  } finally {
    client.close();
    server.closeAllConnections();
    server.close();
  }
});

test('new credentials take over at once, while a request under way finishes on the old connection; close leaves no connection', async () => {
  const open = new Set<Socket>();
  const server = createServer((req, res) => {
    const answer = () => res.setHeader('Content-Type', 'application/json').end(JSON.stringify({ auth: req.headers.authorization ?? null, path: req.url }));
    if (req.url === '/slow') setTimeout(answer, 200);
    else answer();
  });
  server.on('connection', (s: Socket) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = new ApiClient({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 'old' });
  try {
    const slow = client.request('GET', '/slow');
    await new Promise((r) => setTimeout(r, 50));
    client.useCredentials({ token: 'new' });
    assert.deepEqual(await slow, { auth: 'Bearer old', path: '/slow' });
    assert.deepEqual(await client.request('GET', '/now'), { auth: 'Bearer new', path: '/now' });
    client.close();
    for (let i = 0; open.size && i < 100; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(open.size, 0, 'every connection, old and new, is closed');
  } finally {
    client.close();
    server.closeAllConnections();
    server.close();
  }
});
