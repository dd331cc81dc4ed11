// Hostile clients for the load tests, each in a process of its own (a process holds at most its
// open file limit of sockets): connections that never speak, or that trickle a byte now and then,
// from many loopback source addresses, reopened as the server closes them, until told to stop.
// Every attacker is killed at the end of the test, also when it fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ATTACKER = `
const net = require('node:net');
const [host, port, count, sources, mode, reopenMs] = process.argv.slice(2);
const addrs = sources.split(',');
let open = 0, opened = 0, stopping = false;
function one(i) {
  if (stopping) return;
  const s = net.connect({ host, port: Number(port), localAddress: addrs[i % addrs.length] });
  opened++;
  let timer, connected = false;
  s.on('connect', () => {
    connected = true;
    open++;
    // 'trickle': one byte a second, so an idle timeout alone never fires.
    if (mode === 'trickle') timer = setInterval(() => s.write(Buffer.from([0])), 1000);
  });
  s.on('error', () => {});
  s.on('close', () => {
    clearInterval(timer);
    if (connected) open--;
    setTimeout(() => one(i), Number(reopenMs));
  });
}
for (let i = 0; i < Number(count); i++) one(i);
const report = setInterval(() => process.stdout.write(JSON.stringify({ open, opened }) + '\\n'), 1000);
process.on('SIGTERM', () => { stopping = true; clearInterval(report); process.exit(0); });
`;

export interface Attack {
  /** Connections opened so far, over all attackers (reopened ones counted again). */
  opened(): number;
  stop(): Promise<void>;
}

/**
 * `processes` attackers, each holding `perProcess` connections to host:port from the loopback
 * addresses `sources`, reopening each `reopenMs` after the server closes it.
 */
export function attack(dir: string, target: { host: string; port: number }, o: { processes: number; perProcess: number; sources: string[]; mode: 'silent' | 'trickle'; reopenMs?: number }): Attack {
  const script = join(dir, 'attacker.cjs');
  writeFileSync(script, ATTACKER);
  const children: ChildProcess[] = [];
  const counts: number[] = [];
  for (let p = 0; p < o.processes; p++) {
    const child = spawn(process.execPath, [script, target.host, String(target.port), String(o.perProcess), o.sources.join(','), o.mode, String(o.reopenMs ?? 200)], { stdio: ['ignore', 'pipe', 'ignore'] });
    counts.push(0);
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      const last = lines.at(-1);
      if (last) counts[p] = (JSON.parse(last) as { opened: number }).opened;
    });
    children.push(child);
  }
  return {
    opened: () => counts.reduce((a, b) => a + b, 0),
    async stop() {
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve();
              c.once('exit', () => resolve());
              c.kill('SIGKILL');
            }),
        ),
      );
    },
  };
}

/** `n` loopback source addresses other than 127.0.0.1: 127.0.<block>.1 ... */
export function loopbackSources(block: number, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `127.0.${block}.${i + 1}`);
}

/** A process's resident set size in bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
}
