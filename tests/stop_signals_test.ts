import { deepEqual, throws } from "node:assert/strict";
import { DUPLICATE_SIGNAL_MS, stopSignalGate } from "../lib/cli/stop_signals.ts";

function gate() {
  let now = 1_000;
  const calls: string[] = [];
  const signal = stopSignalGate(() => calls.push("stop"), () => calls.push("force"), {
    now: () => now,
  });
  return { signal, calls, advance: (ms: number) => (now += ms) };
}

Deno.test({
  name: "stopSignalGate() takes deno task's forwarded copy of Ctrl-C as the same request",
  permissions: "none",
  fn() {
    const { signal, calls, advance } = gate();
    signal();
    advance(3);
    signal(); // forwarded by deno task
    advance(DUPLICATE_SIGNAL_MS - 3);
    signal(); // still within the moment
    deepEqual(calls, ["stop"]);
  },
});

Deno.test({
  name: "stopSignalGate() forces the stop on a second Ctrl-C a moment later",
  permissions: "none",
  fn() {
    const { signal, calls, advance } = gate();
    signal();
    advance(DUPLICATE_SIGNAL_MS + 1);
    signal();
    deepEqual(calls, ["stop", "force"]);
    throws(() => stopSignalGate(() => {}, () => {}, { duplicateMs: -1 }), RangeError);
  },
});
