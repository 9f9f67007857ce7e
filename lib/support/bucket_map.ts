/**
 * Token buckets by key, at most `maxKeys` of them: the least recently used
 * key is forgotten first. Pure. For budgets keyed by what clients choose
 * (source addresses, sender and recipient pairs), so the map stays bounded.
 *
 * @module
 */

import { TokenBucket } from "./token_bucket.ts";

/**
 * A bounded, least-recently-used map of token buckets that all share one
 * rate and burst.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { BucketMap } from "./bucket_map.ts";
 *
 * const replies = new BucketMap({ rate: 1, burst: 2, maxKeys: 100 });
 * equal(replies.take("192.0.2.1", 0), true);
 * equal(replies.take("192.0.2.1", 0), true);
 * equal(replies.take("192.0.2.1", 0), false);
 * equal(replies.take("192.0.2.2", 0), true); // its own budget
 * ```
 */
export class BucketMap {
  readonly rate: number;
  readonly burst: number;
  readonly maxKeys: number;
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(options: { rate: number; burst: number; maxKeys: number }) {
    this.rate = options.rate;
    this.burst = options.burst;
    this.maxKeys = options.maxKeys;
  }

  /** Keys tracked now (never more than `maxKeys`). */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes `amount` tokens from `key`'s bucket at `now` (ms); false when it has too few. */
  take(key: string, now: number, amount = 1): boolean {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.maxKeys) {
        this.#buckets.delete(this.#buckets.keys().next().value!); // least recently used
      }
      bucket = new TokenBucket(this.rate, this.burst, now);
    } else {
      this.#buckets.delete(key); // re-inserted below: most recently used
    }
    this.#buckets.set(key, bucket);
    return bucket.take(now, amount);
  }
}
