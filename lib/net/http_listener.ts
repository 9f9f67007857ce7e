/**
 * The HTTP port: WebSocket endpoints and plain requests, on `node:http`
 * and npm `ws` under Deno (the reasons are in the README).
 *
 * Parley owns the accept loop (a `node:net` server) and hands each socket
 * to the HTTP parser itself, so every connection passes the same
 * {@linkcode Admission} as the TCP listener before a byte is parsed, and
 * the bounds hold whatever `node:http` does: a request head of at most
 * 8 KiB (more gets 431), sent within a time limit (else 408 and the
 * close), one request per connection (`Connection: close`), GET and HEAD
 * only (405), unknown paths 404. WebSocket upgrades pass an `Origin` check
 * (cross-site WebSocket hijacking): same-origin pages and clients that send
 * no `Origin` are allowed, others only when listed.
 *
 * A refused connection that may linger still gets its request read, so it
 * learns why: a 503 with the reason, or for a WebSocket the handshake and
 * then close code 1013 with the reason.
 *
 * Every open WebSocket is pinged every `pingIntervalMs`; one that has not
 * answered the previous ping by then is terminated (`ping timeout`).
 *
 * With `tls` the port serves `https://` and `wss://`: a connection is
 * admitted as raw TCP (so handshakes count against the limits), completes
 * its TLS handshake within the acceptor's bound, and only then is handed
 * to the HTTP parser; the head timeout starts then.
 *
 * @module
 */

import http from "node:http";
import net from "node:net";
import type tls from "node:tls";
import { Buffer } from "node:buffer";
import type { WebSocket, WebSocketServer } from "ws";
import {
  CLOSE_GRACE_MS,
  HTTP_ERROR_LINGER_MS,
  HTTP_HEAD_TIMEOUT_MS,
  MAX_HTTP_HEAD_BYTES,
  REFUSAL_LINGER_MS,
  RETRY_AFTER_SECONDS,
} from "../support/constants.ts";
import { type Logger, safeLogger, silentLogger } from "../support/log.ts";
import { utf8Length } from "../framing/utf8.ts";
import { type Admission, isTicket, type Refusal, type Ticket } from "./admission.ts";
import { formatAddr, listenProblem, plainAddress } from "./conn.ts";
import { ListenError } from "../support/errors.ts";
import { endWithUnderlying } from "./conn_duplex.ts";
import { SocketConn } from "./socket_conn.ts";
import type { TlsAcceptor } from "./tls_acceptor.ts";

/** An open WebSocket with what the listener knows of its connection. */
export class WebSocketConnection {
  readonly ws: WebSocket;
  readonly request: http.IncomingMessage;
  /** Remote `host:port`. */
  readonly peer: string;
  /** Remote IP address. */
  readonly address: string;
  /** Set when the listener ended it (`ping timeout`), before its close event. */
  endedBy: string | null = null;
  /** Answered the last ping. */
  alive = true;
  #ending = false;

  constructor(ws: WebSocket, request: http.IncomingMessage, peer: string, address: string) {
    this.ws = ws;
    this.request = request;
    this.peer = peer;
    this.address = address;
  }

  /** True over TLS (`wss://`). */
  get secure(): boolean {
    return (this.request.socket as tls.TLSSocket).encrypted === true;
  }

  /**
   * Destroys the socket at once; with a reset (RST) when the runtime allows
   * it, so no kernel buffer keeps unsent bytes for a peer that is gone.
   */
  reset(): void {
    const socket = (this.ws as unknown as { _socket?: net.Socket })._socket;
    if (socket !== undefined && typeof socket.resetAndDestroy === "function") {
      socket.resetAndDestroy();
    } else this.ws.terminate();
  }

  /**
   * Closes with `code` and `reason` (cut to fit a close frame), once
   * `after` settles when given (what is queued goes first), and resets the
   * socket if it is not closed within `graceMs` from now: megabytes may be
   * stuck in the kernel for a peer that does not read. The timer ends with
   * the close. Only the first call counts.
   */
  end(code: number, reason: string, graceMs: number, after?: Promise<unknown>): void {
    const { ws } = this;
    if (this.#ending || ws.readyState === ws.CLOSED) return;
    this.#ending = true;
    const timer = setTimeout(() => this.reset(), Math.max(0, graceMs));
    ws.once("close", () => clearTimeout(timer));
    const close = () => {
      if (ws.isPaused) ws.resume(); // read the peer's answer to the close
      if (ws.readyState !== ws.OPEN) return;
      try {
        ws.close(code, truncateReason(reason));
      } catch { /* closing already */ }
    };
    if (after === undefined) close();
    else after.then(close, close);
  }
}

/** A WebSocket endpoint on the HTTP port. */
export interface WebSocketRoute {
  /** The `ws` server (made with `noServer: true`) that completes handshakes. */
  server: WebSocketServer;
  /**
   * Accepts or refuses a client from its request (path, headers), before
   * the handshake; a string refuses with that reason (HTTP 403). Like the
   * seed's `on_connect` returning a boolean.
   */
  accept?: (request: http.IncomingMessage) => true | string;
  /** Serves an open WebSocket; resolves once it is closed. */
  serve: (connection: WebSocketConnection) => Promise<void>;
}

/** Options of {@linkcode HttpListener}. */
export interface HttpListenerOptions {
  hostname: string;
  /** 0 picks a free port (read it back from `addr`). */
  port: number;
  /** Let several processes listen on the same port. @default {false} */
  reusePort?: boolean;
  /** The limits shared with the server's other listeners. */
  admission: Admission;
  /** WebSocket endpoints by path (`/ws`). */
  websockets: Record<string, WebSocketRoute>;
  /**
   * Answers a GET or HEAD that is not a WebSocket upgrade; returns false to
   * let the listener answer 404. @default {404 for everything}
   */
  handleRequest?: (request: http.IncomingMessage, response: http.ServerResponse) => boolean;
  /** Origins allowed besides the server's own (`https://chat.example`). @default {[]} */
  allowOrigins?: readonly string[];
  /** Milliseconds to send the request head. @default {10000} */
  headTimeoutMs?: number;
  /** Milliseconds between pings of each WebSocket (0 = none). @default {30000} */
  pingIntervalMs?: number;
  /** Serve `https://` and `wss://`: handshakes through this acceptor. @default {plain HTTP} */
  tls?: TlsAcceptor;
  /** Receives `error` events. @default {silent} */
  logger?: Logger;
}

interface SocketState {
  admitted: Ticket | Refusal;
  peer: string;
  address: string;
  headTimer: ReturnType<typeof setTimeout> | undefined;
  upgraded: boolean;
  /** The socket the HTTP parser reads: the accepted one, or the TLS socket over it. */
  httpSocket: net.Socket | null;
}

/** Listens on the HTTP port; `ready` resolves once bound. */
export class HttpListener {
  /** Resolves with the bound address (rejects if it cannot be bound). */
  readonly ready: Promise<Deno.NetAddr>;
  /** Settles once accepting has stopped and every connection is closed. */
  readonly finished: Promise<void>;
  readonly #options: HttpListenerOptions;
  readonly #log: Logger;
  readonly #net: net.Server;
  readonly #http: http.Server;
  /** Every accepted socket (raw TCP) and its state. */
  readonly #sockets = new Map<net.Socket, SocketState>();
  /** The state of each socket handed to the HTTP parser. */
  readonly #byHttpSocket = new WeakMap<net.Socket, SocketState>();
  readonly #websockets = new Set<WebSocketConnection>();
  readonly #allowOrigins: Set<string>;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #resolveFinished!: () => void;
  /** Binding the port (`finished` waits for that to end), listening, or not bound. */
  #status: "binding" | "listening" | "failed" = "binding";

  constructor(options: HttpListenerOptions) {
    this.#options = options;
    this.#log = safeLogger(options.logger ?? silentLogger);
    this.#allowOrigins = new Set((options.allowOrigins ?? []).map(normaliseOrigin));
    this.#http = http.createServer({ maxHeaderSize: MAX_HTTP_HEAD_BYTES });
    this.#http.on("request", (request, response) => this.#onRequest(request, response));
    this.#http.on(
      "upgrade",
      (request, socket, head) => this.#onUpgrade(request, socket as net.Socket, head),
    );
    this.#http.on("clientError", (error: Error & { code?: string }, socket: net.Socket) => {
      // A malformed head, or one over the size bound: say which, and go.
      if (socket.destroyed) return;
      socket.end(httpReply(error.code === "HPE_HEADER_OVERFLOW" ? 431 : 400, ""));
      destroyAfter(socket, HTTP_ERROR_LINGER_MS);
    });
    this.#net = net.createServer({ pauseOnConnect: false }, (socket) => this.#onSocket(socket));
    this.finished = new Promise((resolve) => (this.#resolveFinished = resolve));
    this.ready = new Promise((resolve, reject) => {
      this.#net.once("error", (error) => {
        this.#status = "failed";
        reject(
          new ListenError(
            formatAddr({ hostname: options.hostname, port: options.port }),
            listenProblem(error),
            { cause: error },
          ),
        );
      });
      this.#net.listen(
        { host: options.hostname, port: options.port, reusePort: options.reusePort === true },
        () => {
          this.#status = "listening";
          this.#net.removeAllListeners("error");
          this.#net.on(
            "error",
            (error) => this.#log({ event: "error", reason: `http listener: ${error.message}` }),
          );
          const address = this.#net.address() as net.AddressInfo;
          resolve({ transport: "tcp", hostname: address.address, port: address.port });
          // Closed while the port was being bound: release it now.
          if (this.#closed) this.#net.close(() => this.#maybeFinished());
        },
      );
    });
    this.ready.catch(() => this.#resolveFinished());
    const pingMs = options.pingIntervalMs ?? 30_000;
    if (pingMs > 0) this.#pingTimer = setInterval(() => this.#ping(), pingMs);
  }

  /** Stops accepting; requests not yet upgraded are cut, WebSockets carry on. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#pingTimer);
    if (this.#status === "listening") this.#net.close(() => this.#maybeFinished());
    for (const [socket, state] of this.#sockets) {
      if (!state.upgraded) {
        state.httpSocket?.destroy();
        socket.destroy();
      }
    }
    this.#maybeFinished();
  }

  /** Resets every connection still open (the end of a shutdown). */
  closeAll(): void {
    for (const connection of this.#websockets) connection.reset();
    for (const [socket, state] of this.#sockets) {
      state.httpSocket?.destroy();
      socket.destroy();
    }
  }

  #maybeFinished(): void {
    if (this.#closed && this.#status !== "binding" && this.#sockets.size === 0) {
      // The net server's own close callback may still be pending; both end here.
      queueMicrotask(() => this.#resolveFinished());
    }
  }

  #onSocket(socket: net.Socket): void {
    if (this.#closed) return void socket.destroy();
    const address = plainAddress(socket.remoteAddress);
    const peer = formatAddr({ hostname: address, port: socket.remotePort ?? 0 });
    const admitted = this.#options.admission.admit(
      address,
      peer,
      this.#options.tls ? "https" : "http",
    );
    if (!isTicket(admitted) && !admitted.linger) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const state: SocketState = {
      admitted,
      peer,
      address,
      headTimer: undefined,
      upgraded: false,
      httpSocket: null,
    };
    this.#sockets.set(socket, state);
    socket.once("close", () => {
      clearTimeout(state.headTimer);
      this.#sockets.delete(socket);
      if (isTicket(state.admitted)) state.admitted.release();
      else state.admitted.done();
      this.#maybeFinished();
    });
    socket.on("error", () => {}); // resets are normal; 'close' follows
    const tls = this.#options.tls;
    if (tls === undefined) return this.#parse(socket, state);
    const raw = new SocketConn(socket, {
      transport: "tcp",
      hostname: address,
      port: socket.remotePort ?? 0,
    });
    tls.handshake(raw, peer, { plaintextReply: PLAIN_HTTP_REPLY }).then((secure) => {
      if (secure === null) return; // logged, and closed
      if (this.#closed) return void secure.socket.destroy();
      secure.socket.once("close", () => socket.destroy());
      this.#parse(secure.socket, state);
      // The parser, then the WebSocket, read as bytes come: nothing piles up
      // in the TLS layer. Paused (a WebSocket over its input budget), no
      // 'data' comes and the bridge stops reading at its bound.
      secure.socket.on("data", () => secure.duplex.caughtUp());
      endWithUnderlying(secure.socket, secure.duplex);
    }).catch((error) => {
      // The acceptor logs and closes what it can; anything else must not go unhandled.
      this.#log({ event: "error", peer, reason: `tls: ${String(error)}` });
      socket.destroy();
    });
  }

  /** Hands a socket to the HTTP parser, which must send its head in time. */
  #parse(socket: net.Socket | tls.TLSSocket, state: SocketState): void {
    state.httpSocket = socket;
    this.#byHttpSocket.set(socket, state);
    const refused = !isTicket(state.admitted);
    const headTimeoutMs = this.#options.headTimeoutMs ?? HTTP_HEAD_TIMEOUT_MS;
    // A refused connection lingers only as long as a refused TCP one.
    state.headTimer = setTimeout(() => {
      if (socket.destroyed) return;
      socket.end(
        refused
          ? httpReply(503, refusalText(state.admitted as Refusal), RETRY_AFTER)
          : httpReply(408, ""),
      );
      destroyAfter(socket, HTTP_ERROR_LINGER_MS);
    }, refused ? Math.min(headTimeoutMs, REFUSAL_LINGER_MS) : headTimeoutMs);
    this.#http.emit("connection", socket);
  }

  #onRequest(request: http.IncomingMessage, response: http.ServerResponse): void {
    const state = this.#byHttpSocket.get(request.socket as net.Socket);
    if (state !== undefined) clearTimeout(state.headTimer);
    response.shouldKeepAlive = false; // one request per connection
    const reply = (status: number, text: string, headers?: Record<string, string>) =>
      replyText(request, response, status, text, headers);
    if (state !== undefined && !isTicket(state.admitted)) {
      return reply(503, refusalText(state.admitted), RETRY_AFTER);
    }
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

  #onUpgrade(request: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const state = this.#byHttpSocket.get(socket);
    if (state === undefined || this.#closed) return void socket.destroy();
    clearTimeout(state.headTimer);
    state.upgraded = true;
    const path = pathOf(request);
    const route = this.#options.websockets[path];
    const refuse = (status: number, text: string) => {
      socket.end(httpReply(status, text));
      destroyAfter(socket, CLOSE_GRACE_MS);
    };
    if (route === undefined) return refuse(404, `not found: ${path}\n`);
    if (request.method !== "GET") return refuse(405, "use GET\n");
    const origin = request.headers.origin;
    if (origin !== undefined && !this.#originAllowed(origin, request.headers.host)) {
      return refuse(
        403,
        `origin ${origin} is not allowed (the server allows its own; add others with --allow-origin)\n`,
      );
    }
    const verdict = route.accept?.(request) ?? true;
    if (verdict !== true) return refuse(403, `${verdict}\n`);
    route.server.handleUpgrade(request, socket, head, (ws) => {
      const connection = new WebSocketConnection(ws, request, state.peer, state.address);
      if (!isTicket(state.admitted)) {
        // Refused but allowed to linger: say why with a close code.
        return connection.end(1013, state.admitted.reason, CLOSE_GRACE_MS);
      }
      this.#websockets.add(connection);
      ws.on("pong", () => (connection.alive = true));
      route.serve(connection).catch((error) => {
        this.#log({ event: "error", peer: state.peer, reason: String(error) });
        connection.reset();
      }).finally(() => this.#websockets.delete(connection));
    });
  }

  #originAllowed(origin: string, host: string | undefined): boolean {
    const normalised = normaliseOrigin(origin);
    if (this.#allowOrigins.has(normalised) || this.#allowOrigins.has("*")) return true;
    try {
      return host !== undefined && new URL(normalised).host === host.toLowerCase();
    } catch {
      return false;
    }
  }

  #ping(): void {
    for (const connection of this.#websockets) {
      if (connection.ws.readyState !== connection.ws.OPEN) continue;
      if (!connection.alive) {
        connection.endedBy = "ping timeout";
        connection.reset();
        continue;
      }
      connection.alive = false;
      try {
        connection.ws.ping();
      } catch { /* closing already */ }
    }
  }
}

/** The header of every refusal (503): when to try again. */
const RETRY_AFTER: Readonly<Record<string, string>> = {
  "Retry-After": String(RETRY_AFTER_SECONDS),
};

/** The body of a refusal (503): its reason. */
function refusalText(refusal: Refusal): string {
  return `${refusal.reason}\n`;
}

/**
 * A complete `Connection: close` response with a plain-text body, as bytes
 * to write to a socket outside the HTTP parser (a refusal, a timeout, a
 * malformed request).
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { httpReply } from "./http_listener.ts";
 *
 * equal(
 *   httpReply(408, ""),
 *   "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
 * );
 * ```
 */
export function httpReply(
  status: number,
  text: string,
  headers: Readonly<Record<string, string>> = {},
): string {
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\n${extra}` +
    (text === "" ? "" : `Content-Type: ${TEXT_PLAIN}\r\n`) +
    `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`;
}

/**
 * Answers `request` through the HTTP parser with `status` and a plain-text
 * body (none for HEAD, with the same Content-Length).
 */
export function replyText(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  status: number,
  text: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  response.writeHead(status, {
    "content-type": TEXT_PLAIN,
    "content-length": String(Buffer.byteLength(text)),
    ...headers,
  });
  response.end(request.method === "HEAD" ? undefined : text);
}

const TEXT_PLAIN = "text/plain; charset=utf-8";

/** What a plain `http://` request to the `https://` port gets, in clear (as nginx does). */
const PLAIN_HTTP_REPLY = new TextEncoder().encode(
  httpReply(400, "this port speaks HTTPS: use https:// (wss:// for WebSocket)\n"),
);

/** Destroys `socket` after `ms` unless it closes first (no timer outlives it). */
function destroyAfter(socket: net.Socket, ms: number): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), ms);
  socket.once("close", () => clearTimeout(timer));
}

/** The path of a request, without its query. */
export function pathOf(request: http.IncomingMessage): string {
  const url = request.url ?? "/";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

function normaliseOrigin(origin: string): string {
  return origin.trim().toLowerCase().replace(/\/+$/, "");
}

/** A close reason fits in 123 bytes of UTF-8. */
export function truncateReason(reason: string): string {
  if (utf8Length(reason) <= 123) return reason;
  const bytes = new TextEncoder().encode(reason);
  return new TextDecoder().decode(bytes.subarray(0, 120)).replace(/\ufffd$/, "") + "...";
}
