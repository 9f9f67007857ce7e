/**
 * RFC 862 echo over TCP (plain, or TLS through the same small connection
 * surface, {@linkcode StreamConn}), one connection: every byte comes back
 * in order, unmodified (or upper-cased with `transform: "upper"`), as soon
 * as it arrives.
 *
 * Backpressure: each connection reads into one reused buffer and does not
 * read again until what it read has been written back, so a client that
 * sends without reading stalls only itself, and the server holds at most
 * one buffer (64 KiB) per connection whatever the client sends.
 *
 * Half-close: when the client shuts its sending side, everything read has
 * already been echoed; the server then shuts its own side and closes.
 *
 * @module
 */

import { ECHO_READ_BUFFER_BYTES } from "../support/constants.ts";
import { closeQuietly, connectionProblem, type StreamConn, writeAll } from "../net/conn.ts";
import { shutWithin } from "../net/lingering_close.ts";
import { createUpperCaser } from "../framing/text_transform.ts";

/** What the echo server does to the bytes before sending them back. */
export type EchoTransform = "none" | "upper";

/** One echo connection, as the echo server tracks it. */
export class TcpEchoConnection {
  readonly conn: StreamConn;
  readonly peer: string;
  /** `tcp`, or `tls` (for the log). */
  readonly transport: string;
  /** Reads echoed (the idle sweep watches it). */
  activity = 0;
  #writing = false;
  #stopping = false;
  #idle = false;
  /** Cancels the forced close of `stop()`. */
  #cancelClose: (() => void) | null = null;
  /** Set by `stop()` during a write: the write is over, shut the sending side. */
  #wrote: (() => void) | null = null;

  constructor(conn: StreamConn, peer: string) {
    this.conn = conn;
    this.peer = peer;
    this.transport = conn.secure ? "tls" : "tcp";
  }

  /** Echoes until the connection ends; resolves with the reason. */
  async run(transform: EchoTransform): Promise<string> {
    const { conn } = this;
    const buffer = new Uint8Array(ECHO_READ_BUFFER_BYTES);
    const upper = transform === "upper" ? createUpperCaser() : null;
    try {
      // The hot loop: read into the reused buffer, write it all back, and
      // only then read again (that is the backpressure).
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        if (this.#stopping) continue; // our side is shut; wait for theirs
        this.activity++;
        this.#writing = true;
        const out = upper === null ? buffer : upper(buffer.subarray(0, n));
        const length = upper === null ? n : out.length;
        // Inline rather than writeAll(): one async call less per echo.
        let offset = 0;
        while (offset < length) offset += await conn.write(out.subarray(offset, length));
        this.#writing = false;
        if (this.#stopping) this.#wrote?.();
      }
      if (this.#stopping) return "server shutting down";
      if (upper !== null) await writeAll(conn, upper(new Uint8Array(), true));
      await conn.closeWrite();
      return "connection closed";
    } catch (error) {
      if (this.#stopping) return "server shutting down";
      if (this.#idle) return "idle";
      return connectionProblem(error);
    } finally {
      this.#cancelClose?.();
    }
  }

  /** Echo never injects bytes into the stream: an idle client is just closed. */
  closeIdle(): void {
    this.#idle = true;
    closeQuietly(this.conn);
  }

  /** Stops echoing after the write in flight; closes for good after `graceMs`. */
  stop(graceMs: number): void {
    if (this.#stopping) return;
    this.#stopping = true;
    const wrote = this.#writing
      ? new Promise<void>((resolve) => (this.#wrote = resolve))
      : undefined;
    this.#cancelClose = shutWithin(this.conn, graceMs, wrote);
  }
}
