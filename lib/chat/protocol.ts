// deno-lint-ignore-file no-control-regex -- matching control characters is the point here
/**
 * The chat protocol, pure: parse an input line into a command, sanitise
 * text, and the wording of every line the server sends
 * ({@linkcode renderText}: the hub builds events, never text).
 *
 * Every line the server sends is one of three kinds, told apart by its
 * first characters:
 *
 * - `* ` a server notice (joins, leaves, nick changes, replies to `/who`…);
 * - `! ` an error, sent only to the client it concerns;
 * - anything else is what a person wrote: `<alice> hello` (room message),
 *   `<alice> *waves*` (`/me waves`), `[alice -> you] psst` (`/msg`).
 *
 * A person's words always follow a `<nick>` or `[nick -> you]` prefix that
 * the server writes, so no client can forge a notice or another's message.
 *
 * @module
 */

import { formatLimits } from "./limits_notice.ts";
import type { ChatEvent } from "./events.ts";
import {
  MODERATION_HELP,
  type ModerationCommand,
  parseModerationCommand,
  renderModeration,
} from "./moderation_protocol.ts";

/** A parsed input line. */
export type ChatCommand =
  | { kind: "say"; text: string }
  | { kind: "me"; text: string }
  | { kind: "msg"; nick: string; text: string }
  | { kind: "nick"; nick: string; password?: string }
  | { kind: "join"; room: string }
  | { kind: "who" }
  | { kind: "rooms" }
  | { kind: "help" }
  | { kind: "quit"; reason: string }
  | { kind: "format"; format: "text" | "json" }
  | { kind: "usage"; usage: string }
  | { kind: "unknown"; name: string }
  | ModerationCommand;

/** Usage line of each command that takes arguments. */
export const USAGE = {
  nick: "/nick NAME [PASSWORD]",
  join: "/join ROOM",
  msg: "/msg NICK text",
  me: "/me action",
  format: "/format text|json",
} as const;

/** How errors and notices say that the link between servers is down. */
export const LINK_DOWN_TEXT = "the link between servers is down";

/** Lines `/help` answers with (each is sent as a notice). */
export const HELP_LINES: readonly string[] = [
  "commands:",
  "  /nick NAME       change your nick (letters, digits, _ - . ; up to 24)",
  "  /who             list the members of your room",
  "  /rooms           list rooms and their member counts",
  "  /join ROOM       move to ROOM (created if new)",
  "  /msg NICK text   private message to NICK",
  "  /me action       tell your room what you are doing",
  "  /quit [reason]   leave",
  "  /help            this list",
  "  /format json     one JSON event per line (for programs); /format text goes back",
  ...MODERATION_HELP,
  "  //text           send a line that starts with /",
  "other lines go to everyone in your room",
];

/**
 * Parses one sanitised input line.
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { parseCommand } from "./protocol.ts";
 *
 * deepEqual(parseCommand("hi all"), { kind: "say", text: "hi all" });
 * deepEqual(parseCommand("//etc"), { kind: "say", text: "/etc" });
 * deepEqual(parseCommand("/msg bob hi"), { kind: "msg", nick: "bob", text: "hi" });
 * ```
 */
export function parseCommand(line: string): ChatCommand {
  if (!line.startsWith("/")) return { kind: "say", text: line };
  if (line.startsWith("//")) return { kind: "say", text: line.slice(1) };
  const space = line.search(/[ \t]/);
  const name = (space === -1 ? line.slice(1) : line.slice(1, space))
    .toLowerCase();
  const rest = space === -1 ? "" : line.slice(space + 1).trim();
  switch (name) {
    case "nick": {
      const [nick, password] = splitFirstWord(rest);
      if (nick === "") return { kind: "usage", usage: USAGE.nick };
      return password === "" ? { kind: "nick", nick } : { kind: "nick", nick, password };
    }
    case "join": {
      const [arg, extra] = splitFirstWord(rest);
      if (arg === "" || extra !== "") return { kind: "usage", usage: USAGE[name] };
      return { kind: "join", room: arg };
    }
    case "msg": {
      const [nick, text] = splitFirstWord(rest);
      if (nick === "" || text === "") return { kind: "usage", usage: USAGE.msg };
      return { kind: "msg", nick, text };
    }
    case "me":
      if (rest === "") return { kind: "usage", usage: USAGE.me };
      return { kind: "me", text: rest };
    case "who":
    case "rooms":
    case "help":
      return { kind: name };
    case "quit":
      return { kind: "quit", reason: rest };
    case "format":
      if (rest !== "text" && rest !== "json") return { kind: "usage", usage: USAGE.format };
      return { kind: "format", format: rest };
    default:
      return parseModerationCommand(name, rest) ?? { kind: "unknown", name };
  }
}

function splitFirstWord(text: string): [string, string] {
  const match = /^(\S*)\s*(.*)$/s.exec(text)!;
  return [match[1], match[2].trim()];
}

// ESC sequences: CSI (ESC [ … final), OSC (ESC ] … BEL or ST), DCS/SOS/PM/APC
// (ESC P|X|^|_ … ST), and two- or three-byte escapes (ESC [intermediates] final).
// An unterminated string sequence is removed up to the end of the line.
const ESCAPE_SEQUENCE =
  /\x1b(?:\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|[\x20-\x2f]*[\x30-\x7e]?)/g;
// C0 controls except TAB, DEL, C1 controls, and the bidirectional overrides
// and isolates that can make text display in another order than it was sent.
const UNSAFE_CHARACTER = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;
// Line and paragraph separators end a line in some clients (JavaScript,
// many editors): inside a message they become a space.
const LINE_SEPARATOR = /[\u2028\u2029]/g;
const HAS_UNSAFE = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]/;

/**
 * Removes everything that could act on a terminal instead of being shown:
 * ESC sequences whole (colours, cursor moves, title changes, clear screen),
 * every other C0 control but TAB, DEL, C1 controls, and Unicode bidi
 * overrides and isolates. The line and paragraph separators U+2028 and
 * U+2029 become a space. Text without any of these is returned as is.
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { sanitizeText } from "./protocol.ts";
 *
 * deepEqual(sanitizeText("\x1b[2J\x1b[31mred\x1b[0m\x07!"), "red!");
 * ```
 */
export function sanitizeText(text: string): string {
  if (!HAS_UNSAFE.test(text)) return text;
  return text.replace(ESCAPE_SEQUENCE, "").replace(UNSAFE_CHARACTER, "").replace(
    LINE_SEPARATOR,
    " ",
  );
}

/** `<alice> hello`: a message to the room. */
export function formatMessage(nick: string, text: string): string {
  return `<${nick}> ${text}`;
}

/** `<alice> *waves*`: an action (`/me waves`). */
export function formatAction(nick: string, text: string): string {
  return `<${nick}> *${text}*`;
}

/** `[alice -> you] psst`: a private message, as its recipient sees it. */
export function formatPrivate(from: string, text: string): string {
  return `[${from} -> you] ${text}`;
}

/** `* text`: a server notice. */
export function formatNotice(text: string): string {
  return `* ${text}`;
}

/** `! text`: an error for one client. */
export function formatError(text: string): string {
  return `! ${text}`;
}

/** `* history: <alice> hi`: a past room message replayed on join. */
export function formatHistory(line: string): string {
  return `* history: ${line}`;
}

/** The three kinds of line a client receives. */
export type LineKind = "notice" | "error" | "message";

/** Tells which kind a received line is (see the module documentation). */
export function lineKind(line: string): LineKind {
  if (line.startsWith("* ")) return "notice";
  if (line.startsWith("! ")) return "error";
  return "message";
}

/**
 * Why a `members` event is sent, which its text says: the answer to `/who`,
 * the room just joined with `/join`, or the lobby at connect (the welcome
 * said it already: JSON clients only).
 */
export type MembersOccasion = "who" | "joined" | "welcome";

/**
 * The text a member reading lines sees for `event` (several lines are
 * joined by LF), or null when the event is for JSON clients only. The one
 * home of the protocol's wording: the hub builds events, never text.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { renderText } from "./protocol.ts";
 *
 * equal(renderText({ type: "join", room: "dev", nick: "ann" }), "* ann joined dev");
 * equal(renderText({ type: "members", room: "dev", members: ["ann"] }), "* 1 in dev: ann");
 * ```
 */
export function renderText(event: ChatEvent, occasion: MembersOccasion = "who"): string | null {
  switch (event.type) {
    case "welcome":
      return [
        formatNotice(`welcome to ${event.server}, ${event.nick}`),
        // The limits, so that a client can pace what it sends (issue 17 §4).
        formatNotice(
          `${event.online} online; you are in ${event.room}; type /help for commands; ` +
            formatLimits(event.limits),
        ),
      ].join("\n");
    case "message":
      return formatMessage(event.from, event.text);
    case "action":
      return formatAction(event.from, event.text);
    case "private":
      return formatPrivate(event.from, event.text);
    case "history":
      return formatHistory(
        event.kind === "message"
          ? formatMessage(event.from, event.text)
          : formatAction(event.from, event.text),
      );
    case "join":
      return formatNotice(`${event.nick} joined ${event.room}`);
    case "leave":
      return formatNotice(`${event.nick} left (${event.reason})`);
    case "nick":
      return formatNotice(
        event.self
          ? `you are now known as ${event.to}`
          : `${event.from} is now known as ${event.to}`,
      );
    case "members": {
      const { room, members } = event;
      if (occasion === "welcome") return null;
      return formatNotice(
        occasion === "joined"
          ? `you joined ${room}; ${members.length} here: ${members.join(", ")}`
          : `${members.length} in ${room}: ${members.join(", ")}`,
      );
    }
    case "rooms": {
      const { rooms } = event;
      const listed = rooms.map((room) =>
        `${room.name} (${room.count}${room.topic === undefined ? "" : `: ${room.topic}`})`
      ).join(", ");
      return formatNotice(`${rooms.length} ${rooms.length === 1 ? "room" : "rooms"}: ${listed}`);
    }
    case "format":
      return formatNotice(`format: ${event.format}`);
    case "notice":
      return formatNotice(event.text);
    case "error":
      return formatError(event.text);
    case "kick":
    case "ban":
    case "mute":
    case "topic":
      return renderModeration(event);
  }
}
