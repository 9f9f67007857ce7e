/**
 * Room history on disk, written behind the in-memory history: the
 * {@linkcode HistoryJournal} follows every line the in-memory store keeps
 * and drops (`lib/chat/history.ts` calls it), queues an insert or a delete,
 * and writes the queue in one transaction every `flushIntervalMs`, off the
 * path of the line being relayed. The disk therefore holds what memory
 * holds, within the same bounds (lines and bytes per room, bytes in all),
 * one flush interval behind.
 *
 * Bounds: the queue is flushed at once (on the next turn of the event
 * loop) when `batchOps` operations wait, and in the caller's turn when
 * `maxQueuedOps` wait (a burst faster than the disk: the writer catches up
 * before it grows further). A kill loses at most the queue: the lines of
 * the last flush interval (100 ms by default).
 *
 * A failure to write (a full or read-only disk) is logged once; the journal
 * then stops and the chat goes on from memory (history is then lost at
 * the next restart, as the log line says).
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { HistoryPersistence } from "../chat/directory.ts";
import type { HistoryEntry, RoomHistory } from "../chat/history.ts";
import { type Logger, safeLogger, silentLogger } from "../support/log.ts";
import { checkNumber, TIMER_MS } from "../support/options.ts";

/** Options of {@linkcode HistoryJournal}. */
export interface HistoryJournalOptions {
  /** Milliseconds between writes of the queue (the most a kill can lose). @default {100} */
  flushIntervalMs?: number;
  /** Queued operations that bring the next write forward to the next turn. @default {1000} */
  batchOps?: number;
  /** Queued operations that are written at once, in the caller's turn. @default {10000} */
  maxQueuedOps?: number;
  /** Where the database is, for the log. @default {"the store"} */
  label?: string;
  /** Receives the `warning` when writing fails. @default {silent} */
  logger?: Logger;
}

type Operation =
  | { kind: "insert"; id: number; room: RoomHistory; entry: HistoryEntry }
  | { kind: "delete"; id: number }
  | { kind: "deleteUpTo"; id: number };

/** What a {@linkcode HistoryJournal} has done, for the metrics. */
export interface JournalStats {
  /** Operations waiting for the next write. */
  queuedOps: number;
  /** Accounted bytes of the lines waiting to be inserted. */
  queuedBytes: number;
  /** Transactions written. */
  flushes: number;
  /** Milliseconds the last write took. */
  lastFlushMs: number;
  /** Null while writing works, else why it stopped. */
  failure: string | null;
}

/** The write-behind copy of a node's room history (see the module doc). */
export class HistoryJournal implements HistoryPersistence {
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #delete: StatementSync;
  readonly #deleteUpTo: StatementSync;
  readonly #flushMs: number;
  readonly #batchOps: number;
  readonly #maxQueuedOps: number;
  readonly #label: string;
  readonly #log: Logger;
  readonly #ids = new WeakMap<HistoryEntry, number>();
  #queue: Operation[] = [];
  #queuedBytes = 0;
  #nextId = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #restoring = false;
  #stopped = false;
  #flushes = 0;
  #lastFlushMs = 0;
  #failure: string | null = null;

  constructor(db: DatabaseSync, options: HistoryJournalOptions = {}) {
    this.#db = db;
    this.#flushMs = checkNumber(JOURNAL, "flushIntervalMs", options.flushIntervalMs ?? 100, {
      ...TIMER_MS,
      aboveMin: true,
    });
    this.#batchOps = checkNumber(JOURNAL, "batchOps", options.batchOps ?? 1000, {
      min: 1,
      integer: true,
    });
    this.#maxQueuedOps = checkNumber(JOURNAL, "maxQueuedOps", options.maxQueuedOps ?? 10_000, {
      min: this.#batchOps,
      integer: true,
    });
    this.#label = options.label ?? "the store";
    this.#log = safeLogger(options.logger ?? silentLogger);
    this.#insert = db.prepare(
      "INSERT INTO history (id, room, name, kind, sender, text, ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.#delete = db.prepare("DELETE FROM history WHERE id = ?");
    this.#deleteUpTo = db.prepare("DELETE FROM history WHERE id <= ?");
  }

  /** What it has done so far. */
  get stats(): JournalStats {
    return {
      queuedOps: this.#queue.length,
      queuedBytes: this.#queuedBytes,
      flushes: this.#flushes,
      lastFlushMs: this.#lastFlushMs,
      failure: this.#failure,
    };
  }

  /**
   * The lines on disk, oldest first over all rooms. The in-memory store
   * takes them back through `kept`, under today's bounds: the next write
   * replaces the old rows with what it kept, in one transaction (a kill
   * before it leaves the old rows).
   */
  *restore(): Generator<{ key: string; name: string; entry: Omit<HistoryEntry, "bytes"> }> {
    const rows = this.#db.prepare(
      "SELECT id, room, name, kind, sender, text, ts FROM history ORDER BY id",
    ).all() as unknown as HistoryRow[];
    const last = rows.at(-1)?.id ?? 0;
    this.#nextId = last;
    if (last > 0) this.#push({ kind: "deleteUpTo", id: last }, 0);
    this.#restoring = true;
    try {
      for (const row of rows) {
        if (row.kind !== "message" && row.kind !== "action") continue;
        yield {
          key: row.room,
          name: row.name,
          entry: { kind: row.kind, from: row.sender, text: row.text, ts: row.ts },
        };
      }
    } finally {
      this.#restoring = false;
    }
  }

  kept(room: RoomHistory, entry: HistoryEntry): void {
    if (this.#stopped) return;
    const id = ++this.#nextId;
    this.#ids.set(entry, id);
    this.#push({ kind: "insert", id, room, entry }, entry.bytes);
  }

  dropped(_room: RoomHistory, entry: HistoryEntry): void {
    if (this.#stopped) return;
    const id = this.#ids.get(entry);
    if (id === undefined) return;
    this.#ids.delete(entry);
    this.#push({ kind: "delete", id }, 0);
  }

  /** Writes the queue now, in one transaction (nothing when empty or stopped). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#queue.length === 0 || this.#failure !== null) return;
    const queue = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    // A line kept and dropped within one write never reaches the disk.
    const deleted = new Set<number>();
    for (const op of queue) if (op.kind === "delete") deleted.add(op.id);
    const started = performance.now();
    try {
      this.#db.exec("BEGIN IMMEDIATE");
      try {
        for (const op of queue) {
          if (op.kind === "insert") {
            if (deleted.has(op.id)) continue;
            const { room, entry } = op;
            this.#insert.run(
              op.id,
              room.key,
              room.name,
              entry.kind,
              entry.from,
              entry.text,
              entry.ts,
            );
          } else if (op.kind === "delete") this.#delete.run(op.id);
          else this.#deleteUpTo.run(op.id);
        }
        this.#db.exec("COMMIT");
      } catch (error) {
        if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
        throw error;
      }
    } catch (error) {
      this.#fail(error);
      return;
    }
    this.#flushes++;
    this.#lastFlushMs = performance.now() - started;
  }

  /** Writes what is queued and follows no more (the server is stopping). Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.flush();
    this.#stopped = true;
  }

  #push(op: Operation, bytes: number): void {
    if (this.#failure !== null) return;
    this.#queue.push(op);
    this.#queuedBytes += bytes;
    if (this.#restoring) {
      // One transaction replaces the old rows: no write until it is all queued.
      this.#timer ??= setTimeout(() => this.flush(), 0);
      return;
    }
    if (this.#queue.length >= this.#maxQueuedOps) return this.flush();
    if (this.#queue.length >= this.#batchOps) {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.flush(), 0);
    } else this.#timer ??= setTimeout(() => this.flush(), this.#flushMs);
  }

  #fail(error: unknown): void {
    const problem = error instanceof Error ? error.message : String(error);
    this.#failure = problem;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#log({
      event: "warning",
      reason: `store: cannot write history to ${this.#label} (${problem}); ` +
        "history goes on in memory only and is lost at the next restart",
    });
  }
}

interface HistoryRow {
  id: number;
  room: string;
  name: string;
  kind: string;
  sender: string;
  text: string;
  ts: number;
}

const JOURNAL = "Cannot create HistoryJournal";
