/**
 * The chat page in real Chromium, against a real server on loopback: two
 * pages and a TCP client in one room, switching rooms, received markup
 * shown as text, reconnecting after a server restart, a phone-width
 * layout, a busy room. With PARLEY_SCREENSHOT=1 the first test also saves
 * docs/parley-page.png.
 *
 * @module
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { serveChat, type ServeChatOptions } from "../lib/server/serve_chat.ts";
import { nickColour } from "../lib/terminal/chat_display.ts";
import { browserAvailability, type PageDocument, TestBrowser } from "./browser_helpers.ts";
import { connectChat, LOOPBACK, syncWho } from "./helpers.ts";
import { rootPath } from "./process_helpers.ts";

declare const document: PageDocument; // in functions that run in the page

const browser = await browserAvailability();

/** A browser test, reported as ignored (with the reason) where there is no Chromium. */
function browserTest(name: string, fn: (browser: TestBrowser) => Promise<void>): void {
  Deno.test({
    name: `${name}${browser.available ? "" : ` (ignored: ${browser.reason})`}`,
    ignore: !browser.available,
    async fn() {
      await using chromium = await TestBrowser.launch();
      await fn(chromium);
    },
  });
}

async function chatServer(options: ServeChatOptions = {}) {
  const server = serveChat({ ...LOOPBACK, httpPort: 0, shutdownTimeout: 1000, ...options });
  await server.ready;
  return server;
}

const ANSI_NICK_COLOURS = ["32", "33", "34", "35", "36", "92", "93", "94", "95", "96"];

/** The index of the terminal client's colour for `nick`. */
function terminalColourIndex(nick: string): number {
  return ANSI_NICK_COLOURS.indexOf(/\[(\d+)m/.exec(nickColour(nick))![1]);
}

browserTest(
  "the page: two pages and a TCP client share a room, and see each other",
  async (chromium) => {
    await using server = await chatServer();
    const ann = await chromium.open(server.httpAddr!);
    const bea = await chromium.open(server.httpAddr!);
    await ann.waitForMembers([ann.nick, bea.nick]);
    await using tcp = await connectChat(server.addr);
    await ann.waitForMembers([ann.nick, bea.nick, tcp.nick]);
    await bea.waitForMembers([ann.nick, bea.nick, tcp.nick]);
    await ann.waitForItem(`${tcp.nick} joined lobby`);

    // Renames: the pages' member lists follow.
    await ann.send("/nick ann");
    await bea.send("/nick bea");
    await tcp.send("/nick carl");
    for (const page of [ann, bea]) await page.waitForMembers(["ann", "bea", "carl"]);
    [ann.nick, bea.nick, tcp.nick] = ["ann", "bea", "carl"];
    match(await ann.status(), /connected as ann/);
    await bea.waitForItem(/is now known as ann$/);

    // Messages, both ways, and each page shows its own as delivered.
    await tcp.send("morning! anyone tried the new page?");
    await ann.waitForItem("carl: morning! anyone tried the new page?");
    await bea.waitForItem("carl: morning! anyone tried the new page?");
    await ann.send("yes, and it keeps my nick when the server restarts");
    equal(
      await tcp.nextMatching(/^<ann>/),
      "<ann> yes, and it keeps my nick when the server restarts",
    );
    await bea.waitForItem("ann: yes, and it keeps my nick");
    await ann.waitForItem("ann: yes, and it keeps my nick", "#log > li.own");
    await bea.send("/me waves");
    equal(await tcp.nextMatching(/^<bea>/), "<bea> *waves*");
    await ann.waitForItem("* bea waves");
    await ann.send("/msg bea lunch later?");
    await bea.waitForItem(/private\s*ann → you: lunch later\?/);
    await ann.waitForItem(/private\s*you → bea: lunch later\?/);
    await tcp.send("/msg ann long lines wrap, " + "and wrap ".repeat(12));
    await ann.waitForItem(/carl → you: long lines wrap/);

    // The nicks wear the terminal client's colours.
    for (const nick of ["ann", "bea", "carl"]) {
      const className = await ann.page.locator(`#members [data-nick="${nick}"]`).getAttribute(
        "class",
      );
      equal(className, `nick nick-${terminalColourIndex(nick)}`, nick);
    }
    const screenshot = await Deno.makeTempFile({ prefix: "parley-page-", suffix: ".png" });
    try {
      await ann.page.screenshot({ path: screenshot });
      if (Deno.env.get("PARLEY_SCREENSHOT") === "1") {
        await Deno.copyFile(screenshot, rootPath("docs/parley-page.png"));
      }
    } finally {
      await Deno.remove(screenshot);
    }

    // A leave.
    await tcp.send("/quit lunch");
    for (const page of [ann, bea]) await page.waitForMembers(["ann", "bea"]);
    await bea.waitForItem("carl left (quit: lunch)");
    deepEqual([...ann.problems, ...bea.problems], []);
  },
);

browserTest(
  "the page: the room list joins a room with a click, and shows its history as such",
  async (chromium) => {
    await using server = await chatServer();
    const page = await chromium.open(server.httpAddr!);
    await using tcp = await connectChat(server.addr);
    await tcp.send("/join dev");
    await tcp.send("said before you came");
    await syncWho(tcp);
    await page.page.click("#refresh-rooms");
    const dev = page.page.locator('#rooms button[data-room="dev"]');
    await dev.waitFor();
    match((await dev.textContent()) ?? "", /dev\s*1/);
    // Keyboard only: focus the room's button and press Enter.
    await dev.focus();
    await page.page.keyboard.press("Enter");
    await page.waitForRoom("dev");
    await page.waitForMembers([tcp.nick, page.nick]);
    const earlier = await page.waitForItem("said before you came", "#log > li.history");
    match(earlier, /history/);
    equal(await tcp.nextMatching(/joined dev/), `* ${page.nick} joined dev`);
    await page.page.locator('#rooms button[data-room="dev"][aria-current="true"]').waitFor();
    await page.send("/join lobby");
    await page.waitForRoom("lobby");
    await page.waitForMembers([page.nick]);
    equal(await tcp.nextMatching(/left/), `* ${page.nick} left (moved to lobby)`);
    deepEqual(page.problems, []);
  },
);

browserTest(
  "the page: markup in what it receives is shown as text, never run",
  async (chromium) => {
    await using server = await chatServer();
    const page = await chromium.open(server.httpAddr!);
    await using tcp = await connectChat(server.addr);
    await page.waitForMembers([page.nick, tcp.nick]);
    const evil = `<img src=x onerror="window.__pwned=1"><b>bold</b>`;
    await tcp.send(evil);
    await tcp.send(`/me ${evil}`);
    await tcp.send(`/msg ${page.nick} ${evil}`);
    await page.send(`<script>window.__pwned=2</script>`);
    await page.send(`/msg <img/src=x/onerror=window.__pwned=3> hi`);
    await page.waitForItem(`${tcp.nick}: ${evil}`);
    await page.waitForItem(`* ${tcp.nick} ${evil}`);
    await page.waitForItem(`you: ${evil}`);
    await page.waitForItem(`: <script>window.__pwned=2</script>`);
    await page.waitForItem(
      "no such nick: <img/src=x/onerror=window.__pwned=3>",
      "#log > li.item-error",
    );
    equal(await page.page.locator("#log img, #log b, #log script").count(), 0);
    equal(await page.page.evaluate(() => (window as { __pwned?: number }).__pwned), undefined);
    deepEqual(page.problems, []);
  },
);

browserTest(
  "the page: reconnects after a server restart and gets its nick and room back",
  async (chromium) => {
    const first = await chatServer();
    const port = first.httpAddr!.port;
    const page = await chromium.open(first.httpAddr!);
    await page.send("/nick keeper");
    await page.send("/join den");
    await page.waitForRoom("den");
    await page.waitForMembers(["keeper"]);
    await first.shutdown();
    await page.waitForStatus("waiting");
    match(await page.status(), /reconnecting in \d+\.\d s/);
    await page.waitForItem(/the server went away.*reconnecting in/, "#log > li.item-error");
    await using second = await chatServer({ httpPort: port });
    await page.waitForStatus("connected");
    await page.waitForRoom("den");
    await page.waitForMembers(["keeper"]);
    match(await page.status(), /connected as keeper/);
    await page.waitForItem("reconnected: welcome to parley");
    await using tcp = await connectChat(second.addr);
    await tcp.send("/join den");
    equal(await tcp.nextMatching(/you joined/), `* you joined den; 2 here: keeper, ${tcp.nick}`);
    deepEqual(page.problems.filter((problem) => !/WebSocket/.test(problem)), []);
  },
);

browserTest(
  "the page: fits a 360 px phone without sideways scrolling; Up and Down recall lines",
  async (chromium) => {
    await using server = await chatServer();
    const page = await chromium.open(server.httpAddr!, { width: 360, height: 740 });
    await using tcp = await connectChat(server.addr);
    await tcp.send("/nick a_rather_long_nick_24ch");
    await tcp.send("x".repeat(600));
    await tcp.send(`see https://example.com/${"very-long-path/".repeat(20)}`);
    await page.waitForItem("see https://example.com/");
    await page.send("one");
    await page.send("two");
    await page.waitForItem(/: two$/);
    const widths = await page.page.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      body: document.body.scrollWidth,
      log: document.getElementById("scroller")!.scrollWidth,
      logView: document.getElementById("scroller")!.clientWidth,
      view: (globalThis as unknown as { innerWidth: number }).innerWidth,
    }));
    ok(widths.page <= widths.view && widths.body <= widths.view, JSON.stringify(widths));
    ok(widths.log <= widths.logView, JSON.stringify(widths));
    // The side panel opens from the bar, and Escape closes it.
    ok(!(await page.page.locator("#side").isVisible()));
    await page.page.click("#toggle-side");
    await page.page.locator("#side").waitFor({ state: "visible" });
    equal(await page.page.getAttribute("#toggle-side", "aria-expanded"), "true");
    await page.waitForMembers([page.nick, "a_rather_long_nick_24ch"]);
    await page.page.keyboard.press("Escape");
    await page.page.locator("#side").waitFor({ state: "hidden" });
    // Input history.
    await page.page.fill("#input", "draft");
    const keys: string[] = [];
    for (const key of ["ArrowUp", "ArrowUp", "ArrowUp", "ArrowDown", "ArrowDown"]) {
      await page.page.press("#input", key);
      keys.push(await page.page.inputValue("#input"));
    }
    deepEqual(keys, ["two", "one", "one", "two", "draft"]);
    deepEqual(page.problems, []);
  },
);

browserTest("the page: a busy room stays bounded and shows the newest lines", async (chromium) => {
  await using server = await chatServer({ rate: 0 });
  const page = await chromium.open(server.httpAddr!);
  await using tcp = await connectChat(server.addr);
  const lines = Array.from({ length: 3000 }, (_, i) => `busy line ${i}`);
  await tcp.send(lines.join("\n"));
  await page.waitForItem(/: busy line 2999$/);
  const count = await page.page.locator("#log > li").count();
  ok(count <= 501, `the list holds ${count} items`);
  const started = performance.now();
  await page.page.evaluate(() => document.title);
  ok(performance.now() - started < 1000, "the page answers at once");
  deepEqual(page.problems, []);
});
