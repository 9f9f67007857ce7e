/**
 * A pause after each consecutive failure of a loop that must go on (accept,
 * receive), so an error that repeats at once cannot spin a core.
 *
 * @module
 */

/** Most milliseconds {@linkcode FailureBackoff.wait} pauses. */
export const MAX_FAILURE_PAUSE_MS = 1000;

/**
 * Pauses 1 ms after the first failure of a run, doubling each time up to
 * one second; a success resets it.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { FailureBackoff } from "./backoff.ts";
 *
 * const backoff = new FailureBackoff();
 * equal(backoff.next(), 1);
 * equal(backoff.next(), 2);
 * backoff.reset();
 * equal(backoff.next(), 1);
 * ```
 */
export class FailureBackoff {
  #failures = 0;

  /** Consecutive failures so far. */
  get failures(): number {
    return this.#failures;
  }

  /** A success: the next failure pauses briefly again. */
  reset(): void {
    this.#failures = 0;
  }

  /** Counts a failure and returns how long to pause, in milliseconds. */
  next(): number {
    return Math.min(MAX_FAILURE_PAUSE_MS, 2 ** this.#failures++);
  }

  /** Counts a failure and pauses accordingly. */
  wait(): Promise<void> {
    const ms = this.next();
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}
