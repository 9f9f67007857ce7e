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

  /**
   * Takes `amount` tokens (default 1) at time `now` (ms); false, taking
   * nothing, when fewer are left.
   */
  take(now: number, amount = 1): boolean {
    if (this.rate === 0) return true;
    this.#refill(now);
    if (this.#tokens < amount) return false;
    this.#tokens -= amount;
    return true;
  }

  /**
   * Takes `amount` tokens even into debt, and returns the milliseconds until
   * the bucket is out of debt again (0 when it is not in debt): how long a
   * reader should pause before reading more.
   */
  charge(now: number, amount: number): number {
    if (this.rate === 0) return 0;
    this.#refill(now);
    this.#tokens -= amount;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens * 1000) / this.rate);
  }

  /** True when the bucket is full at `now` (nothing to remember about it). */
  full(now: number): boolean {
    if (this.rate === 0) return true;
    this.#refill(now);
    return this.#tokens >= this.burst;
  }

  #refill(now: number): void {
    const elapsed = now - this.#updatedAt;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.rate) / 1000);
      this.#updatedAt = now;
    }
  }
}
