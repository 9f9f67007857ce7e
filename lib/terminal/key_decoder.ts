/**
 * Terminal keys from raw stdin bytes. Pure: bytes in, keys out.
 *
 * In raw mode a terminal sends printable text as UTF-8, control keys as C0
 * bytes, and cursor keys as ESC sequences (`ESC [ A`, `ESC O H`, `ESC [ 3 ~`
 * …). Any of these may be split across reads; the decoder keeps the
 * unfinished part for the next push. A lone ESC is reported as `escape`
 * only when the next push does not continue it (or on `flush()`).
 *
 * @module
 */

/** A key press the line editor understands. */
export type Key =
  | { kind: "text"; text: string }
  | {
    kind:
      | "enter"
      | "backspace"
      | "delete"
      | "left"
      | "right"
      | "up"
      | "down"
      | "home"
      | "end"
      | "kill-line" // Ctrl-U
      | "kill-word" // Ctrl-W
      | "interrupt" // Ctrl-C
      | "eof" // Ctrl-D
      | "redraw" // Ctrl-L
      | "escape";
  };

type NamedKey = Exclude<Key, { kind: "text" }>["kind"];

const CONTROL_KEYS: Record<number, NamedKey> = {
  0x01: "home", // Ctrl-A
  0x02: "left", // Ctrl-B
  0x03: "interrupt",
  0x04: "eof",
  0x05: "end", // Ctrl-E
  0x06: "right", // Ctrl-F
  0x08: "backspace", // Ctrl-H
  0x0a: "enter",
  0x0c: "redraw",
  0x0d: "enter",
  0x0e: "down", // Ctrl-N
  0x10: "up", // Ctrl-P
  0x15: "kill-line",
  0x17: "kill-word",
  0x7f: "backspace",
};

// Final byte of CSI/SS3 sequences, and `ESC [ n ~` numbers.
const FINAL_KEYS: Record<string, NamedKey> = {
  A: "up",
  B: "down",
  C: "right",
  D: "left",
  H: "home",
  F: "end",
};
const TILDE_KEYS: Record<string, NamedKey> = {
  "1": "home",
  "3": "delete",
  "4": "end",
  "7": "home",
  "8": "end",
};

/**
 * Decodes raw terminal input into {@linkcode Key}s.
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { KeyDecoder } from "./key_decoder.ts";
 *
 * const keys = new KeyDecoder().push(new TextEncoder().encode("hé\x1b[D\r"));
 * deepEqual(keys.map((key) => key.kind), ["text", "left", "enter"]);
 * ```
 */
export class KeyDecoder {
  #text = new TextDecoder();
  #pending = ""; // an unfinished ESC sequence

  /** Decodes a chunk of input; returns the keys completed by it. */
  push(bytes: Uint8Array): Key[] {
    const input = this.#pending + this.#text.decode(bytes, { stream: true });
    this.#pending = "";
    const keys: Key[] = [];
    let text = "";
    const flushText = () => {
      if (text !== "") keys.push({ kind: "text", text });
      text = "";
    };
    let i = 0;
    while (i < input.length) {
      const code = input.charCodeAt(i);
      if (code === 0x1b) {
        flushText();
        const sequence = matchEscape(input, i);
        if (sequence === "incomplete") {
          this.#pending = input.slice(i);
          break;
        }
        if (sequence.key !== null) keys.push({ kind: sequence.key });
        i += sequence.length;
        continue;
      }
      if (code < 0x20 || code === 0x7f) {
        flushText();
        const named = CONTROL_KEYS[code];
        if (named !== undefined) {
          // CR LF (some terminals in some modes) is one enter.
          if (!(code === 0x0a && i > 0 && input.charCodeAt(i - 1) === 0x0d)) {
            keys.push({ kind: named });
          }
        }
        i++;
        continue;
      }
      text += input[i];
      i++;
    }
    flushText();
    return keys;
  }

  /** Reports a dangling lone ESC (call when input goes quiet). */
  flush(): Key[] {
    const pending = this.#pending;
    this.#pending = "";
    return pending === "\x1b" ? [{ kind: "escape" }] : [];
  }
}

/** Length and meaning of the ESC sequence at `start`, or "incomplete". */
function matchEscape(
  input: string,
  start: number,
): { length: number; key: NamedKey | null } | "incomplete" {
  if (start + 1 >= input.length) return "incomplete";
  const introducer = input[start + 1];
  if (introducer === "[" || introducer === "O") {
    let end = start + 2;
    while (end < input.length && /[0-9;?]/.test(input[end])) end++;
    if (end >= input.length) return "incomplete";
    const final = input[end];
    const params = input.slice(start + 2, end);
    const length = end - start + 1;
    if (final === "~") return { length, key: TILDE_KEYS[params.split(";")[0]] ?? null };
    return { length, key: FINAL_KEYS[final] ?? null };
  }
  if (introducer === "\x1b") return { length: 1, key: "escape" };
  // Alt+key and the like: ignore both characters.
  return { length: 2, key: null };
}
