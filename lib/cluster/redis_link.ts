/**
 * A node's link to Redis: one client for commands and one for pub/sub
 * (npm `redis`, node-redis 5, its offline queue off so that a command
 * while Redis is down fails at once), the outage bookkeeping (logged once
 * when it starts and once when it ends), and the commands under way.
 *
 * @module
 */

import { createClient } from "redis";
import { LINK_DOWN, type LinkDown } from "../chat/directory.ts";
import { ConnectionError } from "../support/errors.ts";
import { settleWithin } from "../support/deadline.ts";
import type { Logger } from "../support/log.ts";
import { errorText } from "../net/conn.ts";

type RedisClient = ReturnType<typeof createClient>;

/** The two connections to Redis and their state. */
export class RedisLink {
  /** Commands and scripts. */
  readonly client: RedisClient;
  /** Subscriptions only (node-redis resubscribes by itself after a reconnect). */
  readonly subscriber: RedisClient;
  readonly #log: Logger;
  readonly #pending = new Set<Promise<unknown>>();
  readonly #onUp: (() => void)[] = [];
  readonly #onResubscribed: (() => void)[] = [];
  #down = false;
  #dirty = false;
  #closed = false;

  private constructor(url: string, logger: Logger) {
    this.#log = logger;
    this.client = createClient({
      url,
      disableOfflineQueue: true,
      socket: { reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 500) },
    });
    this.subscriber = this.client.duplicate();
  }

  /** Connects both clients; a `ConnectionError` when Redis does not answer within `timeoutMs`. */
  static async open(url: string, logger: Logger, timeoutMs: number): Promise<RedisLink> {
    const link = new RedisLink(url, logger);
    let lastError: unknown = null;
    const noteError = (error: unknown) => (lastError = error);
    link.client.on("error", noteError);
    link.subscriber.on("error", noteError);
    const connected = Promise.all([link.client.connect(), link.subscriber.connect()]).then(
      () => true,
      (error) => (lastError ??= error, false),
    );
    const ok = await settleWithin(connected, timeoutMs, false);
    link.client.off("error", noteError);
    link.subscriber.off("error", noteError);
    if (!ok) {
      link.#disconnect();
      throw new ConnectionError(
        `cannot reach Redis at ${url}: ${errorText(lastError ?? `no answer in ${timeoutMs} ms`)}`,
        { cause: lastError },
      );
    }
    link.client.on("error", (error: Error) => link.down(error));
    link.subscriber.on("error", (error: Error) => link.down(error));
    link.client.on("ready", () => link.#up());
    link.subscriber.on("ready", () => {
      for (const listener of link.#onResubscribed) listener();
    });
    return link;
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
    if (!this.#dirty || !this.client.isReady) return false;
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
    return this.client.eval(script, { keys, arguments: args });
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

  #up(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#log({ event: "warning", reason: "redis link restored" });
    for (const listener of this.#onUp) listener();
  }

  #disconnect(): void {
    for (const client of [this.subscriber, this.client]) {
      try {
        client.destroy();
      } catch { /* not connected */ }
    }
  }
}
