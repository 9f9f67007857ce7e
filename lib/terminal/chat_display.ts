/**
 * How the terminal client shows chat lines, pure: colours, the local copy
 * of what you send, and the nick the server gave you.
 *
 * Incoming text is sanitised before it reaches the terminal (any server may
 * be on the other end, not only Parley's), then styled by its kind: notices
 * dim, errors red, each nick in a colour of its own that stays the same
 * from one session to the next.
 *
 * @module
 */

import {
  formatAction,
  formatMessage,
  lineKind,
  parseCommand,
  sanitizeText,
} from "../chat/protocol.ts";
import { nameKey } from "../chat/names.ts";

const RESET = "\x1b[0m";
const DIM = "\x1b[2m";
const RED = "\x1b[1;31m";
const NICK_COLOURS = ["32", "33", "34", "35", "36", "92", "93", "94", "95", "96"];

/** The colour escape for `nick`: a stable hash of its key picks it. */
export function nickColour(nick: string): string {
  let hash = 0x811c9dc5; // FNV-1a
  for (const char of nameKey(nick)) {
    hash ^= char.codePointAt(0)!;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `\x1b[${NICK_COLOURS[hash % NICK_COLOURS.length]}m`;
}

/**
 * A received line, made safe for the terminal and, with `colour`, styled.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { styleLine } from "./chat_display.ts";
 *
 * equal(styleLine("<bob> \x1b[2Jhi", false), "<bob> hi");
 * ```
 */
export function styleLine(line: string, colour: boolean): string {
  const text = sanitizeText(line);
  if (!colour) return text;
  switch (lineKind(text)) {
    case "notice":
      return `${DIM}${text}${RESET}`;
    case "error":
      return `${RED}${text}${RESET}`;
    case "message": {
      const match = /^(<([^>\s]+)>|\[([^\]\s]+) -> you\])( .*)?$/s.exec(text);
      if (match === null) return text;
      const nick = match[2] ?? match[3];
      return `${nickColour(nick)}${match[1]}${RESET}${match[4] ?? ""}`;
    }
  }
}

/**
 * The nick a server notice says you now have (`* welcome to X, NICK` or
 * `* you are now known as NICK`), if it says so.
 */
export function nickFromNotice(line: string): string | undefined {
  const match = /^\* (?:welcome to .*, |you are now known as )(\S+)$/.exec(line);
  return match?.[1];
}

/**
 * What to show locally for a line you send, as the others will see it:
 * `<you> text`, `<you> *action*`, `[you -> bob] text`; nothing for other
 * commands (the server answers those).
 */
export function localEcho(text: string, nick: string): string | undefined {
  const command = parseCommand(sanitizeText(text));
  switch (command.kind) {
    case "say":
      return formatMessage(nick, command.text);
    case "me":
      return formatAction(nick, command.text);
    case "msg":
      return `[you -> ${command.nick}] ${command.text}`;
    default:
      return undefined;
  }
}
