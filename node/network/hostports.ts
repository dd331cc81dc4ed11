// hostPort in the bridge mode: the node's port forwards to the pod's containerPort, as the CNI
// portmap plugin does. One nftables table (`ip tugboat_hostport`), rebuilt whole and swapped on
// every change: DNAT for packets to any of the node's own addresses, from outside (prerouting)
// and from the node itself (output); those from the node's loopback leave masqueraded, so the
// pod's answer comes back to the node, and so do a pod's own calls to its hostPort (hairpin).
import { run, swapTable } from './command.js';

export const HOSTPORT_TABLE = 'tugboat_hostport';

export interface HostPortMapping {
  hostPort: number;
  protocol: string;
  podIP: string;
  containerPort: number;
}

export function hostPortTable(mappings: HostPortMapping[], bridge: string, serviceCidr: string): string {
  // The Service addresses are the node's own too (on its loopback): a hostPort never takes them.
  const rules = mappings.map((m) => `    fib daddr type local ip daddr != ${serviceCidr} ${m.protocol.toLowerCase()} dport ${m.hostPort} dnat to ${m.podIP}:${m.containerPort}`);
  return swapTable('ip', HOSTPORT_TABLE, [
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    ...rules,
    '  }',
    '  chain output {',
    // nft names dstnat only for prerouting; -100 is the same place in output.
    '    type nat hook output priority -100; policy accept;',
    ...rules,
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip saddr 127.0.0.0/8 oifname "${bridge}" masquerade`,
    // A pod calling its own hostPort (hairpin): it would see its own address as the source.
    ...mappings.map((m) => `    ip saddr ${m.podIP} ip daddr ${m.podIP} ${m.protocol.toLowerCase()} dport ${m.containerPort} masquerade`),
    '  }',
  ]);
}

/** The node's hostPort forwards, per pod; each change reprograms the table (one write in flight). */
export class HostPorts {
  private readonly byPod = new Map<string, HostPortMapping[]>();
  private programmed = '';
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly bridge: string,
    private readonly serviceCidr: string,
  ) {}

  /** Programs the table as this process knows it (after a restart: empty until pods attach). */
  reset(): Promise<void> {
    this.programmed = '';
    return this.program();
  }

  set(uid: string, mappings: HostPortMapping[]): Promise<void> {
    if (mappings.length === 0 && !this.byPod.has(uid)) return Promise.resolve();
    if (mappings.length === 0) this.byPod.delete(uid);
    else this.byPod.set(uid, mappings);
    return this.program();
  }

  /** Writes the table as it now stands; a failed write fails only its own callers, the next one tries again. */
  private program(): Promise<void> {
    this.writing = this.writing.catch(() => undefined).then(async () => {
      const table = hostPortTable([...this.byPod.values()].flat(), this.bridge, this.serviceCidr);
      if (table === this.programmed) return;
      await run(['nft', '-f', '-'], table);
      this.programmed = table;
    });
    return this.writing;
  }
}
