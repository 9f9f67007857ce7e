import { deepEqual, equal, match, ok } from "node:assert/strict";
import { serveChat } from "../lib/server/serve_chat.ts";
import {
  connectChat,
  connectMany,
  LineClient,
  LOOPBACK,
  syncWho,
  utf8,
  within,
} from "./helpers.ts";

Deno.test("serveChat() welcomes a client with its nick, the count online and a /help hint", async () => {
  await using server = serveChat(LOOPBACK);
  await using first = await connectChat(server.addr);
  await using client = await LineClient.connect(server.addr);
  match(await client.nextLine(), /^\* welcome to parley, guest-\d+$/);
  equal(
    await client.nextLine(),
    "* 2 online; you are in lobby; type /help for commands; limits: lines up to 4096 bytes, 10 a second (20 at once)",
  );
  equal((await syncWho(first)).before.length, 1); // "* guest-2 joined lobby"
});

Deno.test("serveChat() relays a line to the other members but not to the sender", async () => {
  await using server = serveChat(LOOPBACK);
  await using room = await connectMany(server.addr, 3);
  const [alice, bob, carol] = room.clients;
  await alice.send("hello, room");
  equal(await bob.nextMatching(/^</), `<${alice.nick}> hello, room`);
  equal(await carol.nextMatching(/^</), `<${alice.nick}> hello, room`);
  const { before } = await syncWho(alice);
  deepEqual(before.filter((line) => line.startsWith("<")), []);
});

Deno.test("serveChat() sends //text as the literal /text", async () => {
  await using server = serveChat(LOOPBACK);
  await using alice = await connectChat(server.addr);
  await using bob = await connectChat(server.addr);
  await alice.send("//etc/hosts");
  equal(await bob.nextMatching(/^</), `<${alice.nick}> /etc/hosts`);
});

Deno.test("serveChat() enforces nick rules and case-insensitive uniqueness", async () => {
  await using server = serveChat(LOOPBACK);
  await using alice = await connectChat(server.addr);
  await using bob = await connectChat(server.addr);
  const oldNick = bob.nick;
  await alice.send("/nick Alice");
  equal(await alice.nextMatching(/^\* you/), "* you are now known as Alice");
  equal(await bob.nextMatching(/known as/), `* ${alice.nick} is now known as Alice`);
  for (const taken of ["alice", "ALICE", "\u0430lice"]) {
    await bob.send(`/nick ${taken}`);
    // A look-alike's refusal names the nick it looks like.
    equal(
      (await bob.nextLine()).replace(/: it looks like Alice, .*$/, ""),
      `! nick ${taken} is taken`,
    );
  }
  await bob.send("/nick \x1b[1mbad\x07nick");
  equal(await bob.nextLine(), "* you are now known as badnick"); // controls stripped first
  equal(await alice.nextLine(), `* ${oldNick} is now known as badnick`);
  await bob.send("/nick <root>");
  match(await bob.nextLine(), /^! cannot use nick <root>: nick may use only letters/);
  await bob.send(`/nick ${"x".repeat(25)}`);
  match(await bob.nextLine(), /longer than 24 characters/);
  await bob.send("/nick");
  equal(await bob.nextLine(), "! usage: /nick NAME [PASSWORD]");
  // Nothing changed for bob, and the nick alice gave up is free again.
  await alice.send("/nick alice2");
  await alice.nextMatching(/^\* you are now known as alice2$/);
  await bob.send("/nick alice");
  equal(await bob.nextMatching(/^\* you/), "* you are now known as alice");
  equal(await alice.nextMatching(/known as alice$/), "* badnick is now known as alice");
});

Deno.test("serveChat() keeps rooms apart and answers /join, /who and /rooms", async () => {
  await using server = serveChat(LOOPBACK);
  await using room = await connectMany(server.addr, 3);
  const [alice, bob, carol] = room.clients;
  await alice.send("/join #dev");
  equal(await alice.nextLine(), `* you joined dev; 1 here: ${alice.nick}`);
  equal(await bob.nextMatching(/left/), `* ${alice.nick} left (moved to dev)`);
  await bob.send("/join DEV"); // same room, whatever the case
  equal(await bob.nextLine(), `* you joined dev; 2 here: ${alice.nick}, ${bob.nick}`);
  equal(await alice.nextLine(), `* ${bob.nick} joined dev`);
  await alice.send("in dev only");
  equal(await bob.nextMatching(/^</), `<${alice.nick}> in dev only`);
  const carolSaw = await syncWho(carol);
  equal(carolSaw.who, `* 1 in lobby: ${carol.nick}`);
  deepEqual(carolSaw.before.filter((line) => line.startsWith("<")), []);
  await carol.send("/rooms");
  equal(await carol.nextLine(), "* 2 rooms: dev (2), lobby (1)");
  await alice.send("/join dev");
  equal(await alice.nextLine(), "! you are already in dev");
  await alice.send("/join bad room");
  equal(await alice.nextLine(), "! usage: /join ROOM");
  // Back in lobby, dev is empty and gone.
  await bob.send("/join lobby");
  await alice.send("/join lobby");
  await carol.nextMatching(new RegExp(`${alice.nick} joined`));
  await carol.send("/rooms");
  equal(await carol.nextLine(), "* 1 room: lobby (3)");
});

Deno.test("serveChat() delivers /msg privately, errs for an unknown nick, and relays /me", async () => {
  await using server = serveChat(LOOPBACK);
  await using room = await connectMany(server.addr, 3);
  const [alice, bob, carol] = room.clients;
  await alice.send(`/msg ${bob.nick} just for you`);
  equal(await bob.nextMatching(/^\[/), `[${alice.nick} -> you] just for you`);
  await alice.send("/msg nobody hello");
  equal(await alice.nextMatching(/^!/), "! no such nick: nobody");
  await alice.send("/me waves");
  equal(await carol.nextMatching(/^</), `<${alice.nick}> *waves*`);
  equal(await bob.nextMatching(/^</), `<${alice.nick}> *waves*`);
  deepEqual((await syncWho(carol)).before.filter((line) => line.startsWith("[")), []);
});

Deno.test("serveChat() answers an unknown command with an error naming /help, and /help lists commands", async () => {
  await using server = serveChat(LOOPBACK);
  await using alice = await connectChat(server.addr);
  await alice.send("/frob");
  equal(await alice.nextLine(), "! unknown command /frob; type /help for the list");
  await alice.send("/help");
  equal(await alice.nextLine(), "* commands:");
  for (const command of ["/nick", "/who", "/rooms", "/join", "/msg", "/me", "/quit", "/help"]) {
    match(await alice.nextLine(), new RegExp(`^\\*   ${command} `));
  }
});

Deno.test("serveChat() replays the last N messages, marked as history, to a member who joins", async () => {
  await using server = serveChat({ ...LOOPBACK, history: 3 });
  await using alice = await connectChat(server.addr);
  for (let i = 1; i <= 5; i++) await alice.send(`message ${i}`);
  await alice.send("/me is done");
  await syncWho(alice); // all six processed
  await using bob = await LineClient.connect(server.addr);
  await bob.nextMatching(/online/);
  deepEqual([await bob.nextLine(), await bob.nextLine(), await bob.nextLine()], [
    `* history: <${alice.nick}> message 4`,
    `* history: <${alice.nick}> message 5`,
    `* history: <${alice.nick}> *is done*`,
  ]);
  equal((await syncWho(bob)).before.length, 0);
});

Deno.test("serveChat() with history 0 replays nothing", async () => {
  await using server = serveChat({ ...LOOPBACK, history: 0 });
  await using alice = await connectChat(server.addr);
  await alice.send("not kept");
  await syncWho(alice);
  await using bob = await connectChat(server.addr);
  deepEqual((await syncWho(bob)).before, []);
});

Deno.test("serveChat() refuses a client over --max-clients with a reason, unnoticed by the others", async () => {
  await using server = serveChat({ ...LOOPBACK, maxClients: 2 });
  await using alice = await connectChat(server.addr);
  await using bob = await connectChat(server.addr);
  await alice.nextMatching(/joined/);
  await using third = await LineClient.connect(server.addr);
  deepEqual(await third.untilClosed(), ["! server full (2 clients); try again later"]);
  deepEqual((await syncWho(alice)).before, []);
  deepEqual((await syncWho(bob)).before, []);
  equal(server.clientCount, 2);
  // A place frees up: the next client gets in.
  await bob.close();
  await alice.nextMatching(/left/);
  await using fourth = await connectChat(server.addr);
  match(fourth.nick, /^guest-/);
});

Deno.test("serveChat() refuses a client over --max-per-ip with a reason", async () => {
  await using server = serveChat({ ...LOOPBACK, maxPerIp: 1 });
  await using alice = await connectChat(server.addr);
  await using second = await LineClient.connect(server.addr);
  deepEqual(await second.untilClosed(), [
    "! too many connections from 127.0.0.1 (at most 1); try again later",
  ]);
  deepEqual((await syncWho(alice)).before, []);
});

Deno.test("serveChat() refuses an over-long line, skips it, and keeps the connection usable", async () => {
  // Flood control off, so the input budget lets 2 MiB through at once.
  await using server = serveChat({ ...LOOPBACK, maxLineBytes: 64, rate: 0 });
  await using room = await connectMany(server.addr, 2);
  const [alice, bob] = room.clients;
  await alice.send("x".repeat(64)); // exactly at the cap: fine
  equal(await bob.nextMatching(/^</), `<${alice.nick}> ${"x".repeat(64)}`);
  // 2 MiB without a line ending, in pieces, then the end of that line and a good one.
  const chunk = utf8("y".repeat(64 * 1024));
  for (let i = 0; i < 32; i++) await alice.write(chunk);
  await alice.send("tail of the long line");
  await alice.send("still here");
  equal(await alice.nextLine(), "! line too long (over 64 bytes); it was skipped");
  equal(await bob.nextMatching(/^</), `<${alice.nick}> still here`);
  deepEqual((await syncWho(alice)).before, []); // one error only
});

Deno.test("serveChat() replaces each run of invalid UTF-8 with one U+FFFD and strips terminal controls", async () => {
  await using server = serveChat(LOOPBACK);
  await using alice = await connectChat(server.addr);
  await using bob = await connectChat(server.addr);
  await alice.write(
    new Uint8Array([
      ...utf8("\x1b[2J\x1b[31mred\x1b[0m \x07bell "),
      0xff,
      0xfe,
      ...utf8(" \x1b]0;title\x07ok\ttab\r\n"),
    ]),
  );
  equal(await bob.nextMatching(/^</), `<${alice.nick}> red bell \ufffd ok\ttab`);
});

Deno.test("serveChat() frames lines split anywhere, with any line ending, telnet's CR NUL included", async () => {
  await using server = serveChat(LOOPBACK);
  await using alice = await connectChat(server.addr);
  await using bob = await connectChat(server.addr);
  const bytes = utf8("привет\r\0мир 😀\r\nthird\rfourth\n");
  for (let i = 0; i < bytes.length; i += 1) {
    await alice.write(bytes.subarray(i, i + 1));
  }
  const got = [];
  for (let i = 0; i < 4; i++) got.push(await bob.nextMatching(/^</));
  deepEqual(got, ["привет", "мир 😀", "third", "fourth"].map((text) => `<${alice.nick}> ${text}`));
});

Deno.test("serveChat() refuses lines over the flood limit with one error, then their count", async () => {
  await using server = serveChat({ ...LOOPBACK, rate: 0.01, burst: 5 });
  await using alice = await connectChat(server.addr);
  await using bob = await connectChat(server.addr);
  await alice.write(utf8(Array.from({ length: 20 }, (_, i) => `line ${i}\n`).join("")));
  equal(
    await alice.nextMatching(/^!/),
    "! rate limit: at most 0.01 lines/s (burst 5); this line was not sent",
  );
  equal(await alice.nextMatching(/^!/), "! rate limit: 14 more lines were not sent");
  for (let i = 0; i < 5; i++) equal(await bob.nextMatching(/^</), `<${alice.nick}> line ${i}`);
});

Deno.test("serveChat() drops a client whose queue overflows while two others exchange thousands of lines", async () => {
  await using server = serveChat({ ...LOOPBACK, rate: 0, maxQueueBytes: 256 * 1024 });
  await using alice = await connectChat(server.addr);
  await using bob = await connectChat(server.addr);
  // carol connects and never reads a byte.
  const carol = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await carol.write(utf8("/nick carol\n"));
  await alice.nextMatching(/carol joined|known as carol/); // named as it joins (its first line)
  await bob.nextMatching(/carol joined|known as carol/);

  const padding = "p".repeat(400);
  let sent = 0;
  const received = { alice: 0, bob: 0 };
  let dropSeen = false;
  // Exchange in batches until carol's queue overflows (the kernel's socket
  // buffers absorb some megabytes first), then a few batches more. Bounded.
  for (let batch = 0; batch < 200 && !(dropSeen && batch > 5 && sent > 2000); batch++) {
    const lines = [];
    for (let i = 0; i < 100; i++) lines.push(`${sent + i} ${padding}`);
    await Promise.all([
      alice.write(utf8(lines.map((l) => `a${l}\n`).join(""))),
      bob.write(utf8(lines.map((l) => `b${l}\n`).join(""))),
    ]);
    sent += 100;
    for (const [reader, from, key] of [[bob, "a", "bob"], [alice, "b", "alice"]] as const) {
      while (received[key] < sent) {
        const line = await reader.nextLine();
        if (line === "* carol left (too slow)") {
          dropSeen = true;
          continue;
        }
        equal(
          line,
          `<${key === "bob" ? alice.nick : bob.nick}> ${from}${received[key]} ${padding}`,
        );
        received[key]++;
      }
    }
  }
  ok(dropSeen, "carol was never dropped");
  deepEqual(received, { alice: sent, bob: sent });
  ok(sent >= 2000);
  const { who } = await syncWho(alice);
  equal(who, `* 2 in lobby: ${alice.nick}, ${bob.nick}`);
  // The server closed carol's connection: reading what was buffered reaches the end.
  const scratch = new Uint8Array(64 * 1024);
  await within(
    (async () => {
      while ((await carol.read(scratch)) !== null) { /* drain */ }
    })(),
    "carol's connection to end",
  );
  carol.close();
});

Deno.test("serveChat() tells an idle client and closes it; the room sees why", async () => {
  await using server = serveChat({ ...LOOPBACK, idleTimeout: 0.3 });
  const started = performance.now();
  await using alice = await connectChat(server.addr);
  await using bob = await connectChat(server.addr);
  deepEqual(await alice.untilClosed(), [
    `* ${bob.nick} joined lobby`,
    "! idle for 0.3 s; closing the connection",
  ]);
  ok(performance.now() - started >= 300);
  await bob.untilClosed();
});

Deno.test("serveChat() announces /quit with its reason and closes after saying bye", async () => {
  await using server = serveChat(LOOPBACK);
  await using alice = await connectChat(server.addr);
  await using bob = await connectChat(server.addr);
  await alice.send("/quit gone fishing");
  await alice.send("this line comes after /quit and is ignored");
  deepEqual(await alice.untilClosed(), [`* ${bob.nick} joined lobby`, "* bye"]);
  equal(await bob.nextMatching(/left/), `* ${alice.nick} left (quit: gone fishing)`);
  deepEqual((await syncWho(bob)).before, []);
});

Deno.test("serveChat() announces a client that disconnects", async () => {
  await using server = serveChat(LOOPBACK);
  await using alice = await connectChat(server.addr);
  await using bob = await connectChat(server.addr);
  await alice.close();
  equal(await bob.nextMatching(/left/), `* ${alice.nick} left (connection closed)`);
});

Deno.test("serveChat() shutdown delivers the final notice to everyone, then closes", async () => {
  const server = serveChat(LOOPBACK);
  const clients = await Promise.all([1, 2, 3].map(() => connectChat(server.addr)));
  await syncWho(clients[2]);
  const stopping = server.shutdown();
  for (const client of clients) {
    const rest = await client.untilClosed();
    equal(rest.at(-1), "* server shutting down");
    deepEqual(rest.filter((line) => line.includes("left")), []);
  }
  await within(stopping, "shutdown");
  await server.finished;
  for (const client of clients) await client.close();
});

Deno.test("serveChat() stops announcing joins and leaves in rooms above --announce-limit", async () => {
  await using server = serveChat({ ...LOOPBACK, announceLimit: 2 });
  await using alice = await connectChat(server.addr);
  await using bob = await connectChat(server.addr);
  equal(await alice.nextLine(), `* ${bob.nick} joined lobby`); // 2 members: announced
  const carol = await connectChat(server.addr); // 3 members: quiet
  await carol.close();
  const bobLeaves = bob.close();
  await bobLeaves; // back to 1 member, so bob's leave is announced
  equal(await alice.nextMatching(/left/), `* ${bob.nick} left (connection closed)`);
  deepEqual((await syncWho(alice)).before, []);
});
