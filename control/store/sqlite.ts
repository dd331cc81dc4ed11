// The embedded Store (the default): one SQLite file in the state dir, via better-sqlite3.
// The recent event history is persisted beside the objects so that, after a restart, watchers
// resume from the revision they last saw instead of relisting.
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import { errors } from '../../api/errors.js';
import type { ValueTransformer } from './encryption.js';
import type { KubeObject } from '../../api/types.js';
import { WatchHub, historyCapacity, stamp } from './history.js';
import type { KeyPrefix, ObjectKey, Store, StoreEvent, StoreWatch } from './types.js';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS objects (
    resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    revision INTEGER NOT NULL, json TEXT NOT NULL,
    PRIMARY KEY (resource, namespace, name)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS events (
    revision INTEGER PRIMARY KEY, type TEXT NOT NULL,
    resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, json TEXT NOT NULL
  );
  -- The revision counter lives here because deleting the newest object leaves no row carrying it.
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

interface ObjectRow {
  namespace: string;
  name: string;
  revision: number;
  json: string;
}

interface EventRow {
  revision: number;
  type: StoreEvent['type'];
  resource: string;
  namespace: string;
  name: string;
  json: string;
}

export interface SqliteStoreOptions {
  historySize?: number;
  /** Encrypts what it says (Secrets) before it reaches the file, and decrypts it back. */
  transformer?: ValueTransformer;
}

/** The database and the files SQLite keeps beside it, readable by their owner only. */
function restrictFiles(file: string): void {
  if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
}

export function openSqliteStore(file: string, opts: SqliteStoreOptions = {}): Store {
  const historySize = historyCapacity(opts.historySize);
  let db: Database.Database | undefined;
  try {
    // SQLite gives its -wal and -shm files the database's own mode.
    restrictFiles(file);
    db = new Database(file);
    // WAL commits reach the OS before a write returns, so they survive SIGKILL of the process;
    // synchronous=NORMAL only risks the last commits on power loss.
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // Overwritten and deleted rows are zeroed, not left in free pages (where a Secret rewritten
    // under a new key, or deleted, would otherwise linger).
    db.pragma('secure_delete = ON');
    db.exec(SCHEMA);
    return new SqliteStore(db, historySize, opts.transformer);
  } catch (err) {
    db?.close();
    throw new Error(`cannot open the sqlite store at ${file}: ${(err as Error).message}`, { cause: err });
  }
}

class SqliteStore implements Store {
  private rev: number;
  private readonly hub: WatchHub;
  private readonly stmt: ReturnType<typeof prepareStatements>;
  private readonly transaction: (fn: () => void) => void;

  constructor(
    private readonly db: Database.Database,
    private readonly historySize: number,
    private readonly transformer?: ValueTransformer,
  ) {
    this.stmt = prepareStatements(db);
    this.transaction = db.transaction((fn: () => void) => fn());

    this.rev = db.prepare<[], { rev: number | null }>(
      `SELECT MAX(v) AS rev FROM (
         SELECT value AS v FROM meta WHERE key = 'revision'
         UNION ALL SELECT MAX(revision) FROM events
         UNION ALL SELECT MAX(revision) FROM objects)`).get()?.rev ?? 0;
    // A smaller historySize than last time shrinks the persisted history too.
    this.stmt.trimEvents.run(this.rev - historySize);
    const events = db.prepare<[number], EventRow>(
      'SELECT * FROM (SELECT * FROM events ORDER BY revision DESC LIMIT ?) ORDER BY revision').all(historySize).map((row) => this.toEvent(row));
    this.hub = new WatchHub({
      capacity: historySize,
      events,
      compactedThrough: events.length > 0 ? events[0]!.revision - 1 : this.rev,
    });
  }

  revision(): number {
    return this.rev;
  }

  /** The object a stored row holds (decrypted when it was encrypted). */
  private decode(key: ObjectKey, stored: string): KubeObject {
    return JSON.parse(this.transformer ? this.transformer.fromStorage(key, stored) : stored) as KubeObject;
  }

  private encode(key: ObjectKey, json: string): string {
    return this.transformer ? this.transformer.toStorage(key, json) : json;
  }

  private toEvent(row: EventRow): StoreEvent {
    const key = { resource: row.resource, namespace: row.namespace, name: row.name };
    return { type: row.type, key, object: this.decode(key, row.json), revision: row.revision };
  }

  async get(key: ObjectKey): Promise<KubeObject | undefined> {
    const row = this.stmt.getObject.get(key.resource, key.namespace, key.name);
    return row && this.decode(key, row.json);
  }

  async list(prefix: KeyPrefix): Promise<{ items: KubeObject[]; revision: number }> {
    const rows = prefix.namespace === undefined
      ? this.stmt.listResource.all(prefix.resource)
      : this.stmt.listNamespace.all(prefix.resource, prefix.namespace);
    return { items: rows.map((row) => this.decode({ resource: prefix.resource, namespace: row.namespace, name: row.name }, row.json)), revision: this.rev };
  }

  async rewriteStale(resource: string): Promise<number> {
    const transformer = this.transformer;
    if (!transformer) return 0;
    let rewritten = 0;
    for (const row of this.stmt.listResource.all(resource)) {
      const key = { resource, namespace: row.namespace, name: row.name };
      if (!transformer.stale(key, row.json)) continue;
      this.write('MODIFIED', key, this.decode(key, row.json), row.revision);
      rewritten++;
    }
    // The history keeps earlier versions too: re-encrypt those in place (same revision).
    this.transaction(() => {
      for (const row of this.stmt.eventsOf.all(resource)) {
        const key = { resource, namespace: row.namespace, name: row.name };
        if (transformer.stale(key, row.json)) this.stmt.setEventJson.run(transformer.toStorage(key, transformer.fromStorage(key, row.json)), row.revision);
      }
    });
    // Nothing of the old forms is left in the WAL either.
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    return rewritten;
  }

  async create(key: ObjectKey, object: KubeObject): Promise<KubeObject> {
    return this.write('ADDED', key, object);
  }

  async update(key: ObjectKey, object: KubeObject, expectedRevision?: number): Promise<KubeObject> {
    return this.write('MODIFIED', key, object, expectedRevision);
  }

  async delete(key: ObjectKey, expectedRevision?: number): Promise<KubeObject> {
    return this.write('DELETED', key, undefined, expectedRevision);
  }

  watch(prefix: KeyPrefix, fromRevision: number, onEvent: (event: StoreEvent) => void): StoreWatch {
    return this.hub.watch(prefix, fromRevision, onEvent);
  }

  async close(): Promise<void> {
    this.hub.close();
    if (this.db.open) this.db.close();
  }

  /** One transaction per write: the object, its event, the history trim and the counter commit together. */
  private write(type: StoreEvent['type'], key: ObjectKey, input: KubeObject | undefined, expectedRevision?: number): KubeObject {
    const revision = this.rev + 1;
    let stored: { json: string; object: KubeObject } | undefined;
    this.transaction(() => {
      const row = this.stmt.getObject.get(key.resource, key.namespace, key.name);
      if (type === 'ADDED') {
        if (row) throw errors.alreadyExists(key.resource, key.name);
      } else {
        if (!row) throw errors.notFound(key.resource, key.name);
        if (expectedRevision !== undefined && expectedRevision !== row.revision) throw errors.conflict(key.resource, key.name);
      }
      stored = stamp(input ?? this.decode(key, row!.json), revision);
      const json = this.encode(key, stored.json);
      if (type === 'DELETED') this.stmt.deleteObject.run(key.resource, key.namespace, key.name);
      else this.stmt.putObject.run(key.resource, key.namespace, key.name, revision, json);
      this.stmt.insertEvent.run(revision, type, key.resource, key.namespace, key.name, json);
      this.stmt.trimEvents.run(revision - this.historySize);
      this.stmt.setRevision.run(revision);
    });
    // Only a committed write advances the counter and reaches watchers.
    this.rev = revision;
    this.hub.record({ type, key: { ...key }, object: stored!.object, revision });
    return JSON.parse(stored!.json) as KubeObject;
  }
}

function prepareStatements(db: Database.Database) {
  return {
    getObject: db.prepare<[string, string, string], ObjectRow>(
      'SELECT namespace, name, revision, json FROM objects WHERE resource = ? AND namespace = ? AND name = ?'),
    listResource: db.prepare<[string], ObjectRow>(
      'SELECT namespace, name, revision, json FROM objects WHERE resource = ? ORDER BY namespace, name'),
    listNamespace: db.prepare<[string, string], ObjectRow>(
      'SELECT namespace, name, revision, json FROM objects WHERE resource = ? AND namespace = ? ORDER BY name'),
    putObject: db.prepare<[string, string, string, number, string]>(
      `INSERT INTO objects (resource, namespace, name, revision, json) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (resource, namespace, name) DO UPDATE SET revision = excluded.revision, json = excluded.json`),
    deleteObject: db.prepare<[string, string, string]>(
      'DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?'),
    insertEvent: db.prepare<[number, string, string, string, string, string]>(
      'INSERT INTO events (revision, type, resource, namespace, name, json) VALUES (?, ?, ?, ?, ?, ?)'),
    trimEvents: db.prepare<[number]>('DELETE FROM events WHERE revision <= ?'),
    eventsOf: db.prepare<[string], EventRow>('SELECT * FROM events WHERE resource = ?'),
    setEventJson: db.prepare<[string, number]>('UPDATE events SET json = ? WHERE revision = ?'),
    setRevision: db.prepare<[number]>(
      `INSERT INTO meta (key, value) VALUES ('revision', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`),
  };
}
