/**
 * This node's rooms and delivery to its members: who of this node is in
 * which room (in join order), entering a room (announced, then its member
 * list, then its history, then what happened since), leaving one, and
 * every event on its way to a member, held while the member's history is
 * on the way. Pure.
 *
 * Delivery never blocks: a member whose queue is full (or whose `deliver`
 * throws) gets nothing more and is reported to the hub, which drops it
 * once the current operation is over, never from inside a broadcast.
 *
 * @module
 */

import type { HubCounters } from "./counters.ts";
import {
  type ChatDirectory,
  type DirectEnvelope,
  LINK_DOWN,
  LOBBY_KEY,
  type LostMember,
  type MaybePromise,
  type RoomEnvelope,
} from "./directory.ts";
import { type ChatEvent, type ErrorCode, Outgoing } from "./events.ts";
import type { HistoryEntry } from "./history.ts";
import type { ChatSession } from "./member.ts";
import { LINK_DOWN_TEXT, type MembersOccasion, renderText } from "./protocol.ts";
import type { ChatHubSettings } from "./settings.ts";

/** Events held for a joining member while its room's history is on the way. */
const MAX_HELD_EVENTS = 1000;

/**
 * Whether joins and leaves are announced in a room where `others` members
 * would hear it (an `announceLimit` of 0: always).
 */
export function announces(announceLimit: number, others: number): boolean {
  return announceLimit === 0 || others < announceLimit;
}

/** A room as this node sees it: its name and its members on this node, in join order. */
export class LocalRoom {
  /** The name as first created (NFC, no `#`), anywhere in the cluster. */
  name: string;
  /** The key rooms are told apart by (see `nameKey`). */
  readonly key: string;
  /** Members on this node, in join order. */
  readonly members = new Set<ChatSession>();

  constructor(name: string, key: string) {
    this.name = name;
    this.key = key;
  }
}

/** What the rooms need of their hub. */
export interface RoomsContext {
  readonly settings: ChatHubSettings;
  readonly directory: ChatDirectory;
  /** The hub's clock (ms). */
  now(): number;
  /** True once the hub is shutting down: leaves are announced to other nodes only. */
  stopping(): boolean;
  /** Uses a value now, or once it resolves (as a hub operation of its own). */
  after<T, R = void>(value: MaybePromise<T>, next: (value: T) => MaybePromise<R>): MaybePromise<R>;
  /** Runs work nobody waits for; a failure is logged. */
  background(work: MaybePromise<unknown>): void;
  /** A member's queue is full: the hub drops it once the current operation is over. */
  tooSlow(session: ChatSession): void;
  /** A member's `deliver` threw: the hub ends it once the current operation is over. */
  failed(session: ChatSession, error: unknown): void;
  /** Where deliveries are counted (for the metrics). */
  readonly counters: HubCounters;
}

/** This node's rooms, and delivery; see the module documentation. */
export class LocalRooms {
  readonly #context: RoomsContext;
  readonly #rooms = new Map<string, LocalRoom>();

  constructor(context: RoomsContext) {
    this.#context = context;
  }

  /** The room of `key` if this node has members in it. */
  get(key: string): LocalRoom | undefined {
    return this.#rooms.get(key);
  }

  // ---- events ----

  /** An event of now, with its text (a `members` event says why it is sent). */
  event(event: ChatEvent, occasion?: MembersOccasion): Outgoing {
    return new Outgoing(event, renderText(event, occasion), this.#context.now());
  }

  /** A notice of now. */
  notice(text: string): Outgoing {
    return this.event({ type: "notice", text });
  }

  /** An error event of now. */
  errorEvent(code: ErrorCode, text: string): Outgoing {
    return this.event({ type: "error", code, text });
  }

  /** Sends `session` an error. */
  error(session: ChatSession, code: ErrorCode, text: string): void {
    this.send(session, this.errorEvent(code, text));
  }

  // ---- entering and leaving ----

  /**
   * Enters a room: announced, then the member list, then its history, then
   * what happened since. The member is in this node's room from the start,
   * and what reaches it before its history is held: events up to its entry
   * point (its `cursor`) are part of that history and are dropped, later
   * ones follow it. `tellMembers`: the member list is worded for `/join`
   * (else the welcome said where the member is: JSON clients only).
   */
  enter(
    session: ChatSession,
    requested: string,
    key: string,
    tellMembers: boolean,
  ): MaybePromise<void> {
    const context = this.#context;
    let room = this.#rooms.get(key);
    if (room === undefined) {
      room = new LocalRoom(requested, key);
      this.#rooms.set(key, room);
    }
    room.members.add(session);
    session.room = room;
    session.cursor = -1;
    session.held = [];
    const { history, announceLimit } = context.settings;
    const entered = context.directory.enter(session.ref, session.nick, key, requested, history);
    return context.after(entered, (answer) => {
      if (session.ended || session.room !== room) return;
      // With the link down, the room is what this node knows of it.
      const entry = answer === LINK_DOWN ? null : answer;
      if (entry !== null) room.name = entry.name;
      const members = entry?.members ?? [...room.members].map((member) => member.nick);
      session.cursor = entry?.cursor ?? 0;
      if (announces(announceLimit, members.length - 1)) {
        context.background(context.directory.publish(key, {
          event: { type: "join", room: room.name, nick: session.nick },
          ts: context.now(),
          origin: session.ref,
          echo: false,
        }));
      }
      this.#deliverNow(
        session,
        this.event(
          { type: "members", room: room.name, members },
          tellMembers ? "joined" : "welcome",
        ),
      );
      this.#replay(session, room.name, entry?.history ?? []);
    });
  }

  /**
   * Leaves the room: this node's view at once, the directory's (and the
   * announcement) after. `announce`: what the room is told instead of the
   * `leave` (a kick, a ban).
   */
  leave(session: ChatSession, reason: string, announce?: ChatEvent): void {
    const room = session.room;
    if (room === null) return;
    session.room = null;
    session.held = null;
    room.members.delete(session);
    if (room.members.size === 0 && room.key !== LOBBY_KEY) this.#rooms.delete(room.key);
    const context = this.#context;
    const { ref, nick } = session;
    const elsewhere = context.stopping(); // this node's members are all leaving
    context.background(context.after(context.directory.exit(ref, room.key), (left) => {
      // Nobody left to tell (and an emptied room's keys stay deleted).
      if (left === 0) return;
      if (left !== LINK_DOWN && !announces(context.settings.announceLimit, left)) return;
      return context.directory.publish(room.key, {
        event: announce ?? { type: "leave", room: room.name, nick, reason },
        ts: context.now(),
        origin: ref,
        echo: false,
      }, elsewhere);
    }));
  }

  /** Tells the other members of the session's room (on every node) of its new nick. */
  announceRename(session: ChatSession, from: string, to: string): void {
    const room = session.room;
    if (room === null) return;
    const context = this.#context;
    context.background(context.directory.publish(room.key, {
      event: { type: "nick", room: room.name, from, to, self: false },
      ts: context.now(),
      origin: session.ref,
      echo: false,
    }));
  }

  // ---- what the directory delivers ----

  /** A room event for this node's members of `roomKey`, in the room's order. */
  roomEvent(roomKey: string, envelope: RoomEnvelope): void {
    const room = this.#rooms.get(roomKey);
    if (room === undefined) return;
    const event = new Outgoing(envelope.event, renderText(envelope.event), envelope.ts);
    const seq = envelope.seq ?? Infinity;
    for (const session of room.members) {
      if (seq <= session.cursor) continue; // part of the history it was given
      const own = session.ref === envelope.origin;
      if (own && !(envelope.echo && session.member.format === "json")) continue;
      this.send(session, event, seq);
    }
  }

  /** Some of a room's events could not be recovered: its members are told. */
  roomGap(roomKey: string): void {
    const room = this.#rooms.get(roomKey);
    if (room === undefined) return;
    const notice = this.notice("some messages were lost (server link interrupted)");
    for (const session of room.members) this.send(session, notice);
  }

  /** The room's numbering restarted: every member's cursor starts over. */
  roomReset(roomKey: string): void {
    for (const session of this.#rooms.get(roomKey)?.members ?? []) session.cursor = 0;
  }

  /**
   * A direct event for `session` (undefined: not on this node); a private
   * message for a member gone meanwhile answers its sender `no such nick`.
   */
  direct(session: ChatSession | undefined, envelope: DirectEnvelope): void {
    if (session !== undefined && !session.ended && !session.dropping) {
      const { event, ts } = envelope;
      return this.send(session, new Outgoing(event, renderText(event), ts));
    }
    if (envelope.event.type === "private" && envelope.from !== null) {
      const text = `no such nick: ${envelope.event.to}`;
      this.#context.background(this.#context.directory.send(envelope.from, {
        event: { type: "error", code: "no_such_nick", text },
        ts: this.#context.now(),
        from: null,
      }));
    }
  }

  /** The member's nick was taken while the link was down: it is now `guest`, and told so. */
  nickLost(session: ChatSession, guest: string): void {
    const old = session.nick;
    session.nick = guest;
    this.send(
      session,
      this.notice(
        `your nick ${old} was taken while ${LINK_DOWN_TEXT}; you are now known as ${guest}`,
      ),
    );
    this.announceRename(session, old, guest);
  }

  /** Members of a dead node left their rooms: their leaves are announced, as the rule allows. */
  membersLost(lost: readonly LostMember[]): void {
    const context = this.#context;
    for (const { roomKey, room, nick, left } of lost) {
      if (left === 0 || !announces(context.settings.announceLimit, left)) continue;
      context.background(context.directory.publish(roomKey, {
        event: { type: "leave", room, nick, reason: "connection lost" },
        ts: context.now(),
        origin: null,
        echo: false,
      }));
    }
  }

  // ---- delivery ----

  /**
   * Sends `event` (number `seq` in its room's order, or none) to `session`:
   * held while its room's history is on the way, else delivered.
   */
  send(session: ChatSession, event: Outgoing, seq = Infinity): void {
    if (session.ended || session.dropping) return;
    if (session.held !== null) {
      if (session.held.length < MAX_HELD_EVENTS) return void session.held.push({ event, seq });
      this.#replay(session, "", []); // the history is too late: stop holding
    }
    this.#deliverNow(session, event);
  }

  /** Sends the history, then releases what was held (after the entry point). */
  #replay(session: ChatSession, room: string, entries: readonly HistoryEntry[]): void {
    const held = session.held;
    session.held = null;
    if (session.ended) return;
    for (const { kind, from, text, ts } of entries) {
      const event: ChatEvent = { type: "history", room, kind, from, text };
      this.#deliverNow(session, new Outgoing(event, renderText(event), ts));
    }
    for (const { event, seq } of held ?? []) {
      if (seq > session.cursor) this.send(session, event, seq);
    }
  }

  /**
   * Delivers at once, past anything held. A full queue drops the member
   * after this operation, and so does a `deliver` that throws (as an
   * internal error): a broadcast goes on for everyone else.
   */
  #deliverNow(session: ChatSession, event: Outgoing): void {
    if (session.ended || session.dropping) return;
    this.#context.counters.linesOut++;
    let fits: boolean;
    try {
      fits = session.member.deliver(event);
    } catch (error) {
      session.dropping = true;
      return this.#context.failed(session, error);
    }
    if (!fits) {
      session.dropping = true; // nothing more reaches it; dropped after this operation
      this.#context.tooSlow(session);
    }
  }
}
