/**
 * Pacing what a client sends within the limits its server announced
 * (`chat/limits_notice.ts`): pasted lines go out at the server's rate
 * instead of being refused after its burst. Pure: times in, decisions out.
 *
 * @module
 */

import { TokenBucket } from "../support/token_bucket.ts";
import type { ServerLimits } from "../chat/limits_notice.ts";

export { limitsFromNotice, type ServerLimits } from "../chat/limits_notice.ts";

/**
 * Paces lines within a server's rate: a little under it (90 %, and one
 * line of the burst kept back), so that lines bunched on the way still
 * arrive within the server's budget.
 */
export class LinePacer {
  readonly #bucket: TokenBucket;

  constructor(limits: ServerLimits, now: number) {
    const rate = limits.rate * 0.9;
    this.#bucket = new TokenBucket(rate, Math.max(1, limits.burst - 1), now);
  }

  /** Takes one line's budget at `now` (ms); false when the line must wait. */
  take(now: number): boolean {
    return this.#bucket.take(now);
  }

  /** Milliseconds from `now` until one line's budget is back (at least 1). */
  waitMs(): number {
    return this.#bucket.rate === 0 ? 1 : Math.max(1, Math.ceil(1000 / this.#bucket.rate));
  }
}
