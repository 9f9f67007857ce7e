import { equal, match } from "node:assert/strict";
import { descriptorWarning, parseUlimit } from "../lib/net/limits.ts";

const pure = { permissions: "none" } as const;

Deno.test({
  ...pure,
  name: "parseUlimit() reads `ulimit -Sn; ulimit -Hn`, unlimited included",
  fn() {
    equal(
      JSON.stringify(parseUlimit("1024\n524288\n")),
      JSON.stringify({ soft: 1024, hard: 524288 }),
    );
    equal(parseUlimit("unlimited\nunlimited\n")!.soft, Infinity);
    equal(parseUlimit("sh: ulimit: not found"), null);
  },
});

Deno.test({
  ...pure,
  name: "descriptorWarning() warns when --max-clients needs more descriptors than the soft limit",
  fn() {
    equal(descriptorWarning({ soft: 2048, hard: 4096 }, 1096), null);
    equal(descriptorWarning(null, 1096), null); // unknown: no warning
    match(
      descriptorWarning({ soft: 1024, hard: 524288 }, 1096)!,
      /^the descriptor limit \(1024\) is below the 1096 that --max-clients needs .*ulimit -n 1096/,
    );
    match(descriptorWarning({ soft: 256, hard: 256 }, 1096)!, /raise the hard limit \(256\) too/);
  },
});
