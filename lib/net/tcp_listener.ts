/**
 * A TCP listener (`Deno.listen`) that admits connections through a shared
 * {@linkcode Admission} and hands each admitted one to a protocol. Refused
 * ones get the protocol's refusal bytes (if any) and a lingering close, or,
 * when too many are lingering already, are closed at once.
 *
 * With `tls`, every connection is admitted (or refused) as a raw TCP
 * connection first, so handshakes count against the limits like clients;
 * then it completes its handshake within the acceptor's bound, and only
 * then is it served (or, refused but lingering, told why over TLS).
 *
 * @module
 */

import { DEFAULT_TCP_BACKLOG, REFUSAL_LINGER_MS } from "../support/constants.ts";
import { type Logger, safeLogger, silentLogger } from "../support/log.ts";
import { type Admission, isTicket, type Refusal, type Ticket } from "./admission.ts";
import { OpenConns } from "./open_conns.ts";
import { closeQuietly, formatAddr, listenProblem, type StreamConn } from "./conn.ts";
import { ListenError } from "../support/errors.ts";
import { lingeringClose } from "./lingering_close.ts";
import { acceptEach } from "./accept_loop.ts";
import type { TlsAcceptor } from "./tls_acceptor.ts";

/** Options of {@linkcode TcpListener}. */
export interface TcpListenerOptions {
  hostname: string;
  /** 0 picks a free port (read it back from `addr`). */
  port: number;
  /** Let several processes listen on the same port (Linux `SO_REUSEPORT`). @default {false} */
  reusePort?: boolean;
  /** Pending connections the kernel keeps (Linux caps it at `somaxconn`). @default {4096} */
  backlog?: number;
  /** The limits shared with the server's other listeners. */
  admission: Admission;
  /** Bytes that tell a refused client why, or null to close without a word. */
  refusal: (reason: string) => Uint8Array | null;
  /**
   * Serves an admitted connection; resolves once it is closed. Without
   * `tls` the connection is the `Deno.TcpConn` itself. `peer` is
   * `host:port` for logs, `address` the IP address the limits counted (an
   * IPv4-mapped address unwrapped, as on the HTTP port).
   */
  serve: (conn: StreamConn, peer: string, address: string) => Promise<void>;
  /** Speak TLS: handshakes through this acceptor. @default {plain TCP} */
  tls?: TlsAcceptor;
  /** With `tls`: bytes, in clear, for a client that speaks plain text to the port. @default {none} */
  plaintextReply?: Uint8Array | null;
  /** Receives accept errors. @default {silent} */
  logger?: Logger;
}

/** Accepts connections until closed; `finished` settles when all are done. */
/** Where and how to bind: the options every TCP-based listener shares. */
export interface BindOptions {
  hostname: string;
  port: number;
  /** Pending connections the kernel keeps (capped by `somaxconn`). @default {4096} */
  backlog?: number;
  /** Share the port with other processes (`SO_REUSEPORT`). @default {false} */
  reusePort?: boolean;
}

/** Binds a TCP listener; a {@linkcode ListenError} naming the address when it cannot. */
export function bindTcp(options: BindOptions): Deno.TcpListener {
  try {
    return Deno.listen({
      hostname: options.hostname,
      port: options.port,
      transport: "tcp",
      tcpBacklog: options.backlog ?? DEFAULT_TCP_BACKLOG,
      ...(options.reusePort ? { reusePort: true } : {}),
    });
  } catch (error) {
    throw new ListenError(
      formatAddr({ hostname: options.hostname, port: options.port }),
      listenProblem(error),
      { cause: error },
    );
  }
}

export class TcpListener {
  readonly addr: Deno.NetAddr;
  /** Settles once accepting has stopped and every connection is closed. */
  readonly finished: Promise<void>;
  readonly #listener: Deno.TcpListener;
  readonly #options: TcpListenerOptions;
  readonly #log: Logger;
  readonly #open = new OpenConns<Deno.TcpConn>();
  #closed = false;

  /** Listens at once; throws if the address cannot be bound. */
  constructor(options: TcpListenerOptions) {
    this.#options = options;
    this.#log = safeLogger(options.logger ?? silentLogger);
    this.#listener = bindTcp(options);
    this.addr = this.#listener.addr;
    this.finished = this.#acceptLoop();
  }

  /** Stops accepting; connections already open carry on. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.#listener);
  }

  /** Closes every connection still open (the end of a shutdown). */
  closeAll(): void {
    this.#open.closeAll();
  }

  async #acceptLoop(): Promise<void> {
    await acceptEach(this.#listener, {
      closed: () => this.#closed,
      accept: (conn, address, peer) => this.#accept(conn, address, peer),
      log: this.#log,
      label: "accept failed",
    });
    this.close();
    await this.#open.emptied();
  }

  #accept(conn: Deno.TcpConn, address: string, peer: string): void {
    const admitted = this.#options.admission.admit(
      address,
      peer,
      this.#options.tls ? "tls" : "tcp",
    );
    if (isTicket(admitted)) {
      try {
        conn.setNoDelay(true);
        conn.setKeepAlive(true);
      } catch { /* the peer is already gone; serve() will notice */ }
      this.#open.add(conn);
      void this.#serveAdmitted(conn, peer, address, admitted);
    } else if (admitted.linger) {
      this.#open.add(conn);
      void this.#refuse(conn, peer, admitted);
    } else {
      closeQuietly(conn);
    }
  }

  /** Serves an admitted connection, then closes it and frees its place: one call, no promise chain. */
  async #serveAdmitted(
    conn: Deno.TcpConn,
    peer: string,
    address: string,
    ticket: Ticket,
  ): Promise<void> {
    try {
      await (this.#options.tls === undefined
        ? this.#options.serve(conn, peer, address)
        : this.#serveSecure(this.#options.tls, conn, peer, address));
    } catch { /* serve() ends its own connection; nothing is left to say */ }
    closeQuietly(conn);
    ticket.release();
    this.#open.delete(conn);
  }

  /** Tells a refused client why (when it may linger), then lets its place go. */
  async #refuse(conn: Deno.TcpConn, peer: string, refusal: Refusal): Promise<void> {
    const reply = this.#options.refusal(refusal.reason);
    try {
      await (this.#options.tls === undefined
        ? lingeringClose(conn, reply, REFUSAL_LINGER_MS)
        : this.#refuseSecure(this.#options.tls, conn, peer, reply));
    } catch { /* the refused peer went away first */ }
    refusal.done();
    this.#open.delete(conn);
  }

  async #serveSecure(
    tls: TlsAcceptor,
    conn: Deno.TcpConn,
    peer: string,
    address: string,
  ): Promise<void> {
    const secure = await tls.secureConn(conn, peer, this.#plaintext());
    if (secure === null) return;
    try {
      await this.#options.serve(secure, peer, address);
    } finally {
      closeQuietly(secure);
    }
  }

  /** A refused client that may linger completes its handshake, then reads why. */
  async #refuseSecure(
    tls: TlsAcceptor,
    conn: Deno.TcpConn,
    peer: string,
    refusal: Uint8Array | null,
  ): Promise<void> {
    const secure = await tls.secureConn(conn, peer, this.#plaintext());
    if (secure !== null) await lingeringClose(secure, refusal, REFUSAL_LINGER_MS);
    closeQuietly(conn);
  }

  #plaintext(): { plaintextReply: Uint8Array | null } {
    return { plaintextReply: this.#options.plaintextReply ?? null };
  }
}
