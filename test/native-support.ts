// What the tests of the native modules share: loading a module directly (to hand it what the
// TypeScript wrappers never would), and running a script in a process of its own (for what must
// not take the test runner down with it).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

export function nativeModule<T>(name: 'relay' | 'udpbatch'): T {
  return createRequire(import.meta.url)(`../../lib/native/build/Release/${name}.node`) as T;
}

/** Runs `script`, an ES module, in a node process of its own: what it wrote, and how it ended. */
export function runChild(script: string): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
