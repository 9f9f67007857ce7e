/**
 * The chat server core: nicks, rooms, commands, history and the per-client
 * policies (line cap, flood control, slow readers, idle clients).
 *
 * @module
 */

import {
  CHAT_READ_BUFFER_BYTES,
  CHAT_READ_BUFFER_GROWN_BYTES,
  CLOSE_GRACE_MS,
  DEFAULT_ANNOUNCE_LIMIT,
  DEFAULT_BURST,
  DEFAULT_HISTORY,
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_MAX_QUEUE_BYTES,
  DEFAULT_RATE,
  DEFAULT_ROOM,
  DEFAULT_SERVER_NAME,
  SLOW_CLIENT_GRACE_MS,
} from "../support/constants.ts";
import {
  type ChatCommand,
  checkNick,
  checkRoom,
  formatAction,
  formatError,
  formatHistory,
  formatMessage,
  formatNotice,
  formatPrivate,
  HELP_LINES,
  nameKey,
  normalizeRoom,
  parseCommand,
  sanitizeText,
} from "../chat/protocol.ts";
import { Room } from "../chat/room.ts";
import { encodeLine, LineDecoder, type LineSink } from "../framing/line_codec.ts";
import { type Logger, silentLogger } from "../support/log.ts";
import { closeQuietly, connectionProblem } from "../net/conn.ts";
import { Outbound } from "../net/outbound.ts";
import {
  type ParleyServer,
  type TcpClient,
  type TcpHandler,
  TcpServer,
  type TcpServerOptions,
} from "../net/tcp_server.ts";
import { TokenBucket } from "../support/token_bucket.ts";

/** Options of {@linkcode serveChat}. */
export interface ServeChatOptions extends TcpServerOptions {
  /** Name in the welcome line. @default {"parley"} */
  name?: string;
  /** Messages per room replayed to a member who joins (0 = off). @default {20} */
  history?: number;
  /** Longest input line in bytes; longer ones are refused and skipped. @default {4096} */
  maxLineBytes?: number;
  /** Bytes queued for one client before it is dropped as too slow. @default {1048576} */
  maxQueueBytes?: number;
  /** Lines per second one client may send (0 = no limit). @default {10} */
  rate?: number;
  /** Lines one client may send at once above the rate. @default {20} */
  burst?: number;
  /**
   * Rooms with more members than this stay quiet about joins and leaves
   * (0 = always announce). @default {1000}
   */
  announceLimit?: number;
}

/** A running chat server. */
export interface ChatServer extends ParleyServer {
  /** Clients connected now. */
  readonly clientCount: number;
}

const textDecoder = new TextDecoder(); // not fatal: bad bytes become U+FFFD

/** One connected client. */
class Member implements TcpClient, LineSink {
  readonly conn: Deno.TcpConn;
  readonly peer: string;
  readonly outbound: Outbound;
  #decoder: LineDecoder | null = null; // made on first input: idle clients stay small
  #bucket: TokenBucket | null = null;
  activity = 0;
  nick: string;
  room: Room<Member> | null = null;
  /** Why the member is leaving, once it is. */
  closing: string | null = null;
  closeTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #chat: ChatCore;

  constructor(chat: ChatCore, conn: Deno.TcpConn, peer: string, nick: string) {
    this.#chat = chat;
    this.conn = conn;
    this.peer = peer;
    this.nick = nick;
    this.outbound = new Outbound(conn, {
      maxQueueBytes: chat.maxQueueBytes,
      onError: (error) => chat.terminate(this, connectionProblem(error)),
    });
  }

  /** The member's line decoder, made on its first input. */
  get decoder(): LineDecoder {
    return this.#decoder ??= new LineDecoder({ maxLineBytes: this.#chat.maxLineBytes });
  }

  /** The member's flood-control bucket, made on its first line (full). */
  get bucket(): TokenBucket {
    return this.#bucket ??= new TokenBucket(this.#chat.rate, this.#chat.burst, performance.now());
  }

  send(line: Uint8Array): void {
    if (this.closing !== null) return;
    if (!this.outbound.enqueue(line)) this.#chat.dropSlow(this);
  }

  line(bytes: Uint8Array): void {
    this.#chat.onLine(this, sanitizeText(textDecoder.decode(bytes)));
  }

  overlong(): void {
    this.notify(formatError(
      `line too long (over ${this.#chat.maxLineBytes} bytes); it was skipped`,
    ));
  }

  /** The peer finished sending: an unterminated last line still counts. */
  endInput(): void {
    this.#decoder?.end(this);
  }

  notify(text: string): void {
    this.send(encodeLine(text));
  }
}

/** The chat logic behind a {@linkcode TcpServer}. */
class ChatCore implements TcpHandler<Member> {
  readonly name: string;
  readonly historySize: number;
  readonly maxLineBytes: number;
  readonly maxQueueBytes: number;
  readonly rate: number;
  readonly burst: number;
  readonly announceLimit: number;
  readonly log: Logger;
  readonly rooms = new Map<string, Room<Member>>();
  readonly nicks = new Map<string, Member>();
  server!: TcpServer<Member>;
  #guests = 0;
  #stopping = false;

  constructor(options: ServeChatOptions) {
    this.name = sanitizeText(options.name ?? DEFAULT_SERVER_NAME);
    this.historySize = options.history ?? DEFAULT_HISTORY;
    this.maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.maxQueueBytes = options.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES;
    this.rate = options.rate ?? DEFAULT_RATE;
    this.burst = options.burst ?? DEFAULT_BURST;
    this.announceLimit = options.announceLimit ?? DEFAULT_ANNOUNCE_LIMIT;
    this.log = options.logger ?? silentLogger;
  }

  open(conn: Deno.TcpConn, peer: string): Member {
    let nick: string;
    do nick = `guest-${++this.#guests}`; while (this.nicks.has(nameKey(nick)));
    const member = new Member(this, conn, peer, nick);
    this.nicks.set(nameKey(nick), member);
    return member;
  }

  describe(member: Member): Record<string, string> {
    return { nick: member.nick };
  }

  async run(member: Member): Promise<string> {
    member.notify( // one buffer for both lines
      formatNotice(`welcome to ${this.name}, ${member.nick}`) + "\n" + formatNotice(
        `${this.server.clientCount} online; you are in ${DEFAULT_ROOM}; type /help for commands`,
      ),
    );
    this.join(member, DEFAULT_ROOM, false);
    let buffer = new Uint8Array(CHAT_READ_BUFFER_BYTES);
    let reason = "connection closed";
    try {
      while (true) {
        const n = await member.conn.read(buffer);
        if (n === null) {
          if (member.closing === null) member.endInput();
          break;
        }
        if (member.closing !== null) continue; // draining before the close
        member.activity++;
        member.decoder.push(buffer.subarray(0, n), member);
        // A client that fills the small buffer is sending in bulk: fewer,
        // larger reads serve it better.
        if (n === buffer.length && buffer.length < CHAT_READ_BUFFER_GROWN_BYTES) {
          buffer = new Uint8Array(CHAT_READ_BUFFER_GROWN_BYTES);
        }
      }
      if (member.closing === null) {
        // The peer half-closed: it may still read what is queued for it.
        this.finish(member, "connection closed", null, CLOSE_GRACE_MS);
        await member.outbound.drained();
      }
    } catch (error) {
      if (member.closing === null) reason = connectionProblem(error);
    } finally {
      clearTimeout(member.closeTimer);
      reason = member.closing ?? reason;
      this.leave(member, reason);
      this.nicks.delete(nameKey(member.nick));
    }
    return reason;
  }

  idle(member: Member, idleSeconds: number): void {
    this.finish(
      member,
      "idle",
      formatError(`idle for ${idleSeconds} s; closing the connection`),
      CLOSE_GRACE_MS,
    );
  }

  shutdown(members: readonly Member[], deadline: number): void {
    this.#stopping = true;
    for (const member of members) {
      this.finish(
        member,
        "server shutting down",
        formatNotice("server shutting down"),
        deadline - performance.now(),
      );
    }
  }

  onLine(member: Member, text: string): void {
    if (member.closing !== null) return; // lines after /quit in the same read
    if (text.trim() === "") return; // an empty line says nothing
    if (this.rate > 0 && !member.bucket.take(performance.now())) { // no clock read when off
      member.notify(formatError(
        `rate limit: at most ${this.rate} lines/s (burst ${this.burst}); this line was not sent`,
      ));
      return;
    }
    this.execute(member, parseCommand(text));
  }

  execute(member: Member, command: ChatCommand): void {
    switch (command.kind) {
      case "say":
        return this.say(member, formatMessage(member.nick, command.text));
      case "me":
        return this.say(member, formatAction(member.nick, command.text));
      case "msg":
        return this.privateMessage(member, command.nick, command.text);
      case "nick":
        return this.rename(member, command.nick);
      case "join":
        return this.move(member, command.room);
      case "who": {
        const nicks = member.room!.nicks();
        return member.notify(formatNotice(
          `${nicks.length} in ${member.room!.name}: ${nicks.join(", ")}`,
        ));
      }
      case "rooms": {
        const rooms = [...this.rooms.values()]
          .filter((room) => room.members.size > 0)
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((room) => `${room.name} (${room.members.size})`);
        return member.notify(formatNotice(
          `${rooms.length} ${rooms.length === 1 ? "room" : "rooms"}: ${rooms.join(", ")}`,
        ));
      }
      case "help":
        for (const line of HELP_LINES) member.notify(formatNotice(line));
        return;
      case "quit":
        member.notify(formatNotice("bye"));
        return this.finish(
          member,
          command.reason === "" ? "quit" : `quit: ${command.reason}`,
          null,
          CLOSE_GRACE_MS,
        );
      case "usage":
        return member.notify(formatError(`usage: ${command.usage}`));
      case "unknown":
        return member.notify(formatError(
          `unknown command /${command.name}; type /help for the list`,
        ));
    }
  }

  say(member: Member, line: string): void {
    const room = member.room!;
    room.remember(line);
    room.broadcast(encodeLine(line), member);
  }

  privateMessage(member: Member, nick: string, text: string): void {
    const target = this.nicks.get(nameKey(nick));
    if (target === undefined || target.closing !== null) {
      return member.notify(formatError(`no such nick: ${nick}`));
    }
    target.notify(formatPrivate(member.nick, text));
  }

  rename(member: Member, requested: string): void {
    const nick = requested.normalize("NFC");
    const problem = checkNick(nick);
    if (problem !== undefined) {
      return member.notify(formatError(`cannot use nick ${nick}: ${problem}`));
    }
    const key = nameKey(nick);
    const holder = this.nicks.get(key);
    if (holder !== undefined && holder !== member) {
      return member.notify(formatError(`nick ${nick} is taken`));
    }
    const old = member.nick;
    if (old === nick) return member.notify(formatNotice(`you are already ${nick}`));
    this.nicks.delete(nameKey(old));
    this.nicks.set(key, member);
    member.nick = nick;
    member.notify(formatNotice(`you are now known as ${nick}`));
    member.room!.broadcast(encodeLine(formatNotice(`${old} is now known as ${nick}`)), member);
    this.log({ event: "nick", peer: member.peer, nick: old, to: nick });
  }

  move(member: Member, requested: string): void {
    const problem = checkRoom(requested);
    if (problem !== undefined) {
      return member.notify(formatError(`cannot join ${requested}: ${problem}`));
    }
    const name = normalizeRoom(requested);
    if (nameKey(name) === nameKey(member.room!.name)) {
      return member.notify(formatError(`you are already in ${member.room!.name}`));
    }
    const target = this.rooms.get(nameKey(name))?.name ?? name;
    this.leave(member, `moved to ${target}`);
    this.join(member, name, true);
  }

  join(member: Member, name: string, tellMembers: boolean): void {
    const key = nameKey(name);
    let room = this.rooms.get(key);
    if (room === undefined) {
      room = new Room<Member>(name, this.historySize);
      this.rooms.set(key, room);
    }
    if (this.#announces(room)) {
      room.broadcast(encodeLine(formatNotice(`${member.nick} joined ${room.name}`)));
    }
    room.members.add(member);
    member.room = room;
    if (tellMembers) {
      const nicks = room.nicks();
      member.notify(formatNotice(
        `you joined ${room.name}; ${nicks.length} here: ${nicks.join(", ")}`,
      ));
    }
    for (const line of room.history()) member.notify(formatHistory(line));
  }

  leave(member: Member, reason: string): void {
    const room = member.room;
    if (room === null) return;
    member.room = null;
    room.members.delete(member);
    if (!this.#stopping && this.#announces(room)) {
      room.broadcast(encodeLine(formatNotice(`${member.nick} left (${reason})`)));
    }
    if (room.members.size === 0 && room.name !== DEFAULT_ROOM) {
      this.rooms.delete(nameKey(room.name));
    }
  }

  /** Whether joins and leaves in `room` are announced (it is small enough). */
  #announces(room: Room<Member>): boolean {
    return this.announceLimit === 0 || room.members.size < this.announceLimit;
  }

  /** The member's queue overflowed: drop it, with a best-effort last word. */
  dropSlow(member: Member): void {
    if (member.closing !== null) return;
    member.outbound.replaceQueued(encodeLine(formatError(
      `disconnected: more than ${this.maxQueueBytes} bytes waiting for you (reading too slowly)`,
    )));
    this.finish(member, "too slow", null, SLOW_CLIENT_GRACE_MS);
  }

  /**
   * Starts closing a member: it leaves its room at once (announced with
   * `reason`), takes what is queued (plus `last`) for at most `graceMs`,
   * then its sending side is shut and the connection closed.
   */
  finish(member: Member, reason: string, last: string | null, graceMs: number): void {
    if (member.closing !== null) return;
    if (last !== null) member.notify(last);
    member.closing = reason;
    this.leave(member, reason);
    member.closeTimer = setTimeout(() => closeQuietly(member.conn), Math.max(0, graceMs));
    member.outbound.drained().then(async () => {
      try {
        await member.conn.closeWrite();
      } catch {
        closeQuietly(member.conn);
      }
    });
  }

  /** Closes a member at once (its connection failed). */
  terminate(member: Member, reason: string): void {
    if (member.closing === null) {
      member.closing = reason;
      this.leave(member, reason);
    }
    closeQuietly(member.conn);
  }
}

/**
 * Starts a chat server. Read the bound address from `addr`; stop it with
 * `shutdown()` or `await using`.
 *
 * @example
 * ```ts ignore
 * await using server = serveChat({ hostname: "127.0.0.1", port: 0 });
 * console.log(`listening on ${server.addr.hostname}:${server.addr.port}`);
 * ```
 */
export function serveChat(options: ServeChatOptions = {}): ChatServer {
  const core = new ChatCore(options);
  const server = new TcpServer(options, core);
  core.server = server;
  return server;
}
