/**
 * What moderation keeps: operators (a file of names and password hashes),
 * bans (server-wide, by address prefix), mutes, room topics and registered
 * nicks, plus the throttle on password guesses. Pure: password hashing is
 * a {@linkcode PasswordHasher} given by the server (scrypt,
 * `lib/store/passwords.ts`), and what must outlive the process goes to the
 * {@linkcode ModerationSink}s (the embedded store, Redis) as
 * {@linkcode ModerationChange}s; the same changes, loaded at start or
 * received from another node, come back through
 * {@linkcode Moderation.apply}.
 *
 * Bounds: {@linkcode MAX_BANS} bans, {@linkcode MAX_REGISTRATIONS}
 * registered nicks and {@linkcode MAX_TOPICS} topics (past them the
 * command is refused with the bound), topics of at most
 * {@linkcode MAX_TOPIC_CHARS} characters, reasons of at most
 * {@linkcode MAX_REASON_CHARS}; the guess throttle remembers
 * {@linkcode MAX_GUESS_KEYS} addresses and nicks (past it the oldest is
 * forgotten). Operators and mutes belong to a connection and end with it.
 *
 * @module
 */

import type { Logger } from "../support/log.ts";
import { type IpMask, maskMatches, parseMask } from "./ip_mask.ts";
import type { ChatSession } from "./member.ts";

/** Hashes and checks passwords (slow on purpose, off the event loop). */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
}

/** A server-wide ban of an address prefix. */
export interface Ban {
  /** Canonical mask: `203.0.113.0/24`, `198.51.100.7/32`. */
  mask: string;
  reason: string;
  /** The operator who set it. */
  by: string;
  /** When it was set (ms since the epoch). */
  since: number;
  /** When it ends (ms), or null: until `/unban`. */
  until: number | null;
}

/** A room's topic. */
export interface Topic {
  /** The room's name as shown. */
  room: string;
  text: string;
  by: string;
  ts: number;
}

/** A registered nick. */
export interface Registration {
  /** The nick as registered (its case and script). */
  nick: string;
  /** The password's hash (see `lib/store/passwords.ts`). */
  hash: string;
  since: number;
}

/**
 * What an operator asks of the node where a member lives (a kick, a mute,
 * a ban of its address): sent through the cluster, never stored.
 */
export type RemoteAction =
  | { do: "kick"; by: string; reason: string }
  | { do: "mute"; by: string; until: number | null }
  | { do: "ban"; by: string; durationMs: number | null; reason: string };

/**
 * One change of what outlives the process (`key` is a `nameKey`), or a
 * `remote` action for the member `ref` of another node (passed on, not kept).
 */
export type ModerationChange =
  | { kind: "remote"; ref: string; action: RemoteAction }
  | { kind: "ban"; ban: Ban }
  | { kind: "unban"; mask: string }
  | { kind: "register"; key: string; registration: Registration }
  | { kind: "unregister"; key: string }
  | { kind: "topic"; key: string; topic: Topic | null };

/** Where changes go to outlive the process or reach other nodes. */
export interface ModerationSink {
  record(change: ModerationChange): void;
}

/**
 * Moderation shared by several nodes (`lib/cluster/redis_moderation.ts`):
 * what is shared when the node starts, then every change made elsewhere,
 * applied to the node's {@linkcode Moderation} as it comes.
 */
export interface SharedModeration extends ModerationSink {
  /** What was shared when it was opened. */
  readonly snapshot: readonly ModerationChange[];
  /** From now on, applies the changes of other nodes to `moderation`. */
  attach(moderation: Moderation): void;
  /** Stops sharing (lets writes under way finish). */
  close(): Promise<void>;
}

/** Bans kept at once. */
export const MAX_BANS = 10_000;
/** Registered nicks kept. */
export const MAX_REGISTRATIONS = 100_000;
/** Rooms with a topic. */
export const MAX_TOPICS = 10_000;
/** Characters of a topic. */
export const MAX_TOPIC_CHARS = 300;
/** Characters of a kick's or a ban's reason. */
export const MAX_REASON_CHARS = 200;
/** Addresses and nicks the guess throttle remembers. */
export const MAX_GUESS_KEYS = 10_000;
/**
 * Password hashes computed at once, every connection together (scrypt
 * takes 16 MiB and about 50 ms of a thread-pool thread each); more are
 * refused with "busy".
 */
export const MAX_PASSWORD_CHECKS = 8;
/** Wrong passwords one address (or against one nick) may try per window. */
export const DEFAULT_GUESSES = 5;
/** The guess throttle's window. */
export const DEFAULT_GUESS_WINDOW_MS = 60_000;

/** Options of {@linkcode Moderation}. */
export interface ModerationOptions {
  /** Operator names and their password hashes (`--operators FILE`). @default {none} */
  operators?: ReadonlyMap<string, string>;
  /** Hashes passwords; without one, `/oper` and `/register` are refused. @default {none} */
  hasher?: PasswordHasher;
  /** Wrong passwords per address, and per nick, in each window. @default {5} */
  guesses?: number;
  /** Milliseconds of the guess window. @default {60000} */
  guessWindowMs?: number;
  /** Logs `moderation` events (never a password). @default {silent} */
  logger?: Logger;
}

interface GuessRecord {
  failures: number;
  since: number;
}

/** Moderation state of one node (shared with others through its sinks). */
export class Moderation {
  readonly operators: ReadonlyMap<string, string>;
  readonly hasher: PasswordHasher | null;
  readonly guesses: number;
  readonly guessWindowMs: number;
  readonly sinks: ModerationSink[] = [];
  /** True when changes reach other nodes (`SharedModeration`): members there can be acted on. */
  shared = false;
  readonly #bans = new Map<string, { ban: Ban; mask: IpMask }>();
  readonly #registrations = new Map<string, Registration>();
  readonly #topics = new Map<string, Topic>();
  readonly #operatorOf = new WeakMap<ChatSession, string>();
  readonly #mutedUntil = new WeakMap<ChatSession, number>();
  /** The registered nick key each connection proved it owns. */
  readonly #owned = new WeakMap<ChatSession, string>();
  readonly #guessRecords = new Map<string, GuessRecord>();
  /** Password hashes being computed now. */
  #checks = 0;

  constructor(options: ModerationOptions = {}) {
    this.operators = options.operators ?? new Map();
    this.hasher = options.hasher ?? null;
    this.guesses = options.guesses ?? DEFAULT_GUESSES;
    this.guessWindowMs = options.guessWindowMs ?? DEFAULT_GUESS_WINDOW_MS;
    if (!Number.isInteger(this.guesses) || this.guesses < 1) {
      throw new RangeError(`Cannot create Moderation: guesses must be an integer ≥ 1`);
    }
    if (!(this.guessWindowMs > 0)) {
      throw new RangeError(`Cannot create Moderation: guessWindowMs must be > 0`);
    }
  }

  // ---- changes ----

  /** Applies a change loaded from the store or received from another node (not recorded again). */
  apply(change: ModerationChange): void {
    switch (change.kind) {
      case "remote": // for the node of its member (`onRemote`)
        return;
      case "ban": {
        const mask = parseMask(change.ban.mask);
        if (mask !== null) {
          this.#bans.set(mask.text, { ban: { ...change.ban, mask: mask.text }, mask });
        }
        return;
      }
      case "unban":
        this.#bans.delete(change.mask);
        return;
      case "register":
        this.#registrations.set(change.key, change.registration);
        return;
      case "unregister":
        this.#registrations.delete(change.key);
        return;
      case "topic":
        if (change.topic === null) this.#topics.delete(change.key);
        else this.#topics.set(change.key, change.topic);
    }
  }

  /**
   * Called after a change made on another node was applied (the hub
   * removes the members a ban covers). @default {nothing}
   */
  onRemote: ((change: ModerationChange) => void) | null = null;

  /** Applies a change made on another node, then tells {@linkcode Moderation.onRemote}. */
  applyRemote(change: ModerationChange): void {
    this.apply(change);
    this.onRemote?.(change);
  }

  /** Replaces bans, registrations and topics with `changes` (a fresh snapshot). */
  reset(changes: readonly ModerationChange[]): void {
    this.#bans.clear();
    this.#registrations.clear();
    this.#topics.clear();
    for (const change of changes) this.apply(change);
  }

  /** Applies a change made here and hands it to every sink. */
  change(change: ModerationChange): void {
    this.apply(change);
    for (const sink of this.sinks) sink.record(change);
  }

  // ---- operators ----

  /** The operator name `session` logged in as, if any. */
  operatorOf(session: ChatSession): string | undefined {
    return this.#operatorOf.get(session);
  }

  setOperator(session: ChatSession, name: string): void {
    this.#operatorOf.set(session, name);
  }

  // ---- bans ----

  /** The ban in force on `ip` now, if any (expired bans are dropped). */
  banOn(ip: string, now: number): Ban | undefined {
    if (this.#bans.size === 0) return undefined;
    for (const { ban, mask } of this.#bans.values()) {
      if (ban.until !== null && ban.until <= now) continue;
      if (maskMatches(mask, ip)) return ban;
    }
    return undefined;
  }

  /** Bans in force now, oldest first; the expired ones are removed (and recorded so). */
  bans(now: number): Ban[] {
    for (const { ban } of [...this.#bans.values()]) {
      if (ban.until !== null && ban.until <= now) this.change({ kind: "unban", mask: ban.mask });
    }
    return [...this.#bans.values()].map(({ ban }) => ban);
  }

  /** True when the mask is banned (exactly this mask). */
  hasBan(mask: string): boolean {
    return this.#bans.has(mask);
  }

  get banCount(): number {
    return this.#bans.size;
  }

  // ---- mutes ----

  /** Until when `session` is muted (ms; Infinity: until unmuted), or null. */
  mutedUntil(session: ChatSession, now: number): number | null {
    const until = this.#mutedUntil.get(session);
    if (until === undefined) return null;
    if (until <= now) {
      this.#mutedUntil.delete(session);
      return null;
    }
    return until;
  }

  mute(session: ChatSession, until: number | null): void {
    if (until === null) this.#mutedUntil.delete(session);
    else this.#mutedUntil.set(session, until);
  }

  // ---- topics ----

  topic(roomKey: string): Topic | undefined {
    return this.#topics.get(roomKey);
  }

  get topicCount(): number {
    return this.#topics.size;
  }

  // ---- registered nicks ----

  registration(key: string): Registration | undefined {
    return this.#registrations.get(key);
  }

  get registrationCount(): number {
    return this.#registrations.size;
  }

  /** The registered nick key `session` proved it owns, if any. */
  owned(session: ChatSession): string | undefined {
    return this.#owned.get(session);
  }

  setOwned(session: ChatSession, key: string | null): void {
    if (key === null) this.#owned.delete(session);
    else this.#owned.set(session, key);
  }

  // ---- password work ----

  /**
   * Runs one hash computation under {@linkcode MAX_PASSWORD_CHECKS}; null
   * (and nothing started) when that many are under way.
   */
  hashing<T>(work: (hasher: PasswordHasher) => Promise<T>): Promise<T> | null {
    if (this.hasher === null || this.#checks >= MAX_PASSWORD_CHECKS) return null;
    this.#checks++;
    return work(this.hasher).finally(() => this.#checks--);
  }

  // ---- the guess throttle ----

  /**
   * Milliseconds until a password guess is allowed for every one of `keys`
   * (an address, a nick), or 0: allowed now.
   */
  guessWait(keys: readonly string[], now: number): number {
    let wait = 0;
    for (const key of keys) {
      const record = this.#guessRecords.get(key);
      if (record === undefined) continue;
      const ends = record.since + this.guessWindowMs;
      if (ends <= now) this.#guessRecords.delete(key);
      else if (record.failures >= this.guesses) wait = Math.max(wait, ends - now);
    }
    return wait;
  }

  /** A wrong password was given for each of `keys`. */
  guessFailed(keys: readonly string[], now: number): void {
    for (const key of keys) {
      let record = this.#guessRecords.get(key);
      if (record === undefined || record.since + this.guessWindowMs <= now) {
        this.#guessRecords.delete(key);
        if (this.#guessRecords.size >= MAX_GUESS_KEYS) {
          this.#guessRecords.delete(this.#guessRecords.keys().next().value!);
        }
        record = { failures: 0, since: now };
        this.#guessRecords.set(key, record);
      }
      record.failures++;
    }
  }
}

/** Longest duration a ban or mute may be given. */
export const MAX_DURATION_MS = 366 * 24 * 3600 * 1000;

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration (`30s`, `10m`, `2h`, `7d`) into milliseconds; null when
 * `text` is not one. A bare number throws a `RangeError` (it needs a unit),
 * as does one past {@linkcode MAX_DURATION_MS}.
 */
export function parseDuration(text: string): number | null {
  const match = /^(\d{1,9})([smhd])?$/.exec(text);
  if (match === null) return null;
  if (match[2] === undefined) {
    throw new RangeError(`duration ${text} needs a unit: 30s, 10m, 2h or 7d`);
  }
  const ms = Number(match[1]) * UNITS[match[2]];
  if (ms <= 0 || ms > MAX_DURATION_MS) {
    throw new RangeError(`duration ${text} must be more than 0 and at most 366d`);
  }
  return ms;
}

/** `2026-12-06 10:42:05 UTC`. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace("T", " ") + " UTC";
}

/** `2h 5m`, `42s`: how long from `now` to `until`, roughly. */
export function formatLeft(until: number, now: number): string {
  const seconds = Math.max(1, Math.ceil((until - now) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 120) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${minutes % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** `until 2026-12-06 10:42:05 UTC (42m left)`, or `until unbanned`-style `forever`. */
export function formatUntil(until: number | null, now: number, forever = "until lifted"): string {
  return until === null ? forever : `until ${formatTime(until)} (${formatLeft(until, now)} left)`;
}

/** The refusal of a connection from a banned address. */
export function banRefusal(ban: Ban, now: number): string {
  const reason = ban.reason === "" ? "" : `: ${ban.reason}`;
  return `banned from this server ${formatUntil(ban.until, now)}${reason}`;
}
