/**
 * `serveChat()`: the chat server. One hub, shared by a TCP line listener
 * and, when `httpPort` is given, an HTTP listener whose `/ws` accepts
 * WebSocket clients into the same rooms. Both listeners share one set of
 * connection limits.
 *
 * @module
 */

import { type ChatDirectory, LocalDirectory } from "../chat/directory.ts";
import { ChatHub, type ChatHubOptions } from "../chat/hub.ts";
import { chatHubSettings, inputBudgets } from "../chat/settings.ts";
import { NodeStore } from "../store/node_store.ts";
import { banRefusal, Moderation, type SharedModeration } from "../chat/moderation.ts";
import { scryptHasher } from "../store/passwords.ts";
import { InputBudgets } from "../net/input_budget.ts";
import { formatError } from "../chat/protocol.ts";
import { encodeLine } from "../framing/line_codec.ts";
import { Admission } from "../net/admission.ts";
import { HttpListener, pathOf, replyText } from "../net/http_listener.ts";
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
import { type ForeignProtocol, serveTcpLines } from "../transport/tcp_lines.ts";
import { createPageHandler } from "./page.ts";
import { HEALTH_PATH, METRICS_PATH, serviceRoute } from "./health.ts";
import { ServerMetrics } from "./metrics.ts";
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
  /** Pending connections the kernel keeps per listener (capped by `somaxconn`). @default {4096} */
  backlog?: number;
  /** Clients at once, every transport together. @default {1000} */
  maxClients?: number;
  /** Clients from one IP address at once (0 = no limit). @default {20} */
  maxPerIp?: number;
  /** Seconds between WebSocket pings; no pong by the next one closes (0 = off). @default {30} */
  pingInterval?: number;
  /** Origins allowed to open a WebSocket besides the page's own. @default {[]} */
  allowOrigins?: readonly string[];
  /**
   * Host names the server answers to besides loopback names and its bound
   * addresses: the page's own origin counts only on these. @default {[]}
   */
  hostNames?: readonly string[];
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
   * closed when the server finishes. `history` and `announceLimit` apply
   * to it as they are given here (the hub passes them on each call);
   * `historyBytes` and `roomHistoryBytes` bound this process's memory only.
   * @default {this process's memory}
   */
  directory?: ChatDirectory;
  /**
   * Data directory of the embedded store (`parley.db`, made when missing):
   * without `directory`, room history is kept there and survives a
   * restart. A store that cannot be opened is logged and the server runs
   * from memory. @default {memory only (server.ts: ./parley-data)}
   */
  dataDir?: string;
  /**
   * Operator names and their password hashes (`--operators FILE`, see
   * `lib/cli/operators_file.ts`): `/oper NAME PASSWORD`. @default {no operators}
   */
  operators?: ReadonlyMap<string, string>;
  /**
   * Bans, registered nicks and topics shared with other servers (a
   * `RedisModeration`, lib/cluster/); it is closed when the server
   * finishes. @default {kept in the store (`dataDir`), or in memory}
   */
  sharedModeration?: SharedModeration;
  /** Serve `GET /metrics` (Prometheus text) on the HTTP port. @default {false} */
  metrics?: boolean;
  /**
   * Milliseconds a shutdown keeps serving, `/healthz` answering 503, before
   * the listeners close: time for a load balancer to look elsewhere. @default {0}
   */
  drainDelay?: number;
}

/** A running chat server. */
export interface ChatServer extends ParleyServer {
  /** Chat members connected now, every transport together. */
  readonly clientCount: number;
  /** The hub (for tests and embedding). */
  readonly hub: ChatHub;
  /** The embedded store, when `dataDir` was given and it opened. */
  readonly store: NodeStore | null;
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
  const base = serverBase(START, options);
  const { tls, shutdownTimeoutMs, pingIntervalMs } = base;
  const drainDelayMs = checkNumber(START, "drainDelay", options.drainDelay ?? 0, TIMER_MS);
  const metrics = options.metrics === true ? new ServerMetrics() : null;
  const logger = metrics?.tap(base.logger) ?? base.logger; // the metrics count log events
  const settings = chatHubSettings(options); // throws on bad options before the store opens
  const store = options.dataDir === undefined ? null : NodeStore.open(options.dataDir, { logger });
  let directory = options.directory;
  if (directory === undefined && store !== null) {
    directory = new LocalDirectory({
      lines: settings.history,
      roomBytes: settings.roomHistoryBytes,
      totalBytes: settings.historyBytes,
    }, store.history());
  }
  const moderation = new Moderation({ operators: options.operators, hasher: scryptHasher, logger });
  const shared = options.sharedModeration;
  const moderationStore = shared === undefined ? store?.moderation() : undefined;
  if (shared !== undefined) {
    moderation.reset(shared.snapshot);
    moderation.shared = true;
    moderation.sinks.push(shared);
    shared.attach(moderation);
  } else if (moderationStore !== undefined) {
    for (const change of moderationStore.load(Date.now())) moderation.apply(change);
    moderation.sinks.push(moderationStore);
  }
  const hub = new ChatHub({ ...options, directory, logger, moderation });
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
    banned: (ip) => {
      const now = Date.now();
      const ban = moderation.banOn(ip, now);
      return ban === undefined ? null : banRefusal(ban, now);
    },
  });
  const hostname = options.hostname ?? DEFAULT_HOST;
  // One options object for every TCP member (an idle member keeps a reference).
  const tcpLines = {
    ...lines,
    logger,
    // Another protocol on this port gets one line naming the right one (issue 17 §3).
    foreignAnswer: (protocol: ForeignProtocol, host: string | undefined): Uint8Array =>
      encodeLine(foreignAnswerText(protocol, {
        name: hub.settings.name,
        host: host ?? hostname,
        tcpPort: tcp.addr.port,
        httpPort: server.httpAddr?.port ?? null,
        tls: tls !== undefined,
      })),
  };
  const tcp: TcpListener = new TcpListener({
    hostname,
    port: options.port ?? DEFAULT_CHAT_PORT,
    reusePort: options.reusePort,
    backlog: options.backlog,
    admission,
    refusal: (reason) => encodeLine(formatError(reason)),
    serve: (conn, peer, address) => serveTcpLines(conn, peer, address, hub, tcpLines),
    tls,
    plaintextReply: encodeLine(formatError(TLS_ONLY)),
    logger,
  });
  let draining = false;
  const endpoints = {
    health: () => ({
      draining,
      linkDown: hub.directory.linkDown === true,
      members: hub.memberCount,
      storeProblem: storeProblem(options.dataDir, store),
    }),
    metrics: metrics === null ? undefined : () => metrics.answer(),
  };
  const page = createPageHandler({
    name: hub.settings.name,
    tcpPort: tcp.addr.port,
    secure: tls !== undefined,
  });
  let http: HttpListener | null = null;
  if (options.httpPort !== undefined) {
    http = new HttpListener({
      hostname,
      port: options.httpPort,
      reusePort: options.reusePort,
      backlog: options.backlog,
      admission,
      allowOrigins: options.allowOrigins,
      hostNames: options.hostNames,
      headTimeoutMs,
      pingIntervalMs,
      tls,
      logger,
      websockets: {
        [CHAT_WS_PATH]: {
          maxMessageBytes: WS_MESSAGE_LINES * hub.settings.maxLineBytes,
          maxQueueBytes: hub.settings.maxQueueBytes,
          selectProtocol: (offered) => offered.includes(JSON_SUBPROTOCOL) ? JSON_SUBPROTOCOL : null,
          serve: (connection) => serveWebSocketLines(connection, hub, lines),
        },
      },
      exemptPaths: [HEALTH_PATH, METRICS_PATH],
      handleRequest: (request, response) => {
        const answer = serviceRoute(endpoints, pathOf(request));
        if (answer === null) return page(request, response);
        answer.then(
          ({ status, body, headers }) => replyText(request, response, status, body, headers),
          () => response.destroy(),
        );
        return true;
      },
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
    stopClients: (graceMs) => {
      draining = true;
      store?.journal?.stop(); // the leaves of a shutdown are not history's end
      hub.shutdown(graceMs);
    },
    stopTimers: () => clearInterval(ticker),
  });
  const server = lifecycle.server(
    admission.descriptorsNeeded,
    () =>
      hub.directory.close().finally(() => shared?.close()).finally(() => (
        store?.close(), metrics?.close()
      )),
  );
  metrics?.attach({ hub, admission, store });
  const stopNow = server.shutdown;
  let stopping: Promise<void> | null = null;
  const shutdown = () =>
    stopping ??= (async () => {
      draining = true; // /healthz answers 503 from now on
      if (drainDelayMs > 0) await delay(drainDelayMs);
      await stopNow();
    })();
  return Object.defineProperties(server as ChatServer, {
    shutdown: { value: shutdown },
    [Symbol.asyncDispose]: { value: shutdown },
    hub: { value: hub, enumerable: true },
    store: { value: store, enumerable: true },
    clientCount: { get: () => hub.memberCount, enumerable: true },
  });
}

const START = "Cannot start the server";

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Why history is not being written to disk, or null (written, or no store asked for). */
function storeProblem(dataDir: string | undefined, store: NodeStore | null): string | null {
  if (dataDir === undefined) return null;
  if (store === null) return "cannot be opened; history in memory only";
  const failure = store.journal?.stats.failure ?? null;
  return failure === null ? null : `cannot write (${failure}); history in memory only`;
}

/** What a plain-text client of the TLS line port reads, in clear, before the close. */
const TLS_ONLY = "this port speaks TLS; connect with a TLS client " +
  "(client.ts tls://HOST:PORT, openssl s_client -connect HOST:PORT)";
