/**
 * Input byte budgets: how many bytes a connection, and all connections of
 * one IP address together, may send per second before the server stops
 * reading from it for a while. Not reading is TCP backpressure: the sender
 * waits, nothing is lost, and a flood costs the server a bounded amount of
 * work whatever its content (2.8 MB/s of bare newlines, for instance).
 *
 * @module
 */

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
  readonly #address: ByteBudget;
  /**
   * One bucket per address, kept after its last connection until it has
   * refilled (reconnecting does not buy a fresh burst).
   */
  readonly #addresses = new Map<string, { bucket: TokenBucket; connections: number }>();
  #prunedAt = 0;

  constructor(connection: ByteBudget, address: ByteBudget) {
    this.#connection = connection;
    this.#address = address;
  }

  /** The budget of a new connection from `ip`. */
  acquire(ip: string): InputBudget {
    if (this.#connection.rate === 0 && this.#address.rate === 0) return unlimited;
    const now = performance.now();
    this.#prune(now);
    const own = this.#connection.rate === 0
      ? null
      : new TokenBucket(this.#connection.rate, this.#connection.burst, now);
    let shared: { bucket: TokenBucket; connections: number } | undefined;
    if (this.#address.rate > 0) {
      shared = this.#addresses.get(ip);
      if (shared === undefined) {
        shared = {
          bucket: new TokenBucket(this.#address.rate, this.#address.burst, now),
          connections: 0,
        };
        this.#addresses.set(ip, shared);
      }
      shared.connections++;
    }
    let released = false;
    return {
      charge: (bytes) => {
        const at = performance.now();
        return Math.max(own?.charge(at, bytes) ?? 0, shared?.bucket.charge(at, bytes) ?? 0);
      },
      release: () => {
        if (released || shared === undefined) return;
        released = true;
        shared.connections--;
      },
    };
  }

  /** At most once a second: forgets addresses with no connection whose bucket has refilled. */
  #prune(now: number): void {
    if (now - this.#prunedAt < 1000) return;
    this.#prunedAt = now;
    for (const [ip, entry] of this.#addresses) {
      if (entry.connections === 0 && entry.bucket.full(now)) this.#addresses.delete(ip);
    }
  }
}
