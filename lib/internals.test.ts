import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sleep } from '../api/timers.js';
import { fstatSync } from 'node:fs';
import { createServer, connect, Socket, type Server } from 'node:net';
import { once } from 'node:events';
import { canCollectGarbage, collectGarbage, GarbageCollections, socketDescriptor, takeHandle } from './internals.js';

/** A WeakRef to an object nothing else holds, made in a job of its own (a WeakRef keeps its target until the job ends). */
async function garbage(): Promise<WeakRef<object>> {
  const ref = new WeakRef({ payload: new Array(1000).fill('x') });
  await sleep(0);
  return ref;
}

/** A connected pair on loopback: the server's accepted socket and the client. */
async function socketPair(server: Server): Promise<{ accepted: Socket; client: Socket }> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  await once(client, 'connect');
  return { accepted: (await accepted)[0], client };
}

describe('Node internals', () => {
  it('collects garbage on request: an object only a WeakRef holds is gone', async () => {
    assert.ok(canCollectGarbage());
    const ref = await garbage();
    assert.equal(collectGarbage(), true);
    assert.equal(ref.deref(), undefined);
  });

  it('collects soon after a request, once for a burst of requests, and one asked for inside the interval when it ends', async () => {
    const runs: number[] = [];
    const gcs = new GarbageCollections(200, 5, () => runs.push(Date.now()));
    try {
      gcs.request();
      gcs.request();
      while (runs.length < 1) await sleep(5);
      gcs.request();
      gcs.request();
      while (runs.length < 2) await sleep(5);
      await sleep(20);
      assert.equal(runs.length, 2, 'one collection per burst');
      assert.ok(runs[1] - runs[0] >= 150, `the second came ${runs[1] - runs[0]} ms after the first, not before the interval ended`);
    } finally {
      gcs.stop();
    }
  });

  it("gives a socket's descriptor, and moves its handle into a new Socket that carries the connection on", async () => {
    const server = createServer();
    const { accepted, client } = await socketPair(server);
    try {
      const fd = socketDescriptor(accepted);
      assert.equal(typeof fd, 'number');
      assert.ok(fstatSync(fd!).isSocket());
      const handle = takeHandle(accepted);
      assert.ok(handle);
      assert.equal(socketDescriptor(accepted), undefined, 'the old socket holds no handle now');
      assert.equal(takeHandle(accepted), undefined);
      accepted.destroy(); // closes nothing: the handle is elsewhere
      const moved = new Socket({ handle, readable: true, writable: true } as ConstructorParameters<typeof Socket>[0]);
      client.write('ping');
      const [chunk] = (await once(moved, 'data')) as [Buffer];
      assert.equal(chunk.toString(), 'ping');
      moved.write('pong');
      assert.equal(((await once(client, 'data')) as [Buffer])[0].toString(), 'pong');
      moved.destroy();
    } finally {
      client.destroy();
      server.close();
    }
  });

  it('is off with TUG_NODE_INTERNALS=0: no collection, no descriptor, no handle, and the caller is told', () => {
    const module = fileURLToPath(new URL('./internals.js', import.meta.url));
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', [
      `import { collectGarbage, canCollectGarbage, socketDescriptor, takeHandle } from ${JSON.stringify(module)};`,
      `import { createServer, connect } from 'node:net';`,
      `const server = createServer().listen(0, '127.0.0.1', () => {`,
      `  const c = connect(server.address().port, '127.0.0.1', () => {`,
      `    console.log(canCollectGarbage(), collectGarbage(), typeof globalThis.gc, socketDescriptor(c), takeHandle(c));`,
      `    c.destroy();`,
      `    server.close();`,
      `  });`,
      `});`,
    ].join('\n')], {
      env: { ...process.env, TUG_NODE_INTERNALS: '0' },
      encoding: 'utf8',
    });
    assert.equal(r.stdout.trim(), 'false false undefined undefined undefined', r.stderr);
  });
});
