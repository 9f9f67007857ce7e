/**
 * `serveChat()`: the chat server. One hub, shared by a TCP line listener
 * and, when `httpPort` is given, an HTTP listener whose `/ws` accepts
 * WebSocket clients into the same rooms. Both listeners share one set of
 * connection limits.
 *
 * @module
 */

import { WebSocketServer } from "ws";
import type { ChatDirectory } from "../chat/directory.ts";
import { ChatHub, type ChatHubOptions } from "../chat/hub.ts";
import { inputBudgets } from "../chat/settings.ts";
import { InputBudgets } from "../net/input_budget.ts";
import { formatError } from "../chat/protocol.ts";
import { encodeLine } from "../framing/line_codec.ts";
import { Admission } from "../net/admission.ts";
import { HttpListener } from "../net/http_listener.ts";
import { type ParleyServer, serverBase, ServerLifecycle } from "../net/lifecycle.ts";
import { TcpListener } from "../net/tcp_listener.ts";
import type { TlsPair } from "../net/tls_pair.ts";
import {
  CHAT_WS_PATH,
  DEFAULT_CHAT_PORT,
  DEFAULT_HOST,
  HTTP_HEAD_TIMEOUT_MS,
  WS_MESSAGE_LINES,
} from "../support/constants.ts";
import { checkNumber, TIMER_MS } from "../support/options.ts";
import { sweepIntervalMs } from "../support/idle_watch.ts";
import { serveTcpLines } from "../transport/tcp_lines.ts";
import { createPageHandler } from "./page.ts";
import { foreignAnswerText } from "./port_hints.ts";
import { JSON_SUBPROTOCOL, serveWebSocketLines } from "../transport/ws_lines.ts";

/** Options of {@linkcode serveChat}: the hub's, plus the listeners'. */
export interface ServeChatOptions extends ChatHubOptions {
  /** Interface to listen on. @default {"0.0.0.0"} */
  hostname?: string;
  /** TCP port of the line protocol; 0 picks a free one (read `addr`). @default {7878} */
  port?: number;
  /**
   * HTTP port for WebSocket clients (`/ws`); 0 picks a free one (read
   * `httpAddr` after `ready`). @default {no HTTP listener (server.ts uses 7880)}
   */
  httpPort?: number;
  /** Let several processes listen on the same ports. @default {false} */
  reusePort?: boolean;
  /** Clients at once, every transport together. @default {1000} */
  maxClients?: number;
  /** Clients from one IP address at once (0 = no limit). @default {20} */
  maxPerIp?: number;
  /** Seconds between WebSocket pings; no pong by the next one closes (0 = off). @default {30} */
  pingInterval?: number;
  /** Origins allowed to open a WebSocket besides the page's own. @default {[]} */
  allowOrigins?: readonly string[];
  /** Milliseconds shutdown waits for clients to take their last bytes. @default {5000} */
  shutdownTimeout?: number;
  /** Milliseconds a connection to the HTTP port gets to send its request head. @default {10000} */
  headTimeout?: number;
  /** Refused connections that may linger at once to read why; more are closed at once. @default {64} */
  maxLingeringRefusals?: number;
  /**
   * Certificate (chain) and key, PEM: both ports then speak TLS (`tls://`
   * lines, `https://` and `wss://`). A pair that cannot serve throws a
   * `CertificateError` at once; `reloadTls()` swaps it later. @default {plain TCP and HTTP}
   */
  tls?: TlsPair;
  /** Milliseconds a TLS client gets from connecting to a complete handshake. @default {10000} */
  tlsHandshakeTimeout?: number;
  /**
   * Where nicks, rooms and history live beyond this process: a
   * `RedisDirectory` (lib/cluster/) shares them with other servers; it is
   * closed when the server finishes. @default {this process's memory}
   */
  directory?: ChatDirectory;
}

/** A running chat server. */
export interface ChatServer extends ParleyServer {
  /** Chat members connected now, every transport together. */
  readonly clientCount: number;
  /** The hub (for tests and embedding). */
  readonly hub: ChatHub;
}

/**
 * Starts a chat server. Read the TCP address from `addr`; with `httpPort`,
 * await `ready` and read `httpAddr`. Stop it with `shutdown()` or
 * `await using`. Bad options throw a `RangeError` at once.
 *
 * @example
 * ```ts ignore
 * await using server = serveChat({ hostname: "127.0.0.1", port: 0, httpPort: 0 });
 * await server.ready;
 * console.log(server.addr.port, server.httpAddr!.port);
 * ```
 */
export function serveChat(options: ServeChatOptions = {}): ChatServer {
  // First: bad options, or a certificate that cannot serve, throw before anything is started.
  const { logger, tls, shutdownTimeoutMs, pingIntervalMs } = serverBase(START, options);
  const hub = new ChatHub({ ...options, logger });
  const budgets = inputBudgets(hub.settings);
  const lines = {
    maxLineBytes: hub.settings.maxLineBytes,
    maxQueueBytes: hub.settings.maxQueueBytes,
    budgets: new InputBudgets(budgets.connection, budgets.address),
  };
  const headTimeoutMs = checkNumber(
    START,
    "headTimeout",
    options.headTimeout ?? HTTP_HEAD_TIMEOUT_MS,
    { ...TIMER_MS, aboveMin: true },
  );
  const admission = new Admission({
    maxClients: options.maxClients,
    maxPerIp: options.maxPerIp,
    maxLingering: options.maxLingeringRefusals,
    logger,
  });
  const hostname = options.hostname ?? DEFAULT_HOST;
  const tcp: TcpListener = new TcpListener({
    hostname,
    port: options.port ?? DEFAULT_CHAT_PORT,
    reusePort: options.reusePort,
    admission,
    refusal: (reason) => encodeLine(formatError(reason)),
    serve: (conn, peer, address) =>
      serveTcpLines(conn, peer, address, hub, {
        ...lines,
        logger,
        // Another protocol on this port gets one line naming the right one (issue 17 §3).
        foreignAnswer: (protocol, host): Uint8Array =>
          encodeLine(foreignAnswerText(protocol, {
            name: hub.settings.name,
            host: host ?? hostname,
            tcpPort: tcp.addr.port,
            httpPort: server.httpAddr?.port ?? null,
            tls: tls !== undefined,
          })),
      }),
    tls,
    plaintextReply: encodeLine(formatError(TLS_ONLY)),
    logger,
  });
  let http: HttpListener | null = null;
  if (options.httpPort !== undefined) {
    const server = new WebSocketServer({
      noServer: true,
      maxPayload: WS_MESSAGE_LINES * hub.settings.maxLineBytes,
      perMessageDeflate: false,
      handleProtocols: (protocols: Set<string>) =>
        protocols.has(JSON_SUBPROTOCOL) ? JSON_SUBPROTOCOL : false,
    });
    http = new HttpListener({
      hostname,
      port: options.httpPort,
      reusePort: options.reusePort,
      admission,
      allowOrigins: options.allowOrigins,
      headTimeoutMs,
      pingIntervalMs,
      tls,
      logger,
      websockets: {
        [CHAT_WS_PATH]: {
          server,
          serve: (connection) => serveWebSocketLines(connection, hub, lines),
        },
      },
      handleRequest: createPageHandler({ name: hub.settings.name, tcpPort: tcp.addr.port }),
    });
  }
  // The hub's tick: idle members, and the counts of refused lines.
  const idleMs = hub.settings.idleTimeout * 1000;
  const tickMs = idleMs > 0 ? sweepIntervalMs(idleMs) : 1000;
  const ticker = setInterval(() => hub.tick(Date.now()), tickMs);
  const lifecycle = new ServerLifecycle({
    tcp,
    http,
    admission,
    tls,
    shutdownTimeoutMs,
    logger,
    describe: () => ({ clients: hub.memberCount }),
    stopClients: (graceMs) => hub.shutdown(graceMs),
    stopTimers: () => clearInterval(ticker),
  });
  const server = lifecycle.server(admission.descriptorsNeeded, () => hub.directory.close());
  return Object.defineProperties(server as ChatServer, {
    hub: { value: hub, enumerable: true },
    clientCount: { get: () => hub.memberCount, enumerable: true },
  });
}

const START = "Cannot start the server";

/** What a plain-text client of the TLS line port reads, in clear, before the close. */
const TLS_ONLY = "this port speaks TLS; connect with a TLS client " +
  "(client.ts tls://HOST:PORT, openssl s_client -connect HOST:PORT)";
