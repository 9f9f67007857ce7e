/**
 * Test helpers for the chat page in a real browser: Debian's Chromium
 * driven by npm `playwright-core` (no browser download), with a fresh
 * profile in a temporary folder that is removed afterwards.
 *
 * @module
 */

import { type BrowserContext, chromium, type Page } from "playwright-core";
import { WAIT_MS } from "./helpers.ts";

/**
 * The few parts of the page's `document` that functions run in the page
 * (`page.evaluate`, `waitForFunction`) read: Deno's types have no DOM, so
 * a module declares `document` with this type for them.
 */
export interface PageDocument {
  title: string;
  documentElement: { scrollWidth: number };
  body: { scrollWidth: number };
  getElementById(id: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
}

/** An element as {@linkcode PageDocument} sees it. */
export interface PageElement {
  textContent: string | null;
  scrollWidth: number;
  clientWidth: number;
  getAttribute(name: string): string | null;
}

declare const document: PageDocument;

/** Where Debian (and CI, `apt-get install chromium`) puts Chromium. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Flags for a quiet headless Chromium that reaches nothing but the test's server. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];

/** Whether the browser tests can run here, and why not. */
export async function browserAvailability(): Promise<{ available: boolean; reason: string }> {
  try {
    const info = await Deno.stat(CHROMIUM_PATH);
    if (info.isFile) return { available: true, reason: CHROMIUM_PATH };
  } catch { /* not installed */ }
  return {
    available: false,
    reason: `no Chromium at ${CHROMIUM_PATH} (CI installs it with apt-get install chromium)`,
  };
}

/** A headless Chromium with its own temporary profile; dispose to close and remove both. */
export class TestBrowser implements AsyncDisposable {
  readonly context: BrowserContext;
  readonly #profile: string;

  private constructor(context: BrowserContext, profile: string) {
    this.context = context;
    this.#profile = profile;
  }

  static async launch(): Promise<TestBrowser> {
    const profile = await Deno.makeTempDir({ prefix: "parley-chromium-" });
    try {
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM_PATH,
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: { width: 1000, height: 640 },
        colorScheme: "light",
      });
      context.setDefaultTimeout(WAIT_MS);
      return new TestBrowser(context, profile);
    } catch (error) {
      await Deno.remove(profile, { recursive: true });
      throw error;
    }
  }

  /** Opens the chat page of `httpAddr` in a new tab and waits until it is connected. */
  async open(
    httpAddr: Deno.NetAddr,
    viewport?: { width: number; height: number },
  ): Promise<ChatPage> {
    const page = await this.context.newPage();
    if (viewport !== undefined) await page.setViewportSize(viewport);
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(String(error)));
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(message.text());
    });
    await page.goto(`http://127.0.0.1:${httpAddr.port}/`);
    const chat = new ChatPage(page, problems);
    await chat.waitForStatus("connected");
    chat.nick = /connected as (\S+)/.exec(await chat.status())![1];
    return chat;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.context.close();
    } finally {
      await Deno.remove(this.#profile, { recursive: true });
    }
  }
}

/** One tab with the chat page, and what a test asks of it. */
export class ChatPage {
  readonly page: Page;
  /** Script errors and console errors seen so far. */
  readonly problems: string[];
  /** The nick the page has (set on open; tests update it after /nick). */
  nick = "";

  constructor(page: Page, problems: string[]) {
    this.page = page;
    this.problems = problems;
  }

  /** Types `text` in the input line and presses Enter. */
  async send(text: string): Promise<void> {
    await this.page.fill("#input", text);
    await this.page.press("#input", "Enter");
  }

  /** The connection state line. */
  async status(): Promise<string> {
    return (await this.page.textContent("#status")) ?? "";
  }

  /** Waits for the connection state (`connected`, `waiting`, `closed`…). */
  async waitForStatus(state: string): Promise<void> {
    await this.page.waitForSelector(`#status[data-state="${state}"]`);
  }

  /**
   * Brings the tab to the front, as a person looking at it would: the
   * page draws only in visible tabs (at animation frames), so a test reads
   * a background tab only after this.
   */
  async front(): Promise<void> {
    await this.page.bringToFront();
  }

  /** Waits for an item of the message list containing `text`; returns its text. */
  async waitForItem(text: string | RegExp, selector = "#log > li"): Promise<string> {
    await this.front();
    const item = this.page.locator(selector, { hasText: text }).last();
    await item.waitFor();
    return (await item.textContent()) ?? "";
  }

  /** The nicks of the member list, in order. */
  members(): Promise<string[]> {
    return this.page.$$eval(
      "#members [data-nick]",
      (nodes) => nodes.map((node) => node.textContent ?? ""),
    );
  }

  /** Waits until the member list is exactly `nicks` (in any order). */
  async waitForMembers(nicks: string[]): Promise<void> {
    const expected = [...nicks].sort();
    await this.front();
    try {
      await this.page.waitForFunction((expected) => {
        const shown = [...document.querySelectorAll("#members [data-nick]")]
          .map((node) => node.getAttribute("data-nick")).sort();
        return JSON.stringify(shown) === JSON.stringify(expected);
      }, expected);
    } catch (error) {
      throw new Error(
        `member list: expected ${expected.join(", ")}, shown ${(await this.members()).join(", ")}`,
        { cause: error },
      );
    }
  }

  /** Waits until the page says it is in `room`. */
  async waitForRoom(room: string): Promise<void> {
    await this.front();
    await this.page.waitForFunction(
      (room) => document.getElementById("room-name")?.textContent === room,
      room,
    );
  }
}
