import { deepEqual, throws } from "node:assert/strict";
import { LineDecoder } from "../lib/framing/line_codec.ts";

type Event = string | { overlong: true };

/** Feeds `input` whole, then one byte at a time, then in chunks of 3; all must agree. */
function decodeAllWays(input: Uint8Array | string, maxLineBytes = 16): Event[] {
  const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
  const runs: Event[][] = [];
  for (const size of [bytes.length || 1, 1, 3]) {
    const events: Event[] = [];
    const decoder = new LineDecoder({ maxLineBytes });
    const sink = {
      line: (line: Uint8Array) => {
        if (decoder.pendingBytes > maxLineBytes) throw new Error("held more than the cap");
        events.push(new TextDecoder().decode(line));
      },
      overlong: () => events.push({ overlong: true }),
    };
    for (let i = 0; i < bytes.length; i += size) {
      decoder.push(bytes.subarray(i, i + size), sink);
      if (decoder.pendingBytes > maxLineBytes) throw new Error("held more than the cap");
    }
    decoder.end(sink);
    runs.push(events);
  }
  deepEqual(runs[1], runs[0], "byte-at-a-time differs from whole");
  deepEqual(runs[2], runs[0], "3-byte chunks differ from whole");
  return runs[0];
}

const OVERLONG = { overlong: true } as const;

Deno.test({
  name: "LineDecoder splits on LF, CRLF, lone CR and telnet CR NUL",
  permissions: "none",
  fn() {
    deepEqual(decodeAllWays("a\nb\r\nc\rd\r\0e\n"), ["a", "b", "c", "d", "e"]);
  },
});

Deno.test({
  name: "LineDecoder keeps empty lines and never leaves a CR in the text",
  permissions: "none",
  fn() {
    deepEqual(decodeAllWays("\n\r\n\r\rx\r"), ["", "", "", "", "x"]);
  },
});

Deno.test({
  name: "LineDecoder delivers an unterminated last line at end()",
  permissions: "none",
  fn() {
    deepEqual(decodeAllWays("one\ntwo"), ["one", "two"]);
  },
});

Deno.test({
  name: "LineDecoder reassembles multi-byte characters split across reads",
  permissions: "none",
  fn() {
    // 2-, 3- and 4-byte characters; byte-at-a-time splits each of them.
    deepEqual(decodeAllWays("héllo\n你好\n😀!\n", 32), ["héllo", "你好", "😀!"]);
  },
});

Deno.test({
  name: "LineDecoder accepts a line exactly at the cap and refuses one byte more",
  permissions: "none",
  fn() {
    const atCap = "x".repeat(16);
    deepEqual(decodeAllWays(`${atCap}\n${atCap}y\nok\n`), [atCap, OVERLONG, "ok"]);
  },
});

Deno.test({
  name: "LineDecoder reports an over-long line once and skips it to its end",
  permissions: "none",
  fn() {
    const huge = "z".repeat(1000);
    deepEqual(decodeAllWays(`a\n${huge}\r\nb\n${huge}`), ["a", OVERLONG, "b", OVERLONG]);
  },
});

Deno.test({
  name: "LineDecoder never holds more than the cap, however long the line",
  permissions: "none",
  fn() {
    const decoder = new LineDecoder({ maxLineBytes: 100 });
    let overlong = 0;
    const sink = { line: () => {}, overlong: () => overlong++ };
    const chunk = new Uint8Array(4096).fill(0x41);
    for (let i = 0; i < 1000; i++) {
      decoder.push(chunk, sink);
      deepEqual(decoder.pendingBytes <= 100, true);
    }
    deepEqual(overlong, 1);
  },
});

Deno.test({
  name: "LineDecoder passes invalid UTF-8 bytes through for the caller to replace",
  permissions: "none",
  fn() {
    const events = decodeAllWays(new Uint8Array([0x61, 0xff, 0xc3, 0x0a]));
    deepEqual(events, ["a\ufffd\ufffd"]);
  },
});

Deno.test({
  name: "LineDecoder refuses a cap below 1",
  permissions: "none",
  fn() {
    throws(() => new LineDecoder({ maxLineBytes: 0 }), RangeError);
  },
});
