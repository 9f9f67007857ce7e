/**
 * Smaller things a new user meets on the first day (issue 17 §5, §8).
 *
 * @module
 */

import { equal } from "node:assert/strict";
import { chatHubSettings } from "../lib/chat/settings.ts";
import { parseServerArgs } from "../lib/cli/server_cli.ts";

const quiet = { out: () => {}, err: () => {} };

Deno.test({
  name: "a chat member who only reads is never closed as idle by default",
  permissions: "none",
  fn() {
    equal(chatHubSettings({}).idleTimeout, 0);
    const parsed = parseServerArgs([], quiet);
    equal(parsed.ok && parsed.options.options.idleTimeout, 0);
    // --idle-timeout stays as an option.
    const timed = parseServerArgs(["--idle-timeout", "600"], quiet);
    equal(timed.ok && timed.options.options.idleTimeout, 600);
  },
});
