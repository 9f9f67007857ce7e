/**
 * The moderation commands, run by `commands.ts`: `/oper`, `/kick`, `/ban`,
 * `/unban`, `/bans`, `/mute`, `/unmute`, `/topic`, `/register`,
 * `/unregister` (those with a password: `moderation_accounts.ts`), and
 * the checks other commands make (a muted member's lines). Pure.
 *
 * Who may do what: `/kick`, `/ban`, `/unban`, `/bans`, `/mute`, `/unmute`
 * and setting a topic are for operators (`/oper`); anyone may read a
 * topic and register their own nick. A room's creator gets no rights over
 * it: rooms are made by whoever joins first and forgotten when empty, so
 * "creator" would be first come, first served.
 *
 * A kick, mute or ban by nick of a member of another node is passed on
 * to that node (a `remote` change, with shared moderation: `--redis`),
 * which carries it out; without sharing it is answered `not_here`.
 *
 * @module
 */

import { CLOSE_GRACE_MS } from "../support/constants.ts";
import { LINK_DOWN, type MaybePromise } from "./directory.ts";
import type { CommandContext } from "./commands.ts";
import type { ModerationEvent } from "./events.ts";
import type { ChatSession } from "./member.ts";
import { maskMatches, parseMask } from "./ip_mask.ts";
import {
  type Ban,
  banRefusal,
  formatUntil,
  MAX_BANS,
  MAX_REASON_CHARS,
  MAX_TOPIC_CHARS,
  MAX_TOPICS,
  type RemoteAction,
} from "./moderation.ts";
import { oper, register, unregister } from "./moderation_accounts.ts";
import type { ModerationCommand } from "./moderation_protocol.ts";
import { nameKey } from "./names.ts";

/** How long `/mute NICK` lasts without a duration. */
export const DEFAULT_MUTE_MS = 10 * 60_000;

/** Runs one moderation command of `session`. */
export function runModeration(
  context: CommandContext,
  session: ChatSession,
  command: ModerationCommand,
): MaybePromise<void> {
  switch (command.kind) {
    case "oper":
      return oper(context, session, command.name, command.password);
    case "topic":
      return topic(context, session, command.text);
    case "register":
      return register(context, session, command.password);
    case "unregister":
      return unregister(context, session, command.nick);
  }
  const operator = context.moderation.operatorOf(session);
  if (operator === undefined) {
    return context.rooms.error(
      session,
      "not_operator",
      `/${command.kind} is for operators; see /oper`,
    );
  }
  if ("reason" in command && [...command.reason].length > MAX_REASON_CHARS) {
    return context.rooms.error(
      session,
      "usage",
      `a reason has at most ${MAX_REASON_CHARS} characters`,
    );
  }
  switch (command.kind) {
    case "kick":
      return kick(context, session, operator, command.nick, command.reason);
    case "ban":
      return ban(context, session, operator, command.target, command.durationMs, command.reason);
    case "unban":
      return unban(context, session, operator, command.mask);
    case "bans":
      return listBans(context, session);
    case "mute":
      return mute(context, session, operator, command.nick, command.durationMs);
    case "unmute":
      return mute(context, session, operator, command.nick, 0);
  }
}

/**
 * True when `session` may speak; otherwise it is told until when it is
 * muted (`! you are muted until …`) and its line goes nowhere.
 */
export function mayspeak(context: CommandContext, session: ChatSession): boolean {
  const until = context.moderation.mutedUntil(session, context.now());
  if (until === null) return true;
  context.rooms.error(
    session,
    "muted",
    `you are muted ${formatUntil(until === Infinity ? null : until, context.now())}; ` +
      "this line was not sent",
  );
  return false;
}

/** Shows `session` its room's topic (on join), if it has one. */
export function showTopic(context: CommandContext, session: ChatSession): void {
  const room = session.room;
  if (room === null || session.ended) return;
  const topic = context.moderation.topic(room.key);
  if (topic === undefined) return;
  const { rooms } = context;
  rooms.send(
    session,
    rooms.event({
      type: "topic",
      room: room.name,
      text: topic.text,
      by: topic.by,
      since: new Date(topic.ts).toISOString(),
    }),
  );
}

/**
 * The member called `nick`: this node's session, or the ref of a member of
 * another node (when moderation is shared with it), or null after telling
 * `session` why not.
 */
function target(
  context: CommandContext,
  session: ChatSession,
  nick: string,
): MaybePromise<ChatSession | { remote: string } | null> {
  return context.after(context.directory.find(nameKey(nick)), (ref) => {
    if (ref === LINK_DOWN || ref === null) {
      context.rooms.error(session, "no_such_nick", `no such nick: ${nick}`);
      return null;
    }
    const local = context.local(ref);
    if (local === undefined) {
      if (context.moderation.shared) return { remote: ref };
      context.rooms.error(session, "not_here", `${nick} is on another server`);
      return null;
    }
    if (local.ended || local.dropping) {
      context.rooms.error(session, "no_such_nick", `no such nick: ${nick}`);
      return null;
    }
    return local;
  });
}

/** Passes `action` on to the node of member `ref`, and tells the operator. */
function sendRemote(
  context: CommandContext,
  session: ChatSession,
  ref: string,
  nick: string,
  action: RemoteAction,
): void {
  context.moderation.change({ kind: "remote", ref, action });
  context.rooms.send(session, context.rooms.notice(`${action.do} of ${nick} sent to its server`));
}

/**
 * Runs an action asked for on another node for this node's member `ref`
 * (gone meanwhile: nothing to do).
 */
export function runRemote(context: CommandContext, ref: string, action: RemoteAction): void {
  const member = context.local(ref);
  if (member === undefined || member.ended || member.dropping) return;
  const now = context.now();
  switch (action.do) {
    case "kick":
      return kickMember(context, member, action.by, action.reason);
    case "mute":
      return void muteMember(context, member, action.by, action.until);
    case "ban":
      banAddress(context, member.member.address, action.by, action.durationMs, action.reason, now);
  }
}

function kickMember(
  context: CommandContext,
  member: ChatSession,
  by: string,
  reason: string,
): void {
  const { rooms } = context;
  const why = reason === "" ? "" : ` (${reason})`;
  context.log({
    event: "moderation",
    action: "kick",
    peer: member.member.peer,
    nick: member.nick,
    by,
    reason,
  });
  rooms.leave(member, `kicked by ${by}`, {
    type: "kick",
    room: member.room?.name ?? "",
    nick: member.nick,
    by,
    reason,
  });
  context.end(member, `kicked by ${by}`, {
    kind: "quit",
    reason: "kicked",
    last: rooms.errorEvent("kicked", `you were kicked by ${by}${why}`),
    graceMs: CLOSE_GRACE_MS,
  });
}

function kick(
  context: CommandContext,
  session: ChatSession,
  operator: string,
  nick: string,
  reason: string,
): MaybePromise<void> {
  return context.after(target(context, session, nick), (member) => {
    if (member === null) return;
    if ("remote" in member) {
      return sendRemote(context, session, member.remote, nick, {
        do: "kick",
        by: operator,
        reason,
      });
    }
    kickMember(context, member, operator, reason);
    if (member !== session) {
      context.rooms.send(session, context.rooms.notice(`kicked ${member.nick}`));
    }
  });
}

/** Bans `address` (one address: `/32`, `/128`) and removes the members it covers here. */
function banAddress(
  context: CommandContext,
  address: string,
  by: string,
  durationMs: number | null,
  reason: string,
  now: number,
): { mask: string; until: number | null; removed: number } | null {
  const mask = parseMask(address);
  if (mask === null) return null;
  const until = durationMs === null ? null : now + durationMs;
  const entry = { mask: mask.text, reason, by, since: now, until };
  context.moderation.change({ kind: "ban", ban: entry });
  context.log({ event: "moderation", action: "ban", mask: mask.text, by, reason });
  return { mask: mask.text, until, removed: removeBanned(context, entry, now) };
}

function ban(
  context: CommandContext,
  session: ChatSession,
  operator: string,
  targetText: string,
  durationMs: number | null,
  reason: string,
): MaybePromise<void> {
  const given = parseMask(targetText);
  const found = given !== null ? given.text : context.after(
    target(context, session, targetText),
    (member) => {
      if (member === null) return null;
      if (!("remote" in member)) return member.member.address;
      const action = { do: "ban" as const, by: operator, durationMs, reason };
      sendRemote(context, session, member.remote, targetText, action);
      return null;
    },
  );
  return context.after(found, (address) => {
    if (address === null) return;
    const { moderation, rooms } = context;
    const now = context.now();
    const mask = parseMask(address)!.text;
    if (!moderation.hasBan(mask) && moderation.bans(now).length >= MAX_BANS) {
      return rooms.error(session, "too_much", `at most ${MAX_BANS} bans; /unban some first`);
    }
    const done = banAddress(context, address, operator, durationMs, reason, now)!;
    rooms.send(
      session,
      rooms.notice(
        `banned ${done.mask} ${formatUntil(done.until, now)}; ` +
          `${done.removed} ${done.removed === 1 ? "member" : "members"} removed here`,
      ),
    );
  });
}

/**
 * Removes this node's members that `ban` covers (operators never), each
 * told why; the room sees `* NICK was banned by OP (reason)`. Returns how
 * many were removed.
 */
export function removeBanned(context: CommandContext, ban: Ban, now: number): number {
  const { moderation, rooms } = context;
  const mask = parseMask(ban.mask);
  if (mask === null) return 0;
  let removed = 0;
  for (const member of context.members()) {
    if (member.ended || moderation.operatorOf(member) !== undefined) continue;
    if (!maskMatches(mask, member.member.address)) continue;
    removed++;
    rooms.leave(member, `banned by ${ban.by}`, {
      type: "ban",
      room: member.room?.name ?? "",
      nick: member.nick,
      mask: ban.mask,
      by: ban.by,
      reason: ban.reason,
      until: ban.until === null ? null : new Date(ban.until).toISOString(),
    });
    context.end(member, `banned by ${ban.by}`, {
      kind: "quit",
      reason: "banned",
      last: rooms.errorEvent("banned", `you were ${banRefusal(ban, now)} (by ${ban.by})`),
      graceMs: CLOSE_GRACE_MS,
    });
  }
  return removed;
}

function unban(
  context: CommandContext,
  session: ChatSession,
  operator: string,
  text: string,
): void {
  const { moderation, rooms } = context;
  const mask = parseMask(text);
  if (mask === null || !moderation.hasBan(mask.text)) {
    return rooms.error(session, "usage", `no ban on ${text}; /bans lists them`);
  }
  moderation.change({ kind: "unban", mask: mask.text });
  context.log({ event: "moderation", action: "unban", mask: mask.text, by: operator });
  rooms.send(session, rooms.notice(`unbanned ${mask.text}`));
}

function listBans(context: CommandContext, session: ChatSession): void {
  const { moderation, rooms } = context;
  const now = context.now();
  const bans = moderation.bans(now);
  rooms.send(session, rooms.notice(`${bans.length} ${bans.length === 1 ? "ban" : "bans"}`));
  for (const entry of bans) {
    const reason = entry.reason === "" ? "" : `: ${entry.reason}`;
    rooms.send(
      session,
      rooms.notice(`  ${entry.mask} by ${entry.by} ${formatUntil(entry.until, now)}${reason}`),
    );
  }
}

/** Mutes `nick` for `durationMs` (null: the default; 0: lifts the mute). */
function mute(
  context: CommandContext,
  session: ChatSession,
  operator: string,
  nick: string,
  durationMs: number | null,
): MaybePromise<void> {
  return context.after(target(context, session, nick), (member) => {
    if (member === null) return;
    const now = context.now();
    const until = durationMs === 0 ? null : now + (durationMs ?? DEFAULT_MUTE_MS);
    if ("remote" in member) {
      return sendRemote(context, session, member.remote, nick, { do: "mute", by: operator, until });
    }
    const event = muteMember(context, member, operator, until);
    if (member !== session) {
      context.rooms.send(session, context.rooms.event({ ...event, self: false }));
    }
  });
}

/** Mutes `member` until `until` (null: lifts it); it is told. Returns the event. */
function muteMember(
  context: CommandContext,
  member: ChatSession,
  by: string,
  until: number | null,
): ModerationEvent & { type: "mute" } {
  const { moderation, rooms } = context;
  moderation.mute(member, until);
  context.log({
    event: "moderation",
    action: until === null ? "unmute" : "mute",
    peer: member.member.peer,
    nick: member.nick,
    by,
  });
  const event = {
    type: "mute" as const,
    nick: member.nick,
    by,
    muted: until !== null,
    until: until === null ? null : new Date(until).toISOString(),
    self: true,
  };
  rooms.send(member, rooms.event(event));
  return event;
}

function topic(context: CommandContext, session: ChatSession, text: string | null): void {
  const { moderation, rooms } = context;
  const room = session.room;
  if (room === null) return rooms.error(session, "not_delivered", "you are in no room");
  if (text === null) {
    const current = moderation.topic(room.key);
    if (current !== undefined) return showTopic(context, session);
    return rooms.send(
      session,
      rooms.event({ type: "topic", room: room.name, text: "", by: "", since: "" }),
    );
  }
  const operator = moderation.operatorOf(session);
  if (operator === undefined) {
    return rooms.error(session, "not_operator", "only operators set topics; see /oper");
  }
  if ([...text].length > MAX_TOPIC_CHARS) {
    return rooms.error(session, "usage", `a topic has at most ${MAX_TOPIC_CHARS} characters`);
  }
  if (
    text !== "" && moderation.topic(room.key) === undefined && moderation.topicCount >= MAX_TOPICS
  ) {
    return rooms.error(session, "too_much", `at most ${MAX_TOPICS} rooms may have a topic`);
  }
  const ts = context.now();
  moderation.change({
    kind: "topic",
    key: room.key,
    topic: text === "" ? null : { room: room.name, text, by: operator, ts },
  });
  context.log({ event: "moderation", action: "topic", room: room.name, by: operator });
  context.background(context.directory.publish(room.key, {
    event: {
      type: "topic",
      room: room.name,
      text,
      by: operator,
      since: new Date(ts).toISOString(),
    },
    ts,
    origin: session.ref,
    echo: true,
  }));
  rooms.send(
    session,
    rooms.notice(text === "" ? `topic of ${room.name} cleared` : `topic of ${room.name} set`),
  );
}
