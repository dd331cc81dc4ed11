// Small files in the node's state dir that must survive a crash: written whole or not at all.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** The JSON saved in `file`, or undefined when there is none or it cannot be read (said through `log`). */
export function readStateFile<T>(file: string, log: (message: string) => void): T | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (e) {
    log(`ignoring unreadable ${file}: ${(e as Error).message}`);
    return undefined;
  }
}
