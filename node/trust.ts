// The CAs a node trusts, kept in step with control's trust bundle through a CA rotation: fetched
// from control each minute over the connection the current bundle verifies, saved in the state
// dir's pki/ (so a node restarted after a rotation still reaches control), and put to use by
// whoever listens (the API client, the node API). The bundle's first CA is the one that signs
// now: a node certificate signed by another is renewed at once (keepRenewed asks stale()).
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiClient } from '../api/client.js';
import { CA_BUNDLE_PATH } from '../api/paths.js';
import { sleep } from '../api/timers.js';
import { issuedBy, pemCertificates } from '../lib/pki.js';

export const TRUST_FILE = 'ca-bundle.crt';
/** How often a node asks control for its trust bundle. */
export const TRUST_POLL_MS = 60_000;

/** The bundle saved in `dir` by an earlier run, else `initial` (what the node was started with). */
export function savedTrust(dir: string, initial: string | undefined): string | undefined {
  const file = join(dir, TRUST_FILE);
  if (initial === undefined || !existsSync(file)) return initial;
  const saved = readFileSync(file, 'utf8');
  return pemCertificates(saved).length ? saved : initial;
}

/** Why `text` is not a bundle of CA certificates, or undefined when it is one. */
export function bundleProblem(text: string): string | undefined {
  const pems = pemCertificates(text);
  if (!pems.length) return 'it holds no PEM certificate';
  for (const pem of pems) {
    try {
      if (!new X509Certificate(pem).ca) return 'it holds a certificate that is not a CA';
    } catch (e) {
      return `it holds a certificate that does not parse (${(e as Error).message})`;
    }
  }
  return undefined;
}

export class NodeTrust {
  private readonly listeners: ((bundle: string) => void)[] = [];
  private readonly wakers = new Set<() => void>();

  constructor(
    private readonly dir: string,
    private current: string,
  ) {}

  bundle(): string {
    return this.current;
  }

  onChange(listener: (bundle: string) => void): void {
    this.listeners.push(listener);
  }

  /** Whether `certPem` was signed by a CA other than the one that signs now. */
  async stale(certPem: string): Promise<boolean> {
    const signer = pemCertificates(this.current)[0];
    return signer !== undefined && !(await issuedBy(certPem, signer));
  }

  /** Waits `ms`, or less when the bundle changes first (or `signal` aborts). */
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.wakers.add(done);
      if (signal.aborted) done();
    });
  }

  /** Takes `text` as the bundle to trust from now on; false when it is the same. */
  update(text: string): boolean {
    const problem = bundleProblem(text);
    if (problem) throw new Error(`control's trust bundle is not usable: ${problem}`);
    if (text === this.current) return false;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = join(this.dir, TRUST_FILE);
    writeFileSync(`${file}.tmp`, text, { mode: 0o644 });
    renameSync(`${file}.tmp`, file);
    this.current = text;
    for (const listener of this.listeners) listener(text);
    for (const wake of [...this.wakers]) wake();
    return true;
  }

  /** Fetches control's bundle every `pollMs` until `signal` aborts; a failure is logged and retried. */
  async follow(client: ApiClient, log: (m: string) => void, signal: AbortSignal, pollMs = TRUST_POLL_MS): Promise<void> {
    let failing = false;
    while (!signal.aborted) {
      try {
        const res = await client.open('GET', CA_BUNDLE_PATH, { signal });
        let text = '';
        for await (const chunk of res) text += chunk;
        if (res.statusCode !== 200) throw new Error(`control answered ${res.statusCode}`);
        if (this.update(text)) log(`trusts control's new CA bundle (${pemCertificates(text).length} CAs)`);
        failing = false;
      } catch (e) {
        if (!signal.aborted && !failing) log(`cannot fetch control's CA bundle: ${(e as Error).message}; retrying`);
        failing = true;
      }
      await sleep(pollMs, signal);
    }
  }
}
