/**
 * Checks of numeric options, shared by every constructor that takes them,
 * so a bad value is refused at construction with one message shape:
 * `Cannot create ChatHub: burst must be an integer from 1 to 1000000000, received 0`.
 *
 * @module
 */

/** The longest delay a timer takes: longer ones fire at once (after 1 ms). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** What a numeric option must be. */
export interface NumberRule {
  /** Smallest value allowed. @default {0} */
  min?: number;
  /** Largest value allowed. @default {Number.MAX_SAFE_INTEGER} */
  max?: number;
  /** Whether only integers are allowed. @default {false} */
  integer?: boolean;
  /** Whether `min` itself is refused (a value must be above it). @default {false} */
  aboveMin?: boolean;
}

/**
 * Returns `value` when it satisfies `rule`; otherwise throws a `TypeError`
 * (not a number) or a `RangeError` naming `subject` and the option.
 *
 * @example
 * ```ts
 * import { checkNumber } from "./options.ts";
 * checkNumber("Cannot start the server", "shutdownTimeout", 5000); // 5000
 * ```
 */
export function checkNumber(
  subject: string,
  name: string,
  value: unknown,
  rule: NumberRule = {},
): number {
  const { min = 0, max = Number.MAX_SAFE_INTEGER, integer = false, aboveMin = false } = rule;
  if (typeof value !== "number") {
    throw new TypeError(`${subject}: ${name} must be a number, received ${String(value)}`);
  }
  const inRange = (aboveMin ? value > min : value >= min) && value <= max;
  if (!inRange || (integer && !Number.isInteger(value))) {
    const kind = integer ? "an integer" : "a number";
    const range = max === Number.MAX_SAFE_INTEGER
      ? `${aboveMin ? ">" : ">="} ${min}`
      : aboveMin
      ? `> ${min} and <= ${max}`
      : `from ${min} to ${max}`;
    throw new RangeError(`${subject}: ${name} must be ${kind} ${range}, received ${value}`);
  }
  return value;
}

/** A delay in milliseconds that a timer can wait for. */
export const TIMER_MS: NumberRule = { max: MAX_TIMER_MS };

/** A delay in seconds that a timer can wait for. */
export const TIMER_SECONDS: NumberRule = { max: Math.floor(MAX_TIMER_MS / 1000) };
