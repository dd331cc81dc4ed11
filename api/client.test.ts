import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { test } from 'node:test';
import { ApiClient } from './client.js';

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
