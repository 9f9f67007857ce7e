/**
 * The chat page without a browser: its pure modules (web/*.js) under Deno,
 * its colours, and how the HTTP port serves its files.
 *
 * `web/confusable_folds.js` is generated from lib/chat/confusables_data.ts;
 * a test checks it is current. Regenerate it with
 * `npx -y deno@2.9.6 run --allow-env --allow-write=web tests/page_test.ts`.
 *
 * @module
 */

import { deepEqual, equal, match, notEqual, ok } from "node:assert/strict";
import { CONFUSABLE_FOLDS } from "../lib/chat/confusables_data.ts";
import { nameKey } from "../lib/chat/names.ts";
import { createPageHandler, WEB_DIR } from "../lib/server/page.ts";
import { serveChat } from "../lib/server/serve_chat.ts";
import { nickColour } from "../lib/terminal/chat_display.ts";
import { CONFUSABLE_FOLDS as PAGE_FOLDS } from "../web/confusable_folds.js";
import { nickColourIndex, nickKey } from "../web/nick_colour.js";
import { ChatModel, closeOutcome, parseEvents, reconnectDelay } from "../web/chat_model.js";
import { ChatConnection } from "../web/connection.js";
import { clockText, roomCount } from "../web/view.js";
import { InputHistory, parseInput } from "../web/input_line.js";
import { LOOPBACK, utf8, within } from "./helpers.ts";
import { rootPath } from "./process_helpers.ts";
import { readResponse } from "./ws_helpers.ts";

const ANSI_NICK_COLOURS = ["32", "33", "34", "35", "36", "92", "93", "94", "95", "96"];

Deno.test({
  name: "web/confusable_folds.js is the server's table of look-alikes",
  permissions: "none",
  fn() {
    deepEqual(
      PAGE_FOLDS,
      CONFUSABLE_FOLDS,
      "regenerate: deno run --allow-env --allow-write=web tests/page_test.ts",
    );
  },
});

Deno.test({
  name: "nickColourIndex() picks the terminal client's colour, from the server's nameKey()",
  permissions: "none",
  fn() {
    const nicks = [
      "alice",
      "ALICE",
      "aIice",
      "bob",
      "guest-1",
      "guest-42",
      "m0m1",
      "x_y.z-9",
      "Zoë",
      "José",
      "Łukasz",
      "Ærøskøbing",
      "Straße",
      "日本語",
      "김철수",
      "Ελένη",
      "Дмитрий",
      "\u0430lice",
      "ＡＬＩＣＥ",
      "İstanbul",
      "naïve",
      "Ğökçe",
      "Vũ_Thị",
      "محمد",
      "Åsa",
      "e\u0301",
      "ǅemal",
    ];
    for (let i = 0; i < 2000; i++) {
      let nick = "";
      for (let j = 0; j <= i % 24; j++) {
        nick += String.fromCharCode(0x21 + (i * 7919 + j * 104729) % 94);
      }
      nicks.push(nick);
    }
    for (const nick of nicks) {
      equal(nickKey(nick), nameKey(nick), nick);
      const code = /\[(\d+)m/.exec(nickColour(nick))![1];
      equal(nickColourIndex(nick), ANSI_NICK_COLOURS.indexOf(code), nick);
    }
    equal(nickColourIndex("\u0430lice"), nickColourIndex("alice")); // Cyrillic а: one colour
  },
});

Deno.test({
  name: "parseEvents() reads every event of a coalesced message and skips the rest",
  permissions: "none",
  fn() {
    const message = '{"v":1,"type":"notice","text":"a"}\n\nnot json\n[1]\n{"v":1,"type":"join"}';
    deepEqual(parseEvents(message).map((event) => event.type), ["notice", "join"]);
    deepEqual(parseEvents(""), []);
  },
});

Deno.test({
  name: "reconnectDelay() doubles from 250–500 ms up to 7.5–15 s, with jitter",
  permissions: "none",
  fn() {
    deepEqual([0, 1, 2, 3].map((attempt) => reconnectDelay(attempt, () => 0)), [
      250,
      500,
      1000,
      2000,
    ]);
    deepEqual([0, 1, 2, 3].map((attempt) => reconnectDelay(attempt, () => 1)), [
      500,
      1000,
      2000,
      4000,
    ]);
    deepEqual([5, 6, 50].map((attempt) => reconnectDelay(attempt, () => 1)), [15000, 15000, 15000]);
    equal(reconnectDelay(50, () => 0), 7500);
  },
});

Deno.test({
  name: "closeOutcome() reconnects after any close but a quit, an idle close included",
  permissions: "none",
  fn() {
    deepEqual(closeOutcome(1000, "", null, true), { text: "disconnected: you quit", retry: false });
    equal(closeOutcome(1001, "", "idle", true).retry, true);
    deepEqual(closeOutcome(1001, "server shutting down", null, true), {
      text: "the server went away: server shutting down",
      retry: true,
    });
    equal(
      closeOutcome(1013, "server full (3 clients)", null, true).text,
      "refused by the server: server full (3 clients)",
    );
    deepEqual(closeOutcome(1006, "", null, false), {
      text: "cannot reach the server",
      retry: true,
    });
    deepEqual(closeOutcome(1006, "", null, true), { text: "connection lost (1006)", retry: true });
    equal(closeOutcome(1008, "", "too_slow", true).retry, true);
  },
});

Deno.test({
  name: "parseInput() sends what the terminal would, keeps /format and /clear on the page",
  permissions: "none",
  fn() {
    deepEqual(parseInput("hello"), { send: "hello", local: null, reply: null });
    deepEqual(parseInput("//who"), { send: "//who", local: null, reply: null });
    deepEqual(parseInput("/WHO"), { send: "/WHO", local: null, reply: "who" });
    deepEqual(parseInput("/rooms"), { send: "/rooms", local: null, reply: "rooms" });
    deepEqual(parseInput("/msg bob hi"), { send: "/msg bob hi", local: null, reply: null });
    deepEqual(parseInput("/format text"), { send: null, local: "format", reply: null });
    deepEqual(parseInput("/clear"), { send: null, local: "clear", reply: null });
  },
});

Deno.test({
  name: "InputHistory walks back and forth and keeps the draft",
  permissions: "none",
  fn() {
    const history = new InputHistory(3);
    equal(history.up("draft"), null);
    for (const line of ["a", "b", "b", "c", "d"]) history.add(line);
    deepEqual(history.lines, ["b", "c", "d"]); // bounded, no repeats in a row
    deepEqual([history.up("draft"), history.up("x"), history.up("x"), history.up("x")], [
      "d",
      "c",
      "b",
      null,
    ]);
    deepEqual([history.down(), history.down(), history.down(), history.down()], [
      "c",
      "d",
      "draft",
      null,
    ]);
  },
});

const at = "2026-11-22T10:00:00.000Z";
const welcome = (nick: string) => ({
  type: "welcome",
  ts: at,
  server: "parley",
  nick,
  online: 2,
  room: "lobby",
});

Deno.test({
  name: "ChatModel keeps the room, its members and the room list current",
  permissions: "none",
  fn() {
    const model = new ChatModel();
    deepEqual(model.apply(welcome("guest-1")).send, ["/rooms"]);
    deepEqual(
      model.apply({ type: "members", room: "lobby", members: ["bob", "guest-1"] }).items,
      [],
    );
    model.apply({ type: "rooms", rooms: [{ name: "dev", count: 1 }, { name: "lobby", count: 2 }] });
    const text = (event: Record<string, unknown>) =>
      model.apply(event).items.map((item) => item.text);
    deepEqual(text({ type: "join", room: "lobby", nick: "carl" }), ["carl joined lobby"]);
    deepEqual(text({ type: "nick", room: "lobby", from: "carl", to: "cat", self: false }), [
      "carl is now known as cat",
    ]);
    deepEqual(text({ type: "leave", room: "lobby", nick: "bob", reason: "quit" }), [
      "bob left (quit)",
    ]);
    deepEqual([model.members, model.rooms[1]], [["guest-1", "cat"], { name: "lobby", count: 2 }]);
    deepEqual(text({ type: "nick", room: "lobby", from: "guest-1", to: "ann", self: true }), [
      "you are now known as ann",
    ]);
    deepEqual([model.nick, model.chosenNick, model.members], ["ann", "ann", ["ann", "cat"]]);
    // A /who typed by the user is shown; one the page asked for itself only updates the list.
    model.expect("who", true);
    model.expect("who", false);
    deepEqual(text({ type: "members", room: "lobby", members: ["ann", "cat"] }), [
      "2 in lobby: ann, cat",
    ]);
    deepEqual(text({ type: "members", room: "lobby", members: ["ann", "cat", "dan"] }), []);
    model.expect("rooms", true);
    deepEqual(text({ type: "rooms", rooms: [{ name: "lobby", count: 3 }] }), ["1 room: lobby (3)"]);
    // Moving: the new room's members, a notice, a fresh room list.
    const moved = model.apply({ type: "members", room: "dev", members: ["eve", "ann"] });
    deepEqual([moved.items[0].text, moved.send, model.room], [
      "you joined dev; 2 here",
      ["/rooms"],
      "dev",
    ]);
  },
});

Deno.test({
  name: "ChatModel marks your own lines and history, and restores nick and room after a reconnect",
  permissions: "none",
  fn() {
    const model = new ChatModel();
    model.apply(welcome("guest-1"));
    model.apply({ type: "members", room: "lobby", members: ["guest-1"] });
    const [mine] =
      model.apply({ type: "message", ts: at, room: "lobby", from: "guest-1", text: "hi" }).items;
    deepEqual(mine, { kind: "message", ts: at, from: "guest-1", text: "hi", own: true });
    const [told] =
      model.apply({ type: "private", ts: at, from: "guest-1", to: "bob", text: "psst" }).items;
    deepEqual([told.kind, told.own, told.to], ["private", true, "bob"]);
    const [old] = model.apply({
      type: "history",
      ts: at,
      room: "lobby",
      kind: "action",
      from: "bob",
      text: "waves",
    }).items;
    deepEqual(old, { kind: "action", ts: at, from: "bob", text: "waves", history: true });
    model.apply({ type: "nick", room: "lobby", from: "guest-1", to: "keeper", self: true });
    model.apply({ type: "members", room: "den", members: ["keeper"] });
    model.expect("who", true);
    model.disconnected();
    const again = model.apply(welcome("guest-7"));
    deepEqual(again.send, ["/nick keeper", "/join den", "/rooms"]);
    match(again.items[0].text, /^reconnected: welcome to parley, guest-7/);
    deepEqual(model.pending, { who: [], rooms: [false] });
    const [error] =
      model.apply({ type: "error", ts: at, code: "nick_taken", text: "nick keeper is taken" })
        .items;
    deepEqual([error.kind, model.lastError], ["error", "nick_taken"]);
  },
});

Deno.test({
  name: "the room list counts the current room from its member list, the others as listed",
  permissions: "none",
  fn() {
    const model = new ChatModel();
    model.apply(welcome("guest-1"));
    model.apply({ type: "rooms", rooms: [{ name: "dev", count: 1 }, { name: "lobby", count: 5 }] });
    const counts = () => model.rooms.map((room) => roomCount(room, model.room, model.members));
    deepEqual(counts(), [1, 5]); // no member list yet: the listed count
    model.apply({ type: "members", room: "lobby", members: ["bob", "guest-1"] });
    deepEqual(counts(), [1, 2]);
    model.apply({ type: "join", room: "lobby", nick: "carl" });
    deepEqual(counts(), [1, 3]);
    model.apply({ type: "leave", room: "dev", nick: "dan", reason: "quit" }); // another room
    model.apply({ type: "leave", room: "lobby", nick: "bob", reason: "quit" });
    deepEqual(counts(), [1, 2]);
    // The model keeps the server's list as it came.
    deepEqual(model.rooms, [{ name: "dev", count: 1 }, { name: "lobby", count: 5 }]);
  },
});

Deno.test({
  name: "clockText() shows the time of today's events and the date of older ones",
  permissions: "none",
  fn() {
    const now = new Date(2024, 4, 6, 18, 30);
    equal(clockText(new Date(2024, 4, 6, 9, 5).toISOString(), now), "09:05");
    equal(clockText(new Date(2024, 4, 5, 23, 59).toISOString(), now), "2024-05-05 23:59");
    equal(clockText(new Date(2023, 4, 6, 9, 5).toISOString(), now), "2023-05-06 09:05");
    equal(clockText("not a time", now), "");
  },
});

/** A WebSocket stand-in the test opens, feeds and closes. */
class FakeSocket {
  static made: FakeSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((message: { data: unknown }) => void) | null = null;
  onclose: ((close: { code: number; reason: string }) => void) | null = null;
  constructor(readonly url: string, readonly protocols: string[]) {
    FakeSocket.made.push(this);
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  send(line: string) {
    this.sent.push(line);
  }
  close(code = 1005, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

Deno.test({
  name: "ChatConnection reconnects with growing, jittered pauses until you quit",
  permissions: "none",
  fn() {
    FakeSocket.made = [];
    const states: string[] = [];
    const events: string[] = [];
    const timers: Array<{ fn: () => void; ms: number }> = [];
    let lastError: string | null = null;
    const connection = new ChatConnection("ws://host/ws", {
      onEvent: (event) => events.push(event.type),
      onStatus: (status) => states.push(`${status.state} ${status.delayMs ?? ""}`.trim()),
      lastError: () => lastError,
      WebSocket: FakeSocket as unknown as typeof WebSocket,
      setTimer: (fn, ms) => timers.push({ fn, ms }),
      clearTimer: () => {},
      random: () => 0.5,
    });
    equal(connection.send("early"), false);
    connection.connect();
    const first = FakeSocket.made[0];
    deepEqual([first.url, first.protocols], ["ws://host/ws", ["parley.json"]]);
    first.open();
    first.onmessage!({ data: `${JSON.stringify(welcome("guest-1"))}\n{"type":"members"}` });
    deepEqual(events, ["welcome", "members"]);
    ok(connection.send("hello"));
    deepEqual(first.sent, ["hello"]);
    first.close(1001, "server shutting down");
    FakeSocket.made[0].close(); // a late close of an old socket changes nothing
    for (let attempt = 0; attempt < 3; attempt++) {
      timers.shift()!.fn();
      FakeSocket.made.at(-1)!.close(1006); // refused: never opened
    }
    deepEqual(states, [
      "connecting",
      "connected",
      "waiting 375",
      "connecting",
      "waiting 750",
      "connecting",
      "waiting 1500",
      "connecting",
      "waiting 3000",
    ]);
    timers.shift()!.fn();
    const back = FakeSocket.made.at(-1)!;
    back.open();
    back.onmessage!({ data: JSON.stringify(welcome("guest-2")) });
    lastError = "idle";
    back.close(1001); // an idle close: reconnected as well
    deepEqual(states.slice(-3), ["connecting", "connected", "waiting 375"]);
    equal(timers.length, 1);
  },
});

Deno.test({
  name: "the palette reads at 4.5:1 or better, light and dark",
  permissions: { read: true },
  async fn() {
    const css = await Deno.readTextFile(rootPath("web/palette.css"));
    const dark = css.indexOf("@media (prefers-color-scheme: dark)");
    ok(dark > 0);
    for (const block of [css.slice(0, dark), css.slice(dark)]) {
      const colours = new Map(
        [...block.matchAll(/--([\w-]+): (#[0-9a-f]{6});/g)].map((m) => [m[1], m[2]]),
      );
      const readable = (name: string, on = "bg") => {
        const ratio = contrast(colours.get(name)!, colours.get(on)!);
        ok(ratio >= 4.5, `--${name} on --${on}: ${ratio.toFixed(2)}:1`);
      };
      for (let i = 0; i < 10; i++) {
        for (const on of ["bg", "own", "private"]) readable(`nick-${i}`, on);
      }
      for (const name of ["fg", "muted", "error", "accent"]) readable(name);
      readable("error", "error-bg");
    }
  },
});

/** WCAG 2 contrast ratio of two `#rrggbb` colours. */
function contrast(a: string, b: string): number {
  const luminance = (hex: string) => {
    const [r, g, b] = [1, 3, 5].map((i) => {
      const c = parseInt(hex.slice(i, i + 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (light + 0.05) / (dark + 0.05);
}

Deno.test({
  name: "the page's scripts never write HTML",
  permissions: { read: true },
  async fn() {
    for await (const entry of Deno.readDir(WEB_DIR)) {
      if (!entry.name.endsWith(".js")) continue;
      const code = await Deno.readTextFile(`${WEB_DIR}/${entry.name}`);
      ok(!/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(/.test(code), entry.name);
    }
  },
});

Deno.test("the page's files are found beside the modules, as in a compiled binary", () => {
  equal(WEB_DIR, rootPath("web"));
});

/** A GET or HEAD over a raw connection; returns the whole response. */
async function ask(port: number, head: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(utf8(`${head}\r\nHost: 127.0.0.1:${port}\r\n\r\n`));
  const answer = await within(readResponse(conn), "the answer");
  conn.close();
  return answer;
}

function header(response: string, name: string): string | undefined {
  return new RegExp(`^${name}: (.*)\r$`, "im").exec(response)?.[1];
}

Deno.test("serveChat() serves the page at / with its assets, ETags and a strict policy", async () => {
  await using server = serveChat({ ...LOOPBACK, httpPort: 0 });
  await server.ready;
  const port = server.httpAddr!.port;
  const page = await ask(port, "GET / HTTP/1.1\r\nAccept: text/html,*/*");
  match(page, /^HTTP\/1\.1 200 /);
  equal(header(page, "content-type"), "text/html;charset=utf-8");
  equal(header(page, "cache-control"), "public,max-age=0,must-revalidate");
  equal(header(page, "x-content-type-options"), "nosniff");
  match(header(page, "content-security-policy") ?? "", /default-src 'self'/);
  equal(header(page, "vary"), "Accept");
  match(page, /<ol id="log" class="log" role="log" aria-live="polite"/);
  const body = page.slice(page.indexOf("\r\n\r\n") + 4);
  equal(Number(header(page, "content-length")), utf8(body).length);
  const etag = header(page, "etag")!;
  match(etag, /^W\/"/);
  match(
    await ask(port, `GET / HTTP/1.1\r\nAccept: text/html\r\nIf-None-Match: ${etag}`),
    /^HTTP\/1\.1 304 /,
  );
  const head = await ask(port, "HEAD / HTTP/1.1\r\nAccept: text/html");
  match(head, /^HTTP\/1\.1 200 /);
  equal(header(head, "content-length"), header(page, "content-length"));
  ok(head.endsWith("\r\n\r\n"), "HEAD sends no body");
  // Every asset the page refers to, with its type.
  const types: Record<string, string> = {
    js: "text/javascript",
    css: "text/css",
    svg: "image/svg+xml",
  };
  const assets = [...body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
  deepEqual(assets.sort(), ["app.js", "favicon.svg", "palette.css", "style.css"]);
  for (const asset of [...assets, "chat_model.js", "connection.js", "view.js", "nick_colour.js"]) {
    const answer = await ask(port, `GET /${asset} HTTP/1.1`);
    match(answer, /^HTTP\/1\.1 200 /, asset);
    equal(header(answer, "content-type"), types[asset.split(".").pop()!], asset);
  }
  for (const missing of ["/missing.js", "/../deno.json", "/%2e%2e/deno.json", "/web/app.js"]) {
    match(await ask(port, `GET ${missing} HTTP/1.1`), /^HTTP\/1\.1 404 /, missing);
  }
  // A client that does not ask for HTML gets one line saying where to go.
  const text = await ask(port, "GET / HTTP/1.1");
  equal(header(text, "content-type"), "text/plain; charset=utf-8");
  match(text, /connect a WebSocket client to ws:\/\/127\.0\.0\.1:\d+\/ws .* or open http:/);
});

Deno.test({
  name: "createPageHandler() without its folder answers / with the reason, and nothing else",
  permissions: "none",
  fn() {
    const handle = createPageHandler({ name: "demo", tcpPort: 7878, webDir: "/nonexistent/web" });
    let written = "";
    const response = {
      setHeader() {},
      writeHead() {},
      end(text?: string) {
        written = text ?? "";
      },
    };
    const request = (url: string) => ({ url, method: "GET", headers: { accept: "text/html" } });
    // deno-lint-ignore no-explicit-any
    const call = (url: string) => handle(request(url) as any, response as any);
    equal(call("/app.js"), false);
    equal(call("/"), true);
    match(written, /the page is not available: cannot read \/nonexistent\/web/);
    notEqual(written, "");
  },
});

if (import.meta.main) {
  const lines = CONFUSABLE_FOLDS.map((line) => `  "${line}",\n`).join("");
  Deno.writeTextFileSync(
    new URL("../web/confusable_folds.js", import.meta.url),
    `/**
 * The confusable folds behind the page's nick colours (nick_colour.js): a copy of
 * lib/chat/confusables_data.ts, the table of the server's nameKey(). GENERATED: do not edit.
 * Made by \`npx -y deno@2.9.6 run --allow-env --allow-write=web tests/page_test.ts\`;
 * a test in that file checks that it is still the server's table.
 *
 * @module
 */

/** @type {readonly string[]} */
export const CONFUSABLE_FOLDS = [\n${lines}];\n`,
  );
}
