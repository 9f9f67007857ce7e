/**
 * The moderation commands' parsing and the wording of their events (see
 * `protocol.ts` for the rest of the protocol). Pure.
 *
 * ```
 * /oper NAME PASSWORD          become an operator
 * /kick NICK [reason]          operators
 * /ban NICK|ADDRESS[/PREFIX] [DURATION] [reason]
 * /unban ADDRESS[/PREFIX]      /bans
 * /mute NICK [DURATION]        /unmute NICK
 * /topic [TEXT|-]              show, set (operators), clear with -
 * /register PASSWORD           /unregister [NICK]
 * ```
 *
 * @module
 */

import type { ModerationEvent } from "./events.ts";
import { parseDuration } from "./moderation.ts";

/** A parsed moderation command. */
export type ModerationCommand =
  | { kind: "oper"; name: string; password: string }
  | { kind: "kick"; nick: string; reason: string }
  | { kind: "ban"; target: string; durationMs: number | null; reason: string }
  | { kind: "unban"; mask: string }
  | { kind: "bans" }
  | { kind: "mute"; nick: string; durationMs: number | null }
  | { kind: "unmute"; nick: string }
  | { kind: "topic"; text: string | null }
  | { kind: "register"; password: string }
  | { kind: "unregister"; nick: string | null };

/** Usage lines of the moderation commands. */
export const MODERATION_USAGE = {
  oper: "/oper NAME PASSWORD",
  kick: "/kick NICK [reason]",
  ban: "/ban NICK|ADDRESS[/PREFIX] [DURATION] [reason]  (DURATION: 30s, 10m, 2h, 7d)",
  unban: "/unban ADDRESS[/PREFIX]  (as /bans lists it)",
  mute: "/mute NICK [DURATION]  (DURATION: 30s, 10m, 2h, 7d; default 10m)",
  unmute: "/unmute NICK",
  register: "/register PASSWORD",
} as const;

/** Lines `/help` adds for moderation. */
export const MODERATION_HELP: readonly string[] = [
  "  /register PASSWORD  register your nick; later take it with /nick NAME PASSWORD",
  "  /unregister      release your registered nick",
  "  /topic [TEXT]    show your room's topic (operators set it; /topic - clears)",
  "  /oper NAME PASSWORD  become an operator: /kick /ban /unban /bans /mute /unmute",
];

function firstWord(text: string): [string, string] {
  const match = /^(\S*)\s*(.*)$/s.exec(text)!;
  return [match[1], match[2].trim()];
}

/**
 * Parses a moderation command (`name` lower case, `rest` its trimmed
 * arguments); null when `name` is not one.
 */
export function parseModerationCommand(
  name: string,
  rest: string,
): ModerationCommand | { kind: "usage"; usage: string } | null {
  const usage = (key: keyof typeof MODERATION_USAGE) => ({
    kind: "usage" as const,
    usage: MODERATION_USAGE[key],
  });
  const [first, after] = firstWord(rest);
  switch (name) {
    case "oper":
      if (first === "" || after === "") return usage("oper");
      return { kind: "oper", name: first, password: after };
    case "kick":
      if (first === "") return usage("kick");
      return { kind: "kick", nick: first, reason: after };
    case "ban": {
      if (first === "") return usage("ban");
      const [maybe, reason] = firstWord(after);
      try {
        const durationMs = parseDuration(maybe);
        if (durationMs !== null) return { kind: "ban", target: first, durationMs, reason };
      } catch (error) {
        return { kind: "usage", usage: `${(error as Error).message}; ${MODERATION_USAGE.ban}` };
      }
      return { kind: "ban", target: first, durationMs: null, reason: after };
    }
    case "unban":
      if (first === "" || after !== "") return usage("unban");
      return { kind: "unban", mask: first };
    case "bans":
      return { kind: "bans" };
    case "mute": {
      if (first === "") return usage("mute");
      if (after === "") return { kind: "mute", nick: first, durationMs: null };
      try {
        const durationMs = parseDuration(after);
        if (durationMs !== null) return { kind: "mute", nick: first, durationMs };
      } catch (error) {
        return { kind: "usage", usage: `${(error as Error).message}; ${MODERATION_USAGE.mute}` };
      }
      return usage("mute");
    }
    case "unmute":
      if (first === "" || after !== "") return usage("unmute");
      return { kind: "unmute", nick: first };
    case "topic":
      return { kind: "topic", text: rest === "" ? null : rest === "-" ? "" : rest };
    case "register":
      if (rest === "") return usage("register");
      return { kind: "register", password: rest };
    case "unregister":
      return { kind: "unregister", nick: rest === "" ? null : first };
    default:
      return null;
  }
}

function untilText(until: string | null): string {
  return until === null ? "until lifted" : `until ${until.slice(0, 19).replace("T", " ")} UTC`;
}

/** The text of a moderation event (see `renderText`). */
export function renderModeration(event: ModerationEvent): string {
  const why = (reason: string) => reason === "" ? "" : ` (${reason})`;
  switch (event.type) {
    case "kick":
      return `* ${event.nick} was kicked by ${event.by}${why(event.reason)}`;
    case "ban":
      return `* ${event.nick} was banned by ${event.by}${why(event.reason)}`;
    case "mute":
      if (!event.muted) {
        return event.self ? `* you may speak again` : `* ${event.nick} may speak again`;
      }
      return event.self
        ? `* you are muted by ${event.by} ${untilText(event.until)}`
        : `* ${event.nick} is muted ${untilText(event.until)}`;
    case "topic":
      if (event.text === "") {
        return event.by === ""
          ? `* ${event.room} has no topic`
          : `* topic of ${event.room} cleared by ${event.by}`;
      }
      return `* topic of ${event.room}: ${event.text} (set by ${event.by})`;
  }
}
