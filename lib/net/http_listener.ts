/**
 * The HTTP port: WebSocket endpoints and plain requests, on Deno's own
 * sockets (`Deno.listen`).
 *
 * Every connection passes the same {@linkcode Admission} as the TCP
 * listener before a byte is read. The listener then reads the request head
 * itself: at most 8 KiB (more gets 431), within a time limit (else 408 and
 * the close; a malformed head gets 400). A WebSocket upgrade on one of the
 * WebSocket paths is answered here (`ws_upgrade.ts`) and the connection
 * becomes a {@linkcode WebSocketConnection}: npm `ws`'s parser, Parley's
 * I/O. Any other request is handed, with the bytes already read, to
 * `node:http` for the page's handler (sirv): one request per connection,
 * GET and HEAD only (405), a WebSocket path without an upgrade 426,
 * unknown paths 404.
 *
 * A refused connection that may linger still gets its request read, so it
 * learns why: a 503 with the reason and `Retry-After`, or for a WebSocket
 * the handshake and then close code 1013 with the reason.
 *
 * Every open WebSocket is pinged every `pingIntervalMs`; one that has not
 * answered the previous ping by then is closed (`ping timeout`).
 *
 * With `tls` the port serves `https://` and `wss://`: a connection is
 * admitted as raw TCP (so handshakes count against the limits), completes
 * its TLS handshake within the acceptor's bound, and only then is its head
 * read; the head timeout starts then.
 *
 * @module
 */

import http from "node:http";
import type { Socket } from "node:net";
import {
  HTTP_ERROR_LINGER_MS,
  HTTP_HEAD_TIMEOUT_MS,
  MAX_HTTP_HEAD_BYTES,
  REFUSAL_LINGER_MS,
  RETRY_AFTER_SECONDS,
} from "../support/constants.ts";
import { type Logger, safeLogger, silentLogger } from "../support/log.ts";
import { type Admission, isTicket, type Refusal, type Ticket } from "./admission.ts";
import { closeQuietly, errorText, type StreamConn } from "./conn.ts";
import { ConnDuplex } from "./conn_duplex.ts";
import { acceptEach } from "./accept_loop.ts";
import { parseHead, readHead } from "./http_head.ts";
import { httpReply, pathOf, replyText } from "./http_reply.ts";
import { lingeringClose } from "./lingering_close.ts";
import { bindTcp } from "./tcp_listener.ts";
import type { TlsAcceptor } from "./tls_acceptor.ts";
import type { WebSocketConnection } from "./ws_conn.ts";
import { OpenConns } from "./open_conns.ts";
import { wantsWebSocket } from "./ws_handshake.ts";
import { OriginCheck, upgrade, type WebSocketRoute } from "./ws_upgrade.ts";

export type { WebSocketConnection } from "./ws_conn.ts";
export type { WebSocketRoute } from "./ws_upgrade.ts";
export { httpReply, pathOf, replyText, truncateReason } from "./http_reply.ts";

/** Options of {@linkcode HttpListener}. */
export interface HttpListenerOptions {
  hostname: string;
  /** 0 picks a free port (read it back from `addr`). */
  port: number;
  /** Let several processes listen on the same port. @default {false} */
  reusePort?: boolean;
  /** Pending connections the kernel keeps (capped by `somaxconn`). @default {4096} */
  backlog?: number;
  /** The limits shared with the server's other listeners. */
  admission: Admission;
  /** WebSocket endpoints by path (`/ws`). */
  websockets: Record<string, WebSocketRoute>;
  /**
   * Answers a GET or HEAD that is not a WebSocket upgrade; returns false to
   * let the listener answer 404. @default {404 for everything}
   */
  handleRequest?: (request: http.IncomingMessage, response: http.ServerResponse) => boolean;
  /**
   * Paths answered even on a connection the limits refused (one that may
   * linger): `/healthz` and `/metrics` must answer on a full server. @default {[]}
   */
  exemptPaths?: readonly string[];
  /** Origins allowed besides the server's own (`https://chat.example`). @default {[]} */
  allowOrigins?: readonly string[];
  /**
   * Host names the server answers to besides loopback names and the
   * addresses it is bound to: a same-origin WebSocket counts only for
   * these. @default {[]}
   */
  hostNames?: readonly string[];
  /** Milliseconds to send the request head. @default {10000} */
  headTimeoutMs?: number;
  /** Milliseconds between pings of each WebSocket (0 = none). @default {30000} */
  pingIntervalMs?: number;
  /** Serve `https://` and `wss://`: handshakes through this acceptor. @default {plain HTTP} */
  tls?: TlsAcceptor;
  /** Receives `error` events. @default {silent} */
  logger?: Logger;
}

/** Listens on the HTTP port; `ready` resolves once bound. */
export class HttpListener {
  /** Resolves with the bound address (rejects if it cannot be bound). */
  readonly ready: Promise<Deno.NetAddr>;
  /** Settles once accepting has stopped and every connection is closed. */
  readonly finished: Promise<void>;
  readonly #options: HttpListenerOptions;
  readonly #log: Logger;
  readonly #listener: Deno.TcpListener | null = null;
  readonly #http: http.Server;
  readonly #origins: OriginCheck;
  /** Connections not (yet) WebSockets: cut by `close()`. */
  readonly #requests = new Set<Deno.TcpConn>();
  /** Every open connection. */
  readonly #open = new OpenConns<Deno.TcpConn>();
  readonly #websockets = new Set<WebSocketConnection>();
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(options: HttpListenerOptions) {
    this.#options = options;
    this.#log = safeLogger(options.logger ?? silentLogger);
    this.#http = http.createServer({ maxHeaderSize: MAX_HTTP_HEAD_BYTES });
    this.#http.on("request", (request, response) => this.#onRequest(request, response));
    // WebSocket upgrades never get here; any other protocol is not spoken.
    this.#http.on("upgrade", (_request, socket: Socket) => {
      socket.end(httpReply(400, "only WebSocket upgrades are served\n"));
    });
    this.#http.on("clientError", (error: Error & { code?: string }, socket: Socket) => {
      if (socket.destroyed) return;
      socket.end(httpReply(error.code === "HPE_HEADER_OVERFLOW" ? 431 : 400, ""));
    });
    try {
      this.#listener = bindTcp(options);
    } catch (failure) {
      this.ready = Promise.reject(failure);
      this.ready.catch(() => {});
      this.finished = Promise.resolve();
      this.#origins = new OriginCheck(options, []);
      return;
    }
    const addr = this.#listener.addr;
    this.ready = Promise.resolve(addr);
    this.#origins = new OriginCheck(options, [addr.hostname]);
    this.finished = this.#acceptLoop(this.#listener);
    const pingMs = options.pingIntervalMs ?? 30_000;
    if (pingMs > 0) this.#pingTimer = setInterval(() => this.#ping(), pingMs);
  }

  /** Stops accepting; requests not yet upgraded are cut, WebSockets carry on. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#pingTimer);
    if (this.#listener !== null) closeQuietly(this.#listener);
    for (const conn of this.#requests) closeQuietly(conn);
  }

  /** Closes every connection still open (the end of a shutdown). */
  closeAll(): void {
    for (const connection of this.#websockets) connection.abort();
    this.#open.closeAll();
  }

  async #acceptLoop(listener: Deno.TcpListener): Promise<void> {
    await acceptEach(listener, {
      closed: () => this.#closed,
      accept: (conn, address, peer) => this.#accept(conn, address, peer),
      log: this.#log,
      label: "http accept failed",
    });
    this.close();
    await this.#open.emptied();
  }

  #accept(conn: Deno.TcpConn, address: string, peer: string): void {
    const admitted = this.#options.admission.admit(
      address,
      peer,
      this.#options.tls ? "https" : "http",
    );
    if (!isTicket(admitted) && !admitted.linger) return closeQuietly(conn);
    try {
      conn.setNoDelay(true);
    } catch { /* the peer is already gone; reading will notice */ }
    this.#open.add(conn);
    this.#requests.add(conn);
    void this.#serveOne(conn, peer, address, admitted);
  }

  /** Serves one connection, then closes it and frees its place: one call, no promise chain. */
  async #serveOne(
    conn: Deno.TcpConn,
    peer: string,
    address: string,
    admitted: Ticket | Refusal,
  ): Promise<void> {
    try {
      await this.#serve(conn, peer, address, admitted);
    } catch (error) {
      this.#log({ event: "error", peer, reason: `http: ${errorText(error)}` });
    }
    closeQuietly(conn);
    this.#requests.delete(conn);
    if (isTicket(admitted)) admitted.release();
    else admitted.done();
    this.#open.delete(conn);
  }

  async #serve(
    conn: Deno.TcpConn,
    peer: string,
    address: string,
    admitted: Ticket | Refusal,
  ): Promise<void> {
    let stream: StreamConn = conn;
    const tls = this.#options.tls;
    if (tls !== undefined) {
      const secure = await tls.secureConn(conn, peer, { plaintextReply: PLAIN_HTTP_REPLY });
      if (secure === null || this.#closed) return; // logged, and closed
      stream = secure;
    }
    try {
      await this.#request(conn, stream, peer, address, admitted);
    } finally {
      if (stream !== conn) closeQuietly(stream);
    }
  }

  async #request(
    conn: Deno.TcpConn,
    stream: StreamConn,
    peer: string,
    address: string,
    admitted: Ticket | Refusal,
  ): Promise<void> {
    const refused = !isTicket(admitted);
    const headTimeoutMs = this.#options.headTimeoutMs ?? HTTP_HEAD_TIMEOUT_MS;
    // A refused connection lingers only as long as a refused TCP one.
    const timeout = new AbortController();
    const timer = setTimeout(
      () => timeout.abort(),
      refused ? Math.min(headTimeoutMs, REFUSAL_LINGER_MS) : headTimeoutMs,
    );
    const read = await readHead(stream, MAX_HTTP_HEAD_BYTES, timeout.signal)
      .finally(() => clearTimeout(timer));
    const answer = (status: number, text: string, headers?: Record<string, string>) =>
      lingeringClose(
        stream,
        ENCODER.encode(httpReply(status, text, headers)),
        HTTP_ERROR_LINGER_MS,
      );
    if (read.kind === "closed") return;
    if (read.kind === "timeout") {
      return refused ? answer(503, refusalText(admitted), RETRY_AFTER) : answer(408, "");
    }
    if (read.kind === "too-large") return answer(431, "");
    if (read.kind === "not-http") {
      return answer(
        400,
        "not an HTTP request: this is Parley's HTTP port (the page, WebSocket at /ws)\n",
      );
    }
    const head = parseHead(read.bytes.subarray(0, read.end));
    if (head === null) return answer(400, "");
    if (wantsWebSocket(head) && !this.#closed) {
      this.#requests.delete(conn);
      return upgrade(stream, head, read.bytes.subarray(read.end), {
        peer,
        address,
        refusal: refused ? (admitted as Refusal).reason : null,
        route: this.#options.websockets[head.path],
        origins: this.#origins,
        localAddress: (conn.localAddr as Deno.NetAddr).hostname,
        opened: (connection) => this.#websockets.add(connection),
        closed: (connection) => this.#websockets.delete(connection),
        logger: this.#log,
      });
    }
    // /healthz and /metrics answer even on a full server.
    const exempt = this.#options.exemptPaths?.includes(head.path) === true;
    if (refused && !exempt) return answer(503, refusalText(admitted), RETRY_AFTER);
    // Everything else goes to node:http, the bytes read so far first.
    const duplex = new ConnDuplex(stream, { head: read.bytes });
    const closed = new Promise((resolve) => duplex.once("close", resolve));
    duplex.on("error", () => {}); // resets are normal; 'close' follows
    this.#http.emit("connection", duplex);
    await closed;
  }

  #onRequest(request: http.IncomingMessage, response: http.ServerResponse): void {
    response.shouldKeepAlive = false; // one request per connection
    const reply = (status: number, text: string, headers?: Record<string, string>) =>
      replyText(request, response, status, text, headers);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return reply(405, `method ${request.method} not allowed; use GET\n`, { allow: "GET, HEAD" });
    }
    const path = pathOf(request);
    if (this.#options.websockets[path] !== undefined) {
      return reply(426, `${path} is a WebSocket endpoint; connect with a WebSocket client\n`, {
        upgrade: "websocket",
      });
    }
    if (this.#options.handleRequest?.(request, response)) return;
    reply(404, `not found: ${path}\n`);
  }

  #ping(): void {
    for (const connection of this.#websockets) {
      if (!connection.alive) {
        connection.endedBy = "ping timeout";
        connection.abort();
        continue;
      }
      connection.alive = false;
      connection.ping();
    }
  }
}

const ENCODER = new TextEncoder();

/** The header of every refusal (503): when to try again. */
const RETRY_AFTER: Readonly<Record<string, string>> = {
  "Retry-After": String(RETRY_AFTER_SECONDS),
};

/** The body of a refusal (503): its reason. */
function refusalText(refusal: Ticket | Refusal): string {
  return `${(refusal as Refusal).reason}\n`;
}

/** What a plain `http://` request to the `https://` port gets, in clear (as nginx does). */
const PLAIN_HTTP_REPLY = ENCODER.encode(
  httpReply(400, "this port speaks HTTPS: use https:// (wss:// for WebSocket)\n"),
);
