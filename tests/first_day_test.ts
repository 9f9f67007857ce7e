/**
 * Smaller things a new user meets on the first day (issue 17 §5, §8).
 *
 * @module
 */

import { equal, match } from "node:assert/strict";
import { chatHubSettings } from "../lib/chat/settings.ts";
import { checkNick } from "../lib/chat/names.ts";
import { parseServerArgs } from "../lib/cli/server_cli.ts";
import { serveChat } from "../lib/server/serve_chat.ts";
import { connectChat, LOOPBACK } from "./helpers.ts";

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

Deno.test({
  name: "checkNick() refuses a combining dot above on i, j, ı, ȷ and l-like letters",
  permissions: "none",
  fn() {
    for (
      const nick of [
        "al\u0307ice", // l + dot above
        "\u0237\u0307im", // dotless ȷ + dot above
        "al\u0131\u0307ce", // dotless ı + dot above
        "ali\u0307ce", // i + dot above
        "j\u0307im",
        "al\u0301\u0307ice", // another mark between
      ]
    ) {
      match(checkNick(nick) ?? "", /dot above on i, j or l/, JSON.stringify(nick));
    }
    // Turkish İ (capital I with the dot) and other dotted letters stay allowed.
    equal(checkNick("İsmail"), undefined);
    equal(checkNick("żaneta"), undefined);
  },
});

Deno.test("a look-alike nick's refusal names the nick it looks like", async () => {
  await using server = serveChat({ ...LOOPBACK });
  await server.ready;
  await using alice = await connectChat(server.addr);
  await using other = await connectChat(server.addr);
  await alice.send("/nick alice");
  await alice.nextMatching(/known as alice/);
  await other.send("/nick al1ce");
  match(
    await other.nextMatching(/^! /),
    /^! nick al1ce is taken: it looks like alice, who is online \(/,
  );
  await other.send("/nick alice");
  equal(await other.nextMatching(/^! /), "! nick alice is taken");
});
