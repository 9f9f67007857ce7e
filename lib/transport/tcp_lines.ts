/**
 * Chat over TCP lines (plain, or TLS through the same small connection
 * surface, {@linkcode StreamConn}): a connection becomes a hub member.
 * Bytes are read into one reused buffer, framed into capped lines, decoded (invalid
 * UTF-8 becomes U+FFFD) and handed to the hub; what the hub sends goes out
 * through one {@linkcode Outbound} (one write in flight, bounded queue,
 * small writes coalesced).
 *
 * Closing: when the hub ends the member, its queue gets the close's grace
 * to drain, then the sending side is shut and input is discarded until the
 * peer closes or the grace is over. When the peer shuts its sending side
 * first, its last unterminated line still counts, and it may still read
 * what is queued for it (within the same grace).
 *
 * @module
 */

import type { ChatHub, MemberClose } from "../chat/hub.ts";
import { LineDecoder } from "../framing/line_codec.ts";
import {
  CHAT_READ_BUFFER_BYTES,
  CHAT_READ_BUFFER_GROWN_BYTES,
  CLOSE_GRACE_MS,
} from "../support/constants.ts";
import { closeQuietly, connectionProblem, type StreamConn } from "../net/conn.ts";
import type { InputBudgets } from "../net/input_budget.ts";
import { shutWithin } from "../net/lingering_close.ts";
import { LineMember } from "./line_member.ts";

/** Options of {@linkcode serveTcpLines}. */
export interface TcpLinesOptions {
  /** Longest input line in bytes. */
  maxLineBytes: number;
  /** Bytes queued for the member before it is dropped as too slow. */
  maxQueueBytes: number;
  /** Input byte budgets; past them the connection is not read for a while. */
  budgets: InputBudgets;
}

/**
 * Serves one admitted TCP connection as a chat member until it is closed;
 * resolves then (the caller closes the connection and frees its place).
 * `address` is the peer's IP address as the limits count it (see
 * `plainAddress`): its input budget is shared with its other connections.
 */
export function serveTcpLines(
  conn: StreamConn,
  peer: string,
  address: string,
  hub: ChatHub,
  options: TcpLinesOptions,
): Promise<void> {
  return new TcpLineMember(conn, peer, address, hub, options).run();
}

class TcpLineMember extends LineMember {
  /** `tcp`, or `tls` (for the log). */
  readonly transport: string;
  readonly #conn: StreamConn;
  readonly #options: TcpLinesOptions;
  #decoder: LineDecoder | null = null; // made on first input: idle members stay small
  /** Cancels the forced close, once one is set. */
  #cancelClose: (() => void) | null = null;
  #writeProblem: string | null = null;

  constructor(
    conn: StreamConn,
    peer: string,
    address: string,
    hub: ChatHub,
    options: TcpLinesOptions,
  ) {
    super(peer, address, "text", hub, conn, options.maxQueueBytes);
    this.#conn = conn;
    this.transport = conn.secure ? "tls" : "tcp";
    this.#options = options;
  }

  protected closeConnection(close: MemberClose): void {
    this.#closeAfter(close.graceMs);
  }

  protected writeFailed(error: unknown): void {
    this.#writeProblem = connectionProblem(error);
    closeQuietly(this.#conn); // the read loop sees it and the member leaves
  }

  async run(): Promise<void> {
    this.session = this.hub.connect(this);
    const budget = this.#options.budgets.acquire(this.address);
    let buffer = new Uint8Array(CHAT_READ_BUFFER_BYTES);
    let reason = "connection closed";
    try {
      while (true) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        if (this.closing !== null) continue; // discarding until the close
        const pause = budget.charge(n);
        this.#decoder ??= new LineDecoder({ maxLineBytes: this.#options.maxLineBytes });
        this.#decoder.push(buffer.subarray(0, n), this);
        // A client that fills the small buffer is sending in bulk: fewer,
        // larger reads serve it better.
        if (n === buffer.length && buffer.length < CHAT_READ_BUFFER_GROWN_BYTES) {
          buffer = new Uint8Array(CHAT_READ_BUFFER_GROWN_BYTES);
        }
        // Over its input budget: stop reading for a while (backpressure).
        if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
      }
      // The peer shut its sending side: an unterminated last line counts.
      if (this.closing === null) this.#decoder?.end(this);
    } catch (error) {
      reason = this.#writeProblem ?? connectionProblem(error);
    }
    budget.release();
    this.hub.disconnect(this.session, reason);
    if (this.closing === null && this.#writeProblem === null) {
      // It may still be reading: let it take what is queued.
      this.#closeAfter(CLOSE_GRACE_MS);
      await this.outbound.drained();
    }
    this.#cancelClose?.();
  }

  /** Drains, shuts the sending side, and closes for good after `graceMs`. */
  #closeAfter(graceMs: number): void {
    this.#cancelClose?.();
    this.#cancelClose = shutWithin(this.#conn, graceMs, this.outbound.drained());
  }
}
