// The forwarder's answer cache: positive answers live for their smallest TTL, negative ones
// (NXDOMAIN, NODATA) for the SOA's min(TTL, MINIMUM) (RFC 2308), both capped. The clock is
// handed in, so expiry is tested without sleeping.
import type { WireRecord } from './codec.js';

export interface CachedAnswer {
  rcode: number;
  answers: WireRecord[];
  authorities: WireRecord[];
  additionals: WireRecord[];
}

interface Entry {
  value: CachedAnswer;
  storedAt: number;
  expiresAt: number;
}

export interface CacheOptions {
  maxEntries?: number;
  /** Cap on a positive answer's lifetime, seconds. */
  maxTtl?: number;
  /** Cap on a negative answer's lifetime, seconds. */
  maxNegativeTtl?: number;
  /** Milliseconds; Date.now by default. */
  now?: () => number;
}

export class AnswerCache {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly maxTtl: number;
  private readonly maxNegativeTtl: number;
  private readonly now: () => number;

  constructor(opts: CacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.maxTtl = opts.maxTtl ?? 3600;
    this.maxNegativeTtl = opts.maxNegativeTtl ?? 300;
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The answer with TTLs lowered by its age, or undefined when absent or expired. */
  get(key: string): CachedAnswer | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    const now = this.now();
    if (now >= e.expiresAt) {
      this.entries.delete(key);
      return undefined;
    }
    const age = Math.floor((now - e.storedAt) / 1000);
    const age_ = (r: WireRecord): WireRecord => ({ ...r, ttl: Math.max(0, r.ttl - age) });
    return {
      rcode: e.value.rcode,
      answers: e.value.answers.map(age_),
      authorities: e.value.authorities.map(age_),
      additionals: e.value.additionals.map(age_),
    };
  }

  /** Stores what may be cached (NOERROR with answers, NXDOMAIN/NODATA with an SOA); returns whether it did. */
  put(key: string, value: CachedAnswer): boolean {
    const ttl = this.lifetime(value);
    if (ttl === undefined || ttl <= 0) return false;
    if (this.entries.size >= this.maxEntries && !this.entries.has(key)) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    const now = this.now();
    this.entries.delete(key);
    this.entries.set(key, { value, storedAt: now, expiresAt: now + ttl * 1000 });
    return true;
  }

  clear(): void {
    this.entries.clear();
  }

  private lifetime(v: CachedAnswer): number | undefined {
    if (v.rcode === 0 && v.answers.length > 0) {
      return Math.min(this.maxTtl, ...[...v.answers, ...v.authorities].map((r) => r.ttl));
    }
    if (v.rcode === 0 || v.rcode === 3) {
      const soa = v.authorities.find((r) => r.type === 6);
      if (!soa) return undefined;
      const minimum = typeof soa.minimum === 'number' ? soa.minimum : soa.ttl;
      return Math.min(this.maxNegativeTtl, soa.ttl, minimum);
    }
    return undefined;
  }
}
