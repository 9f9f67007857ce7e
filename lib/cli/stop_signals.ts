/**
 * How the programs take SIGINT and SIGTERM: the first stops gracefully; a
 * deliberate second one, later, stops at once. A signal that arrives within
 * {@linkcode DUPLICATE_SIGNAL_MS} of the first is the same request
 * delivered twice, as `deno task` does: the terminal sends Ctrl-C's SIGINT
 * to the whole process group, and `deno task` forwards it to its child once
 * more. Taking that copy as "stop now" would cut the graceful drain.
 *
 * @module
 */

/**
 * Signals this soon after the first are duplicates of it (ms). A person's
 * second Ctrl-C comes later than this; `deno task`'s forwarded copy comes
 * within a few milliseconds.
 */
export const DUPLICATE_SIGNAL_MS = 1000;

/** Options of {@linkcode stopSignalGate}. */
export interface StopSignalGateOptions {
  /** Signals this soon after the first are ignored (ms). @default {DUPLICATE_SIGNAL_MS} */
  duplicateMs?: number;
  /** The clock (ms). @default {Date.now} */
  now?: () => number;
}

/**
 * The decision for each stop signal: the first calls `stop`, duplicates
 * within `duplicateMs` do nothing, a later one calls `force`.
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { stopSignalGate } from "./stop_signals.ts";
 *
 * let now = 0;
 * const calls: string[] = [];
 * const signal = stopSignalGate(() => calls.push("stop"), () => calls.push("force"), {
 *   now: () => now,
 * });
 * signal();
 * now = 5;
 * signal(); // deno task's forwarded copy
 * now = 2000;
 * signal(); // a second Ctrl-C
 * deepEqual(calls, ["stop", "force"]);
 * ```
 */
export function stopSignalGate(
  stop: () => void,
  force: () => void,
  options: StopSignalGateOptions = {},
): () => void {
  const duplicateMs = options.duplicateMs ?? DUPLICATE_SIGNAL_MS;
  const now = options.now ?? Date.now;
  if (!(duplicateMs >= 0)) {
    throw new RangeError(
      `Cannot make stop signal gate: duplicateMs must be >= 0, received ${duplicateMs}`,
    );
  }
  let first: number | null = null;
  return () => {
    if (first === null) {
      first = now();
      stop();
    } else if (now() - first > duplicateMs) {
      force();
    }
  };
}

/** The signals that stop a program. */
const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;

/**
 * Listens for SIGINT and SIGTERM through {@linkcode stopSignalGate}; a
 * forced stop exits with 130. Returns the function that stops listening.
 */
export function onStopSignals(stop: () => void): () => void {
  const listener = stopSignalGate(stop, () => Deno.exit(130));
  for (const signal of STOP_SIGNALS) Deno.addSignalListener(signal, listener);
  return () => {
    for (const signal of STOP_SIGNALS) Deno.removeSignalListener(signal, listener);
  };
}
