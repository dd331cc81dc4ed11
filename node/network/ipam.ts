// Pod addresses on one node (the host-local IPAM of CNI): each pod uid gets one address of the
// node's podCIDR, kept in a file in the state dir so a restarted node gives adopted pods the
// addresses they already have and never hands one out twice. The network address, the gateway
// (the first address, on the node's bridge) and the broadcast address are never given.
import { intToIp, ipToInt, parseCidr, type Cidr } from '../../api/cidr.js';
import { readStateFile, writeFileAtomic } from '../statefile.js';

export class PodAddressesExhausted extends Error {}

interface Saved {
  podCIDR: string;
  /** pod uid → address */
  addresses: Record<string, string>;
}

export class PodAddresses {
  readonly cidr: Cidr;
  readonly gateway: string;
  private readonly byPod = new Map<string, string>();
  private readonly taken = new Set<number>();
  /** Where the search for a free address starts: addresses are reused as late as possible. */
  private next: number;

  constructor(
    readonly podCIDR: string,
    private readonly file: string | undefined,
    log: (message: string) => void = () => undefined,
  ) {
    this.cidr = parseCidr(podCIDR, 'podCIDR', '198.19.0.0/24');
    this.gateway = intToIp(this.cidr.base + 1);
    this.next = this.cidr.base + 2;
    const saved = file ? readStateFile<Saved>(file, log) : undefined;
    if (saved && saved.podCIDR !== podCIDR) log(`the node's podCIDR is now ${podCIDR} (was ${saved.podCIDR}): addresses saved for the old one are dropped`);
    else for (const [uid, ip] of Object.entries(saved?.addresses ?? {})) this.restore(uid, ip);
  }

  /** The pod's address, given now if it has none. */
  allocate(uid: string): string {
    const existing = this.byPod.get(uid);
    if (existing) return existing;
    const first = this.cidr.base + 2;
    const last = this.cidr.base + this.cidr.size - 2;
    const span = last - first + 1;
    for (let i = 0; i < span; i++) {
      const n = first + ((this.next - first + i) % span);
      if (this.taken.has(n)) continue;
      this.next = n + 1 > last ? first : n + 1;
      this.taken.add(n);
      this.byPod.set(uid, intToIp(n));
      this.save();
      return intToIp(n);
    }
    throw new PodAddressesExhausted(`every address of this node's podCIDR ${this.podCIDR} is in use (${span} pods); the pod waits until one is free`);
  }

  get(uid: string): string | undefined {
    return this.byPod.get(uid);
  }

  release(uid: string): void {
    const ip = this.byPod.get(uid);
    if (ip === undefined) return;
    this.byPod.delete(uid);
    this.taken.delete(ipToInt(ip));
    this.save();
  }

  /** Gives `from`'s address to `to` (a sandbox made ahead of its pod, now the pod's). */
  transfer(from: string, to: string): string {
    const ip = this.byPod.get(from);
    if (ip === undefined) throw new Error(`${from} holds no address`);
    if (this.byPod.has(to)) throw new Error(`${to} already holds ${this.byPod.get(to)}`);
    this.byPod.delete(from);
    this.byPod.set(to, ip);
    this.save();
    return ip;
  }

  /** How many addresses are free. */
  free(): number {
    return this.cidr.size - 3 - this.taken.size;
  }

  /** Every holder of an address: pod uids, and the keys of sandboxes made ahead of their pods. */
  pods(): string[] {
    return [...this.byPod.keys()];
  }

  private restore(uid: string, ip: string): void {
    const n = ipToInt(ip);
    if (n < this.cidr.base + 2 || n > this.cidr.base + this.cidr.size - 2 || this.taken.has(n)) return;
    this.taken.add(n);
    this.byPod.set(uid, ip);
  }

  private save(): void {
    if (this.file) writeFileAtomic(this.file, JSON.stringify({ podCIDR: this.podCIDR, addresses: Object.fromEntries(this.byPod) } satisfies Saved));
  }
}
