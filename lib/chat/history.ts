/**
 * Room history, bounded three ways: lines per room, bytes per room, and
 * bytes over all rooms. Each line is stored once, as the words and nick it
 * was said with (not as encoded lines), and replayed to members who join.
 * Pure.
 *
 * Cost accounting: a line costs the UTF-8 size of its rendered text plus
 * {@linkcode HISTORY_ENTRY_OVERHEAD} bytes of bookkeeping. JavaScript keeps
 * the words as a string, which never takes more bytes than their UTF-8
 * form, so the store's real size stays within its accounted bytes plus a
 * small constant per line. When a bound is hit the oldest lines go first:
 * the room's own for a room bound, the oldest of any room for the total.
 *
 * @module
 */

import { utf8Length } from "../framing/utf8.ts";

/** Bytes of bookkeeping charged per stored line (object, string headers). */
export const HISTORY_ENTRY_OVERHEAD = 96;

/** One remembered line. */
export interface HistoryEntry {
  readonly kind: "message" | "action";
  readonly from: string;
  readonly text: string;
  /** When it was said, in milliseconds since the epoch. */
  readonly ts: number;
  /** Its accounted cost in bytes. */
  readonly bytes: number;
}

interface StoredEntry extends HistoryEntry {
  readonly room: RoomHistory;
  evicted: boolean;
}

/** Bounds of a {@linkcode HistoryStore}. */
export interface HistoryLimits {
  /** Lines kept per room (0 = history off). */
  lines: number;
  /** Bytes kept per room. */
  roomBytes: number;
  /** Bytes kept over all rooms. */
  totalBytes: number;
}

/**
 * Told of every line a {@linkcode HistoryStore} keeps and drops, in order:
 * a persistent copy (lib/store/) follows the store with it. Called
 * synchronously; it must not throw.
 */
export interface HistoryObserver {
  kept(room: RoomHistory, entry: HistoryEntry): void;
  dropped(room: RoomHistory, entry: HistoryEntry): void;
}

/** One room's lines, oldest first. Made by {@linkcode HistoryStore.room}. */
export class RoomHistory {
  /** The room's key and name, as given to {@linkcode HistoryStore.room}. */
  readonly key: string;
  readonly name: string;
  readonly #store: HistoryStore;
  /** Entries oldest first; `#head` skips the ones already removed. */
  #entries: StoredEntry[] = [];
  #head = 0;
  #bytes = 0;

  constructor(store: HistoryStore, key = "", name = key) {
    this.#store = store;
    this.key = key;
    this.name = name;
  }

  /** Lines kept now. */
  get length(): number {
    return this.#entries.length - this.#head;
  }

  /** Bytes accounted to this room now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The kept lines, oldest first. */
  entries(): HistoryEntry[] {
    return this.#entries.slice(this.#head);
  }

  /** Adds a line and trims this room, then the store, to their bounds. */
  add(entry: Omit<HistoryEntry, "bytes">, renderedBytes: number): void {
    const limits = this.#store.limits;
    if (limits.lines === 0) return;
    const bytes = renderedBytes + HISTORY_ENTRY_OVERHEAD;
    if (bytes > limits.roomBytes || bytes > limits.totalBytes) return; // can never fit
    const stored: StoredEntry = { ...entry, bytes, room: this, evicted: false };
    this.#entries.push(stored);
    this.#bytes += bytes;
    this.#store.observer?.kept(this, stored);
    while (this.length > limits.lines || this.#bytes > limits.roomBytes) this.evictOldest();
    this.#store.added(stored);
  }

  /** Removes this room's oldest line. */
  evictOldest(): void {
    if (this.length === 0) return;
    const oldest = this.#entries[this.#head];
    this.#entries[this.#head++] = undefined as unknown as StoredEntry; // release it now
    oldest.evicted = true;
    this.#bytes -= oldest.bytes;
    this.#store.observer?.dropped(this, oldest);
    this.#store.removed(oldest.bytes);
    if (this.#head > 32 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Forgets every line (the room is gone). */
  clear(): void {
    while (this.length > 0) this.evictOldest();
  }
}

/**
 * The history of every room, within {@linkcode HistoryLimits}.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { HistoryStore } from "./history.ts";
 *
 * const store = new HistoryStore({ lines: 2, roomBytes: 4096, totalBytes: 65536 });
 * const lobby = store.room();
 * for (const text of ["one", "two", "three"]) {
 *   lobby.add({ kind: "message", from: "ann", text, ts: 0 }, text.length + 6);
 * }
 * equal(lobby.entries().map((entry) => entry.text).join(), "two,three");
 * ```
 */
export class HistoryStore {
  readonly limits: Readonly<HistoryLimits>;
  /** Told of every line kept and dropped. */
  readonly observer: HistoryObserver | undefined;
  /** Every kept entry in the order added (evicted ones skipped lazily). */
  #order: StoredEntry[] = [];
  #head = 0;
  #bytes = 0;
  #live = 0;

  constructor(limits: HistoryLimits, observer?: HistoryObserver) {
    this.limits = { ...limits };
    this.observer = observer;
  }

  /** Bytes accounted over all rooms. */
  get bytes(): number {
    return this.#bytes;
  }

  /** A new, empty room history in this store (`key` and `name` label it for the observer). */
  room(key?: string, name?: string): RoomHistory {
    return new RoomHistory(this, key, name);
  }

  /** @internal Called by a room when it keeps `entry`. */
  added(entry: StoredEntry): void {
    this.#order.push(entry);
    this.#bytes += entry.bytes;
    this.#live++;
    while (this.#bytes > this.limits.totalBytes) {
      const oldest = this.#order[this.#head];
      this.#order[this.#head++] = undefined as unknown as StoredEntry;
      // The oldest kept entry of all is always the oldest of its room.
      if (!oldest.evicted) oldest.room.evictOldest();
    }
    this.#compact();
  }

  /** @internal Called by a room when it drops an entry. */
  removed(bytes: number): void {
    this.#bytes -= bytes;
    this.#live--;
  }

  #compact(): void {
    // Skip evicted entries at the front.
    while (this.#head < this.#order.length && this.#order[this.#head].evicted) {
      this.#order[this.#head++] = undefined as unknown as StoredEntry;
    }
    // Entries a room evicted stay in the middle until a rebuild: rebuild
    // once most of the array is dead, so its length stays within 2× live.
    if (this.#order.length > 64 && this.#order.length > 2 * this.#live) {
      this.#order = this.#order.slice(this.#head).filter((entry) => !entry.evicted);
      this.#head = 0;
    }
  }
}

/**
 * The accounted size of a history line: the UTF-8 bytes of its rendered
 * text (`<from> text` or `<from> *text*`), without encoding it.
 */
export function historyCost(entry: Pick<HistoryEntry, "kind" | "from" | "text">): number {
  return utf8Length(entry.from) + utf8Length(entry.text) + (entry.kind === "action" ? 5 : 3);
}
