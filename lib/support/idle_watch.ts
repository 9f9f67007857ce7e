/**
 * Which watched items have been idle too long, for items that count their
 * own activity: the hot path bumps a counter, and a periodic sweep compares
 * it with what it saw last, so no clock is read per message. Pure: the
 * caller passes the time and runs the sweep (`net/idle_sweep.ts` runs it
 * on a timer).
 *
 * @module
 */

/** Something whose activity can be watched. */
export interface Active {
  /** Bumped by its owner on every unit of activity. */
  activity: number;
}

/** How often to sweep for an idle bound of `idleMs`: a quarter of it, from 20 ms to 1 s. */
export function sweepIntervalMs(idleMs: number): number {
  return Math.min(1000, Math.max(20, idleMs / 4));
}

/**
 * Tracks items and finds those idle for `idleMs`.
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { IdleWatch } from "./idle_watch.ts";
 *
 * const watch = new IdleWatch<{ activity: number }>(1000);
 * const busy = { activity: 0 };
 * const quiet = { activity: 0 };
 * watch.add(busy, 0);
 * watch.add(quiet, 0);
 * busy.activity++;
 * deepEqual(watch.sweep(600), []);
 * deepEqual(watch.sweep(1000), [quiet]);
 * ```
 */
export class IdleWatch<T extends Active> {
  /** Milliseconds without activity that make an item idle (0: never). */
  readonly idleMs: number;
  readonly #items = new Map<T, { seen: number; since: number }>();

  constructor(idleMs: number) {
    this.idleMs = idleMs;
  }

  /** Items watched now. */
  get size(): number {
    return this.#items.size;
  }

  /** Starts watching `item` at `now` (ms); nothing when idleness is off. */
  add(item: T, now: number): void {
    if (this.idleMs > 0) this.#items.set(item, { seen: item.activity, since: now });
  }

  /** Stops watching `item`. */
  delete(item: T): void {
    this.#items.delete(item);
  }

  /** Stops watching everything. */
  clear(): void {
    this.#items.clear();
  }

  /** The items idle at `now`, no longer watched. */
  sweep(now: number): T[] {
    const idle: T[] = [];
    for (const [item, state] of this.#items) {
      if (item.activity !== state.seen) {
        state.seen = item.activity;
        state.since = now;
      } else if (now - state.since >= this.idleMs) {
        this.#items.delete(item);
        idle.push(item);
      }
    }
    return idle;
  }
}
