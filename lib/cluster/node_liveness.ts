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
import {
  type ClusterKeys,
  ENTER,
  enterKeys,
  EXIT,
  exitKeys,
  nickKeys,
  REAP,
  RELEASE,
} from "./scripts.ts";

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
      this.online = await link.client.hLen(keys.members);
      for (const node of await link.client.sMembers(keys.nodes)) {
        if (node === nodeId) continue;
        if (await link.client.exists(keys.node(node))) continue;
        await this.#reap(node);
      }
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
    for (const ref of await client.sMembers(keys.nodeMembers(nodeId))) {
      if (local.get(ref)?.roomKey) continue;
      const record = await client.hGet(keys.members, ref);
      const roomKey = record === null ? null : roomOf(record);
      if (roomKey === null) {
        await client.sRem(keys.nodeMembers(nodeId), ref);
      } else {
        await link.eval(EXIT, exitKeys(keys, nodeId, roomKey), [ref, roomKey, LOBBY_KEY]);
      }
    }
    const held = new Set([...local.values()].map((member) => nameKey(member.nick)));
    for (const key of await client.sMembers(keys.nodeNicks(nodeId))) {
      if (held.has(key)) continue;
      // Freed only if one of this node's members still holds it (another
      // node may have claimed it meanwhile); it leaves this node's set anyway.
      const holder = await client.get(keys.nick(key));
      const ours = holder !== null && holder.startsWith(`${nodeId}/`) ? holder : "";
      await link.eval(RELEASE, nickKeys(keys, nodeId, key), [ours, key]);
    }
    for (const [ref, member] of local) {
      if (!(await this.#host.claim(nameKey(member.nick), ref))) {
        const guest = this.#host.nextGuest();
        member.nick = guest;
        await this.#host.claim(nameKey(guest), ref);
        this.#host.listener()?.nickLost(ref, guest);
      }
      if (member.roomKey !== null) {
        await link.eval(ENTER, enterKeys(keys, nodeId, member.roomKey), [
          ref,
          member.nick,
          member.roomKey,
          member.room,
          "0",
        ]);
      }
    }
  }

  /** Removes a dead node's members and frees their nicks (one node does it), and tells the hub. */
  async #reap(node: string): Promise<void> {
    const { link, keys } = this.#host;
    const won = await link.client.set(keys.reaper(node), this.#host.nodeId, {
      NX: true,
      PX: REAPER_LOCK_MS,
    });
    if (won === null) return;
    const reapKeys = [
      keys.nodeMembers(node),
      keys.nodeNicks(node),
      keys.members,
      keys.nodes,
      keys.node(node),
      keys.rooms,
    ];
    const gone = await link.eval(REAP, reapKeys, [
      node,
      keys.roomChannel(""),
      LOBBY_KEY,
      keys.nick(""),
    ]) as (string | number)[];
    this.#host.log({
      event: "warning",
      reason: `node ${node} is gone; ${gone.length / 4} of its members leave`,
    });
    const lost = [];
    for (let i = 0; i < gone.length; i += 4) {
      lost.push({
        roomKey: String(gone[i]),
        room: String(gone[i + 1]),
        nick: String(gone[i + 2]),
        left: Number(gone[i + 3]),
      });
    }
    if (lost.length > 0) this.#host.listener()?.membersLost(lost);
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
