/**
 * The page's input line, pure: what a typed line asks for, and the history
 * of typed lines that Up and Down walk through.
 *
 * @module
 */

/**
 * A line typed in the input: what to send, and what the page does itself.
 * `/format` is refused (the page speaks JSON), `/clear` empties the list.
 * @param {string} line
 * @returns {{ send: string | null, local: "clear" | "format" | null, reply: "who" | "rooms" | null }}
 */
export function parseInput(line) {
  const command = /^\/(\S+)/.exec(line)?.[1]?.toLowerCase();
  if (line.startsWith("//") || command === undefined) {
    return { send: line, local: null, reply: null };
  }
  if (command === "format") return { send: null, local: "format", reply: null };
  if (command === "clear") return { send: null, local: "clear", reply: null };
  const reply = command === "who" ? "who" : command === "rooms" ? "rooms" : null;
  return { send: line, local: null, reply };
}

/** Input lines typed, for Up and Down; a bounded list, newest last. */
export class InputHistory {
  /** @param {number} [limit] */
  constructor(limit = 100) {
    this.limit = limit;
    /** @type {string[]} */
    this.lines = [];
    this.position = 0;
    this.draft = "";
  }

  /** A line was sent: it becomes the newest entry. @param {string} line */
  add(line) {
    if (line !== "" && this.lines.at(-1) !== line) this.lines.push(line);
    if (this.lines.length > this.limit) this.lines.shift();
    this.position = this.lines.length;
    this.draft = "";
  }

  /** Up: the previous line, or null at the oldest. @param {string} current */
  up(current) {
    if (this.position === 0) return null;
    if (this.position === this.lines.length) this.draft = current;
    return this.lines[--this.position];
  }

  /** Down: the next line, the draft past the newest, or null. */
  down() {
    if (this.position >= this.lines.length) return null;
    this.position++;
    return this.position === this.lines.length ? this.draft : this.lines[this.position];
  }
}
