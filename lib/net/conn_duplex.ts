/**
 * A `node:stream` Duplex over a {@linkcode StreamConn}, the stream
 * `node:tls` runs TLS on. Both ports accept with `Deno.listen` (the address
 * is known at once, bind errors throw at once, `reusePort` and the backlog
 * work) and a TLS connection's `Deno.TcpConn` goes through this bridge.
 * The HTTP port also hands a plain request's connection (with the head it
 * has read, as `head`) to `node:http` through it.
 *
 * Why a bridge bounds input: under Deno 2.9.6 a `TLSSocket` reads its
 * underlying stream as fast as it comes and keeps what its reader has not
 * taken inside the TLS layer, without bound (pausing the `TLSSocket` does
 * not stop it). So the bridge counts the bytes it hands to the TLS layer
 * and the bytes the reader took out ({@linkcode ConnDuplex.consumed}), and
 * stops reading the connection while more than `maxUnconsumedBytes` are
 * inside: then the kernel's buffers fill and TCP flow control slows the
 * peer, as for a plain connection.
 *
 * Writes complete once the connection took all of the bytes. Idle
 * connections stay small: the read buffer starts at 1 KiB and grows once,
 * to 16 KiB, for a peer whose reads fill it.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";
import { closeQuietly, type StreamConn, writeAll } from "./conn.ts";
import { MAX_TLS_UNCONSUMED_BYTES, TLS_LOST_EOF_GRACE_MS } from "../support/constants.ts";

const SMALL_READ_BYTES = 1024;
const GROWN_READ_BYTES = 16 * 1024;

/** A Node.js error code for a Deno connection error (what `node:tls` expects). */
function nodeError(error: unknown): Error {
  const code = error instanceof Deno.errors.ConnectionReset ||
      error instanceof Deno.errors.BrokenPipe
    ? "ECONNRESET"
    : error instanceof Deno.errors.ConnectionAborted
    ? "ECONNABORTED"
    : error instanceof Deno.errors.TimedOut
    ? "ETIMEDOUT"
    : undefined;
  const converted = error instanceof Error ? error : new Error(String(error));
  if (code !== undefined) Object.assign(converted, { code });
  return converted;
}

/** Options of {@linkcode ConnDuplex}. */
export interface ConnDuplexOptions {
  /** Bytes already read from the connection (a peeked first chunk), pushed first. @default {none} */
  head?: Uint8Array | null;
  /** Bytes handed on and not yet {@linkcode ConnDuplex.consumed} before reading stops. @default {262144} */
  maxUnconsumedBytes?: number;
}

/**
 * A Duplex whose readable side is what `conn` receives and whose writable
 * side goes to `conn`. Ending the writable side shuts `conn`'s sending
 * side; destroying the Duplex closes `conn`.
 *
 * @example
 * ```ts ignore
 * const conn = await Deno.connect({ hostname: "example.com", port: 443 });
 * const duplex = new ConnDuplex(conn);
 * const socket = tls.connect({ socket: duplex, servername: "example.com" });
 * socket.on("data", (chunk) => duplex.consumed(chunk.length));
 * ```
 */
export class ConnDuplex extends Duplex {
  readonly conn: StreamConn;
  readonly #maxUnconsumed: number;
  #head: Uint8Array | null;
  #buffer = new Uint8Array(SMALL_READ_BYTES);
  #reading = false;
  /** Set by {@linkcode ConnDuplex.shutWrite}: what is written after it is dropped. */
  #writeShut = false;
  /** Bytes pushed minus bytes reported consumed (handshake bytes stay counted: a few KiB). */
  #unconsumed = 0;
  #wakeReader: (() => void) | null = null;

  constructor(conn: StreamConn, options: ConnDuplexOptions = {}) {
    super({ allowHalfOpen: true });
    this.conn = conn;
    this.#head = options.head != null && options.head.length > 0 ? options.head : null;
    this.#maxUnconsumed = options.maxUnconsumedBytes ?? MAX_TLS_UNCONSUMED_BYTES;
  }

  /** The reader took `bytes` out of the TLS layer: reading may go on. */
  consumed(bytes: number): void {
    this.#unconsumed = Math.max(0, this.#unconsumed - bytes);
    if (this.#unconsumed <= this.#maxUnconsumed) {
      const wake = this.#wakeReader;
      this.#wakeReader = null;
      wake?.();
    }
  }

  /**
   * The reader took everything the TLS layer had for it (it is waiting, or
   * reads as it comes): what is left inside is at most a partial record.
   * Restarts the count, so record overhead (encrypted bytes in, fewer
   * plain bytes out) never adds up to a stall.
   */
  caughtUp(): void {
    this.consumed(Number.POSITIVE_INFINITY);
  }

  override _read(): void {
    if (this.#reading) return;
    this.#reading = true;
    if (this.#head !== null) {
      // On a later turn, never during the first _read(): under Deno 2.9.6 a
      // TLSSocket that gets bytes before its own start (a tick after it is
      // made) and fails its handshake on them throws where no one can catch
      // it (`reading '_flushEncOut'`), which ends the process.
      const head = this.#head;
      this.#head = null;
      setTimeout(() => {
        if (this.destroyed) return void (this.#reading = false);
        this.#unconsumed += head.length;
        if (!this.push(Buffer.from(head))) return void (this.#reading = false);
        this.#readLoop();
      }, 0);
      return;
    }
    this.#readLoop();
  }

  /** Reads until the stream has enough; `#reading` is false whenever it stops. */
  async #readLoop(): Promise<void> {
    try {
      while (!this.destroyed) {
        while (this.#unconsumed > this.#maxUnconsumed && !this.destroyed) {
          await new Promise<void>((resolve) => (this.#wakeReader = resolve));
        }
        const n = await this.conn.read(this.#buffer);
        if (n === null) {
          this.#reading = false;
          this.push(null);
          return;
        }
        const chunk = Buffer.from(this.#buffer.subarray(0, n)); // a copy: the buffer is reused
        if (n === this.#buffer.length && n < GROWN_READ_BYTES) {
          this.#buffer = new Uint8Array(GROWN_READ_BYTES);
        }
        this.#unconsumed += n;
        // Still "reading" during push(): a _read() it causes must not start a second loop.
        if (!this.push(chunk)) return void (this.#reading = false); // the next _read() resumes
      }
    } catch (error) {
      this.#reading = false;
      if (!this.destroyed) this.destroy(nodeError(error));
    }
    this.#reading = false;
  }

  /**
   * Shuts the sending side of the connection under the stream (the peer
   * reads its end of stream) while the stream stays writable: what the TLS
   * layer still writes after it (its answer to the peer's close_notify) is
   * dropped, not an error. Under Deno 2.9.6 a TLSSocket's `end()` sends its
   * close_notify but never ends the stream under it, and a peer's TLS layer
   * does not always report that alert as the end of stream; the FIN does.
   */
  shutWrite(): Promise<void> {
    if (this.#writeShut) return Promise.resolve();
    this.#writeShut = true;
    return this.conn.closeWrite().catch(() => {}); // already closed or reset: nothing to shut
  }

  override _write(
    chunk: Buffer,
    _encoding: string,
    callback: (error?: Error | null) => void,
  ): void {
    if (this.#writeShut) return callback(); // after our own shutWrite(): nothing can be sent
    writeAll(this.conn, chunk).then(() => callback(), (error) => callback(nodeError(error)));
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#writeShut) return callback();
    // Already closed or reset: nothing to shut.
    this.conn.closeWrite().then(() => callback(), () => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    closeQuietly(this.conn);
    const wake = this.#wakeReader;
    this.#wakeReader = null;
    wake?.();
    callback(error);
  }
}

/**
 * For a TLS socket whose reader takes bytes as they come (the HTTP parser,
 * a WebSocket): once the stream under it has ended and the socket has not
 * said so within `TLS_LOST_EOF_GRACE_MS`, ends its readable side for
 * it (or, with bytes still waiting in it, destroys it). A workaround for
 * the end of stream the TLS layer of Deno 2.9.6 now and then loses.
 */
export function endWithUnderlying(socket: Duplex, duplex: ConnDuplex): void {
  duplex.once("end", () => {
    const timer = setTimeout(() => {
      if (socket.destroyed || socket.readableEnded) return;
      if (socket.readableLength === 0) socket.push(null);
      else socket.destroy();
    }, TLS_LOST_EOF_GRACE_MS);
    socket.once("end", () => clearTimeout(timer));
    socket.once("close", () => clearTimeout(timer));
  });
}
