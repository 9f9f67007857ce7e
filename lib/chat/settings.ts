/**
 * The hub's options, their defaults and their checks: a bad value throws
 * when the hub (and so the server) is made, never later. Pure.
 *
 * @module
 */

import {
  DEFAULT_ANNOUNCE_LIMIT,
  DEFAULT_BURST,
  DEFAULT_HISTORY,
  DEFAULT_HISTORY_BYTES,
  DEFAULT_IDLE_TIMEOUT_SECONDS,
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_MAX_QUEUE_BYTES,
  DEFAULT_MSG_BYTES_RATE,
  DEFAULT_RATE,
  DEFAULT_ROOM_HISTORY_BYTES,
  DEFAULT_SERVER_NAME,
  IP_BUDGET_MEMBERS,
  MAX_HISTORY,
  MAX_MAX_LINE_BYTES,
  MIN_INPUT_BYTES_BURST,
  MIN_INPUT_BYTES_RATE,
  MIN_MAX_LINE_BYTES,
} from "../support/constants.ts";
import type { Logger } from "../support/log.ts";
import { checkNumber, optionError } from "../support/options.ts";
import { sanitizeText } from "./protocol.ts";

/** Options of {@linkcode ChatHub}, checked when it is made. */
export interface ChatHubOptions {
  /** Name in the welcome line. @default {"parley"} */
  name?: string;
  /** Lines replayed per room to a member who joins (0 = off). @default {20} */
  history?: number;
  /** Bytes of history kept per room. @default {65536} */
  roomHistoryBytes?: number;
  /** Bytes of history kept over all rooms. @default {16777216} */
  historyBytes?: number;
  /** Longest input line in bytes (named in the `line too long` error). @default {4096} */
  maxLineBytes?: number;
  /** Queue bound of the transports (named in the `too slow` error). @default {1048576} */
  maxQueueBytes?: number;
  /** Lines per second one member may send (0 = no limit). @default {10} */
  rate?: number;
  /** Lines one member may send at once above the rate. @default {20} */
  burst?: number;
  /** Lines per second from one IP address, its members together (0 = no limit). @default {4 × rate} */
  ipRate?: number;
  /** Lines one IP address may send at once above its rate. @default {4 × burst} */
  ipBurst?: number;
  /**
   * Bytes per second of private messages one IP address may send one member
   * (0 = no limit); the burst is four seconds' worth. @default {16384}
   */
  msgBytesRate?: number;
  /** Rooms with more members than this do not announce joins and leaves (0 = always). @default {200} */
  announceLimit?: number;
  /** Seconds without a non-empty line before a member is closed (0 = never). @default {1800} */
  idleTimeout?: number;
  /** Receives connect, disconnect and nick events; its errors are swallowed. @default {silent} */
  logger?: Logger;
  /** Milliseconds since the epoch, now. @default {Date.now} */
  clock?: () => number;
}

const HUB = "Cannot create ChatHub";

/** The validated form of {@linkcode ChatHubOptions}. */
export type ChatHubSettings = Readonly<Required<Omit<ChatHubOptions, "logger" | "clock">>>;

/**
 * Checks hub options and fills in the defaults; a bad value throws a
 * `RangeError` (or `TypeError`) naming the option, so a server refuses to
 * start rather than misbehave later.
 */
export function chatHubSettings(options: ChatHubOptions = {}): ChatHubSettings {
  const name = sanitizeText(options.name ?? DEFAULT_SERVER_NAME).trim();
  if (typeof options.name !== "undefined" && typeof options.name !== "string") {
    throw optionError(TypeError, HUB, "name", "must be a string", String(options.name));
  }
  if (name === "") throw optionError(RangeError, HUB, "name", "must not be empty");
  const rate = checkNumber(HUB, "rate", options.rate ?? DEFAULT_RATE, { min: 0, max: 1e9 });
  const burst = checkNumber(HUB, "burst", options.burst ?? DEFAULT_BURST, {
    min: 1,
    max: 1e9,
    integer: true,
  });
  return {
    name,
    history: checkNumber(HUB, "history", options.history ?? DEFAULT_HISTORY, {
      min: 0,
      max: MAX_HISTORY,
      integer: true,
    }),
    roomHistoryBytes: checkNumber(
      HUB,
      "roomHistoryBytes",
      options.roomHistoryBytes ?? DEFAULT_ROOM_HISTORY_BYTES,
      { min: 1024, max: 2 ** 30, integer: true },
    ),
    historyBytes: checkNumber(HUB, "historyBytes", options.historyBytes ?? DEFAULT_HISTORY_BYTES, {
      min: 1024,
      max: 2 ** 40,
      integer: true,
    }),
    maxLineBytes: checkNumber(HUB, "maxLineBytes", options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES, {
      min: MIN_MAX_LINE_BYTES,
      max: MAX_MAX_LINE_BYTES,
      integer: true,
    }),
    maxQueueBytes: checkNumber(
      HUB,
      "maxQueueBytes",
      options.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES,
      { min: 4096, max: 2 ** 40, integer: true },
    ),
    rate,
    burst,
    ipRate: checkNumber(HUB, "ipRate", options.ipRate ?? IP_BUDGET_MEMBERS * rate, {
      min: 0,
      max: 1e9,
    }),
    ipBurst: checkNumber(HUB, "ipBurst", options.ipBurst ?? IP_BUDGET_MEMBERS * burst, {
      min: 1,
      max: 1e9,
      integer: true,
    }),
    msgBytesRate: checkNumber(HUB, "msgBytesRate", options.msgBytesRate ?? DEFAULT_MSG_BYTES_RATE, {
      min: 0,
      max: 1e12,
    }),
    announceLimit: checkNumber(
      HUB,
      "announceLimit",
      options.announceLimit ?? DEFAULT_ANNOUNCE_LIMIT,
      { min: 0, max: 1e9, integer: true },
    ),
    idleTimeout: checkNumber(
      HUB,
      "idleTimeout",
      options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_SECONDS,
      { min: 0, max: 1e9 },
    ),
  };
}

/** Input byte budgets (bytes per second and burst) that transports enforce. */
export interface InputBudgetSettings {
  /** One connection: 0 = no budget. */
  connection: { rate: number; burst: number };
  /** All connections of one IP address together: 0 = no budget. */
  address: { rate: number; burst: number };
}

/**
 * The input byte budgets that follow from the line budgets: no more bytes
 * per second than the lines a member (or an address) may send could fill,
 * with floors so that ordinary use never waits. Off when the line budget
 * is off. Past its budget, a connection is not read from for a while
 * (TCP backpressure), so a flood of lines costs a bounded amount of CPU.
 */
export function inputBudgets(settings: ChatHubSettings): InputBudgetSettings {
  const budget = (rate: number, burst: number, members: number) =>
    rate === 0 ? { rate: 0, burst: 0 } : {
      rate: Math.max(MIN_INPUT_BYTES_RATE * members, rate * settings.maxLineBytes),
      burst: Math.max(MIN_INPUT_BYTES_BURST * members, burst * settings.maxLineBytes),
    };
  return {
    connection: budget(settings.rate, settings.burst, 1),
    address: budget(settings.ipRate, settings.ipBurst, IP_BUDGET_MEMBERS),
  };
}
