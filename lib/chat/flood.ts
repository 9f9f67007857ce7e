/**
 * Flood control: how many lines a member, and all members of one IP
 * address together, may send, and how many bytes of private messages one
 * address may send one member. Pure: the hub passes the time.
 *
 * An address's line budget outlives its last connection until it has
 * refilled, so disconnecting and reconnecting does not buy a fresh burst.
 *
 * Refusals come in runs: the first line refused in a run gets an error at
 * once; the rest are counted and reported in one line when the run ends
 * (a line accepted again, or a second later), so a flood cannot make the
 * server write an error per line.
 *
 * @module
 */

import { type HubCounters, hubCounters } from "./counters.ts";
import { BucketMap } from "../support/bucket_map.ts";
import { SharedBuckets } from "../support/shared_buckets.ts";
import { TokenBucket } from "../support/token_bucket.ts";
import type { MemberRef } from "./directory.ts";
import type { ChatSession } from "./member.ts";
import type { ChatHubSettings } from "./settings.ts";

/** Private-message budgets (sender address, recipient) a node keeps at most. */
const MAX_PRIVATE_BUDGETS = 10_000;
/** Milliseconds after a run of refusals began when its count is told. */
const REFUSAL_RUN_MS = 1000;

/** How flood control tells a member a line was refused. */
export type RefusalTeller = (session: ChatSession, text: string) => void;

/** The budgets of one hub; see the module documentation. */
export class FloodControl {
  readonly #settings: ChatHubSettings;
  readonly #tell: RefusalTeller;
  readonly #counters: HubCounters;
  /** Members in a run of refused lines, told its count when it ends. */
  readonly #refusing = new Set<ChatSession>();
  /** Each address's line bucket, shared by its members; null when off. */
  readonly #addresses: SharedBuckets | null;
  readonly #private: BucketMap;

  constructor(
    settings: ChatHubSettings,
    tell: RefusalTeller,
    counters: HubCounters = hubCounters(),
  ) {
    this.#settings = settings;
    this.#tell = tell;
    this.#counters = counters;
    this.#addresses = settings.ipRate > 0
      ? new SharedBuckets(settings.ipRate, settings.ipBurst)
      : null;
    const rate = settings.msgBytesRate;
    this.#private = new BucketMap({
      rate,
      burst: Math.max(1, rate * 4),
      maxKeys: MAX_PRIVATE_BUDGETS,
    });
  }

  /** A member arrived: it shares its address's budget. */
  joined(session: ChatSession): void {
    session.addressBudget = this.#addresses?.hold(session.member.address) ?? null;
  }

  /** A member left (its address's budget stays until refilled). */
  left(session: ChatSession, now: number): void {
    this.#refusing.delete(session);
    if (session.addressBudget === null) return;
    this.#addresses!.release(session.addressBudget, now);
    session.addressBudget = null;
  }

  /**
   * Takes one line's budget from `session` at `now` (`clock` is read only
   * when flood control is on): true when the line may go. A refused line
   * starts or extends a run of refusals (see the module documentation).
   */
  admitLine(session: ChatSession, clock: () => number): boolean {
    if (this.off) return true;
    const now = clock();
    const refusal = this.#admit(session, now);
    if (refusal !== null) {
      this.#counters.floodDrops++;
      if (session.refusedRun++ === 0) {
        session.refusedSince = now;
        this.#refusing.add(session);
        this.#tell(session, refusal);
      }
      return false;
    }
    if (session.refusedRun > 0) this.#endRun(session);
    return true;
  }

  /** Tells the count of each run of refusals a second old, and forgets refilled budgets. */
  tick(now: number): void {
    for (const session of this.#refusing) {
      if (now - session.refusedSince >= REFUSAL_RUN_MS) this.#endRun(session);
    }
    this.#addresses?.prune(now);
  }

  #endRun(session: ChatSession): void {
    const more = session.refusedRun - 1;
    session.refusedRun = 0;
    this.#refusing.delete(session);
    if (more > 0) {
      this.#tell(
        session,
        `rate limit: ${more} more ${more === 1 ? "line was" : "lines were"} not sent`,
      );
    }
  }

  /**
   * Takes one line's budget from `session` and from its address at `now`;
   * returns null when the line may go, or why it may not.
   */
  #admit(session: ChatSession, now: number): string | null {
    const { rate, burst, ipRate, ipBurst } = this.#settings;
    if (rate > 0) {
      session.bucket ??= new TokenBucket(rate, burst, now);
      if (!session.bucket.take(now)) {
        return `rate limit: at most ${rate} lines/s (burst ${burst}); this line was not sent`;
      }
    }
    if (session.addressBudget !== null && !session.addressBudget.at(now).take(now)) {
      return `rate limit: at most ${ipRate} lines/s from your address ${session.member.address} ` +
        `(burst ${ipBurst}); this line was not sent`;
    }
    return null;
  }

  /** True when flood control is off altogether (no clock needed). */
  get off(): boolean {
    return this.#settings.rate === 0 && this.#addresses === null;
  }

  /**
   * Takes `bytes` of private messages from the budget of `address` towards
   * `target`; false when it is spent.
   */
  privateAllowed(address: string, target: MemberRef, bytes: number, now: number): boolean {
    if (this.#settings.msgBytesRate === 0) return true;
    return this.#private.take(`${address} ${target}`, now, bytes);
  }
}
