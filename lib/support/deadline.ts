/**
 * Waiting for something at most so long. Pure (timers only).
 *
 * @module
 */

/**
 * Resolves with `work`'s value, or with `otherwise` once `ms` have passed,
 * whichever comes first; the timer never outlives the wait.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { settleWithin } from "./deadline.ts";
 *
 * equal(await settleWithin(new Promise(() => {}), 10, "late"), "late");
 * equal(await settleWithin(Promise.resolve("now"), 10, "late"), "now");
 * ```
 */
export async function settleWithin<T, U>(
  work: Promise<T>,
  ms: number,
  otherwise: U,
): Promise<T | U> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<U>((resolve) => (timer = setTimeout(() => resolve(otherwise), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
