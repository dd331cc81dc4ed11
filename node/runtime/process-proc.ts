// Linux /proc and PATH helpers for the process runtime: a process's identity (pid + start time,
// so a reused pid is never mistaken for ours), process-group membership, and command lookup.
import { constants as fsConstants } from 'node:fs';
import { access, readFile, readdir, stat } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import path from 'node:path';

export interface ProcStat {
  pid: number;
  /** R, S, D, Z (zombie), X (dead), ... */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** Field 22: clock ticks after boot; with the pid, it names one process for good. */
  startTime: string;
}

export function parseStat(text: string): ProcStat | undefined {
  // comm (field 2) may hold spaces and parentheses, so fields are counted from the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const f = text.slice(close + 2).trim().split(' ');
  if (f.length < 20) return undefined;
  // f[0] is field 3, so field n is f[n - 3].
  return {
    pid: Number.parseInt(text, 10),
    state: f[0],
    ppid: Number(f[1]),
    pgrp: Number(f[2]),
    session: Number(f[3]),
    startTime: f[19],
  };
}

export async function readStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

const dead = (s: ProcStat) => s.state === 'Z' || s.state === 'X' || s.state === 'x';

/** True while `pid` is still the process we recorded and has not exited (zombies have). */
export async function isAlive(pid: number, startTime: string): Promise<boolean> {
  const s = await readStat(pid);
  return s !== undefined && s.startTime === startTime && !dead(s);
}

/** Processes of one process group that have not exited (zombies left for init do not count). */
export async function groupMembers(pgid: number): Promise<number[]> {
  const names = (await readdir('/proc')).filter((n) => n.charCodeAt(0) >= 48 && n.charCodeAt(0) <= 57);
  const stats = await Promise.all(names.map((n) => readStat(Number(n))));
  return stats.filter((s): s is ProcStat => !!s && s.pgrp === pgid && !dead(s)).map((s) => s.pid);
}

/** Sends `signal` to a whole process group; false when the group is gone. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

const signalNames = new Map(Object.entries(osConstants.signals).map(([name, n]) => [n, name]));

/** The signal behind a shell-style status (128 + n), if it is one. */
export function signalOf(status: number): string | undefined {
  return status > 128 ? signalNames.get(status - 128) : undefined;
}

export function signalNumber(signal: NodeJS.Signals | string): number {
  return (osConstants.signals as Record<string, number>)[signal] ?? 0;
}

export type Lookup = { path: string } | { error: string; code: 'ENOENT' | 'EACCES' };

/**
 * Finds `command` the way execvp would (a name with a slash is taken relative to `cwd`, else
 * each $PATH entry), so a command that cannot start is reported before anything runs.
 */
export async function lookupCommand(command: string, pathVar: string, cwd: string): Promise<Lookup> {
  const candidates = command.includes('/')
    ? [path.resolve(cwd, command)]
    : pathVar.split(':').map((dir) => path.resolve(cwd, dir || '.', command));
  let denied: string | undefined;
  for (const candidate of candidates) {
    try {
      if (!(await stat(candidate)).isFile()) continue;
    } catch {
      continue;
    }
    try {
      await access(candidate, fsConstants.X_OK);
      return { path: candidate };
    } catch {
      denied ??= candidate;
    }
  }
  if (denied) return { error: `${denied} is not executable (permission denied)`, code: 'EACCES' };
  return command.includes('/')
    ? { error: `no such file ${path.resolve(cwd, command)}`, code: 'ENOENT' }
    : { error: `executable file not found in $PATH (${pathVar})`, code: 'ENOENT' };
}
