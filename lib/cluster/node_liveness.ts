/**
 * A cluster node's liveness: its heartbeat (a key in Redis that expires
 * unless refreshed), putting its state in Redis right after an outage
 * (reconcile), and removing the members of nodes whose key has expired
 * (reap, one node doing it, the hub told through `membersLost`).
 *
 * @module
 */

import { type DirectoryListener, LOBBY_KEY, type MemberRef } from "../chat/directory.ts";
import { nameKey } from "../chat/names.ts";
import { CLUSTER_HEARTBEAT_MS, CLUSTER_NODE_TTL_MS } from "../support/constants.ts";
import type { Logger } from "../support/log.ts";
import type { RedisLink } from "./redis_link.ts";
import type { RoomFeeds } from "./room_feeds.ts";
import { type ClusterKeys, ENTER, enterKeys, EXIT, exitKeys, RELEASE } from "./scripts.ts";

/** Milliseconds a reaper holds its lock on a dead node. */
const REAPER_LOCK_MS = 30_000;

/** What a node knows of one of its members (to register it again). */
export interface LocalMember {
  nick: string;
  roomKey: string | null;
  room: string;
}

/** What the liveness work uses of its node's directory. */
export interface LivenessHost {
  readonly nodeId: string;
  readonly link: RedisLink;
  readonly keys: ClusterKeys;
  readonly feeds: RoomFeeds;
  readonly log: Logger;
  /** This node's members. */
  readonly local: Map<MemberRef, LocalMember>;
  /** The hub, once attached. */
  listener(): DirectoryListener | null;
  /** Claims a nick key for a member of this node; false when another holds it. */
  claim(key: string, ref: MemberRef): Promise<boolean>;
  /** A guest nick nobody holds. */
  nextGuest(): string;
  /** A numbering epoch nobody else offers (for a room that has none). */
  newEpoch(): string;
}

/** One node's heartbeat, reconciliation and reaping; see the module documentation. */
export class NodeLiveness {
  readonly #host: LivenessHost;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Members on every node, as of the last heartbeat. */
  online = 0;

  constructor(host: LivenessHost) {
    this.#host = host;
  }

  /** Registers the node (first heartbeat), then beats every `CLUSTER_HEARTBEAT_MS`. */
  async start(): Promise<void> {
    const { link } = this.#host;
    link.onUp(() => link.background(this.#maintain()));
    await this.#beat();
    this.#timer = setInterval(() => link.background(this.#maintain()), CLUSTER_HEARTBEAT_MS);
  }

  /** Stops beating and removes this node's key (down: it expires by itself). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    const { link, keys, nodeId } = this.#host;
    try {
      await link.client.del(keys.node(nodeId));
      await link.client.sRem(keys.nodes, nodeId);
    } catch { /* down: the key expires by itself */ }
  }

  /** Refreshes this node's key, and reaps nodes whose key has expired. */
  async #beat(): Promise<void> {
    const { link, keys, nodeId, local } = this.#host;
    await link.attempt(async () => {
      const was = await link.client.set(keys.node(nodeId), "1", {
        PX: CLUSTER_NODE_TTL_MS,
        GET: true,
      });
      await link.client.sAdd(keys.nodes, nodeId);
      // Our key had expired (a long outage) or Redis restarted empty.
      if (was === null && local.size > 0) await this.#reconcile();
      // The rooms' list names every room this node has members in (an
      // exit on another node that emptied it may have raced an entry here).
      const rooms: Record<string, string> = {};
      for (const member of local.values()) {
        if (member.roomKey !== null) rooms[member.roomKey] = member.room;
      }
      if (Object.keys(rooms).length > 0) await link.client.hSet(keys.rooms, rooms);
      let online = 0;
      for (const node of await link.client.sMembers(keys.nodes)) {
        if (node === nodeId || await link.client.exists(keys.node(node))) {
          online += await link.client.hLen(keys.nodeMembers(node));
        } else await this.#reap(node);
      }
      this.online = online;
    });
  }

  /**
   * Every heartbeat, and when the link is back: after any failure, put this
   * node's state in Redis right and catch the rooms up; then the heartbeat.
   * (A failure marks the link dirty again: the next beat tries again.)
   */
  async #maintain(): Promise<void> {
    const { link, feeds } = this.#host;
    if (link.takeDirty()) {
      await link.attempt(async () => {
        await this.#reconcile();
        await feeds.catchUp();
      });
    }
    await this.#beat();
  }

  /**
   * Puts Redis's view of this node right after an outage: what it holds for
   * members gone meanwhile is removed, and every member is registered
   * again (a nick taken meanwhile makes its member a guest, told so).
   */
  async #reconcile(): Promise<void> {
    const { link, keys, nodeId, local } = this.#host;
    const client = link.client;
    const placed = await client.hGetAll(keys.nodeMembers(nodeId));
    for (const [ref, roomKey] of Object.entries(placed)) {
      if (local.get(ref)?.roomKey === roomKey) continue;
      await exitRoom(link, keys, nodeId, ref, roomKey);
    }
    const held = new Set([...local.values()].map((member) => nameKey(member.nick)));
    for (const key of await client.sMembers(keys.nodeNicks(nodeId))) {
      if (held.has(key)) continue;
      // Freed only if one of this node's members still holds it (another
      // node may have claimed it meanwhile); it leaves this node's set anyway.
      await link.eval(RELEASE, [keys.nick(key)], [nodeId, "node"]);
      await client.sRem(keys.nodeNicks(nodeId), key);
    }
    for (const [ref, member] of local) {
      if (!(await this.#host.claim(nameKey(member.nick), ref))) {
        const guest = this.#host.nextGuest();
        member.nick = guest;
        await this.#host.claim(nameKey(guest), ref);
        this.#host.listener()?.nickLost(ref, guest);
      }
      if (member.roomKey !== null) {
        const [name] = await link.eval(ENTER, enterKeys(keys, member.roomKey), [
          ref,
          member.nick,
          member.roomKey,
          member.room,
          "0",
          this.#host.newEpoch(),
        ]) as [string];
        await client.hSet(keys.nodeMembers(nodeId), ref, member.roomKey);
        await client.hSet(keys.rooms, member.roomKey, name);
      }
    }
  }

  /**
   * Removes a dead node's members and frees their nicks (one node does it,
   * holding the reaper lock; each room's step atomic on its slot), and
   * tells the hub.
   */
  async #reap(node: string): Promise<void> {
    const { link, keys } = this.#host;
    const won = await link.client.set(keys.reaper(node), this.#host.nodeId, {
      NX: true,
      PX: REAPER_LOCK_MS,
    });
    if (won === null) return;
    const lost = [];
    const placed = await link.client.hGetAll(keys.nodeMembers(node));
    for (const [ref, roomKey] of Object.entries(placed)) {
      const [left, record] = await exitRoom(link, keys, node, ref, roomKey);
      if (record === null) continue;
      const { n, m } = JSON.parse(record);
      lost.push({ roomKey, room: String(m), nick: String(n), left });
    }
    for (const key of await link.client.sMembers(keys.nodeNicks(node))) {
      await link.eval(RELEASE, [keys.nick(key)], [node, "node"]);
    }
    await link.client.del([keys.nodeMembers(node), keys.nodeNicks(node), keys.node(node)]);
    await link.client.sRem(keys.nodes, node);
    this.#host.log({
      event: "warning",
      reason: `node ${node} is gone; ${lost.length} of its members leave`,
    });
    if (lost.length > 0) this.#host.listener()?.membersLost(lost);
  }
}

/**
 * Takes `ref` (a member of node `nodeId`) out of `roomKey` in Redis: the
 * room's step, then the node's record, then the rooms' list when the room
 * is empty (a node with members there puts it back on its next heartbeat,
 * should an entry have raced this). Returns the members left and the
 * member's record (null when it was not there).
 */
export async function exitRoom(
  link: RedisLink,
  keys: ClusterKeys,
  nodeId: string,
  ref: MemberRef,
  roomKey: string,
): Promise<[number, string | null]> {
  const [left, record] = await link.eval(EXIT, exitKeys(keys, roomKey), [
    ref,
    roomKey === LOBBY_KEY ? "1" : "0",
  ]) as [number, string | null];
  await link.client.hDel(keys.nodeMembers(nodeId), ref);
  if (Number(left) === 0) await link.client.hDel(keys.rooms, roomKey);
  return [Number(left), record ?? null];
}
