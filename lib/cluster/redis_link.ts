/**
 * A node's link to Redis: one client for commands and one for pub/sub
 * (npm `redis`, node-redis 5, its offline queue off so that a command
 * while Redis is down fails at once), the outage bookkeeping (logged once
 * when it starts and once when it ends), and the commands under way.
 *
 * On Redis Cluster (several seed URLs, or `cluster: true`) it is node-redis's
 * cluster client, which routes each command to the master of its key's
 * slot and keeps its own pub/sub connections; room and node channels are
 * then sharded (`SSUBSCRIBE`, `SPUBLISH`). When a command fails on a
 * cluster, the link asks the cluster for its slots again (a failover
 * moved them), at most every `REDISCOVER_MS`.
 *
 * @module
 */

import { createClient, createCluster } from "redis";
import { LINK_DOWN, type LinkDown } from "../chat/directory.ts";
import { ConnectionError } from "../support/errors.ts";
import { settleWithin } from "../support/deadline.ts";
import type { Logger } from "../support/log.ts";
import { errorText } from "../net/conn.ts";

type RedisClient = ReturnType<typeof createClient>;
type RedisCluster = ReturnType<typeof createCluster>;

/** A channel's listener: the message and its channel. */
export type ChannelListener = (message: string, channel: string) => void;

/**
 * The commands the cluster code uses, alike on one Redis and on a Redis
 * Cluster (where each is routed by its first key).
 */
export interface RedisCommands {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, options?: Record<string, unknown>): Promise<string | null>;
  del(keys: string | string[]): Promise<number>;
  exists(key: string): Promise<number>;
  incrBy(key: string, by: number): Promise<number>;
  mGet(keys: string[]): Promise<(string | null)[]>;
  sAdd(key: string, member: string): Promise<number>;
  sRem(key: string, member: string): Promise<number>;
  sMembers(key: string): Promise<string[]>;
  hSet(key: string, field: string, value: string): Promise<number>;
  hSet(key: string, fields: Record<string, string>): Promise<number>;
  hDel(key: string, field: string): Promise<number>;
  hGetAll(key: string): Promise<Record<string, string>>;
  hLen(key: string): Promise<number>;
  zCard(key: string): Promise<number>;
  xRange(
    key: string,
    start: string,
    end: string,
  ): Promise<{ id: string; message: Record<string, string> }[]>;
}

/** Milliseconds between two rediscoveries of a cluster's slots. */
const REDISCOVER_MS = 500;

/** The connections to Redis (or to a Redis Cluster) and their state. */
export class RedisLink {
  /** Commands (routed by key on a cluster). */
  readonly client: RedisCommands;
  /** True on Redis Cluster: channels are sharded. */
  readonly cluster: boolean;
  readonly #client: RedisClient | RedisCluster;
  /** Subscriptions only (node-redis resubscribes by itself after a reconnect). */
  readonly #subscriber: RedisClient | RedisCluster;
  readonly #log: Logger;
  readonly #pending = new Set<Promise<unknown>>();
  readonly #onUp: (() => void)[] = [];
  readonly #onResubscribed: (() => void)[] = [];
  #down = false;
  #dirty = false;
  #closed = false;

  #lastRediscover = 0;

  private constructor(urls: string[], cluster: boolean, logger: Logger) {
    this.#log = logger;
    this.cluster = cluster;
    const options = {
      disableOfflineQueue: true,
      socket: { reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 500) },
    };
    if (cluster) {
      // One client: it keeps its pub/sub connections apart by itself.
      this.#client = this.#subscriber = createCluster({
        rootNodes: urls.map((url) => ({ url })),
        defaults: options,
      });
    } else {
      this.#client = createClient({ url: urls[0], ...options });
      this.#subscriber = this.#client.duplicate();
    }
    this.client = this.#client as unknown as RedisCommands;
  }

  /**
   * Connects; a `ConnectionError` when Redis does not answer within
   * `timeoutMs`. `urls`: one Redis, or seeds of a Redis Cluster (several
   * URLs, or one with `cluster`).
   */
  static async open(
    urls: string[],
    logger: Logger,
    timeoutMs: number,
    cluster = urls.length > 1,
  ): Promise<RedisLink> {
    const link = new RedisLink(urls, cluster, logger);
    const clients = cluster ? [link.#client] : [link.#client, link.#subscriber];
    let lastError: unknown = null;
    const noteError = (error: unknown) => (lastError = error);
    for (const client of clients) client.on("error", noteError);
    const connected = Promise.all(clients.map((client) => client.connect())).then(
      () => true,
      (error) => (lastError ??= error, false),
    );
    const ok = await settleWithin(connected, timeoutMs, false);
    for (const client of clients) client.off("error", noteError);
    if (!ok) {
      link.#disconnect();
      const where = urls.join(",");
      throw new ConnectionError(
        `cannot reach Redis at ${where}: ${errorText(lastError ?? `no answer in ${timeoutMs} ms`)}`,
        { cause: lastError },
      );
    }
    const resubscribed = () => {
      for (const listener of link.#onResubscribed) listener();
    };
    if (cluster) {
      const cluster = link.#client as RedisCluster;
      cluster.on("error", (error: Error) => link.down(error));
      cluster.on("node-error", (error: Error) => link.down(error));
      cluster.on("node-ready", () => {
        link.#up();
        resubscribed();
      });
    } else {
      link.#client.on("error", (error: Error) => link.down(error));
      link.#subscriber.on("error", (error: Error) => link.down(error));
      link.#client.on("ready", () => link.#up());
      link.#subscriber.on("ready", resubscribed);
    }
    return link;
  }

  /** Subscribes `listener` to `channel` (sharded on a cluster). */
  async subscribe(channel: string, listener: ChannelListener): Promise<void> {
    if (this.cluster) await (this.#subscriber as RedisCluster).sSubscribe(channel, listener);
    else await (this.#subscriber as RedisClient).subscribe(channel, listener);
  }

  /** Unsubscribes `listener` from `channel`. */
  async unsubscribe(channel: string, listener: ChannelListener): Promise<void> {
    if (this.cluster) await (this.#subscriber as RedisCluster).sUnsubscribe(channel, listener);
    else await (this.#subscriber as RedisClient).unsubscribe(channel, listener);
  }

  /** Publishes on `channel` (sharded on a cluster); the receivers. */
  publish(channel: string, message: string): Promise<number> {
    return this.cluster
      ? (this.#client as RedisCluster).sPublish(channel, message)
      : (this.#client as RedisClient).publish(channel, message);
  }

  /** The publish command of scripts (`SPUBLISH` on a cluster). */
  get publishCommand(): string {
    return this.cluster ? "SPUBLISH" : "PUBLISH";
  }

  /** Calls `listener` each time the command client is back after an outage. */
  onUp(listener: () => void): void {
    this.#onUp.push(listener);
  }

  /** Calls `listener` each time the subscriber (re)connects. */
  onResubscribed(listener: () => void): void {
    this.#onResubscribed.push(listener);
  }

  /**
   * Notes a failure: the first of an outage is logged, and every one marks
   * the link dirty (some write may be lost: see {@linkcode RedisLink.takeDirty}).
   */
  down(error: unknown): void {
    if (this.#closed) return;
    this.#dirty = true;
    if (this.cluster) this.#rediscover();
    if (this.#down) return;
    this.#down = true;
    this.#log({ event: "warning", reason: `redis link down: ${errorText(error)}` });
  }

  /**
   * True once after any failure, when the command client is connected
   * again: what this node holds in Redis must be put right. (A command can
   * fail after the reconnection it raced, so `onUp` alone is not enough.)
   */
  takeDirty(): boolean {
    if (!this.#dirty || !this.#ready()) return false;
    this.#dirty = false;
    return true;
  }

  /**
   * Runs `work` (commands on this link): its answer, or, when it fails,
   * {@linkcode LINK_DOWN} (the failure noted as an outage).
   */
  async attempt<T>(work: () => Promise<T>): Promise<T | LinkDown> {
    try {
      return await work();
    } catch (error) {
      this.down(error);
      return LINK_DOWN;
    }
  }

  /** Runs a Lua script. */
  eval(script: string, keys: string[], args: string[]): Promise<unknown> {
    return this.#client.eval(script, { keys, arguments: args });
  }

  /**
   * Runs work nobody waits for: tracked until it settles (so `close()` can
   * let it finish), a failure noted as an outage, never unhandled.
   */
  background(work: Promise<unknown>): void {
    this.#pending.add(work);
    work.catch((error) => this.down(error)).finally(() => this.#pending.delete(work));
  }

  /** Like {@linkcode RedisLink.background}, for work whose result is awaited. */
  track<T>(work: Promise<T>): Promise<T> {
    this.#pending.add(work);
    const forget = () => this.#pending.delete(work);
    work.then(forget, forget);
    return work;
  }

  /** Lets work under way finish (at most `ms`), then disconnects. */
  async close(ms: number): Promise<void> {
    if (this.#closed) return;
    await settleWithin(Promise.allSettled([...this.#pending]), ms, undefined);
    this.#closed = true;
    this.#disconnect();
  }

  /** True when both connections (commands and subscriptions) are up (`/healthz`). */
  get up(): boolean {
    const subscriberUp = this.cluster
      ? (this.#subscriber as RedisCluster).isOpen
      : (this.#subscriber as RedisClient).isReady;
    return this.#ready() && subscriberUp;
  }

  /** True when commands can be sent. */
  #ready(): boolean {
    return this.cluster
      ? (this.#client as RedisCluster).isOpen
      : (this.#client as RedisClient).isReady;
  }

  /**
   * A cluster's slots asked for again (a master died and its replica took
   * over: the slots moved), at most every `REDISCOVER_MS`; after a
   * failover every room is caught up (what it missed: a gap notice).
   */
  #rediscover(): void {
    const now = Date.now();
    if (this.#closed || now - this.#lastRediscover < REDISCOVER_MS) return;
    this.#lastRediscover = now;
    // node-redis rediscovers by itself on MOVED only; a dead master answers nothing.
    // deno-lint-ignore no-explicit-any
    const slots = (this.#client as any)._slots;
    const start = slots?.masters?.find((master: { client?: unknown }) => master.client)?.client;
    if (slots === undefined || start === undefined) return;
    slots.rediscover(start).then(
      () => this.#resubscribeAll(),
      () => {/* tried again on the next failure */},
    );
  }

  /** After a rediscovery: every sharded subscription made again on its slot's master. */
  #resubscribeAll(): void {
    this.#up();
    for (const listener of this.#onResubscribed) listener();
  }

  #up(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#log({ event: "warning", reason: "redis link restored" });
    for (const listener of this.#onUp) listener();
  }

  #disconnect(): void {
    for (const client of new Set([this.#subscriber, this.#client])) {
      try {
        client.destroy();
      } catch { /* not connected */ }
    }
  }
}
