/**
 * Flood control: how many lines a member, and all members of one IP
 * address together, may send, and how many bytes of private messages one
 * address may send one member. Pure: the hub passes the time.
 *
 * An address's line budget outlives its last connection until it has
 * refilled, so disconnecting and reconnecting does not buy a fresh burst.
 *
 * @module
 */

import { MAX_PRIVATE_BUDGETS } from "../support/constants.ts";
import { BucketMap } from "../support/bucket_map.ts";
import { TokenBucket } from "../support/token_bucket.ts";
import type { MemberRef } from "./directory.ts";
import type { ChatSession } from "./member.ts";
import type { ChatHubSettings } from "./settings.ts";

interface AddressBudget {
  members: number;
  bucket: TokenBucket | null;
}

/** The budgets of one hub; see the module documentation. */
export class FloodControl {
  readonly #settings: ChatHubSettings;
  readonly #addresses = new Map<string, AddressBudget>();
  readonly #private: BucketMap;

  constructor(settings: ChatHubSettings) {
    this.#settings = settings;
    const rate = settings.msgBytesRate;
    this.#private = new BucketMap({
      rate,
      burst: Math.max(1, rate * 4),
      maxKeys: MAX_PRIVATE_BUDGETS,
    });
  }

  /** A member from `address` arrived. */
  joined(address: string): void {
    const budget = this.#addresses.get(address);
    if (budget === undefined) this.#addresses.set(address, { members: 1, bucket: null });
    else budget.members++;
  }

  /** A member from `address` left (its budget stays until refilled). */
  left(address: string, now: number): void {
    const budget = this.#addresses.get(address);
    if (budget === undefined) return;
    budget.members--;
    this.#forgetIfDone(address, budget, now);
  }

  /**
   * Takes one line's budget from `session` and from its address at `now`;
   * returns null when the line may go, or why it may not.
   */
  admit(session: ChatSession, now: number): string | null {
    const { rate, burst, ipRate, ipBurst } = this.#settings;
    if (rate > 0) {
      session.bucket ??= new TokenBucket(rate, burst, now);
      if (!session.bucket.take(now)) {
        return `rate limit: at most ${rate} lines/s (burst ${burst}); this line was not sent`;
      }
    }
    if (ipRate > 0) {
      const address = session.member.address;
      const budget = this.#addresses.get(address)!;
      budget.bucket ??= new TokenBucket(ipRate, ipBurst, now);
      if (!budget.bucket.take(now)) {
        return `rate limit: at most ${ipRate} lines/s from your address ${address} ` +
          `(burst ${ipBurst}); this line was not sent`;
      }
    }
    return null;
  }

  /** True when flood control is off altogether (no clock needed). */
  get off(): boolean {
    return this.#settings.rate === 0 && this.#settings.ipRate === 0;
  }

  /**
   * Takes `bytes` of private messages from the budget of `address` towards
   * `target`; false when it is spent.
   */
  privateAllowed(address: string, target: MemberRef, bytes: number, now: number): boolean {
    if (this.#settings.msgBytesRate === 0) return true;
    return this.#private.take(`${address} ${target}`, now, bytes);
  }

  /** Forgets the budgets of addresses with no member that have refilled. */
  prune(now: number): void {
    for (const [address, budget] of this.#addresses) this.#forgetIfDone(address, budget, now);
  }

  #forgetIfDone(address: string, budget: AddressBudget, now: number): void {
    if (budget.members === 0 && (budget.bucket === null || budget.bucket.full(now))) {
      this.#addresses.delete(address);
    }
  }
}
