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
 * What an option check's error carries besides its message, so that a
 * caller (a CLI naming its flag) words it without parsing the text.
 */
export interface OptionProblem {
  /** The option's name (`maxLineBytes`). */
  option: string;
  /** What is wrong, without the name (`must be an integer from 1 to 65535`). */
  problem: string;
  /** The value given, as text, when there was one. */
  received?: string;
}

/**
 * A `RangeError` or `TypeError` reading "SUBJECT: OPTION PROBLEM, received
 * VALUE", carrying {@linkcode OptionProblem}.
 */
export function optionError(
  kind: typeof RangeError | typeof TypeError,
  subject: string,
  option: string,
  problem: string,
  received?: string,
): (RangeError | TypeError) & OptionProblem {
  const tail = received === undefined ? "" : `, received ${received}`;
  return Object.assign(new kind(`${subject}: ${option} ${problem}${tail}`), {
    option,
    problem,
    ...(received === undefined ? {} : { received }),
  });
}

/** The {@linkcode OptionProblem} an error carries, if it does. */
export function optionProblem(error: unknown): OptionProblem | undefined {
  const carried = error as Partial<OptionProblem> | null;
  return typeof carried?.option === "string" && typeof carried.problem === "string"
    ? carried as OptionProblem
    : undefined;
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
    throw optionError(TypeError, subject, name, "must be a number", String(value));
  }
  const inRange = (aboveMin ? value > min : value >= min) && value <= max;
  if (!inRange || (integer && !Number.isInteger(value))) {
    const kind = integer ? "an integer" : "a number";
    const range = max === Number.MAX_SAFE_INTEGER
      ? `${aboveMin ? ">" : ">="} ${min}`
      : aboveMin
      ? `> ${min} and <= ${max}`
      : `from ${min} to ${max}`;
    throw optionError(RangeError, subject, name, `must be ${kind} ${range}`, String(value));
  }
  return value;
}

/** A delay in milliseconds that a timer can wait for. */
export const TIMER_MS: NumberRule = { max: MAX_TIMER_MS };

/** A delay in seconds that a timer can wait for. */
export const TIMER_SECONDS: NumberRule = { max: Math.floor(MAX_TIMER_MS / 1000) };
