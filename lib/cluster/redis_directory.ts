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
 *    announces its members as gone (`connection lost`) and frees their nicks.
 * 6. History on join comes from the room's stream: the same on every node.
 *
 * @module
 */

import {
  announces,
  type ChatDirectory,
  type DirectEnvelope,
  type DirectoryListener,
  LOBBY_KEY,
  type MemberRef,
  type RoomEntry,
  type RoomEnvelope,
} from "../chat/directory.ts";
import type { ChatEvent, RoomCount } from "../chat/events.ts";
import type { HistoryEntry } from "../chat/history.ts";
import { nameKey } from "../chat/names.ts";
import {
  CLUSTER_HEARTBEAT_MS,
  CLUSTER_NODE_TTL_MS,
  CLUSTER_STREAM_LENGTH,
  DEFAULT_CLUSTER,
} from "../support/constants.ts";
import { type Logger, safeLogger, silentLogger } from "../support/log.ts";
import { RedisLink } from "./redis_link.ts";
import { encodeEnvelope, parseEnvelope, RoomFeeds } from "./room_feeds.ts";
import {
  CLAIM,
  type ClusterKeys,
  clusterKeys,
  ENTER,
  EXIT,
  MEMBERS,
  PUBLISH,
  REAP,
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
  /** History lines replayed on join (0 = none). */
  historyLines: number;
  /** Rooms with more members do not announce leaves of dead nodes' members (0 = always). */
  announceLimit: number;
  /** Receives the link's outages and their ends. @default {silent} */
  logger?: Logger;
  /** This node's id. @default {random} */
  nodeId?: string;
  /** Milliseconds to reach Redis at start before giving up. @default {10000} */
  connectTimeout?: number;
}

/** What this node knows of one of its members (to register it again). */
interface LocalMember {
  nick: string;
  roomKey: string | null;
  room: string;
}

/** Guest numbers a node takes from Redis at once. */
const GUEST_BLOCK = 256;
/** Stream entries read back to find a room's history lines. */
const HISTORY_SCAN = 200;
/** The stream length, as PUBLISH takes it. */
const STREAM_LENGTH = String(CLUSTER_STREAM_LENGTH);

/** The cluster's directory: see the module documentation. */
export class RedisDirectory implements ChatDirectory {
  readonly nodeId: string;
  readonly historyBytes = 0;
  readonly #options: RedisDirectoryOptions;
  readonly #keys: ClusterKeys;
  readonly #link: RedisLink;
  readonly #feeds: RoomFeeds;
  readonly #log: Logger;
  readonly #local = new Map<MemberRef, LocalMember>();
  #listener: DirectoryListener | null = null;
  #guests: number[] = [];
  #guestsComing = false;
  #fallbackGuests = 0;
  #online = 0;
  /** Epochs this node has offered (a room's numbering starts one when it has none). */
  readonly #epochPrefix = `${crypto.randomUUID()}-`;
  #epochs = 0;
  #heartbeat: ReturnType<typeof setInterval> | undefined;

  private constructor(options: RedisDirectoryOptions, link: RedisLink, log: Logger) {
    this.#options = options;
    this.nodeId = options.nodeId ?? crypto.randomUUID().slice(0, 8);
    this.#keys = clusterKeys(options.cluster ?? DEFAULT_CLUSTER);
    this.#link = link;
    this.#log = log;
    this.#feeds = new RoomFeeds(link, this.#keys, () => this.#listener);
  }

  /**
   * Connects to Redis, registers this node and takes a block of guest
   * numbers; throws a `ConnectionError` when Redis cannot be reached.
   */
  static async connect(options: RedisDirectoryOptions): Promise<RedisDirectory> {
    const log = safeLogger(options.logger ?? silentLogger);
    const link = await RedisLink.open(options.url, log, options.connectTimeout ?? 10_000);
    const directory = new RedisDirectory(options, link, log);
    link.onUp(() => link.background(directory.#maintain()));
    link.onResubscribed(() => link.background(directory.#feeds.catchUp()));
    await link.subscriber.subscribe(
      directory.#keys.nodeChannel(directory.nodeId),
      (message: string) => directory.#onDirect(message),
    );
    await directory.#beat();
    await directory.#takeGuests();
    directory.#heartbeat = setInterval(
      () => link.background(directory.#maintain()),
      CLUSTER_HEARTBEAT_MS,
    );
    return directory;
  }

  attach(listener: DirectoryListener): void {
    this.#listener = listener;
  }

  get linkDown(): boolean {
    // The sockets' state: `isDown` can be set again by a late failure after the reconnection.
    return !this.#link.client.isReady || !this.#link.subscriber.isReady;
  }

  async ping(): Promise<number> {
    const started = performance.now();
    await this.#link.client.ping();
    return performance.now() - started;
  }

  // ---- nicks ----

  guest(ref: MemberRef): string {
    const nick = this.#nextGuest();
    this.#local.set(ref, { nick, roomKey: null, room: "" });
    this.#link.background(this.#claim(nameKey(nick), ref));
    return nick;
  }

  async claim(key: string, ref: MemberRef): Promise<boolean | null> {
    try {
      return await this.#claim(key, ref); // the nick is recorded by `renamed`
    } catch (error) {
      this.#link.down(error);
      return null;
    }
  }

  release(key: string, ref: MemberRef): void {
    this.#link.background(
      this.#link.eval(RELEASE, [this.#keys.nick(key), this.#keys.nodeNicks(this.nodeId)], [
        ref,
        key,
      ]),
    );
  }

  leave(ref: MemberRef, key: string): void {
    this.#local.delete(ref);
    this.release(key, ref);
  }

  async find(key: string): Promise<MemberRef | null | undefined> {
    try {
      return await this.#link.client.get(this.#keys.nick(key));
    } catch (error) {
      this.#link.down(error);
      return undefined;
    }
  }

  // ---- presence ----

  online(): number {
    return Math.max(this.#online, this.#feeds.memberCount);
  }

  async enter(
    ref: MemberRef,
    nick: string,
    roomKey: string,
    room: string,
  ): Promise<RoomEntry | null> {
    const member = this.#local.get(ref) ?? { nick, roomKey: null, room: "" };
    member.roomKey = roomKey;
    member.room = room;
    this.#local.set(ref, member);
    try {
      await this.#feeds.enter(roomKey);
      const reply = await this.#link.eval(ENTER, this.#enterKeys(roomKey), [
        ref,
        nick,
        roomKey,
        room,
      ]);
      const [name, cursor, ...records] = reply as [string, number, ...string[]];
      member.room = name;
      return { name, members: records.map(nickOf), cursor: Number(cursor) };
    } catch (error) {
      this.#link.down(error); // registered again when the link is back
      return null;
    }
  }

  async exit(ref: MemberRef, roomKey: string): Promise<number | null> {
    const member = this.#local.get(ref);
    if (member !== undefined) member.roomKey = null; // (a move enters the next room at once)
    this.#feeds.exit(roomKey);
    try {
      return Number(
        await this.#link.eval(EXIT, this.#exitKeys(roomKey), [ref, roomKey, LOBBY_KEY]),
      );
    } catch (error) {
      this.#link.down(error); // what Redis still holds is removed when the link is back
      return null;
    }
  }

  renamed(ref: MemberRef, nick: string): void {
    const member = this.#local.get(ref);
    if (member !== undefined) member.nick = nick;
    this.#link.background(this.#link.eval(RENAME, [this.#keys.members], [ref, nick]));
  }

  async members(roomKey: string): Promise<string[] | null> {
    try {
      const keys = [this.#keys.roomMembers(roomKey), this.#keys.members];
      return ((await this.#link.eval(MEMBERS, keys, [])) as string[]).map(nickOf);
    } catch (error) {
      this.#link.down(error);
      return null;
    }
  }

  async rooms(): Promise<RoomCount[] | null> {
    try {
      const pairs = await this.#link.eval(ROOMS, [this.#keys.rooms], [
        this.#keys.roomChannel(""),
      ]) as (string | number)[];
      const rooms: RoomCount[] = [];
      for (let i = 0; i < pairs.length; i += 2) {
        rooms.push({ name: String(pairs[i]), count: Number(pairs[i + 1]) });
      }
      return rooms;
    } catch (error) {
      this.#link.down(error);
      return null;
    }
  }

  // ---- events ----

  publish(roomKey: string, envelope: RoomEnvelope, elsewhere = false): Promise<boolean> {
    const published = this.#link.eval(
      PUBLISH,
      [this.#keys.seq(roomKey), this.#keys.stream(roomKey), this.#keys.epoch(roomKey)],
      [
        this.#keys.roomChannel(roomKey),
        encodeEnvelope(envelope),
        STREAM_LENGTH,
        `${this.#epochPrefix}${++this.#epochs}`,
      ],
    );
    return this.#link.track(published.then(() => true, (error) => {
      this.#link.down(error);
      // This node's members still hear each other.
      if (!elsewhere) this.#listener?.roomEvent(roomKey, envelope);
      return false;
    }));
  }

  async history(roomKey: string, cursor: number): Promise<HistoryEntry[]> {
    const lines = this.#options.historyLines;
    if (lines === 0 || cursor === 0) return [];
    try {
      const entries = await this.#link.client.xRevRange(
        this.#keys.stream(roomKey),
        `${cursor}-1`,
        "-",
        { COUNT: HISTORY_SCAN },
      );
      const history: HistoryEntry[] = [];
      for (const entry of entries) {
        const envelope = parseEnvelope(String(entry.message.p));
        const event = envelope?.event;
        if (event?.type !== "message" && event?.type !== "action") continue;
        history.push({
          kind: event.type,
          from: event.from,
          text: event.text,
          ts: envelope!.ts,
          bytes: 0,
        });
        if (history.length === lines) break;
      }
      return history.reverse();
    } catch (error) {
      this.#link.down(error);
      return [];
    }
  }

  async send(ref: MemberRef, envelope: DirectEnvelope): Promise<boolean> {
    const node = ref.slice(0, ref.indexOf("/"));
    const payload = JSON.stringify({ r: ref, e: envelope.event, t: envelope.ts, f: envelope.from });
    try {
      return (await this.#link.client.publish(this.#keys.nodeChannel(node), payload)) > 0;
    } catch (error) {
      this.#link.down(error);
      return false;
    }
  }

  /** Lets publishes under way finish (at most 2 s), leaves the cluster, and disconnects. */
  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    try {
      await this.#link.client.del(this.#keys.node(this.nodeId));
      await this.#link.client.sRem(this.#keys.nodes, this.nodeId);
    } catch { /* down: the key expires by itself */ }
    await this.#link.close(2000);
  }

  // ---- liveness ----

  /** Refreshes this node's key, and reaps nodes whose key has expired. */
  async #beat(): Promise<void> {
    try {
      const was = await this.#link.client.set(this.#keys.node(this.nodeId), "1", {
        PX: CLUSTER_NODE_TTL_MS,
        GET: true,
      });
      await this.#link.client.sAdd(this.#keys.nodes, this.nodeId);
      // Our key had expired (a long outage) or Redis restarted empty.
      if (was === null && this.#local.size > 0) await this.#reconcile();
      this.#online = await this.#link.client.hLen(this.#keys.members);
      for (const node of await this.#link.client.sMembers(this.#keys.nodes)) {
        if (node === this.nodeId) continue;
        if (await this.#link.client.exists(this.#keys.node(node))) continue;
        await this.#reap(node);
      }
    } catch (error) {
      this.#link.down(error);
    }
  }

  /**
   * Every heartbeat, and when the link is back: after any failure, put this
   * node's state in Redis right and catch the rooms up; then the heartbeat.
   */
  async #maintain(): Promise<void> {
    if (this.#link.takeDirty()) {
      try {
        await this.#reconcile();
        await this.#feeds.catchUp();
      } catch (error) {
        this.#link.down(error); // dirty again: the next beat tries again
      }
    }
    await this.#beat();
  }

  /**
   * Puts Redis's view of this node right after an outage: what it holds for
   * members gone meanwhile is removed, and every member is registered
   * again (a nick taken meanwhile makes its member a guest, told so).
   */
  async #reconcile(): Promise<void> {
    const nodeMembers = await this.#link.client.sMembers(this.#keys.nodeMembers(this.nodeId));
    for (const ref of nodeMembers) {
      if (this.#local.get(ref)?.roomKey) continue;
      const record = await this.#link.client.hGet(this.#keys.members, ref);
      const roomKey = record === null ? null : roomOf(record);
      if (roomKey === null) {
        await this.#link.client.sRem(this.#keys.nodeMembers(this.nodeId), ref);
      } else {
        await this.#link.eval(EXIT, this.#exitKeys(roomKey), [ref, roomKey, LOBBY_KEY]);
      }
    }
    const held = new Set([...this.#local.values()].map((member) => nameKey(member.nick)));
    for (const key of await this.#link.client.sMembers(this.#keys.nodeNicks(this.nodeId))) {
      if (held.has(key)) continue;
      // Freed only if one of this node's members still holds it (another
      // node may have claimed it meanwhile); it leaves this node's set anyway.
      const holder = await this.#link.client.get(this.#keys.nick(key));
      const ours = holder !== null && holder.startsWith(`${this.nodeId}/`) ? holder : "";
      await this.#link.eval(RELEASE, [this.#keys.nick(key), this.#keys.nodeNicks(this.nodeId)], [
        ours,
        key,
      ]);
    }
    for (const [ref, member] of this.#local) {
      if (!(await this.#claim(nameKey(member.nick), ref))) {
        const guest = this.#nextGuest();
        member.nick = guest;
        await this.#claim(nameKey(guest), ref);
        this.#listener?.nickLost(ref, guest);
      }
      if (member.roomKey !== null) {
        await this.#link.eval(ENTER, this.#enterKeys(member.roomKey), [
          ref,
          member.nick,
          member.roomKey,
          member.room,
        ]);
      }
    }
  }

  /** Announces a dead node's members as gone and frees their nicks (one node does it). */
  async #reap(node: string): Promise<void> {
    const won = await this.#link.client.set(this.#keys.reaper(node), this.nodeId, {
      NX: true,
      PX: 30_000,
    });
    if (won === null) return;
    const keys = [
      this.#keys.nodeMembers(node),
      this.#keys.nodeNicks(node),
      this.#keys.members,
      this.#keys.nodes,
      this.#keys.node(node),
      this.#keys.rooms,
    ];
    const gone = await this.#link.eval(REAP, keys, [
      node,
      this.#keys.roomChannel(""),
      LOBBY_KEY,
      this.#keys.nick(""),
    ]) as (string | number)[];
    this.#log({
      event: "warning",
      reason: `node ${node} is gone; ${gone.length / 4} of its members leave`,
    });
    const limit = this.#options.announceLimit;
    for (let i = 0; i < gone.length; i += 4) {
      const left = Number(gone[i + 3]);
      if (left === 0 || !announces(limit, left)) continue;
      this.#link.background(this.publish(String(gone[i]), {
        event: {
          type: "leave",
          room: String(gone[i + 1]),
          nick: String(gone[i + 2]),
          reason: "connection lost",
        },
        ts: Date.now(),
        origin: null,
        echo: false,
      }));
    }
  }

  // ---- internals ----

  #claim(key: string, ref: MemberRef): Promise<boolean> {
    return this.#link.eval(CLAIM, [this.#keys.nick(key), this.#keys.nodeNicks(this.nodeId)], [
      ref,
      key,
    ]).then((won) => won === 1);
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

  /** KEYS[1..4] of both ENTER and EXIT: where a member's place in a room is kept. */
  #placeKeys(roomKey: string): string[] {
    return [
      this.#keys.members,
      this.#keys.roomMembers(roomKey),
      this.#keys.rooms,
      this.#keys.nodeMembers(this.nodeId),
    ];
  }

  #enterKeys(roomKey: string): string[] {
    return [...this.#placeKeys(roomKey), this.#keys.joins, this.#keys.seq(roomKey)];
  }

  #exitKeys(roomKey: string): string[] {
    const keys = this.#keys;
    return [
      ...this.#placeKeys(roomKey),
      keys.seq(roomKey),
      keys.epoch(roomKey),
      keys.stream(roomKey),
    ];
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

/** The room key in a member record (`{"r": ...}`), or null. */
function roomOf(record: string): string | null {
  try {
    return JSON.parse(record).r ?? null;
  } catch {
    return null;
  }
}
