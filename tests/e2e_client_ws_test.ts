import { deepEqual, equal, match } from "node:assert/strict";
import { serveWebSocketEcho } from "../lib/echo/serve_echo.ts";
import { serveChat } from "../lib/server/serve_chat.ts";
import type { LogEvent } from "../lib/support/log.ts";
import { connectChat, LOOPBACK, utf8, within } from "./helpers.ts";
import { ChildLines, denoRun, readAll, runToEnd } from "./process_helpers.ts";

/** Runs client.ts with `input` on stdin (then EOF); returns exit code and output. */
const runClient = (args: string[], input: string) => runToEnd("client.ts", args, input);

Deno.test("client.ts ws:// in a pipe sends each stdin line as a message and prints each echo", async () => {
  const disconnects: LogEvent[] = [];
  const disconnected = Promise.withResolvers<void>();
  await using server = await serveWebSocketEcho({
    ...LOOPBACK,
    logger: (event) => {
      if (event.event !== "disconnect") return;
      disconnects.push(event);
      disconnected.resolve();
    },
  });
  const result = await runClient([`ws://127.0.0.1:${server.addr.port}/`], "a\nb\n");
  equal(result.code, 0, result.stderr);
  equal(result.stderr, "");
  equal(result.stdout, "a\nb\n");
  // At EOF the client closed the connection itself, cleanly.
  await within(disconnected.promise, "the server to see the close");
  equal(disconnects[0].reason, "closed 1000");
});

Deno.test("client.ts ws:// --binary sends stdin as binary messages and writes them back byte-exact", async () => {
  await using server = await serveWebSocketEcho(LOOPBACK);
  const input = new Uint8Array(200_000);
  for (let i = 0; i < input.length; i++) input[i] = (i * 7919 + (i >> 8)) & 0xff;
  const child = denoRun("client.ts", [`ws://127.0.0.1:${server.addr.port}/`, "--binary"], {
    stdin: "piped",
  });
  const writer = child.stdin.getWriter();
  await writer.write(input);
  await writer.close();
  const [status, stdout, stderr] = await Promise.all([
    within(child.status, "the client to exit"),
    new Response(child.stdout).bytes(),
    readAll(child.stderr),
  ]);
  equal(status.code, 0, stderr);
  equal(stdout.length, input.length);
  deepEqual(stdout, input);
});

Deno.test("client.ts ws:// exits 1 with one line when the server closes with 1009", async () => {
  await using server = await serveWebSocketEcho({ ...LOOPBACK, maxMessageBytes: 16 });
  const result = await runClient(
    [`ws://127.0.0.1:${server.addr.port}/`],
    "short\nthis line is longer than sixteen bytes\n",
  );
  equal(result.code, 1);
  equal(result.stdout, "short\n");
  equal(result.stderr, "client: connection closed: 1009 message too big\n");
});

Deno.test("client.ts ws://…/ws in a pipe is a chat client", async () => {
  await using server = serveChat({ ...LOOPBACK, httpPort: 0 });
  await server.ready;
  await using bob = await connectChat(server.addr);
  const child = denoRun("client.ts", [`ws://127.0.0.1:${server.httpAddr!.port}/ws`], {
    stdin: "piped",
  });
  const stdout = new ChildLines(child.stdout);
  const stderr = readAll(child.stderr);
  const writer = child.stdin.getWriter();
  // stdin stays open until the end: a close sent at EOF would cut off
  // replies the server has not sent yet (WebSocket has no half-close).
  await writer.write(utf8("/nick x\nhello over ws\n"));
  match(await stdout.next() ?? "", /^\* welcome to parley, guest-\d+$/);
  const seen: string[] = [];
  for (
    let line = await stdout.next();
    line !== "* you are now known as x";
    line = await stdout.next()
  ) {
    if (line === null) throw new Error(`no nick notice in ${JSON.stringify(seen)}`);
    seen.push(line);
  }
  equal(await bob.nextMatching(/^<x>/), "<x> hello over ws");
  await writer.write(utf8("/quit\n"));
  equal((await stdout.rest()).at(-1), "* bye");
  equal((await within(child.status, "the client to exit")).code, 0);
  equal(await stderr, "");
  await writer.close();
  equal(await bob.nextMatching(/^\* x left/), "* x left (quit)");
});

Deno.test("client.ts ws:// reports a refused connection in one line and exits 1", async () => {
  const probe = Deno.listen(LOOPBACK);
  const port = probe.addr.port;
  probe.close();
  const result = await runClient([`ws://127.0.0.1:${port}/`], "");
  equal(result.code, 1);
  equal(result.stderr, `client: cannot connect to ws://127.0.0.1:${port}/: connection refused\n`);
});

Deno.test("client.ts answers a bad WebSocket flag with an error, the usage and exit code 2", async () => {
  for (
    const args of [
      ["ws://127.0.0.1:1/", "--header", "no-colon"],
      ["http://127.0.0.1:1/"],
      ["127.0.0.1:1", "--binary"],
    ]
  ) {
    const result = await runClient(args, "");
    equal(result.code, 2, args.join(" "));
    match(result.stderr, /^client: error: .*\nUsage: client \[options\] \[HOST\[:PORT\]\|URL\]\n/);
  }
});
