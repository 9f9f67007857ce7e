/**
 * A node's embedded store: the database file `parley.db` in the data
 * directory (made when missing), opened once at start. What it holds:
 * the room history of a single server (with `--redis`, history lives in
 * Redis and the store holds only what is the node's own; nothing yet),
 * and the bans, registered nicks and room topics (`moderation_store.ts`).
 *
 * A store that cannot be opened (a read-only or full disk, a file where
 * the directory should be, a database from a newer Parley) is not fatal:
 * {@linkcode NodeStore.open} logs one line saying why and that the server
 * runs from memory, and answers null.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { type Logger, safeLogger, silentLogger } from "../support/log.ts";
import { openDatabase } from "./database.ts";
import { HistoryJournal, type HistoryJournalOptions } from "./history_journal.ts";
import { ModerationStore } from "./moderation_store.ts";

/** The database's file name in the data directory. */
export const STORE_FILE = "parley.db";

/** Options of {@linkcode NodeStore.open}. */
export interface NodeStoreOptions {
  /** Receives the `warning` when the store cannot be opened or written. @default {silent} */
  logger?: Logger;
}

/** An open store (see the module doc). */
export class NodeStore {
  /** The database file. */
  readonly path: string;
  readonly db: DatabaseSync;
  readonly #log: Logger;
  #history: HistoryJournal | null = null;
  #closed = false;

  private constructor(path: string, db: DatabaseSync, log: Logger) {
    this.path = path;
    this.db = db;
    this.#log = log;
  }

  /**
   * Opens the store in `dataDir` (made when missing); null, after one log
   * line, when it cannot be opened.
   */
  static open(dataDir: string, options: NodeStoreOptions = {}): NodeStore | null {
    const log = safeLogger(options.logger ?? silentLogger);
    const path = join(dataDir, STORE_FILE);
    try {
      Deno.mkdirSync(dataDir, { recursive: true });
      return new NodeStore(path, openDatabase(path), log);
    } catch (error) {
      const problem = error instanceof Error ? error.message : String(error);
      log({
        event: "warning",
        reason: `store: cannot open ${path} (${problem}); ` +
          "running from memory only: history is lost at the next restart",
      });
      return null;
    }
  }

  /** The write-behind journal of the room history (made on the first call). */
  history(options: Omit<HistoryJournalOptions, "label" | "logger"> = {}): HistoryJournal {
    this.#history ??= new HistoryJournal(this.db, {
      ...options,
      label: this.path,
      logger: this.#log,
    });
    return this.#history;
  }

  /** The moderation tables: bans, registered nicks, topics (`moderation_store.ts`). */
  moderation(): ModerationStore {
    return new ModerationStore(this.db, { logger: this.#log, label: this.path });
  }

  /** The history journal, if one was made. */
  get journal(): HistoryJournal | null {
    return this.#history;
  }

  /** Writes what is queued, then closes the database. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#history?.stop();
    try {
      this.db.close();
    } catch { /* closed already */ }
  }
}
