// deno-lint-ignore-file no-control-regex -- the tests look for control characters
import { deepEqual, equal } from "node:assert/strict";
import {
  formatAction,
  lineKind,
  parseCommand,
  renderText,
  sanitizeText,
} from "../lib/chat/protocol.ts";
import type { ChatEvent } from "../lib/chat/events.ts";
import { checkNick, checkRoom, nameKey } from "../lib/chat/names.ts";

Deno.test({
  name: "parseCommand() reads every command and its arguments",
  permissions: "none",
  fn() {
    deepEqual(parseCommand("hello /there"), { kind: "say", text: "hello /there" });
    deepEqual(parseCommand("//etc/passwd"), { kind: "say", text: "/etc/passwd" });
    deepEqual(parseCommand("/nick alice"), { kind: "nick", nick: "alice" });
    deepEqual(parseCommand("/NICK  alice "), { kind: "nick", nick: "alice" });
    deepEqual(parseCommand("/join #dev"), { kind: "join", room: "#dev" });
    deepEqual(parseCommand("/msg bob  hi  there"), { kind: "msg", nick: "bob", text: "hi  there" });
    deepEqual(parseCommand("/me waves"), { kind: "me", text: "waves" });
    deepEqual(parseCommand("/who"), { kind: "who" });
    deepEqual(parseCommand("/rooms"), { kind: "rooms" });
    deepEqual(parseCommand("/help"), { kind: "help" });
    deepEqual(parseCommand("/quit"), { kind: "quit", reason: "" });
    deepEqual(parseCommand("/quit gone fishing"), { kind: "quit", reason: "gone fishing" });
    deepEqual(parseCommand("/frobnicate x"), { kind: "unknown", name: "frobnicate" });
  },
});

Deno.test({
  name: "parseCommand() answers a missing or extra argument with the usage",
  permissions: "none",
  fn() {
    deepEqual(parseCommand("/nick"), { kind: "usage", usage: "/nick NAME [PASSWORD]" });
    deepEqual(parseCommand("/nick two words"), { kind: "nick", nick: "two", password: "words" });
    deepEqual(parseCommand("/join"), { kind: "usage", usage: "/join ROOM" });
    deepEqual(parseCommand("/msg bob"), { kind: "usage", usage: "/msg NICK text" });
    deepEqual(parseCommand("/me"), { kind: "usage", usage: "/me action" });
  },
});

Deno.test({
  name: "sanitizeText() removes ESC sequences, C0/C1 controls and bidi overrides but keeps TAB",
  permissions: "none",
  fn() {
    deepEqual(sanitizeText("plain text, ünïcödé 你好 😀"), "plain text, ünïcödé 你好 😀");
    deepEqual(sanitizeText("\x1b[2J\x1b[H\x1b[31;1mred\x1b[0m"), "red");
    deepEqual(sanitizeText("a\x1b]0;pwned title\x07b"), "ab"); // OSC, BEL-terminated
    deepEqual(sanitizeText("a\x1b]8;;http://x\x1b\\link"), "alink"); // OSC, ST-terminated
    deepEqual(sanitizeText("a\x1bPdcs stuff\x1b\\b"), "ab"); // DCS
    deepEqual(sanitizeText("a\x1bcb\x1b(Bc"), "abc"); // RIS, charset
    deepEqual(sanitizeText("tab\there"), "tab\there");
    deepEqual(sanitizeText("bell\x07 bs\x08 nul\x00 del\x7f"), "bell bs nul del");
    deepEqual(sanitizeText("c1\u0085\u009b31m"), "c131m"); // C1 NEL and CSI removed
    deepEqual(sanitizeText("x\u202eevil\u202cy\u2066z"), "xevilyz");
    deepEqual(sanitizeText("dangling \x1b[31"), "dangling ");
  },
});

Deno.test({
  name: "sanitizeText() gives the same result whatever precedes the control",
  permissions: "none",
  fn() {
    for (const control of ["\x00", "\x1b", "\x0b", "\x0c", "\x7f", "\x9f"]) {
      equal(/[\x00-\x08\x0a-\x1f\x7f-\x9f]/.test(sanitizeText(`x${control}y`)), false);
    }
  },
});

Deno.test({
  name: "checkNick() enforces the character set and the length",
  permissions: "none",
  fn() {
    for (
      const good of ["alice", "Bob_2", "x", "_under", "a.b-c", "Алиса", "小明", "a".repeat(24)]
    ) {
      deepEqual(checkNick(good), undefined, good);
    }
    for (
      const bad of ["", "a b", "-dash", ".dot", "<x>", "a\x1b", "a".repeat(25), "semi;colon", "ab>"]
    ) {
      equal(typeof checkNick(bad), "string", JSON.stringify(bad));
    }
  },
});

Deno.test({
  name: "nameKey() folds case and look-alike letters, so nicks cannot impersonate",
  permissions: "none",
  fn() {
    deepEqual(nameKey("Alice"), nameKey("alice"));
    deepEqual(nameKey("\u0430lice"), nameKey("alice")); // Cyrillic а
    deepEqual(nameKey("ＡＬＩＣＥ"), nameKey("alice")); // full-width
    equal(nameKey("alice") === nameKey("alicf"), false);
  },
});

Deno.test({
  name: "checkRoom() accepts a leading # and the nick character set",
  permissions: "none",
  fn() {
    deepEqual(checkRoom("#dev"), undefined);
    deepEqual(checkRoom("dev"), undefined);
    equal(typeof checkRoom("#"), "string");
    equal(typeof checkRoom("two words"), "string");
  },
});

Deno.test({
  name: "lineKind() tells notices, errors and messages apart; actions cannot pose as notices",
  permissions: "none",
  fn() {
    deepEqual(lineKind("* alice joined lobby"), "notice");
    deepEqual(lineKind("! no such nick: bob"), "error");
    deepEqual(lineKind("<alice> * fake notice"), "message");
    deepEqual(lineKind(formatAction("alice", "left (quit)")), "message");
  },
});

Deno.test({
  name: "sanitizeText() turns the line and paragraph separators U+2028 and U+2029 into spaces",
  permissions: "none",
  fn() {
    deepEqual(sanitizeText("one\u2028two\u2029three"), "one two three");
    deepEqual(sanitizeText("\u2028"), " ");
  },
});

Deno.test({
  permissions: "none",
  name: "renderText() renders every event kind as a text member reads it",
  fn() {
    const cases: [ChatEvent, string | null][] = [
      [
        {
          type: "welcome",
          server: "demo",
          nick: "ann",
          online: 3,
          room: "lobby",
          limits: { maxLineBytes: 4096, rate: 10, burst: 20 },
        },
        "* welcome to demo, ann\n* 3 online; you are in lobby; type /help for commands; " +
        "limits: lines up to 4096 bytes, 10 a second (20 at once)",
      ],
      [{ type: "message", room: "dev", from: "ann", text: "hi" }, "<ann> hi"],
      [{ type: "action", room: "dev", from: "ann", text: "waves" }, "<ann> *waves*"],
      [{ type: "private", from: "ann", to: "bo", text: "psst" }, "[ann -> you] psst"],
      [
        { type: "history", room: "dev", kind: "message", from: "ann", text: "hi" },
        "* history: <ann> hi",
      ],
      [
        { type: "history", room: "dev", kind: "action", from: "ann", text: "waves" },
        "* history: <ann> *waves*",
      ],
      [{ type: "join", room: "dev", nick: "ann" }, "* ann joined dev"],
      [{ type: "leave", room: "dev", nick: "ann", reason: "quit" }, "* ann left (quit)"],
      [
        { type: "nick", room: "dev", from: "ann", to: "bo", self: false },
        "* ann is now known as bo",
      ],
      [
        { type: "nick", room: "dev", from: "ann", to: "bo", self: true },
        "* you are now known as bo",
      ],
      [{ type: "members", room: "dev", members: ["ann", "bo"] }, "* 2 in dev: ann, bo"],
      [{ type: "rooms", rooms: [{ name: "dev", count: 2 }] }, "* 1 room: dev (2)"],
      [
        { type: "rooms", rooms: [{ name: "dev", count: 2 }, { name: "lobby", count: 1 }] },
        "* 2 rooms: dev (2), lobby (1)",
      ],
      [{ type: "rooms", rooms: [] }, "* 0 rooms: "],
      [{ type: "format", format: "text" }, "* format: text"],
      [{ type: "notice", text: "hello" }, "* hello"],
      [{ type: "error", code: "not_delivered", text: "down" }, "! down"],
    ];
    for (const [event, text] of cases) equal(renderText(event), text, event.type);
    const members: ChatEvent = { type: "members", room: "dev", members: ["ann"] };
    equal(renderText(members, "joined"), "* you joined dev; 1 here: ann");
    equal(renderText(members, "welcome"), null, "the welcome said it: JSON only");
  },
});
