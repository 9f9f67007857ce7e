/**
 * A `node:net` or `node:tls` socket behind the small surface the line and
 * echo protocols use ({@linkcode StreamConn}: read into a buffer, write,
 * closeWrite, close, remote address), so TLS clients run the same code as
 * plain TCP ones.
 *
 * Reads use the socket in paused mode: bytes stay in the socket until
 * `read()` asks for them. Under a TLS socket, the {@linkcode ConnDuplex}
 * it runs on is told what was taken, which is what bounds the bytes
 * waiting inside the TLS layer (see `conn_duplex.ts`). A write resolves
 * once the socket has handed the bytes on, so one write in flight means a
 * bounded amount in flight. Errors come out as Deno's (`ConnectionReset`,
 * `BadResource` after a local close), as from a `Deno.TcpConn`.
 *
 * @module
 */

import type { Buffer } from "node:buffer";
import type net from "node:net";
import type { StreamConn } from "./conn.ts";
import type { ConnDuplex } from "./conn_duplex.ts";
import { TLS_LOST_EOF_GRACE_MS } from "../support/constants.ts";

/** Deno's error for a Node.js socket error, so callers need one vocabulary. */
function denoError(error: Error & { code?: string }): Error {
  switch (error.code) {
    case "ECONNRESET":
    case "EPIPE":
      return new Deno.errors.ConnectionReset(error.message, { cause: error });
    case "ECONNABORTED":
      return new Deno.errors.ConnectionAborted(error.message, { cause: error });
    case "ETIMEDOUT":
      return new Deno.errors.TimedOut(error.message, { cause: error });
    default:
      return error;
  }
}

/** A {@linkcode StreamConn} over a `node:net` socket or a secure `tls.TLSSocket`. */
export class SocketConn implements StreamConn {
  readonly remoteAddr: Deno.NetAddr;
  /** The socket (for TLS: protocol, cipher, peer certificate). */
  readonly socket: net.Socket;
  /** True over TLS. */
  readonly secure: boolean;
  readonly #duplex: ConnDuplex | null;
  #pending: Buffer | null = null;
  #ended = false;
  #closedLocally = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;
  #eofGrace: ReturnType<typeof setTimeout> | undefined;
  #eofGraceOver = false;

  /**
   * Wraps `socket`; `duplex` is the bridge a TLS socket runs on, told what
   * is read (@default {none}).
   */
  constructor(socket: net.Socket, remoteAddr: Deno.NetAddr, duplex: ConnDuplex | null = null) {
    this.socket = socket;
    this.remoteAddr = remoteAddr;
    this.secure = (socket as { encrypted?: boolean }).encrypted === true;
    this.#duplex = duplex;
    const wake = () => {
      const waiter = this.#wake;
      this.#wake = null;
      waiter?.();
    };
    socket.on("readable", wake);
    socket.on("end", () => {
      this.#ended = true;
      clearTimeout(this.#eofGrace);
      wake();
    });
    socket.on("error", (error: Error) => {
      this.#error ??= denoError(error);
      wake();
    });
    socket.on("close", () => {
      // Closed without an end of stream: by us, or cut off.
      if (!this.#ended) this.#error ??= this.#closedError();
      clearTimeout(this.#eofGrace);
      wake();
    });
    duplex?.once("end", wake);
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (true) {
      if (this.#pending === null) {
        this.#pending = this.socket.read() as Buffer | null;
        if (this.#pending !== null) this.#duplex?.consumed(this.#pending.length);
      }
      const pending = this.#pending;
      if (pending !== null) {
        const n = Math.min(buffer.length, pending.length);
        buffer.set(pending.subarray(0, n));
        this.#pending = n === pending.length ? null : pending.subarray(n);
        return n;
      }
      if (this.#closedLocally) throw this.#closedError();
      if (this.#ended) return null;
      if (this.#error !== null) throw this.#error;
      if (this.#lostEndOfStream()) return null;
      this.#duplex?.caughtUp();
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  write(bytes: Uint8Array): Promise<number> {
    if (this.#closedLocally || this.socket.destroyed) {
      return Promise.reject(this.#error ?? this.#closedError());
    }
    return new Promise((resolve, reject) => {
      this.socket.write(bytes, (error?: Error | null) => {
        if (error) reject(this.#error ?? denoError(error));
        else resolve(bytes.length);
      });
    });
  }

  closeWrite(): Promise<void> {
    if (this.socket.destroyed) return Promise.reject(new Deno.errors.NotConnected());
    // Over TLS the connection under it is shut too, once the close_notify is out (see
    // ConnDuplex.shutWrite): the peer then sees the end of stream whatever its TLS layer does.
    return new Promise((resolve) =>
      this.socket.end(() => {
        if (this.#duplex === null) return resolve();
        this.#duplex.shutWrite().then(resolve);
      })
    );
  }

  close(): void {
    if (this.#closedLocally) throw new Deno.errors.BadResource("the connection is closed");
    this.#closedLocally = true;
    clearTimeout(this.#eofGrace);
    this.socket.destroy();
    this.#duplex?.destroy();
    const waiter = this.#wake;
    this.#wake = null;
    waiter?.();
  }

  /**
   * True once the stream under a TLS socket has ended and nothing came for
   * `TLS_LOST_EOF_GRACE_MS` (50 ms): the TLS layer lost the end of stream.
   */
  #lostEndOfStream(): boolean {
    if (this.#duplex === null || !this.#duplex.readableEnded) return false;
    if (this.#eofGraceOver) {
      this.#ended = true;
      return true;
    }
    this.#eofGrace ??= setTimeout(() => {
      this.#eofGraceOver = true;
      const waiter = this.#wake;
      this.#wake = null;
      waiter?.();
    }, TLS_LOST_EOF_GRACE_MS);
    return false;
  }

  #closedError(): Error {
    return this.#closedLocally
      ? new Deno.errors.BadResource("the connection is closed")
      : new Deno.errors.ConnectionReset("the connection was cut off");
  }
}
