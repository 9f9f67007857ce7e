/**
 * The server side of TLS, shared by a server's listeners: one certificate
 * and key, the handshake of each admitted connection under a time bound,
 * and reloading the pair without dropping anyone.
 *
 * Built on `node:tls` (a `TLSSocket` over the accepted socket), not
 * `Deno.listenTls`: under Deno 2.9.6 closing a `Deno.listenTls` connection
 * whose handshake is pending leaves it open, so the bound could not be
 * enforced, and there is no way to swap its certificate. Here the listener
 * accepts plain TCP, admits the connection through the shared limits
 * first (a handshake holds a place like any client), then this class runs
 * the handshake and can cut it at any moment by closing the socket.
 *
 * - Bound: a handshake not complete within `handshakeTimeoutMs` (counted
 *   from the accept) is closed.
 * - Plain text on a TLS port: the first byte of a TLS client is 0x16 (a
 *   handshake record). Anything else gets `plaintextReply` (if any), in
 *   clear, and the close; no handshake is attempted.
 * - The ClientHello is read and judged here first (`client_hello.ts`): one
 *   the server cannot negotiate (SSLv2-style, SSLv3 to TLS 1.1 only, no
 *   TLS 1.2 ECDHE AEAD suite and no TLS 1.3, malformed, truncated, over
 *   16 KiB) gets a fatal TLS alert and the close and never reaches
 *   `node:tls`. Only TLS 1.3, and TLS 1.2 with AES-GCM or ChaCha20-Poly1305.
 * - Under Deno 2.9.6 `node:tls` ends the process when a handshake fails on
 *   bytes it got before its own start; the bytes read here are handed to
 *   it on a later turn (`conn_duplex.ts`), so a hello that passes the
 *   check and still fails (no common group or signature scheme) is an
 *   ordinary `error` event, logged as one `tls` line.
 * - Failures (timeouts, plain text, alerts, resets) are logged as one
 *   `tls` line each, bursts summed; never a stack trace.
 * - Reload: {@linkcode TlsAcceptor.reload} checks the new pair and uses it
 *   for handshakes from then on; connections already secure keep theirs.
 *
 * @module
 */

import tls from "node:tls";
import { DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS, TLS_PLAINTEXT_LINGER_MS } from "../support/constants.ts";
import { type Logger, safeLogger, silentLogger } from "../support/log.ts";
import { checkNumber, TIMER_MS } from "../support/options.ts";
import { BurstLog } from "./burst_log.ts";
import { closeQuietly, errorLine, type StreamConn } from "./conn.ts";
import { ConnDuplex } from "./conn_duplex.ts";
import { lingeringClose } from "./lingering_close.ts";
import { type CertificateInfo, checkTlsPair, type TlsPair } from "./tls_pair.ts";
import { SocketConn } from "./socket_conn.ts";
import { alertRecord, ClientHelloReader, isSslv2Hello, TlsAlert } from "./client_hello.ts";

/** The first byte of a TLS record that carries a handshake message. */
const TLS_HANDSHAKE_RECORD = 0x16;

/** Bytes asked for at each read of the ClientHello (most hellos come in one). */
const HELLO_READ_BYTES = 4096;

/**
 * The suites the TLS layer may use (OpenSSL names): TLS 1.3's, and TLS 1.2
 * ECDHE with AES-GCM or ChaCha20-Poly1305. Deno's TLS (rustls) has no
 * others; stated so that it stays true whatever the layer's defaults.
 */
const AEAD_CIPHERS = [
  "TLS_AES_256_GCM_SHA384",
  "TLS_AES_128_GCM_SHA256",
  "TLS_CHACHA20_POLY1305_SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/** What the acceptor read before the TLS layer: a hello to replay, plain text, or a refusal. */
type HelloRead =
  | { kind: "hello"; bytes: Uint8Array }
  | { kind: "plaintext" }
  | { kind: "refused"; reason: string; alert: Uint8Array };

/** Options of {@linkcode TlsAcceptor}. */
export interface TlsAcceptorOptions {
  /** Certificate (chain) and key, PEM; checked at once. */
  pair: TlsPair;
  /** Milliseconds from the accept to a complete handshake. @default {10000} */
  handshakeTimeoutMs?: number;
  /** Receives `tls` events (failed handshakes, summed per burst). @default {silent} */
  logger?: Logger;
}

/** Options of {@linkcode TlsAcceptor.secureConn}. */
export interface SecureConnOptions {
  /** Bytes, in clear, for a client that speaks plain text to the TLS port. @default {none} */
  plaintextReply?: Uint8Array | null;
}

/** A secure socket and the bridge it runs on. */
export interface SecureSocket {
  socket: tls.TLSSocket;
  duplex: ConnDuplex;
}

/** Runs server handshakes with the current certificate. */
export class TlsAcceptor {
  readonly handshakeTimeoutMs: number;
  readonly #log: BurstLog;
  #context: tls.SecureContext;
  #info: CertificateInfo;

  /** Throws a `CertificateError` when the pair cannot serve TLS. */
  constructor(options: TlsAcceptorOptions) {
    this.handshakeTimeoutMs = checkNumber(
      "Cannot start TLS",
      "handshakeTimeoutMs",
      options.handshakeTimeoutMs ?? DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
      { ...TIMER_MS, aboveMin: true },
    );
    this.#log = new BurstLog(safeLogger(options.logger ?? silentLogger));
    this.#info = checkTlsPair(options.pair);
    this.#context = tls.createSecureContext(options.pair);
  }

  /** What the certificate in use says of itself. */
  get certificate(): CertificateInfo {
    return this.#info;
  }

  /**
   * Uses `pair` for handshakes from now on, once checked; throws a
   * `CertificateError` (keeping the pair in use) when it cannot serve.
   */
  reload(pair: TlsPair): CertificateInfo {
    const info = checkTlsPair(pair);
    this.#context = tls.createSecureContext(pair);
    this.#info = info;
    return info;
  }

  /** Logs what the failure log summed; later failures are logged one by one. */
  close(): void {
    this.#log.close();
  }

  /**
   * Runs the handshake on an accepted connection (a `Deno.TcpConn`, or a
   * `node:net` socket as a {@linkcode SocketConn}). Resolves with the
   * secure socket and the bridge under it (tell it what the reader takes:
   * `consumed()`, `caughtUp()`), or null when it failed (logged, and `conn`
   * closed).
   */
  async handshake(
    conn: StreamConn,
    peer: string,
    options: SecureConnOptions = {},
  ): Promise<SecureSocket | null> {
    let timedOut = false;
    let socket: tls.TLSSocket | null = null;
    const timer = setTimeout(() => {
      timedOut = true;
      socket?.destroy();
      closeQuietly(conn);
    }, this.handshakeTimeoutMs);
    try {
      const hello = await this.#readHello(conn, peer, () => timedOut);
      if (hello === null) return null;
      if (hello.kind === "plaintext") {
        this.#failed(peer, "not a tls client (plain text on a tls port)");
        clearTimeout(timer);
        await lingeringClose(conn, options.plaintextReply ?? null, TLS_PLAINTEXT_LINGER_MS);
        return null;
      }
      if (hello.kind === "refused") {
        this.#failed(peer, hello.reason);
        clearTimeout(timer);
        await lingeringClose(conn, hello.alert, TLS_PLAINTEXT_LINGER_MS);
        return null;
      }
      const head = hello.bytes;
      const duplex = new ConnDuplex(conn, { head });
      socket = new tls.TLSSocket(duplex, {
        isServer: true,
        secureContext: this.#context,
        minVersion: "TLSv1.2",
        ciphers: AEAD_CIPHERS,
      });
      const secure = await this.#handshake(socket, duplex, peer, () => timedOut);
      if (secure === null) {
        duplex.destroy();
        return null;
      }
      return { socket: secure, duplex };
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * {@linkcode TlsAcceptor.handshake}, then the secure connection behind
   * the same surface as `conn` (for the line and echo protocols).
   */
  async secureConn(
    conn: Deno.TcpConn,
    peer: string,
    options: SecureConnOptions = {},
  ): Promise<SocketConn | null> {
    const secure = await this.handshake(conn, peer, options);
    return secure === null ? null : new SocketConn(secure.socket, conn.remoteAddr, secure.duplex);
  }

  /**
   * Reads until the client's ClientHello is whole and judges it (see
   * `client_hello.ts`): the bytes read, to replay into the TLS layer; or
   * plain text; or a refusal with its alert. Null (logged when worth it)
   * when the client went away or the bound passed first.
   */
  async #readHello(
    conn: StreamConn,
    peer: string,
    timedOut: () => boolean,
  ): Promise<HelloRead | null> {
    const reader = new ClientHelloReader();
    const buffer = new Uint8Array(HELLO_READ_BYTES);
    const chunks: Uint8Array[] = [];
    let total = 0;
    while (true) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch {
        n = null;
      }
      if (n === null) {
        // Closed before a word (port checks, scanners), mid-hello, or the bound passed.
        if (timedOut()) this.#failed(peer, "tls handshake timed out");
        else if (total > 0) this.#failed(peer, "closed during the tls client hello");
        closeQuietly(conn);
        return null;
      }
      const chunk = buffer.slice(0, n);
      if (total === 0) {
        if (isSslv2Hello(chunk)) {
          return {
            kind: "refused",
            reason: "sslv2-style client hello (TLS 1.2 needed)",
            alert: alertRecord(TlsAlert.protocolVersion, 0x0300),
          };
        }
        if (chunk[0] !== TLS_HANDSHAKE_RECORD) return { kind: "plaintext" };
      }
      chunks.push(chunk);
      total += n;
      const verdict = reader.push(chunk);
      if (verdict.kind === "refuse") {
        return { kind: "refused", reason: verdict.reason, alert: reader.alert() };
      }
      if (verdict.kind === "accept") {
        const bytes = new Uint8Array(total);
        let at = 0;
        for (const part of chunks) {
          bytes.set(part, at);
          at += part.length;
        }
        return { kind: "hello", bytes };
      }
    }
  }

  /** Waits for `socket` to be secure; null (logged) when it fails or closes first. */
  #handshake(
    socket: tls.TLSSocket,
    duplex: ConnDuplex,
    peer: string,
    timedOut: () => boolean,
  ): Promise<tls.TLSSocket | null> {
    return new Promise((resolve) => {
      let settled = false;
      const settle = (result: tls.TLSSocket | null, reason?: string) => {
        if (settled) return;
        settled = true;
        if (result === null) {
          if (reason !== undefined) this.#failed(peer, reason);
          socket.destroy();
        }
        resolve(result);
      };
      // One listener for the socket's whole life: an 'error' event with no
      // listener would throw. After the handshake, its owner handles errors.
      socket.on("error", (error: Error & { code?: string }) => {
        settle(null, timedOut() ? "tls handshake timed out" : handshakeProblem(error));
      });
      const closed = () => {
        settle(null, timedOut() ? "tls handshake timed out" : "closed during the tls handshake");
      };
      socket.once("close", closed);
      // Under Deno 2.9.6 the TLS layer does not report a peer that goes away
      // mid-handshake (a client that refused the certificate without an
      // alert): the end of the stream under it does.
      duplex.once("end", closed);
      duplex.once("close", closed);
      socket.once("secure", () => {
        duplex.off("end", closed);
        duplex.off("close", closed);
        settle(socket);
      });
      // The bound is the timer of handshake(): it destroys the socket, which closes it.
    });
  }

  #failed(peer: string, reason: string): void {
    this.#log.log({ event: "tls", peer, reason });
  }
}

/** A failed handshake in a few words (one line, never a stack). */
function handshakeProblem(error: Error & { code?: string }): string {
  const code = error.code ?? "";
  if (code === "ECONNRESET" || code === "EPIPE") return "connection reset during the tls handshake";
  if (code === "ERR_SSL_WRONG_VERSION_NUMBER" || /wrong version number/i.test(error.message)) {
    return "not a tls client (plain text on a tls port)";
  }
  return `tls handshake failed: ${errorLine(error)}`;
}
