// API server benchmark: creates/s, gets/s, list of 1,000 objects and watch fan-out (N watchers,
// time for one event to reach them all), for the memory and sqlite stores. The server runs as
// a real `tug control` process; the load comes from this process over HTTPS on loopback.
//
//   node dist/bench/api.js [--objects 1000] [--watchers 1000] [--concurrency 16]
import { setMaxListeners } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiClient } from '../api/client.js';
import { readKubeconfig } from '../api/kubeconfig.js';
import { resourceOfKind } from '../api/resources.js';
import { percentile, pool, startTugControl } from './harness.js';

const CONFIGMAP = resourceOfKind('ConfigMap');

const { values } = parseArgs({
  options: {
    objects: { type: 'string', default: '1000' },
    watchers: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '16' },
  },
});
const OBJECTS = Number(values.objects);
const WATCHERS = Number(values.watchers);
const CONCURRENCY = Number(values.concurrency);

function startServer(store: string, dir: string) {
  return startTugControl(dir, ['--store', store]);
}

async function measure(store: string) {
  const dir = mkdtempSync(join(tmpdir(), 'tug-bench-api-'));
  const { child, kubeconfig } = await startServer(store, dir);
  const client = new ApiClient(readKubeconfig(kubeconfig));
  try {
    const cm = (i: number) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}` }, data: { value: String(i), padding: 'x'.repeat(200) } });
    const createSecs = await pool(OBJECTS, CONCURRENCY, (i) => client.create(CONFIGMAP, 'default', cm(i)));
    const getSecs = await pool(OBJECTS, CONCURRENCY, (i) => client.get(CONFIGMAP, 'default', `cm-${i}`));
    const listTimes: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      const list = await client.list(CONFIGMAP, 'default');
      listTimes.push(performance.now() - t0);
      if (list.items.length !== OBJECTS) throw new Error(`list returned ${list.items.length} objects, expected ${OBJECTS}`);
    }
    listTimes.sort((a, b) => a - b);

    // Watch fan-out: N watchers on one namespace, then one write; time until all have it.
    const watchNs = 'default';
    const abort = new AbortController();
    setMaxListeners(WATCHERS + 16, abort.signal);
    let received = 0;
    let allReceived: () => void = () => undefined;
    const done = new Promise<void>((res) => (allReceived = res));
    const rv = (await client.list(CONFIGMAP, watchNs, { fieldSelector: 'metadata.name=fanout' })).metadata.resourceVersion;
    const watchClients = Array.from({ length: 8 }, () => new ApiClient(readKubeconfig(kubeconfig)));
    const path = client.pathFor(CONFIGMAP, watchNs);
    // open() resolves once the response headers arrive, i.e. once the server has registered the watch.
    const streams = await Promise.all(
      Array.from({ length: WATCHERS }, (_, i) =>
        watchClients[i % watchClients.length].open('GET', path, { query: { watch: 'true', resourceVersion: rv, fieldSelector: 'metadata.name=fanout' }, signal: abort.signal }),
      ),
    );
    const watches = streams.map(async (res) => {
      try {
        for await (const chunk of res) {
          if (String(chunk).includes('"ADDED"') && ++received === WATCHERS) allReceived();
        }
      } catch {
        // aborted at the end
      }
    });
    const t0 = performance.now();
    await client.create(CONFIGMAP, watchNs, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fanout' }, data: { a: 'b' } });
    const timeout = new Promise<void>((_, rej) => setTimeout(() => rej(new Error(`only ${received}/${WATCHERS} watchers got the event in 30 s`)), 30_000).unref());
    await Promise.race([done, timeout]);
    const fanoutMs = performance.now() - t0;
    abort.abort();
    await Promise.all(watches);
    for (const c of watchClients) c.close();

    return {
      store,
      createsPerSec: OBJECTS / createSecs,
      getsPerSec: OBJECTS / getSecs,
      listP50Ms: percentile(listTimes, 50),
      listP99Ms: percentile(listTimes, 99),
      fanoutMs,
    };
  } finally {
    client.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows = [];
for (const store of ['memory', 'sqlite']) rows.push(await measure(store));
console.log(`\nAPI server, ${OBJECTS} ConfigMaps, ${CONCURRENCY} requests in flight, ${WATCHERS} watchers, HTTPS on loopback\n`);
console.log(`store    creates/s   gets/s   list(${OBJECTS}) p50   list p99   watch fan-out (all watchers)`);
for (const r of rows) {
  console.log(
    `${r.store.padEnd(8)} ${r.createsPerSec.toFixed(0).padStart(9)} ${r.getsPerSec.toFixed(0).padStart(8)} ${`${r.listP50Ms.toFixed(1)} ms`.padStart(16)} ${`${r.listP99Ms.toFixed(1)} ms`.padStart(10)} ${`${r.fanoutMs.toFixed(0)} ms`.padStart(12)}`,
  );
}
