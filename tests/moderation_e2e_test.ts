import { deepEqual, equal, match, ok } from "node:assert/strict";
import { serveChat } from "../lib/server/serve_chat.ts";
import { hashPassword, verifyPassword } from "../lib/store/passwords.ts";
import { parseOperators } from "../lib/cli/operators_file.ts";
import { connectChat, LineClient, LOOPBACK, syncWho, within } from "./helpers.ts";
import { connectWsChat, WsLines } from "./ws_helpers.ts";
import { connectTlsLines, testCertificates, tlsTest } from "./tls_helpers.ts";

/** Operator `root`, password `hunter2` (a cheap scrypt cost: the tests are about the rules). */
const operators = new Map([["root", await hashPassword("hunter2", 1024)]]);

async function oper(client: LineClient): Promise<void> {
  await client.send("/oper root hunter2");
  await client.nextMatching(/^\* you are now an operator \(root\)$/);
}

Deno.test("serveChat() /kick over TCP and WebSocket: the room is told, the kicked client reads why, then the close", async () => {
  await using server = serveChat({ ...LOOPBACK, httpPort: 0, operators });
  await server.ready;
  await using op = await connectChat(server.addr);
  await using bob = await connectChat(server.addr);
  await using ws = await connectWsChat(server.httpAddr!);
  await oper(op);
  await bob.send("/kick " + ws.nick);
  equal(await bob.nextMatching(/^!/), `! /kick is for operators; see /oper`);
  await op.send(`/kick ${bob.nick} spamming`);
  equal(await op.nextMatching(/kicked by/), `* ${bob.nick} was kicked by root (spamming)`);
  equal(await ws.nextMatching(/kicked by/), `* ${bob.nick} was kicked by root (spamming)`);
  deepEqual((await bob.untilClosed()).filter((line) => line.startsWith("!")), [
    "! you were kicked by root (spamming)",
  ]);
  await op.send(`/kick ${ws.nick}`);
  const closed = await ws.untilClosed();
  ok(closed.lines.includes("! you were kicked by root"), closed.lines.join("|"));
  equal(server.clientCount, 1);
});

Deno.test("serveChat() /ban removes matching members and refuses their address at admission over TCP and WebSocket until /unban", async () => {
  await using server = serveChat({ ...LOOPBACK, httpPort: 0, operators });
  await server.ready;
  await using op = await connectChat(server.addr);
  await using bob = await connectChat(server.addr);
  await using wsMember = await connectWsChat(server.httpAddr!);
  await oper(op);
  await op.send(`/ban ${bob.nick} 1h flooding`);
  match(
    await op.nextMatching(/^\* banned /),
    /^\* banned 127\.0\.0\.1\/32 until .* \(60m left\); 2 members removed here$/,
  );
  const wsClosed = await wsMember.untilClosed();
  ok(wsClosed.lines.some((line) => /^! you were banned from this server /.test(line)));
  const last = (await bob.untilClosed()).filter((line) => line.startsWith("!"));
  match(
    last[0],
    /^! you were banned from this server until .* \(60m left\): flooding \(by root\)$/,
  );
  // New connections from the address are refused with the reason and the time left.
  await using again = await LineClient.connect(server.addr);
  const refused = await again.untilClosed();
  equal(refused.length, 1);
  match(
    refused[0],
    /^! banned from this server until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(60m left\): flooding$/,
  );
  const ws = await new WsLines(`ws://127.0.0.1:${server.httpAddr!.port}/ws`).untilClosed();
  equal(ws.code, 1013);
  match(ws.reason, /^banned from this server until /);
  // The operator was not removed; /bans lists it; /unban lets the address back in.
  await op.send("/bans");
  match(
    await op.nextMatching(/127\.0\.0\.1/),
    /^\* {3}127\.0\.0\.1\/32 by root until .*: flooding$/,
  );
  await op.send("/unban 127.0.0.1");
  equal(await op.nextMatching(/unbanned/), "* unbanned 127.0.0.1/32");
  await using back = await connectChat(server.addr);
  ok(back.nick !== "");
});

Deno.test("serveChat() keeps bans, registered nicks and topics in the store across a restart", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    {
      await using server = serveChat({ ...LOOPBACK, operators, dataDir });
      await using op = await connectChat(server.addr);
      await using alice = await connectChat(server.addr);
      await oper(op);
      await alice.send("/nick alice");
      await alice.nextMatching(/you are now known as alice/);
      await alice.send("/register sesame");
      await alice.nextMatching(/^\* nick alice is registered; /);
      await op.send("/topic be kind");
      await op.nextMatching(/topic of lobby set/);
      await op.send("/ban 127.0.0.1 2h testing");
      await op.nextMatching(/^\* banned 127\.0\.0\.1\/32/);
    }
    {
      await using server = serveChat({ ...LOOPBACK, operators, dataDir });
      await using refused = await LineClient.connect(server.addr);
      match((await refused.untilClosed())[0], /^! banned from this server until .*: testing$/);
      // Lift it by hand (no operator can connect from the banned address).
      server.hub.moderation.change({ kind: "unban", mask: "127.0.0.1/32" });
      await using stranger = await LineClient.connect(server.addr);
      equal(await stranger.nextMatching(/topic/), "* topic of lobby: be kind (set by root)");
      await stranger.send("/nick alice");
      equal(
        await stranger.nextMatching(/^!/),
        "! nick alice is registered; its owner takes it with /nick alice PASSWORD",
      );
      await using owner = await connectChat(server.addr);
      await owner.send("/nick alice sesame");
      equal(await owner.nextMatching(/^[*!] (you are|wrong)/), "* you are now known as alice");
    }
    {
      await using server = serveChat({ ...LOOPBACK, operators, dataDir });
      await using client = await connectChat(server.addr);
      ok(client.nick !== "", "the unban was stored too");
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("serveChat() throttles password guesses on a registered nick", async () => {
  await using server = serveChat({ ...LOOPBACK });
  await using alice = await connectChat(server.addr);
  await alice.send("/nick alice");
  await alice.nextMatching(/you are now known as alice/);
  await alice.send("/register sesame");
  await alice.nextMatching(/is registered; /);
  await alice.close();
  await using mallory = await connectChat(server.addr);
  for (let i = 0; i < 5; i++) {
    await mallory.send(`/nick alice guess${i}`);
    equal(await mallory.nextMatching(/^!/), "! wrong password");
  }
  await mallory.send("/nick alice sesame");
  equal(await mallory.nextMatching(/^!/), "! too many wrong passwords; try again in 60s");
  equal((await syncWho(mallory)).who.includes("alice"), false);
});

Deno.test("hashPassword() makes scrypt hashes that verifyPassword() and the operators file accept", async () => {
  const hash = await hashPassword("correct horse", 1024);
  match(hash, /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  equal(await verifyPassword("correct horse", hash), true);
  equal(await verifyPassword("correct hors", hash), false);
  equal(await verifyPassword("x", "not a hash"), false);
  equal(parseOperators(`# ops\n\nroot ${hash}\n`, "ops").get("root"), hash);
  const bad = (text: string) => {
    try {
      parseOperators(text, "ops");
      return "";
    } catch (error) {
      return (error as Error).message;
    }
  };
  match(bad("root"), /^ops line 1: expected NAME HASH/);
  match(bad(`root ${hash}\nroot ${hash}`), /^ops line 2: operator root is listed twice/);
  match(bad("root plaintext"), /^ops line 1: not an scrypt/);
  match(bad(`r@@t ${hash}`), /operator name must be/);
});

Deno.test("server.ts hash-password reads the password from a pipe and prints a hash that verifies", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL("../server.ts", import.meta.url).pathname,
      "hash-password",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("s3cret pass\n"));
  await writer.close();
  const { code, stdout } = await child.output();
  equal(code, 0);
  const hash = new TextDecoder().decode(stdout).trim();
  equal(await verifyPassword("s3cret pass", hash), true);
});

Deno.test("server.ts --operators refuses to start on a bad operators file, naming the line", async () => {
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(file, "root not-a-hash\n");
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        new URL("../server.ts", import.meta.url).pathname,
        "--port",
        "0",
        "--no-http",
        "--no-store",
        "--operators",
        file,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    equal(code, 1);
    match(new TextDecoder().decode(stderr), /line 1: not an scrypt/);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("client.ts --nick NAME --password takes a registered nick; without it the nick is refused", async () => {
  const { runToEnd } = await import("./process_helpers.ts");
  await using server = serveChat({ ...LOOPBACK });
  {
    await using alice = await connectChat(server.addr);
    await alice.send("/nick alice");
    await alice.nextMatching(/you are now known as alice/);
    await alice.send("/register sesame");
    await alice.nextMatching(/is registered; /);
  }
  const target = `127.0.0.1:${server.addr.port}`;
  const refused = await runToEnd("client.ts", [target, "--nick", "alice"], "/who\n");
  ok(refused.stdout.includes("! nick alice is registered; "), refused.stdout);
  // The password is checked off the event loop: stdin stays open until the answer is in.
  const { ChildLines, denoRun } = await import("./process_helpers.ts");
  const child = denoRun("client.ts", [target, "--nick", "alice", "--password", "sesame"], {
    stdin: "piped",
  });
  const lines = new ChildLines(child.stdout);
  const seen: string[] = [];
  for (let line = await lines.next(); line !== null; line = await lines.next()) {
    seen.push(line);
    if (/^[*!] (you are now known|wrong|nick)/.test(line)) break;
  }
  equal(seen.at(-1), "* you are now known as alice");
  await child.stdin.close();
  seen.push(...await lines.rest());
  const { code } = await child.status;
  await child.stderr.cancel();
  equal(code, 0);
  ok(!seen.join("\n").includes("sesame"));
});

tlsTest(
  "a banned address is refused over TLS too, told why after the handshake",
  async () => {
    const certs = await testCertificates();
    await using server = serveChat({
      ...LOOPBACK,
      tls: { cert: certs.server.cert, key: certs.server.key },
    });
    server.hub.moderation.change({
      kind: "ban",
      ban: { mask: "127.0.0.0/8", reason: "tls test", by: "root", since: Date.now(), until: null },
    });
    await using refused = await connectTlsLines(server.addr, certs.ca);
    equal(await refused.nextLine(), "! banned from this server until lifted: tls test");
    await refused.untilClosed();
  },
);

/** Why `script` (util-linux, a pseudo-terminal for a command) cannot be used here, or null. */
const scriptMissing: string | null = (() => {
  try {
    const { success } = new Deno.Command("script", { args: ["--version"], stdout: "null" })
      .outputSync();
    return success ? null : "script --version failed";
  } catch {
    return "script (util-linux) is not installed";
  }
})();

Deno.test({
  name: `server.ts hash-password reads from a terminal twice, without echo${
    scriptMissing === null ? "" : ` (ignored: ${scriptMissing})`
  }`,
  ignore: scriptMissing !== null,
  async fn() {
    const server = new URL("../server.ts", import.meta.url).pathname;
    const child = new Deno.Command("script", {
      args: ["-qec", `'${Deno.execPath()}' run --allow-all '${server}' hash-password`, "/dev/null"],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const output: string[] = [];
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const until = async (pattern: RegExp) => {
      while (!pattern.test(output.join(""))) {
        const { value, done } = await within(reader.read(), `output matching ${pattern}`);
        if (done) throw new Error(`ended before ${pattern}: ${output.join("")}`);
        output.push(value);
      }
    };
    const writer = child.stdin.getWriter();
    await until(/password: /);
    await writer.write(new TextEncoder().encode("terminal pw\r"));
    await until(/again: /);
    await writer.write(new TextEncoder().encode("terminal pw\r"));
    await until(/scrypt\$\S+\s/);
    await writer.close();
    await reader.cancel();
    await child.status;
    const text = output.join("");
    ok(!text.includes("terminal pw"), "not echoed");
    const hash = /(scrypt\$\S+)/.exec(text)![1];
    equal(await verifyPassword("terminal pw", hash), true);
  },
});
