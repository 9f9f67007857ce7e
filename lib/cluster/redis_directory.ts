/**
 * Rooms shared by several server processes through Redis: a
 * {@linkcode ChatDirectory} whose nicks, presence, room order and history
 * live in Redis, so that every node serves the same chat.
 *
 * Guarantees (the README has them in full):
 * 1. One order per room, the same on every node: an event is numbered,
 *    stored in the room's stream and published in one Lua step, and each
 *    node delivers in number order, without duplicates (`sequencer.ts`).
 * 2. No silent gaps: a jump in the numbers, or a subscription that came
 *    back, is filled from the stream; what the stream no longer has (or a
 *    Redis that restarted empty) is one `some messages were lost` notice.
 * 3. Honest failure: with Redis unreachable a publish fails at once (no
 *    offline queue), the sender is told, and this node's members still get
 *    it; the outage and its end are logged.
 * 4. Unique nicks: claimed with one atomic step, freed on leave.
 * 5. A node that dies stops refreshing its key; within 15 s another node
 *    announces its members as gone (`connection lost`) and frees their nicks.
 * 6. History on join comes from the room's stream: the same on every node.
 *
 * @module
 */

import { createClient } from "redis";
import type {
  ChatDirectory,
  DirectEnvelope,
  DirectoryListener,
  MemberRef,
  RoomEntry,
  RoomEnvelope,
} from "../chat/directory.ts";
import type { ChatEvent, RoomCount } from "../chat/events.ts";
import type { HistoryEntry } from "../chat/history.ts";
import { nameKey } from "../chat/names.ts";
import {
  CLUSTER_HEARTBEAT_MS,
  CLUSTER_NODE_TTL_MS,
  CLUSTER_STREAM_LENGTH,
  DEFAULT_CLUSTER,
  DEFAULT_ROOM,
} from "../support/constants.ts";
import { ConnectionError } from "../support/errors.ts";
import { type Logger, safeLogger, silentLogger } from "../support/log.ts";
import { errorText } from "../net/conn.ts";
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
import { RoomSequencer, type SequencerAction } from "./sequencer.ts";

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

type RedisClient = ReturnType<typeof createClient>;

interface LocalMember {
  nick: string;
  roomKey: string | null;
  room: string;
}

interface Subscription {
  sequencer: RoomSequencer;
  /** Local members in the room, and enters under way. */
  members: number;
  ready: Promise<void>;
  /** Events that came before the room's state was read, replayed after it. */
  early: string[] | null;
}

/** Guest numbers a node takes from Redis at once. */
const GUEST_BLOCK = 256;
/** Stream entries read back to find a room's history lines. */
const HISTORY_SCAN = 200;

/** The cluster's directory: see the module documentation. */
export class RedisDirectory implements ChatDirectory {
  readonly nodeId: string;
  readonly historyBytes = 0;
  readonly #options: RedisDirectoryOptions;
  readonly #keys: ClusterKeys;
  readonly #client: RedisClient;
  readonly #subscriber: RedisClient;
  readonly #log: Logger;
  readonly #local = new Map<MemberRef, LocalMember>();
  readonly #rooms = new Map<string, Subscription>();
  readonly #pending = new Set<Promise<unknown>>();
  #listener: DirectoryListener | null = null;
  #guests: number[] = [];
  #guestsComing = false;
  #fallbackGuests = 0;
  #online = 0;
  /** This node's members in a room (so counted by Redis). */
  #inRooms = 0;
  #down = false;
  #closed = false;
  #heartbeat: ReturnType<typeof setInterval> | undefined;

  private constructor(options: RedisDirectoryOptions) {
    this.#options = options;
    this.nodeId = options.nodeId ?? crypto.randomUUID().slice(0, 8);
    this.#keys = clusterKeys(options.cluster ?? DEFAULT_CLUSTER);
    this.#log = safeLogger(options.logger ?? silentLogger);
    this.#client = createClient({
      url: options.url,
      disableOfflineQueue: true, // a publish while Redis is down fails at once
      socket: { reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 500) },
    });
    this.#subscriber = this.#client.duplicate();
  }

  /**
   * Connects to Redis, registers this node and takes a block of guest
   * numbers; throws a `ConnectionError` when Redis cannot be reached.
   */
  static async connect(options: RedisDirectoryOptions): Promise<RedisDirectory> {
    const directory = new RedisDirectory(options);
    await directory.#start(options.connectTimeout ?? 10_000);
    return directory;
  }

  attach(listener: DirectoryListener): void {
    this.#listener = listener;
  }

  async #start(timeoutMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    });
    let lastError: unknown = null;
    const noteError = (error: unknown) => (lastError = error);
    this.#client.on("error", noteError);
    this.#subscriber.on("error", noteError);
    try {
      await Promise.race([
        Promise.all([this.#client.connect(), this.#subscriber.connect()]),
        timeout,
      ]);
    } catch (error) {
      this.#disconnect();
      throw new ConnectionError(
        `cannot reach Redis at ${this.#options.url}: ${errorText(lastError ?? error)}`,
        { cause: lastError ?? error },
      );
    } finally {
      clearTimeout(timer);
      this.#client.off("error", noteError);
      this.#subscriber.off("error", noteError);
    }
    this.#client.on("error", (error: Error) => this.#linkDown(error));
    this.#subscriber.on("error", (error: Error) => this.#linkDown(error));
    this.#client.on("ready", () => this.#linkUp());
    this.#subscriber.on("ready", () => void this.#resyncRooms());
    await this.#subscriber.subscribe(
      this.#keys.nodeChannel(this.nodeId),
      (message: string) => this.#onDirect(message),
    );
    await this.#beat();
    await this.#takeGuests();
    this.#heartbeat = setInterval(() => void this.#beat(), CLUSTER_HEARTBEAT_MS);
  }

  // ---- nicks ----

  guest(ref: MemberRef): string {
    const number = this.#guests.shift();
    if (this.#guests.length < GUEST_BLOCK / 4) void this.#takeGuests();
    // Out of numbers before Redis answered: a number no other node can
    // have (this node's id in it).
    const nick = number !== undefined
      ? `guest-${number}`
      : `guest-${parseInt(this.nodeId.slice(0, 6), 16)}${++this.#fallbackGuests}`;
    this.#local.set(ref, { nick, roomKey: null, room: "" });
    this.#track(
      this.#eval(CLAIM, [this.#keys.nick(nameKey(nick)), this.#keys.nodeNicks(this.nodeId)], [
        ref,
        nameKey(nick),
      ]),
    );
    return nick;
  }

  async claim(key: string, ref: MemberRef, nick: string): Promise<boolean | null> {
    try {
      const won = await this.#eval(
        CLAIM,
        [this.#keys.nick(key), this.#keys.nodeNicks(this.nodeId)],
        [
          ref,
          key,
        ],
      );
      if (won === 1) {
        const member = this.#local.get(ref);
        if (member !== undefined) member.nick = nick;
      }
      return won === 1;
    } catch (error) {
      this.#linkDown(error);
      return null;
    }
  }

  release(key: string, ref: MemberRef): void {
    // Its current nick freed: the member is leaving (a rename frees the old one).
    const member = this.#local.get(ref);
    if (member !== undefined && nameKey(member.nick) === key) this.#local.delete(ref);
    this.#track(
      this.#eval(RELEASE, [this.#keys.nick(key), this.#keys.nodeNicks(this.nodeId)], [ref, key]),
    );
  }

  async find(key: string): Promise<MemberRef | null | undefined> {
    try {
      return await this.#client.get(this.#keys.nick(key));
    } catch (error) {
      this.#linkDown(error);
      return undefined;
    }
  }

  // ---- presence ----

  online(): number {
    return Math.max(this.#online, this.#inRooms);
  }

  async enter(
    ref: MemberRef,
    nick: string,
    roomKey: string,
    room: string,
  ): Promise<RoomEntry | null> {
    const subscription = this.#subscription(roomKey);
    subscription.members++;
    const member = this.#local.get(ref) ?? { nick, roomKey: null, room: "" };
    Object.assign(member, { nick, roomKey, room });
    this.#local.set(ref, member);
    try {
      await subscription.ready;
      const reply = await this.#eval(ENTER, this.#enterKeys(roomKey), [ref, nick, roomKey, room]);
      const [name, cursor, ...records] = reply as [string, number, ...string[]];
      member.room = name;
      this.#inRooms++;
      return { name, members: records.map(nickOf), cursor: Number(cursor) };
    } catch (error) {
      this.#linkDown(error);
      return null;
    }
  }

  async exit(ref: MemberRef, roomKey: string): Promise<number> {
    const member = this.#local.get(ref);
    if (member !== undefined) member.roomKey = null; // (a move enters the next room at once)
    this.#inRooms = Math.max(0, this.#inRooms - 1);
    const subscription = this.#rooms.get(roomKey);
    if (subscription !== undefined && --subscription.members === 0) {
      this.#rooms.delete(roomKey);
      this.#track(this.#subscriber.unsubscribe(this.#keys.roomChannel(roomKey)));
    }
    try {
      return Number(
        await this.#eval(EXIT, this.#exitKeys(roomKey), [ref, roomKey, nameKey(DEFAULT_ROOM)]),
      );
    } catch (error) {
      this.#linkDown(error);
      return 0;
    }
  }

  renamed(ref: MemberRef, nick: string): void {
    const member = this.#local.get(ref);
    if (member !== undefined) member.nick = nick;
    this.#track(this.#eval(RENAME, [this.#keys.members], [ref, nick]));
  }

  async members(roomKey: string): Promise<string[] | null> {
    try {
      const records = await this.#eval(MEMBERS, [
        this.#keys.roomMembers(roomKey),
        this.#keys.members,
      ], []);
      return (records as string[]).map(nickOf);
    } catch (error) {
      this.#linkDown(error);
      return null;
    }
  }

  async rooms(): Promise<RoomCount[] | null> {
    try {
      const pairs = await this.#eval(ROOMS, [this.#keys.rooms], [this.#keys.roomChannel("")]) as (
        | string
        | number
      )[];
      const rooms: RoomCount[] = [];
      for (let i = 0; i < pairs.length; i += 2) {
        rooms.push({ name: String(pairs[i]), count: Number(pairs[i + 1]) });
      }
      return rooms;
    } catch (error) {
      this.#linkDown(error);
      return null;
    }
  }

  // ---- events ----

  publish(roomKey: string, envelope: RoomEnvelope, elsewhere = false): Promise<boolean> {
    const payload = JSON.stringify({
      e: envelope.event,
      t: envelope.ts,
      o: envelope.origin,
      x: envelope.echo,
    });
    return this.#track(
      this.#eval(
        PUBLISH,
        [this.#keys.seq(roomKey), this.#keys.stream(roomKey), this.#keys.epoch(roomKey)],
        [
          this.#keys.roomChannel(roomKey),
          payload,
          String(CLUSTER_STREAM_LENGTH),
          crypto.randomUUID(),
        ],
      ).then(() => true, (error) => {
        this.#linkDown(error);
        // This node's members still hear each other.
        if (!elsewhere) this.#listener?.roomEvent(roomKey, envelope);
        return false;
      }),
    );
  }

  async history(roomKey: string, cursor: number): Promise<HistoryEntry[]> {
    const lines = this.#options.historyLines;
    if (lines === 0 || cursor === 0) return [];
    try {
      const entries = await this.#client.xRevRange(this.#keys.stream(roomKey), `${cursor}-1`, "-", {
        COUNT: HISTORY_SCAN,
      });
      const history: HistoryEntry[] = [];
      for (const entry of entries) {
        const envelope = parseEnvelope(String(entry.message.p));
        const event = envelope?.event;
        if (event?.type === "message" || event?.type === "action") {
          history.push({
            kind: event.type,
            from: event.from,
            text: event.text,
            ts: envelope!.ts,
            bytes: 0,
          });
          if (history.length === lines) break;
        }
      }
      return history.reverse();
    } catch (error) {
      this.#linkDown(error);
      return [];
    }
  }

  async send(ref: MemberRef, envelope: DirectEnvelope): Promise<boolean> {
    const node = ref.slice(0, ref.indexOf("/"));
    const payload = JSON.stringify({ r: ref, e: envelope.event, t: envelope.ts, f: envelope.from });
    try {
      return (await this.#client.publish(this.#keys.nodeChannel(node), payload)) > 0;
    } catch (error) {
      this.#linkDown(error);
      return false;
    }
  }

  /** Waits (bounded) for publishes under way, leaves the cluster, and disconnects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...this.#pending]),
      new Promise((resolve) => (timer = setTimeout(resolve, 2000))),
    ]);
    clearTimeout(timer);
    try {
      await this.#client.del(this.#keys.node(this.nodeId));
      await this.#client.sRem(this.#keys.nodes, this.nodeId);
    } catch { /* down: the key expires by itself */ }
    this.#disconnect();
  }

  // ---- internals ----

  #subscription(roomKey: string): Subscription {
    let subscription = this.#rooms.get(roomKey);
    if (subscription === undefined) {
      const created: Subscription = {
        sequencer: new RoomSequencer(null, 0),
        members: 0,
        ready: Promise.resolve(),
        early: [],
      };
      created.ready = (async () => {
        // Subscribe first, then read where the room stands. Events that
        // come meanwhile wait, and are replayed once it is known: those
        // counted in the state are dropped as duplicates, the rest delivered.
        await this.#subscriber.subscribe(
          this.#keys.roomChannel(roomKey),
          (message: string) => this.#onRoomEvent(roomKey, created, message),
        );
        const [epoch, seq] = await this.#roomState(roomKey);
        created.sequencer.epoch = epoch;
        created.sequencer.last = seq;
        const early = created.early ?? [];
        created.early = null;
        for (const message of early) this.#onRoomEvent(roomKey, created, message);
      })();
      created.ready.catch(() => this.#rooms.delete(roomKey)); // try again next time
      this.#rooms.set(roomKey, created);
      subscription = created;
    }
    return subscription;
  }

  async #roomState(roomKey: string): Promise<[string | null, number]> {
    const [epoch, seq] = await this.#client.mGet([
      this.#keys.epoch(roomKey),
      this.#keys.seq(roomKey),
    ]);
    return [epoch, Number(seq ?? 0)];
  }

  #onRoomEvent(roomKey: string, subscription: Subscription, message: string): void {
    if (subscription.early !== null) return void subscription.early.push(message);
    const first = message.indexOf(" ");
    const second = message.indexOf(" ", first + 1);
    if (first < 0 || second < 0) return;
    const epoch = message.slice(0, first);
    const seq = Number(message.slice(first + 1, second));
    this.#act(
      roomKey,
      subscription,
      subscription.sequencer.receive(epoch, seq, message.slice(second + 1)),
    );
  }

  #act(roomKey: string, subscription: Subscription, actions: SequencerAction[]): void {
    for (const action of actions) {
      if (action.kind === "deliver") {
        const envelope = parseEnvelope(action.payload);
        if (envelope !== null) this.#listener?.roomEvent(roomKey, { ...envelope, seq: action.seq });
      } else if (action.kind === "gap") {
        this.#listener?.roomGap(roomKey);
      } else if (action.kind === "reset") {
        this.#listener?.roomReset(roomKey);
      } else void this.#fill(roomKey, subscription, action.from, action.to);
    }
  }

  async #fill(
    roomKey: string,
    subscription: Subscription,
    from: number,
    to: number,
  ): Promise<void> {
    try {
      const entries = await this.#client.xRange(this.#keys.stream(roomKey), `${from}-1`, `${to}-1`);
      const filled = entries.map((entry) => ({
        seq: Number(entry.id.split("-")[0]),
        payload: String(entry.message.p),
      }));
      this.#act(roomKey, subscription, subscription.sequencer.filled(filled));
    } catch (error) {
      subscription.sequencer.fillFailed();
      this.#linkDown(error);
    }
  }

  /** After the subscription came back: catch every room up from its stream. */
  async #resyncRooms(): Promise<void> {
    for (const [roomKey, subscription] of this.#rooms) {
      try {
        await subscription.ready;
        const before = subscription.sequencer.epoch;
        const [epoch, seq] = await this.#roomState(roomKey);
        // A live event of a new numbering came while this was read: it is
        // newer than what was read, and its jump is filled by itself.
        if (subscription.sequencer.epoch !== before) continue;
        this.#act(roomKey, subscription, subscription.sequencer.resync(epoch, seq));
      } catch (error) {
        this.#linkDown(error);
      }
    }
  }

  #onDirect(message: string): void {
    try {
      const { r, e, t, f } = JSON.parse(message);
      this.#listener?.direct(r, { event: e as ChatEvent, ts: t, from: f });
    } catch { /* not ours */ }
  }

  /** Refreshes this node's key, and reaps nodes whose key has expired. */
  async #beat(): Promise<void> {
    try {
      const alive = await this.#client.set(this.#keys.node(this.nodeId), "1", {
        PX: CLUSTER_NODE_TTL_MS,
        GET: true,
      });
      await this.#client.sAdd(this.#keys.nodes, this.nodeId);
      if (alive === null && this.#local.size > 0) await this.#reregister();
      this.#online = await this.#client.hLen(this.#keys.members);
      const nodes = await this.#client.sMembers(this.#keys.nodes);
      for (const node of nodes) {
        if (node === this.nodeId) continue;
        if (await this.#client.exists(this.#keys.node(node))) continue;
        await this.#reap(node);
      }
    } catch (error) {
      this.#linkDown(error);
    }
  }

  /** Announces a dead node's members as gone and frees their nicks (one node does it). */
  async #reap(node: string): Promise<void> {
    const won = await this.#client.set(this.#keys.reaper(node), this.nodeId, {
      NX: true,
      PX: 30_000,
    });
    if (won === null) return;
    const gone = await this.#eval(
      REAP,
      [
        this.#keys.nodeMembers(node),
        this.#keys.nodeNicks(node),
        this.#keys.members,
        this.#keys.nodes,
        this.#keys.node(node),
      ],
      [node, this.#keys.prefix, nameKey(DEFAULT_ROOM)],
    ) as (string | number)[];
    this.#log({
      event: "warning",
      reason: `node ${node} is gone; ${gone.length / 4} of its members leave`,
    });
    const limit = this.#options.announceLimit;
    for (let i = 0; i < gone.length; i += 4) {
      const [roomKey, room, nick, left] = [
        String(gone[i]),
        String(gone[i + 1]),
        String(gone[i + 2]),
        Number(gone[i + 3]),
      ];
      if (limit !== 0 && left >= limit) continue;
      void this.publish(roomKey, {
        event: { type: "leave", room, nick, reason: "connection lost" },
        ts: Date.now(),
        origin: null,
        echo: false,
      });
    }
  }

  /**
   * Redis lost this node's state (restarted, or this node's key expired):
   * register its members again; a nick taken meanwhile makes its member a
   * guest.
   */
  async #reregister(): Promise<void> {
    for (const [ref, member] of this.#local) {
      const won = await this.#eval(CLAIM, [
        this.#keys.nick(nameKey(member.nick)),
        this.#keys.nodeNicks(this.nodeId),
      ], [
        ref,
        nameKey(member.nick),
      ]);
      if (won !== 1) {
        const guest = this.guest(ref);
        member.nick = guest;
        this.#listener?.nickLost(ref, guest);
      }
      if (member.roomKey !== null) {
        await this.#eval(ENTER, this.#enterKeys(member.roomKey), [
          ref,
          member.nick,
          member.roomKey,
          member.room,
        ]);
      }
    }
  }

  async #takeGuests(): Promise<void> {
    if (this.#guestsComing) return;
    this.#guestsComing = true;
    try {
      const end = await this.#client.incrBy(this.#keys.guests, GUEST_BLOCK);
      for (let number = end - GUEST_BLOCK + 1; number <= end; number++) this.#guests.push(number);
    } catch (error) {
      this.#linkDown(error);
    } finally {
      this.#guestsComing = false;
    }
  }

  #linkDown(error: unknown): void {
    if (this.#down || this.#closed) return;
    this.#down = true;
    this.#log({ event: "warning", reason: `redis link down: ${errorText(error)}` });
  }

  #linkUp(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#log({ event: "warning", reason: "redis link restored" });
    void this.#beat();
  }

  #enterKeys(roomKey: string): string[] {
    return [
      this.#keys.members,
      this.#keys.roomMembers(roomKey),
      this.#keys.rooms,
      this.#keys.nodeMembers(this.nodeId),
      this.#keys.joins,
      this.#keys.seq(roomKey),
    ];
  }

  #exitKeys(roomKey: string): string[] {
    return [
      this.#keys.members,
      this.#keys.roomMembers(roomKey),
      this.#keys.rooms,
      this.#keys.nodeMembers(this.nodeId),
      this.#keys.seq(roomKey),
      this.#keys.epoch(roomKey),
      this.#keys.stream(roomKey),
    ];
  }

  #eval(script: string, keys: string[], args: string[]): Promise<unknown> {
    return this.#client.eval(script, { keys, arguments: args });
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#pending.add(work);
    const forget = () => this.#pending.delete(work);
    work.then(forget, forget);
    return work;
  }

  #disconnect(): void {
    for (const client of [this.#subscriber, this.#client]) {
      try {
        client.destroy();
      } catch { /* not connected */ }
    }
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

/** A room event's payload, or null when it is not one. */
function parseEnvelope(payload: string): RoomEnvelope | null {
  try {
    const { e, t, o, x } = JSON.parse(payload);
    return { event: e as ChatEvent, ts: Number(t), origin: o ?? null, echo: x === true };
  } catch {
    return null;
  }
}
