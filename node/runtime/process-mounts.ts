// Volumes at their mountPath for process pods. A container that has mounts (or a resolv.conf of
// its own) runs in a private mount namespace, where its shim binds each volume over its mountPath
// before running the command; the node and other pods see nothing of it.
//
// Process pods share the node's filesystem, so a mountPath that does not exist there needs a
// mount point made on it. The runtime keeps a ledger of the mount points it made and removes each
// (only when empty) once no container left on the node mounts anything at or below it.
import { existsSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Mount } from './types.js';

export interface Bind {
  source: string;
  target: string;
  readOnly: boolean;
}

/**
 * The binds of a container: its resolv.conf (when it has its own) and its volume mounts, shallow
 * first so a mount inside another lands in it, each target an absolute normalized path.
 */
export function bindsOf(mounts: Mount[], ownResolvConf: string | undefined): Bind[] {
  const binds = mounts.map((m) => ({ source: m.hostPath, target: path.posix.resolve('/', m.containerPath), readOnly: m.readOnly }));
  if (ownResolvConf) binds.unshift({ source: ownResolvConf, target: '/etc/resolv.conf', readOnly: false });
  return binds.sort((a, b) => depth(a.target) - depth(b.target));
}

function depth(p: string): number {
  return p.split('/').filter(Boolean).length;
}

/** The shim's arguments for its binds: the count, then source, target and `ro`|`rw` for each. */
export function bindArgs(binds: Bind[]): string[] {
  return [String(binds.length), ...binds.flatMap((b) => [b.source, b.target, b.readOnly ? 'ro' : 'rw'])];
}

/**
 * Shell lines that bind "$1" over "$2" for each bind (read-only when "$3" is ro), making a missing
 * mount point first (a directory, or an empty file for a file), inside the private namespace.
 */
export const BIND_SHIM = [
  'n=$1; shift',
  'while [ "$n" -gt 0 ]; do',
  '  if [ ! -e "$2" ]; then if [ -d "$1" ]; then mkdir -p "$2"; else mkdir -p "${2%/*}" && : >"$2"; fi; fi',
  '  mount --bind "$1" "$2" && { [ "$3" = rw ] || mount -o remount,bind,ro "$2"; } || { echo "tugboat: cannot bind $1 over $2" >&2; echo 125 >"$exitfile"; exit 125; }',
  '  shift 3; n=$((n-1))',
  'done',
  // A workingDir under a mountPath is entered again, now that the volume is there.
  'cd "$PWD" 2>/dev/null',
];

/** The paths from `target` up to its deepest existing ancestor that do not exist yet. */
function missingPaths(target: string): string[] {
  const missing: string[] = [];
  for (let p = target; p !== '/' && !existsSync(p); p = path.posix.dirname(p)) missing.push(p);
  return missing;
}

/** Mount points the runtime made on the node's filesystem, kept in its state dir. */
export class MountPointLedger {
  private readonly file: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(stateDir: string) {
    this.file = path.join(stateDir, 'mount-points.json');
  }

  /**
   * Notes the mount points the shim will make for `binds` on the node's filesystem (those not
   * inside another bind of the same container, which land in a volume), before it runs.
   */
  note(binds: Bind[]): Promise<void> {
    return this.serial(() => {
      const outer = binds.filter((b) => !binds.some((o) => o !== b && isUnder(b.target, o.target)));
      const made = new Set(this.read());
      for (const b of outer) for (const p of missingPaths(b.target)) made.add(p);
      this.write([...made]);
    });
  }

  /** Removes the noted mount points that no target in `inUse` is at or below, deepest first. */
  release(inUse: string[]): Promise<void> {
    return this.serial(() => {
      const kept: string[] = [];
      for (const p of this.read().sort((a, b) => depth(b) - depth(a))) {
        if (inUse.some((t) => t === p || isUnder(t, p)) || !removeIfEmpty(p)) kept.push(p);
      }
      this.write(kept);
    });
  }

  private serial(fn: () => void): Promise<void> {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => {});
    return next;
  }

  private read(): string[] {
    try {
      const parsed: unknown = JSON.parse(readFileSync(this.file, 'utf8'));
      return Array.isArray(parsed) ? parsed.filter((p): p is string => typeof p === 'string') : [];
    } catch {
      return [];
    }
  }

  private write(paths: string[]): void {
    if (paths.length === 0) rmSync(this.file, { force: true });
    else writeFileSync(this.file, JSON.stringify(paths));
  }
}

function isUnder(p: string, dir: string): boolean {
  return p.startsWith(dir === '/' ? '/' : `${dir}/`) && p !== dir;
}

/** Removes an empty directory or an empty file; false while it holds anything. Gone counts as removed. */
function removeIfEmpty(p: string): boolean {
  try {
    const s = statSync(p);
    if (s.isDirectory()) rmdirSync(p);
    else if (s.size === 0) rmSync(p);
    else return false;
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
