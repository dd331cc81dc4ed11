// The node's cluster DNS: the dns/ server fed by Service and Endpoints informers. Watch handlers
// only mark the zone dirty; one loop rebuilds it (at most every few milliseconds) and swaps it
// in. The last zone stays after the control node goes away, so names keep resolving.
import { readFileSync } from 'node:fs';
import type { Registry } from 'prom-client';
import { checkpointIn } from '../api/checkpoint.js';
import type { ApiClient } from '../api/client.js';
import { Informer } from '../api/informer.js';
import { resourceOfKind } from '../api/resources.js';
import { sleep } from '../api/timers.js';
import type { Endpoints, Service } from '../api/types.js';
import { buildZone, startDns, type RunningDns, type Zone } from '../dns/index.js';

export interface ClusterDnsOptions {
  client: ApiClient;
  /** host:port, e.g. 127.77.0.10:53. */
  addr: string;
  domain: string;
  /** host:port of the servers other names go to; default: the host's /etc/resolv.conf nameservers. */
  upstreams?: string[];
  ttl?: number;
  metrics?: Registry;
  /** Whether the control node is unreachable now (answers then come from the last state). */
  controlUnreachable?: () => boolean;
  /** Where Services and Endpoints are checkpointed, so a restart while control is away still answers. */
  checkpointDir?: string;
  log: (message: string) => void;
}

export interface RunningClusterDns {
  port: number;
  stop(): Promise<void>;
}

/** The nameservers of a resolv.conf, as host:53. */
export function resolvConfNameservers(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m) out.push(m[1].includes(':') ? `[${m[1]}]:53` : `${m[1]}:53`);
  }
  return out;
}

function hostUpstreams(): string[] {
  try {
    return resolvConfNameservers(readFileSync('/etc/resolv.conf', 'utf8'));
  } catch {
    return [];
  }
}

export async function startClusterDns(o: ClusterDnsOptions): Promise<RunningClusterDns> {
  let zone: Zone | undefined;
  let dirty = true;
  let wake: (() => void) | undefined;
  const mark = () => {
    dirty = true;
    wake?.();
  };
  const handlers = { onAdd: mark, onUpdate: mark, onDelete: mark };
  const services = new Informer<Service>(o.client, resourceOfKind('Service'), handlers, checkpointIn<Service>(o.checkpointDir, 'dns-services.json', o.log)).start();
  const endpoints = new Informer<Endpoints>(o.client, resourceOfKind('Endpoints'), handlers, checkpointIn<Endpoints>(o.checkpointDir, 'dns-endpoints.json', o.log)).start();
  const abort = new AbortController();
  const nsAddress = o.addr.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  let serial = Math.floor(Date.now() / 1000);
  const loop = (async () => {
    await Promise.all([services.waitForSync(), endpoints.waitForSync()]);
    while (!abort.signal.aborted) {
      if (dirty) {
        dirty = false;
        zone = buildZone(services.list(), endpoints.list(), { domain: o.domain, ttl: o.ttl, serial: ++serial, nsAddress });
        // Coalesce a burst of changes into one rebuild.
        await sleep(5, abort.signal);
        continue;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          abort.signal.removeEventListener('abort', done);
          wake = undefined;
          resolve();
        };
        wake = done;
        abort.signal.addEventListener('abort', done, { once: true });
      });
    }
  })();
  let server: RunningDns;
  try {
    server = await startDns({
      addr: o.addr,
      domain: o.domain,
      upstreams: o.upstreams?.length ? o.upstreams : hostUpstreams(),
      zone: () => zone,
      isStale: o.controlUnreachable,
      metrics: o.metrics,
      log: o.log,
    });
  } catch (e) {
    abort.abort();
    await Promise.all([services.stop(), endpoints.stop(), loop]);
    throw e;
  }
  return {
    port: server.port,
    async stop() {
      abort.abort();
      await Promise.all([server.stop(), services.stop(), endpoints.stop(), loop]);
    },
  };
}
