/**
 * Logging of events that can come in floods (refusals, failed TLS
 * handshakes): the first of a burst is logged at once, the rest of the
 * next second as one line per reason with a count.
 *
 * @module
 */

import type { LogEvent, Logger } from "../support/log.ts";

/** Milliseconds over which events are summed into one log line. */
export const BURST_LOG_WINDOW_MS = 1000;

/** Distinct reasons summed in one window; events with further reasons share one line. */
export const MAX_BURST_REASONS = 32;

/** The reason of the line that sums events past {@linkcode MAX_BURST_REASONS}. */
export const OTHER_REASONS = "other reasons";

/**
 * A logger front that sums bursts.
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import type { LogEvent } from "../support/log.ts";
 * import { BurstLog } from "./burst_log.ts";
 *
 * const lines: LogEvent[] = [];
 * const log = new BurstLog((event) => lines.push(event));
 * log.log({ event: "refuse", peer: "10.0.0.1:5000", reason: "server full" });
 * log.log({ event: "refuse", peer: "10.0.0.2:5000", reason: "server full" });
 * log.close(); // flushes the sum
 * deepEqual(lines.map((event) => event.more), [undefined, 1]);
 * ```
 */
export class BurstLog {
  readonly #log: Logger;
  /** Events in the current window, after the first, by kind and reason. */
  readonly #suppressed = new Map<
    string,
    { event: LogEvent["event"]; reason: string; more: number }
  >();
  #window: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(logger: Logger) {
    this.#log = logger;
  }

  /** Logs `event` now if it opens a window, else counts it. */
  log(event: LogEvent & { reason: string }): void {
    if (this.#closed) return this.#log(event);
    if (this.#window === undefined) {
      this.#log(event);
      this.#window = setTimeout(() => {
        this.#window = undefined;
        this.#flush();
      }, BURST_LOG_WINDOW_MS);
      Deno.unrefTimer(this.#window);
      return;
    }
    let reason = event.reason;
    let key = `${event.event}\n${reason}`;
    if (!this.#suppressed.has(key) && this.#suppressed.size >= MAX_BURST_REASONS) {
      // Reasons can carry details (an error text): the map stays bounded.
      reason = OTHER_REASONS;
      key = `${event.event}\n${reason}`;
    }
    const sum = this.#suppressed.get(key);
    if (sum !== undefined) sum.more++;
    else this.#suppressed.set(key, { event: event.event, reason, more: 1 });
  }

  /** Logs what the window summed and stops windowing (later events go straight through). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#window);
    this.#window = undefined;
    this.#flush();
  }

  #flush(): void {
    for (const { event, reason, more } of this.#suppressed.values()) {
      this.#log({ event, reason, more, within: `${BURST_LOG_WINDOW_MS} ms` });
    }
    this.#suppressed.clear();
  }
}
