// A checkpoint of what an informer last knew, in one JSON file, so that a component restarted
// while the control node is away (the node proxy, the cluster DNS) starts from the last known
// state instead of from nothing: static stability. Written atomically (temporary file, rename).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { KubeObject } from './types.js';

export interface Checkpoint<T extends KubeObject> {
  /** The objects saved last; undefined when there is no (readable) checkpoint. */
  load(): T[] | undefined;
  save(items: T[]): void;
}

export class FileCheckpoint<T extends KubeObject> implements Checkpoint<T> {
  constructor(
    readonly file: string,
    private readonly log: (message: string) => void = () => undefined,
  ) {}

  load(): T[] | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const parsed = JSON.parse(text) as { items?: unknown };
      if (!Array.isArray(parsed.items)) throw new Error('no items array');
      return parsed.items as T[];
    } catch (e) {
      this.log(`ignoring the checkpoint ${this.file}: ${(e as Error).message}`);
      return undefined;
    }
  }

  save(items: T[]): void {
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      const tmp = `${this.file}.tmp`;
      writeFileSync(tmp, JSON.stringify({ savedAt: new Date().toISOString(), items }));
      renameSync(tmp, this.file);
    } catch (e) {
      this.log(`cannot write the checkpoint ${this.file}: ${(e as Error).message}`);
    }
  }
}

/** Informer options that checkpoint into `dir/file` (none when there is no dir). */
export function checkpointIn<T extends KubeObject>(dir: string | undefined, file: string, log: (message: string) => void): { checkpoint?: Checkpoint<T> } {
  return dir ? { checkpoint: new FileCheckpoint<T>(join(dir, file), log) } : {};
}
