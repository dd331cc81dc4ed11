import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { dockerSandboxProblem, pauseProgram, tarOf } from './docker-sandbox.js';

describe('the pause image', () => {
  it('is a tar archive of one executable file that tar reads back', () => {
    const r = spawnSync('tar', ['-tvf', '-'], { input: tarOf('pause', pauseProgram()), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.trim(), /^-rwxr-xr-x .* 129 .* pause$/);
  });

  it('holds a program that waits for a signal and does nothing else', { skip: dockerSandboxProblem() }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tug-pause-'));
    try {
      const file = join(dir, 'pause');
      writeFileSync(file, pauseProgram(), { mode: 0o755 });
      const child = spawn(file, [], { stdio: 'ignore' });
      const exited = once(child, 'exit');
      // Still there after the event loop has turned a few times: it pauses instead of exiting.
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      assert.equal(child.exitCode, null);
      child.kill('SIGTERM');
      const [code, signal] = await exited;
      assert.equal(code, null);
      assert.equal(signal, 'SIGTERM');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
