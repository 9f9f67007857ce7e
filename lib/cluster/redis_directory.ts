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
import { exitRoom, type LocalMember, NodeLiveness } from "./node_liveness.ts";
import { RedisLink } from "./redis_link.ts";
import { encodeEnvelope, parseEnvelope, RoomFeeds } from "./room_feeds.ts";
import {
  CLAIM,
  type ClusterKeys,
  clusterKeys,
  ENTER,
  enterKeys,
  MEMBERS,
  PUBLISH,
  RELEASE,
  RENAME_RECORD,
} from "./scripts.ts";

/** Options of {@linkcode RedisDirectory.connect}. */
export interface RedisDirectoryOptions {
  /**
   * `redis://HOST:PORT`; several, comma-separated, are seeds of a Redis
   * Cluster.
   */
  url: string;
  /** The one URL of `url` is a seed of a Redis Cluster. @default {false} */
  redisCluster?: boolean;
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
      newEpoch: () => this.#newEpoch(),
    });
  }

  /**
   * Connects to Redis, registers this node and takes a block of guest
   * numbers; throws a `ConnectionError` when Redis cannot be reached.
   */
  static async connect(options: RedisDirectoryOptions): Promise<RedisDirectory> {
    const log = safeLogger(options.logger ?? silentLogger);
    const timeout = options.connectTimeout ?? CONNECT_TIMEOUT_MS;
    const urls = options.url.split(",").map((url) => url.trim()).filter((url) => url !== "");
    const cluster = options.redisCluster === true || urls.length > 1;
    const link = await RedisLink.open(urls, log, timeout, cluster);
    const directory = new RedisDirectory(options, link, log);
    const direct = directory.#keys.nodeChannel(directory.nodeId);
    const onDirect = (message: string) => directory.#onDirect(message);
    link.onResubscribed(() => {
      // A cluster's failover drops the subscriptions on the dead master: made again.
      if (link.cluster) link.background(link.subscribe(direct, onDirect));
      link.background(directory.#feeds.catchUp());
    });
    await link.subscribe(direct, onDirect);
    await directory.#liveness.start();
    await directory.#takeGuests();
    return directory;
  }

  attach(listener: DirectoryListener): void {
    this.#listener = listener;
  }

  get linkDown(): boolean {
    // The sockets' state, not the outage flag (a late failure can set that after a reconnection).
    return !this.#link.up;
  }

  async ping(): Promise<number> {
    const started = performance.now();
    await this.#link.client.exists(this.#keys.guests); // one cheap command, one round trip
    return performance.now() - started;
  }

  // ---- nicks ----

  guest(ref: MemberRef): string {
    const nick = this.#nextGuest();
    this.#local.set(ref, { nick, roomKey: null, room: "" });
    this.#link.background(this.#inOrder(ref, () => this.#claim(nameKey(nick), ref)));
    return nick;
  }

  async rename(
    ref: MemberRef,
    oldKey: string,
    key: string,
    nick: string,
  ): Promise<boolean | LinkDown> {
    const member = this.#local.get(ref);
    const renamed = await this.#inOrder(ref, () =>
      this.#link.attempt(async () => {
        // The claim is the one atomic step (one nick, one slot): exactly one winner.
        if (!(await this.#claim(key, ref))) return false;
        if (oldKey !== key) await this.#release(oldKey, ref);
        // Recorded before the member's next step (its leave frees this nick).
        if (member !== undefined) member.nick = nick;
        const roomKey = member?.roomKey;
        if (roomKey) {
          await this.#link.eval(RENAME_RECORD, [this.#keys.roomRecords(roomKey)], [ref, nick]);
        }
        return true;
      }));
    if (renamed === LINK_DOWN) return LINK_DOWN;
    return renamed;
  }

  leave(ref: MemberRef, key: string): void {
    const member = this.#local.get(ref);
    this.#local.delete(ref);
    this.#link.background(this.#inOrder(ref, async () => {
      // A rename under way when the member left may have taken a new nick: freed too.
      const keys = new Set([key, member === undefined ? key : nameKey(member.nick)]);
      for (const each of keys) await this.#release(each, ref);
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
        const entry = await this.#link.eval(ENTER, enterKeys(this.#keys, roomKey), [
          ref,
          member.nick,
          roomKey,
          room,
          scan,
          this.#newEpoch(),
        ]) as [string, number, string[], string[]];
        await this.#placed(ref, roomKey, entry[0]);
        return entry;
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
      return this.#link.attempt(() => this.#exitRoom(ref, roomKey));
    });
  }

  members(roomKey: string): Promise<string[] | LinkDown> {
    const keys = [this.#keys.roomMembers(roomKey), this.#keys.roomRecords(roomKey)];
    return this.#link.attempt(async () =>
      ((await this.#link.eval(MEMBERS, keys, [])) as string[]).map(nickOf)
    );
  }

  rooms(): Promise<RoomCount[] | LinkDown> {
    // The rooms' list, then each room's count on its own slot (the list
    // may name a room emptied meanwhile: left out).
    return this.#link.attempt(async () => {
      const listed = Object.entries(await this.#link.client.hGetAll(this.#keys.rooms));
      const counts = await Promise.all(
        listed.map(([key]) => this.#link.client.zCard(this.#keys.roomMembers(key))),
      );
      return listed.map(([, name], i) => ({ name, count: counts[i] }))
        .filter((room) => room.count > 0);
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
        [this.#keys.seq(roomKey), this.#keys.stream(roomKey), this.#keys.epoch(roomKey)],
        [
          this.#keys.roomChannel(roomKey),
          encodeEnvelope(envelope),
          STREAM_LENGTH,
          this.#newEpoch(),
          roomKey === LOBBY_KEY ? "1" : "0",
          this.#link.publishCommand,
        ],
      )
    ));
    // Dropped (the room has no epoch): fine if this node has nobody there
    // either (everyone left); else Redis lost the room (restarted empty),
    // and the sender is told until this node has entered it again.
    const dropped = published !== LINK_DOWN && Number((published as [string, number])[1]) === 0;
    if (published !== LINK_DOWN && !(dropped && this.#feeds.has(roomKey))) return;
    // This node's members still hear each other.
    if (!elsewhere) this.#listener?.roomEvent(roomKey, envelope);
    return LINK_DOWN;
  }

  async send(ref: MemberRef, envelope: DirectEnvelope): Promise<void | LinkDown> {
    const node = ref.slice(0, ref.indexOf("/"));
    const payload = JSON.stringify({ r: ref, e: envelope.event, t: envelope.ts, f: envelope.from });
    const receivers = await this.#link.attempt(() =>
      this.#link.publish(this.#keys.nodeChannel(node), payload)
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

  /** A numbering epoch nobody else offers. */
  #newEpoch(): string {
    return `${this.#epochPrefix}${++this.#epochs}`;
  }

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

  /** Claims nick key `key` for `ref` (one atomic step), then notes it as this node's. */
  async #claim(key: string, ref: MemberRef): Promise<boolean> {
    if ((await this.#link.eval(CLAIM, [this.#keys.nick(key)], [ref])) !== 1) return false;
    await this.#link.client.sAdd(this.#keys.nodeNicks(this.nodeId), key);
    return true;
  }

  /** Frees nick key `key` if `ref` holds it, and forgets it as this node's. */
  async #release(key: string, ref: MemberRef): Promise<void> {
    await this.#link.eval(RELEASE, [this.#keys.nick(key)], [ref, "ref"]);
    await this.#link.client.sRem(this.#keys.nodeNicks(this.nodeId), key);
  }

  /** After an entry: where the member is, for this node (its reaper) and the rooms' list. */
  async #placed(ref: MemberRef, roomKey: string, name: string): Promise<void> {
    await this.#link.client.hSet(this.#keys.nodeMembers(this.nodeId), ref, roomKey);
    await this.#link.client.hSet(this.#keys.rooms, roomKey, name);
  }

  /** Takes `ref` out of `roomKey` in Redis: the members left. */
  #exitRoom(ref: MemberRef, roomKey: string): Promise<number> {
    return exitRoom(this.#link, this.#keys, this.nodeId, ref, roomKey).then(([left]) => left);
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
