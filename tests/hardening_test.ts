/**
 * What a hostile user did to the servers, reproduced on loopback, and the
 * policy that now holds (issue: hardening). Each test fails without its fix.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { serveChat } from "../lib/server/serve_chat.ts";
import type { LogEvent } from "../lib/support/log.ts";
import { connectChat, LineClient, LOOPBACK, syncWho, utf8, within } from "./helpers.ts";
import { ChildLines, killChild, rootPath } from "./process_helpers.ts";

Deno.test("serveChat() reads a flood of bare newlines only as fast as its input budget allows", async () => {
  await using server = serveChat(LOOPBACK); // default budgets: 10 lines/s, 40 KiB/s of input
  await using flooder = await connectChat(server.addr);
  await using alice = await connectChat(server.addr);
  await flooder.nextMatching(/joined/);
  // 32 MiB of "\n", written in the background; the writes stall once the
  // server stops reading (it is over budget) and the kernel buffers fill.
  const newlines = new Uint8Array(1024 * 1024).fill(0x0a);
  let written = 0;
  const flooding = (async () => {
    try {
      for (let i = 0; i < 32; i++) written += await flooder.conn.write(newlines);
    } catch { /* closed at the end of the test */ }
  })();
  equal(
    await flooder.nextMatching(/^!/),
    "! rate limit: at most 10 lines/s (burst 20); this line was not sent",
  );
  // After a second the run of refused lines is counted: that count is how
  // many lines the server processed, bounded by the input budget (80 KiB
  // burst + 40 KiB/s) rather than by how fast the flooder writes.
  const summary = await flooder.nextMatching(/more lines were not sent/, 5000);
  const processed = Number(/(\d+) more/.exec(summary)![1]);
  ok(processed < 250_000, `${processed} newlines processed in about a second`);
  ok(written < 32 * 1024 * 1024, "the flooder's writes stalled");
  // Everyone else is served meanwhile.
  await alice.send("/who");
  match(await alice.nextMatching(/ in lobby/, 2000), /^\* 2 in lobby: /);
  flooder.conn.close();
  await flooding;
});

Deno.test("serveChat() keeps twenty connections of one address from flooding one member with /msg", async () => {
  // Per-connection budgets leave room for the /who that ends each burst;
  // the address's line budget is off, to show the private-message bound.
  await using server = serveChat({ ...LOOPBACK, maxPerIp: 25, burst: 25, ipRate: 0 });
  await using victim = await connectChat(server.addr);
  await victim.send("/nick victim");
  await victim.nextMatching(/known as victim/);
  const attackers = await Promise.all(Array.from({ length: 20 }, () => connectChat(server.addr)));
  // Each sends its whole burst: 20 lines of 4,000 bytes (2,000 × "é"), and
  // one of 4,000 bytes of 0xFF (a single U+FFFD once collapsed).
  const text = "é".repeat(1995);
  const garbage = new Uint8Array(4000).fill(0xff);
  await Promise.all(attackers.map(async (attacker) => {
    await attacker.write(utf8(`/msg victim ${text}\n`.repeat(19)));
    await attacker.write(new Uint8Array([...utf8("/msg victim "), ...garbage, 0x0a]));
  }));
  let refused = 0;
  for (const attacker of attackers) {
    const { before } = await syncWho(attacker);
    refused += before.filter((line) => line.startsWith("! not delivered:")).length;
  }
  ok(refused > 0, "the address went over its private-message budget");
  const { before, who } = await syncWho(victim);
  match(who, /^\* 21 in lobby: victim, /); // not dropped as too slow
  const received = before.filter((line) => line.startsWith("["));
  const bytes = received.reduce((sum, line) => sum + utf8(line).length + 1, 0);
  ok(bytes <= 64 * 1024 + 4100, `${bytes} bytes of private messages queued to the victim`);
  for (const line of received.filter((line) => line.includes("\ufffd"))) {
    match(line, /^\[guest-\d+ -> you\] \ufffd$/); // 4,000 invalid bytes: one character
  }
  await Promise.all(attackers.map((attacker) => attacker.close()));
});

Deno.test("serveChat() is not kept busy by a byte or an empty line per interval: only lines count", async () => {
  await using server = serveChat({ ...LOOPBACK, idleTimeout: 0.4 });
  await using dodger = await connectChat(server.addr);
  await using talker = await connectChat(server.addr);
  await dodger.nextMatching(/joined/);
  const started = performance.now();
  const keepAlive = setInterval(() => {
    dodger.write(utf8("\n")).catch(() => {});
    talker.send("still talking").catch(() => {});
  }, 100);
  try {
    equal(await dodger.nextMatching(/^!/), "! idle for 0.4 s; closing the connection");
    ok(performance.now() - started >= 350);
    await dodger.untilClosed();
    equal((await syncWho(talker)).who, `* 1 in lobby: ${talker.nick}`);
  } finally {
    clearInterval(keepAlive);
  }
});

Deno.test("serveChat() replays poisoned history at the size it was sent, not three times it", async () => {
  await using server = serveChat(LOOPBACK);
  await using poisoner = await connectChat(server.addr);
  for (let i = 0; i < 19; i++) { // a burst is 20 lines: the 20th is the /who below
    await poisoner.write(new Uint8Array([...new Uint8Array(4000).fill(0xff), 0x0a]));
  }
  await syncWho(poisoner);
  const newcomer = await LineClient.connect(server.addr);
  await newcomer.nextMatching(/online/);
  const history: string[] = [];
  for (let i = 0; i < 19; i++) history.push(await newcomer.nextLine());
  deepEqual(new Set(history), new Set([`* history: <${poisoner.nick}> \ufffd`]));
  await newcomer.close();
});

Deno.test("serveChat() keeps room history within its byte bounds, however many rooms", async () => {
  await using server = serveChat({
    ...LOOPBACK,
    rate: 0,
    maxPerIp: 0,
    historyBytes: 256 * 1024,
    roomHistoryBytes: 16 * 1024,
  });
  const members = await Promise.all(Array.from({ length: 40 }, () => connectChat(server.addr)));
  const line = "h".repeat(4000);
  await Promise.all(members.map(async (member, i) => {
    await member.send(`/join room${i}`);
    await member.write(utf8(`${line}\n`.repeat(20)));
    await syncWho(member);
  }));
  const bytes = server.hub.historyBytes;
  ok(bytes <= 256 * 1024, `${bytes} bytes of history`);
  ok(bytes > 200 * 1024, "history was kept up to its bound");
  await Promise.all(members.map((member) => member.close()));
});

Deno.test("serveChat() logs a burst of refusals once, with a count", async () => {
  const log: LogEvent[] = [];
  const server = serveChat({ ...LOOPBACK, maxClients: 1, logger: (event) => log.push(event) });
  const alice = await connectChat(server.addr);
  const refused = await Promise.all(
    Array.from({ length: 30 }, () => LineClient.connect(server.addr)),
  );
  await Promise.all(refused.map((client) => client.untilClosed()));
  await within(server.shutdown(), "shutdown"); // ends the log window: the count is logged
  await alice.close();
  const refusals = log.filter((event) => event.event === "refuse");
  // The first at once, the rest summed per second: one or two more lines
  // (a slow machine may spread the 30 over two windows), never 30.
  ok(refusals.length >= 2 && refusals.length <= 3, JSON.stringify(refusals));
  equal(refusals[0].more, undefined);
  for (const refusal of refusals) equal(refusal.reason, "server full (1 clients); try again later");
  const total = refusals.reduce((sum, event) => sum + ((event.more as number | undefined) ?? 1), 0);
  equal(total, 30, "every refusal counted once");
});

Deno.test("server.ts under a 256-descriptor limit answers a 2,000-connection flood and stays open", async () => {
  // `ulimit -n 256` as systemd's default is 1024: admitted + lingering +
  // reserve = 100 + 64 + 32 stays below it, so accept never fails.
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      `ulimit -n 256 && exec "$0" run -A "$1" --host 127.0.0.1 --port 0 --no-http -q --max-clients 100 --max-per-ip 0`,
      Deno.execPath(),
      rootPath("server.ts"),
    ],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  try {
    const stdout = new ChildLines(child.stdout);
    const port = Number(/tcp=127\.0\.0\.1:(\d+)/.exec((await stdout.next()) ?? "")![1]);
    const flood: Deno.TcpConn[] = [];
    try {
      for (let i = 0; i < 2000; i++) {
        flood.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      }
      // While the flood holds its connections, a new client is answered at
      // once: with the refusal when a lingering place is free, else closed.
      const late = await LineClient.connect({ transport: "tcp", hostname: "127.0.0.1", port });
      const lines = await late.untilClosed(3000);
      ok(
        lines.length === 0 || lines[0] === "! server full (100 clients); try again later",
        JSON.stringify(lines),
      );
    } finally {
      for (const conn of flood) conn.close();
    }
    // Once the flood is gone, places free up and a client gets in.
    const alice = await within(
      (async () => {
        while (true) {
          const client = await LineClient.connect({
            transport: "tcp",
            hostname: "127.0.0.1",
            port,
          });
          const first = await client.nextLine();
          if (first.startsWith("* welcome")) return client;
          await client.close();
        }
      })(),
      "a place to free up",
    );
    await alice.close();
    child.kill("SIGTERM");
    await stdout.rest();
    equal((await child.status).code, 0);
    const stderr = await new Response(child.stderr).text();
    ok(!/too many open files/i.test(stderr), stderr);
  } finally {
    await killChild(child); // a failed assertion must not leave the server running
  }
});
