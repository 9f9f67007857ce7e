/**
 * Chat over WebSocket: an open WebSocket becomes a hub member speaking the
 * same line protocol as TCP clients, inside text messages.
 *
 * - In: each text message carries one or more lines (LF, CRLF or CR
 *   between them); each line counts as one line for flood control. A line
 *   over `maxLineBytes` gets the same `! line too long` as over TCP; a
 *   message over the hard cap (`ws`'s `maxPayload`) closes with 1009. A
 *   binary message closes with 1003.
 * - Out: what the hub sends goes through one {@linkcode Outbound} (bounded,
 *   one send in flight): lines queued while a send is in flight go out
 *   together in the next message, LF between them. With the subprotocol
 *   `parley.json` the lines are JSON events.
 * - Close codes: 1000 after `/quit`, 1001 on idle and shutdown, 1008 when
 *   dropped as too slow (then reset if it does not go within the grace).
 *
 * @module
 */

import type { ChatHub, MemberClose } from "../chat/hub.ts";
import { LineDecoder } from "../framing/line_codec.ts";
import type { WebSocketConnection } from "../net/http_listener.ts";
import type { InputBudgets } from "../net/input_budget.ts";
import { LineMember } from "./line_member.ts";
import { WebSocketWriter } from "./ws_writer.ts";

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
      connection.ws.protocol === JSON_SUBPROTOCOL ? "json" : "text",
      hub,
      new WebSocketWriter(connection.ws),
      options.maxQueueBytes,
    );
    this.#connection = connection;
    this.transport = connection.secure ? "wss" : "ws";
    this.#options = options;
  }

  protected closeConnection(close: MemberClose): void {
    // What is queued goes first; not gone within the grace, it is reset.
    this.#connection.end(
      CLOSE_CODES[close.kind],
      close.reason,
      close.graceMs,
      this.outbound.drained(),
    );
  }

  protected writeFailed(): void {
    this.#connection.reset();
  }

  run(): Promise<void> {
    const { ws } = this.#connection;
    this.session = this.hub.connect(this);
    const budget = this.#options.budgets.acquire(this.address);
    let resume: ReturnType<typeof setTimeout> | undefined;
    return new Promise((resolve) => {
      ws.on("message", (data: Uint8Array, isBinary: boolean) => {
        if (this.closing !== null) return;
        const pause = budget.charge(data.length);
        if (pause > 0 && resume === undefined) {
          // Over its input budget: stop reading for a while (backpressure).
          ws.pause();
          resume = setTimeout(() => {
            resume = undefined;
            ws.resume();
          }, pause);
        }
        if (isBinary) {
          this.#problem = "binary message";
          ws.close(1003, "binary messages are not accepted; send text");
          return;
        }
        this.#decoder ??= new LineDecoder({ maxLineBytes: this.#options.maxLineBytes });
        this.#decoder.push(data, this);
        this.#decoder.end(this);
        // Send the replies now: a close frame right behind this message is
        // answered at once, and nothing can be sent after that.
        this.outbound.flushNow();
      });
      ws.on("error", (error: Error) => {
        this.#problem ??= error.message.replace(/^Invalid WebSocket frame: /i, "");
      });
      ws.on("close", (code: number) => {
        clearTimeout(resume);
        budget.release();
        const reason = this.#connection.endedBy ?? this.#problem ??
          (code === 1006 ? "connection reset" : "connection closed");
        this.hub.disconnect(this.session, reason);
        resolve();
      });
    });
  }
}
