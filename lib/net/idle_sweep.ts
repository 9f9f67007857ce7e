/**
 * An idle sweep on a timer: an {@linkcode IdleWatch} swept every quarter
 * of the idle bound (20 ms to 1 s), calling `onIdle` for each item found
 * idle. The timer starts with the first item and stops for good with
 * `stop()`.
 *
 * @module
 */

import { type Active, IdleWatch, sweepIntervalMs } from "../support/idle_watch.ts";

export type { Active } from "../support/idle_watch.ts";

/** Calls `onIdle` once for each tracked item idle for `idleMs`. */
export class IdleSweep<T extends Active> {
  readonly #watch: IdleWatch<T>;
  readonly #onIdle: (item: T) => void;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;

  /** `idleMs` of 0 turns the sweep off. */
  constructor(idleMs: number, onIdle: (item: T) => void) {
    this.#watch = new IdleWatch(idleMs);
    this.#onIdle = onIdle;
  }

  /** Starts watching `item`. */
  add(item: T): void {
    const idleMs = this.#watch.idleMs;
    if (idleMs <= 0 || this.#stopped) return;
    this.#timer ??= setInterval(() => {
      for (const idle of this.#watch.sweep(performance.now())) this.#onIdle(idle);
    }, sweepIntervalMs(idleMs));
    this.#watch.add(item, performance.now());
  }

  /** Stops watching `item`. */
  delete(item: T): void {
    this.#watch.delete(item);
  }

  /** Stops the timer for good. */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#watch.clear();
  }
}
