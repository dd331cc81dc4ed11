// Log files of process containers: size-based copytruncate rotation, and reading one container's
// file as a stream (tail, byte limit, follow). Containers write these files themselves (O_APPEND),
// never through the agent, so a pod keeps logging while the agent is down.
import { watch, type FSWatcher } from 'node:fs';
import { copyFile, open, rename, stat, truncate, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

/**
 * Rotates `file` once it is past `maxBytes`: `.1` becomes `.2` and so on, the file is copied to
 * `.1` and truncated in place. `maxFiles` counts the live file too (kubelet's and docker's
 * meaning), so at most `maxFiles - 1` rotated files are kept. Copy-then-truncate lets writers keep
 * their O_APPEND descriptor (their next write lands at the new end); output written between the
 * copy and the truncate is lost, the usual copytruncate trade.
 */
export async function rotateLog(file: string, maxBytes: number, maxFiles: number): Promise<boolean> {
  const size = await stat(file).then((s) => s.size, () => 0);
  if (size <= maxBytes) return false;
  const keep = Math.max(1, maxFiles - 1);
  for (let i = keep - 1; i >= 1; i--) {
    await rename(`${file}.${i}`, `${file}.${i + 1}`).catch(() => {});
  }
  await copyFile(file, `${file}.1`);
  await truncate(file, 0);
  return true;
}

export interface ReadLogOptions {
  follow: boolean;
  tailLines?: number;
  limitBytes?: number;
  sinceSeconds?: number;
  /** Ends a follow (the caller's abort or the runtime closing). */
  signal: AbortSignal;
  /** Whether the container still runs; a follow ends once it has exited and the file is drained. */
  running: () => Promise<boolean>;
}

const CHUNK = 64 * 1024;

/**
 * The content of a log file as a byte stream. `sinceSeconds` is approximated with the file's
 * mtime (lines carry no timestamps): a file untouched for that long yields nothing old.
 * Timestamps are not stored, so `timestamps` is not supported here.
 */
export function readLog(file: string, opts: ReadLogOptions): Readable {
  return Readable.from(logChunks(file, opts), { objectMode: false });
}

async function* logChunks(file: string, opts: ReadLogOptions): AsyncGenerator<Buffer> {
  let offset = await startOffset(file, opts);
  let left = opts.limitBytes ?? Infinity;
  const changes = opts.follow ? watchChanges(file) : undefined;
  try {
    for (;;) {
      // Ask before draining: whatever an exited container wrote is then already in the file.
      const exited = opts.follow && !(await opts.running());
      const size = await stat(file).then((s) => s.size, () => 0);
      if (size < offset) offset = 0; // truncated by rotation: what remains is new
      if (offset < size && left > 0) {
        const fh = await open(file, 'r');
        try {
          while (offset < size && left > 0) {
            const buf = Buffer.alloc(Math.min(CHUNK, size - offset, left));
            const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
            if (bytesRead === 0) break;
            offset += bytesRead;
            left -= bytesRead;
            yield buf.subarray(0, bytesRead);
          }
        } finally {
          await fh.close();
        }
      }
      if (!changes || left <= 0 || exited || opts.signal.aborted) return;
      await changes.next(1000, opts.signal);
    }
  } finally {
    changes?.close();
  }
}

async function startOffset(file: string, opts: ReadLogOptions): Promise<number> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch {
    return 0;
  }
  try {
    const st = await fh.stat();
    if (opts.sinceSeconds !== undefined && st.mtimeMs < Date.now() - opts.sinceSeconds * 1000) return st.size;
    return opts.tailLines === undefined ? 0 : await tailOffset(fh, st.size, opts.tailLines);
  } finally {
    await fh.close();
  }
}

/** Where the last `lines` lines of the file begin (a final newline ends a line, starts none). */
async function tailOffset(fh: FileHandle, size: number, lines: number): Promise<number> {
  if (lines <= 0) return size;
  const buf = Buffer.alloc(CHUNK);
  let pos = size;
  let seen = 0;
  while (pos > 0) {
    const n = Math.min(CHUNK, pos);
    pos -= n;
    await fh.read(buf, 0, n, pos);
    for (let i = n - 1; i >= 0; i--) {
      if (buf[i] !== 0x0a || pos + i === size - 1) continue;
      if (++seen === lines) return pos + i + 1;
    }
  }
  return 0;
}

/**
 * Wakes a follower when the file changes. fs.watch can miss events (rotation replaces content,
 * some filesystems report nothing), so every wait is also capped; the cap is what notices exits.
 */
function watchChanges(file: string): { next(ms: number, signal: AbortSignal): Promise<void>; close(): void } {
  let dirty = false;
  let wake: (() => void) | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(file, { persistent: false }, () => {
      dirty = true;
      wake?.();
    });
    watcher.on('error', () => {});
  } catch {
    watcher = undefined; // no inotify here: the capped wait alone keeps the follow going
  }
  return {
    next(ms, signal) {
      if (dirty || signal.aborted) {
        dirty = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          wake = undefined;
          dirty = false;
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal.addEventListener('abort', done, { once: true });
        wake = done;
      });
    },
    close() {
      watcher?.close();
    },
  };
}
