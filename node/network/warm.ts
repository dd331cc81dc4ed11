// Sandboxes made ahead of their pods. Making a sandbox takes a few process runs (`ip`, `nsenter`),
// tens of milliseconds on a small host; a process pod that finds one ready takes it with its
// address in well under a millisecond, and the node makes the next one in the background. The
// address book holds a ready sandbox's address under a `warm:` key, so a restarted node finds its
// ready sandboxes again, and a pod that takes one gets that address.
//
// The pool never takes the last free addresses of the podCIDR: pods come first.
import { randomUUID } from 'node:crypto';
import type { PodAddresses } from './ipam.js';
import { createSandbox, deleteSandbox, sandboxFor, sandboxIntact, type SandboxNetwork } from './sandbox.js';

const WARM = 'warm:';

export function isWarmKey(key: string): boolean {
  return key.startsWith(WARM);
}

export interface WarmOptions {
  /** How many sandboxes to keep ready; 0 turns the pool off. */
  size: number;
  scope: string;
  addresses: PodAddresses;
  net: SandboxNetwork;
  log: (message: string) => void;
}

export class WarmSandboxes {
  /** Keys (in the address book) of ready sandboxes, oldest first. */
  private readonly ready: string[] = [];
  private filling?: Promise<void>;
  private stopped = false;

  constructor(private readonly o: WarmOptions) {}

  /** Keeps the ready sandboxes left from before a restart (those intact), then fills the pool. */
  async start(): Promise<void> {
    for (const key of this.o.addresses.pods().filter(isWarmKey)) {
      const sandbox = sandboxFor(this.o.scope, this.o.addresses.get(key)!);
      if (this.o.size > 0 && (await sandboxIntact(sandbox))) this.ready.push(key);
      else await this.discard(key);
    }
    this.fill();
  }

  /** A ready sandbox's address, now held by pod `uid`; undefined when none is ready. */
  take(uid: string): string | undefined {
    const key = this.ready.shift();
    if (key === undefined) return undefined;
    const ip = this.o.addresses.transfer(key, uid);
    // Starting a process blocks the event loop while it forks: the refill waits until the pod's
    // start has moved on.
    setImmediate(() => this.fill());
    return ip;
  }

  /** Gives one ready sandbox's address back (the podCIDR is full); false when none is ready. */
  async yieldOne(): Promise<boolean> {
    const key = this.ready.pop();
    if (key === undefined) return false;
    await this.discard(key);
    return true;
  }

  /** How many sandboxes are ready. */
  get count(): number {
    return this.ready.length;
  }

  /** Stops filling; the ready sandboxes stay for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.filling;
  }

  private fill(): void {
    if (this.filling || this.stopped) return;
    this.filling = this.fillLoop()
      .catch((e) => this.o.log(`cannot make a sandbox ahead of its pod: ${(e as Error).message}`))
      .finally(() => (this.filling = undefined));
  }

  private async fillLoop(): Promise<void> {
    const { addresses } = this.o;
    while (!this.stopped && this.ready.length < this.o.size && addresses.free() > this.o.size) {
      const key = `${WARM}${randomUUID()}`;
      const sandbox = sandboxFor(this.o.scope, addresses.allocate(key));
      try {
        await createSandbox(sandbox, this.o.net);
      } catch (e) {
        addresses.release(key);
        throw e;
      }
      this.ready.push(key);
    }
  }

  private async discard(key: string): Promise<void> {
    const ip = this.o.addresses.get(key);
    if (ip !== undefined) await deleteSandbox(sandboxFor(this.o.scope, ip));
    this.o.addresses.release(key);
  }
}
