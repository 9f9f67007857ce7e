import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import { ChatHub } from "../lib/chat/hub.ts";
import { maskMatches, parseMask } from "../lib/chat/ip_mask.ts";
import { nameKey } from "../lib/chat/names.ts";
import {
  banRefusal,
  MAX_PASSWORD_CHECKS,
  Moderation,
  type ModerationChange,
  parseDuration,
  type PasswordHasher,
} from "../lib/chat/moderation.ts";
import { parseCommand } from "../lib/chat/protocol.ts";
import type { LogEvent } from "../lib/support/log.ts";
import { FakeClock, FakeMember } from "./hub_helpers.ts";

const pure = { permissions: "none" } as const;

/** A hasher without the cost: the tests are about the rules, not scrypt. */
const fakeHasher: PasswordHasher = {
  hash: (password) => Promise.resolve(`fake:${password}`),
  verify: (password, hash) => Promise.resolve(hash === `fake:${password}`),
};

/** Lets the hasher's promises and the hub's follow-ups run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

function moderatedHub() {
  const clock = new FakeClock();
  const logs: LogEvent[] = [];
  const changes: ModerationChange[] = [];
  const moderation = new Moderation({
    operators: new Map([["root", "fake:hunter2"]]),
    hasher: fakeHasher,
    logger: (event) => logs.push(event),
  });
  moderation.sinks.push({ record: (change) => changes.push(change) });
  const hub = new ChatHub({ clock: clock.read, moderation, logger: (event) => logs.push(event) });
  let port = 40000;
  const connect = (address = "192.0.2.1", format: "text" | "json" = "text") => {
    const member = new FakeMember({ address, port: port++, format });
    member.session = hub.connect(member);
    member.take();
    return member;
  };
  const say = (member: FakeMember, ...lines: string[]) => {
    for (const line of lines) hub.input(member.session, line);
  };
  /** Connects a member and makes it operator `root`. */
  const operator = async (address = "198.51.100.1") => {
    const op = connect(address);
    say(op, "/nick op", "/oper root hunter2");
    await settle();
    deepEqual(op.take(), ["* you are now known as op", "* you are now an operator (root)"]);
    return op;
  };
  return { hub, clock, moderation, logs, changes, connect, say, operator };
}

Deno.test({
  ...pure,
  name: "moderation commands are refused to non-operators with a clear error",
  async fn() {
    const { connect, say } = moderatedHub();
    const alice = connect();
    connect("192.0.2.2");
    alice.take();
    say(
      alice,
      "/kick guest-2",
      "/ban guest-2",
      "/unban 192.0.2.2",
      "/bans",
      "/mute guest-2",
      "/unmute guest-2",
      "/topic hello",
    );
    await settle();
    deepEqual(alice.take(), [
      "! /kick is for operators; see /oper",
      "! /ban is for operators; see /oper",
      "! /unban is for operators; see /oper",
      "! /bans is for operators; see /oper",
      "! /mute is for operators; see /oper",
      "! /unmute is for operators; see /oper",
      "! only operators set topics; see /oper",
    ]);
    equal(alice.json().every((event) => event.code === "not_operator"), true);
  },
});

Deno.test({
  ...pure,
  name:
    "/oper: a wrong password is refused and logged without it; guesses per address are throttled",
  async fn() {
    const { connect, say, clock, logs, moderation } = moderatedHub();
    const mallory = connect("203.0.113.9");
    for (let i = 0; i < moderation.guesses; i++) say(mallory, `/oper root guess${i}`);
    await settle();
    deepEqual(mallory.take(), Array(moderation.guesses).fill("! wrong password"));
    // A sixth try, even with the right password, from the same address (another connection).
    const again = connect("203.0.113.9");
    say(again, "/oper root hunter2");
    await settle();
    deepEqual(again.take(), ["! too many wrong passwords; try again in 60s"]);
    equal(moderation.operatorOf(again.session), undefined);
    const failures = logs.filter((event) => event.action === "wrong_password");
    equal(failures.length, moderation.guesses);
    ok(!JSON.stringify(logs).includes("guess"), "no password in the log");
    // Another address is not held back; the window ends.
    const other = connect("203.0.113.10");
    say(other, "/oper root hunter2");
    await settle();
    deepEqual(other.take(), ["* you are now an operator (root)"]);
    clock.advance(60_000);
    again.take();
    say(again, "/oper root hunter2");
    await settle();
    deepEqual(again.take(), ["* you are now an operator (root)"]);
    say(again, "/oper root hunter2");
    deepEqual(again.take(), ["* you are already an operator (root)"]);
    // An unknown operator name answers as a wrong password does.
    const eve = connect("203.0.113.11");
    say(eve, "/oper nobody hunter2");
    await settle();
    deepEqual(eve.take(), ["! wrong password"]);
  },
});

Deno.test({
  ...pure,
  name: "/kick: the room sees who kicked whom and why; the kicked member is told, then closed",
  async fn() {
    const { connect, say, operator } = moderatedHub();
    const op = await operator();
    const bob = connect("192.0.2.2");
    const carol = connect("192.0.2.3");
    const json = connect("192.0.2.4", "json");
    op.take(), bob.take(), carol.take(), json.received.length = 0;
    say(op, "/kick guest-2 spamming");
    await settle();
    deepEqual(carol.take(), ["* guest-2 was kicked by root (spamming)"]);
    deepEqual(op.take(), ["* guest-2 was kicked by root (spamming)", "* kicked guest-2"]);
    deepEqual(bob.take(), ["! you were kicked by root (spamming)"]);
    equal(bob.closed?.reason, "kicked");
    equal(bob.session.ended, true);
    const kick = json.json().find((event) => event.type === "kick")!;
    deepEqual({ ...kick, ts: undefined }, {
      v: 1,
      type: "kick",
      ts: undefined,
      room: "lobby",
      nick: "guest-2",
      by: "root",
      reason: "spamming",
    });
    say(op, "/kick nobody", `/kick guest-3 ${"x".repeat(201)}`);
    await settle();
    deepEqual(op.take(), ["! no such nick: nobody", "! a reason has at most 200 characters"]);
    equal(carol.session.ended, false);
  },
});

Deno.test({
  ...pure,
  name: "/mute: the member's lines are refused until the mute ends; /unmute lifts it",
  async fn() {
    const { connect, say, operator, clock } = moderatedHub();
    const op = await operator();
    const bob = connect("192.0.2.2");
    op.take();
    say(op, "/mute guest-2 5m");
    await settle();
    deepEqual(bob.take(), ["* you are muted by root until 2026-11-22 12:05:00 UTC"]);
    deepEqual(op.take(), ["* guest-2 is muted until 2026-11-22 12:05:00 UTC"]);
    say(bob, "spam", "/me spams", "/msg op spam");
    const refused = bob.take();
    equal(refused.length, 3);
    match(
      refused[0],
      /^! you are muted until 2026-11-22 12:05:00 UTC \(5m left\); this line was not sent$/,
    );
    deepEqual(op.take(), []);
    clock.advance(5 * 60_000);
    say(bob, "free again");
    deepEqual(op.take(), ["<guest-2> free again"]);
    say(op, "/mute guest-2");
    await settle();
    match(bob.take()[0], /^\* you are muted by root until 2026-11-22 12:15:00 UTC$/);
    deepEqual(op.take(), ["* guest-2 is muted until 2026-11-22 12:15:00 UTC"]);
    say(op, "/unmute guest-2");
    await settle();
    deepEqual(bob.take(), ["* you may speak again"]);
    say(bob, "hi");
    deepEqual(op.take(), ["* guest-2 may speak again", "<guest-2> hi"]);
    say(op, "/mute guest-2 10", "/mute guest-2 forever");
    deepEqual(op.take(), [
      "! usage: duration 10 needs a unit: 30s, 10m, 2h or 7d; /mute NICK [DURATION]  (DURATION: 30s, 10m, 2h, 7d; default 10m)",
      "! usage: /mute NICK [DURATION]  (DURATION: 30s, 10m, 2h, 7d; default 10m)",
    ]);
  },
});

Deno.test({
  ...pure,
  name:
    "/ban by nick removes the member, refuses its address until the ban expires; /bans and /unban",
  async fn() {
    const { connect, say, operator, clock, moderation, changes } = moderatedHub();
    const op = await operator();
    const bob = connect("192.0.2.2");
    const bob2 = connect("192.0.2.2");
    const carol = connect("192.0.2.3");
    op.take(), carol.take(), bob.take();
    say(op, "/ban guest-2 1h flooding");
    await settle();
    deepEqual(carol.take(), [
      "* guest-2 was banned by root (flooding)",
      "* guest-3 was banned by root (flooding)",
    ]);
    match(
      op.take().at(-1)!,
      /^\* banned 192\.0\.2\.2\/32 until 2026-11-22 13:00:00 UTC \(60m left\); 2 members removed here$/,
    );
    deepEqual(bob.take(), [
      "! you were banned from this server until 2026-11-22 13:00:00 UTC (60m left): flooding (by root)",
    ]);
    equal(bob.closed?.reason, "banned");
    equal(bob2.session.ended, true);
    equal(carol.session.ended, false);
    const ban = moderation.banOn("192.0.2.2", clock.now)!;
    equal(
      banRefusal(ban, clock.now),
      "banned from this server until 2026-11-22 13:00:00 UTC (60m left): flooding",
    );
    equal(moderation.banOn("192.0.2.3", clock.now), undefined);
    deepEqual(changes.map((change) => change.kind), ["ban"]);
    say(op, "/bans");
    deepEqual(op.take(), [
      "* 1 ban",
      "*   192.0.2.2/32 by root until 2026-11-22 13:00:00 UTC (60m left): flooding",
    ]);
    clock.advance(3_600_000);
    equal(moderation.banOn("192.0.2.2", clock.now), undefined, "expired");
    say(op, "/bans");
    deepEqual(op.take(), ["* 0 bans"]);
    deepEqual(changes.map((change) => change.kind), ["ban", "unban"]);
    say(op, "/ban 192.0.2.0/24", "/unban 192.0.2.77/24", "/unban 10.0.0.1");
    await settle();
    const lines = op.take();
    equal(lines.at(-2), "* unbanned 192.0.2.0/24");
    equal(lines.at(-1), "! no ban on 10.0.0.1; /bans lists them");
    equal(carol.session.ended, true, "the /24 covered carol");
    equal(moderation.banOn("192.0.2.3", clock.now), undefined);
  },
});

Deno.test({
  ...pure,
  name: "/ban never removes an operator; an operator's own address may be banned",
  async fn() {
    const { connect, say, operator } = moderatedHub();
    const op = await operator("192.0.2.9");
    const bob = connect("192.0.2.9");
    op.take();
    say(op, "/ban 192.0.2.9");
    await settle();
    equal(bob.session.ended, true);
    equal(op.session.ended, false);
  },
});

Deno.test({
  ...pure,
  name: "/topic: operators set it; the room sees it, joiners are shown it, /rooms lists it",
  async fn() {
    const { hub, connect, say, operator, changes } = moderatedHub();
    const op = await operator();
    const bob = connect("192.0.2.2");
    say(bob, "/topic");
    deepEqual(bob.take(), ["* lobby has no topic"]);
    op.take();
    say(op, "/topic welcome, be kind");
    deepEqual(bob.take(), ["* topic of lobby: welcome, be kind (set by root)"]);
    deepEqual(op.take(), ["* topic of lobby set"]);
    const carol = new FakeMember({ address: "192.0.2.3", format: "json" });
    carol.session = hub.connect(carol);
    connect("192.0.2.4");
    say(bob, "/topic", "/rooms");
    deepEqual(bob.take().slice(-2), [
      "* topic of lobby: welcome, be kind (set by root)",
      "* 1 room: lobby (4: welcome, be kind)",
    ]);
    const topic = carol.json().find((event) => event.type === "topic")!;
    equal(topic.text, "welcome, be kind");
    equal(topic.by, "root");
    // In a room joined with /join, after the member list.
    say(op, "/join dev", "/topic dev things");
    say(bob, "/join dev");
    deepEqual(bob.take().slice(-2), [
      "* you joined dev; 2 here: op, guest-2",
      "* topic of dev: dev things (set by root)",
    ]);
    say(op, "/topic -");
    deepEqual(bob.take(), ["* topic of dev cleared by root"]);
    deepEqual(changes.map((change) => change.kind), ["topic", "topic", "topic"]);
    say(op, `/topic ${"x".repeat(301)}`);
    match(op.take().at(-1)!, /^! a topic has at most 300 characters$/);
  },
});

Deno.test({
  ...pure,
  name:
    "/register: a registered nick is refused to others and its look-alikes; its owner takes it with the password",
  async fn() {
    const { connect, say, logs } = moderatedHub();
    const alice = connect("192.0.2.1");
    say(alice, "/register sesame");
    await settle();
    deepEqual(alice.take(), ["! guest nicks cannot be registered; take a nick with /nick first"]);
    say(alice, "/nick alice", "/register sesame");
    await settle();
    deepEqual(alice.take(), [
      "* you are now known as alice",
      "* nick alice is registered; take it later with /nick alice PASSWORD",
    ]);
    say(alice, "/quit");
    const eve = connect("203.0.113.5");
    say(eve, "/nick alice", "/nick ALICE", "/nick \u0430lice", "/nick alice wrong");
    await settle();
    deepEqual(eve.take(), [
      "! nick alice is registered; its owner takes it with /nick alice PASSWORD",
      "! nick ALICE is registered; its owner takes it with /nick ALICE PASSWORD",
      "! nick \u0430lice is registered",
      "! wrong password",
    ]);
    const back = connect("192.0.2.1");
    say(back, "/nick alice sesame");
    await settle();
    deepEqual(back.take(), ["* you are now known as alice"]);
    ok(!JSON.stringify(logs).includes("sesame"), "no password in the log");
    // Back to a guest-less nick and again: proven once, no password needed this connection.
    say(back, "/nick al2", "/nick alice");
    await settle();
    deepEqual(back.take(), ["* you are now known as al2", "* you are now known as alice"]);
    eve.take();
    say(eve, "/unregister bob");
    deepEqual(eve.take(), ["! nick bob is not registered"]);
    say(eve, "/unregister alice");
    deepEqual(eve.take(), ["! only alice's owner or an operator may unregister it"]);
    say(back, "/unregister");
    deepEqual(back.take(), ["* nick alice is no longer registered"]);
    say(back, "/quit");
    eve.take();
    say(eve, "/nick alice");
    await settle();
    deepEqual(eve.take(), ["* you are now known as alice"]);
  },
});

Deno.test({
  ...pure,
  name: "registered nick guesses are throttled per nick across addresses",
  async fn() {
    const { connect, say, clock } = moderatedHub();
    const alice = connect("192.0.2.1");
    say(alice, "/nick alice", "/register sesame", "/quit");
    await settle();
    for (let i = 0; i < 5; i++) {
      const guesser = connect(`203.0.113.${i + 1}`);
      say(guesser, `/nick alice guess${i}`);
      await settle();
      deepEqual(guesser.take(), ["! wrong password"]);
    }
    const owner = connect("192.0.2.1");
    say(owner, "/nick alice sesame");
    await settle();
    deepEqual(owner.take(), ["! too many wrong passwords; try again in 60s"]);
    clock.advance(60_000);
    say(owner, "/nick alice sesame");
    await settle();
    deepEqual(owner.take(), ["* you are now known as alice"]);
  },
});

Deno.test({
  ...pure,
  name: "moderation parsing: durations, masks and usage errors",
  fn() {
    equal(parseDuration("30s"), 30_000);
    equal(parseDuration("2h"), 7_200_000);
    equal(parseDuration("spam"), null);
    throws(() => parseDuration("10"), /needs a unit/);
    throws(() => parseDuration("999d"), /at most 366d/);
    equal(parseMask("10.1.2.3/8")?.text, "10.0.0.0/8");
    equal(parseMask("::ffff:192.0.2.1")?.text, "192.0.2.1/32");
    equal(parseMask("2001:db8::1/33")?.text, "2001:db8::/33");
    equal(parseMask("1.2.3.4/33"), null);
    equal(parseMask("1.2.3"), null);
    ok(maskMatches(parseMask("2001:db8::/32")!, "2001:db8:ffff::1"));
    ok(!maskMatches(parseMask("2001:db8::/32")!, "192.0.2.1"));
    deepEqual(parseCommand("/ban bob 2h spam and more"), {
      kind: "ban",
      target: "bob",
      durationMs: 7_200_000,
      reason: "spam and more",
    });
    deepEqual(parseCommand("/ban bob spam"), {
      kind: "ban",
      target: "bob",
      durationMs: null,
      reason: "spam",
    });
    deepEqual(parseCommand("/nick alice pass word"), {
      kind: "nick",
      nick: "alice",
      password: "pass word",
    });
    deepEqual(parseCommand("/oper root"), { kind: "usage", usage: "/oper NAME PASSWORD" });
    deepEqual(parseCommand("/topic -"), { kind: "topic", text: "" });
  },
});

Deno.test({
  ...pure,
  name: "a ban made on another node removes the members it covers on this one",
  async fn() {
    const { connect, moderation, clock } = moderatedHub();
    const bob = connect("192.0.2.2");
    const carol = connect("192.0.2.3");
    carol.take();
    moderation.applyRemote({
      kind: "ban",
      ban: { mask: "192.0.2.2/32", reason: "spam", by: "root", since: clock.now, until: null },
    });
    await settle();
    equal(bob.session.ended, true);
    deepEqual(bob.take().at(-1), "! you were banned from this server until lifted: spam (by root)");
    deepEqual(carol.take(), ["* guest-1 was banned by root (spam)"]);
  },
});

Deno.test({
  ...pure,
  name: "Moderation.apply() takes stored changes back without recording them again",
  fn() {
    const moderation = new Moderation();
    const recorded: ModerationChange[] = [];
    moderation.sinks.push({ record: (change) => recorded.push(change) });
    moderation.apply({
      kind: "ban",
      ban: { mask: "192.0.2.0/24", reason: "", by: "root", since: 0, until: null },
    });
    moderation.apply({
      kind: "register",
      key: "alice",
      registration: { nick: "alice", hash: "x", since: 0 },
    });
    ok(moderation.banOn("192.0.2.200", 1) !== undefined);
    equal(moderation.registration("alice")?.nick, "alice");
    deepEqual(recorded, []);
  },
});

Deno.test({
  ...pure,
  name:
    "the page's ChatModel shows topics, kicks, bans and mutes, and takes a registered nick back after a reconnect",
  async fn() {
    const { ChatModel } = await import("../web/chat_model.js");
    const model = new ChatModel();
    const ts = "2026-11-22T12:00:00.000Z";
    const texts = (event: Record<string, unknown>) =>
      model.apply({ ts, ...event }).items.map((item: { text: string }) => item.text);
    model.apply({ type: "welcome", ts, server: "p", nick: "guest-1", online: 1, room: "lobby" });
    model.apply({ type: "members", ts, room: "lobby", members: ["guest-1", "bob", "carol"] });
    deepEqual(texts({ type: "topic", room: "lobby", text: "be kind", by: "root", since: ts }), [
      "topic of lobby: be kind (set by root)",
    ]);
    equal(model.topic, "be kind");
    deepEqual(texts({ type: "kick", room: "lobby", nick: "bob", by: "root", reason: "spam" }), [
      "bob was kicked by root (spam)",
    ]);
    deepEqual(
      texts({
        type: "ban",
        room: "lobby",
        nick: "carol",
        mask: "192.0.2.3/32",
        by: "root",
        reason: "",
        until: null,
      }),
      ["carol was banned by root"],
    );
    deepEqual(model.members, ["guest-1"]);
    deepEqual(
      texts({ type: "mute", nick: "guest-1", by: "root", muted: true, until: ts, self: true }),
      ["you are muted by root until 12:00:00 UTC"],
    );
    // The login field: the password is sent again with the nick after a reconnect.
    model.password = "sesame";
    model.apply({ type: "nick", ts, room: "lobby", from: "guest-1", to: "alice", self: true });
    const again = model.apply({
      type: "welcome",
      ts,
      server: "p",
      nick: "guest-9",
      online: 1,
      room: "lobby",
    });
    equal(again.send[0], "/nick alice sesame");
  },
});

Deno.test({
  ...pure,
  name: "at most MAX_PASSWORD_CHECKS passwords are checked at once; more are refused as busy",
  async fn() {
    const waiting: (() => void)[] = [];
    const slowHasher: PasswordHasher = {
      hash: (password) => Promise.resolve(`fake:${password}`),
      verify: () => new Promise((resolve) => waiting.push(() => resolve(false))),
    };
    const clock = new FakeClock();
    const moderation = new Moderation({ hasher: slowHasher });
    moderation.apply({
      kind: "register",
      key: nameKey("alice"),
      registration: { nick: "alice", hash: "fake:x", since: 0 },
    });
    const hub = new ChatHub({ clock: clock.read, moderation });
    const members = Array.from({ length: MAX_PASSWORD_CHECKS + 1 }, (_, i) => {
      const member = new FakeMember({ address: `203.0.113.${i + 1}` });
      member.session = hub.connect(member);
      member.take();
      hub.input(member.session, `/nick alice guess${i}`);
      return member;
    });
    equal(waiting.length, MAX_PASSWORD_CHECKS);
    deepEqual(members.at(-1)!.take(), [
      "! the server is busy checking passwords; try again in a moment",
    ]);
    for (const release of waiting) release();
    await settle();
    deepEqual(members[0].take().at(-1), "! wrong password");
  },
});
