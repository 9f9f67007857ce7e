/**
 * A listener's open connections: closed all at once at the end of a
 * shutdown, and waited for until the last one is gone. One set entry per
 * connection and nothing else: a listener serves each connection in one
 * async call that removes it when done, instead of a chain of promises and
 * closures per connection (an idle server holds thousands).
 *
 * @module
 */

import { closeQuietly } from "./conn.ts";

/**
 * The connections a listener has open.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { OpenConns } from "./open_conns.ts";
 *
 * const open = new OpenConns<{ close(): void }>();
 * const conn = { close() {} };
 * open.add(conn);
 * let emptied = false;
 * const waiting = open.emptied().then(() => (emptied = true));
 * open.delete(conn);
 * await waiting;
 * equal(emptied, true);
 * ```
 */
export class OpenConns<T extends { close(): void }> {
  readonly #conns = new Set<T>();
  #waiters: (() => void)[] = [];

  /** How many are open. */
  get size(): number {
    return this.#conns.size;
  }

  /** Counts `conn` as open. */
  add(conn: T): void {
    this.#conns.add(conn);
  }

  /** `conn` is done with; wakes the waiters once none is left. */
  delete(conn: T): void {
    this.#conns.delete(conn);
    if (this.#conns.size > 0 || this.#waiters.length === 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Closes every open connection (each is deleted by whoever serves it). */
  closeAll(): void {
    for (const conn of this.#conns) closeQuietly(conn);
  }

  /** Resolves once no connection is open. */
  emptied(): Promise<void> {
    if (this.#conns.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}
