/**
 * The chat hub: rooms, nicks and guest numbering, commands, history, the
 * announce policy, flood control and the slow-member and idle policies.
 * Pure: it knows nothing of sockets. A transport (TCP lines, WebSocket)
 * hands it a {@linkcode ChatMember} and then text, one line at a time:
 *
 * ```
 * const session = hub.connect(member);   // welcome, lobby, history
 * hub.input(session, "hello");           // every line, decoded
 * hub.disconnect(session, "connection closed");
 * ```
 *
 * Each member leaves through one path, once ({@linkcode ChatHub} `#end`):
 * it leaves its room (announced with the reason), its nick is freed, the
 * disconnect is logged, and, when the hub is the one ending it, its
 * transport is told how to close. A member whose queue overflows during a
 * broadcast is dropped after that broadcast, never from inside it, so one
 * slow member cannot re-enter the loop that found it slow.
 *
 * @module
 */

import { CLOSE_GRACE_MS, DEFAULT_ROOM, SLOW_CLIENT_GRACE_MS } from "../support/constants.ts";
import { type Logger, safeLogger, silentLogger } from "../support/log.ts";
import { TokenBucket } from "../support/token_bucket.ts";
import { type ChatEvent, type ErrorCode, Outgoing } from "./events.ts";
import { HistoryStore } from "./history.ts";
import { checkNick, checkRoom, nameKey, normalizeRoom } from "./names.ts";
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
  sanitizeText,
} from "./protocol.ts";
import { Room } from "./room.ts";
import { type ChatMember, ChatSession, type MemberClose } from "./member.ts";
import { type ChatHubOptions, type ChatHubSettings, chatHubSettings } from "./settings.ts";

export type { ChatMember, CloseKind, MemberClose } from "./member.ts";
export { ChatSession } from "./member.ts";
export type { ChatHubOptions, ChatHubSettings } from "./settings.ts";

/** Sender addresses whose private-message budget a member keeps at most. */
export const MAX_INBOX_SENDERS = 64;

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
export class ChatHub {
  readonly settings: ChatHubSettings;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #sessions = new Set<ChatSession>();
  readonly #nicks = new Map<string, ChatSession>();
  readonly #rooms = new Map<string, Room<ChatSession>>();
  readonly #history: HistoryStore;
  /** Per IP address: members connected from it, and its line budget. */
  readonly #addresses = new Map<string, { members: number; bucket: TokenBucket | null }>();
  /** Members found too slow during the current operation, dropped after it. */
  readonly #slow: ChatSession[] = [];
  #depth = 0;
  #ids = 0;
  #guests = 0;
  #stopping = false;

  constructor(options: ChatHubOptions = {}) {
    this.settings = chatHubSettings(options);
    this.#log = safeLogger(options.logger ?? silentLogger);
    this.#clock = options.clock ?? Date.now;
    this.#history = new HistoryStore({
      lines: this.settings.history,
      roomBytes: this.settings.roomHistoryBytes,
      totalBytes: this.settings.historyBytes,
    });
  }

  /** Members connected now, of every transport. */
  get memberCount(): number {
    return this.#sessions.size;
  }

  /** Bytes of room history kept now (see `history.ts` for the accounting). */
  get historyBytes(): number {
    return this.#history.bytes;
  }

  /** True once {@linkcode ChatHub.shutdown} has been called. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /**
   * A member arrives: it gets a guest nick, the welcome, the lobby and its
   * history. Returns the session to pass to every later call.
   */
  connect(member: ChatMember): ChatSession {
    return this.#operation(() => {
      let nick: string;
      do nick = `guest-${++this.#guests}`; while (this.#nicks.has(nameKey(nick)));
      const session = new ChatSession(++this.#ids, member, nick, this.#clock());
      this.#sessions.add(session);
      this.#nicks.set(nameKey(nick), session);
      const address = this.#addresses.get(member.address);
      if (address === undefined) this.#addresses.set(member.address, { members: 1, bucket: null });
      else address.members++;
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
      const welcome = [
        formatNotice(`welcome to ${this.settings.name}, ${nick}`),
        formatNotice(
          `${this.#sessions.size} online; you are in ${DEFAULT_ROOM}; type /help for commands`,
        ),
      ].join("\n");
      this.#send(
        session,
        this.#event({
          type: "welcome",
          server: this.settings.name,
          nick,
          online: this.#sessions.size,
          room: DEFAULT_ROOM,
        }, welcome),
      );
      this.#join(session, DEFAULT_ROOM, false);
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
      this.#execute(session, parseCommand(text));
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
    const idleMs = this.settings.idleTimeout * 1000;
    this.#operation(() => {
      for (const session of this.#sessions) {
        if (session.refusedRun > 1 && now - session.refusedSince >= 1000) {
          this.#endRefusalRun(session);
        }
        if (idleMs === 0) continue;
        if (session.activity !== session.seenActivity) {
          session.seenActivity = session.activity;
          session.seenAt = now;
        } else if (now - session.seenAt >= idleMs) {
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
      }
    });
  }

  /**
   * Graceful stop: every member gets `* server shutting down` and `graceMs`
   * to take what is queued. Leaves are not announced.
   */
  shutdown(graceMs: number): void {
    this.#stopping = true;
    this.#operation(() => {
      const last = this.#notice("server shutting down");
      for (const session of [...this.#sessions]) {
        this.#end(session, "server shutting down", {
          kind: "shutdown",
          reason: "server shutting down",
          last,
          graceMs,
        });
      }
    });
  }

  // ---- flood control ----

  /**
   * Takes one line's budget from the member and from its address. The
   * first line refused in a run gets an error at once; the rest of the run
   * are counted and reported in one line when it ends (a line accepted
   * again, or a second later), so a flood cannot make the server write an
   * error per line.
   */
  #admitLine(session: ChatSession): boolean {
    const { rate, burst, ipRate, ipBurst } = this.settings;
    if (rate === 0 && ipRate === 0) return true; // no clock read when both are off
    const now = this.#clock();
    if (rate > 0) {
      session.bucket ??= new TokenBucket(rate, burst, now);
      if (!session.bucket.take(now)) {
        return this.#refuseLine(
          session,
          now,
          `rate limit: at most ${rate} lines/s (burst ${burst}); this line was not sent`,
        );
      }
    }
    if (ipRate > 0) {
      const address = this.#addresses.get(session.member.address)!;
      address.bucket ??= new TokenBucket(ipRate, ipBurst, now);
      if (!address.bucket.take(now)) {
        return this.#refuseLine(
          session,
          now,
          `rate limit: at most ${ipRate} lines/s from your address ${session.member.address} ` +
            `(burst ${ipBurst}); this line was not sent`,
        );
      }
    }
    if (session.refusedRun > 0) this.#endRefusalRun(session);
    return true;
  }

  #refuseLine(session: ChatSession, now: number, text: string): false {
    if (session.refusedRun++ === 0) {
      session.refusedSince = now;
      this.#error(session, "rate_limit", text);
    }
    return false;
  }

  #endRefusalRun(session: ChatSession): void {
    const more = session.refusedRun - 1;
    session.refusedRun = 0;
    if (more > 0) {
      this.#error(
        session,
        "rate_limit",
        `rate limit: ${more} more ${more === 1 ? "line was" : "lines were"} not sent`,
      );
    }
  }

  /**
   * Takes the bytes of a private message from the budget of the sender's
   * address towards `target`; false when it is spent.
   */
  #privateBudget(session: ChatSession, target: ChatSession, bytes: number): boolean {
    const rate = this.settings.msgBytesRate;
    if (rate === 0) return true;
    const now = this.#clock();
    const address = session.member.address;
    const inbox = target.inbox ??= new Map();
    let bucket = inbox.get(address);
    if (bucket === undefined) {
      if (inbox.size >= MAX_INBOX_SENDERS) inbox.delete(inbox.keys().next().value!);
      bucket = new TokenBucket(rate, Math.max(1, rate * 4), now);
    } else inbox.delete(address); // re-inserted: most recently used last
    inbox.set(address, bucket);
    return bucket.take(now, bytes);
  }

  // ---- commands ----

  #execute(session: ChatSession, command: ChatCommand): void {
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
          {
            kind: "quit",
            reason: "quit",
            last: null,
            graceMs: CLOSE_GRACE_MS,
          },
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
    const room = session.room!;
    const rendered = kind === "message"
      ? formatMessage(session.nick, text)
      : formatAction(session.nick, text);
    const event = this.#event({ type: kind, room: room.name, from: session.nick, text }, rendered);
    room.history.add(
      { kind, from: session.nick, text, ts: event.ts },
      event.bytes("text")!.length,
    );
    this.#broadcast(room, event, session);
  }

  #privateMessage(session: ChatSession, nick: string, text: string): void {
    const target = this.#nicks.get(nameKey(nick));
    if (target === undefined || target.ended || target.dropping) {
      return this.#error(session, "no_such_nick", `no such nick: ${nick}`);
    }
    const event = this.#event(
      { type: "private", from: session.nick, to: target.nick, text },
      formatPrivate(session.nick, text),
    );
    const bytes = event.bytes(target.member.format)?.length ?? 0;
    if (!this.#privateBudget(session, target, bytes)) {
      return this.#error(
        session,
        "too_much",
        `not delivered: your address may send ${target.nick} at most ` +
          `${this.settings.msgBytesRate} bytes/s of private messages; try again later`,
      );
    }
    this.#send(target, event);
    // A JSON client gets its own copy: the page shows what was delivered.
    if (session.member.format === "json" && target !== session) this.#send(session, event);
  }

  #rename(session: ChatSession, requested: string): void {
    const nick = requested.normalize("NFC");
    // A look-alike of a nick in use is "taken", whatever else is wrong with it.
    const key = nameKey(nick);
    const holder = this.#nicks.get(key);
    if (holder !== undefined && holder !== session) {
      return this.#error(session, "nick_taken", `nick ${nick} is taken`);
    }
    const problem = checkNick(nick);
    if (problem !== undefined) {
      return this.#error(session, "bad_nick", `cannot use nick ${nick}: ${problem}`);
    }
    const old = session.nick;
    if (old === nick) return this.#send(session, this.#notice(`you are already ${nick}`));
    this.#nicks.delete(nameKey(old));
    this.#nicks.set(key, session);
    session.nick = nick;
    const room = session.room!;
    this.#send(
      session,
      this.#event(
        { type: "nick", room: room.name, from: old, to: nick, self: true },
        formatNotice(`you are now known as ${nick}`),
      ),
    );
    this.#broadcast(
      room,
      this.#event(
        { type: "nick", room: room.name, from: old, to: nick, self: false },
        formatNotice(`${old} is now known as ${nick}`),
      ),
      session,
      true,
    );
    this.#log({ event: "nick", peer: session.member.peer, nick: old, to: nick });
  }

  #move(session: ChatSession, requested: string): void {
    const problem = checkRoom(requested);
    if (problem !== undefined) {
      return this.#error(session, "bad_room", `cannot join ${requested}: ${problem}`);
    }
    const name = normalizeRoom(requested);
    const current = session.room!;
    if (nameKey(name) === current.key) {
      return this.#error(session, "already_there", `you are already in ${current.name}`);
    }
    const target = this.#rooms.get(nameKey(name))?.name ?? name;
    this.#leave(session, `moved to ${target}`);
    this.#join(session, name, true);
  }

  #who(session: ChatSession): void {
    const room = session.room!;
    const members = [...room.members].map((member) => member.nick);
    this.#send(
      session,
      this.#event(
        { type: "members", room: room.name, members },
        formatNotice(`${members.length} in ${room.name}: ${members.join(", ")}`),
      ),
    );
  }

  #listRooms(session: ChatSession): void {
    const rooms = [...this.#rooms.values()]
      .filter((room) => room.size > 0)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((room) => ({ name: room.name, count: room.size }));
    const listed = rooms.map((room) => `${room.name} (${room.count})`).join(", ");
    this.#send(
      session,
      this.#event(
        { type: "rooms", rooms },
        formatNotice(`${rooms.length} ${rooms.length === 1 ? "room" : "rooms"}: ${listed}`),
      ),
    );
  }

  // ---- rooms ----

  #join(session: ChatSession, name: string, tellMembers: boolean): void {
    const key = nameKey(name);
    let room = this.#rooms.get(key);
    if (room === undefined) {
      room = new Room<ChatSession>(name, key, this.#history.room());
      this.#rooms.set(key, room);
    }
    if (this.#announces(room)) {
      this.#broadcast(
        room,
        this.#event(
          { type: "join", room: room.name, nick: session.nick },
          formatNotice(`${session.nick} joined ${room.name}`),
        ),
      );
    }
    room.members.add(session);
    session.room = room;
    const members = [...room.members].map((member) => member.nick);
    this.#send(
      session,
      this.#event(
        { type: "members", room: room.name, members },
        tellMembers
          ? formatNotice(`you joined ${room.name}; ${members.length} here: ${members.join(", ")}`)
          : null, // the welcome said where you are; JSON clients want the list
      ),
    );
    for (const entry of room.history.entries()) {
      const rendered = entry.kind === "message"
        ? formatMessage(entry.from, entry.text)
        : formatAction(entry.from, entry.text);
      this.#send(
        session,
        new Outgoing(
          {
            type: "history",
            room: room.name,
            kind: entry.kind,
            from: entry.from,
            text: entry.text,
          },
          formatHistory(rendered),
          entry.ts,
        ),
      );
    }
  }

  #leave(session: ChatSession, reason: string): void {
    const room = session.room;
    if (room === null) return;
    session.room = null;
    room.members.delete(session);
    if (!this.#stopping && this.#announces(room)) {
      this.#broadcast(
        room,
        this.#event(
          { type: "leave", room: room.name, nick: session.nick, reason },
          formatNotice(`${session.nick} left (${reason})`),
        ),
      );
    }
    if (room.size === 0 && room.name !== DEFAULT_ROOM) {
      this.#rooms.delete(room.key);
      room.history.clear();
    }
  }

  /** Whether joins and leaves in `room` are announced (it is small enough). */
  #announces(room: Room<ChatSession>): boolean {
    return this.settings.announceLimit === 0 || room.size < this.settings.announceLimit;
  }

  // ---- delivery and ending ----

  /**
   * Sends `event` to the room's members but `except`; a JSON `except` gets
   * its own copy unless `notToSelf` (it was told otherwise).
   */
  #broadcast(
    room: Room<ChatSession>,
    event: Outgoing,
    except?: ChatSession,
    notToSelf = false,
  ): void {
    for (const member of room.members) {
      if (member !== except || (!notToSelf && member.member.format === "json")) {
        this.#send(member, event);
      }
    }
  }

  #send(session: ChatSession, event: Outgoing): void {
    if (session.ended || session.dropping) return;
    if (!session.member.deliver(event)) {
      session.dropping = true; // nothing more reaches it; dropped after this operation
      this.#slow.push(session);
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

  /** The one way out: leave the room, free the nick, log, close the transport. */
  #end(session: ChatSession, reason: string, close: MemberClose | null): void {
    if (session.ended) return;
    session.ended = true;
    this.#sessions.delete(session);
    this.#leave(session, reason);
    const key = nameKey(session.nick);
    if (this.#nicks.get(key) === session) this.#nicks.delete(key);
    const address = this.#addresses.get(session.member.address);
    if (address !== undefined && --address.members === 0) {
      this.#addresses.delete(session.member.address);
    }
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
