// deno-lint-ignore-file no-control-regex -- the tests read terminal escape sequences
import { deepEqual, equal } from "node:assert/strict";
import { type Key, KeyDecoder } from "../lib/terminal/key_decoder.ts";
import {
  displayWidth,
  type EditorEvent,
  graphemes,
  LineEditor,
} from "../lib/terminal/line_editor.ts";

/** Types raw terminal input into an editor; returns the non-trivial events. */
function type(editor: LineEditor, input: string): EditorEvent[] {
  const keys: Key[] = new KeyDecoder().push(new TextEncoder().encode(input));
  return keys.map((key) => editor.handle(key)).filter((event) => event.kind !== "none");
}

/** Where render() puts the cursor: the column after "\r\x1b[NC" (0 if none). */
function cursorColumn(rendered: string): number {
  const match = /\r\x1b\[(\d+)C$/.exec(rendered);
  return match ? Number(match[1]) : 0;
}

/** The visible text render() draws (between the clear and the final CR). */
function visible(rendered: string): string {
  return rendered.slice("\r\x1b[2K".length, rendered.lastIndexOf("\r"));
}

Deno.test({
  name: "LineEditor inserts, moves and deletes by character",
  permissions: "none",
  fn() {
    const editor = new LineEditor();
    type(editor, "helo\x1b[D\x1b[Dl"); // left twice, insert
    equal(editor.text, "hello");
    type(editor, "\x1b[H\x1b[3~"); // home, delete
    equal(editor.text, "ello");
    type(editor, "\x1b[F\x7f\x7f"); // end, backspace twice
    equal(editor.text, "el");
    equal(editor.cursor, 2);
  },
});

Deno.test({
  name: "LineEditor submits on enter, ignores an empty line, and Ctrl-U / Ctrl-W kill",
  permissions: "none",
  fn() {
    const editor = new LineEditor();
    deepEqual(type(editor, "\r"), []);
    deepEqual(type(editor, "hi there\r"), [{ kind: "submit", text: "hi there" }]);
    equal(editor.text, "");
    type(editor, "one two three\x17");
    equal(editor.text, "one two ");
    type(editor, "\x1b[D\x1b[D\x15"); // two left, kill to start
    equal(editor.text, "o ");
    equal(editor.cursor, 0);
  },
});

Deno.test({
  name: "LineEditor quits on Ctrl-C, and on Ctrl-D only when the line is empty",
  permissions: "none",
  fn() {
    const editor = new LineEditor();
    deepEqual(type(editor, "ab\x1b[D\x04"), []); // Ctrl-D deletes under the cursor
    equal(editor.text, "a");
    deepEqual(type(editor, "\x15\x04"), [{ kind: "quit" }]);
    deepEqual(type(new LineEditor(), "typing\x03"), [{ kind: "quit" }]);
  },
});

Deno.test({
  name: "LineEditor browses history with up/down and keeps the draft",
  permissions: "none",
  fn() {
    const editor = new LineEditor();
    type(editor, "first\rsecond\rsecond\rdraft");
    type(editor, "\x1b[A");
    equal(editor.text, "second");
    type(editor, "\x1b[A");
    equal(editor.text, "first"); // "second" was kept once
    type(editor, "\x1b[A");
    equal(editor.text, "first");
    type(editor, "\x1b[B\x1b[B");
    equal(editor.text, "draft");
  },
});

Deno.test({
  name: "LineEditor treats wide characters, emoji and combining marks as one character each",
  permissions: "none",
  fn() {
    const editor = new LineEditor({ prompt: "> " });
    type(editor, "你好👩‍👩‍👧e\u0301x");
    equal(editor.cursor, 5);
    type(editor, "\x7f\x7f"); // removes "x" and the whole "é"
    equal(editor.text, "你好👩‍👩‍👧");
    const rendered = editor.render(80);
    equal(visible(rendered), "> 你好👩‍👩‍👧");
    equal(cursorColumn(rendered), 2 + 4 + 2);
    type(editor, "\x1b[D");
    equal(cursorColumn(editor.render(80)), 2 + 4);
  },
});

Deno.test({
  name: "LineEditor joins a combining mark typed mid-line to the character before the cursor",
  permissions: "none",
  fn() {
    const editor = new LineEditor({ prompt: "> " });
    type(editor, "ac\x1b[D\u0301"); // left, then a combining acute on its own
    equal(editor.text, "a\u0301c");
    equal(editor.cursor, 1); // after "á", not after "c"
    equal(cursorColumn(editor.render(80)), 2 + 1);
    type(editor, "b");
    equal(editor.text, "a\u0301bc");
    equal(editor.cursor, 2);
  },
});

Deno.test({
  name: "LineEditor splits the rest of the line again when what is typed joins what follows",
  permissions: "none",
  fn() {
    const editor = new LineEditor({ prompt: "> " });
    type(editor, "\u{1F1EB}\u{1F1F7}\u{1F1E9}\u{1F1EA}"); // two flags: FR, DE
    equal(editor.cursor, 2);
    // A regional indicator typed first pairs with the F, the R with the D, and the E is alone.
    type(editor, "\x1b[H\u{1F1EC}");
    equal(editor.cursor, 1);
    type(editor, "\x1b[F");
    equal(editor.cursor, graphemes(editor.text).length);
    equal(editor.cursor, 3);
    const rendered = editor.render(80);
    equal(visible(rendered), "> " + editor.text);
    equal(cursorColumn(rendered), 2 + displayWidth(editor.text));
  },
});

Deno.test({
  name: "LineEditor.printAbove() prints an incoming line and redraws the half-typed input intact",
  permissions: "none",
  fn() {
    const editor = new LineEditor({ prompt: "> " });
    type(editor, "half a lin\x1b[D");
    const out = editor.printAbove(["<bob> hello"], 80);
    equal(out.startsWith("\r\x1b[2K<bob> hello\r\n"), true);
    const redraw = out.slice("\r\x1b[2K<bob> hello\r\n".length);
    equal(redraw, editor.render(80));
    equal(visible(redraw), "> half a lin");
    equal(cursorColumn(redraw), 2 + 9);
    equal(editor.text, "half a lin");
  },
});

Deno.test({
  name: "LineEditor scrolls a line wider than the terminal instead of wrapping",
  permissions: "none",
  fn() {
    const editor = new LineEditor({ prompt: "> " });
    type(editor, "0123456789".repeat(5) + "你好");
    const rendered = editor.render(20);
    equal(displayWidth(visible(rendered)) <= 19, true);
    equal(visible(rendered).endsWith("你好"), true); // the cursor end is shown
    equal(cursorColumn(rendered) <= 19, true);
    type(editor, "\x1b[H");
    equal(visible(editor.render(20)).startsWith("> 0123"), true);
    equal(cursorColumn(editor.render(20)), 2);
  },
});

Deno.test({
  name: "displayWidth() counts CJK and emoji as two columns and combining marks as none",
  permissions: "none",
  fn() {
    equal(displayWidth("abc"), 3);
    equal(displayWidth("你好"), 4);
    equal(displayWidth("한국어"), 6);
    equal(displayWidth("😀"), 2);
    equal(displayWidth("👩‍👩‍👧"), 2);
    equal(displayWidth("e\u0301"), 1);
  },
});
