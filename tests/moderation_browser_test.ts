/**
 * Moderation on the chat page, in real Chromium: the topic in the header,
 * the registered-nick field, and an operator's kick button.
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import { serveChat } from "../lib/server/serve_chat.ts";
import { hashPassword } from "../lib/store/passwords.ts";
import { browserAvailability, type PageDocument, TestBrowser } from "./browser_helpers.ts";
import { connectChat, LOOPBACK } from "./helpers.ts";

declare const document: PageDocument; // in functions that run in the page

const browser = await browserAvailability();

Deno.test({
  name: `the page shows the topic, takes a registered nick, and gives an operator a kick button${
    browser.available ? "" : ` (ignored: ${browser.reason})`
  }`,
  ignore: !browser.available,
  async fn() {
    const operators = new Map([["root", await hashPassword("hunter2", 1024)]]);
    await using server = serveChat({ ...LOOPBACK, httpPort: 0, shutdownTimeout: 1000, operators });
    await server.ready;
    // alice is registered, then leaves.
    {
      await using alice = await connectChat(server.addr);
      await alice.send("/nick alice");
      await alice.nextMatching(/now known as alice/);
      await alice.send("/register sesame");
      await alice.nextMatching(/is registered; /);
    }
    await using chromium = await TestBrowser.launch();
    const page = await chromium.open(server.httpAddr!);
    await using op = await connectChat(server.addr);
    await op.send("/oper root hunter2");
    await op.nextMatching(/now an operator/);
    await op.send("/topic welcome here");
    await page.waitForItem("topic of lobby: welcome here (set by root)");
    await page.page.waitForFunction(() =>
      document.getElementById("topic")?.textContent === "welcome here"
    );
    // The registered-nick field.
    await page.page.fill("#login-nick", "alice");
    await page.page.fill("#login-password", "sesame");
    await page.page.click("#login button[type=submit]");
    await page.waitForItem("you are now known as alice");
    equal(await page.page.inputValue("#login-password"), "", "the field is emptied");
    // The page becomes an operator: a kick button beside the others.
    await page.send("/oper root hunter2");
    await page.waitForItem("you are now an operator (root)");
    await page.page.click(`button[aria-label="kick ${op.nick}"]`);
    const closed = await op.untilClosed();
    ok(closed.includes("! you were kicked by root"), closed.join("|"));
    await page.waitForItem(`${op.nick} was kicked by root`);
    equal(page.problems.length, 0, page.problems.join("\n"));
  },
});
