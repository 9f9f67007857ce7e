/**
 * RFC 6455 echo: every message comes back with its own opcode (text as
 * text, binary as binary), fragmented messages reassembled, up to a size
 * cap. `ws`'s parser enforces the protocol: a message over the cap closes
 * with 1009, invalid UTF-8 in text with 1007, protocol violations
 * (unmasked frames, reserved bits, bad opcodes, oversized control frames)
 * with 1002, and a client's close is answered with the same code.
 *
 * Backpressure: while more than {@linkcode ECHO_WS_HIGH_WATER} bytes of
 * echoes are waiting to be sent, the connection stops reading; it reads
 * again once they are sent. A client that sends without reading therefore
 * stalls only itself, and the server holds at most about one message
 * (`maxMessageBytes`) plus 1 MiB for it. Every frame is charged to the
 * connection's and its address's input budgets, as in chat (see
 * `ws_conn.ts`): pings, pongs, empty messages and continuations included.
 *
 * @module
 */

import type { InputBudget } from "../net/input_budget.ts";
import type { WebSocketConnection } from "../net/ws_conn.ts";

/** Echo bytes waiting to be sent above which a connection stops reading. */
export const ECHO_WS_HIGH_WATER = 1024 * 1024;

/** One WebSocket echo session. */
export class WebSocketEchoConnection {
  readonly connection: WebSocketConnection;
  /** Messages echoed (the idle sweep watches it). */
  activity = 0;
  #paused = false;
  #endedBy: string | null = null;
  #problem: string | null = null;

  constructor(connection: WebSocketConnection) {
    this.connection = connection;
  }

  /** Remote `host:port`. */
  get peer(): string {
    return this.connection.peer;
  }

  /** Echoes until the WebSocket closes; resolves with the reason. */
  async run(budget: InputBudget): Promise<string> {
    const connection = this.connection;
    const end = await connection.run({
      message: (data, isBinary) => {
        this.activity++;
        if (!connection.send(data, isBinary)) {
          this.#problem ??= "too slow: the echo queue is full";
          connection.abort();
          return;
        }
        if (!this.#paused && connection.outbound.queuedBytes > ECHO_WS_HIGH_WATER) {
          this.#paused = true;
          connection.pause();
          connection.outbound.drained().then(() => {
            this.#paused = false;
            connection.resume();
          });
        }
      },
    }, budget);
    const said = end.reason;
    return connection.endedBy ?? this.#endedBy ?? this.#problem ?? end.problem ??
      `closed ${end.code}${said ? ` ${said}` : ""}`;
  }

  /** Closes with `code` and `reason`; closes the socket if the peer has not closed within `graceMs`. */
  end(code: number, reason: string, graceMs: number): void {
    if (this.#endedBy !== null) return;
    this.#endedBy = reason;
    this.connection.end(code, reason, graceMs);
  }
}
