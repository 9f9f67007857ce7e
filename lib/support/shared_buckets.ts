/**
 * Token buckets shared by every holder of one key (the connections or
 * members of one IP address). A key's bucket outlives its last holder
 * until it has refilled, so letting go and coming back does not buy a
 * fresh burst. Pure: the caller passes the time.
 *
 * @module
 */

import { TokenBucket } from "./token_bucket.ts";

/** One key's shared bucket and how many hold it. */
export class SharedBucket {
  readonly key: string;
  /** Holders now. */
  holders = 0;
  readonly #rate: number;
  readonly #burst: number;
  #bucket: TokenBucket | null = null;

  constructor(key: string, rate: number, burst: number) {
    this.key = key;
    this.#rate = rate;
    this.#burst = burst;
  }

  /** The bucket, made (full) the first time it is needed, so idle holders cost no clock read. */
  at(now: number): TokenBucket {
    return this.#bucket ??= new TokenBucket(this.#rate, this.#burst, now);
  }

  /** Nothing to remember: no holder, and the bucket unused or refilled at `now`. */
  idle(now: number): boolean {
    return this.holders === 0 && (this.#bucket === null || this.#bucket.full(now));
  }
}

/**
 * The shared buckets of every key, all with one rate and burst.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { SharedBuckets } from "./shared_buckets.ts";
 *
 * const lines = new SharedBuckets(1, 2);
 * const first = lines.hold("192.0.2.1");
 * equal(first.at(0).take(0) && first.at(0).take(0), true); // the burst
 * lines.release(first, 0);
 * const again = lines.hold("192.0.2.1"); // the same, still empty
 * equal(again.at(0).take(0), false);
 * ```
 */
export class SharedBuckets {
  readonly #rate: number;
  readonly #burst: number;
  readonly #entries = new Map<string, SharedBucket>();

  constructor(rate: number, burst: number) {
    this.#rate = rate;
    this.#burst = burst;
  }

  /** Keys remembered now: held, or not yet refilled. */
  get size(): number {
    return this.#entries.size;
  }

  /** A holder of `key` arrives: its shared bucket. */
  hold(key: string): SharedBucket {
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = new SharedBucket(key, this.#rate, this.#burst);
      this.#entries.set(key, entry);
    }
    entry.holders++;
    return entry;
  }

  /** A holder lets go of `entry` (once per `hold`); forgotten if nothing is left to remember. */
  release(entry: SharedBucket, now: number): void {
    entry.holders--;
    if (entry.idle(now) && this.#entries.get(entry.key) === entry) this.#entries.delete(entry.key);
  }

  /** Forgets the keys with no holder whose bucket has refilled. */
  prune(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.idle(now)) this.#entries.delete(key);
    }
  }
}
