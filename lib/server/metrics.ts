/**
 * `GET /metrics`: the chat server's metrics in the Prometheus text format,
 * through npm `prom-client` (it runs under Deno: its registry, counters,
 * gauges and histogram are plain JavaScript). Its default process metrics
 * are not used: under Deno their event-loop figures come out wrong
 * (`monitorEventLoopDelay` reports a minimum of 9.2e9 s and a mean of
 * `Nan`), so the event-loop delay is measured here with a timer, and the
 * memory read from `Deno.memoryUsage()`.
 *
 * Where the figures come from, so that no hot path pays for them:
 * - the server's log events (connects, disconnects and their reasons,
 *   refusals), seen through {@linkcode ServerMetrics.tap} on the logger
 *   the server already calls; refusals summed by the refusal log's
 *   one-second window arrive with their count up to a second late;
 * - the hub's counters (lines in and out, lines refused), bumped in place;
 * - gauges read when scraped: members, rooms, history bytes, bytes queued
 *   to members, the store's queue, the Redis link (a PING per scrape).
 *
 * @module
 */

import client from "prom-client";
import type { ChatHub } from "../chat/hub.ts";
import type { HubCounters } from "../chat/counters.ts";
import type { Admission } from "../net/admission.ts";
import type { NodeStore } from "../store/node_store.ts";
import type { LogEvent, Logger } from "../support/log.ts";
import { settleWithin } from "../support/deadline.ts";
import type { HttpAnswer } from "./health.ts";

/** What the metrics read when scraped. */
export interface MetricsSources {
  hub: ChatHub;
  admission: Admission;
  store: NodeStore | null;
}

/** The content type of the Prometheus text format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Milliseconds between two samples of the event-loop delay. */
export const LOOP_SAMPLE_MS = 100;

/** Milliseconds a scrape waits for Redis to answer a PING. */
export const REDIS_PING_TIMEOUT_MS = 1000;

/** Disconnect reasons counted as drops, by their label. */
const DROP_REASONS: Readonly<Record<string, string>> = {
  "too slow": "too_slow",
  "ping timeout": "ping_timeout",
  "idle": "idle",
};

/** The label of a refusal's reason (the reason text carries addresses and numbers). */
export function refusalLabel(reason: string): string {
  if (reason.startsWith("server full")) return "server_full";
  if (reason.startsWith("too many connections from")) return "per_ip";
  return "other";
}

/** The metrics of one chat server (see the module doc). */
export class ServerMetrics {
  readonly registry: client.Registry = new client.Registry();
  #sources: MetricsSources | null = null;
  readonly #members = new Map<string, number>();
  readonly #seen: HubCounters = { linesIn: 0, linesOut: 0, floodDrops: 0, longLineDrops: 0 };
  readonly #loopTimer: ReturnType<typeof setInterval>;
  readonly #admitted: client.Counter;
  readonly #refused: client.Counter;
  readonly #drops: client.Counter;
  readonly #loopDelay: client.Histogram;

  constructor() {
    const registers = [this.registry];
    // prom-client calls `collect` on the metric: these reach this object.
    const sources = () => this.#sources;
    const delta = (counters: HubCounters, key: keyof HubCounters) => this.#delta(counters, key);
    const members = this.#members;
    new client.Gauge({
      name: "parley_connections",
      help:
        "Connections now: chat members by transport, and every admitted socket (state admitted)",
      labelNames: ["transport", "state"],
      registers,
      collect() {
        this.reset();
        for (const [transport, count] of members) {
          this.set({ transport, state: "member" }, count);
        }
        this.set(
          { transport: "all", state: "admitted" },
          sources()?.admission.clientCount ?? 0,
        );
      },
    });
    this.#admitted = new client.Counter({
      name: "parley_admitted_total",
      help: "Chat members admitted, by transport",
      labelNames: ["transport"],
      registers,
    });
    this.#refused = new client.Counter({
      name: "parley_refused_total",
      help: "Connections refused, by reason (server_full, per_ip)",
      labelNames: ["reason"],
      registers,
    });
    this.#drops = new client.Counter({
      name: "parley_drops_total",
      help:
        "Members dropped (too_slow, ping_timeout, idle) and lines refused (flood, line_too_long)",
      labelNames: ["reason"],
      registers,
      collect() {
        const counters = sources()?.hub.counters;
        if (counters === undefined) return;
        this.inc({ reason: "flood" }, delta(counters, "floodDrops"));
        this.inc({ reason: "line_too_long" }, delta(counters, "longLineDrops"));
      },
    });
    for (
      const [name, key, help] of [
        ["parley_lines_in_total", "linesIn", "Lines received from members"],
        ["parley_lines_out_total", "linesOut", "Lines (events) queued to members"],
      ] as const
    ) {
      new client.Counter({
        name,
        help,
        registers,
        collect() {
          const counters = sources()?.hub.counters;
          if (counters !== undefined) this.inc(delta(counters, key));
        },
      });
    }
    const gauge = (name: string, help: string, read: (sources: MetricsSources) => number) =>
      new client.Gauge({
        name,
        help,
        registers,
        collect() {
          const now = sources();
          if (now !== null) this.set(read(now));
        },
      });
    gauge("parley_members", "Chat members on this node", (s) => s.hub.memberCount);
    gauge("parley_online", "Chat members on every node", (s) => s.hub.directory.online());
    gauge("parley_history_bytes", "Bytes of room history kept here", (s) => s.hub.historyBytes);
    gauge(
      "parley_outbound_queue_bytes",
      "Bytes queued to members, not yet written",
      (s) => s.hub.queuedBytes(),
    );
    gauge(
      "parley_store_queue_bytes",
      "Bytes of history lines waiting for the store's next write",
      (s) => s.store?.journal?.stats.queuedBytes ?? 0,
    );
    gauge(
      "parley_store_up",
      "1 while the store writes history, 0 when memory only (no store, or it failed)",
      (s) => s.store?.journal?.stats.failure === null ? 1 : 0,
    );
    gauge(
      "parley_store_flushes",
      "Transactions the store has written",
      (s) => s.store?.journal?.stats.flushes ?? 0,
    );
    new client.Gauge({
      name: "parley_rooms",
      help: "Rooms with members",
      registers,
      async collect() {
        const rooms = await settleWithin(
          Promise.resolve(sources()?.hub.directory.rooms() ?? []),
          REDIS_PING_TIMEOUT_MS,
          null,
        );
        if (Array.isArray(rooms)) this.set(rooms.length);
      },
    });
    this.#loopDelay = new client.Histogram({
      name: "parley_event_loop_delay_seconds",
      help: `How late a ${LOOP_SAMPLE_MS} ms timer fires: the event loop's delay`,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    new client.Gauge({
      name: "parley_process_memory_bytes",
      help: "Memory of the process (rss, heap_total, heap_used, external)",
      labelNames: ["kind"],
      registers,
      collect() {
        const memory = Deno.memoryUsage();
        this.set({ kind: "rss" }, memory.rss);
        this.set({ kind: "heap_total" }, memory.heapTotal);
        this.set({ kind: "heap_used" }, memory.heapUsed);
        this.set({ kind: "external" }, memory.external);
      },
    });
    let expected = performance.now() + LOOP_SAMPLE_MS;
    this.#loopTimer = setInterval(() => {
      const now = performance.now();
      this.#loopDelay.observe(Math.max(0, now - expected) / 1000);
      expected = now + LOOP_SAMPLE_MS;
    }, LOOP_SAMPLE_MS);
    Deno.unrefTimer(this.#loopTimer);
  }

  /** Gives the metrics what they read when scraped (once the server is made). */
  attach(sources: MetricsSources): void {
    this.#sources = sources;
    const { directory } = sources.hub;
    const ping = directory.ping?.bind(directory);
    if (directory.linkDown === undefined || ping === undefined) return; // no cluster link
    const registers = [this.registry];
    new client.Gauge({
      name: "parley_redis_link_up",
      help: "1 while the link to Redis is up, 0 while down (only with --redis)",
      registers,
      collect() {
        this.set(directory.linkDown ? 0 : 1);
      },
    });
    new client.Gauge({
      name: "parley_redis_rtt_seconds",
      help: "Round trip of a PING to Redis, measured when scraped (the last one that succeeded)",
      registers,
      async collect() {
        if (directory.linkDown) return;
        const ms = await settleWithin(
          ping().catch(() => null),
          REDIS_PING_TIMEOUT_MS,
          null,
        );
        if (ms !== null) this.set(ms / 1000);
      },
    });
  }

  /** A logger that counts the events it sees, then passes them to `logger`. */
  tap(logger: Logger): Logger {
    return (event) => {
      this.#observe(event);
      logger(event);
    };
  }

  /** The answer to `GET /metrics`. */
  async answer(): Promise<HttpAnswer> {
    return {
      status: 200,
      body: await this.registry.metrics(),
      headers: { "content-type": METRICS_CONTENT_TYPE },
    };
  }

  /** Stops the event-loop timer (the server has finished). */
  close(): void {
    clearInterval(this.#loopTimer);
  }

  #observe(event: LogEvent): void {
    const transport = typeof event.transport === "string" ? event.transport : "unknown";
    if (event.event === "connect") {
      this.#members.set(transport, (this.#members.get(transport) ?? 0) + 1);
      this.#admitted.inc({ transport });
    } else if (event.event === "disconnect") {
      const left = (this.#members.get(transport) ?? 1) - 1;
      this.#members.set(transport, Math.max(0, left));
      const drop = DROP_REASONS[event.reason ?? ""];
      if (drop !== undefined) this.#drops.inc({ reason: drop });
    } else if (event.event === "refuse") {
      const count = typeof event.more === "number" ? event.more : 1;
      this.#refused.inc({ reason: refusalLabel(event.reason ?? "") }, count);
    }
  }

  /** How much `key` grew since the last scrape. */
  #delta(counters: HubCounters, key: keyof HubCounters): number {
    const delta = counters[key] - this.#seen[key];
    this.#seen[key] = counters[key];
    return Math.max(0, delta);
  }
}
