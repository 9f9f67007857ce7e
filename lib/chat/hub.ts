/**
 * The chat hub: the members of this node, from connect to their one way
 * out. Pure: it knows nothing of sockets. A transport (TCP lines,
 * WebSocket) hands it a {@linkcode ChatMember} and then text, one line at a
 * time:
 *
 * ```
 * const session = hub.connect(member);   // welcome, lobby, history
 * hub.input(session, "hello");           // every line, decoded
 * hub.disconnect(session, "connection closed");
 * ```
 *
 * The hub keeps each member's lines in order (a command the directory
 * answers later holds the member's next lines until it is answered), runs
 * them through flood control (`flood.ts`) and as commands (`commands.ts`),
 * and hands what the directory delivers to this node's rooms
 * (`local_rooms.ts`). What lies beyond this node's members (nicks, who is
 * where, history, the order of each room's events) is the
 * {@linkcode ChatDirectory}'s: in memory by default, or shared by several
 * processes through Redis.
 *
 * Fault boundary (`operations.ts`): an exception while the hub handles one
 * member's line or event ends only that member (`internal error`, the
 * stack in the log, nothing of it to the room); a broadcast goes on for
 * everyone else when one member's `deliver` throws. No call of the hub
 * throws.
 *
 * Each member leaves through one path, once (`#end`): it leaves its room
 * (announced with the reason), its nick is freed, the disconnect is logged,
 * and, when the hub is the one ending it, its transport is told how to
 * close. A member whose queue overflows during a broadcast is dropped
 * after that broadcast, never from inside it.
 *
 * @module
 */

import { CLOSE_GRACE_MS, DEFAULT_ROOM } from "../support/constants.ts";
import { type Logger, safeLogger, silentLogger } from "../support/log.ts";
import { IdleWatch } from "../support/idle_watch.ts";
import { type CommandContext, runCommand } from "./commands.ts";
import { type HubCounters, hubCounters } from "./counters.ts";
import {
  type ChatDirectory,
  type DirectEnvelope,
  type DirectoryListener,
  LOBBY_KEY,
  LocalDirectory,
  localRef,
  type LostMember,
  type MaybePromise,
  type MemberRef,
  type RoomEnvelope,
} from "./directory.ts";
import { FloodControl } from "./flood.ts";
import { LocalRooms } from "./local_rooms.ts";
import { type ChatMember, ChatSession, type MemberClose } from "./member.ts";
import { Moderation } from "./moderation.ts";
import { removeBanned, runRemote, showTopic } from "./moderation_commands.ts";
import { checkNick, isGuestKey, nameKey } from "./names.ts";
import { Operations } from "./operations.ts";
import { parseCommand, sanitizeText } from "./protocol.ts";
import { type ChatHubOptions, type ChatHubSettings, chatHubSettings } from "./settings.ts";

// The transports' import path for these (kept so that they need no change).
export type { ChatMember, CloseKind, MemberClose } from "./member.ts";
export { ChatSession } from "./member.ts";
export type { ChatHubOptions, ChatHubSettings } from "./settings.ts";

/** Milliseconds a member dropped as too slow gets to take its last line. */
const SLOW_CLIENT_GRACE_MS = 250;
/** Lines a member may send while one of its commands awaits another node's answer. */
const MAX_QUEUED_LINES = 64;

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
  /** The directory the hub made itself (none given), whose history it can measure. */
  readonly #ownDirectory: LocalDirectory | null = null;
  /** Lines in and out, and lines refused, since the start (for the metrics). */
  readonly counters: HubCounters = hubCounters();
  /** Operators, bans, mutes, topics and registered nicks. */
  readonly moderation: Moderation;
  readonly #log: Logger;
  readonly #clock: () => number;
  /** This node's members. */
  readonly #byRef = new Map<MemberRef, ChatSession>();
  readonly #rooms: LocalRooms;
  readonly #flood: FloodControl;
  readonly #commands: CommandContext;
  /** Members watched for idleness (off with `idleTimeout` 0). */
  readonly #idle: IdleWatch<ChatSession>;
  /** Each call as one operation, and the fault boundary around it. */
  readonly #ops: Operations;
  #ids = 0;
  #stopping = false;

  constructor(
    options: ChatHubOptions & { directory?: ChatDirectory; moderation?: Moderation } = {},
  ) {
    this.settings = chatHubSettings(options);
    this.moderation = options.moderation ?? new Moderation();
    this.#log = safeLogger(options.logger ?? silentLogger);
    this.#clock = options.clock ?? Date.now;
    if (options.directory === undefined) {
      this.#ownDirectory = new LocalDirectory({
        lines: this.settings.history,
        roomBytes: this.settings.roomHistoryBytes,
        totalBytes: this.settings.historyBytes,
      });
    }
    this.directory = options.directory ?? this.#ownDirectory!;
    const ops = this.#ops = new Operations({
      log: this.#log,
      endSlow: (session) => this.#endSlow(session),
      endFailed: (session, canTell) => this.#endFailed(session, canTell),
    });
    const after = ops.after.bind(ops);
    const background = ops.background.bind(ops);
    const now = this.#clock;
    this.#rooms = new LocalRooms({
      settings: this.settings,
      directory: this.directory,
      now,
      stopping: () => this.#stopping,
      after,
      background,
      tooSlow: (session) => ops.tooSlow(session),
      failed: (session, error) => ops.failed(session, error),
      counters: this.counters,
    });
    this.#flood = new FloodControl(
      this.settings,
      (session, text) => this.#rooms.error(session, "rate_limit", text),
      this.counters,
    );
    this.#commands = {
      settings: this.settings,
      directory: this.directory,
      rooms: this.#rooms,
      flood: this.#flood,
      log: this.#log,
      now,
      local: (ref) => this.#byRef.get(ref),
      moderation: this.moderation,
      members: () => [...this.#byRef.values()],
      after,
      background,
      end: (session, reason, close) => this.#end(session, reason, close),
    };
    // A ban made on another node removes the members it covers here too.
    // So does a kick, mute or ban asked for on another node for a member of this one.
    this.moderation.onRemote = (change) =>
      ops.guarded(null, () => {
        if (change.kind === "ban") removeBanned(this.#commands, change.ban, this.#clock());
        if (change.kind === "remote") runRemote(this.#commands, change.ref, change.action);
      });
    this.#idle = new IdleWatch(this.settings.idleTimeout * 1000);
    this.directory.attach(this);
  }

  /** Bytes queued to this node's members and not yet written, every member together. */
  queuedBytes(): number {
    let bytes = 0;
    for (const session of this.#byRef.values()) bytes += session.member.queuedBytes ?? 0;
    return bytes;
  }

  /** Members connected to this node now, of every transport. */
  get memberCount(): number {
    return this.#byRef.size;
  }

  /**
   * Bytes of room history kept by this process (see `history.ts` for the
   * accounting); 0 when it lives in a directory given to the hub.
   */
  get historyBytes(): number {
    return this.directory instanceof LocalDirectory ? this.directory.historyBytes : 0;
  }

  /**
   * A member arrives: it gets a guest nick, the welcome, the lobby and its
   * history. Returns the session to pass to every later call (already
   * ended if the hub could not take the member).
   */
  connect(member: ChatMember, wantedNick?: string): ChatSession {
    const session = new ChatSession(localRef(this.directory.nodeId, ++this.#ids), member, "");
    this.#ops.guarded(session, () => {
      let nick = session.nick = this.directory.guest(session.ref);
      // A nick asked for before joining (a client's first line is `/nick NAME`) is taken
      // at once when it is free here and now: the room sees NAME join, not a guest renamed.
      if (wantedNick !== undefined) {
        nick = session.nick = this.#nickBeforeJoining(session.ref, nick, wantedNick);
      }
      this.#byRef.set(session.ref, session);
      this.#flood.joined(session);
      this.#idle.add(session, this.#clock());
      this.#log({ event: "connect", peer: member.peer, nick, transport: member.transport });
      if (this.#stopping) {
        return this.#end(session, "server shutting down", {
          kind: "shutdown",
          reason: "server shutting down",
          last: this.#rooms.notice("server shutting down"),
          graceMs: CLOSE_GRACE_MS,
        });
      }
      const online = this.directory.online() + 1;
      const server = this.settings.name;
      this.#rooms.send(
        session,
        this.#rooms.event({
          type: "welcome",
          server,
          nick,
          online,
          room: DEFAULT_ROOM,
          limits: {
            maxLineBytes: this.settings.maxLineBytes,
            rate: this.settings.rate,
            burst: this.settings.burst,
          },
        }),
      );
      const entered = this.#rooms.enter(session, DEFAULT_ROOM, LOBBY_KEY, false);
      this.#whenDone(session, this.#ops.after(entered, () => showTopic(this.#commands, session)));
    });
    return session;
  }

  /**
   * One line from a member, decoded (invalid bytes already replaced). Every
   * line, empty or not, costs flood-control budget; then it is sanitised
   * and run as a command or said to the room.
   */
  input(session: ChatSession, line: string): void {
    if (session.ended) return; // lines after /quit in the same read
    this.counters.linesIn++;
    this.#ops.guarded(session, () => {
      if (!this.#flood.admitLine(session, this.#clock)) return;
      const text = sanitizeText(line);
      if (text.trim() === "") return; // an empty line says nothing (but it cost budget)
      session.activity++;
      if (session.busy) {
        if (session.queue.length >= MAX_QUEUED_LINES) {
          return this.#rooms.error(
            session,
            "too_much",
            `too many lines while the server waits for an answer; this line was not sent`,
          );
        }
        session.queue.push(text);
        return;
      }
      this.#whenDone(session, runCommand(this.#commands, session, parseCommand(text)));
    });
  }

  /** A member's line went over the byte cap and was skipped by its transport. */
  lineTooLong(session: ChatSession): void {
    if (session.ended) return;
    this.counters.longLineDrops++;
    this.#ops.guarded(session, () =>
      this.#rooms.error(
        session,
        "too_long",
        `line too long (over ${this.settings.maxLineBytes} bytes); it was skipped`,
      ));
  }

  /** The member's connection ended (closed, reset, failed): it leaves. */
  disconnect(session: ChatSession, reason: string): void {
    this.#ops.guarded(session, () => this.#end(session, reason, null));
  }

  /**
   * The hub's clock tick (the server calls it about once a second; `now`
   * in ms): closes members that have sent no non-empty line for
   * `idleTimeout` seconds, and tells members how many of their lines a run
   * of refusals cost once it is a second old.
   */
  tick(now: number): void {
    this.#ops.guarded(null, () => {
      this.#flood.tick(now);
      for (const session of this.#idle.sweep(now)) {
        this.#end(session, "idle", {
          kind: "idle",
          reason: "idle",
          last: this.#rooms.errorEvent(
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
    this.#ops.guarded(null, () => {
      const last = this.#rooms.notice("server shutting down");
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
    this.#ops.guarded(null, () => this.#rooms.roomEvent(roomKey, envelope));
  }

  /** @internal Some of a room's events could not be recovered. */
  roomGap(roomKey: string): void {
    this.#ops.guarded(null, () => this.#rooms.roomGap(roomKey));
  }

  /** @internal The room's numbering restarted: every member's cursor starts over. */
  roomReset(roomKey: string): void {
    this.#rooms.roomReset(roomKey);
  }

  /** @internal A direct event for one member of this node. */
  direct(ref: MemberRef, envelope: DirectEnvelope): void {
    const session = this.#byRef.get(ref);
    this.#ops.guarded(session ?? null, () => this.#rooms.direct(session, envelope));
  }

  /** @internal A member's nick was taken while the link was down. */
  nickLost(ref: MemberRef, guest: string): void {
    const session = this.#byRef.get(ref);
    this.#ops.guarded(session ?? null, () => {
      if (session !== undefined && !session.ended) this.#rooms.nickLost(session, guest);
    });
  }

  /** `wanted` in place of the guest nick when valid and taken at once; else the guest's. */
  #nickBeforeJoining(ref: MemberRef, guest: string, wanted: string): string {
    const nick = wanted.normalize("NFC");
    const key = nameKey(nick);
    if (checkNick(nick) !== undefined || isGuestKey(key)) return guest;
    // A registered nick needs its password: the ordinary /nick after joining asks for it.
    if (this.moderation.registration(key) !== undefined) return guest;
    // Only where the answer is known now (this node's own directory); a shared one
    // answers later, and the ordinary rename after joining does it then.
    if (this.directory.answersAtOnce !== true) return guest;
    return this.directory.rename(ref, nameKey(guest), key, nick) === true ? nick : guest;
  }

  /** @internal Members of a dead node left their rooms: their leaves are announced. */
  membersLost(lost: readonly LostMember[]): void {
    this.#ops.guarded(null, () => this.#rooms.membersLost(lost));
  }

  // ---- each member's order, and its way out ----

  /** Marks the member busy until `work` is done, then runs the lines it sent meanwhile. */
  #whenDone(session: ChatSession, work: MaybePromise<void>): void {
    if (!(work instanceof Promise)) return;
    session.busy = true;
    work.catch((error) => this.#ops.fail(session, error, true)).finally(() =>
      this.#ops.guarded(session, () => {
        session.busy = false;
        while (!session.busy && !session.ended && session.queue.length > 0) {
          const command = parseCommand(session.queue.shift()!);
          this.#whenDone(session, runCommand(this.#commands, session, command));
        }
      })
    );
  }

  /** The one way out: leave the room, free the nick, log, close the transport. */
  #end(session: ChatSession, reason: string, close: MemberClose | null): void {
    if (session.ended) return;
    session.ended = true;
    session.queue.length = 0;
    this.#byRef.delete(session.ref);
    this.#idle.delete(session);
    this.#flood.left(session, this.#clock());
    // What may throw (the directory, the member) comes after this node's
    // own records are put right, each on its own: one failing step skips
    // none of the others.
    this.#attempt(session, () => this.#rooms.leave(session, reason));
    this.#attempt(session, () => this.directory.leave(session.ref, nameKey(session.nick)));
    const { peer, transport } = session.member;
    this.#log({ event: "disconnect", peer, nick: session.nick, reason, transport });
    if (close !== null) {
      if (close.last !== null && close.kind !== "slow") {
        const last = close.last;
        this.#attempt(session, () => session.member.deliver(last)); // it is leaving anyway
        close = { ...close, last: null };
      }
      const closing = close;
      this.#attempt(session, () => session.member.close(closing));
    }
  }

  /** Drops a member found too slow: its last word replaces what it could not take. */
  #endSlow(session: ChatSession): void {
    this.#end(session, "too slow", {
      kind: "slow",
      reason: "too slow",
      last: this.#rooms.errorEvent(
        "too_slow",
        `disconnected: more than ${this.settings.maxQueueBytes} bytes waiting for you (reading too slowly)`,
      ),
      graceMs: SLOW_CLIENT_GRACE_MS,
    });
  }

  /** Ends a member whose operation failed (told why when its `deliver` still works). */
  #endFailed(session: ChatSession, canTell: boolean): void {
    this.#end(session, "internal error", {
      kind: "quit",
      reason: "internal error",
      last: canTell
        ? this.#rooms.errorEvent("internal_error", "internal error; closing the connection")
        : null,
      graceMs: CLOSE_GRACE_MS,
    });
  }

  /** Runs one step of ending `session`; an exception is logged, and the ending goes on. */
  #attempt(session: ChatSession, step: () => unknown): void {
    try {
      step();
    } catch (error) {
      this.#ops.logError(session, "internal error while ending", error);
    }
  }
}
