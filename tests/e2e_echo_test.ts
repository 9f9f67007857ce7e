import { equal, match } from "node:assert/strict";
import { utf8, within } from "./helpers.ts";
import { ChildLines, denoRun, listeningAddr, readAll } from "./process_helpers.ts";

async function run(entry: string, args: string[], input?: string) {
  const child = denoRun(entry, args, { stdin: input === undefined ? "null" : "piped" });
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(utf8(input));
    await writer.close();
  }
  const [status, stdout, stderr] = await Promise.all([
    within(child.status, `${entry} to exit`),
    readAll(child.stdout),
    readAll(child.stderr),
  ]);
  return { code: status.code, stdout, stderr };
}

Deno.test("udp_echo.ts serve and send: replies, summary, counters on SIGINT, exit codes", async () => {
  const server = denoRun("udp_echo.ts", ["serve", "--host", "127.0.0.1", "--port", "0", "-q"]);
  const out = new ChildLines(server.stdout);
  const addr = await listeningAddr(out);
  const target = `127.0.0.1:${addr.port}`;

  const ping = await run("udp_echo.ts", ["send", target, "--count", "5", "--interval", "0"]);
  equal(ping.code, 0, ping.stderr);
  const lines = ping.stdout.trimEnd().split("\n");
  equal(lines.filter((line) => /^64 bytes from .* seq=\d time=/.test(line)).length, 5);
  equal(lines.at(-2), "5 sent, 5 received, 0 lost (0.0%), 0 corrupt, 0 late, 0 duplicate");

  const piped = await run("udp_echo.ts", ["send", target], "first line\nsecond line\n");
  equal(piped.code, 0);
  match(piped.stdout, /seq=1 time=[\d.]+ ms: first line\n.*seq=2 time=[\d.]+ ms: second line\n/);

  server.kill("SIGINT");
  equal((await within(server.status, "the UDP server to exit")).code, 0);
  // 5 × 64 bytes of pings, then 16 + 10 and 16 + 11 for the two lines.
  equal(await out.next(), "udp echo: 7 datagrams, 373 bytes, 0 errors");
  await readAll(server.stderr);

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
    match(result.stderr, /^udp_echo: error: /);
  }
});

Deno.test("server.ts --mode echo driven by client.ts in a pipe, plain and upper-cased", async () => {
  for (
    const [flags, expected] of [[[], "hello, мир\n"], [
      ["--transform", "upper"],
      "HELLO, МИР\n",
    ]] as const
  ) {
    const server = denoRun("server.ts", [
      "--mode",
      "echo",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      ...flags,
    ]);
    const out = new ChildLines(server.stdout);
    const addr = await listeningAddr(out);
    const client = await run("client.ts", [`127.0.0.1:${addr.port}`], "hello, мир\n");
    equal(client.code, 0, client.stderr);
    equal(client.stdout, expected);
    server.kill("SIGTERM");
    equal((await within(server.status, "the echo server to exit")).code, 0);
    await out.rest();
    match(
      await readAll(server.stderr),
      /disconnect peer=127\.0\.0\.1:\d+ reason="connection closed"/,
    );
  }
});
