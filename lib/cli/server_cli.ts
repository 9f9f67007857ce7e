/**
 * The flags of `server.ts`, turned into the options of `serveChat()` or
 * `serveEcho()`.
 *
 * @module
 */

import { type Command, InvalidArgumentError } from "commander";
import { type ChatHubOptions, chatHubSettings } from "../chat/settings.ts";
import {
  anyNumber,
  type CliOutput,
  newProgram,
  numberIn,
  oneOf,
  parseArgs,
  type ParseOutcome,
} from "./cli.ts";
import {
  DEFAULT_ANNOUNCE_LIMIT,
  DEFAULT_BURST,
  DEFAULT_CHAT_PORT,
  DEFAULT_CLUSTER,
  DEFAULT_DATA_DIR,
  DEFAULT_ECHO_WS_PATH,
  DEFAULT_HISTORY,
  DEFAULT_HISTORY_BYTES,
  DEFAULT_HOST,
  DEFAULT_HTTP_PORT,
  DEFAULT_IDLE_TIMEOUT_SECONDS,
  DEFAULT_MAX_CLIENTS,
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_PER_IP,
  DEFAULT_MAX_QUEUE_BYTES,
  DEFAULT_MSG_BYTES_RATE,
  DEFAULT_PING_INTERVAL_SECONDS,
  DEFAULT_RATE,
  DEFAULT_ROOM_HISTORY_BYTES,
  DEFAULT_SERVER_NAME,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  DEFAULT_TCP_BACKLOG,
  DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
} from "../support/constants.ts";
import type { ServeChatOptions } from "../server/serve_chat.ts";
import { withEnvVariables } from "./env_options.ts";
import type { LogFormat } from "../support/log.ts";
import type { EchoTransform, ServeEchoOptions } from "../echo/serve_echo.ts";
import { optionProblem } from "../support/options.ts";

/** A commander value parser for a URL path (`/echo`). */
function pathValue(value: string): string {
  if (!/^\/[\x21-\x7e]*$/.test(value)) {
    throw new InvalidArgumentError("must be a path starting with / (no spaces)");
  }
  return value;
}

/**
 * A commander value parser for a web origin, `scheme://host[:port]` as a
 * browser sends it in `Origin` (`https://chat.example.org`): without the
 * scheme it could never match, so it is refused here.
 */
export function originValue(value: string, previous: string[] = []): string[] {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch { /* said below */ }
  if (
    url === undefined || !/^https?:$/.test(url.protocol) || url.host === "" ||
    !/^\/?$/.test(url.pathname) || url.search !== "" || url.hash !== "" ||
    !/^https?:\/\//i.test(value)
  ) {
    throw new InvalidArgumentError(
      "must be a web origin, scheme://host[:port] as browsers send it (https://chat.example.org)",
    );
  }
  return [...previous, url.origin];
}

/** The certificate and key files of `--tls-cert` and `--tls-key` (read by `lib/cli/server_main.ts`). */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

/** `--redis` and `--cluster`: rooms shared with other servers. */
export interface ClusterConfig {
  /** One URL, or several comma-separated (seeds of a Redis Cluster). */
  url: string;
  cluster: string;
  /** `--redis-cluster`: the one URL is a seed of a Redis Cluster. */
  redisCluster?: boolean;
}

/** What `server.ts` was asked to run. */
export type ServerConfig =
  & { logFormat: LogFormat; quiet: boolean; tls?: TlsFiles }
  & (
    | { mode: "chat"; options: ServeChatOptions; redis?: ClusterConfig; operatorsFile?: string }
    | { mode: "echo"; options: ServeEchoOptions }
  );

/**
 * A commander value parser for a `redis://HOST[:PORT]` URL, or several
 * comma-separated (the seeds of a Redis Cluster).
 */
function redisUrl(value: string): string {
  for (const each of value.split(",")) {
    let url: URL;
    try {
      url = new URL(each.trim());
    } catch {
      throw new InvalidArgumentError(
        "must be a URL like redis://HOST:PORT (several, comma-separated, for a Redis Cluster)",
      );
    }
    if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
      throw new InvalidArgumentError("must be a redis:// (or rediss://) URL");
    }
  }
  return value;
}

/** The `server.ts` program: every flag with its default. */
export function serverProgram(): Command {
  return newProgram(
    "server",
    "Parley: a multi-user chat server (plain lines over TCP, so nc and telnet work, and WebSocket clients in the same rooms), or a TCP and WebSocket echo server.",
  )
    .option("--mode <mode>", "chat, or echo (RFC 862)", oneOf("chat", "echo"), "chat")
    .option("--host <host>", "interface to listen on", DEFAULT_HOST)
    .option("--port <port>", "TCP port (0 = any free port)", numberIn(0, 65535), DEFAULT_CHAT_PORT)
    .option(
      "--http-port <port>",
      "HTTP port for WebSocket clients (0 = any free port)",
      numberIn(0, 65535),
      DEFAULT_HTTP_PORT,
    )
    .option("--no-http", "no HTTP listener (TCP only)")
    .option(
      "--reuse-port",
      "let several server processes listen on the same ports (the kernel spreads connections)",
      false,
    )
    .option(
      "--redis <url>",
      "share rooms, nicks and history with every server on this Redis (redis://HOST:PORT; several, comma-separated: a Redis Cluster's seeds)",
      redisUrl,
    )
    .option("--redis-cluster", "with --redis: it is a Redis Cluster (found from one seed)", false)
    .option(
      "--cluster <name>",
      "with --redis: servers share rooms only within one cluster name",
      DEFAULT_CLUSTER,
    )
    .option("--name <name>", "server name in the welcome line", DEFAULT_SERVER_NAME)
    .option(
      "--max-clients <n>",
      "clients served at once; more are refused",
      numberIn(1, 1_000_000),
      DEFAULT_MAX_CLIENTS,
    )
    .option(
      "--max-per-ip <n>",
      "clients from one IP address (0 = no limit)",
      numberIn(0, 1_000_000),
      DEFAULT_MAX_PER_IP,
    )
    .option(
      "--max-line-bytes <n>",
      "longest input line; longer ones are refused and skipped",
      anyNumber,
      DEFAULT_MAX_LINE_BYTES,
    )
    .option(
      "--max-queue-bytes <n>",
      "outbound bytes queued for one client before it is dropped as too slow",
      anyNumber,
      DEFAULT_MAX_QUEUE_BYTES,
    )
    .option(
      "--rate <n>",
      "lines per second one client may send (0 = no limit)",
      anyNumber,
      DEFAULT_RATE,
    )
    .option(
      "--burst <n>",
      "lines one client may send at once",
      anyNumber,
      DEFAULT_BURST,
    )
    .option(
      "--history <n>",
      "messages per room replayed on join (0 = off)",
      anyNumber,
      DEFAULT_HISTORY,
    )
    .option(
      "--ip-rate <n>",
      "lines per second from one IP address, its clients together (0 = no limit) (default: 4 × --rate)",
      anyNumber,
    )
    .option(
      "--ip-burst <n>",
      "lines one IP address may send at once (default: 4 × --burst)",
      anyNumber,
    )
    .option(
      "--msg-bytes-rate <n>",
      "bytes per second of /msg one IP address may send one member (0 = no limit)",
      anyNumber,
      DEFAULT_MSG_BYTES_RATE,
    )
    .option(
      "--room-history-bytes <n>",
      "bytes of history kept per room",
      anyNumber,
      DEFAULT_ROOM_HISTORY_BYTES,
    )
    .option(
      "--history-bytes <n>",
      "bytes of history kept over all rooms",
      anyNumber,
      DEFAULT_HISTORY_BYTES,
    )
    .option(
      "--announce-limit <n>",
      "rooms with more members do not announce joins and leaves (0 = always)",
      anyNumber,
      DEFAULT_ANNOUNCE_LIMIT,
    )
    .option(
      "--idle-timeout <seconds>",
      "close chat clients that send no non-empty line this long (echo: no byte) (0 = never)",
      numberIn(0, 31_536_000, false),
      DEFAULT_IDLE_TIMEOUT_SECONDS,
    )
    .option(
      "--shutdown-timeout <ms>",
      "on SIGINT/SIGTERM, how long clients get to take their last bytes",
      numberIn(0, 600_000),
      DEFAULT_SHUTDOWN_TIMEOUT_MS,
    )
    .option(
      "--ping-interval <seconds>",
      "WebSocket ping interval; no pong by the next ping closes the client (0 = off)",
      numberIn(0, 86_400, false),
      DEFAULT_PING_INTERVAL_SECONDS,
    )
    .option(
      "--allow-origin <origin>",
      "a web origin (https://host[:port]) allowed to open a WebSocket besides the server's own (repeatable)",
      originValue,
    )
    .option(
      "--host-name <name...>",
      "names the server answers to besides loopback and its bound addresses: " +
        "a page's own origin may open a WebSocket only on these (repeatable)",
    )
    .option(
      "--backlog <n>",
      "pending connections the kernel keeps per listener (capped by net.core.somaxconn)",
      numberIn(1, 65535),
      DEFAULT_TCP_BACKLOG,
    )
    .option(
      "--ws-path <path>",
      "echo mode: path of the WebSocket echo endpoint",
      pathValue,
      DEFAULT_ECHO_WS_PATH,
    )
    .option(
      "--max-message-bytes <n>",
      "echo mode: largest WebSocket message (bigger closes with 1009)",
      numberIn(1, 1024 ** 3),
      DEFAULT_MAX_MESSAGE_BYTES,
    )
    .option(
      "--transform <name>",
      "echo mode: none, or upper (text returned upper-cased)",
      oneOf("none", "upper"),
      "none",
    )
    .option(
      "--tls-cert <file>",
      "PEM certificate (chain): the TCP port then speaks TLS, the HTTP port https and wss",
    )
    .option("--tls-key <file>", "PEM private key of --tls-cert (unencrypted)")
    .option(
      "--tls-handshake-timeout <ms>",
      "close a TLS client whose handshake is not complete this long after connecting",
      numberIn(1, 600_000),
      DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
    )
    .option(
      "--data-dir <dir>",
      "where the embedded store (parley.db) keeps room history across restarts",
      DEFAULT_DATA_DIR,
    )
    .option("--no-store", "keep history in memory only (lost at restart)")
    .option(
      "--operators <file>",
      "operators: NAME HASH per line (hashes from `server.ts hash-password`); /oper NAME PASSWORD",
    )
    .option("--metrics", "serve GET /metrics (Prometheus text) on the HTTP port", false)
    .option(
      "--drain-delay <ms>",
      "on SIGINT/SIGTERM, how long to keep serving with /healthz answering 503 before closing",
      numberIn(0, 600_000),
      0,
    )
    .option("--log-format <format>", "text or json", oneOf("text", "json"), "text")
    .option("-q, --quiet", "no logging", false);
}

/** `--tls-cert` and `--tls-key`, both or neither. */
function tlsFiles(flags: Record<string, unknown>): { tls?: TlsFiles } {
  const certFile = flags.tlsCert as string | undefined;
  const keyFile = flags.tlsKey as string | undefined;
  if (certFile === undefined && keyFile === undefined) return {};
  if (certFile === undefined || keyFile === undefined) {
    throw new RangeError(
      `--tls-cert and --tls-key go together (${certFile ? "no --tls-key" : "no --tls-cert"})`,
    );
  }
  return { tls: { certFile, keyFile } };
}

/**
 * Parses the arguments of `server.ts`.
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { parseServerArgs } from "./server_cli.ts";
 *
 * const outcome = parseServerArgs(["--port", "0", "--rate", "50"]);
 * ok(outcome.ok && outcome.options.mode === "chat");
 * ```
 */
export function parseServerArgs(
  args: readonly string[],
  output?: CliOutput,
): ParseOutcome<ServerConfig> {
  // Every flag from its PARLEY_* variable too (lib/cli/env_options.ts).
  return parseArgs(withEnvVariables(serverProgram()), args, (flags) => {
    const common = {
      hostname: flags.host as string,
      port: flags.port as number,
      httpPort: flags.http === false ? undefined : flags.httpPort as number,
      maxClients: flags.maxClients as number,
      maxPerIp: flags.maxPerIp as number,
      idleTimeout: flags.idleTimeout as number,
      shutdownTimeout: flags.shutdownTimeout as number,
      pingInterval: flags.pingInterval as number,
      allowOrigins: (flags.allowOrigin as string[] | undefined) ?? [],
      hostNames: (flags.hostName as string[] | undefined) ?? [],
      backlog: flags.backlog as number,
      tlsHandshakeTimeout: flags.tlsHandshakeTimeout as number,
      reusePort: flags.reusePort as boolean,
    };
    const logging = {
      logFormat: flags.logFormat as LogFormat,
      quiet: flags.quiet as boolean,
      ...tlsFiles(flags),
    };
    // The chat flags' ranges are the hub's (lib/chat/settings.ts), checked here in either mode.
    const chat = {
      maxLineBytes: flags.maxLineBytes as number,
      maxQueueBytes: flags.maxQueueBytes as number,
      rate: flags.rate as number,
      burst: flags.burst as number,
      ipRate: flags.ipRate as number | undefined,
      ipBurst: flags.ipBurst as number | undefined,
      msgBytesRate: flags.msgBytesRate as number,
      history: flags.history as number,
      roomHistoryBytes: flags.roomHistoryBytes as number,
      historyBytes: flags.historyBytes as number,
      announceLimit: flags.announceLimit as number,
    };
    if (flags.mode === "echo") {
      if (flags.redis !== undefined) throw new RangeError("--redis applies only to --mode chat");
      if (flags.metrics === true) throw new RangeError("--metrics applies only to --mode chat");
      if (flags.redisCluster === true) {
        throw new RangeError("--redis-cluster applies only to --mode chat");
      }
      if (flags.operators !== undefined) {
        throw new RangeError("--operators applies only to --mode chat");
      }
      checkChatFlags(chat);
      return {
        ...logging,
        mode: "echo",
        options: {
          ...common,
          transform: flags.transform as EchoTransform,
          path: flags.wsPath as string,
          maxMessageBytes: flags.maxMessageBytes as number,
        },
      };
    }
    for (
      const [flag, value, initial] of [
        ["--transform", flags.transform, "none"],
        ["--ws-path", flags.wsPath, DEFAULT_ECHO_WS_PATH],
        ["--max-message-bytes", flags.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES],
      ] as const
    ) {
      if (value !== initial) throw new RangeError(`${flag} applies only to --mode echo`);
    }
    if (flags.cluster !== DEFAULT_CLUSTER && flags.redis === undefined) {
      throw new RangeError("--cluster needs --redis");
    }
    if (flags.redisCluster === true && flags.redis === undefined) {
      throw new RangeError("--redis-cluster needs --redis");
    }
    const dataDir = flags.store === false ? undefined : flags.dataDir as string;
    if (dataDir === "") throw new RangeError("--data-dir cannot be empty (use --no-store)");
    const service = {
      dataDir,
      metrics: flags.metrics as boolean,
      drainDelay: flags.drainDelay as number,
    };
    const options = { ...common, name: flags.name as string, ...chat, ...service };
    checkChatFlags(options);
    return {
      ...logging,
      mode: "chat",
      ...(flags.operators === undefined ? {} : { operatorsFile: flags.operators as string }),
      ...(flags.redis === undefined ? {} : {
        redis: {
          url: flags.redis as string,
          cluster: flags.cluster as string,
          ...(flags.redisCluster === true ? { redisCluster: true } : {}),
        },
      }),
      options,
    };
  }, output);
}

/**
 * The hub's own checks, run on the flags so that a value the hub refuses
 * (`--name ""`) is a usage error naming the flag, not a crash at start.
 */
function checkChatFlags(options: ChatHubOptions): void {
  try {
    chatHubSettings(options);
  } catch (error) {
    const carried = optionProblem(error);
    if (carried === undefined) throw error;
    // The option's name is carried on the error: --max-line-bytes for maxLineBytes.
    const flag = `--${carried.option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    const received = carried.received === undefined ? "" : `, received ${carried.received}`;
    throw new RangeError(`${flag} ${carried.problem}${received}`);
  }
}
