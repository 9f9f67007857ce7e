/**
 * Input byte budgets: how many bytes a connection, and all connections of
 * one IP address together, may send per second before the server stops
 * reading from it for a while. Not reading is TCP backpressure: the sender
 * waits, nothing is lost, and a flood costs the server a bounded amount of
 * work whatever its content (2.8 MB/s of bare newlines, for instance).
 *
 * @module
 */

import { SharedBuckets } from "../support/shared_buckets.ts";
import { TokenBucket } from "../support/token_bucket.ts";

/** A budget's rate (bytes per second, 0 = none) and burst (bytes). */
export interface ByteBudget {
  rate: number;
  burst: number;
}

/** One connection's view of its budgets. */
export interface InputBudget {
  /**
   * Charges `bytes` just read; returns how many milliseconds to wait before
   * reading again (0: read on).
   */
  charge(bytes: number): number;
  /** The connection is closed (idempotent). */
  release(): void;
}

const unlimited: InputBudget = { charge: () => 0, release: () => {} };

/** The budgets of a server's connections, with one shared bucket per address. */
export class InputBudgets {
  readonly #connection: ByteBudget;
  /**
   * One bucket per address, kept after its last connection until it has
   * refilled (reconnecting does not buy a fresh burst); null when off.
   */
  readonly #addresses: SharedBuckets | null;
  #prunedAt = 0;

  constructor(connection: ByteBudget, address: ByteBudget) {
    this.#connection = connection;
    this.#addresses = address.rate > 0 ? new SharedBuckets(address.rate, address.burst) : null;
  }

  /** The budget of a new connection from `ip`. */
  acquire(ip: string): InputBudget {
    const addresses = this.#addresses;
    if (this.#connection.rate === 0 && addresses === null) return unlimited;
    const now = performance.now();
    if (addresses !== null && now - this.#prunedAt >= 1000) {
      this.#prunedAt = now; // at most once a second
      addresses.prune(now);
    }
    const own = this.#connection.rate === 0
      ? null
      : new TokenBucket(this.#connection.rate, this.#connection.burst, now);
    const shared = addresses?.hold(ip) ?? null;
    let released = false;
    return {
      charge: (bytes) => {
        const at = performance.now();
        return Math.max(own?.charge(at, bytes) ?? 0, shared?.at(at).charge(at, bytes) ?? 0);
      },
      release: () => {
        if (released || shared === null) return;
        released = true;
        addresses!.release(shared, performance.now());
      },
    };
  }
}
