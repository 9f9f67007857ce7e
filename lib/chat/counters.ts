/**
 * What a hub counts as it runs, for the metrics (`lib/server/metrics.ts`
 * reads them when scraped). Plain numbers, bumped in place: no cost worth
 * a switch. Pure.
 *
 * @module
 */

/** The counts of a `ChatHub`'s work since it started. */
export interface HubCounters {
  /** Lines received from members (every line, commands and refused ones included). */
  linesIn: number;
  /** Events queued to members (lines out, history and notices included). */
  linesOut: number;
  /** Lines refused by flood control (`--rate`, `--ip-rate`). */
  floodDrops: number;
  /** Lines skipped as longer than `--max-line-bytes`. */
  longLineDrops: number;
}

/** Counters at zero. */
export function hubCounters(): HubCounters {
  return { linesIn: 0, linesOut: 0, floodDrops: 0, longLineDrops: 0 };
}
