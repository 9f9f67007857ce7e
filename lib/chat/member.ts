/**
 * What the hub knows of a member: the {@linkcode ChatMember} a transport
 * implements, how the hub asks it to close, and the hub's own record of it
 * ({@linkcode ChatSession}). Pure.
 *
 * @module
 */

import type { SharedBucket } from "../support/shared_buckets.ts";
import type { TokenBucket } from "../support/token_bucket.ts";
import type { MemberRef } from "./directory.ts";
import type { Outgoing, WireFormat } from "./events.ts";
import type { LocalRoom } from "./local_rooms.ts";

/** How the hub ends a member; the transport turns it into a close. */
export type CloseKind = "quit" | "idle" | "slow" | "shutdown";

/** What the hub asks of a transport when it ends a member. */
export interface MemberClose {
  kind: CloseKind;
  /** Why, in a few words (`quit: bye`, `too slow`, `idle`). */
  reason: string;
  /**
   * A last event to send. For `slow` it replaces whatever is still queued
   * (the member could not take it anyway); otherwise it goes after it.
   */
  last: Outgoing | null;
  /** Milliseconds the member gets to take its queued bytes before the close. */
  graceMs: number;
}

/** A connected member as the hub sees it, whatever its transport. */
export interface ChatMember {
  /** Remote address as `host:port`, for logs. */
  readonly peer: string;
  /** Remote IP address. */
  readonly address: string;
  /** `tcp`, `ws`, …, for logs. */
  readonly transport: string;
  /** The wire format it receives; `/format` changes it. */
  format: WireFormat;
  /**
   * Queues `event` (in `format`, skipping events that have no rendering in
   * it). Never blocks; returns false when it does not fit in the member's
   * queue, and the hub then drops the member as too slow.
   */
  deliver(event: Outgoing): boolean;
  /** Ends the connection as `close` says. The hub calls it once at most. */
  close(close: MemberClose): void;
  /** Bytes queued to it and not yet written (for the metrics). @default {unknown: 0} */
  readonly queuedBytes?: number;
}

/** The hub's record of one member; transports hold it and pass it back. */
export class ChatSession {
  /** Where it lives in the cluster (`NODE/ID`). */
  readonly ref: MemberRef;
  readonly member: ChatMember;
  /** Its nick (the commands, and a nick lost during an outage, change it). */
  nick: string;

  // Its life and order (hub.ts):
  /** True once the member has left (by any path). */
  ended = false;
  /** Its queue overflowed (or its `deliver` threw); it is dropped when the current operation ends. */
  dropping = false;
  /** Non-empty lines accepted; the idle watch sees it change. */
  activity = 0;
  /** A command it sent is still being answered (another node, Redis). */
  busy = false;
  /** Lines it sent meanwhile, run in order once the answer is in. */
  readonly queue: string[] = [];

  // Its room (local_rooms.ts):
  room: LocalRoom | null = null;
  /** Where its room's order stood when it entered (events up to here were its history). */
  cursor = 0;
  /**
   * Events held back while its room's history is on the way, so it sees
   * the history first; null when nothing is held.
   */
  held: { event: Outgoing; seq: number }[] | null = null;

  // Its budgets (flood.ts):
  /** Made on the first line, full, so idle members stay small. */
  bucket: TokenBucket | null = null;
  /** Its address's line budget, shared with the address's other members (null when off). */
  addressBudget: SharedBucket | null = null;
  /** Lines refused in the current run of refusals (the first one was told). */
  refusedRun = 0;
  /** When the current run of refusals began (ms). */
  refusedSince = 0;

  constructor(ref: MemberRef, member: ChatMember, nick: string) {
    this.ref = ref;
    this.member = member;
    this.nick = nick;
  }
}
