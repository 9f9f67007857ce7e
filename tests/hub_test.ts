import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import { ChatHub } from "../lib/chat/hub.ts";
import type { LogEvent } from "../lib/support/log.ts";
import { DeferredDirectory, FakeMember, testHub } from "./hub_helpers.ts";

const pure = { permissions: "none" } as const;

Deno.test({
  ...pure,
  name: "ChatHub.connect() welcomes with a guest nick, the count online and the lobby",
  fn() {
    const { connect } = testHub({ name: "demo" });
    const alice = connect();
    deepEqual(alice.take(), [
      "* welcome to demo, guest-1",
      "* 1 online; you are in lobby; type /help for commands; limits: lines up to 4096 bytes, 10 a second (20 at once)",
    ]);
    const bob = connect();
    deepEqual(bob.take(), [
      "* welcome to demo, guest-2",
      "* 2 online; you are in lobby; type /help for commands; limits: lines up to 4096 bytes, 10 a second (20 at once)",
    ]);
    deepEqual(alice.take(), ["* guest-2 joined lobby"]);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub relays a line to the room but not to its text sender; //text is literal",
  fn() {
    const { room, say } = testHub();
    const [alice, bob, carol] = room(3);
    say(alice, "hello", "//etc/hosts", "/me waves");
    for (const member of [bob, carol]) {
      deepEqual(member.take(), ["<guest-1> hello", "<guest-1> /etc/hosts", "<guest-1> *waves*"]);
    }
    deepEqual(alice.take(), []);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub encodes a broadcast once per wire format, whatever the number of members",
  fn() {
    const { room, connect, say } = testHub();
    const members = room(50);
    const json = connect(new FakeMember({ format: "json" }));
    say(members[0], "once");
    const events = new Set(members.slice(1).map((member) => member.received.at(-1)!));
    equal(events.size, 1, "every member got the same Outgoing");
    const [event] = events;
    equal(event.bytes("text"), event.bytes("text")); // cached, not re-encoded
    equal(json.received.at(-1), event);
    equal(json.json().at(-1)!.text, "once");
  },
});

Deno.test({
  ...pure,
  name: "ChatHub enforces nick rules and uniqueness across case and look-alikes",
  fn() {
    const log: LogEvent[] = [];
    const { room, say } = testHub({ logger: (event) => log.push(event) });
    const [alice, bob] = room(2);
    say(alice, "/nick Alice");
    deepEqual(alice.take(), ["* you are now known as Alice"]);
    deepEqual(bob.take(), ["* guest-1 is now known as Alice"]);
    for (const taken of ["alice", "ALICE", "\u0430lice"]) {
      say(bob, `/nick ${taken}`);
      // A look-alike's refusal names the nick it looks like.
      deepEqual(bob.take().map((line) => line.replace(/: it looks like Alice, .*$/, "")), [
        `! nick ${taken} is taken`,
      ]);
    }
    say(bob, "/nick <root>");
    match(bob.take()[0], /^! cannot use nick <root>: nick may use only letters/);
    say(bob, `/nick ${"x".repeat(25)}`);
    match(bob.take()[0], /longer than 24 characters/);
    say(bob, "/nick", "/nick two words");
    deepEqual(bob.take(), [
      "! usage: /nick NAME [PASSWORD]",
      "! nick two is not registered: a password is for registered nicks only (/nick NAME)",
    ]);
    say(alice, "/nick Alice");
    deepEqual(alice.take(), ["* you are already Alice"]);
    // The nick alice gives up is free at once.
    say(alice, "/nick alice2");
    say(bob, "/nick alice");
    deepEqual(bob.take(), ["* Alice is now known as alice2", "* you are now known as alice"]);
    deepEqual(
      log.filter((event) => event.event === "nick").map((event) => [event.nick, event.to]),
      [["guest-1", "Alice"], ["Alice", "alice2"], ["guest-2", "alice"]],
    );
  },
});

Deno.test({
  ...pure,
  name: "ChatHub keeps guest nicks, and their look-alikes, for the server to give",
  fn() {
    const { room, say } = testHub();
    const [alice] = room(1);
    for (const nick of ["guest-7", "Guest-12", "guest-l2"]) {
      say(alice, `/nick ${nick}`);
      deepEqual(alice.take(), [`! cannot use nick ${nick}: guest nicks are given by the server`]);
    }
    say(alice, "/nick guest", "/nick guest-bob");
    deepEqual(alice.take(), ["* you are now known as guest", "* you are now known as guest-bob"]);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub keeps rooms apart and answers /join, /who and /rooms",
  fn() {
    const { room, say } = testHub();
    const [alice, bob, carol] = room(3);
    say(alice, "/join #dev");
    deepEqual(alice.take(), ["* you joined dev; 1 here: guest-1"]);
    deepEqual(bob.take(), ["* guest-1 left (moved to dev)"]);
    say(bob, "/join DEV");
    deepEqual(bob.take(), ["* you joined dev; 2 here: guest-1, guest-2"]);
    deepEqual(alice.take(), ["* guest-2 joined dev"]);
    say(alice, "in dev only");
    deepEqual(bob.take(), ["<guest-1> in dev only"]);
    say(carol, "/who", "/rooms");
    deepEqual(carol.take(), [
      "* guest-1 left (moved to dev)",
      "* guest-2 left (moved to dev)",
      "* 1 in lobby: guest-3",
      "* 2 rooms: dev (2), lobby (1)",
    ]);
    say(alice, "/join dev", "/join bad room", "/join");
    deepEqual(alice.take(), [
      "! you are already in dev",
      "! usage: /join ROOM",
      "! usage: /join ROOM",
    ]);
    say(alice, "/join <script>");
    match(alice.take()[0], /^! cannot join <script>: room name may use only/);
    say(alice, "/join lobby", "/rooms");
    deepEqual(alice.take().at(-1), "* 2 rooms: dev (1), lobby (2)");
    say(bob, "/join lobby", "/rooms");
    deepEqual(bob.take().at(-1), "* 1 room: lobby (3)"); // dev is empty and gone
  },
});

Deno.test({
  ...pure,
  name: "ChatHub delivers /msg privately and errs for an unknown nick",
  fn() {
    const { room, say } = testHub();
    const [alice, bob, carol] = room(3);
    say(alice, "/msg guest-2 just for you", "/msg nobody hi", "/msg guest-2");
    deepEqual(bob.take(), ["[guest-1 -> you] just for you"]);
    deepEqual(alice.take(), ["! no such nick: nobody", "! usage: /msg NICK text"]);
    deepEqual(carol.take(), []);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub answers /help, an unknown command, and /format",
  fn() {
    const { room, say } = testHub();
    const [alice] = room(1);
    say(alice, "/frob", "/help");
    const lines = alice.take();
    equal(lines[0], "! unknown command /frob; type /help for the list");
    equal(lines[1], "* commands:");
    for (const command of ["/nick", "/who", "/rooms", "/join", "/msg", "/me", "/quit", "/format"]) {
      ok(lines.some((line) => line.startsWith(`*   ${command} `)), command);
    }
    say(alice, "/format xml");
    deepEqual(alice.take(), ["! usage: /format text|json"]);
    say(alice, "/format json");
    equal(alice.format, "json");
    const reply = alice.json().at(-1)!;
    deepEqual([reply.v, reply.type, reply.format], [1, "format", "json"]);
    say(alice, "/format text");
    deepEqual(alice.take().at(-1), "* format: text");
  },
});

Deno.test({
  ...pure,
  name: "ChatHub replays the last N lines, marked as history, and keeps them per room",
  fn() {
    const { room, connect, say } = testHub({ history: 3 });
    const [alice] = room(1);
    say(alice, "message 1", "message 2", "message 3", "message 4", "/me is done");
    const bob = connect();
    deepEqual(bob.take().slice(2), [
      "* history: <guest-1> message 3",
      "* history: <guest-1> message 4",
      "* history: <guest-1> *is done*",
    ]);
    say(alice, "/join dev", "only in dev");
    say(bob, "/join dev");
    deepEqual(bob.take().slice(-1), ["* history: <guest-1> only in dev"]);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub with history 0 replays nothing, and an emptied room loses its history",
  fn() {
    const off = testHub({ history: 0 });
    off.say(off.room(1)[0], "not kept");
    deepEqual(off.connect().take().slice(2), []);
    const { room, say, hub } = testHub();
    const [alice, bob] = room(2);
    say(alice, "/join dev", "said in dev");
    ok(hub.historyBytes > 0);
    say(alice, "/join lobby");
    equal(hub.historyBytes, 0, "dev is gone, with its history");
    say(bob, "/join dev");
    deepEqual(bob.take().slice(-1), ["* you joined dev; 1 here: guest-2"]);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub refuses lines over the flood limit: one error per run, then the count",
  fn() {
    const { room, say, clock, hub } = testHub({ rate: 1, burst: 3 });
    const [alice, bob] = room(2);
    say(alice, "1", "2", "3", "4", "5", "6");
    deepEqual(bob.take(), ["<guest-1> 1", "<guest-1> 2", "<guest-1> 3"]);
    deepEqual(alice.take(), [
      "! rate limit: at most 1 lines/s (burst 3); this line was not sent",
    ]);
    clock.advance(1000); // one token back; the next accepted line ends the run
    say(alice, "7", "8");
    deepEqual(bob.take(), ["<guest-1> 7"]);
    deepEqual(alice.take(), [
      "! rate limit: 2 more lines were not sent",
      "! rate limit: at most 1 lines/s (burst 3); this line was not sent",
    ]);
    clock.advance(999);
    hub.tick(clock.now); // a run under a second old is not summed yet
    say(alice, "9");
    deepEqual(alice.take(), []);
    clock.advance(1);
    hub.tick(clock.now); // a second old: summed, even though nothing was accepted
    deepEqual(alice.take(), ["! rate limit: 1 more line was not sent"]);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub charges empty lines to flood control too",
  fn() {
    const { room, say } = testHub({ rate: 1, burst: 3 });
    const [alice, bob] = room(2);
    say(alice, "", "\t", " ", "now I speak");
    deepEqual(bob.take(), []);
    deepEqual(alice.take(), [
      "! rate limit: at most 1 lines/s (burst 3); this line was not sent",
    ]);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub bounds the lines of one address, all its members together",
  fn() {
    const { connect, say } = testHub({ rate: 100, burst: 100, ipRate: 1, ipBurst: 3 });
    const [a1, a2] = [connect(), connect()]; // both from 192.0.2.1
    const other = connect(new FakeMember({ address: "198.51.100.7" }));
    const watcher = connect(new FakeMember({ address: "203.0.113.9" }));
    watcher.take();
    say(a1, "one", "two");
    say(a2, "three", "four");
    say(other, "elsewhere");
    deepEqual(watcher.take(), [
      "<guest-1> one",
      "<guest-1> two",
      "<guest-2> three",
      "<guest-3> elsewhere",
    ]);
    deepEqual(a2.take().filter((line) => line.startsWith("!")), [
      "! rate limit: at most 1 lines/s from your address 192.0.2.1 (burst 3); this line was not sent",
    ]);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub bounds the private-message bytes one address may send one member",
  fn() {
    const { connect, say } = testHub({ rate: 0, msgBytesRate: 100 }); // burst 400 bytes
    const [a1, a2] = [connect(), connect()]; // attackers sharing 192.0.2.1
    const victim = connect(new FakeMember({ address: "203.0.113.9" }));
    const friend = connect(new FakeMember({ address: "198.51.100.7" }));
    say(victim, "/nick victim");
    const text = "é".repeat(40); // "[guest-N -> you] " + 80 bytes + LF: 98 bytes
    for (let i = 0; i < 5; i++) say(i % 2 ? a2 : a1, `/msg victim ${text}`);
    equal(victim.lines().filter((line) => line.startsWith("[")).length, 4);
    deepEqual(a1.lines().filter((line) => line.startsWith("!")), [ // the fifth was a1's
      "! not delivered: your address may send victim at most 100 bytes/s of private messages; try again later",
    ]);
    say(friend, `/msg victim ${text}`); // another address has its own budget
    equal(victim.lines().filter((line) => line.startsWith("[")).length, 5);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub ignores an empty line and a line of spaces, and says nothing back",
  fn() {
    const { room, say } = testHub();
    const [alice, bob] = room(2);
    say(alice, "", "   ", "\t");
    deepEqual(alice.take(), []);
    deepEqual(bob.take(), []);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub stops announcing joins and leaves in rooms above the announce limit",
  fn() {
    const { room, connect, hub } = testHub({ announceLimit: 2 });
    const [alice, bob] = room(2);
    const carol = connect(); // a third member: quiet
    hub.disconnect(carol.session, "connection closed");
    deepEqual(alice.take(), []);
    hub.disconnect(bob.session, "connection closed"); // back to 2: announced
    deepEqual(alice.take(), ["* guest-2 left (connection closed)"]);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub drops a member whose queue overflows, once, after the broadcast that found it",
  fn() {
    const log: LogEvent[] = [];
    const { room, say, hub } = testHub({ rate: 0, logger: (event) => log.push(event) });
    const [alice, bob, slow] = room(3);
    slow.capacity = 2;
    say(alice, "a", "b", "c", "d");
    deepEqual(slow.lines(), ["<guest-1> a", "<guest-1> b"]);
    equal(slow.closeCalls, 1);
    equal(slow.closed!.kind, "slow");
    equal(slow.closed!.reason, "too slow");
    match(slow.closed!.last!.text!, /^! disconnected: more than 1048576 bytes waiting for you/);
    deepEqual(bob.take(), [
      "<guest-1> a",
      "<guest-1> b",
      "<guest-1> c",
      "* guest-3 left (too slow)",
      "<guest-1> d",
    ]);
    equal(hub.memberCount, 2);
    deepEqual(log.filter((event) => event.event === "disconnect").map((event) => event.reason), [
      "too slow",
    ]);
    hub.disconnect(slow.session, "connection reset"); // its transport closing later: no-op
    equal(log.filter((event) => event.event === "disconnect").length, 1);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub drops slow members found while announcing another's drop, without re-entering",
  fn() {
    const { room, say, hub } = testHub({ rate: 0 });
    const members = room(5);
    const [alice, ...slow] = members;
    // The line overflows guest-2; the others can take just that line, so
    // the announcement of guest-2's drop overflows them in turn.
    for (const member of slow) member.capacity = 1;
    slow[0].capacity = 0;
    say(alice, "fills everyone's queue");
    for (const member of slow) {
      equal(member.closeCalls, 1);
      equal(member.closed!.reason, "too slow");
    }
    equal(hub.memberCount, 1);
    deepEqual(alice.take(), [
      "* guest-2 left (too slow)",
      "* guest-3 left (too slow)",
      "* guest-4 left (too slow)",
      "* guest-5 left (too slow)",
    ]);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub closes a member idle past the timeout, counting only non-empty lines",
  fn() {
    const { room, say, hub, clock } = testHub({ idleTimeout: 10 });
    const [alice, bob] = room(2);
    hub.tick(clock.now);
    clock.advance(6000);
    say(alice, "still here");
    say(bob, "", " "); // empty lines are not activity
    hub.tick(clock.now);
    clock.advance(6000);
    hub.tick(clock.now);
    equal(bob.closed?.kind, "idle");
    equal(bob.closeCalls, 1);
    deepEqual(bob.lines().slice(-1), ["! idle for 10 s; closing the connection"]);
    equal(alice.closeCalls, 0, "alice spoke: not idle");
    deepEqual(alice.take().slice(-1), ["* guest-2 left (idle)"]);
    clock.advance(5000);
    hub.tick(clock.now);
    equal(alice.closeCalls, 1);
    equal(alice.closed!.kind, "idle");
  },
});

Deno.test({
  ...pure,
  name: "ChatHub /quit says bye, announces the reason, and ignores what follows",
  fn() {
    const { room, say } = testHub();
    const [alice, bob] = room(2);
    say(alice, "/quit gone fishing", "after quit");
    deepEqual(alice.take(), ["* bye"]);
    equal(alice.closed!.kind, "quit");
    deepEqual(bob.take(), ["* guest-1 left (quit: gone fishing)"]);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub shutdown tells everyone, closes each once, and announces no leaves",
  fn() {
    const { room, hub, connect } = testHub();
    const members = room(3);
    hub.shutdown(1234);
    for (const member of members) {
      deepEqual(member.take(), ["* server shutting down"]);
      equal(member.closed!.kind, "shutdown");
      equal(member.closed!.graceMs, 1234);
      equal(member.closeCalls, 1);
    }
    equal(hub.memberCount, 0);
    const late = connect();
    equal(late.closed!.kind, "shutdown");
  },
});

Deno.test({
  ...pure,
  name: "ChatHub gives JSON members structured events, their own messages and history",
  fn() {
    const { connect, say, room } = testHub();
    const [alice] = room(1);
    say(alice, "before");
    const bot = connect(new FakeMember({ format: "json" }));
    const types = bot.json().map((event) => event.type);
    deepEqual(types, ["welcome", "members", "history"]);
    deepEqual(bot.json()[1].members, ["guest-1", "guest-2"]);
    equal(bot.json()[2].text, "before");
    bot.received.length = 0;
    say(bot, "from the bot", "/msg guest-1 psst");
    deepEqual(bot.json().map((event) => [event.type, event.from, event.text]), [
      ["message", "guest-2", "from the bot"],
      ["private", "guest-2", "psst"],
    ]);
    deepEqual(alice.take().slice(-2), ["<guest-2> from the bot", "[guest-2 -> you] psst"]);
    for (const event of bot.json()) {
      equal(event.v, 1);
      match(String(event.ts), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
  },
});

Deno.test({
  ...pure,
  name: "ChatHub refuses bad options when it is made",
  fn() {
    for (
      const [options, pattern] of [
        [{ burst: 0 }, /burst must be an integer from 1 to 1000000000, received 0/],
        [{ burst: 1.5 }, /burst must be an integer from 1/],
        [{ rate: -1 }, /rate must be a number from 0/],
        [{ rate: Number.NaN }, /rate must be a number from 0 .*received NaN/],
        [{ history: 1001 }, /history must be an integer from 0 to 1000/],
        [{ maxLineBytes: 10 }, /maxLineBytes must be an integer from 64/],
        [{ announceLimit: -1 }, /announceLimit/],
        [{ idleTimeout: -5 }, /idleTimeout/],
        [{ name: "\x1b[2J" }, /name must not be empty/],
      ] as const
    ) {
      throws(() => new ChatHub(options), pattern, JSON.stringify(options));
    }
    throws(() => new ChatHub({ rate: "10" as unknown as number }), TypeError);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub survives a logger that throws",
  fn() {
    const { room, say } = testHub({
      logger: () => {
        throw new Error("disk full");
      },
    });
    const [alice, bob] = room(2);
    say(alice, "/nick alice", "still works");
    deepEqual(bob.take(), ["* guest-1 is now known as alice", "<alice> still works"]);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub gives a joiner the events before its entry as history only, never live too",
  fn() {
    const { room, connect, say, hub } = testHub();
    const [alice] = room(1);
    say(alice, "one", "two");
    const bob = connect();
    deepEqual(bob.take().slice(2), ["* history: <guest-1> one", "* history: <guest-1> two"]);
    const late = { type: "message" as const, room: "lobby", from: "guest-1", text: "two" };
    // "two" arriving again (another node's copy still in flight): bob had it.
    hub.roomEvent("lobby", { event: late, ts: 0, origin: null, echo: false, seq: 2 });
    deepEqual(bob.take(), []);
    hub.roomEvent("lobby", {
      event: { ...late, text: "three" },
      ts: 0,
      origin: null,
      echo: false,
      seq: 99,
    });
    deepEqual(bob.take(), ["<guest-1> three"]);
  },
});

/** Every pending microtask has run (the hub has taken the directory's answer): one macrotask. */
const microtasksDone = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

Deno.test({
  ...pure,
  name: "ChatHub runs a member's lines in order while a command awaits another node, 64 at most",
  async fn() {
    const directory = new DeferredDirectory({ lines: 20, roomBytes: 1 << 16, totalBytes: 1 << 20 });
    const { connect, say } = testHub({ directory, rate: 0 });
    const [alice, bob] = [connect(), connect()];
    while (directory.waiting > 0) {
      directory.answerNext();
      await microtasksDone();
    }
    alice.take();
    bob.take();
    say(alice, "/nick alice"); // answered later: alice is busy meanwhile
    for (let i = 0; i < 70; i++) say(alice, `line ${i}`);
    deepEqual(
      alice.take(),
      Array(6).fill(
        "! too many lines while the server waits for an answer; this line was not sent",
      ),
    );
    deepEqual(bob.take(), []);
    directory.answerNext();
    await microtasksDone();
    deepEqual(alice.take(), ["* you are now known as alice"]);
    deepEqual(bob.take(), [
      "* guest-1 is now known as alice",
      ...Array.from({ length: 64 }, (_, i) => `<alice> line ${i}`),
    ]);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub holds what reaches a joiner before its history, dropping events up to its entry",
  async fn() {
    const directory = new DeferredDirectory({ lines: 20, roomBytes: 1 << 16, totalBytes: 1 << 20 });
    const { hub, connect, say } = testHub({ directory, rate: 0 });
    const alice = connect();
    directory.answerNext();
    await microtasksDone();
    say(alice, "said before");
    const bob = connect(); // its entry is answered later
    bob.take();
    const event = (text: string) => ({ type: "message" as const, room: "lobby", from: "x", text });
    // From another node, while bob's entry is on its way: number 3 is before
    // bob's entry point (it is in bob's history), number 9 after it.
    hub.roomEvent("lobby", { event: event("three"), ts: 0, origin: null, echo: false, seq: 3 });
    hub.roomEvent("lobby", { event: event("nine"), ts: 0, origin: null, echo: false, seq: 9 });
    deepEqual(bob.take(), []); // held
    directory.cursor = 4;
    directory.answerNext();
    await microtasksDone();
    deepEqual(bob.take(), ["* history: <guest-1> said before", "<x> nine"]);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub keeps an address's line budget across a reconnect",
  fn() {
    const { hub, connect, say, clock } = testHub({ rate: 100, burst: 100, ipRate: 1, ipBurst: 3 });
    const watcher = connect(new FakeMember({ address: "203.0.113.9" }));
    const first = connect(); // from 192.0.2.1
    say(first, "one", "two", "three"); // the address's whole burst
    hub.disconnect(first.session, "quit");
    const again = connect(); // the same address, a new connection, at once
    watcher.take();
    say(again, "four");
    deepEqual(watcher.take(), [], "a reconnect does not refill the address's budget");
    match(again.take().at(-1)!, /^! rate limit: at most 1 lines\/s from your address 192\.0\.2\.1/);
    clock.advance(1000); // one line a second comes back
    say(again, "five");
    deepEqual(watcher.take(), [`<${again.session.nick}> five`]);
  },
});

Deno.test({
  ...pure,
  name: "ChatHub announces the leaves of a dead node's members under its own announce limit",
  fn() {
    const { room, hub } = testHub({ announceLimit: 3 });
    const [alice] = room(1);
    hub.membersLost([
      { roomKey: "lobby", room: "lobby", nick: "ann", left: 2 },
      { roomKey: "lobby", room: "lobby", nick: "bo", left: 3 }, // 3 would hear it: quiet
      { roomKey: "lobby", room: "lobby", nick: "cy", left: 0 }, // nobody left to tell
    ]);
    deepEqual(alice.take(), ["* ann left (connection lost)"]);
  },
});
