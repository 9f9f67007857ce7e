/**
 * The echo servers: `serveEcho()` (RFC 862 over TCP, and with `httpPort`
 * WebSocket echo on the same limits) and `serveWebSocketEcho()` (WebSocket
 * only, in the shape of the seed's V `websocket.new_server(port, route)`).
 *
 * Echo never injects bytes into an echo stream: a TCP client refused by a
 * limit, or closed as idle, is closed without a word (the log says why). A
 * WebSocket client gets a close code instead: 1013 with the reason when
 * refused, 1001 when idle or at shutdown.
 *
 * @module
 */

import { Admission } from "../net/admission.ts";
import type { RequestHead } from "../net/http_head.ts";
import { InputBudgets } from "../net/input_budget.ts";
import { HttpListener } from "../net/http_listener.ts";
import { IdleSweep } from "../net/idle_sweep.ts";
import { type ParleyServer, serverBase, ServerLifecycle } from "../net/lifecycle.ts";
import { TcpListener } from "../net/tcp_listener.ts";
import type { TlsAcceptor } from "../net/tls_acceptor.ts";
import type { TlsPair } from "../net/tls_pair.ts";
import {
  CLOSE_GRACE_MS,
  DEFAULT_CHAT_PORT,
  DEFAULT_ECHO_WS_PATH,
  DEFAULT_HOST,
  DEFAULT_HTTP_PORT,
  DEFAULT_MAX_MESSAGE_BYTES,
  ECHO_WS_INPUT_BYTES_RATE,
  IP_BUDGET_MEMBERS,
} from "../support/constants.ts";
import type { Logger } from "../support/log.ts";
import { checkNumber } from "../support/options.ts";
import { type EchoTransform, TcpEchoConnection } from "./tcp_echo.ts";
import { ECHO_WS_HIGH_WATER, WebSocketEchoConnection } from "./ws_echo.ts";

export type { EchoTransform } from "./tcp_echo.ts";

const ECHO = "Cannot start the echo server";

/** Options shared by both echo servers. */
export interface EchoLimitsOptions {
  /** Interface to listen on. @default {"0.0.0.0"} */
  hostname?: string;
  /** Let several processes listen on the same ports. @default {false} */
  reusePort?: boolean;
  /** Pending connections the kernel keeps per listener (capped by `somaxconn`). @default {4096} */
  backlog?: number;
  /** Clients at once, every transport together. @default {1000} */
  maxClients?: number;
  /** Clients from one IP address at once (0 = no limit). @default {20} */
  maxPerIp?: number;
  /** Seconds without a byte (TCP) or a message (WebSocket) before a client is closed (0 = never). @default {0} */
  idleTimeout?: number;
  /** Milliseconds shutdown waits for clients to take their last bytes. @default {5000} */
  shutdownTimeout?: number;
  /** Receives listen, connect, disconnect, refuse and shutdown events. @default {silent} */
  logger?: Logger;
  /**
   * Certificate (chain) and key, PEM: every port then speaks TLS (echo over
   * TLS, `wss://`). A pair that cannot serve throws a `CertificateError` at
   * once. @default {plain TCP and HTTP}
   */
  tls?: TlsPair;
  /** Milliseconds a TLS client gets from connecting to a complete handshake. @default {10000} */
  tlsHandshakeTimeout?: number;
}

/** Options of the WebSocket side of the echo servers. */
export interface WebSocketEchoOptions {
  /** Path of the WebSocket endpoint; other paths get 404. @default {"/"} */
  path?: string;
  /** Largest message; a bigger one closes with 1009. @default {16777216} */
  maxMessageBytes?: number;
  /** Seconds between pings; no pong by the next one closes (0 = off). @default {30} */
  pingInterval?: number;
  /** Origins allowed besides the server's own. @default {[]} */
  allowOrigins?: readonly string[];
  /**
   * Host names the server answers to besides loopback names and its bound
   * addresses (a same-origin page counts only on these). @default {[]}
   */
  hostNames?: readonly string[];
  /**
   * Accepts or refuses a client from its request before the handshake
   * (like the seed's `on_connect`): return `true`, or a reason to refuse
   * with HTTP 403. @default {accept every client}
   */
  accept?: (request: RequestHead) => boolean | string;
}

/** Options of {@linkcode serveEcho}. */
export interface ServeEchoOptions extends EchoLimitsOptions, WebSocketEchoOptions {
  /** TCP port; 0 picks a free one (read `addr`). @default {7878} */
  port?: number;
  /** HTTP port for WebSocket echo; 0 picks a free one. @default {no HTTP listener (server.ts uses 7880)} */
  httpPort?: number;
  /** TCP only: `upper` returns UTF-8 text upper-cased. @default {"none"} */
  transform?: EchoTransform;
}

/** Options of {@linkcode serveWebSocketEcho}. */
export interface ServeWebSocketEchoOptions extends EchoLimitsOptions, WebSocketEchoOptions {
  /** HTTP port; 0 picks a free one (read `addr`). @default {7880} */
  port?: number;
}

/**
 * Starts an echo server: RFC 862 over TCP, and WebSocket echo on
 * `httpPort` when given (await `ready`, then read `httpAddr`).
 *
 * @example
 * ```ts ignore
 * await using server = serveEcho({ hostname: "127.0.0.1", port: 0 });
 * ```
 */
export function serveEcho(options: ServeEchoOptions = {}): ParleyServer {
  const echo = new EchoCore(options);
  const transform = options.transform ?? "none";
  if (transform !== "none" && transform !== "upper") {
    throw new RangeError(
      `Cannot start the echo server: transform must be "none" or "upper", received ${transform}`,
    );
  }
  // Options are checked: TCP binds (or throws) first, then HTTP starts binding.
  const tcp = new TcpListener({
    hostname: options.hostname ?? DEFAULT_HOST,
    port: options.port ?? DEFAULT_CHAT_PORT,
    reusePort: options.reusePort,
    backlog: options.backlog,
    admission: echo.admission,
    refusal: () => null,
    serve: (conn, peer) => echo.serveTcp(new TcpEchoConnection(conn, peer), transform),
    tls: echo.tls,
    logger: echo.log,
  });
  const http = options.httpPort === undefined ? null : echo.httpListener(options.httpPort);
  return echo.lifecycle(tcp, http).server(echo.admission.descriptorsNeeded);
}

/**
 * Starts a WebSocket echo server and resolves once it listens (`addr` is
 * the HTTP address). Every message comes back with its own opcode.
 *
 * @example
 * ```ts ignore
 * await using server = await serveWebSocketEcho({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   accept: (request) => request.url === "/" || "only / is served",
 * });
 * console.log(`ws://127.0.0.1:${server.addr.port}/`);
 * ```
 */
export async function serveWebSocketEcho(
  options: ServeWebSocketEchoOptions = {},
): Promise<ParleyServer> {
  const echo = new EchoCore(options);
  const http = echo.httpListener(options.port ?? DEFAULT_HTTP_PORT);
  const server = echo.lifecycle(null, http).server(echo.admission.descriptorsNeeded);
  await server.ready;
  return server;
}

/** What both echo servers share: limits, connection tracking, idle sweep. */
class EchoCore {
  readonly log: Logger;
  readonly admission: Admission;
  readonly tls: TlsAcceptor | undefined;
  readonly #options: EchoLimitsOptions & WebSocketEchoOptions;
  readonly #maxMessageBytes: number;
  readonly #pingIntervalMs: number;
  readonly #shutdownTimeoutMs: number;
  readonly #tcp = new Set<TcpEchoConnection>();
  readonly #ws = new Set<WebSocketEchoConnection>();
  readonly #idle: IdleSweep<TcpEchoConnection | WebSocketEchoConnection>;
  readonly #budgets = new InputBudgets(
    { rate: ECHO_WS_INPUT_BYTES_RATE, burst: 2 * ECHO_WS_INPUT_BYTES_RATE },
    {
      rate: IP_BUDGET_MEMBERS * ECHO_WS_INPUT_BYTES_RATE,
      burst: 2 * IP_BUDGET_MEMBERS * ECHO_WS_INPUT_BYTES_RATE,
    },
  );

  /** Validates every option before anything is bound or started. */
  constructor(options: EchoLimitsOptions & WebSocketEchoOptions) {
    this.#options = options;
    this.#maxMessageBytes = checkNumber(
      ECHO,
      "maxMessageBytes",
      options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      { min: 1, integer: true },
    );
    const idleTimeout = checkNumber(ECHO, "idleTimeout", options.idleTimeout ?? 0);
    const base = serverBase(ECHO, options);
    this.log = base.logger;
    this.tls = base.tls;
    this.#pingIntervalMs = base.pingIntervalMs;
    this.#shutdownTimeoutMs = base.shutdownTimeoutMs;
    this.admission = new Admission({
      maxClients: options.maxClients,
      maxPerIp: options.maxPerIp,
      logger: this.log,
    });
    this.#idle = new IdleSweep(idleTimeout * 1000, (connection) => {
      if (connection instanceof TcpEchoConnection) connection.closeIdle();
      else connection.end(1001, "idle", CLOSE_GRACE_MS);
    });
  }

  async serveTcp(connection: TcpEchoConnection, transform: EchoTransform): Promise<void> {
    this.#tcp.add(connection);
    this.#idle.add(connection);
    this.log({ event: "connect", peer: connection.peer, transport: connection.transport });
    const reason = await connection.run(transform);
    this.#idle.delete(connection);
    this.#tcp.delete(connection);
    const { peer, transport } = connection;
    this.log({ event: "disconnect", peer, reason, transport });
  }

  httpListener(port: number): HttpListener {
    const options = this.#options;
    const accept = options.accept;
    return new HttpListener({
      hostname: options.hostname ?? DEFAULT_HOST,
      port,
      reusePort: options.reusePort,
      backlog: options.backlog,
      admission: this.admission,
      allowOrigins: options.allowOrigins,
      hostNames: options.hostNames,
      pingIntervalMs: this.#pingIntervalMs,
      tls: this.tls,
      logger: this.log,
      websockets: {
        [options.path ?? DEFAULT_ECHO_WS_PATH]: {
          maxMessageBytes: this.#maxMessageBytes,
          // One message echoed past the high water, then reading stops.
          maxQueueBytes: this.#maxMessageBytes + 2 * ECHO_WS_HIGH_WATER,
          accept: accept === undefined ? undefined : (request) => {
            const verdict = accept(request);
            return verdict === true ? true : verdict === false ? "refused by the server" : verdict;
          },
          serve: (connection) => this.#serveWebSocket(new WebSocketEchoConnection(connection)),
        },
      },
    });
  }

  lifecycle(tcp: TcpListener | null, http: HttpListener | null): ServerLifecycle {
    return new ServerLifecycle({
      tcp,
      http,
      admission: this.admission,
      tls: this.tls,
      shutdownTimeoutMs: this.#shutdownTimeoutMs,
      logger: this.log,
      describe: () => ({ clients: this.#tcp.size + this.#ws.size }),
      stopClients: (graceMs) => {
        for (const connection of this.#tcp) connection.stop(graceMs);
        for (const connection of this.#ws) connection.end(1001, "server shutting down", graceMs);
      },
      stopTimers: () => this.#idle.stop(),
    });
  }

  async #serveWebSocket(connection: WebSocketEchoConnection): Promise<void> {
    this.#ws.add(connection);
    this.#idle.add(connection);
    const transport = connection.connection.secure ? "wss" : "ws";
    this.log({ event: "connect", peer: connection.peer, transport });
    const budget = this.#budgets.acquire(connection.connection.address);
    const reason = await connection.run(budget);
    budget.release();
    this.#idle.delete(connection);
    this.#ws.delete(connection);
    this.log({ event: "disconnect", peer: connection.peer, reason, transport });
  }
}
