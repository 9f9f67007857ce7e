import { equal, throws } from "node:assert/strict";
import { checkNumber, MAX_TIMER_MS, TIMER_MS, TIMER_SECONDS } from "../lib/support/options.ts";

const pure = { permissions: "none" } as const;

Deno.test({
  ...pure,
  name: "checkNumber() returns values inside the rule",
  fn() {
    equal(checkNumber("S", "n", 0), 0);
    equal(checkNumber("S", "n", 2.5, { min: 1, max: 3 }), 2.5);
    equal(checkNumber("S", "n", 3, { min: 1, max: 3, integer: true }), 3);
    equal(checkNumber("S", "n", 0.001, { aboveMin: true }), 0.001);
  },
});

Deno.test({
  ...pure,
  name: "checkNumber() names the subject, the option and the value it refuses",
  fn() {
    throws(() => checkNumber("Cannot start", "port", -1), {
      name: "RangeError",
      message: "Cannot start: port must be a number >= 0, received -1",
    });
    throws(() => checkNumber("S", "n", 1.5, { min: 1, max: 9, integer: true }), {
      name: "RangeError",
      message: "S: n must be an integer from 1 to 9, received 1.5",
    });
    throws(() => checkNumber("S", "n", 0, { aboveMin: true }), {
      message: "S: n must be a number > 0, received 0",
    });
    for (const bad of [Number.NaN, Infinity, -Infinity, 10]) {
      throws(() => checkNumber("S", "n", bad, { max: 9 }), RangeError, String(bad));
    }
    throws(() => checkNumber("S", "n", Infinity), RangeError);
    throws(() => checkNumber("S", "n", "5"), {
      name: "TypeError",
      message: "S: n must be a number, received 5",
    });
  },
});

Deno.test({
  ...pure,
  name: "checkNumber() with TIMER_MS refuses a delay a timer cannot wait for",
  fn() {
    equal(checkNumber("S", "t", MAX_TIMER_MS, TIMER_MS), MAX_TIMER_MS);
    throws(() => checkNumber("S", "t", MAX_TIMER_MS + 1, TIMER_MS), {
      message: `S: t must be a number from 0 to ${MAX_TIMER_MS}, received ${MAX_TIMER_MS + 1}`,
    });
    throws(() => checkNumber("S", "t", 3e6, TIMER_SECONDS), RangeError);
    throws(() => checkNumber("S", "t", 0, { ...TIMER_MS, aboveMin: true }), {
      message: `S: t must be a number > 0 and <= ${MAX_TIMER_MS}, received 0`,
    });
  },
});
