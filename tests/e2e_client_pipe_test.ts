import { equal, match } from "node:assert/strict";
import { serveChat } from "../lib/server/serve_chat.ts";
import { connectChat, LOOPBACK, utf8, within } from "./helpers.ts";
import { denoRun, readAll, runToEnd } from "./process_helpers.ts";

/** Runs client.ts with `input` on stdin (then EOF); returns exit code and output. */
const runClient = (args: string[], input: string) => runToEnd("client.ts", args, input);

Deno.test("client.ts in a pipe sends each stdin line and prints the server's lines in order", async () => {
  await using server = serveChat({ ...LOOPBACK, rate: 0 });
  await using bob = await connectChat(server.addr);
  const lines = Array.from({ length: 200 }, (_, i) => `line ${i}`);
  const result = await runClient(
    [`127.0.0.1:${server.addr.port}`, "--nick", "ann"],
    lines.join("\n") + "\n/who\n",
  );
  equal(result.code, 0, result.stderr);
  equal(result.stderr, "");
  for (const line of lines) equal(await bob.nextMatching(/^<ann>/), `<ann> ${line}`);
  const out = result.stdout.split("\n");
  equal(out[0], "* welcome to parley, ann"); // --nick: named as it joins, not renamed
  equal(out.includes(`* 2 in lobby: ${bob.nick}, ann`), true); // the reply came after EOF
});

/** A raw TCP peer for one connection, driven by `serve`. */
function rawPeer(serve: (conn: Deno.Conn) => Promise<void>) {
  const listener = Deno.listen(LOOPBACK);
  const done = (async () => {
    const conn = await listener.accept();
    try {
      await serve(conn);
    } finally {
      try {
        conn.close();
      } catch { /* closed */ }
      listener.close();
    }
  })();
  return { port: listener.addr.port, done };
}

async function readUntilEof(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: number[] = [];
  const buffer = new Uint8Array(4096);
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
    chunks.push(...buffer.subarray(0, n));
  }
  return new Uint8Array(chunks);
}

Deno.test("client.ts in a pipe half-closes at stdin EOF and still prints the replies that follow", async () => {
  // This peer answers only once the client has finished sending, like a
  // server that needs the whole request: only a half-close gets the reply.
  const peer = rawPeer(async (conn) => {
    const request = new TextDecoder().decode(await readUntilEof(conn));
    await conn.write(utf8(request.toUpperCase() + "done\n"));
  });
  const result = await runClient([`127.0.0.1:${peer.port}`], "hello\nworld\n");
  await peer.done;
  equal(result.code, 0, result.stderr);
  equal(result.stdout, "HELLO\nWORLD\ndone\n");
});

Deno.test("client.ts in a pipe passes bytes through unchanged, like nc", async () => {
  const peer = rawPeer(async (conn) => {
    const request = await readUntilEof(conn);
    await conn.write(request);
  });
  const odd = "no newline at the end, \x1b[31mescape\x1b[0m, \u00e9";
  const result = await runClient([`127.0.0.1:${peer.port}`], odd);
  await peer.done;
  equal(result.code, 0);
  equal(result.stdout, odd);
});

Deno.test("client.ts exits 1 with 'connection refused' when nobody listens", async () => {
  const probe = Deno.listen(LOOPBACK);
  const port = probe.addr.port;
  probe.close();
  const result = await runClient([`127.0.0.1:${port}`], "");
  equal(result.code, 1);
  equal(result.stdout, "");
  equal(result.stderr, `client: cannot connect to 127.0.0.1:${port}: connection refused\n`);
});

Deno.test("client.ts exits 1 with 'server closed the connection' when dropped mid-session", async () => {
  const peer = rawPeer(async (conn) => {
    await conn.write(utf8("going away\n"));
  });
  const child = denoRun("client.ts", ["--host", "127.0.0.1", "--port", String(peer.port)], {
    stdin: "piped",
  });
  await peer.done; // the peer closed while the client's stdin is still open
  const [status, stdout, stderr] = await Promise.all([
    within(child.status, "the client to exit"),
    readAll(child.stdout),
    readAll(child.stderr),
  ]);
  await child.stdin.close();
  equal(status.code, 1);
  equal(stdout, "going away\n");
  equal(stderr, "client: server closed the connection\n");
});

Deno.test("client.ts exits 0 when the server closes after a /quit it sent", async () => {
  await using server = serveChat(LOOPBACK);
  const child = denoRun("client.ts", [`127.0.0.1:${server.addr.port}`], { stdin: "piped" });
  const writer = child.stdin.getWriter();
  await writer.write(utf8("/quit\n")); // stdin stays open
  const [status, stdout] = await Promise.all([
    within(child.status, "the client to exit"),
    readAll(child.stdout),
    readAll(child.stderr),
  ]);
  await writer.close();
  equal(status.code, 0);
  equal(stdout.trimEnd().split("\n").at(-1), "* bye");
});

Deno.test("client.ts answers a bad flag with an error, the usage and exit code 2", async () => {
  for (const args of [["--bogus"], ["--port", "0"], ["host:99999"], ["a", "b"]]) {
    const result = await runClient(args, "");
    equal(result.code, 2, args.join(" "));
    match(result.stderr, /^client: error: .*\nUsage: client \[options\] \[HOST\[:PORT\]\|URL\]\n/);
  }
});
