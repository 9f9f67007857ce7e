/**
 * A token bucket for per-client flood control. Pure: the caller passes the
 * time, so tests need no clock.
 *
 * @module
 */

/**
 * Allows `rate` events per second on average and up to `burst` at once.
 * A `rate` of 0 turns the limit off.
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { TokenBucket } from "./token_bucket.ts";
 *
 * const bucket = new TokenBucket(1, 2, 0);
 * ok(bucket.take(0) && bucket.take(0)); // the burst
 * ok(!bucket.take(0)); // empty
 * ok(bucket.take(1000)); // one token back after a second
 * ```
 */
export class TokenBucket {
  readonly rate: number;
  readonly burst: number;
  #tokens: number;
  #updatedAt: number;

  /**
   * @param rate tokens added per second (0 = unlimited)
   * @param burst most tokens held, so most events at once (at least 1)
   * @param now the current time in milliseconds
   */
  constructor(rate: number, burst: number, now: number) {
    if (!(rate >= 0) || !(burst >= 1)) {
      throw new RangeError(
        `Cannot create TokenBucket: rate must be >= 0 and burst >= 1, received ${rate} and ${burst}`,
      );
    }
    this.rate = rate;
    this.burst = burst;
    this.#tokens = burst;
    this.#updatedAt = now;
  }

  /** Takes one token at time `now` (ms); false when none is left. */
  take(now: number): boolean {
    if (this.rate === 0) return true;
    const elapsed = now - this.#updatedAt;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.rate) / 1000);
      this.#updatedAt = now;
    }
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
