/**
 * The chat hub: commands, rooms as this node sees them, flood control and
 * the slow-member and idle policies. Pure: it knows nothing of sockets.
 * A transport (TCP lines, WebSocket) hands it a {@linkcode ChatMember} and
 * then text, one line at a time:
 *
 * ```
 * const session = hub.connect(member);   // welcome, lobby, history
 * hub.input(session, "hello");           // every line, decoded
 * hub.disconnect(session, "connection closed");
 * ```
 *
 * What lies beyond this node's members (nicks, who is where, history, the
 * order of each room's events) is the {@linkcode ChatDirectory}'s: in
 * memory by default, or shared by several processes through Redis. A
 * command the directory answers later (another node) holds the member's
 * next lines until it is answered, so each member's lines run in order.
 *
 * Each member leaves through one path, once (`#end`): it leaves its room
 * (announced with the reason), its nick is freed, the disconnect is logged,
 * and, when the hub is the one ending it, its transport is told how to
 * close. A member whose queue overflows during a broadcast is dropped
 * after that broadcast, never from inside it.
 *
 * @module
 */

import {
  CLOSE_GRACE_MS,
  DEFAULT_ROOM,
  MAX_HELD_EVENTS,
  MAX_QUEUED_LINES,
  SLOW_CLIENT_GRACE_MS,
} from "../support/constants.ts";
import { type Logger, safeLogger, silentLogger } from "../support/log.ts";
import { IdleWatch } from "../support/idle_watch.ts";
import { FloodControl } from "./flood.ts";
import {
  announces,
  type ChatDirectory,
  type DirectEnvelope,
  type DirectoryListener,
  isGuestKey,
  LOBBY_KEY,
  LocalDirectory,
  localRef,
  type MaybePromise,
  type MemberRef,
  type RoomEnvelope,
} from "./directory.ts";
import { type ChatEvent, type ErrorCode, Outgoing } from "./events.ts";
import type { HistoryEntry } from "./history.ts";
import { type ChatMember, ChatSession, type MemberClose } from "./member.ts";
import { checkNick, checkRoom, nameKey, normalizeRoom } from "./names.ts";
import { formatLimits } from "./limits_notice.ts";
import {
  type ChatCommand,
  formatAction,
  formatError,
  formatHistory,
  formatMessage,
  formatNotice,
  formatPrivate,
  HELP_LINES,
  parseCommand,
  relayedText,
  sanitizeText,
} from "./protocol.ts";
import { Room } from "./room.ts";
import { type ChatHubOptions, type ChatHubSettings, chatHubSettings } from "./settings.ts";

export type { ChatMember, CloseKind, MemberClose } from "./member.ts";
export { ChatSession } from "./member.ts";
export type { ChatHubOptions, ChatHubSettings } from "./settings.ts";

const LINK_DOWN = "the link between servers is down";

/**
 * The chat hub. Make one per server; every transport's members share it.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { ChatHub, type ChatMember } from "./hub.ts";
 * import type { Outgoing } from "./events.ts";
 *
 * const hub = new ChatHub({ name: "demo" });
 * const seen: string[] = [];
 * const member = (): ChatMember => ({
 *   peer: "127.0.0.1:5000",
 *   address: "127.0.0.1",
 *   transport: "test",
 *   format: "text",
 *   deliver: (event: Outgoing) => (event.text !== null && seen.push(event.text), true),
 *   close: () => {},
 * });
 * const alice = hub.connect(member());
 * hub.connect(member());
 * hub.input(alice, "hello");
 * equal(seen.at(-1), "<guest-1> hello");
 * ```
 */
export class ChatHub implements DirectoryListener {
  readonly settings: ChatHubSettings;
  readonly directory: ChatDirectory;
  readonly #log: Logger;
  readonly #clock: () => number;
  /** This node's members. */
  readonly #byRef = new Map<MemberRef, ChatSession>();
  /** Rooms with members on this node. */
  readonly #rooms = new Map<string, Room<ChatSession>>();
  readonly #flood: FloodControl;
  /** Members watched for idleness (off with `idleTimeout` 0). */
  readonly #idle: IdleWatch<ChatSession>;
  /** Members in a run of refused lines, told its count when it ends. */
  readonly #refusing = new Set<ChatSession>();
  /** Members found too slow during the current operation, dropped after it. */
  readonly #slow: ChatSession[] = [];
  #depth = 0;
  #ids = 0;
  #stopping = false;

  constructor(options: ChatHubOptions & { directory?: ChatDirectory } = {}) {
    this.settings = chatHubSettings(options);
    this.#log = safeLogger(options.logger ?? silentLogger);
    this.#clock = options.clock ?? Date.now;
    this.directory = options.directory ?? new LocalDirectory({
      lines: this.settings.history,
      roomBytes: this.settings.roomHistoryBytes,
      totalBytes: this.settings.historyBytes,
    });
    this.directory.attach(this);
    this.#flood = new FloodControl(this.settings);
    this.#idle = new IdleWatch(this.settings.idleTimeout * 1000);
  }

  /** Members connected to this node now, of every transport. */
  get memberCount(): number {
    return this.#byRef.size;
  }

  /** Bytes of room history kept by this node (see `history.ts` for the accounting). */
  get historyBytes(): number {
    return this.directory.historyBytes;
  }

  /** True once {@linkcode ChatHub.shutdown} has been called. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /**
   * A member arrives: it gets a guest nick, the welcome, the lobby and its
   * history. Returns the session to pass to every later call.
   */
  connect(member: ChatMember, wantedNick?: string): ChatSession {
    return this.#operation(() => {
      const ref = localRef(this.directory.nodeId, ++this.#ids);
      let nick = this.directory.guest(ref);
      // A nick asked for before joining (a client's first line is `/nick NAME`) is taken
      // at once when it is free here and now: the room sees NAME join, not a guest renamed.
      if (wantedNick !== undefined) nick = this.#nickBeforeJoining(ref, nick, wantedNick);
      const session = new ChatSession(ref, member, nick);
      this.#byRef.set(ref, session);
      this.#flood.joined(session);
      this.#idle.add(session, this.#clock());
      this.#log({ event: "connect", peer: member.peer, nick, transport: member.transport });
      if (this.#stopping) {
        this.#end(session, "server shutting down", {
          kind: "shutdown",
          reason: "server shutting down",
          last: this.#notice("server shutting down"),
          graceMs: CLOSE_GRACE_MS,
        });
        return session;
      }
      const online = this.directory.online() + 1;
      const welcome = [
        formatNotice(`welcome to ${this.settings.name}, ${nick}`),
        // The limits, so that a client can pace what it sends (issue 17 §4).
        formatNotice(
          `${online} online; you are in ${DEFAULT_ROOM}; type /help for commands; ` +
            formatLimits(this.settings),
        ),
      ].join("\n");
      this.#send(
        session,
        this.#event({
          type: "welcome",
          server: this.settings.name,
          nick,
          online,
          room: DEFAULT_ROOM,
        }, welcome),
      );
      this.#whenDone(session, this.#enterRoom(session, DEFAULT_ROOM, LOBBY_KEY, false));
      return session;
    });
  }

  /**
   * One line from a member, decoded (invalid bytes already replaced). Every
   * line, empty or not, costs flood-control budget; then it is sanitised
   * and run as a command or said to the room.
   */
  input(session: ChatSession, line: string): void {
    if (session.ended) return; // lines after /quit in the same read
    this.#operation(() => {
      if (!this.#admitLine(session)) return;
      const text = sanitizeText(line);
      if (text.trim() === "") return; // an empty line says nothing (but it cost budget)
      session.activity++;
      if (session.busy) {
        if (session.queue.length >= MAX_QUEUED_LINES) {
          return this.#error(
            session,
            "too_much",
            `too many lines while the server waits for an answer; this line was not sent`,
          );
        }
        session.queue.push(text);
        return;
      }
      this.#whenDone(session, this.#execute(session, parseCommand(text)));
    });
  }

  /** A member's line went over the byte cap and was skipped by its transport. */
  lineTooLong(session: ChatSession): void {
    if (session.ended) return;
    this.#operation(() =>
      this.#error(
        session,
        "too_long",
        `line too long (over ${this.settings.maxLineBytes} bytes); it was skipped`,
      )
    );
  }

  /** The member's connection ended (closed, reset, failed): it leaves. */
  disconnect(session: ChatSession, reason: string): void {
    this.#operation(() => this.#end(session, reason, null));
  }

  /**
   * The hub's clock tick (the server calls it about once a second; `now`
   * in ms): closes members that have sent no non-empty line for
   * `idleTimeout` seconds, and tells members how many of their lines a run
   * of refusals cost once it is a second old.
   */
  tick(now: number): void {
    this.#flood.prune(now);
    this.#operation(() => {
      for (const session of this.#refusing) {
        if (now - session.refusedSince >= 1000) this.#endRefusalRun(session);
      }
      for (const session of this.#idle.sweep(now)) {
        this.#end(session, "idle", {
          kind: "idle",
          reason: "idle",
          last: this.#errorEvent(
            "idle",
            `idle for ${this.settings.idleTimeout} s; closing the connection`,
          ),
          graceMs: CLOSE_GRACE_MS,
        });
      }
    });
  }

  /**
   * Graceful stop: every member gets `* server shutting down` and `graceMs`
   * to take what is queued. Leaves are announced to other nodes only.
   */
  shutdown(graceMs: number): void {
    this.#stopping = true;
    this.#operation(() => {
      const last = this.#notice("server shutting down");
      for (const session of [...this.#byRef.values()]) {
        this.#end(session, "server shutting down", {
          kind: "shutdown",
          reason: "server shutting down",
          last,
          graceMs,
        });
      }
    });
  }

  // ---- what the directory delivers ----

  /** @internal A room event for this node's members of `roomKey`, in the room's order. */
  roomEvent(roomKey: string, envelope: RoomEnvelope): void {
    this.#operation(() => {
      const room = this.#rooms.get(roomKey);
      if (room === undefined) return;
      const event = new Outgoing(envelope.event, relayedText(envelope.event), envelope.ts);
      const seq = envelope.seq ?? Infinity;
      for (const session of room.members) {
        if (seq <= session.cursor) continue; // part of the history it was given
        if (
          session.ref === envelope.origin && !(envelope.echo && session.member.format === "json")
        ) continue;
        this.#send(session, event, seq);
      }
    });
  }

  /** @internal Some of a room's events could not be recovered. */
  roomGap(roomKey: string): void {
    this.#operation(() => {
      const room = this.#rooms.get(roomKey);
      if (room === undefined) return;
      const notice = this.#notice("some messages were lost (server link interrupted)");
      for (const session of room.members) this.#send(session, notice);
    });
  }

  /** @internal The room's numbering restarted: every member's cursor starts over. */
  roomReset(roomKey: string): void {
    for (const session of this.#rooms.get(roomKey)?.members ?? []) session.cursor = 0;
  }

  /** @internal A direct event for one member of this node. */
  direct(ref: MemberRef, envelope: DirectEnvelope): void {
    this.#operation(() => {
      const session = this.#byRef.get(ref);
      if (session !== undefined && !session.ended && !session.dropping) {
        this.#send(
          session,
          new Outgoing(envelope.event, relayedText(envelope.event), envelope.ts),
        );
      } else if (envelope.event.type === "private" && envelope.from !== null) {
        const text = `no such nick: ${envelope.event.to}`;
        this.#background(this.directory.send(envelope.from, {
          event: { type: "error", code: "no_such_nick", text },
          ts: this.#clock(),
          from: null,
        }));
      }
    });
  }

  /** @internal A member's nick was taken while the link was down. */
  nickLost(ref: MemberRef, guest: string): void {
    this.#operation(() => {
      const session = this.#byRef.get(ref);
      if (session === undefined || session.ended) return;
      const old = session.nick;
      session.nick = guest;
      this.#send(
        session,
        this.#notice(
          `your nick ${old} was taken while ${LINK_DOWN}; you are now known as ${guest}`,
        ),
      );
      this.#publishRename(session, old, guest);
    });
  }

  // ---- flood control ----

  /**
   * Takes one line's budget (see `flood.ts`). The first line refused in a
   * run gets an error at once; the rest of the run are counted and reported
   * in one line when it ends (a line accepted again, or a second later), so
   * a flood cannot make the server write an error per line.
   */
  #admitLine(session: ChatSession): boolean {
    if (this.#flood.off) return true; // no clock read when flood control is off
    const now = this.#clock();
    const refusal = this.#flood.admit(session, now);
    if (refusal !== null) {
      if (session.refusedRun++ === 0) {
        session.refusedSince = now;
        this.#refusing.add(session);
        this.#error(session, "rate_limit", refusal);
      }
      return false;
    }
    if (session.refusedRun > 0) this.#endRefusalRun(session);
    return true;
  }

  #endRefusalRun(session: ChatSession): void {
    const more = session.refusedRun - 1;
    session.refusedRun = 0;
    this.#refusing.delete(session);
    if (more > 0) {
      this.#error(
        session,
        "rate_limit",
        `rate limit: ${more} more ${more === 1 ? "line was" : "lines were"} not sent`,
      );
    }
  }

  // ---- commands ----

  #execute(session: ChatSession, command: ChatCommand): MaybePromise<void> {
    switch (command.kind) {
      case "say":
      case "me":
        return this.#say(session, command.kind === "say" ? "message" : "action", command.text);
      case "msg":
        return this.#privateMessage(session, command.nick, command.text);
      case "nick":
        return this.#rename(session, command.nick);
      case "join":
        return this.#move(session, command.room);
      case "who":
        return this.#who(session);
      case "rooms":
        return this.#listRooms(session);
      case "help":
        for (const line of HELP_LINES) this.#send(session, this.#notice(line));
        return;
      case "format":
        session.member.format = command.format;
        return this.#send(
          session,
          this.#event({ type: "format", format: command.format }, formatNotice("format: text")),
        );
      case "quit":
        this.#send(session, this.#notice("bye"));
        return this.#end(
          session,
          command.reason === "" ? "quit" : `quit: ${command.reason}`,
          { kind: "quit", reason: "quit", last: null, graceMs: CLOSE_GRACE_MS },
        );
      case "usage":
        return this.#error(session, "usage", `usage: ${command.usage}`);
      case "unknown":
        return this.#error(
          session,
          "unknown_command",
          `unknown command /${command.name}; type /help for the list`,
        );
    }
  }

  #say(session: ChatSession, kind: "message" | "action", text: string): void {
    const room = session.room;
    if (room === null) {
      return this.#error(session, "not_delivered", "not delivered: you are in no room");
    }
    const published = this.directory.publish(room.key, {
      event: { type: kind, room: room.name, from: session.nick, text },
      ts: this.#clock(),
      origin: session.ref,
      echo: true,
    });
    this.#background(this.#after(published, (delivered) => {
      if (!delivered && !session.ended) {
        this.#error(
          session,
          "not_delivered",
          `not delivered to other servers: ${LINK_DOWN}; only people on this server saw it`,
        );
      }
    }));
  }

  #privateMessage(session: ChatSession, nick: string, text: string): MaybePromise<void> {
    return this.#after(this.directory.find(nameKey(nick)), (ref) => {
      if (ref === undefined) {
        return this.#error(session, "not_delivered", `not delivered: ${LINK_DOWN}`);
      }
      const local = ref === null ? undefined : this.#byRef.get(ref);
      if (ref === null || (local !== undefined && (local.ended || local.dropping))) {
        return this.#error(session, "no_such_nick", `no such nick: ${nick}`);
      }
      const to = local?.nick ?? nick;
      const event = this.#event(
        { type: "private", from: session.nick, to, text },
        formatPrivate(session.nick, text),
      );
      const bytes = event.bytes(local?.member.format ?? "text")?.length ?? 0;
      if (!this.#flood.privateAllowed(session.member.address, ref, bytes, this.#clock())) {
        return this.#error(
          session,
          "too_much",
          `not delivered: your address may send ${to} at most ` +
            `${this.settings.msgBytesRate} bytes/s of private messages; try again later`,
        );
      }
      const copy = () => { // a JSON client sees what was delivered
        if (session.member.format === "json" && local !== session) this.#send(session, event);
      };
      if (local !== undefined) {
        this.#send(local, event);
        return copy();
      }
      return this.#after(
        this.directory.send(ref, { event: event.event, ts: event.ts, from: session.ref }),
        (sent) =>
          sent ? copy() : this.#error(session, "not_delivered", `not delivered: ${LINK_DOWN}`),
      );
    });
  }

  #rename(session: ChatSession, requested: string): MaybePromise<void> {
    const nick = requested.normalize("NFC");
    const old = session.nick;
    if (old === nick) return this.#send(session, this.#notice(`you are already ${nick}`));
    const key = nameKey(nick);
    const problem = checkNick(nick) ??
      (isGuestKey(key) ? "guest nicks are given by the server" : undefined);
    if (problem !== undefined) {
      // A look-alike of a nick in use is "taken", whatever else is wrong with it.
      return this.#after(this.directory.find(key), (holder) => {
        if (holder && holder !== session.ref) {
          return this.#error(session, "nick_taken", this.#takenText(nick, holder));
        }
        this.#error(session, "bad_nick", `cannot use nick ${nick}: ${problem}`);
      });
    }
    return this.#after(this.directory.claim(key, session.ref), (claimed) => {
      if (session.ended) {
        if (claimed) this.directory.release(key, session.ref);
        return;
      }
      if (claimed === null) {
        return this.#error(session, "not_delivered", `cannot change nick now: ${LINK_DOWN}`);
      }
      if (!claimed) {
        // The holder, when it is here, is named: a look-alike's refusal explains itself.
        const holder = this.directory.find(key);
        return this.#error(
          session,
          "nick_taken",
          this.#takenText(nick, holder instanceof Promise ? null : holder ?? null),
        );
      }
      const oldKey = nameKey(old);
      if (oldKey !== key) this.directory.release(oldKey, session.ref);
      session.nick = nick;
      this.directory.renamed(session.ref, nick);
      const room = session.room;
      this.#send(
        session,
        this.#event(
          { type: "nick", room: room?.name ?? "", from: old, to: nick, self: true },
          formatNotice(`you are now known as ${nick}`),
        ),
      );
      this.#publishRename(session, old, nick);
      this.#log({ event: "nick", peer: session.member.peer, nick: old, to: nick });
    });
  }

  /** Tells the other members of the session's room (on every node) of its new nick. */
  #publishRename(session: ChatSession, from: string, to: string): void {
    const room = session.room;
    if (room === null) return;
    this.#background(this.directory.publish(room.key, {
      event: { type: "nick", room: room.name, from, to, self: false },
      ts: this.#clock(),
      origin: session.ref,
      echo: false,
    }));
  }

  #move(session: ChatSession, requested: string): MaybePromise<void> {
    const problem = checkRoom(requested);
    if (problem !== undefined) {
      return this.#error(session, "bad_room", `cannot join ${requested}: ${problem}`);
    }
    const name = normalizeRoom(requested);
    const key = nameKey(name);
    const current = session.room;
    if (current !== null && key === current.key) {
      return this.#error(session, "already_there", `you are already in ${current.name}`);
    }
    const target = this.#rooms.get(key)?.name ?? name;
    this.#leaveRoom(session, `moved to ${target}`);
    return this.#enterRoom(session, name, key, true);
  }

  #who(session: ChatSession): MaybePromise<void> {
    const room = session.room;
    if (room === null) return;
    return this.#after(this.directory.members(room.key), (members) => {
      if (members === null) {
        return this.#error(session, "not_delivered", `cannot list members now: ${LINK_DOWN}`);
      }
      this.#send(
        session,
        this.#event(
          { type: "members", room: room.name, members },
          formatNotice(`${members.length} in ${room.name}: ${members.join(", ")}`),
        ),
      );
    });
  }

  #listRooms(session: ChatSession): MaybePromise<void> {
    return this.#after(this.directory.rooms(), (found) => {
      if (found === null) {
        return this.#error(session, "not_delivered", `cannot list rooms now: ${LINK_DOWN}`);
      }
      const rooms = found.filter((room) => room.count > 0)
        .sort((a, b) => a.name.localeCompare(b.name));
      const listed = rooms.map((room) => `${room.name} (${room.count})`).join(", ");
      this.#send(
        session,
        this.#event(
          { type: "rooms", rooms },
          formatNotice(`${rooms.length} ${rooms.length === 1 ? "room" : "rooms"}: ${listed}`),
        ),
      );
    });
  }

  // ---- rooms ----

  /**
   * Enters a room: announced, then the member list, then its history, then
   * what happened since. The member is in this node's room from the start,
   * and what reaches it before its history is held: events up to its entry
   * point (its `cursor`) are part of that history and are dropped, later
   * ones follow it.
   */
  #enterRoom(
    session: ChatSession,
    requested: string,
    key: string,
    tellMembers: boolean,
  ): MaybePromise<void> {
    let room = this.#rooms.get(key);
    if (room === undefined) {
      room = new Room<ChatSession>(requested, key);
      this.#rooms.set(key, room);
    }
    room.members.add(session);
    session.room = room;
    session.cursor = -1;
    session.held = [];
    const entered = this.directory.enter(session.ref, session.nick, key, requested);
    return this.#after(entered, (entry) => {
      if (session.ended || session.room !== room) return;
      // With the link down, the room is what this node knows of it.
      if (entry !== null) room.name = entry.name;
      const members = entry?.members ?? [...room.members].map((member) => member.nick);
      session.cursor = entry?.cursor ?? 0;
      if (announces(this.settings.announceLimit, members.length - 1)) {
        this.#background(this.directory.publish(key, {
          event: { type: "join", room: room.name, nick: session.nick },
          ts: this.#clock(),
          origin: session.ref,
          echo: false,
        }));
      }
      this.#deliverNow(
        session,
        this.#event(
          { type: "members", room: room.name, members },
          tellMembers
            ? formatNotice(
              `you joined ${room.name}; ${members.length} here: ${members.join(", ")}`,
            )
            : null, // the welcome said where you are; JSON clients want the list
        ),
      );
      const history = entry === null ? [] : this.directory.history(key, entry.cursor);
      return this.#after(history, (entries) => this.#replay(session, room.name, entries));
    });
  }

  /** Sends the history, then releases what was held (after the entry point). */
  #replay(session: ChatSession, room: string, entries: readonly HistoryEntry[]): void {
    const held = session.held;
    session.held = null;
    if (session.ended) return;
    for (const entry of entries) {
      const rendered = entry.kind === "message"
        ? formatMessage(entry.from, entry.text)
        : formatAction(entry.from, entry.text);
      this.#deliverNow(
        session,
        new Outgoing(
          { type: "history", room, kind: entry.kind, from: entry.from, text: entry.text },
          formatHistory(rendered),
          entry.ts,
        ),
      );
    }
    for (const { event, seq } of held ?? []) {
      if (seq > session.cursor) this.#send(session, event, seq);
    }
  }

  /** Leaves the room: this node's view at once, the directory's (and the announcement) after. */
  #leaveRoom(session: ChatSession, reason: string): void {
    const room = session.room;
    if (room === null) return;
    session.room = null;
    session.held = null;
    room.members.delete(session);
    if (room.size === 0 && room.key !== LOBBY_KEY) this.#rooms.delete(room.key);
    const { ref, nick } = session;
    const elsewhere = this.#stopping; // this node's members are all leaving
    this.#background(this.#after(this.directory.exit(ref, room.key), (left) => {
      // Nobody left to tell (and an emptied room's keys stay deleted).
      if (left === 0 || (left !== null && !announces(this.settings.announceLimit, left))) return;
      return this.#after(
        this.directory.publish(room.key, {
          event: { type: "leave", room: room.name, nick, reason },
          ts: this.#clock(),
          origin: ref,
          echo: false,
        }, elsewhere),
        () => {},
      );
    }));
  }

  // ---- delivery and ending ----

  /**
   * Sends `event` (number `seq` in its room's order, or none) to `session`:
   * held while its room's history is on the way, else delivered.
   */
  #send(session: ChatSession, event: Outgoing, seq = Infinity): void {
    if (session.ended || session.dropping) return;
    if (session.held !== null) {
      if (session.held.length < MAX_HELD_EVENTS) return void session.held.push({ event, seq });
      this.#replay(session, "", []); // the history is too late: stop holding
    }
    this.#deliverNow(session, event);
  }

  /** Delivers at once, past anything held; a full queue drops the member after this operation. */
  #deliverNow(session: ChatSession, event: Outgoing): void {
    if (session.ended || session.dropping) return;
    if (!session.member.deliver(event)) {
      session.dropping = true; // nothing more reaches it; dropped after this operation
      this.#slow.push(session);
    }
  }

  /** Runs work nobody waits for; a failure is logged, never unhandled. */
  #background(work: MaybePromise<unknown>): void {
    if (work instanceof Promise) {
      work.catch((error) => this.#log({ event: "error", reason: `hub: ${String(error)}` }));
    }
  }

  /**
   * Runs one hub operation; members found too slow during it are dropped
   * afterwards, in turn (a drop may find more: its leave is broadcast).
   */
  #operation<T>(fn: () => T): T {
    this.#depth++;
    try {
      return fn();
    } finally {
      if (--this.#depth === 0) {
        this.#depth++;
        try {
          for (let session = this.#slow.shift(); session; session = this.#slow.shift()) {
            this.#end(session, "too slow", {
              kind: "slow",
              reason: "too slow",
              last: this.#errorEvent(
                "too_slow",
                `disconnected: more than ${this.settings.maxQueueBytes} bytes waiting for you (reading too slowly)`,
              ),
              graceMs: SLOW_CLIENT_GRACE_MS,
            });
          }
        } finally {
          this.#depth--;
        }
      }
    }
  }

  /**
   * Uses `value` at once when it is one, or once it resolves (as a hub
   * operation of its own).
   */
  #after<T>(value: MaybePromise<T>, next: (value: T) => MaybePromise<void>): MaybePromise<void> {
    if (!(value instanceof Promise)) return next(value);
    return value.then((resolved) => this.#operation(() => next(resolved)));
  }

  /** Marks the member busy until `work` is done, then runs the lines it sent meanwhile. */
  #whenDone(session: ChatSession, work: MaybePromise<void>): void {
    if (!(work instanceof Promise)) return;
    session.busy = true;
    this.#background(
      work.catch((error) => {
        this.#log({ event: "error", peer: session.member.peer, reason: String(error) });
      }).finally(() =>
        this.#operation(() => {
          session.busy = false;
          while (!session.busy && !session.ended && session.queue.length > 0) {
            this.#whenDone(session, this.#execute(session, parseCommand(session.queue.shift()!)));
          }
        })
      ),
    );
  }

  /** The one way out: leave the room, free the nick, log, close the transport. */
  #end(session: ChatSession, reason: string, close: MemberClose | null): void {
    if (session.ended) return;
    session.ended = true;
    session.queue.length = 0;
    this.#leaveRoom(session, reason);
    this.#byRef.delete(session.ref);
    this.#idle.delete(session);
    this.#refusing.delete(session);
    this.directory.leave(session.ref, nameKey(session.nick));
    this.#flood.left(session, this.#clock());
    const { peer, transport } = session.member;
    this.#log({ event: "disconnect", peer, nick: session.nick, reason, transport });
    if (close !== null) {
      if (close.last !== null && close.kind !== "slow") {
        session.member.deliver(close.last); // best effort: it is leaving anyway
        close = { ...close, last: null };
      }
      session.member.close(close);
    }
  }

  #event(event: ChatEvent, text: string | null): Outgoing {
    return new Outgoing(event, text, this.#clock());
  }

  /** `wanted` in place of the guest nick when valid and claimed at once; else the guest's. */
  #nickBeforeJoining(ref: MemberRef, guest: string, wanted: string): string {
    const nick = wanted.normalize("NFC");
    const key = nameKey(nick);
    if (checkNick(nick) !== undefined || isGuestKey(key)) return guest;
    // Only where the answer is known now (this node's own directory); a shared one
    // answers later, and the ordinary rename after joining does it then.
    const holder = this.directory.find(key);
    if (holder instanceof Promise) {
      holder.catch(() => {});
      return guest;
    }
    if (holder !== null) return guest;
    if (this.directory.claim(key, ref) !== true) return guest;
    this.directory.release(nameKey(guest), ref);
    return nick;
  }

  /** "nick X is taken", and why when X only looks like the holder's nick (issue 17 §8). */
  #takenText(nick: string, holder: MemberRef | null): string {
    const held = holder === null ? undefined : this.#byRef.get(holder)?.nick;
    if (held === undefined || held === nick) return `nick ${nick} is taken`;
    return `nick ${nick} is taken: it looks like ${held}, who is online ` +
      `(nicks that differ only in case or in look-alike letters, as l, I and 1 or O and 0, count as one)`;
  }

  #notice(text: string): Outgoing {
    return this.#event({ type: "notice", text }, formatNotice(text));
  }

  #errorEvent(code: ErrorCode, text: string): Outgoing {
    return this.#event({ type: "error", code, text }, formatError(text));
  }

  #error(session: ChatSession, code: ErrorCode, text: string): void {
    this.#send(session, this.#errorEvent(code, text));
  }
}
