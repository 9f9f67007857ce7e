import { deepEqual, equal, match } from "node:assert/strict";
import { connectChat, syncWho, within } from "./helpers.ts";
import { ChildLines, denoRun, listeningAddr, readAll } from "./process_helpers.ts";

Deno.test("server.ts --port 0 prints its address, serves chat, and exits 0 on SIGINT", async () => {
  const child = denoRun("server.ts", ["--host", "127.0.0.1", "--port", "0"]);
  const stdout = new ChildLines(child.stdout);
  const stderr = readAll(child.stderr);
  const addr = await listeningAddr(stdout);
  const alice = await connectChat(addr);
  const bob = await connectChat(addr);
  await alice.send("hello through a real process");
  equal(await bob.nextMatching(/^</), `<${alice.nick}> hello through a real process`);
  await alice.send("/nick alice");
  await alice.nextMatching(/known as alice/);
  await syncWho(bob);
  child.kill("SIGINT");
  for (const client of [alice, bob]) {
    equal((await client.untilClosed()).at(-1), "* server shutting down");
    await client.close();
  }
  const status = await within(child.status, "the server to exit");
  equal(status.code, 0);
  deepEqual(await stdout.rest(), []);
  const log = await stderr;
  match(log, /connect peer=127\.0\.0\.1:\d+ nick=guest-1/);
  match(log, /nick peer=127\.0\.0\.1:\d+ nick=guest-1 to=alice/);
  match(log, /shutdown clients=2/);
  match(log, /disconnect peer=127\.0\.0\.1:\d+ nick=alice reason="server shutting down"/);
});

Deno.test("server.ts logs JSON lines with --log-format json and nothing with --quiet", async () => {
  for (const [flag, expectLog] of [["--log-format=json", true], ["--quiet", false]] as const) {
    const child = denoRun("server.ts", ["--host", "127.0.0.1", "--port", "0", flag]);
    const stdout = new ChildLines(child.stdout);
    const stderr = readAll(child.stderr);
    const addr = await listeningAddr(stdout);
    const client = await connectChat(addr);
    await syncWho(client);
    child.kill("SIGTERM");
    await client.untilClosed();
    await client.close();
    equal((await child.status).code, 0);
    await stdout.rest();
    const log = await stderr;
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
      [
        "--transform",
        "upper",
      ],
    ]
  ) {
    const child = denoRun("server.ts", args);
    const [status, out, err] = await Promise.all([
      child.status,
      readAll(child.stdout),
      readAll(child.stderr),
    ]);
    equal(status.code, 2, args.join(" "));
    equal(out, "");
    const lines = err.trimEnd().split("\n");
    match(lines[0], /^server: error: /);
    equal(lines[1], "Usage: server [options]");
    equal(lines.length, 3, err);
  }
});

Deno.test("server.ts --help lists every flag and --version prints the version", async () => {
  const help = denoRun("server.ts", ["--help"]);
  const [status, out] = await Promise.all([
    help.status,
    readAll(help.stdout),
    readAll(help.stderr),
  ]);
  equal(status.code, 0);
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
  const version = denoRun("server.ts", ["--version"]);
  const [vStatus, vOut] = await Promise.all([
    version.status,
    readAll(version.stdout),
    readAll(version.stderr),
  ]);
  equal(vStatus.code, 0);
  equal(vOut, "0.1.0\n");
});

Deno.test("server.ts exits 1 with one line when the port is taken", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const child = denoRun("server.ts", ["--host", "127.0.0.1", "--port", String(taken.addr.port)]);
  const [status, out, err] = await Promise.all([
    child.status,
    readAll(child.stdout),
    readAll(child.stderr),
  ]);
  taken.close();
  equal(status.code, 1);
  equal(out, "");
  match(err, /^server: cannot listen on 127\.0\.0\.1:\d+: .*\n$/);
});
