/**
 * The chat's commands (`/nick`, `/join`, `/msg`, …, and a plain line said
 * to the room), run against a narrow {@linkcode CommandContext}: the hub
 * runs them in each member's order, with the fault boundary around them.
 * A new command is a case here, and its parsing and wording in
 * `protocol.ts`. Pure.
 *
 * A command whose answer comes from another node returns a promise; the
 * hub holds the member's next lines until it settles.
 *
 * @module
 */

import { CLOSE_GRACE_MS } from "../support/constants.ts";
import type { Logger } from "../support/log.ts";
import { type ChatDirectory, LINK_DOWN, type MaybePromise, type MemberRef } from "./directory.ts";
import type { FloodControl } from "./flood.ts";
import type { LocalRooms } from "./local_rooms.ts";
import type { ChatSession, MemberClose } from "./member.ts";
import type { Moderation } from "./moderation.ts";
import { claimNick } from "./moderation_accounts.ts";
import { mayspeak, runModeration, showTopic } from "./moderation_commands.ts";
import { checkNick, checkRoom, isGuestKey, nameKey, normalizeRoom } from "./names.ts";
import { type ChatCommand, HELP_LINES, LINK_DOWN_TEXT } from "./protocol.ts";
import type { ChatHubSettings } from "./settings.ts";

/** What the commands may use of their hub. */
export interface CommandContext {
  readonly settings: ChatHubSettings;
  readonly directory: ChatDirectory;
  /** This node's rooms, and delivery to its members. */
  readonly rooms: LocalRooms;
  readonly flood: FloodControl;
  readonly log: Logger;
  /** The hub's clock (ms). */
  now(): number;
  /** This node's member of `ref`, if it has it. */
  local(ref: MemberRef): ChatSession | undefined;
  /** Operators, bans, mutes, topics, registered nicks (`moderation.ts`). */
  readonly moderation: Moderation;
  /** This node's members now. */
  members(): Iterable<ChatSession>;
  /** Uses a value now, or once it resolves (as a hub operation of its own). */
  after<T, R = void>(value: MaybePromise<T>, next: (value: T) => MaybePromise<R>): MaybePromise<R>;
  /** Runs work nobody waits for; a failure is logged. */
  background(work: MaybePromise<unknown>): void;
  /** Ends a member: its one way out. */
  end(session: ChatSession, reason: string, close: MemberClose | null): void;
}

/** Runs one command of `session`. */
export function runCommand(
  context: CommandContext,
  session: ChatSession,
  command: ChatCommand,
): MaybePromise<void> {
  const { rooms } = context;
  switch (command.kind) {
    case "say":
    case "me":
      if (!mayspeak(context, session)) return;
      return say(context, session, command.kind === "say" ? "message" : "action", command.text);
    case "msg":
      if (!mayspeak(context, session)) return;
      return privateMessage(context, session, command.nick, command.text);
    case "nick":
      return rename(context, session, command.nick, command.password);
    case "join":
      return move(context, session, command.room);
    case "who":
      return who(context, session);
    case "rooms":
      return listRooms(context, session);
    case "help":
      for (const line of HELP_LINES) rooms.send(session, rooms.notice(line));
      return;
    case "format":
      session.member.format = command.format;
      return rooms.send(session, rooms.event({ type: "format", format: command.format }));
    case "quit":
      rooms.send(session, rooms.notice("bye"));
      return context.end(
        session,
        command.reason === "" ? "quit" : `quit: ${command.reason}`,
        { kind: "quit", reason: "quit", last: null, graceMs: CLOSE_GRACE_MS },
      );
    case "usage":
      return rooms.error(session, "usage", `usage: ${command.usage}`);
    case "unknown":
      return rooms.error(
        session,
        "unknown_command",
        `unknown command /${command.name}; type /help for the list`,
      );
    default:
      return runModeration(context, session, command);
  }
}

function say(
  context: CommandContext,
  session: ChatSession,
  kind: "message" | "action",
  text: string,
): void {
  const room = session.room;
  if (room === null) {
    return context.rooms.error(session, "not_delivered", "not delivered: you are in no room");
  }
  const published = context.directory.publish(room.key, {
    event: { type: kind, room: room.name, from: session.nick, text },
    ts: context.now(),
    origin: session.ref,
    echo: true,
  });
  context.background(context.after(published, (answer) => {
    if (answer === LINK_DOWN && !session.ended) {
      context.rooms.error(
        session,
        "not_delivered",
        `not delivered to other servers: ${LINK_DOWN_TEXT}; only people on this server saw it`,
      );
    }
  }));
}

function privateMessage(
  context: CommandContext,
  session: ChatSession,
  nick: string,
  text: string,
): MaybePromise<void> {
  const { rooms } = context;
  return context.after(context.directory.find(nameKey(nick)), (ref) => {
    if (ref === LINK_DOWN) {
      return rooms.error(session, "not_delivered", `not delivered: ${LINK_DOWN_TEXT}`);
    }
    const local = ref === null ? undefined : context.local(ref);
    if (ref === null || (local !== undefined && (local.ended || local.dropping))) {
      return rooms.error(session, "no_such_nick", `no such nick: ${nick}`);
    }
    const to = local?.nick ?? nick;
    const event = rooms.event({ type: "private", from: session.nick, to, text });
    const bytes = event.bytes(local?.member.format ?? "text")?.length ?? 0;
    if (!context.flood.privateAllowed(session.member.address, ref, bytes, context.now())) {
      return rooms.error(
        session,
        "too_much",
        `not delivered: your address may send ${to} at most ` +
          `${context.settings.msgBytesRate} bytes/s of private messages; try again later`,
      );
    }
    const copy = () => { // a JSON client sees what was delivered
      if (session.member.format === "json" && local !== session) rooms.send(session, event);
    };
    if (local !== undefined) {
      rooms.send(local, event);
      return copy();
    }
    return context.after(
      context.directory.send(ref, { event: event.event, ts: event.ts, from: session.ref }),
      (sent) =>
        sent === LINK_DOWN
          ? rooms.error(session, "not_delivered", `not delivered: ${LINK_DOWN_TEXT}`)
          : copy(),
    );
  });
}

function rename(
  context: CommandContext,
  session: ChatSession,
  requested: string,
  password?: string,
): MaybePromise<void> {
  const { rooms, directory } = context;
  const nick = requested.normalize("NFC");
  const old = session.nick;
  if (old === nick) return rooms.send(session, rooms.notice(`you are already ${nick}`));
  const key = nameKey(nick);
  const problem = checkNick(nick) ??
    (isGuestKey(key) ? "guest nicks are given by the server" : undefined);
  if (problem !== undefined) {
    // A look-alike of a nick in use is "taken", whatever else is wrong with it.
    return context.after(directory.find(key), (holder) => {
      if (typeof holder === "string" && holder !== session.ref) {
        return rooms.error(session, "nick_taken", takenText(context, nick, holder));
      }
      if (context.moderation.registration(key) !== undefined) {
        return rooms.error(session, "nick_registered", `nick ${nick} is registered`);
      }
      rooms.error(session, "bad_nick", `cannot use nick ${nick}: ${problem}`);
    });
  }
  const claimed = claimNick(context, session, nick, key, password);
  const renamed = context.after(
    claimed,
    (ok) => ok && !session.ended ? directory.rename(session.ref, nameKey(old), key, nick) : null,
  );
  return context.after(renamed, (answer) => {
    if (answer === null) return; // refused (and told so), or gone meanwhile
    if (session.ended) { // its old nick was freed as it left: the new one is freed now
      if (answer === true) directory.leave(session.ref, key);
      return;
    }
    if (answer === LINK_DOWN) {
      return rooms.error(session, "not_delivered", `cannot change nick now: ${LINK_DOWN_TEXT}`);
    }
    if (!answer) {
      // The holder, when it is here, is named: a look-alike's refusal explains itself.
      return context.after(directory.find(key), (holder) =>
        rooms.error(
          session,
          "nick_taken",
          takenText(context, nick, typeof holder === "string" ? holder : null),
        ));
    }
    session.nick = nick;
    const room = session.room?.name ?? "";
    rooms.send(session, rooms.event({ type: "nick", room, from: old, to: nick, self: true }));
    rooms.announceRename(session, old, nick);
    context.log({ event: "nick", peer: session.member.peer, nick: old, to: nick });
  });
}

function move(
  context: CommandContext,
  session: ChatSession,
  requested: string,
): MaybePromise<void> {
  const { rooms } = context;
  const problem = checkRoom(requested);
  if (problem !== undefined) {
    return rooms.error(session, "bad_room", `cannot join ${requested}: ${problem}`);
  }
  const name = normalizeRoom(requested);
  const key = nameKey(name);
  const current = session.room;
  if (current !== null && key === current.key) {
    return rooms.error(session, "already_there", `you are already in ${current.name}`);
  }
  const target = rooms.get(key)?.name ?? name;
  rooms.leave(session, `moved to ${target}`);
  return context.after(rooms.enter(session, name, key, true), () => showTopic(context, session));
}

function who(context: CommandContext, session: ChatSession): MaybePromise<void> {
  const room = session.room;
  if (room === null) return;
  const { rooms } = context;
  return context.after(context.directory.members(room.key), (members) => {
    if (members === LINK_DOWN) {
      return rooms.error(session, "not_delivered", `cannot list members now: ${LINK_DOWN_TEXT}`);
    }
    rooms.send(session, rooms.event({ type: "members", room: room.name, members }));
  });
}

function listRooms(context: CommandContext, session: ChatSession): MaybePromise<void> {
  const { rooms } = context;
  return context.after(context.directory.rooms(), (found) => {
    if (found === LINK_DOWN) {
      return rooms.error(session, "not_delivered", `cannot list rooms now: ${LINK_DOWN_TEXT}`);
    }
    const listed = found.filter((room) => room.count > 0)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((room) => {
        const topic = context.moderation.topic(nameKey(room.name))?.text;
        return topic === undefined ? room : { ...room, topic };
      });
    rooms.send(session, rooms.event({ type: "rooms", rooms: listed }));
  });
}

/** "nick X is taken", and why when X only looks like the holder's nick (issue 17 §8). */
function takenText(context: CommandContext, nick: string, holder: MemberRef | null): string {
  const held = holder === null ? undefined : context.local(holder)?.nick;
  if (held === undefined || held === nick) return `nick ${nick} is taken`;
  return `nick ${nick} is taken: it looks like ${held}, who is online ` +
    `(nicks that differ only in case or in look-alike letters, as l, I and 1 or O and 0, count as one)`;
}
