/**
 * Chat over WebSocket: an open WebSocket becomes a hub member speaking the
 * same line protocol as TCP clients, inside text messages.
 *
 * - In: each text message carries one or more lines (LF, CRLF or CR
 *   between them); each line counts as one line for flood control. A line
 *   over `maxLineBytes` gets the same `! line too long` as over TCP; a
 *   message over the hard cap closes with 1009. A binary message closes
 *   with 1003. Every frame is charged to the member's and its address's
 *   input budgets (see `ws_conn.ts`).
 * - Out: one line per text message (with the subprotocol `parley.json`,
 *   one JSON event per message), through the connection's one
 *   {@linkcode Outbound} (bounded, one write in flight): the frames queued
 *   while a write is in flight go out together in the next write.
 * - Close codes: 1000 after `/quit`, 1001 on idle and shutdown, 1008 when
 *   dropped as too slow (then closed if it does not go within the grace).
 *
 * @module
 */

import type { Outgoing } from "../chat/events.ts";
import type { ChatHub, MemberClose } from "../chat/hub.ts";
import { LineDecoder } from "../framing/line_codec.ts";
import { CLOSE_GRACE_MS } from "../support/constants.ts";
import type { WebSocketConnection } from "../net/ws_conn.ts";
import { textFrames } from "../net/ws_frame.ts";
import type { InputBudgets } from "../net/input_budget.ts";
import { LineMember } from "./line_member.ts";

/** The subprotocol a client asks for to receive JSON events. */
export const JSON_SUBPROTOCOL = "parley.json";

/** Options of {@linkcode serveWebSocketLines}. */
export interface WebSocketLinesOptions {
  /** Longest input line in bytes. */
  maxLineBytes: number;
  /** Bytes queued for the member before it is dropped as too slow. */
  maxQueueBytes: number;
  /** Input byte budgets; past them the socket is not read for a while. */
  budgets: InputBudgets;
}

/** Close code of each way the hub ends a member. */
const CLOSE_CODES: Record<MemberClose["kind"], number> = {
  quit: 1000,
  idle: 1001,
  shutdown: 1001,
  slow: 1008,
};

const LF = 0x0a;

/** Serves one open WebSocket as a chat member; resolves once it is closed. */
export function serveWebSocketLines(
  connection: WebSocketConnection,
  hub: ChatHub,
  options: WebSocketLinesOptions,
): Promise<void> {
  return new WebSocketLineMember(connection, hub, options).run();
}

class WebSocketLineMember extends LineMember {
  /** `ws`, or `wss` over TLS (for the log). */
  readonly transport: string;
  readonly #connection: WebSocketConnection;
  readonly #options: WebSocketLinesOptions;
  #decoder: LineDecoder | null = null;
  #problem: string | null = null;

  constructor(connection: WebSocketConnection, hub: ChatHub, options: WebSocketLinesOptions) {
    super(
      connection.peer,
      connection.address,
      connection.protocol === JSON_SUBPROTOCOL ? "json" : "text",
      hub,
      connection.outbound,
      options.maxQueueBytes,
    );
    this.#connection = connection;
    this.transport = connection.secure ? "wss" : "ws";
    this.#options = options;
  }

  /** Each line its own text message, framed once per event for every member. */
  override deliver(event: Outgoing): boolean {
    const frames = event.framed(this.format, textFrames);
    return frames === null || this.#connection.sendFrames(frames);
  }

  /** Each line its own text message (without its LF). */
  protected override enqueue(bytes: Uint8Array): boolean {
    let start = 0;
    while (start < bytes.length) {
      let end = bytes.indexOf(LF, start);
      if (end === -1) end = bytes.length;
      if (!this.#connection.send(bytes.subarray(start, end))) return false;
      start = end + 1;
    }
    return true;
  }

  protected closeConnection(close: MemberClose): void {
    // What is queued goes first; not gone within the grace, it is closed.
    this.#connection.end(
      CLOSE_CODES[close.kind],
      close.reason,
      close.graceMs,
      this.outbound.drained(),
    );
  }

  protected writeFailed(): void {
    this.#connection.abort();
  }

  /** One message from the peer. */
  message(data: Uint8Array, isBinary: boolean): void {
    if (this.closing !== null || this.#problem !== null) return;
    if (isBinary) {
      this.#problem = "binary message";
      this.#connection.end(1003, "binary messages are not accepted; send text", CLOSE_GRACE_MS);
      return;
    }
    this.#decoder ??= new LineDecoder({ maxLineBytes: this.#options.maxLineBytes });
    this.#decoder.push(data, this);
    this.#decoder.end(this);
  }

  async run(): Promise<void> {
    this.session = this.hub.connect(this);
    const budget = this.#options.budgets.acquire(this.address);
    const end = await this.#connection.run(this, budget);
    budget.release();
    const reason = this.#connection.endedBy ?? this.#problem ?? end.problem ??
      "connection closed";
    this.hub.disconnect(this.session, reason);
  }
}
