import { equal } from "node:assert/strict";
import { decodeLine, utf8Length } from "../lib/framing/utf8.ts";

const pure = { permissions: "none" } as const;
const encoder = new TextEncoder();

Deno.test({
  ...pure,
  name: "utf8Length() equals the length TextEncoder produces, lone surrogates included",
  fn() {
    const samples = ["", "ascii", "ünïcödé", "你好", "😀 emoji", "a\ud800b", "\udc00", "x\ud83d"];
    // Random strings from every plane, with lone surrogates now and then.
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let n = 0; n < 500; n++) {
      let text = "";
      for (let i = next() % 12; i > 0; i--) {
        const pick = next() % 5;
        const code = [0x7f, 0x7ff, 0xffff, 0x10ffff, 0xdfff][pick];
        const value = pick === 4 ? 0xd800 + (next() % 0x800) : next() % (code + 1);
        text += value > 0xffff ? String.fromCodePoint(value) : String.fromCharCode(value);
      }
      samples.push(text);
    }
    for (const text of samples) {
      equal(utf8Length(text), encoder.encode(text).length, JSON.stringify(text));
    }
  },
});

Deno.test({
  ...pure,
  name: "decodeLine() keeps valid UTF-8 and turns each invalid sequence into U+FFFD",
  fn() {
    equal(decodeLine(encoder.encode("héllo 😀")), "héllo 😀");
    equal(decodeLine(new Uint8Array([0x61, 0xff, 0x62])), "a\ufffdb");
  },
});
