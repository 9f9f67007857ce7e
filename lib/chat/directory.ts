/**
 * The hub's view of everything beyond its own members: which nicks are
 * taken, who is in which room, each room's history, and the order in which
 * a room's events reach every member. One process keeps all of it in
 * memory ({@linkcode LocalDirectory}, synchronous, the default); several
 * processes share it through Redis (`lib/cluster/`), where the same calls
 * answer later. The hub treats both alike: a {@linkcode MaybePromise} is
 * used at once when it is a value.
 *
 * @module
 */

import { DEFAULT_ROOM } from "../support/constants.ts";
import type { ChatEvent, RoomCount } from "./events.ts";
import {
  historyCost,
  type HistoryEntry,
  type HistoryLimits,
  type HistoryObserver,
  HistoryStore,
  type RoomHistory,
} from "./history.ts";
import { nameKey } from "./names.ts";

/** The key of the default room, which is never forgotten. */
export const LOBBY_KEY: string = nameKey(DEFAULT_ROOM);

/** A value now, or later. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * The answer of a directory call when the link between servers is down:
 * the question could not be asked. (A directory shared by several
 * processes answers it; {@linkcode LocalDirectory} only to `send`, which
 * the hub never calls for it: all its members are local.)
 */
export const LINK_DOWN: unique symbol = Symbol("link down");

/** The type of {@linkcode LINK_DOWN}. */
export type LinkDown = typeof LINK_DOWN;

/** Where a member lives, unique in the cluster: `NODE/ID`. */
export type MemberRef = string;

/** A room event on its way to every member of the room, on every node. */
export interface RoomEnvelope {
  /** A `message`, `action`, `join`, `leave` or `nick` event. */
  event: ChatEvent;
  /** When it happened (ms since the epoch). */
  ts: number;
  /** The member it came from (its text copy is skipped), or null. */
  origin: MemberRef | null;
  /** The origin, when it receives JSON, gets its own copy (messages, actions). */
  echo: boolean;
  /**
   * Its place in the room's order, set by the directory on delivery: a
   * member who entered at cursor `c` gets only events after `c` (the
   * earlier ones are its history).
   */
  seq?: number;
}

/** A private event for one member (a `private` message, or an error back to a sender). */
export interface DirectEnvelope {
  event: ChatEvent;
  ts: number;
  /** Who sent it, to answer `no such nick` if the target is gone. */
  from: MemberRef | null;
}

/** What a directory calls back on the hub. */
export interface DirectoryListener {
  /** Delivers a room event to this node's members of `roomKey`, in the room's order. */
  roomEvent(roomKey: string, envelope: RoomEnvelope): void;
  /** Tells this node's members of `roomKey` that some events could not be recovered. */
  roomGap(roomKey: string): void;
  /** The room's numbering restarted (a new epoch): entry cursors start over. */
  roomReset(roomKey: string): void;
  /** Delivers an event to one member of this node. */
  direct(ref: MemberRef, envelope: DirectEnvelope): void;
  /** A member of this node lost its nick (taken while the link was down): it becomes `guest`. */
  nickLost(ref: MemberRef, guest: string): void;
  /**
   * Members of a dead node were removed from their rooms (this node did
   * it): the hub announces the leaves its rules allow.
   */
  membersLost(lost: readonly LostMember[]): void;
}

/** A member of a dead node, removed from its room. */
export interface LostMember {
  roomKey: string;
  room: string;
  nick: string;
  /** Members left in the room. */
  left: number;
}

/** What entering a room tells the joiner. */
export interface RoomEntry {
  /** The room's name as it was first created (its case, its script). */
  name: string;
  /** Every member now in the room, the joiner included, in join order. */
  members: string[];
  /**
   * Where the room's order stood when the joiner was added: the events up
   * to here are its history, the later ones reach it live.
   */
  cursor: number;
  /** The room's last messages up to `cursor`, oldest first (as many as asked for). */
  history: HistoryEntry[];
}

/**
 * Everything the hub asks of the world beyond its own members. A call that
 * needs the other servers answers {@linkcode LINK_DOWN} when it cannot
 * reach them.
 */
export interface ChatDirectory {
  /** Where this node's members live (`NODE` of their refs). */
  readonly nodeId: string;
  /** Called once by the hub that uses the directory. */
  attach(listener: DirectoryListener): void;
  /** A guest nick nobody holds (`guest-N`), registered to `ref`. */
  guest(ref: MemberRef): string;
  /**
   * In one step: claims nick key `key` for `ref`, frees its old nick key
   * `oldKey` (unless the same) and records `nick` as its nick. False when
   * another member holds `key`.
   */
  rename(
    ref: MemberRef,
    oldKey: string,
    key: string,
    nick: string,
  ): MaybePromise<boolean | LinkDown>;
  /** `ref` is gone: frees its nick key and forgets it. */
  leave(ref: MemberRef, key: string): void;
  /** Who holds a nick key: a ref, or null when nobody. */
  find(key: string): MaybePromise<MemberRef | null | LinkDown>;
  /** Members on every node (as last known). */
  online(): number;
  /**
   * Puts `ref` (known as `nick`) in a room; the answer (with the room's
   * last `historyLines` messages) comes once this node receives the room's
   * events.
   */
  enter(
    ref: MemberRef,
    nick: string,
    roomKey: string,
    room: string,
    historyLines: number,
  ): MaybePromise<RoomEntry | LinkDown>;
  /**
   * Takes `ref` out of its room; answers how many members are left there
   * (with the link down, unknown: the leave is still announced to this
   * node's members).
   */
  exit(ref: MemberRef, roomKey: string): MaybePromise<number | LinkDown>;
  /** The members of a room in join order. */
  members(roomKey: string): MaybePromise<string[] | LinkDown>;
  /** Rooms with members and their counts. */
  rooms(): MaybePromise<RoomCount[] | LinkDown>;
  /**
   * Sends a room event to the room's members on every node (this node's
   * members through `roomEvent`); messages and actions join the history.
   * With the link down it reaches only this node's members.
   * `elsewhere`: deliver only to other nodes (this one is shutting down).
   */
  publish(
    roomKey: string,
    envelope: RoomEnvelope,
    elsewhere?: boolean,
  ): MaybePromise<void | LinkDown>;
  /** Sends a direct event to a member of another node. */
  send(ref: MemberRef, envelope: DirectEnvelope): MaybePromise<void | LinkDown>;
  /** True while the link to the other nodes is down (`/healthz` answers 503). @default {never} */
  readonly linkDown?: boolean;
  /**
   * True when every answer comes at once, never as a promise (this
   * process's own directory): the hub can then take a nick asked for before
   * joining. @default {false}
   */
  readonly answersAtOnce?: boolean;
  /** Milliseconds of one round trip to the other nodes (rejects when it fails). */
  ping?(): Promise<number>;
  /** Finishes what is under way (publishes of a shutdown), then lets go. */
  close(): Promise<void>;
}

/**
 * A persistent copy of a {@linkcode LocalDirectory}'s history (lib/store/):
 * it follows every line kept and dropped, and gives back at start what it
 * kept, oldest first over all rooms.
 */
export interface HistoryPersistence extends HistoryObserver {
  restore(): Iterable<{ key: string; name: string; entry: Omit<HistoryEntry, "bytes"> }>;
}

/** Refs of members of a {@linkcode LocalDirectory}. */
const LOCAL_NODE = "local";

interface LocalRoom {
  name: string;
  /** Member ref → nick, in join order. */
  members: Map<MemberRef, string>;
  history: RoomHistory;
  /** Events published so far (the cursor). */
  events: number;
}

/**
 * Everything in one process's memory: the default directory, with no
 * asynchrony at all (every answer is a value).
 */
export class LocalDirectory implements ChatDirectory {
  readonly nodeId = LOCAL_NODE;
  readonly answersAtOnce: boolean = true;
  readonly #nicks = new Map<string, MemberRef>();
  readonly #rooms = new Map<string, LocalRoom>();
  readonly #where = new Map<MemberRef, string>();
  readonly #history: HistoryStore;
  #listener: DirectoryListener | null = null;
  #guests = 0;

  constructor(history: HistoryLimits, persistence?: HistoryPersistence) {
    this.#history = new HistoryStore(history, persistence);
    for (const { key, name, entry } of persistence?.restore() ?? []) {
      let room = this.#rooms.get(key);
      if (room === undefined) {
        room = { name, members: new Map(), history: this.#history.room(key, name), events: 0 };
        this.#rooms.set(key, room);
      }
      room.history.add(entry, historyCost(entry));
    }
  }

  /** Bytes of history kept (see `history.ts` for the accounting). */
  get historyBytes(): number {
    return this.#history.bytes;
  }

  attach(listener: DirectoryListener): void {
    this.#listener = listener;
  }

  guest(ref: MemberRef): string {
    let nick: string;
    let key: string;
    do {
      nick = `guest-${++this.#guests}`;
      key = nameKey(nick);
    } while (this.#nicks.has(key));
    this.#nicks.set(key, ref);
    return nick;
  }

  rename(ref: MemberRef, oldKey: string, key: string, nick: string): boolean {
    const holder = this.#nicks.get(key);
    if (holder !== undefined && holder !== ref) return false;
    this.#nicks.set(key, ref);
    if (oldKey !== key) this.leave(ref, oldKey);
    const roomKey = this.#where.get(ref);
    const room = roomKey === undefined ? undefined : this.#rooms.get(roomKey);
    if (room?.members.has(ref)) room.members.set(ref, nick);
    return true;
  }

  leave(ref: MemberRef, key: string): void {
    if (this.#nicks.get(key) === ref) this.#nicks.delete(key);
  }

  find(key: string): MemberRef | null {
    return this.#nicks.get(key) ?? null;
  }

  online(): number {
    return this.#where.size;
  }

  enter(
    ref: MemberRef,
    nick: string,
    roomKey: string,
    name: string,
    historyLines: number,
  ): RoomEntry {
    let room = this.#rooms.get(roomKey);
    if (room === undefined) {
      room = { name, members: new Map(), history: this.#history.room(roomKey, name), events: 0 };
      this.#rooms.set(roomKey, room);
    }
    room.members.set(ref, nick);
    this.#where.set(ref, roomKey);
    const history = historyLines === 0 ? [] : room.history.entries().slice(-historyLines);
    return {
      name: room.name,
      members: [...room.members.values()],
      cursor: room.events,
      history,
    };
  }

  exit(ref: MemberRef, roomKey: string): number {
    const room = this.#rooms.get(roomKey);
    this.#where.delete(ref);
    if (room === undefined) return 0;
    room.members.delete(ref);
    if (room.members.size === 0 && roomKey !== LOBBY_KEY) {
      this.#rooms.delete(roomKey);
      room.history.clear();
    }
    return room.members.size;
  }

  members(roomKey: string): string[] {
    return [...(this.#rooms.get(roomKey)?.members.values() ?? [])];
  }

  rooms(): RoomCount[] {
    return [...this.#rooms.values()]
      .filter((room) => room.members.size > 0)
      .map((room) => ({ name: room.name, count: room.members.size }));
  }

  publish(roomKey: string, envelope: RoomEnvelope, elsewhere = false): void {
    const room = this.#rooms.get(roomKey);
    let seq: number | undefined;
    if (room !== undefined) {
      seq = ++room.events;
      const { event } = envelope;
      if (event.type === "message" || event.type === "action") {
        const entry = { kind: event.type, from: event.from, text: event.text, ts: envelope.ts };
        room.history.add(entry, historyCost(entry));
      }
    }
    envelope.seq = seq; // the envelope is the publisher's, made for this call
    if (!elsewhere) this.#listener?.roomEvent(roomKey, envelope);
  }

  send(): LinkDown {
    return LINK_DOWN; // every member is local: the hub never asks
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** The ref of local member number `id`. */
export function localRef(nodeId: string, id: number): MemberRef {
  return `${nodeId}/${id}`;
}
