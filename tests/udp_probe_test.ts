import { deepEqual, equal } from "node:assert/strict";
import {
  buildRequest,
  classifyReply,
  emptyStats,
  formatSummary,
  percentile,
  PROBE_HEADER_BYTES,
  setAttempt,
} from "../lib/echo/udp_probe.ts";

const message = new TextEncoder().encode("hello");

Deno.test({
  name: "classifyReply() accepts an exact echo from any attempt",
  permissions: "none",
  fn() {
    const request = buildRequest(42, 7, message);
    equal(request.length, PROBE_HEADER_BYTES + 5);
    const echo = request.slice();
    setAttempt(request, 2); // the request was retried since; the echo is of attempt 0
    deepEqual(classifyReply(echo, request, 42, 7, new Set()), { kind: "reply", attempt: 0 });
  },
});

Deno.test({
  name: "classifyReply() tells corrupt, late, duplicate and stray datagrams apart",
  permissions: "none",
  fn() {
    const request = buildRequest(42, 7, undefined, 64);
    const corrupt = request.slice();
    corrupt[40] ^= 1;
    deepEqual(classifyReply(corrupt, request, 42, 7, new Set()), { kind: "corrupt", sequence: 7 });
    deepEqual(classifyReply(request.slice(0, 63), request, 42, 7, new Set()), {
      kind: "corrupt",
      sequence: 7,
    });
    const earlier = buildRequest(42, 6, undefined, 64);
    deepEqual(classifyReply(earlier, request, 42, 7, new Set()), { kind: "late", sequence: 6 });
    deepEqual(classifyReply(earlier, request, 42, 7, new Set([6])), {
      kind: "duplicate",
      sequence: 6,
    });
    deepEqual(classifyReply(request, request, 42, 7, new Set([7])), {
      kind: "duplicate",
      sequence: 7,
    });
    deepEqual(classifyReply(buildRequest(43, 7, undefined, 64), request, 42, 7, new Set()), {
      kind: "stray",
    });
    deepEqual(classifyReply(new Uint8Array(3), request, 42, 7, new Set()), { kind: "stray" });
  },
});

Deno.test({
  name: "buildRequest() in ping mode fills the payload with a per-sequence pattern",
  permissions: "none",
  fn() {
    const a = buildRequest(1, 1, undefined, 100);
    const b = buildRequest(1, 2, undefined, 100);
    equal(a.length, 100);
    equal(a.subarray(16).every((byte, i) => byte === b[16 + i]), false);
    equal(buildRequest(1, 1, undefined, 3).length, PROBE_HEADER_BYTES); // never below the header
  },
});

Deno.test({
  name: "percentile() uses the nearest rank",
  permissions: "none",
  fn() {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1
    equal(percentile(values, 50), 50);
    equal(percentile(values, 99), 99);
    equal(percentile(values, 100), 100);
    equal(percentile([5], 99), 5);
    equal(Number.isNaN(percentile([], 50)), true);
  },
});

Deno.test({
  name: "formatSummary() reports loss as a count and a percentage, and RTT figures",
  permissions: "none",
  fn() {
    const stats = { ...emptyStats(), sent: 4, received: 3, rtts: [1, 2, 3] };
    deepEqual(formatSummary("h:1", stats), [
      "--- h:1 udp echo statistics ---",
      "4 sent, 3 received, 1 lost (25.0%), 0 corrupt, 0 late, 0 duplicate",
      "rtt min/avg/max/p99 = 1.000/2.000/3.000/3.000 ms",
    ]);
    equal(formatSummary("h:1", { ...emptyStats(), sent: 2 }).length, 2); // no RTT line
  },
});
