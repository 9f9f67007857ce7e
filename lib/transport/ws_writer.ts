/**
 * A byte writer over a WebSocket, for {@linkcode Outbound}: each write is
 * one text message, and resolves once `ws` has handed it to the socket, so
 * Outbound keeps exactly one message in flight and coalesces the rest.
 *
 * @module
 */

import type { WebSocket } from "ws";
import type { ByteWriter } from "../net/outbound.ts";

const LF = 0x0a;

/**
 * Sends LF-terminated lines as text messages; the final LF of a batch is
 * dropped (a message `a\nb` carries the two lines `a` and `b`).
 */
export class WebSocketWriter implements ByteWriter {
  readonly #ws: WebSocket;

  constructor(ws: WebSocket) {
    this.#ws = ws;
  }

  write(bytes: Uint8Array): Promise<number> {
    const end = bytes.length > 0 && bytes[bytes.length - 1] === LF
      ? bytes.length - 1
      : bytes.length;
    return new Promise((resolve, reject) => {
      if (this.#ws.readyState !== this.#ws.OPEN) {
        return reject(new Error("WebSocket is not open"));
      }
      this.#ws.send(bytes.subarray(0, end), { binary: false }, (error?: Error) => {
        if (error) reject(error);
        else resolve(bytes.length);
      });
    });
  }
}
