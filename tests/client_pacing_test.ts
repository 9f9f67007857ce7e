import { deepEqual, equal, match, ok } from "node:assert/strict";
import { TerminalChat } from "../lib/client/terminal_chat.ts";
import { limitsFromNotice, LinePacer } from "../lib/client/server_limits.ts";
import { formatLimits } from "../lib/chat/limits_notice.ts";
import { TokenBucket } from "../lib/support/token_bucket.ts";
import { within } from "./helpers.ts";

const WELCOME_2 =
  "* 2 online; you are in lobby; type /help for commands; limits: lines up to 100 bytes, 10 a second (20 at once)";

Deno.test({
  name: "limitsFromNotice() reads the limits the welcome announces, and formatLimits() writes them",
  permissions: "none",
  fn() {
    deepEqual(limitsFromNotice(WELCOME_2), { maxLineBytes: 100, rate: 10, burst: 20 });
    const limits = { maxLineBytes: 4096, rate: 2.5, burst: 3 };
    deepEqual(limitsFromNotice(`* 1 online; ${formatLimits(limits)}`), limits);
    deepEqual(limitsFromNotice("* 1 online; limits: lines up to 512 bytes"), {
      maxLineBytes: 512,
      rate: 0,
      burst: 1,
    });
    equal(limitsFromNotice("<bob> limits: lines up to 1 bytes"), undefined); // not the server's
    equal(limitsFromNotice("* welcome to parley, guest-1"), undefined);
  },
});

Deno.test({
  name: "LinePacer keeps lines within the server's token bucket",
  permissions: "none",
  fn() {
    const limits = { maxLineBytes: 100, rate: 10, burst: 20 };
    const pacer = new LinePacer(limits, 0);
    const server = new TokenBucket(limits.rate, limits.burst, 0);
    let sent = 0;
    for (let now = 0; now <= 5000; now += 7) {
      while (pacer.take(now)) {
        ok(server.take(now), `line ${sent} at ${now} ms would be refused`);
        sent++;
      }
    }
    ok(sent > 50, `${sent} lines in 5 s`);
  },
});

/** A terminal whose keyboard pastes `paste` once, then waits until `release()`. */
function fakeTerminal(paste: string) {
  let screen = "";
  let pasted = false;
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  return {
    io: {
      stdin: {
        read: async (buffer: Uint8Array) => {
          if (!pasted) {
            pasted = true;
            const bytes = new TextEncoder().encode(paste);
            buffer.set(bytes);
            return bytes.length;
          }
          await released;
          return null;
        },
      },
      stdout: { write: (bytes: Uint8Array) => Promise.resolve(bytes.length) },
      reportError: () => {},
      columns: () => 200,
      draw: (text: string) => void (screen += text),
    },
    screen: () => screen,
    release,
  };
}

Deno.test("TerminalChat paces a 30-line paste within the server's rate, in order", async () => {
  const terminal = fakeTerminal(Array.from({ length: 30 }, (_, i) => `line ${i}\r`).join(""));
  const server = new TokenBucket(10, 20, performance.now());
  const sent: string[] = [];
  let refused = 0;
  let allSent!: () => void;
  const done = new Promise<void>((resolve) => (allSent = resolve));
  const chat = new TerminalChat(terminal.io, {
    send: (line) => {
      if (line === "/quit") return true;
      if (!server.take(performance.now())) refused++;
      sent.push(line);
      if (sent.length === 30) allSent();
      return true;
    },
    close: () => {},
  }, { colour: false, quitWaitMs: 0 });
  chat.show(["* welcome to parley, ann", WELCOME_2]);
  const typing = chat.start();
  await within(done, "the 30 lines to go out");
  equal(refused, 0);
  deepEqual(sent, Array.from({ length: 30 }, (_, i) => `line ${i}`));
  terminal.release();
  await typing;
  chat.finish();
});

Deno.test("TerminalChat refuses a line over the server's size where it was typed", async () => {
  const terminal = fakeTerminal(`${"x".repeat(150)}\rshort\r`);
  const sent: string[] = [];
  const chat = new TerminalChat(terminal.io, {
    send: (line) => sent.push(line) > 0,
    close: () => {},
  }, { colour: false, quitWaitMs: 0 });
  chat.show(["* welcome to parley, ann", WELCOME_2]);
  const typing = chat.start();
  terminal.release();
  await typing;
  chat.finish();
  deepEqual(sent, ["short", "/quit"]);
  match(terminal.screen(), /! not sent: line too long \(150 bytes; this server takes up to 100\)/);
});
