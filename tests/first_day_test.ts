/**
 * Smaller things a new user meets on the first day (issue 17 §5, §8).
 *
 * @module
 */

import { deepEqual, equal, match } from "node:assert/strict";
import { chatHubSettings } from "../lib/chat/settings.ts";
import { checkNick } from "../lib/chat/names.ts";
import { parseServerArgs } from "../lib/cli/server_cli.ts";
import { serveChat } from "../lib/server/serve_chat.ts";
import { connectChat, LOOPBACK, syncWho } from "./helpers.ts";
import { runToEnd } from "./process_helpers.ts";
import { createLogger } from "../lib/support/log.ts";
import { firstLineNick } from "../lib/transport/tcp_lines.ts";

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

Deno.test({
  name: "--allow-origin without a scheme is a bad flag, and an origin is kept as browsers send it",
  permissions: "none",
  fn() {
    let errors = "";
    const bad = parseServerArgs(["--allow-origin", "example.org"], {
      out: () => {},
      err: (text) => void (errors += text),
    });
    equal(bad.ok, false);
    match(errors, /--allow-origin .*must be a web origin, scheme:\/\/host\[:port\]/);
    const good = parseServerArgs(
      ["--allow-origin", "https://Chat.Example.org/", "--allow-origin", "http://localhost:8080"],
      quiet,
    );
    deepEqual(good.ok && good.options.options.allowOrigins, [
      "https://chat.example.org",
      "http://localhost:8080",
    ]);
  },
});

Deno.test({
  name: "a hub option refused by the hub is a usage error naming its flag",
  permissions: "none",
  fn() {
    let errors = "";
    const output = { out: () => {}, err: (text: string) => void (errors += text) };
    equal(parseServerArgs(["--max-line-bytes", "3"], output).ok, false);
    match(
      errors,
      /^server: error: --max-line-bytes must be an integer from \d+ to \d+, received 3\n/,
    );
  },
});

Deno.test("server.ts names a busy --http-port and logs no shutdown when it never started", async () => {
  using busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { code, stderr } = await runToEnd("server.ts", [
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--http-port",
    String(busy.addr.port),
  ]);
  equal(code, 1);
  equal(
    stderr,
    `server: cannot listen on 127.0.0.1:${busy.addr.port} (--http-port ${busy.addr.port}): address already in use\n`,
  );
});

Deno.test({
  name: "createLogger() JSON lines carry level, msg, pid, hostname, and a cluster node's id",
  permissions: "none",
  fn() {
    const lines: string[] = [];
    const origin = { pid: 7, hostname: "box", node: "ab12cd34" };
    const json = createLogger({ format: "json", write: (line) => lines.push(line), origin });
    json({ event: "error", reason: "disk full" });
    json({ event: "connect", peer: "127.0.0.1:5" });
    const [error, connect] = lines.map((line) => JSON.parse(line));
    deepEqual(
      [error.level, error.msg, error.pid, error.hostname, error.node],
      ["error", 'error reason="disk full"', 7, "box", "ab12cd34"],
    );
    equal(connect.level, "info");
    const text = createLogger({ write: (line) => lines.push(line), origin });
    text({ event: "connect", peer: "127.0.0.1:5" });
    match(lines.at(-1)!, /^\S+ node=ab12cd34 connect peer=127\.0\.0\.1:5$/);
  },
});

Deno.test("client.ts --nick joins under that nick: the room never sees a guest renamed", async () => {
  await using server = serveChat({ ...LOOPBACK });
  await server.ready;
  await using alice = await connectChat(server.addr);
  await syncWho(alice);
  const run = await runToEnd("client.ts", [`127.0.0.1:${server.addr.port}`, "--nick", "ann"], "");
  equal(run.code, 0, run.stderr);
  match(run.stdout, /^\* welcome to parley, ann\n/);
  const { before } = await syncWho(alice);
  equal(before[0], "* ann joined lobby");
  equal(before.some((line) => /guest|known as/.test(line)), false, before.join("\n"));
});

Deno.test({
  name: "firstLineNick() reads a first line /nick NAME, with its ending, and nothing else",
  permissions: "none",
  fn() {
    const bytes = (text: string) => new TextEncoder().encode(text);
    deepEqual(firstLineNick(bytes("/nick ann\r\nhello\n")), { nick: "ann", lineBytes: 11 });
    deepEqual(firstLineNick(bytes("/NICK Zoë\n")), { nick: "Zoë", lineBytes: 11 });
    equal(firstLineNick(bytes("/nick ann")), undefined); // not whole yet
    equal(firstLineNick(bytes("/nick ann bob\n")), undefined);
    equal(firstLineNick(bytes("hello\n/nick ann\n")), undefined);
  },
});
