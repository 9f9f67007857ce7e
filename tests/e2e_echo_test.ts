import { deepEqual, equal, match } from "node:assert/strict";
import { runToEnd, startEchoServer, startServer } from "./process_helpers.ts";

const run = runToEnd;

Deno.test("udp_echo.ts serve and send: replies, summary, counters on SIGINT, exit codes", async () => {
  const server = await startServer("udp_echo.ts", [
    "serve",
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "-q",
  ]);
  const addr = server.addr;
  const target = `127.0.0.1:${addr.port}`;

  const ping = await run("udp_echo.ts", ["send", target, "--count", "5", "--interval", "0"]);
  equal(ping.code, 0, ping.stderr);
  const lines = ping.stdout.trimEnd().split("\n");
  equal(lines.filter((line) => /^64 bytes from .* seq=\d time=/.test(line)).length, 5);
  equal(lines.at(-2), "5 sent, 5 received, 0 lost (0.0%), 0 corrupt, 0 late, 0 duplicate");

  const piped = await run("udp_echo.ts", ["send", target], "first line\nsecond line\n");
  equal(piped.code, 0);
  match(piped.stdout, /seq=1 time=[\d.]+ ms: first line\n.*seq=2 time=[\d.]+ ms: second line\n/);

  const stopped = await server.stop("SIGINT");
  equal(stopped.code, 0);
  // 5 × 64 bytes of pings, then 16 + 10 and 16 + 11 for the two lines.
  deepEqual(stopped.rest, [
    "udp echo: 7 datagrams, 373 bytes, 0 errors; dropped: 0 from itself, 0 from service ports, 0 over the rate",
  ]);
  await server.stderr;

  // The server is gone: the same request now times out, exit 1.
  const lost = await run("udp_echo.ts", [
    "send",
    target,
    "x",
    "--timeout",
    "100",
    "--retries",
    "1",
  ]);
  equal(lost.code, 1);
  match(lost.stdout, /seq=1 lost: no reply after 2 attempts/);
});

Deno.test("udp_echo.ts answers bad usage with exit code 2", async () => {
  for (
    const args of [
      ["bogus"],
      ["send"],
      ["send", "nohost"],
      ["send", "h:1", "--size", "70000"],
      ["send", "h:1", "x", "--count", "2"],
      ["serve", "--port", "-1"],
    ]
  ) {
    const result = await run("udp_echo.ts", args);
    equal(result.code, 2, args.join(" "));
    match(result.stderr, /^udp_echo( serve| send)?: error: /); // a subcommand names itself
  }
});

Deno.test("server.ts --mode echo driven by client.ts in a pipe, plain and upper-cased", async () => {
  for (
    const [flags, expected] of [[[], "hello, мир\n"], [
      ["--transform", "upper"],
      "HELLO, МИР\n",
    ]] as const
  ) {
    const server = await startEchoServer([...flags]);
    const client = await run("client.ts", [`127.0.0.1:${server.addr.port}`], "hello, мир\n");
    equal(client.code, 0, client.stderr);
    equal(client.stdout, expected);
    equal((await server.stop()).code, 0);
    match(await server.stderr, /disconnect peer=127\.0\.0\.1:\d+ reason="connection closed"/);
  }
});
