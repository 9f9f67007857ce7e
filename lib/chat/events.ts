/**
 * What the hub sends: chat events, each with its text-protocol rendering
 * and its JSON form, encoded at most once per wire format however many
 * members receive it. Pure.
 *
 * Text is the default wire format (the line protocol `nc` users see). JSON
 * is one object per event with a `v` (version), a `type`, a `ts` (ISO 8601)
 * and the fields of its type; a client asks for it with the WebSocket
 * subprotocol `parley.json` or, over TCP, with `/format json`. Some events
 * exist only for JSON clients (the member list on connect, for instance):
 * their text is `null` and text members never see them.
 *
 * @module
 */

import type { ServerLimits } from "./limits_notice.ts";

/** The version of the JSON event format, sent as `v` in every event. */
export const EVENT_VERSION = 1;

/** How a member wants its events: text lines, or JSON objects. */
export type WireFormat = "text" | "json";

/** A room as listed by `/rooms`. */
export interface RoomCount {
  name: string;
  count: number;
  /** Its topic, when it has one. */
  topic?: string;
}

/** Machine-readable reason of an error event (the text says it for people). */
export type ErrorCode =
  | "rate_limit"
  | "too_long"
  | "usage"
  | "unknown_command"
  | "bad_nick"
  | "nick_taken"
  | "bad_room"
  | "already_there"
  | "no_such_nick"
  | "too_much"
  | "not_delivered"
  | "idle"
  | "too_slow"
  | "internal_error"
  | "not_operator"
  | "muted"
  | "kicked"
  | "banned"
  | "nick_registered"
  | "wrong_password"
  | "too_many_guesses"
  | "not_here";

/** Every event a member can receive. */
export type ChatEvent =
  | ModerationEvent
  | {
    type: "welcome";
    server: string;
    nick: string;
    online: number;
    room: string;
    /** What the server takes from this client, so that it can pace what it sends. */
    limits: ServerLimits;
  }
  | { type: "message"; room: string; from: string; text: string }
  | { type: "action"; room: string; from: string; text: string }
  | { type: "private"; from: string; to: string; text: string }
  | { type: "history"; room: string; kind: "message" | "action"; from: string; text: string }
  | { type: "join"; room: string; nick: string }
  | { type: "leave"; room: string; nick: string; reason: string }
  | { type: "nick"; room: string; from: string; to: string; self: boolean }
  | { type: "members"; room: string; members: string[] }
  | { type: "rooms"; rooms: RoomCount[] }
  | { type: "format"; format: WireFormat }
  | { type: "notice"; text: string }
  | { type: "error"; code: ErrorCode; text: string };

/**
 * The moderation events (`moderation_protocol.ts` words them): a member
 * kicked or banned out of a room, a mute (`until` an ISO time, null: until
 * `/unmute`; `muted` false: lifted), a room's topic (`text` empty: cleared).
 */
export type ModerationEvent =
  | { type: "kick"; room: string; nick: string; by: string; reason: string }
  | {
    type: "ban";
    room: string;
    nick: string;
    mask: string;
    by: string;
    reason: string;
    until: string | null;
  }
  | { type: "mute"; nick: string; by: string; muted: boolean; until: string | null; self: boolean }
  | { type: "topic"; room: string; text: string; by: string; since: string };

/** The `type` of a {@linkcode ChatEvent}. */
export type ChatEventType = ChatEvent["type"];

const encoder = new TextEncoder();

/**
 * One event on its way out: the event, when it happened, and its text
 * rendering (`null` for JSON-only events). {@linkcode Outgoing.bytes}
 * encodes it once per format and keeps the bytes, so a broadcast to a
 * thousand members costs one encoding per format in use.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { Outgoing } from "./events.ts";
 *
 * const line = new Outgoing(
 *   { type: "message", room: "lobby", from: "alice", text: "hi" },
 *   "<alice> hi",
 *   Date.UTC(2026, 10, 22),
 * );
 * equal(new TextDecoder().decode(line.bytes("text")!), "<alice> hi\n");
 * equal(
 *   new TextDecoder().decode(line.bytes("json")!),
 *   '{"v":1,"type":"message","ts":"2026-11-22T00:00:00.000Z","room":"lobby","from":"alice","text":"hi"}\n',
 * );
 * ```
 */
export class Outgoing {
  readonly event: ChatEvent;
  /** The text lines (LF between them, none at the end), or null: JSON only. */
  readonly text: string | null;
  /** When it happened, in milliseconds since the epoch. */
  readonly ts: number;
  #textBytes: Uint8Array | null | undefined;
  #jsonBytes: Uint8Array | undefined;
  #framedText: Uint8Array | null | undefined;
  #framedJson: Uint8Array | undefined;

  constructor(event: ChatEvent, text: string | null, ts: number) {
    this.event = event;
    this.text = text;
    this.ts = ts;
  }

  /** The event as one JSON object (no line ending). */
  json(): string {
    return encodeEventJson(this.event, this.ts);
  }

  /**
   * The UTF-8 bytes of this event in `format`, each line ending with LF;
   * null when it has no rendering in that format. Encoded once per format.
   */
  bytes(format: WireFormat): Uint8Array | null {
    if (format === "json") return this.#jsonBytes ??= encoder.encode(this.json() + "\n");
    if (this.#textBytes === undefined) {
      this.#textBytes = this.text === null ? null : encoder.encode(this.text + "\n");
    }
    return this.#textBytes;
  }

  /**
   * {@linkcode Outgoing.bytes} in `format` as a transport frames them
   * (`frame`: WebSocket text frames, one per line), framed once per format
   * and kept, so a broadcast frames each event once, not once per member.
   * An event reaches one framing: the first `frame` given is the one kept.
   */
  framed(format: WireFormat, frame: (bytes: Uint8Array) => Uint8Array): Uint8Array | null {
    if (format === "json") return this.#framedJson ??= frame(this.bytes("json")!);
    if (this.#framedText === undefined) {
      const bytes = this.bytes("text");
      this.#framedText = bytes === null ? null : frame(bytes);
    }
    return this.#framedText;
  }
}

/**
 * One event as a JSON object: `v`, `type` and `ts` first, then the fields
 * of its type.
 */
export function encodeEventJson(event: ChatEvent, ts: number): string {
  const { type, ...fields } = event;
  return JSON.stringify({ v: EVENT_VERSION, type, ts: new Date(ts).toISOString(), ...fields });
}
