// The balancer of one Service port: round robin over its ready endpoints, ClientIP affinity, and
// passive health (an endpoint that failed a connect is skipped for a back-off). It only selects:
// the forwarders connect, and tell it what failed. Time is handed in so tests need no clocks.
import { endpointKey, type Endpoint, type Picker } from './types.js';

export interface BalancerOptions {
  /** `sessionAffinity: ClientIP` timeout; absent means no affinity. */
  affinityTimeoutSeconds?: number;
  /** First ejection after a failure (default 1 s); doubles per consecutive failure ... */
  ejectMs?: number;
  /** ... up to this (default 30 s). */
  maxEjectMs?: number;
  now?: () => number;
}

interface Health {
  /** Skipped until this time. */
  until: number;
  /** The ejection length that the next failure gets. */
  nextMs: number;
}

/** A Picker that also hears about successes, so a healthy endpoint's back-off starts over. */
export interface HealthPicker extends Picker {
  succeeded?(endpoint: Endpoint): void;
}

export class Balancer implements HealthPicker {
  private endpoints: Endpoint[] = [];
  private keys: string[] = [];
  private index = new Map<string, number>();
  private next = 0;
  private readonly health = new Map<string, Health>();
  private readonly affinity = new Map<string, { key: string; expires: number }>();
  private affinityMs = 0;
  private lastSweep = 0;
  private readonly now: () => number;
  private readonly ejectMs: number;
  private readonly maxEjectMs: number;

  constructor(opts: BalancerOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.ejectMs = opts.ejectMs ?? 1000;
    this.maxEjectMs = opts.maxEjectMs ?? 30_000;
    this.setAffinity(opts.affinityTimeoutSeconds);
  }

  setAffinity(timeoutSeconds: number | undefined): void {
    const ms = timeoutSeconds ? timeoutSeconds * 1000 : 0;
    if (ms !== this.affinityMs) this.affinity.clear();
    this.affinityMs = ms;
  }

  /**
   * Swaps in the ready endpoints of a new table. The round-robin position follows the endpoint it
   * pointed at, so frequent syncs do not send every new connection to the first endpoint; health
   * and affinity are kept for endpoints still listed and dropped for the others (an endpoint that
   * left and came back, e.g. a restarted pod that is Ready again, starts with a clean slate).
   */
  setEndpoints(endpoints: readonly Endpoint[]): void {
    const keys = endpoints.map(endpointKey);
    if (keys.length === this.keys.length && keys.every((k, i) => k === this.keys[i])) {
      // Same set: pick up changed pod names only.
      this.endpoints = [...endpoints];
      return;
    }
    const index = new Map(keys.map((k, i) => [k, i]));
    // Continue with the endpoint that was due next, or, if it left, the first after it that stayed.
    let next = 0;
    for (let i = 0; i < this.keys.length; i++) {
      const idx = index.get(this.keys[(this.next + i) % this.keys.length]);
      if (idx !== undefined) {
        next = idx;
        break;
      }
    }
    this.endpoints = [...endpoints];
    this.keys = keys;
    this.index = index;
    this.next = next;
    for (const k of this.health.keys()) if (!index.has(k)) this.health.delete(k);
    for (const [ip, a] of this.affinity) if (!index.has(a.key)) this.affinity.delete(ip);
  }

  size(): number {
    return this.endpoints.length;
  }

  /** Endpoints currently ejected (for the `tug_proxy_endpoints{state="ejected"}` gauge). */
  ejectedCount(): number {
    const now = this.now();
    let n = 0;
    for (const h of this.health.values()) if (h.until > now) n++;
    return n;
  }

  pick(clientIP: string, exclude?: ReadonlySet<string>): Endpoint | undefined {
    const n = this.endpoints.length;
    if (n === 0) return undefined;
    const now = this.now();
    if (this.affinityMs) {
      this.sweepAffinity(now);
      const sticky = this.affinity.get(clientIP);
      if (sticky && sticky.expires > now && !exclude?.has(sticky.key) && !this.isEjected(sticky.key, now)) {
        const idx = this.index.get(sticky.key);
        if (idx !== undefined) {
          sticky.expires = now + this.affinityMs;
          return this.endpoints[idx];
        }
      }
    }
    // Healthy endpoints first; when every one left is ejected, trying one beats refusing the client.
    let idx = this.scan(exclude, now, true);
    if (idx < 0) idx = this.scan(exclude, now, false);
    if (idx < 0) return undefined;
    this.next = (idx + 1) % n;
    if (this.affinityMs) this.affinity.set(clientIP, { key: this.keys[idx], expires: now + this.affinityMs });
    return this.endpoints[idx];
  }

  failed(endpoint: Endpoint): void {
    const key = endpointKey(endpoint);
    if (!this.index.has(key)) return;
    const now = this.now();
    const h = this.health.get(key);
    // A failure long after the last ejection ended counts as a first one again.
    const fresh = !h || now > h.until + this.maxEjectMs;
    const ms = fresh ? this.ejectMs : h.nextMs;
    this.health.set(key, { until: now + ms, nextMs: Math.min(ms * 2, this.maxEjectMs) });
    for (const [ip, a] of this.affinity) if (a.key === key) this.affinity.delete(ip);
  }

  succeeded(endpoint: Endpoint): void {
    if (this.health.size) this.health.delete(endpointKey(endpoint));
  }

  private scan(exclude: ReadonlySet<string> | undefined, now: number, skipEjected: boolean): number {
    const n = this.endpoints.length;
    for (let i = 0; i < n; i++) {
      const idx = (this.next + i) % n;
      const key = this.keys[idx];
      if (exclude?.has(key)) continue;
      if (skipEjected && this.isEjected(key, now)) continue;
      return idx;
    }
    return -1;
  }

  private isEjected(key: string, now: number): boolean {
    if (this.health.size === 0) return false;
    const h = this.health.get(key);
    return h !== undefined && h.until > now;
  }

  /** Forgets expired affinities now and then, so a stream of distinct clients cannot grow the map forever. */
  private sweepAffinity(now: number): void {
    if (now - this.lastSweep < Math.min(this.affinityMs, 60_000)) return;
    this.lastSweep = now;
    for (const [ip, a] of this.affinity) if (a.expires <= now) this.affinity.delete(ip);
  }
}

/** Whether `clientIP` may reach `endpoint` over `protocol` (NetworkPolicy, decided by the node). */
export type Admission = (clientIP: string, endpoint: Endpoint, protocol: string) => boolean;

/**
 * A Picker that passes over endpoints the client may not reach: the node proxy connects from
 * the node's own address, so the policy of the real client is checked here, before connecting.
 * None admitted is the same as none left: the client is refused.
 */
export class AdmittingPicker implements HealthPicker {
  constructor(
    private readonly inner: Balancer,
    private readonly admits: Admission,
    private readonly protocol: string,
  ) {}

  pick(clientIP: string, exclude?: ReadonlySet<string>): Endpoint | undefined {
    let skip: Set<string> | undefined;
    for (let i = 0; i <= this.inner.size(); i++) {
      const e = this.inner.pick(clientIP, skip ?? exclude);
      if (!e || this.admits(clientIP, e, this.protocol)) return e;
      skip ??= new Set(exclude);
      skip.add(endpointKey(e));
    }
    return undefined;
  }

  failed(endpoint: Endpoint): void {
    this.inner.failed(endpoint);
  }

  succeeded(endpoint: Endpoint): void {
    this.inner.succeeded(endpoint);
  }
}
