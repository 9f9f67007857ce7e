/**
 * An open WebSocket on Deno's own socket ({@linkcode StreamConn}: a
 * `Deno.TcpConn`, or a TLS socket behind the same surface). npm `ws`'s
 * `Receiver` parses what the client sends, with all of its strictness
 * (1002 on protocol errors, 1007 on invalid UTF-8, 1009 over the size
 * cap, close-code validation, fragment rules); Parley does the I/O:
 *
 * - Out: one {@linkcode Outbound} per connection: frames are written
 *   straight into its buffer (header, then payload), one `conn.write` in
 *   flight, everything queued meanwhile goes out in the next single write.
 *   Bounded by `maxQueueBytes`: `send()` returns false past it and the
 *   owner decides (chat drops the member as too slow).
 * - Pings are answered through the same queue: up to
 *   `WS_MAX_QUEUED_PONGS` pongs wait in it, past that one waits and a newer
 *   ping replaces it.
 * - In: every chunk is charged to the input budgets, its bytes plus
 *   `WS_FRAME_CHARGE_BYTES` per frame; past the budget the connection is
 *   not read for a while (backpressure), and one that stays over it for
 *   `WS_THROTTLE_CLOSE_MS` is closed with 1008. A message in more than
 *   `WS_MAX_FRAGMENTS` frames is closed with 1008.
 * - Closing: one path. The close handshake of RFC 6455 (our close frame
 *   after what is queued, the peer's answer, then the TCP close), bounded
 *   by a grace; {@linkcode WebSocketConnection.abort} closes the socket at
 *   once, which releases its descriptor. `Deno.TcpConn` cannot reset: a
 *   peer that stopped reading gets a FIN, and the kernel holds the unsent
 *   bytes (bounded by its orphan limits) until the peer goes.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import * as ws from "ws";
import {
  WS_FRAME_CHARGE_BYTES,
  WS_MAX_FRAGMENTS,
  WS_MAX_QUEUED_PONGS,
  WS_READ_BUFFER_BYTES,
  WS_READ_BUFFER_GROWN_BYTES,
  WS_THROTTLE_CLOSE_MS,
} from "../support/constants.ts";
import { closeQuietly, connectionProblem, type StreamConn } from "./conn.ts";
import type { InputBudget } from "./input_budget.ts";
import { Outbound } from "./outbound.ts";
import { frameHeader, FrameScanner, OPCODE } from "./ws_frame.ts";
import { truncateReason } from "./http_reply.ts";

/** Options of {@linkcode WebSocketConnection}. */
export interface WebSocketConnectionOptions {
  /** Remote `host:port`. */
  peer: string;
  /** Remote IP address as the limits count it. */
  address: string;
  /** The subprotocol chosen in the handshake, or null. */
  protocol: string | null;
  /** Largest message; bigger closes with 1009. */
  maxMessageBytes: number;
  /** Bytes queued or in flight before `send()` refuses. */
  maxQueueBytes: number;
  /** Bytes read with the request head that belong to the first frames. @default {none} */
  head?: Uint8Array;
}

/** How a WebSocket ended. */
export interface WebSocketEnd {
  /** The peer's close code (1005: none given; 1006: no close frame). */
  code: number;
  /** The peer's close reason. */
  reason: string;
  /** Why it ended, in a few words, when not by a normal close handshake. */
  problem: string | null;
}

/** Receives the messages of a {@linkcode WebSocketConnection}. */
export interface WebSocketHandler {
  /** One complete message (the bytes stay valid: a fresh buffer). */
  message(data: Uint8Array, isBinary: boolean): void;
}

/**
 * The part of `ws`'s `Receiver` used here (ws 8.18: exported, but not in
 * its type declarations). `_write()` skips node:stream's Writable
 * bookkeeping; the conformance suite pins this behaviour.
 */
interface Receiver {
  on(event: string, listener: (...args: never[]) => void): unknown;
  _write(chunk: Buffer, encoding: string, callback: (error?: Error | null) => void): void;
}

const Receiver = (ws as unknown as {
  Receiver: new (options: {
    isServer: boolean;
    maxPayload: number;
    binaryType: string;
  }) => Receiver;
}).Receiver;

/** Scratch space for frame headers (at most 10 bytes). */
const header = new Uint8Array(10);

/** An open WebSocket; see the module documentation. */
export class WebSocketConnection {
  readonly peer: string;
  readonly address: string;
  readonly protocol: string | null;
  /** True over TLS (`wss://`). */
  readonly secure: boolean;
  /** The connection's one writer. */
  readonly outbound: Outbound;
  /** Set by an owner that ended it (`ping timeout`), before it closes. */
  endedBy: string | null = null;
  /** Answered the last ping (the listener's keepalive). */
  alive = true;
  readonly #conn: StreamConn;
  readonly #options: WebSocketConnectionOptions;
  #problem: string | null = null;
  #closeSent = false;
  #closeReceived = false;
  #peerCode = 1006;
  #peerReason = "";
  #closed = false;
  #endTimer: ReturnType<typeof setTimeout> | undefined;
  #pongs = 0;
  #heldPong: Uint8Array | null = null;
  #paused = false;
  #wakeReader: (() => void) | null = null;

  constructor(conn: StreamConn, options: WebSocketConnectionOptions) {
    this.#conn = conn;
    this.#options = options;
    this.peer = options.peer;
    this.address = options.address;
    this.protocol = options.protocol;
    this.secure = conn.secure === true;
    this.outbound = new Outbound(conn, {
      maxQueueBytes: options.maxQueueBytes,
      onError: (error) => {
        this.#problem ??= connectionProblem(error);
        this.abort();
      },
      beforeBatch: () => this.#takePongs(),
    });
  }

  /**
   * Queues one message; false (nothing queued) when it does not fit in the
   * queue or the connection is closing.
   */
  send(payload: Uint8Array, isBinary = false): boolean {
    if (this.#closeSent || this.#closed) return false;
    return this.#frame(isBinary ? OPCODE.BINARY : OPCODE.TEXT, payload);
  }

  /**
   * Queues complete frames built beforehand (see `textFrames`), all or
   * none; false (nothing queued) when they do not fit or the connection is
   * closing. A broadcast frames an event once and queues the same bytes for
   * every member.
   */
  sendFrames(frames: Uint8Array): boolean {
    if (this.#closeSent || this.#closed) return false;
    return this.outbound.enqueue(frames);
  }

  /** Sends a ping (the keepalive); false when it does not fit. */
  ping(): boolean {
    if (this.#closeSent || this.#closed) return false;
    return this.#frame(OPCODE.PING, EMPTY);
  }

  /** Stops reading (backpressure from the owner) until {@linkcode resume}. */
  pause(): void {
    this.#paused = true;
  }

  /** Reads again after {@linkcode pause}. */
  resume(): void {
    this.#paused = false;
    this.#wake();
  }

  /**
   * Reads and parses until the connection is closed; resolves then. Each
   * chunk is charged to `budget`.
   */
  async run(handler: WebSocketHandler, budget: InputBudget): Promise<WebSocketEnd> {
    const receiver = new Receiver({
      isServer: true,
      maxPayload: this.#options.maxMessageBytes,
      binaryType: "nodebuffer",
    });
    receiver.on("message", (data: Buffer, isBinary: boolean) => {
      if (!this.#closeSent) handler.message(data, isBinary);
    });
    receiver.on("ping", (data: Buffer) => this.#pong(data));
    receiver.on("pong", () => (this.alive = true));
    receiver.on("conclude", (code: number, reason: Buffer) => this.#onPeerClose(code, reason));
    receiver.on("error", () => {}); // errors come to `_write`'s callback
    const scanner = new FrameScanner();
    let buffer = new Uint8Array(WS_READ_BUFFER_BYTES);
    let throttledSince = -1;
    const done = (error?: Error | null) => {
      if (error) this.#onProtocolError(error);
    };
    let pending: Uint8Array | null = this.#options.head ?? null;
    try {
      while (!this.#closed) {
        while (this.#paused && !this.#closed) {
          await new Promise<void>((resolve) => (this.#wakeReader = resolve));
        }
        let chunk: Buffer;
        if (pending !== null && pending.length > 0) {
          chunk = Buffer.from(pending);
          pending = null;
        } else {
          const n = await this.#conn.read(buffer);
          if (n === null) break;
          chunk = Buffer.from(buffer.subarray(0, n)); // a copy: the parser keeps views
          if (n === buffer.length && buffer.length < WS_READ_BUFFER_GROWN_BYTES) {
            buffer = new Uint8Array(WS_READ_BUFFER_GROWN_BYTES);
          }
        }
        // Closing: what comes is not parsed, but still costs budget.
        const discarding = this.#closeReceived || this.#problem !== null;
        let frames = 0;
        if (!discarding) {
          const scan = scanner.push(chunk);
          frames = scan.frames;
          if (scan.fragments > WS_MAX_FRAGMENTS) {
            this.#fail(1008, `message in more than ${WS_MAX_FRAGMENTS} frames`);
          } else receiver._write(chunk, "buffer", done);
        }
        const pause = budget.charge(chunk.length + frames * WS_FRAME_CHARGE_BYTES);
        if (pause === 0) {
          throttledSince = -1;
          continue;
        }
        const now = performance.now();
        if (throttledSince < 0) throttledSince = now;
        if (!discarding && now + pause - throttledSince > WS_THROTTLE_CLOSE_MS) {
          this.#fail(1008, "sending too fast: over the input budget for too long");
        }
        // Over its input budget: stop reading for a while (backpressure).
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pause);
          this.#wakeReader = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wakeReader = null;
      }
    } catch (error) {
      if (!this.#closed) this.#problem ??= connectionProblem(error);
    }
    if (!this.#closeReceived) this.#problem ??= "connection closed";
    this.abort();
    return {
      code: this.#peerCode,
      reason: this.#peerReason,
      problem: this.endedBy ?? this.#problem,
    };
  }

  /**
   * Closes with `code` and `reason` (cut to fit a close frame), once
   * `after` settles when given (what is queued goes first), and closes the
   * socket if the close handshake is not over within `graceMs` from now.
   * Only the first call counts.
   */
  end(code: number, reason: string, graceMs: number, after?: Promise<unknown>): void {
    if (this.#closed || this.#endTimer !== undefined) return;
    this.#endTimer = setTimeout(() => this.abort(), Math.max(0, graceMs));
    const close = () => this.#sendClose(code, reason);
    if (after === undefined) close();
    else after.then(close, close);
  }

  /** Closes the socket at once (its descriptor is released); idempotent. */
  abort(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#endTimer);
    closeQuietly(this.#conn);
    this.#wake();
  }

  #wake(): void {
    const wake = this.#wakeReader;
    this.#wakeReader = null;
    wake?.();
  }

  /** Queues one frame (header and payload, straight into the queue). */
  #frame(opcode: number, payload: Uint8Array): boolean {
    const length = frameHeader(header, 0, opcode, payload.length);
    return this.outbound.enqueue(payload, header.subarray(0, length));
  }

  #pong(data: Uint8Array): void {
    if (this.#closeSent || this.#closed) return;
    if (this.#pongs < WS_MAX_QUEUED_PONGS && this.#frame(OPCODE.PONG, data)) {
      this.#pongs++;
      return;
    }
    // The queue is not moving: one pong waits, the newest.
    this.#heldPong = data;
    if (this.outbound.queuedBytes === 0) this.#takePongs();
  }

  /** A batch is being taken: queued pongs are on their way; a held one joins it. */
  #takePongs(): void {
    this.#pongs = 0;
    const held = this.#heldPong;
    if (held === null) return;
    this.#heldPong = null;
    if (!this.#closeSent && this.#frame(OPCODE.PONG, held)) this.#pongs++;
  }

  #sendClose(code: number, reason: string): void {
    if (this.#closeSent || this.#closed) return;
    this.#closeSent = true;
    this.#heldPong = null;
    let payload = EMPTY;
    if (code !== 1005) {
      const text = new TextEncoder().encode(truncateReason(reason));
      payload = new Uint8Array(2 + text.length);
      payload[0] = code >>> 8;
      payload[1] = code & 0xff;
      payload.set(text, 2);
    }
    // A close frame always fits: it may go past the bound by its 127 bytes.
    const length = frameHeader(header, 0, OPCODE.CLOSE, payload.length);
    const queued = this.outbound.enqueue(payload, header.subarray(0, length)) ||
      this.#forceClose(payload, length);
    if (!queued) return this.abort();
    if (this.#closeReceived) this.#shut();
  }

  /** Queues the close frame past the bound (it is at most 127 bytes). */
  #forceClose(payload: Uint8Array, headerLength: number): boolean {
    if (this.outbound.failed) return false;
    const frame = new Uint8Array(headerLength + payload.length);
    frame.set(header.subarray(0, headerLength));
    frame.set(payload, headerLength);
    return this.outbound.enqueueOver(frame);
  }

  /** Both closes are said: send what is queued, then the FIN; the socket goes within the grace. */
  #shut(): void {
    this.#endTimer ??= setTimeout(() => this.abort(), CLOSE_LINGER_MS);
    this.outbound.drained().then(() => {
      if (this.#closed) return;
      this.#conn.closeWrite().catch(() => this.abort());
    });
  }

  #onPeerClose(code: number, reason: Buffer): void {
    this.#closeReceived = true;
    this.#peerCode = code;
    this.#peerReason = new TextDecoder().decode(reason);
    // Answer with the same code (none for none), as `ws` does.
    if (!this.#closeSent) this.#sendClose(code, this.#peerReason);
    else this.#shut();
  }

  #onProtocolError(error: Error): void {
    const code = statusCodeOf(error) ?? 1002;
    this.#problem ??= error.message.replace(/^Invalid WebSocket frame: /i, "");
    this.#sendClose(code, "");
    this.#closeReceived = true; // nothing more is parsed: the close handshake is over for us
    this.#shut();
  }

  #fail(code: number, reason: string): void {
    this.#problem ??= reason;
    this.#sendClose(code, reason);
    this.#closeReceived = true;
    this.#shut();
  }
}

const EMPTY = new Uint8Array(0);

/** Milliseconds the socket stays after both closes, for the FIN and the peer's. */
const CLOSE_LINGER_MS = 2000;

/** The close code `ws` puts on a parse error (a symbol-keyed property). */
function statusCodeOf(error: Error): number | undefined {
  for (const symbol of Object.getOwnPropertySymbols(error)) {
    if (symbol.description === "status-code") {
      const value = (error as unknown as Record<symbol, unknown>)[symbol];
      if (typeof value === "number") return value;
    }
  }
  return undefined;
}
