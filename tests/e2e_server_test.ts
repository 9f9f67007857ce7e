import { deepEqual, equal, match } from "node:assert/strict";
import { connectChat, syncWho } from "./helpers.ts";
import { runToEnd, startServer } from "./process_helpers.ts";

Deno.test("server.ts --port 0 prints its address, serves chat, and exits 0 on SIGINT", async () => {
  const server = await startServer("server.ts", ["--host", "127.0.0.1", "--port", "0"]);
  const addr = server.addr;
  const alice = await connectChat(addr);
  const bob = await connectChat(addr);
  await alice.send("hello through a real process");
  equal(await bob.nextMatching(/^</), `<${alice.nick}> hello through a real process`);
  await alice.send("/nick alice");
  await alice.nextMatching(/known as alice/);
  await syncWho(bob);
  const stopping = server.stop("SIGINT");
  for (const client of [alice, bob]) {
    equal((await client.untilClosed()).at(-1), "* server shutting down");
    await client.close();
  }
  deepEqual(await stopping, { code: 0, rest: [] });
  const log = await server.stderr;
  match(log, /connect peer=127\.0\.0\.1:\d+ nick=guest-1/);
  match(log, /nick peer=127\.0\.0\.1:\d+ nick=guest-1 to=alice/);
  match(log, /shutdown clients=2/);
  match(log, /disconnect peer=127\.0\.0\.1:\d+ nick=alice reason="server shutting down"/);
});

Deno.test("server.ts logs JSON lines with --log-format json and nothing with --quiet", async () => {
  for (const [flag, expectLog] of [["--log-format=json", true], ["--quiet", false]] as const) {
    const server = await startServer("server.ts", ["--host", "127.0.0.1", "--port", "0", flag]);
    const client = await connectChat(server.addr);
    await syncWho(client);
    const stopping = server.stop();
    await client.untilClosed();
    await client.close();
    equal((await stopping).code, 0);
    const log = await server.stderr;
    if (!expectLog) {
      equal(log, "");
      continue;
    }
    const events = log.trim().split("\n").map((line) => JSON.parse(line));
    deepEqual(events.map((event) => event.event), ["listen", "connect", "shutdown", "disconnect"]);
    equal(events[1].nick, "guest-1");
  }
});

Deno.test("server.ts answers a bad flag with one error line plus usage and exit code 2", async () => {
  for (
    const args of [
      ["--bogus"],
      ["--port", "99999"],
      ["--rate", "-1"],
      ["--mode", "irc"],
      ["extra"],
      ["--transform", "upper"],
      ["--name", ""],
      ["--name", "\x1b[2J"],
    ]
  ) {
    const { code, stdout: out, stderr: err } = await runToEnd("server.ts", args);
    equal(code, 2, args.join(" "));
    equal(out, "");
    const lines = err.trimEnd().split("\n");
    match(lines[0], /^server: error: /);
    equal(lines[1], "Usage: server [options]");
    equal(lines.length, 3, err);
  }
});

Deno.test("server.ts --help lists every flag and --version prints the version", async () => {
  const { code, stdout: out } = await runToEnd("server.ts", ["--help"]);
  equal(code, 0);
  for (
    const flag of [
      "--mode",
      "--host",
      "--port",
      "--max-clients",
      "--max-per-ip",
      "--max-line-bytes",
      "--max-queue-bytes",
      "--rate",
      "--burst",
      "--history",
      "--announce-limit",
      "--idle-timeout",
      "--shutdown-timeout",
      "--transform",
      "--log-format",
      "--quiet",
      "--version",
    ]
  ) match(out, new RegExp(flag));
  const version = await runToEnd("server.ts", ["--version"]);
  equal(version.code, 0);
  equal(version.stdout, "0.1.0\n");
});

Deno.test("server.ts exits 1 with one line when the port is taken", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { code, stdout: out, stderr: err } = await runToEnd("server.ts", [
    "--host",
    "127.0.0.1",
    "--port",
    String(taken.addr.port),
  ]);
  taken.close();
  equal(code, 1);
  equal(out, "");
  match(err, /^server: cannot listen on 127\.0\.0\.1:\d+ \(--port \d+\): .*\n$/);
});
