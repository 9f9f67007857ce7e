/**
 * Rooms shared by several server processes through Redis: a
 * {@linkcode ChatDirectory} whose nicks, presence, room order and history
 * live in Redis, so that every node serves the same chat.
 *
 * Guarantees (the README has them in full):
 * 1. One order per room, the same on every node: an event is numbered,
 *    stored in the room's stream and published in one Lua step, and each
 *    node delivers in number order, without duplicates (`room_feeds.ts`).
 * 2. No silent gaps: a jump in the numbers, or a subscription that came
 *    back, is filled from the stream; what the stream no longer has (or a
 *    Redis that restarted empty) is one `some messages were lost` notice.
 * 3. Honest failure: with Redis unreachable a publish fails at once, the
 *    sender is told, and this node's members still get it. When Redis is
 *    back, the node puts its state right: its members and nicks are
 *    registered again, and what Redis still holds for members gone
 *    meanwhile is removed.
 * 4. Unique nicks: claimed with one atomic step, freed on leave.
 * 5. A node that dies stops refreshing its key; within 15 s another node
 *    removes its members (its hub announces them gone, `connection lost`)
 *    and frees their nicks (`node_liveness.ts`).
 * 6. History on join comes from the room's stream: the same on every node.
 *
 * @module
 */

import {
  type ChatDirectory,
  type DirectEnvelope,
  type DirectoryListener,
  LINK_DOWN,
  type LinkDown,
  LOBBY_KEY,
  type MemberRef,
  type RoomEntry,
  type RoomEnvelope,
} from "../chat/directory.ts";
import type { ChatEvent, RoomCount } from "../chat/events.ts";
import type { HistoryEntry } from "../chat/history.ts";
import { nameKey } from "../chat/names.ts";
import { CLUSTER_STREAM_LENGTH, DEFAULT_CLUSTER } from "../support/constants.ts";
import { type Logger, safeLogger, silentLogger } from "../support/log.ts";
import { type LocalMember, NodeLiveness } from "./node_liveness.ts";
import { RedisLink } from "./redis_link.ts";
import { encodeEnvelope, parseEnvelope, RoomFeeds } from "./room_feeds.ts";
import {
  CLAIM,
  type ClusterKeys,
  clusterKeys,
  ENTER,
  enterKeys,
  EXIT,
  exitKeys,
  MEMBERS,
  nickKeys,
  PUBLISH,
  RELEASE,
  RENAME,
  ROOMS,
} from "./scripts.ts";

/** Options of {@linkcode RedisDirectory.connect}. */
export interface RedisDirectoryOptions {
  /** `redis://HOST:PORT`. */
  url: string;
  /** Servers with the same Redis and cluster name share their chat. @default {"parley"} */
  cluster?: string;
  /**
   * Ignored: the hub asks for its own history length (`history`) on each
   * join. @deprecated Give `history` to the server instead.
   */
  historyLines?: number;
  /**
   * Ignored: the hub applies its own `announceLimit` to the leaves of dead
   * nodes' members. @deprecated Give `announceLimit` to the server instead.
   */
  announceLimit?: number;
  /** Receives the link's outages and their ends. @default {silent} */
  logger?: Logger;
  /** This node's id. @default {random} */
  nodeId?: string;
  /** Milliseconds to reach Redis at start before giving up. @default {10000} */
  connectTimeout?: number;
}

/** Default of {@linkcode RedisDirectoryOptions.connectTimeout}. */
const CONNECT_TIMEOUT_MS = 10_000;
/** Milliseconds `close()` lets publishes under way finish (a shutdown's leaves). */
const CLOSE_WAIT_MS = 2000;
/** Guest numbers a node takes from Redis at once. */
const GUEST_BLOCK = 256;
/** Stream entries read back to find a room's history lines. */
const HISTORY_SCAN = 200;
/** The stream length, as PUBLISH takes it. */
const STREAM_LENGTH = String(CLUSTER_STREAM_LENGTH);

/** The cluster's directory: see the module documentation. */
export class RedisDirectory implements ChatDirectory {
  readonly nodeId: string;
  readonly #keys: ClusterKeys;
  readonly #link: RedisLink;
  readonly #feeds: RoomFeeds;
  readonly #liveness: NodeLiveness;
  readonly #local = new Map<MemberRef, LocalMember>();
  /** Per member, the last of its Redis steps under way (see `#inOrder`). */
  readonly #steps = new Map<MemberRef, Promise<unknown>>();
  #listener: DirectoryListener | null = null;
  #guests: number[] = [];
  #guestsComing = false;
  #fallbackGuests = 0;
  /** Epochs this node has offered (a room's numbering starts one when it has none). */
  readonly #epochPrefix = `${crypto.randomUUID()}-`;
  #epochs = 0;

  private constructor(options: RedisDirectoryOptions, link: RedisLink, log: Logger) {
    this.nodeId = options.nodeId ?? crypto.randomUUID().slice(0, 8);
    this.#keys = clusterKeys(options.cluster ?? DEFAULT_CLUSTER);
    this.#link = link;
    this.#feeds = new RoomFeeds(link, this.#keys, () => this.#listener);
    this.#liveness = new NodeLiveness({
      nodeId: this.nodeId,
      link,
      keys: this.#keys,
      feeds: this.#feeds,
      log,
      local: this.#local,
      listener: () => this.#listener,
      claim: (key, ref) => this.#claim(key, ref),
      nextGuest: () => this.#nextGuest(),
    });
  }

  /**
   * Connects to Redis, registers this node and takes a block of guest
   * numbers; throws a `ConnectionError` when Redis cannot be reached.
   */
  static async connect(options: RedisDirectoryOptions): Promise<RedisDirectory> {
    const log = safeLogger(options.logger ?? silentLogger);
    const timeout = options.connectTimeout ?? CONNECT_TIMEOUT_MS;
    const link = await RedisLink.open(options.url, log, timeout);
    const directory = new RedisDirectory(options, link, log);
    link.onResubscribed(() => link.background(directory.#feeds.catchUp()));
    await link.subscriber.subscribe(
      directory.#keys.nodeChannel(directory.nodeId),
      (message: string) => directory.#onDirect(message),
    );
    await directory.#liveness.start();
    await directory.#takeGuests();
    return directory;
  }

  attach(listener: DirectoryListener): void {
    this.#listener = listener;
  }

  // ---- nicks ----

  guest(ref: MemberRef): string {
    const nick = this.#nextGuest();
    this.#local.set(ref, { nick, roomKey: null, room: "" });
    this.#link.background(this.#claim(nameKey(nick), ref));
    return nick;
  }

  async rename(
    ref: MemberRef,
    oldKey: string,
    key: string,
    nick: string,
  ): Promise<boolean | LinkDown> {
    const keys = [
      this.#keys.nick(key),
      this.#keys.nick(oldKey),
      this.#keys.nodeNicks(this.nodeId),
      this.#keys.members,
    ];
    const member = this.#local.get(ref);
    const renamed = await this.#inOrder(ref, async () => {
      const done = await this.#link.attempt(() =>
        this.#link.eval(RENAME, keys, [ref, key, oldKey, nick])
      );
      // Recorded before the member's next step (its leave frees this nick).
      if (done === 1 && member !== undefined) member.nick = nick;
      return done;
    });
    if (renamed === LINK_DOWN) return LINK_DOWN;
    return renamed === 1;
  }

  leave(ref: MemberRef, key: string): void {
    const member = this.#local.get(ref);
    this.#local.delete(ref);
    this.#link.background(this.#inOrder(ref, async () => {
      // A rename under way when the member left may have taken a new nick: freed too.
      const keys = new Set([key, member === undefined ? key : nameKey(member.nick)]);
      for (const each of keys) {
        await this.#link.eval(RELEASE, nickKeys(this.#keys, this.nodeId, each), [ref, each]);
      }
    }));
  }

  find(key: string): Promise<MemberRef | null | LinkDown> {
    return this.#link.attempt(() => this.#link.client.get(this.#keys.nick(key)));
  }

  // ---- presence ----

  online(): number {
    return Math.max(this.#liveness.online, this.#feeds.memberCount);
  }

  async enter(
    ref: MemberRef,
    nick: string,
    roomKey: string,
    room: string,
    historyLines: number,
  ): Promise<RoomEntry | LinkDown> {
    const member = this.#local.get(ref) ?? { nick, roomKey: null, room: "" };
    member.roomKey = roomKey;
    member.room = room;
    this.#local.set(ref, member);
    // With the link down, the member is registered again when it is back.
    const reply = await this.#inOrder(ref, () =>
      this.#link.attempt(async () => {
        await this.#feeds.enter(roomKey);
        const scan = historyLines === 0 ? "0" : String(HISTORY_SCAN);
        return await this.#link.eval(ENTER, enterKeys(this.#keys, this.nodeId, roomKey), [
          ref,
          member.nick,
          roomKey,
          room,
          scan,
        ]) as [string, number, string[], string[]];
      }));
    if (reply === LINK_DOWN) return LINK_DOWN;
    const [name, cursor, records, payloads] = reply;
    member.room = name;
    return {
      name,
      members: records.map(nickOf),
      cursor: Number(cursor),
      history: historyOf(payloads, historyLines),
    };
  }

  exit(ref: MemberRef, roomKey: string): Promise<number | LinkDown> {
    const member = this.#local.get(ref);
    if (member !== undefined) member.roomKey = null; // (a move enters the next room at once)
    // After the member's entry, even one still on its way: a leave never overtakes it.
    return this.#inOrder(ref, () => {
      this.#feeds.exit(roomKey);
      // With the link down, what Redis still holds is removed when it is back.
      return this.#link.attempt(async () =>
        Number(
          await this.#link.eval(EXIT, exitKeys(this.#keys, this.nodeId, roomKey), [
            ref,
            roomKey,
            LOBBY_KEY,
          ]),
        )
      );
    });
  }

  members(roomKey: string): Promise<string[] | LinkDown> {
    const keys = [this.#keys.roomMembers(roomKey), this.#keys.members];
    return this.#link.attempt(async () =>
      ((await this.#link.eval(MEMBERS, keys, [])) as string[]).map(nickOf)
    );
  }

  rooms(): Promise<RoomCount[] | LinkDown> {
    return this.#link.attempt(async () => {
      const pairs = await this.#link.eval(ROOMS, [this.#keys.rooms], [
        this.#keys.roomChannel(""),
      ]) as (string | number)[];
      const rooms: RoomCount[] = [];
      for (let i = 0; i < pairs.length; i += 2) {
        rooms.push({ name: String(pairs[i]), count: Number(pairs[i + 1]) });
      }
      return rooms;
    });
  }

  // ---- events ----

  async publish(
    roomKey: string,
    envelope: RoomEnvelope,
    elsewhere = false,
  ): Promise<void | LinkDown> {
    const published = await this.#link.track(this.#link.attempt(() =>
      this.#link.eval(
        PUBLISH,
        [
          this.#keys.seq(roomKey),
          this.#keys.stream(roomKey),
          this.#keys.epoch(roomKey),
          this.#keys.roomMembers(roomKey),
        ],
        [
          this.#keys.roomChannel(roomKey),
          encodeEnvelope(envelope),
          STREAM_LENGTH,
          `${this.#epochPrefix}${++this.#epochs}`,
          roomKey === LOBBY_KEY ? "1" : "0",
        ],
      )
    ));
    if (published !== LINK_DOWN) return;
    // This node's members still hear each other.
    if (!elsewhere) this.#listener?.roomEvent(roomKey, envelope);
    return LINK_DOWN;
  }

  async send(ref: MemberRef, envelope: DirectEnvelope): Promise<void | LinkDown> {
    const node = ref.slice(0, ref.indexOf("/"));
    const payload = JSON.stringify({ r: ref, e: envelope.event, t: envelope.ts, f: envelope.from });
    const receivers = await this.#link.attempt(() =>
      this.#link.client.publish(this.#keys.nodeChannel(node), payload)
    );
    // Nobody listening: its node is gone (the link to it is down).
    if (receivers === LINK_DOWN || receivers === 0) return LINK_DOWN;
  }

  /** Lets publishes under way finish (at most `CLOSE_WAIT_MS`), leaves the cluster, and disconnects. */
  async close(): Promise<void> {
    await this.#liveness.stop();
    await this.#link.close(CLOSE_WAIT_MS);
  }

  // ---- internals ----

  /**
   * Runs `step` after the member's steps under way: a member's claims,
   * entries, renames, exits and leave reach Redis in the order the hub
   * made them, whatever each waits for (an entry waits for its room's
   * subscription). Without it, a member who leaves while its entry is on
   * its way is removed first and added after: a ghost.
   */
  #inOrder<T>(ref: MemberRef, step: () => Promise<T>): Promise<T> {
    const before = this.#steps.get(ref) ?? Promise.resolve();
    const result = before.then(step);
    const settled = result.catch(() => {});
    this.#steps.set(ref, settled);
    settled.then(() => {
      if (this.#steps.get(ref) === settled) this.#steps.delete(ref);
    });
    return result;
  }

  #claim(key: string, ref: MemberRef): Promise<boolean> {
    return this.#link.eval(CLAIM, nickKeys(this.#keys, this.nodeId, key), [ref, key])
      .then((won) => won === 1);
  }

  /** A guest nick from this node's block, or, out of numbers, one with this node's id in it. */
  #nextGuest(): string {
    const number = this.#guests.shift();
    if (this.#guests.length < GUEST_BLOCK / 4) this.#link.background(this.#takeGuests());
    return number !== undefined
      ? `guest-${number}`
      : `guest-${parseInt(this.nodeId.slice(0, 6), 16)}${++this.#fallbackGuests}`;
  }

  async #takeGuests(): Promise<void> {
    if (this.#guestsComing) return;
    this.#guestsComing = true;
    try {
      const end = await this.#link.client.incrBy(this.#keys.guests, GUEST_BLOCK);
      for (let number = end - GUEST_BLOCK + 1; number <= end; number++) this.#guests.push(number);
    } finally {
      this.#guestsComing = false;
    }
  }

  #onDirect(message: string): void {
    try {
      const { r, e, t, f } = JSON.parse(message);
      this.#listener?.direct(r, { event: e as ChatEvent, ts: t, from: f });
    } catch { /* not ours */ }
  }
}

/** The nick in a member record (`{"n": ...}`). */
function nickOf(record: string): string {
  try {
    return JSON.parse(record).n ?? "?";
  } catch {
    return "?";
  }
}

/** The last `lines` messages and actions of stream payloads (newest first), oldest first. */
function historyOf(payloads: string[], lines: number): HistoryEntry[] {
  const history: HistoryEntry[] = [];
  for (const payload of payloads) {
    if (history.length === lines) break;
    const envelope = parseEnvelope(payload);
    const event = envelope?.event;
    if (event?.type !== "message" && event?.type !== "action") continue;
    history.push({
      kind: event.type,
      from: event.from,
      text: event.text,
      ts: envelope!.ts,
      bytes: 0,
    });
  }
  return history.reverse();
}
