/**
 * The terminal client's line editor, pure: keys in, screen output out.
 *
 * The input line lives on the bottom row of the terminal. An incoming line
 * is printed by clearing that row, writing the line and a newline, and
 * drawing the prompt and the partly typed text again with the cursor where
 * it was, so typing is never clobbered. Widths come from `string-width`, so
 * CJK and emoji (two columns) and combining marks (none) keep the cursor
 * in the right place; a line wider than the terminal scrolls sideways
 * instead of wrapping. The prompt is measured once and each character when
 * it is typed, so redrawing (once per received line) measures nothing.
 *
 * @module
 */

import stringWidth from "string-width";
import type { Key } from "./key_decoder.ts";

/** What a key asks of the session. */
export type EditorEvent =
  | { kind: "submit"; text: string }
  | { kind: "quit" }
  | { kind: "redraw" }
  | { kind: "none" };

/** Options of {@linkcode LineEditor}. */
export interface LineEditorOptions {
  /** Shown before the input. @default {"> "} */
  prompt?: string;
  /** Submitted lines kept for up/down. @default {100} */
  historySize?: number;
}

const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/** Splits text into user-perceived characters (grapheme clusters). */
export function graphemes(text: string): string[] {
  return Array.from(segmenter.segment(text), (part) => part.segment);
}

/** Columns `text` takes on a terminal (CJK and emoji count 2). */
export function displayWidth(text: string): number {
  return stringWidth(text);
}

/** Clear the whole row and return to its first column. */
const CLEAR_ROW = "\r\x1b[2K";

/**
 * A single-line editor with history.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { LineEditor } from "./line_editor.ts";
 *
 * const editor = new LineEditor({ prompt: "> " });
 * editor.handle({ kind: "text", text: "hello" });
 * editor.handle({ kind: "left" });
 * equal(editor.render(80), "\r\x1b[2K> hello\r\x1b[6C"); // cursor before "o"
 * ```
 */
export class LineEditor {
  readonly prompt: string;
  readonly #promptWidth: number;
  readonly #historySize: number;
  #chars: string[] = [];
  /** The display width of each of `#chars`, kept in step with it. */
  #widths: number[] = [];
  #cursor = 0;
  #history: string[] = [];
  #historyIndex = 0; // == history.length when editing a new line
  #draft: string[] = [];

  constructor(options: LineEditorOptions = {}) {
    this.prompt = options.prompt ?? "> ";
    this.#promptWidth = displayWidth(this.prompt);
    this.#historySize = options.historySize ?? 100;
  }

  /** The text typed so far. */
  get text(): string {
    return this.#chars.join("");
  }

  /** Cursor position, in characters from the start of the text. */
  get cursor(): number {
    return this.#cursor;
  }

  /** Applies one key; returns what the session should do about it. */
  handle(key: Key): EditorEvent {
    switch (key.kind) {
      case "text":
        this.#insert(key.text.replace(/\t/g, " "));
        return NONE;
      case "enter": {
        const text = this.text;
        this.#setChars([]);
        this.#cursor = 0;
        if (text !== "" && this.#history.at(-1) !== text) {
          this.#history.push(text);
          if (this.#history.length > this.#historySize) this.#history.shift();
        }
        this.#historyIndex = this.#history.length;
        return text === "" ? NONE : { kind: "submit", text };
      }
      case "backspace":
        if (this.#cursor > 0) this.#remove(--this.#cursor, 1);
        return NONE;
      case "delete":
        this.#remove(this.#cursor, 1);
        return NONE;
      case "eof":
        if (this.#chars.length === 0) return { kind: "quit" };
        this.#remove(this.#cursor, 1);
        return NONE;
      case "interrupt":
        return { kind: "quit" };
      case "left":
        this.#cursor = Math.max(0, this.#cursor - 1);
        return NONE;
      case "right":
        this.#cursor = Math.min(this.#chars.length, this.#cursor + 1);
        return NONE;
      case "home":
        this.#cursor = 0;
        return NONE;
      case "end":
        this.#cursor = this.#chars.length;
        return NONE;
      case "kill-line":
        this.#remove(0, this.#cursor);
        this.#cursor = 0;
        return NONE;
      case "kill-word": {
        let start = this.#cursor;
        while (start > 0 && this.#chars[start - 1] === " ") start--;
        while (start > 0 && this.#chars[start - 1] !== " ") start--;
        this.#remove(start, this.#cursor - start);
        this.#cursor = start;
        return NONE;
      }
      case "up":
      case "down":
        this.#browseHistory(key.kind === "up" ? -1 : 1);
        return NONE;
      case "redraw":
        return { kind: "redraw" };
      case "escape":
        return NONE;
    }
  }

  /**
   * Inserts `text` at the cursor and moves the cursor past it. Only the
   * neighbourhood is split into characters again, not the whole line: the
   * character before the cursor (a combining mark typed on its own joins
   * it) and the one after (what was typed may join it; if it does, the
   * rest of the line is split again too).
   */
  #insert(text: string): void {
    const from = Math.max(0, this.#cursor - 1);
    const typed = this.#chars.slice(from, this.#cursor).join("") + text;
    let to = Math.min(this.#chars.length, this.#cursor + 1);
    let parts = graphemes(typed + this.#chars.slice(this.#cursor, to).join(""));
    if (to > this.#cursor && parts.at(-1) !== this.#chars[to - 1]) {
      to = this.#chars.length;
      parts = graphemes(typed + this.#chars.slice(this.#cursor).join(""));
    }
    // The cursor goes after the character that holds the last typed code unit.
    let cursor = from;
    for (let end = 0; end < typed.length && cursor - from < parts.length; cursor++) {
      end += parts[cursor - from].length;
    }
    this.#chars.splice(from, to - from, ...parts);
    this.#widths.splice(from, to - from, ...parts.map(displayWidth));
    this.#cursor = cursor;
  }

  /** Removes `count` characters from `start` (the cursor is the caller's). */
  #remove(start: number, count: number): void {
    this.#chars.splice(start, count);
    this.#widths.splice(start, count);
  }

  /** Replaces the whole text (measuring each character). */
  #setChars(chars: string[]): void {
    this.#chars = chars;
    this.#widths = chars.map(displayWidth);
  }

  #browseHistory(step: number): void {
    const target = this.#historyIndex + step;
    if (target < 0 || target > this.#history.length) return;
    if (this.#historyIndex === this.#history.length) this.#draft = this.#chars;
    this.#historyIndex = target;
    this.#setChars(
      target === this.#history.length ? this.#draft : graphemes(this.#history[target]),
    );
    this.#cursor = this.#chars.length;
  }

  /**
   * The bytes that draw the prompt and the input on the current row, with
   * the cursor in place, for a terminal `columns` wide.
   */
  render(columns: number): string {
    const promptWidth = this.#promptWidth;
    const room = Math.max(1, columns - promptWidth - 1); // the last column stays free
    const widths = this.#widths;
    // Scroll sideways so the cursor is visible: start where the text up to
    // the cursor fits.
    let start = 0;
    let beforeCursor = 0;
    for (let i = 0; i < this.#cursor; i++) beforeCursor += widths[i];
    while (beforeCursor > room - 1 && start < this.#cursor) beforeCursor -= widths[start++];
    let end = start;
    let shown = 0;
    while (end < this.#chars.length && shown + widths[end] <= room) shown += widths[end++];
    const column = promptWidth + beforeCursor;
    return CLEAR_ROW + this.prompt + this.#chars.slice(start, end).join("") + "\r" +
      (column > 0 ? `\x1b[${column}C` : "");
  }

  /**
   * The bytes that print `lines` above the input row and redraw the input
   * intact below them.
   */
  printAbove(lines: readonly string[], columns: number): string {
    let out = CLEAR_ROW;
    for (const line of lines) out += line + "\r\n";
    return out + this.render(columns);
  }

  /** The bytes that clear the input row (before leaving the terminal). */
  clear(): string {
    return CLEAR_ROW;
  }
}

const NONE: EditorEvent = { kind: "none" };
