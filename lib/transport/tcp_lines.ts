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
import { type FirstBytesVerdict, ProtocolSniffer } from "../framing/protocol_sniff.ts";
import type { Logger } from "../support/log.ts";

/**
 * How long a new connection's first bytes are waited for before it joins
 * (ms). HTTP and TLS clients send theirs right after connecting, so a
 * foreign client is refused before it ever appears in a room; a silent
 * client (nc, a reader) joins after this short wait.
 */
export const FIRST_BYTES_WAIT_MS = 40;

/** A client of another protocol on the chat port: what it is, for the answer. */
export type ForeignProtocol = Exclude<FirstBytesVerdict, "chat">;

/** Options of {@linkcode serveTcpLines}. */
export interface TcpLinesOptions {
  /** Longest input line in bytes. */
  maxLineBytes: number;
  /** Bytes queued for the member before it is dropped as too slow. */
  maxQueueBytes: number;
  /** Input byte budgets; past them the connection is not read for a while. */
  budgets: InputBudgets;
  /**
   * The one line a client speaking another protocol (an HTTP request line,
   * a TLS ClientHello: `framing/protocol_sniff.ts`) reads before the close;
   * nothing it sent reaches a room. Without it, no sniffing.
   */
  foreignAnswer?: (protocol: ForeignProtocol, localHost: string | undefined) => Uint8Array;
  /** Logs the refusal of a foreign client (one line). @default {silentLogger} */
  logger?: Logger;
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
  #joined = false;
  /** In `firstBytesWait`, not joined yet. */
  #waiting = false;

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
    const budget = this.#options.budgets.acquire(this.address);
    let buffer = new Uint8Array(CHAT_READ_BUFFER_BYTES);
    let reason = "connection closed";
    // Its first bytes, when they come at once, tell a foreign client before
    // it joins; a silent client joins after FIRST_BYTES_WAIT_MS, through one
    // timer shared by every waiting member (a timer of its own would leave
    // more garbage per connection than an idle member keeps). An idle
    // member keeps no sniffer, and nothing hangs on its pending read.
    let sniffing = this.#options.foreignAnswer !== undefined;
    let sniffer: ProtocolSniffer | null = null;
    if (sniffing) {
      this.#waiting = true;
      firstBytesWait.add(this);
    } else this.#join();
    let foreign: ForeignProtocol | null = null;
    try {
      while (true) {
        const n = await this.#conn.read(buffer);
        this.#endWait();
        if (n === null) break;
        if (this.closing !== null) continue; // discarding until the close
        const pause = budget.charge(n);
        const chunk = buffer.subarray(0, n);
        if (sniffing) {
          const verdict = (sniffer ??= new ProtocolSniffer()).push(chunk);
          if (verdict === "tls" || verdict === "http") {
            foreign = verdict;
            break;
          }
          if (verdict === "chat") {
            sniffing = false;
            sniffer = null;
          }
        }
        let input = chunk;
        if (!this.#joined) {
          // A first line `/nick NAME` (client.ts --nick) names the member as it joins.
          const wanted = firstLineNick(chunk);
          this.#join(wanted?.nick);
          if (wanted !== undefined && this.session.nick === wanted.nick.normalize("NFC")) {
            input = chunk.subarray(wanted.lineBytes);
          }
        }
        this.#decoder ??= new LineDecoder({ maxLineBytes: this.#options.maxLineBytes });
        this.#decoder.push(input, this);
        // A client that fills the small buffer is sending in bulk: fewer,
        // larger reads serve it better.
        if (n === buffer.length && buffer.length < CHAT_READ_BUFFER_GROWN_BYTES) {
          buffer = new Uint8Array(CHAT_READ_BUFFER_GROWN_BYTES);
        }
        // Over its input budget: stop reading for a while (backpressure).
        if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
      }
      // The peer shut its sending side: an unterminated last line counts.
      if (foreign === null && this.closing === null) {
        this.#join();
        this.#decoder?.end(this);
      }
    } catch (error) {
      reason = this.#writeProblem ?? connectionProblem(error);
    }
    this.#endWait(); // ended before its first bytes
    budget.release();
    if (foreign !== null) {
      reason = foreign === "tls"
        ? "not a chat client: TLS handshake on the plain-text port"
        : "not a chat client: HTTP request";
      this.outbound.enqueue(this.#options.foreignAnswer!(foreign, localHost(this.#conn)));
      if (!this.#joined) this.#options.logger?.({ event: "refuse", peer: this.peer, reason });
    }
    if (this.#joined) this.hub.disconnect(this.session, reason);
    if (this.closing === null && this.#writeProblem === null) {
      // It may still be reading: let it take what is queued.
      this.#closeAfter(CLOSE_GRACE_MS);
      await this.outbound.drained();
    }
    this.#cancelClose?.();
  }

  /**
   * Its first bytes were waited for long enough (see `firstBytesWait`): it
   * joins. False when it was no longer waiting.
   */
  waited(): boolean {
    if (!this.#waiting) return false;
    this.#waiting = false;
    this.#join();
    return true;
  }

  /** Stops waiting for the first bytes (they came, or the connection ended). */
  #endWait(): void {
    if (!this.#waiting) return;
    this.#waiting = false;
    firstBytesWait.done();
  }

  /** Joins the hub (once), as `wantedNick` when given. */
  #join(wantedNick?: string): void {
    if (this.#joined) return;
    this.#joined = true;
    this.session = this.hub.connect(this, wantedNick);
  }

  /** Drains, shuts the sending side, and closes for good after `graceMs`. */
  #closeAfter(graceMs: number): void {
    this.#cancelClose?.();
    this.#cancelClose = shutWithin(this.#conn, graceMs, this.outbound.drained());
  }
}

/**
 * Members waiting for their first bytes, in the order they came (all wait
 * the same time): one timer for all of them, set for the oldest. A member
 * that got its bytes or ended says so with `done()`; when none waits, the
 * timer goes.
 */
class FirstBytesWait {
  #members: (TcpLineMember | undefined)[] = [];
  #deadlines: number[] = [];
  #head = 0;
  #waiting = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  add(member: TcpLineMember): void {
    this.#members.push(member);
    this.#deadlines.push(performance.now() + FIRST_BYTES_WAIT_MS);
    this.#waiting++;
    this.#timer ??= setTimeout(this.#fire, FIRST_BYTES_WAIT_MS);
  }

  /** A member stopped waiting before its time (its first bytes came, or it ended). */
  done(): void {
    if (--this.#waiting > 0) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#empty();
  }

  #empty(): void {
    this.#members = [];
    this.#deadlines = [];
    this.#head = 0;
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    const members = this.#members;
    while (this.#head < members.length && this.#deadlines[this.#head] <= now) {
      const member = members[this.#head];
      members[this.#head++] = undefined;
      if (member?.waited()) this.#waiting--;
    }
    if (this.#waiting === 0 || this.#head === members.length) this.#empty();
    else {
      if (this.#head > 1024) {
        this.#members = members.slice(this.#head);
        this.#deadlines = this.#deadlines.slice(this.#head);
        this.#head = 0;
      }
      this.#timer = setTimeout(this.#fire, this.#deadlines[this.#head] - now);
    }
  };
}

const firstBytesWait = new FirstBytesWait();

/**
 * The nick of a first line `/nick NAME` complete in `chunk`, and the bytes
 * of that line with its ending; undefined for any other first line.
 */
export function firstLineNick(chunk: Uint8Array): { nick: string; lineBytes: number } | undefined {
  const end = chunk.indexOf(0x0a);
  if (end === -1 || end > 256) return undefined;
  const line = new TextDecoder().decode(chunk.subarray(0, end)).replace(/\r$/, "");
  const found = /^\/nick ([^\s]+)$/i.exec(line);
  return found === null ? undefined : { nick: found[1], lineBytes: end + 1 };
}

/** The address the peer reached, when the connection knows it (a Deno or node socket). */
function localHost(conn: StreamConn): string | undefined {
  const local = (conn as { localAddr?: Deno.Addr }).localAddr;
  if (local?.transport === "tcp") return local.hostname;
  return (conn as { socket?: { localAddress?: string } }).socket?.localAddress;
}
