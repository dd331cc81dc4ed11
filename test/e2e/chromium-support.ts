// Headless Chromium for end-to-end tests, driven over the Chrome DevTools Protocol: start it with
// its own temporary profile, attach to its page, evaluate scripts in it, take screenshots, and
// kill it (its whole process group) at the end, also when the test fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { eventually, tempDir } from './harness.js';
import { pidsWith } from './node-support.js';

interface Pending {
  resolve(value: any): void;
  reject(error: Error): void;
}

export class Browser {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** The attached page's session; commands without one go to the browser itself. */
  private sessionId = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly ws: WebSocket,
    readonly profile: string,
    private readonly output: () => string,
  ) {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
      const p = msg.id === undefined ? undefined : this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id!);
      if (msg.error) p.reject(new Error(`CDP: ${msg.error.message}`));
      else p.resolve(msg.result);
    });
    const fail = (why: string) => {
      for (const p of this.pending.values()) p.reject(new Error(`CDP: ${why}`));
      this.pending.clear();
    };
    ws.on('close', () => fail('the DevTools connection closed'));
    ws.on('error', (e) => fail(e.message));
  }

  /**
   * Starts Chromium (headless, no sandbox as root, the given extra flags) with a fresh profile in a
   * temp dir that `scope` removes; the process group is killed by `scope` too.
   */
  static async launch(scope: { after(fn: () => unknown): void }, extraFlags: string[] = []): Promise<Browser> {
    const profile = tempDir(scope, 'tug-chromium-');
    const child = spawn(
      'chromium',
      ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check', '--disable-extensions', '--disable-background-networking', '--disable-sync', '--metrics-recording-only', '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0', `--user-data-dir=${profile}`, '--window-size=1280,1800', ...extraFlags, 'about:blank'],
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    child.on('error', (e) => (out += `\nspawn: ${e.message}`));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    scope.after(async () => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        await exited;
      }
      // Chromium's helpers (zygote, renderers) carry the profile path; none may outlive the test.
      for (const pid of pidsWith(profile)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }
    });
    const portFile = join(profile, 'DevToolsActivePort');
    const [port, path] = await eventually(async () => {
      if (child.exitCode !== null) throw new Error(`chromium exited with ${child.exitCode}:\n${out.slice(-2000)}`);
      if (!existsSync(portFile)) return undefined;
      const lines = readFileSync(portFile, 'utf8').split('\n');
      return lines.length >= 2 && lines[1] ? [lines[0], lines[1]] : undefined;
    }, 300);
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { perMessageDeflate: false });
    ws.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    scope.after(() => ws.terminate());
    const browser = new Browser(child, ws, profile, () => out);
    const { targetInfos } = await browser.send<{ targetInfos: { targetId: string; type: string }[] }>('Target.getTargets');
    const page = targetInfos.find((t) => t.type === 'page');
    if (!page) throw new Error('chromium has no page target');
    const { sessionId } = await browser.send<{ sessionId: string }>('Target.attachToTarget', { targetId: page.targetId, flatten: true });
    browser.sessionId = sessionId;
    await browser.send('Page.enable');
    await browser.send('Runtime.enable');
    return browser;
  }

  send<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params, ...(this.sessionId ? { sessionId: this.sessionId } : {}) }), (e) => {
        if (e) {
          this.pending.delete(id);
          reject(e);
        }
      });
    });
  }

  async navigate(url: string): Promise<void> {
    const r = await this.send<{ errorText?: string }>('Page.navigate', { url });
    if (r.errorText) throw new Error(`navigating to the page: ${r.errorText}`);
  }

  /** The value of a JavaScript expression in the page (awaited when it is a promise). */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    const r = await this.send<{ result: { value?: T }; exceptionDetails?: { text: string; exception?: { description?: string } } }>('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) throw new Error(`in the page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  /** A PNG of the whole page, written to `file`. */
  async screenshot(file: string): Promise<void> {
    const { data } = await this.send<{ data: string }>('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true });
    writeFileSync(file, Buffer.from(data, 'base64'));
  }

  /** Chromium's own output so far (for failure messages). */
  log(): string {
    return this.output();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }
}
