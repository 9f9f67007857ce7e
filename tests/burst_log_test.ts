import { deepEqual, equal } from "node:assert/strict";
import type { LogEvent } from "../lib/support/log.ts";
import { BurstLog, MAX_BURST_REASONS, OTHER_REASONS } from "../lib/net/burst_log.ts";

Deno.test({
  name: "BurstLog logs the first event at once and sums the rest by reason",
  permissions: "none",
  fn() {
    const lines: LogEvent[] = [];
    const log = new BurstLog((event) => lines.push(event));
    for (let i = 0; i < 30; i++) {
      log.log({ event: "refuse", peer: `10.0.0.${i}:1`, reason: i % 3 ? "server full" : "per-ip" });
    }
    equal(lines.length, 1, "only the first, until the window ends");
    log.close();
    deepEqual(
      lines.slice(1).map(({ reason, more }) => [reason, more]).sort(),
      [["per-ip", 9], ["server full", 20]],
    );
    const total = lines.reduce((sum, event) => sum + ((event.more as number) ?? 1), 0);
    equal(total, 30, "every event is counted once");
    log.log({ event: "refuse", reason: "after close" });
    equal(lines.at(-1)?.reason, "after close");
  },
});

Deno.test({
  name: "BurstLog keeps at most MAX_BURST_REASONS reasons in a window, summing the others",
  permissions: "none",
  fn() {
    const lines: LogEvent[] = [];
    const log = new BurstLog((event) => lines.push(event));
    const extra = 10;
    for (let i = 0; i <= MAX_BURST_REASONS + extra; i++) {
      log.log({ event: "error", reason: `send failed: error ${i}` });
    }
    log.close();
    equal(lines.length, 1 + MAX_BURST_REASONS + 1);
    const other = lines.find((event) => event.reason === OTHER_REASONS);
    equal(other?.more, extra);
  },
});
