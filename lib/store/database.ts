/**
 * The embedded database of a server node: one SQLite file through
 * `node:sqlite` (built into Deno, no npm package), schema-versioned with
 * `PRAGMA user_version` and a list of migrations run in order, each in its
 * own transaction.
 *
 * Crash safety: write-ahead log (`journal_mode=WAL`) and
 * `synchronous=NORMAL`. A committed transaction survives the process being
 * killed (`kill -9`): it is in the log, in the kernel's page cache. Only a
 * crash of the machine itself (power loss) can lose the transactions since
 * the last checkpoint; `FULL` would close that gap with an `fsync` per
 * commit, which blocks the event loop (node:sqlite is synchronous) for the
 * length of a disk flush. What the process had not committed yet (the
 * history writer's queue) is lost either way: see `history_journal.ts`.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";

/** Bytes the write-ahead log is cut back to after a checkpoint. */
export const WAL_SIZE_LIMIT = 8 * 1024 * 1024;

/** One step of the schema: `version` is the `user_version` it leaves. */
export interface Migration {
  readonly version: number;
  /** SQL run in the migration's transaction. */
  readonly sql: string;
}

/**
 * Parley's schema, oldest first. Append only: a released migration never
 * changes, a later one alters what it made.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE history (
        id INTEGER PRIMARY KEY,
        room TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        sender TEXT NOT NULL,
        text TEXT NOT NULL,
        ts INTEGER NOT NULL
      );
    `,
  },
  {
    // Moderation (lib/chat/moderation.ts): bans, registered nicks, topics.
    version: 2,
    sql: `
      CREATE TABLE bans (
        mask TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        by_name TEXT NOT NULL,
        since INTEGER NOT NULL,
        until INTEGER
      );
      CREATE TABLE registrations (
        key TEXT PRIMARY KEY,
        nick TEXT NOT NULL,
        hash TEXT NOT NULL,
        since INTEGER NOT NULL
      );
      CREATE TABLE topics (
        key TEXT PRIMARY KEY,
        room TEXT NOT NULL,
        text TEXT NOT NULL,
        by_name TEXT NOT NULL,
        ts INTEGER NOT NULL
      );
    `,
  },
];

/** The schema version of a database. */
export function schemaVersion(db: DatabaseSync): number {
  return (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
}

/**
 * Opens (creating it when missing) the database at `path` and brings its
 * schema up to the last of `migrations`. Throws when the file cannot be
 * opened or written, or when it was made by a newer Parley (a schema
 * version past the last migration): an old server must not write a newer
 * schema.
 */
export function openDatabase(
  path: string,
  migrations: readonly Migration[] = MIGRATIONS,
): DatabaseSync {
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA busy_timeout = 1000");
    // The log is checkpointed every 1,000 pages (SQLite's default) and cut back to this after.
    db.exec(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT}`);
    const current = schemaVersion(db);
    const last = migrations.at(-1)?.version ?? 0;
    if (current > last) {
      throw new RangeError(
        `${path} has schema version ${current}, newer than this server's ${last}`,
      );
    }
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      db.exec("BEGIN IMMEDIATE");
      try {
        db.exec(migration.sql);
        db.exec(`PRAGMA user_version = ${migration.version}`);
        db.exec("COMMIT");
      } catch (error) {
        db.exec("ROLLBACK");
        throw error;
      }
    }
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}
