/**
 * Moderation shared by every node of a cluster through Redis: bans,
 * registered nicks and topics live in three hashes
 * (`CLUSTER:mod:bans`, `CLUSTER:mod:registrations`, `CLUSTER:mod:topics`,
 * one JSON value per field), and every change is published on
 * `CLUSTER:mod` so that the other nodes apply it at once (a ban made on
 * node A refuses the address at node B's admission from then on). A node
 * reads the hashes when it starts, and again whenever its subscription
 * comes back after an outage (changes published meanwhile were missed).
 *
 * Its own link (two connections) keeps it apart from the directory's.
 * While Redis is down a change holds on the node that made it and is
 * written nowhere else (logged); Redis's own persistence (RDB, AOF) keeps
 * the hashes across a restart of Redis.
 *
 * @module
 */

import type {
  Ban,
  Moderation,
  ModerationChange,
  Registration,
  SharedModeration,
  Topic,
} from "../chat/moderation.ts";
import { type Logger, safeLogger, silentLogger } from "../support/log.ts";
import { DEFAULT_CLUSTER } from "../support/constants.ts";
import { RedisLink } from "./redis_link.ts";

/** Options of {@linkcode RedisModeration.open}. */
export interface RedisModerationOptions {
  /** `redis://HOST:PORT`, or a Redis Cluster's seeds separated by commas. */
  url: string;
  /** The one URL is a Redis Cluster (several URLs imply it). @default {false} */
  redisCluster?: boolean;
  /** Servers with the same Redis and cluster name share moderation. @default {"parley"} */
  cluster?: string;
  /** Receives outages and changes that could not be shared. @default {silent} */
  logger?: Logger;
  /** Milliseconds to reach Redis at start before giving up. @default {10000} */
  connectTimeout?: number;
}

/** Milliseconds `close()` lets writes under way finish. */
const CLOSE_WAIT_MS = 2000;

/** The key names of a cluster's moderation. */
function moderationKeys(cluster: string) {
  return {
    bans: `${cluster}:mod:bans`,
    registrations: `${cluster}:mod:registrations`,
    topics: `${cluster}:mod:topics`,
    channel: `${cluster}:mod`,
  };
}

/** A cluster's shared moderation (see the module documentation). */
export class RedisModeration implements SharedModeration {
  snapshot: readonly ModerationChange[] = [];
  readonly #link: RedisLink;
  readonly #keys: ReturnType<typeof moderationKeys>;
  readonly #log: Logger;
  readonly #origin = crypto.randomUUID();
  #moderation: Moderation | null = null;
  /** Changes received before `attach`. */
  #early: ModerationChange[] = [];

  private constructor(link: RedisLink, cluster: string, log: Logger) {
    this.#link = link;
    this.#keys = moderationKeys(cluster);
    this.#log = log;
  }

  /** Connects, subscribes and reads what is shared; a `ConnectionError` when Redis cannot be reached. */
  static async open(options: RedisModerationOptions): Promise<RedisModeration> {
    const log = safeLogger(options.logger ?? silentLogger);
    const urls = options.url.split(",").map((url) => url.trim()).filter((url) => url !== "");
    const cluster = options.redisCluster === true || urls.length > 1;
    const link = await RedisLink.open(urls, log, options.connectTimeout ?? 10_000, cluster);
    const shared = new RedisModeration(link, options.cluster ?? DEFAULT_CLUSTER, log);
    try {
      await link.subscribe(shared.#keys.channel, (message: string) => shared.#onMessage(message));
      shared.snapshot = await shared.#load();
    } catch (error) {
      await link.close(0);
      throw error;
    }
    // After an outage (or a failover's new subscriptions) what is shared is read again.
    link.onResubscribed(() => link.background(shared.#reload()));
    return shared;
  }

  attach(moderation: Moderation): void {
    this.#moderation = moderation;
    for (const change of this.#early.splice(0)) moderation.applyRemote(change);
  }

  record(change: ModerationChange): void {
    this.#link.background(
      this.#write(change).catch((error) => {
        this.#log({
          event: "warning",
          reason: `redis: a ${change.kind} was not shared with the other servers ` +
            `(${error instanceof Error ? error.message : String(error)}); it holds on this one`,
        });
        throw error;
      }),
    );
  }

  async close(): Promise<void> {
    await this.#link.close(CLOSE_WAIT_MS);
  }

  async #write(change: ModerationChange): Promise<void> {
    const { client } = this.#link;
    const keys = this.#keys;
    switch (change.kind) {
      case "remote": // published only
        break;
      case "ban":
        await client.hSet(keys.bans, change.ban.mask, JSON.stringify(change.ban));
        break;
      case "unban":
        await client.hDel(keys.bans, change.mask);
        break;
      case "register":
        await client.hSet(keys.registrations, change.key, JSON.stringify(change.registration));
        break;
      case "unregister":
        await client.hDel(keys.registrations, change.key);
        break;
      case "topic":
        if (change.topic === null) await client.hDel(keys.topics, change.key);
        else await client.hSet(keys.topics, change.key, JSON.stringify(change.topic));
    }
    await this.#link.publish(keys.channel, JSON.stringify({ origin: this.#origin, change }));
  }

  async #load(): Promise<ModerationChange[]> {
    const { client } = this.#link;
    const [bans, registrations, topics] = await Promise.all([
      client.hGetAll(this.#keys.bans),
      client.hGetAll(this.#keys.registrations),
      client.hGetAll(this.#keys.topics),
    ]);
    const now = Date.now();
    const changes: ModerationChange[] = [];
    for (const value of Object.values(bans)) {
      const ban = parse<Ban>(value);
      if (ban !== null && (ban.until === null || ban.until > now)) {
        changes.push({ kind: "ban", ban });
      }
    }
    for (const [key, value] of Object.entries(registrations)) {
      const registration = parse<Registration>(value);
      if (registration !== null) changes.push({ kind: "register", key, registration });
    }
    for (const [key, value] of Object.entries(topics)) {
      const topic = parse<Topic>(value);
      if (topic !== null) changes.push({ kind: "topic", key, topic });
    }
    return changes;
  }

  async #reload(): Promise<void> {
    const changes = await this.#load();
    if (this.#moderation !== null) this.#moderation.reset(changes);
    else this.snapshot = changes;
  }

  #onMessage(message: string): void {
    const parsed = parse<{ origin: string; change: ModerationChange }>(message);
    if (parsed === null || parsed.origin === this.#origin) return;
    const change = parsed.change;
    const kinds = ["ban", "unban", "register", "unregister", "topic", "remote"];
    if (typeof change !== "object" || change === null || !kinds.includes(change.kind)) return;
    if (this.#moderation === null) this.#early.push(change);
    else this.#moderation.applyRemote(change);
  }
}

function parse<T>(text: string): T | null {
  try {
    const value = JSON.parse(text);
    return typeof value === "object" && value !== null ? value as T : null;
  } catch {
    return null;
  }
}
