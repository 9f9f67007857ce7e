import { deepEqual } from "node:assert/strict";
import { type Key, KeyDecoder } from "../lib/terminal/key_decoder.ts";

/** Decodes whole and one byte at a time; both must agree. Adjacent text keys are merged. */
function keysAllWays(input: string): Key[] {
  const bytes = new TextEncoder().encode(input);
  const whole = merge(new KeyDecoder().push(bytes));
  const decoder = new KeyDecoder();
  const single: Key[] = [];
  for (let i = 0; i < bytes.length; i++) single.push(...decoder.push(bytes.subarray(i, i + 1)));
  deepEqual(merge(single), whole, "byte-at-a-time differs from whole");
  return whole;
}

function merge(keys: Key[]): Key[] {
  const merged: Key[] = [];
  for (const key of keys) {
    const last = merged.at(-1);
    if (key.kind === "text" && last?.kind === "text") last.text += key.text;
    else merged.push(key.kind === "text" ? { ...key } : key);
  }
  return merged;
}

Deno.test({
  name: "KeyDecoder reads text, including multi-byte characters split across reads",
  permissions: "none",
  fn() {
    deepEqual(keysAllWays("héllo 你好 😀"), [{ kind: "text", text: "héllo 你好 😀" }]);
  },
});

Deno.test({
  name: "KeyDecoder reads cursor and editing keys in CSI and SS3 forms",
  permissions: "none",
  fn() {
    const keys = keysAllWays(
      "\x1b[A\x1b[B\x1b[C\x1b[D\x1b[H\x1b[F\x1bOH\x1bOF\x1b[1~\x1b[4~\x1b[3~",
    );
    deepEqual(keys.map((key) => key.kind), [
      "up",
      "down",
      "right",
      "left",
      "home",
      "end",
      "home",
      "end",
      "home",
      "end",
      "delete",
    ]);
  },
});

Deno.test({
  name: "KeyDecoder reads control keys",
  permissions: "none",
  fn() {
    const keys = keysAllWays("a\x7f\x08\r\x03\x04\x15\x17\x0c\x01\x05");
    deepEqual(keys.map((key) => key.kind), [
      "text",
      "backspace",
      "backspace",
      "enter",
      "interrupt",
      "eof",
      "kill-line",
      "kill-word",
      "redraw",
      "home",
      "end",
    ]);
  },
});

Deno.test({
  name: "KeyDecoder ignores unknown sequences and Alt+key without leaking their bytes as text",
  permissions: "none",
  fn() {
    deepEqual(keysAllWays("a\x1b[1;5Pb\x1bxc\x1b[200~d"), [{ kind: "text", text: "abcd" }]);
  },
});

Deno.test({
  name: "KeyDecoder reports a lone ESC on flush",
  permissions: "none",
  fn() {
    const decoder = new KeyDecoder();
    deepEqual(decoder.push(new Uint8Array([0x1b])), []);
    deepEqual(decoder.flush(), [{ kind: "escape" }]);
  },
});
