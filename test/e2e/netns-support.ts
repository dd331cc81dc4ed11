// Simulated hosts for multi-host tests (../shared/notes/netns.md): one network namespace per host
// with an eth0 on a private bridge that lives in one more namespace, addresses in 198.18.0.0/24.
// Nothing is connected to the machine's own interfaces. Everything made is removed at the end,
// also when a test fails, including the pod sandboxes the nodes made.
import { spawnSync } from 'node:child_process';
import { run, type Host } from './harness.js';

function ip(args: string[], input?: string): void {
  const r = spawnSync('ip', args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr}`);
}

export class SimulatedHosts {
  /** Unique per test process; interface names built from it stay under 15 bytes. */
  readonly prefix = `tt${process.pid % 100000}`;
  readonly hosts: (Host & { netns: string; link: string })[] = [];

  get lan(): string {
    return `${this.prefix}-lan`;
  }

  /**
   * Makes `count` hosts, each on a segment of its own (198.18.i.0/24, the host at .1) behind one
   * router (.254 on every segment): hosts that reach each other only through a router.
   */
  createRouted(count: number): void {
    ip(['netns', 'add', this.lan]);
    spawnSync('ip', ['netns', 'exec', this.lan, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    ip(['-n', this.lan, 'link', 'set', 'lo', 'up']);
    for (let i = 1; i <= count; i++) {
      const netns = `${this.prefix}-h${i}`;
      const link = `${this.prefix}h${i}`;
      const address = `198.18.${i}.1`;
      ip(['netns', 'add', netns]);
      ip(['link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
      ip(['link', 'set', link, 'netns', this.lan]);
      ip(['-n', this.lan, '-b', '-'], `addr add 198.18.${i}.254/24 dev ${link}\nlink set ${link} up\n`);
      ip(['-n', netns, '-b', '-'], `addr add ${address}/24 dev eth0\nlink set eth0 up\nlink set lo up\nroute add default via 198.18.${i}.254\n`);
      this.hosts.push({ netns, link, ip: address, wrap: ['nsenter', `--net=/run/netns/${netns}`, '--'] });
    }
  }

  /** Makes `count` hosts, 198.18.0.1 to 198.18.0.count, on one LAN. */
  create(count: number): void {
    ip(['netns', 'add', this.lan]);
    ip(['-n', this.lan, '-b', '-'], 'link add br0 type bridge\nlink set br0 up\nlink set lo up\n');
    for (let i = 1; i <= count; i++) {
      const netns = `${this.prefix}-h${i}`;
      const link = `${this.prefix}h${i}`;
      const address = `198.18.0.${i}`;
      ip(['netns', 'add', netns]);
      ip(['link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
      ip(['link', 'set', link, 'netns', this.lan]);
      ip(['-n', this.lan, 'link', 'set', link, 'master', 'br0', 'up']);
      ip(['-n', netns, '-b', '-'], `addr add ${address}/24 dev eth0\nlink set eth0 up\nlink set lo up\n`);
      this.hosts.push({ netns, link, ip: address, wrap: ['nsenter', `--net=/run/netns/${netns}`, '--'] });
    }
  }

  host(i: number): SimulatedHosts['hosts'][number] {
    return this.hosts[i - 1];
  }

  /** Runs a command on host `i` (1-based). */
  run(i: number, argv: string[], input?: string) {
    const h = this.host(i);
    return run(h.wrap[0], [...h.wrap.slice(1), ...argv], { input, timeoutMs: 30_000 });
  }

  /** Network namespaces on this machine whose name starts with `prefix`. */
  static namespaces(prefix: string): string[] {
    const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    return r.stdout
      .split('\n')
      .map((l) => l.split(' ')[0])
      .filter((n) => n && n.startsWith(prefix));
  }

  /** Removes the hosts, the LAN and every namespace starting with one of `extra` (pod sandboxes). */
  destroy(extra: string[] = []): void {
    const all = [...this.hosts.map((h) => h.netns), this.lan, ...extra.flatMap((p) => SimulatedHosts.namespaces(p))];
    for (const n of all) spawnSync('ip', ['netns', 'del', n]);
    this.hosts.length = 0;
  }
}
