// Node ports for pods in the hostport network mode: each declared containerPort gets its
// hostPort, or one allocated from the node's range. Assignments are per pod uid and survive an
// agent restart (the agent saves them in its checkpoint), so adopted pods keep their ports.
import { createServer } from 'node:net';
import type { PodPort } from '../api/ports.js';
import type { Container } from '../api/types.js';

/** A containerPort and the node port it is served on (what the pod's tugboat.io/ports annotation lists). */
export type PortAssignment = PodPort;

export class PortRangeExhausted extends Error {}

export function parsePortRange(text: string): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(text);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2]) : NaN;
  if (!m || lo < 1 || hi > 65535 || lo > hi) throw new Error(`--port-range "${text}" is not a range like 20000-29999`);
  return [lo, hi];
}

/** Whether something on this host already listens on the port (so we never hand it out). */
export function portIsFree(port: number, host = '0.0.0.0'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export class PortAllocator {
  private readonly byPod = new Map<string, PortAssignment[]>();
  private readonly used = new Set<number>();
  private next: number;

  constructor(
    private readonly range: [number, number],
    private readonly isFree: (port: number) => Promise<boolean> = portIsFree,
    /** Called after every change, so the agent can keep the assignments across restarts. */
    private readonly onChange: (snapshot: Record<string, PortAssignment[]>) => void = () => undefined,
  ) {
    this.next = range[0];
  }

  /** Records assignments known from before (checkpoint or adopted pods). */
  restore(podUid: string, ports: PortAssignment[]): void {
    this.byPod.set(podUid, ports);
    for (const p of ports) this.used.add(p.hostPort);
  }

  get(podUid: string): PortAssignment[] | undefined {
    return this.byPod.get(podUid);
  }

  /** Assigns ports to every declared containerPort of the pod (idempotent per pod). */
  async assign(podUid: string, containers: Container[]): Promise<PortAssignment[]> {
    const existing = this.byPod.get(podUid);
    if (existing) return existing;
    const out: PortAssignment[] = [];
    try {
      for (const c of containers) {
        for (const p of c.ports ?? []) {
          const protocol = p.protocol ?? 'TCP';
          let hostPort = p.hostPort;
          if (hostPort) {
            if (this.used.has(hostPort)) throw new PortRangeExhausted(`hostPort ${hostPort} is already used by another pod on this node`);
          } else {
            hostPort = await this.pick();
          }
          this.used.add(hostPort);
          out.push({ container: c.name, name: p.name, containerPort: p.containerPort, hostPort, protocol });
        }
      }
    } catch (e) {
      for (const a of out) this.used.delete(a.hostPort);
      throw e;
    }
    this.byPod.set(podUid, out);
    this.onChange(this.snapshot());
    return out;
  }

  release(podUid: string): void {
    if (!this.byPod.has(podUid)) return;
    for (const p of this.byPod.get(podUid) ?? []) this.used.delete(p.hostPort);
    this.byPod.delete(podUid);
    this.onChange(this.snapshot());
  }

  snapshot(): Record<string, PortAssignment[]> {
    return Object.fromEntries(this.byPod);
  }

  private async pick(): Promise<number> {
    const [lo, hi] = this.range;
    const span = hi - lo + 1;
    for (let i = 0; i < span; i++) {
      const port = lo + ((this.next - lo + i) % span);
      if (this.used.has(port)) continue;
      if (!(await this.isFree(port))) continue;
      this.next = port + 1 > hi ? lo : port + 1;
      return port;
    }
    throw new PortRangeExhausted(`no free port left in the node's port range ${lo}-${hi}; widen --port-range or run fewer pods on this node`);
  }
}

/** `PORT` (first port), `PORT_<NAME>` per named port, as the pod's environment. */
export function portEnv(ports: PortAssignment[], container: string): Record<string, string> {
  const own = ports.filter((p) => p.container === container);
  const env: Record<string, string> = {};
  if (own[0]) env.PORT = String(own[0].hostPort);
  for (const p of own) if (p.name) env[`PORT_${p.name.toUpperCase().replace(/-/g, '_')}`] = String(p.hostPort);
  return env;
}

/** Resolves a probe/target port (a containerPort number or a port name) to the node port. */
export function resolvePort(ports: PortAssignment[], container: string, port: number | string): number | undefined {
  const own = ports.filter((p) => p.container === container);
  if (typeof port === 'number') return own.find((p) => p.containerPort === port)?.hostPort ?? (ports.find((p) => p.containerPort === port)?.hostPort ?? port);
  if (/^\d+$/.test(port)) return resolvePort(ports, container, Number(port));
  return (own.find((p) => p.name === port) ?? ports.find((p) => p.name === port))?.hostPort;
}
