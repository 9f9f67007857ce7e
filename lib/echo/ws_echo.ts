/**
 * RFC 6455 echo: every message comes back with its own opcode (text as
 * text, binary as binary), fragmented messages reassembled, up to a size
 * cap. `ws` enforces the protocol: a message over the cap closes with
 * 1009, invalid UTF-8 in text with 1007, protocol violations (unmasked
 * frames, reserved bits, bad opcodes, oversized control frames) with 1002,
 * and a client's close is answered with the same code.
 *
 * Backpressure: while more than {@linkcode ECHO_WS_HIGH_WATER} bytes of
 * echoes are waiting to be sent, the connection stops reading; it reads
 * again once they are under {@linkcode ECHO_WS_LOW_WATER}. A client that
 * sends without reading therefore stalls only itself, and the server holds
 * at most about one message (`maxMessageBytes`) plus 1 MiB for it.
 *
 * @module
 */

import type { WebSocketConnection } from "../net/http_listener.ts";

/** Echo bytes waiting to be sent above which a connection stops reading. */
export const ECHO_WS_HIGH_WATER = 1024 * 1024;
/** ... and below which it reads again. */
export const ECHO_WS_LOW_WATER = 256 * 1024;

const decoder = new TextDecoder();

/** One WebSocket echo session. */
export class WebSocketEchoConnection {
  readonly connection: WebSocketConnection;
  /** Messages echoed (the idle sweep watches it). */
  activity = 0;
  #waiting = 0;
  #paused = false;
  #endedBy: string | null = null;

  constructor(connection: WebSocketConnection) {
    this.connection = connection;
  }

  /** Remote `host:port`. */
  get peer(): string {
    return this.connection.peer;
  }

  /** Echoes until the WebSocket closes; resolves with the reason. */
  run(): Promise<string> {
    const { ws } = this.connection;
    let problem: string | null = null;
    return new Promise((resolve) => {
      ws.on("message", (data: Uint8Array, isBinary: boolean) => {
        this.activity++;
        const length = data.length;
        this.#waiting += length;
        ws.send(data, { binary: isBinary }, () => {
          this.#waiting -= length;
          if (this.#paused && this.#waiting <= ECHO_WS_LOW_WATER) {
            this.#paused = false;
            ws.resume();
          }
        });
        if (!this.#paused && this.#waiting > ECHO_WS_HIGH_WATER) {
          this.#paused = true;
          ws.pause();
        }
      });
      ws.on("error", (error: Error) => (problem ??= error.message));
      ws.on("close", (code: number, reason: Uint8Array) => {
        const said = decoder.decode(reason);
        resolve(
          this.connection.endedBy ?? this.#endedBy ?? problem ??
            (code === 1006 ? "connection reset" : `closed ${code}${said ? ` ${said}` : ""}`),
        );
      });
    });
  }

  /** Closes with `code` and `reason`; resets if the peer has not closed within `graceMs`. */
  end(code: number, reason: string, graceMs: number): void {
    if (this.#endedBy !== null) return;
    this.#endedBy = reason;
    this.connection.end(code, reason, graceMs);
  }
}
