// The UDP forwarder: each client address gets a flow (its own upstream socket connected to the
// endpoint picked for it) that relays datagrams both ways and expires after idling. A refused
// endpoint (ICMP port unreachable) ends the flow and is reported, so the next datagram picks again.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { HealthPicker } from './balancer.js';
import type { Endpoint, ForwardObserver, Picker } from './types.js';

export interface UdpForwarderOptions {
  service: string;
  picker: () => Picker;
  observer?: ForwardObserver;
  /** A flow with no datagram either way for this long is closed (default 30 s). */
  idleTimeoutMs?: number;
  now?: () => number;
}

interface Flow {
  upstream: Socket;
  endpoint: Endpoint;
  lastActive: number;
  /** Datagrams that arrived while the upstream socket was still connecting. */
  queue: Buffer[] | null;
}

export class UdpForwarder {
  private readonly flows = new Map<string, Flow>();
  private readonly idleMs: number;
  private readonly now: () => number;
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly opts: UdpForwarderOptions) {
    this.idleMs = opts.idleTimeoutMs ?? 30_000;
    this.now = opts.now ?? Date.now;
  }

  /** Relays datagrams arriving on a bound front socket (a ClusterIP or NodePort listener). */
  attach(front: Socket): void {
    front.on('message', (msg, rinfo) => this.handle(front, msg, rinfo));
  }

  flowCount(): number {
    return this.flows.size;
  }

  /** Closes flows idle for the timeout (runs on a timer while flows exist; tests call it directly). */
  sweep(now = this.now()): void {
    for (const [key, flow] of this.flows) if (now - flow.lastActive >= this.idleMs) this.endFlow(key, flow);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const [key, flow] of this.flows) this.endFlow(key, flow);
  }

  /** One datagram from a client on `front`: relayed on the client's flow, opened if needed. */
  handle(front: Socket, msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closed) return;
    const key = `${rinfo.address}:${rinfo.port}`;
    let flow = this.flows.get(key);
    if (!flow) {
      flow = this.openFlow(front, key, rinfo);
      if (!flow) return; // no endpoint: dropped, as an unanswered datagram would be
    }
    flow.lastActive = this.now();
    if (flow.queue) flow.queue.push(msg);
    else flow.upstream.send(msg);
  }

  private openFlow(front: Socket, key: string, client: RemoteInfo): Flow | undefined {
    const picker = this.opts.picker();
    const endpoint = picker.pick(client.address);
    if (!endpoint) return undefined;
    const upstream = createSocket('udp4');
    const flow: Flow = { upstream, endpoint, lastActive: this.now(), queue: [] };
    this.flows.set(key, flow);
    upstream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED') {
        this.opts.observer?.upstreamFailure?.(endpoint, 'connect');
        picker.failed(endpoint);
      }
      this.endFlow(key, flow);
    });
    upstream.on('message', (reply) => {
      flow.lastActive = this.now();
      front.send(reply, client.port, client.address);
    });
    upstream.connect(endpoint.port, endpoint.ip, () => {
      if (this.flows.get(key) !== flow) return;
      this.opts.observer?.connection?.(endpoint);
      (picker as HealthPicker).succeeded?.(endpoint);
      const queued = flow.queue ?? [];
      flow.queue = null;
      for (const m of queued) upstream.send(m);
    });
    this.timer ??= setInterval(() => this.sweep(), Math.max(50, Math.floor(this.idleMs / 2)));
    return flow;
  }

  private endFlow(key: string, flow: Flow): void {
    if (this.flows.get(key) !== flow) return;
    this.flows.delete(key);
    try {
      flow.upstream.close();
    } catch {
      // already closed
    }
    if (this.flows.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
