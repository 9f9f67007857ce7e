import { deepEqual, equal, ok } from "node:assert/strict";
import { type ChatEvent, EVENT_VERSION, Outgoing } from "../lib/chat/events.ts";

const pure = { permissions: "none" } as const;
const ts = Date.UTC(2026, 10, 22, 10, 30);

Deno.test({
  ...pure,
  name: "Outgoing encodes every event type as one versioned JSON object with an ISO time",
  fn() {
    const events: ChatEvent[] = [
      {
        type: "welcome",
        server: "parley",
        nick: "guest-1",
        online: 3,
        room: "lobby",
        limits: { maxLineBytes: 4096, rate: 10, burst: 20 },
      },
      { type: "message", room: "lobby", from: "alice", text: "hi <b>" },
      { type: "action", room: "lobby", from: "alice", text: "waves" },
      { type: "private", from: "alice", to: "bob", text: "psst" },
      { type: "history", room: "lobby", kind: "message", from: "alice", text: "earlier" },
      { type: "join", room: "dev", nick: "bob" },
      { type: "leave", room: "dev", nick: "bob", reason: "quit: bye" },
      { type: "nick", room: "lobby", from: "guest-2", to: "bob", self: false },
      { type: "members", room: "lobby", members: ["alice", "bob"] },
      { type: "rooms", rooms: [{ name: "dev", count: 1 }, { name: "lobby", count: 2 }] },
      { type: "format", format: "json" },
      { type: "notice", text: "server shutting down" },
      { type: "error", code: "rate_limit", text: "rate limit" },
    ];
    for (const event of events) {
      const outgoing = new Outgoing(event, null, ts);
      const bytes = outgoing.bytes("json")!;
      equal(bytes.at(-1), 0x0a);
      const decoded = JSON.parse(new TextDecoder().decode(bytes));
      deepEqual(Object.keys(decoded).slice(0, 3), ["v", "type", "ts"]);
      deepEqual(decoded, { v: EVENT_VERSION, ts: "2026-11-22T10:30:00.000Z", ...event });
      equal(outgoing.bytes("text"), null, "JSON-only event has no text rendering");
    }
  },
});

Deno.test({
  ...pure,
  name: "Outgoing encodes its text once, with one LF per line, and keeps the bytes",
  fn() {
    const outgoing = new Outgoing({ type: "notice", text: "x" }, "* a\n* b", ts);
    const first = outgoing.bytes("text")!;
    equal(new TextDecoder().decode(first), "* a\n* b\n");
    ok(outgoing.bytes("text") === first);
    ok(outgoing.bytes("json") === outgoing.bytes("json"));
  },
});

Deno.test({
  ...pure,
  name: "Outgoing JSON escapes what text would show raw: controls, quotes, markup",
  fn() {
    const outgoing = new Outgoing(
      {
        type: "message",
        room: "lobby",
        from: "x",
        text: 'a"b\\c\u2028<img src=x onerror=alert(1)>',
      },
      null,
      ts,
    );
    const line = new TextDecoder().decode(outgoing.bytes("json")!);
    equal(line.split("\n").length, 2, "exactly one line");
    equal(JSON.parse(line).text, 'a"b\\c\u2028<img src=x onerror=alert(1)>');
  },
});

Deno.test({
  name: "Outgoing frames each format once for every member and keeps the frames",
  permissions: "none",
  fn() {
    const event = new Outgoing(
      { type: "message", room: "lobby", from: "alice", text: "hi" },
      "<alice> hi",
      0,
    );
    let calls = 0;
    const frame = (bytes: Uint8Array) => {
      calls++;
      return Uint8Array.from([0xff, ...bytes]);
    };
    const text = event.framed("text", frame);
    equal(event.framed("text", frame), text);
    deepEqual([...text!], [0xff, ...event.bytes("text")!]);
    const json = event.framed("json", frame);
    equal(event.framed("json", frame), json);
    equal(calls, 2);
    const only = new Outgoing({ type: "format", format: "json" }, null, 0);
    equal(only.framed("text", frame), null);
    equal(calls, 2);
  },
});
