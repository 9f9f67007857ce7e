/**
 * The flags of `client.ts`.
 *
 * @module
 */

import { type Command, InvalidArgumentError } from "commander";
import {
  type CliOutput,
  newProgram,
  numberIn,
  parseArgs,
  parseHostPort,
  type ParseOutcome,
} from "./cli.ts";
import {
  DEFAULT_CHAT_PORT,
  DEFAULT_CLIENT_HOST,
  DEFAULT_CLIENT_PING_INTERVAL_SECONDS,
  DEFAULT_CONNECT_TIMEOUT_MS,
} from "../support/constants.ts";
import { urlHostname, urlPort } from "../client/endpoint.ts";
import { webUrlHint } from "../client/wrong_port.ts";
import { checkNick } from "../chat/names.ts";

/** What `client.ts` was asked to do over WebSocket (given a `ws://` or `wss://` URL). */
export interface WebSocketTarget {
  url: string;
  /** `--header NAME:VALUE`, repeatable; a name given twice sends the header twice. */
  headers: Record<string, string[]>;
  /** `--subprotocol NAME`, repeatable. */
  subprotocols: string[];
  /** `--origin URL`. */
  origin?: string;
  /** `--ping-interval SECONDS` (0 = off). */
  pingInterval: number;
  /** `--binary`: stdin goes as binary messages, binary messages come out raw. */
  binary: boolean;
}

/** How to trust the server over TLS (`tls://`, `--tls`, `wss://`). */
export interface TlsSettings {
  /** `--ca FILE`: the CA (PEM) to trust, in place of the default roots. */
  caFile?: string;
  /** `--insecure`: no verification (warned about on stderr). */
  insecure: boolean;
}

/** What `client.ts` was asked to do. */
export interface ClientConfig {
  /** The server's host (from the URL, over WebSocket). */
  hostname: string;
  /** The server's port (from the URL, 80 or 443 by default, over WebSocket). */
  port: number;
  nick?: string;
  /** `--password`: sent with the nick (`/nick NAME PASSWORD`); true: prompt for it. */
  password?: string | true;
  connectTimeout: number;
  /** False with `--no-color` or when `NO_COLOR` is set (and non-empty). */
  colour: boolean;
  /** Set when the target is a `ws://` or `wss://` URL; the client then speaks WebSocket. */
  websocket?: WebSocketTarget;
  /** Set for TLS: `tls://HOST:PORT`, `--tls`, or a `wss://` URL. */
  tls?: TlsSettings;
}

const WS_ONLY_FLAGS = ["header", "subprotocol", "origin", "pingInterval", "binary"] as const;

/** The `client.ts` program: every flag with its default. */
export function clientProgram(): Command {
  return newProgram(
    "client",
    "Parley's terminal chat client: full duplex, never clobbers what you type; in a pipe it behaves like nc -N. Given a ws:// URL it speaks WebSocket (in a pipe like wscat); tls:// and wss:// are the same over TLS.",
  )
    .argument(
      "[HOST[:PORT]|URL]",
      `server to connect to (default ${DEFAULT_CLIENT_HOST}:${DEFAULT_CHAT_PORT}), tls://HOST:PORT, or ws[s]://HOST:PORT/PATH`,
    )
    .option("--host <host>", "server host (overrides HOST)")
    .option("--port <port>", "server port (overrides PORT)", numberIn(1, 65535))
    .option("--nick <name>", "set this nick right after connecting", nickValue)
    .option(
      "--password [password]",
      "with --nick: the registered nick's password (no value: asked for without echo)",
    )
    .option(
      "--connect-timeout <ms>",
      "how long to wait for the connection",
      numberIn(1, 3_600_000),
      DEFAULT_CONNECT_TIMEOUT_MS,
    )
    .option("--no-color", "no colours (also when NO_COLOR is set)")
    .option("--tls", "speak TLS to HOST:PORT (as tls://HOST:PORT does)")
    .option("--ca <file>", "TLS: trust this CA certificate (PEM) instead of the default roots")
    .option("--insecure", "TLS: do not verify the server's certificate (warned on stderr)")
    .option(
      "--header <name:value>",
      "WebSocket: send this request header (repeatable)",
      (value: string, previous: [string, string][] = []) => [...previous, parseHeader(value)],
    )
    .option(
      "--subprotocol <name>",
      "WebSocket: offer this subprotocol (repeatable)",
      (value: string, previous: string[] = []) => [...previous, parseToken(value, "subprotocol")],
    )
    .option("--origin <url>", "WebSocket: send this Origin header")
    .option(
      "--ping-interval <seconds>",
      `WebSocket: ping this often; no pong by the next ping drops the connection (0 = off, default ${DEFAULT_CLIENT_PING_INTERVAL_SECONDS})`,
      numberIn(0, 86_400),
    )
    .option(
      "--binary",
      "WebSocket, in a pipe: send stdin as binary messages, write binary messages raw",
    );
}

/** A commander value parser for `--nick`: the server's own rules, checked before connecting. */
function nickValue(value: string): string {
  const problem = checkNick(value);
  if (problem !== undefined) throw new InvalidArgumentError(problem);
  return value.normalize("NFC");
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function parseToken(value: string, what: string): string {
  if (!TOKEN.test(value)) throw new InvalidArgumentError(`not a valid ${what} name: ${value}`);
  return value;
}

/** `NAME:VALUE` (spaces after the colon are dropped). */
function parseHeader(text: string): [string, string] {
  const colon = text.indexOf(":");
  if (colon <= 0) throw new InvalidArgumentError(`must be NAME:VALUE, received ${text}`);
  const value = text.slice(colon + 1).trim();
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) {
    throw new InvalidArgumentError(`a header value cannot hold control characters`);
  }
  return [parseToken(text.slice(0, colon), "header"), value];
}

/** A `tls://`, `ws://` or `wss://` URL, checked. */
function parseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgumentError(`cannot parse URL: ${text}`);
  }
  if (url.protocol === "tls:") {
    if (
      url.hostname === "" || !/^\/?$/.test(url.pathname) || url.search !== "" || url.hash !== ""
    ) {
      throw new InvalidArgumentError(`a tls:// URL is tls://HOST[:PORT], received ${text}`);
    }
    return url;
  }
  const web = webUrlHint(url);
  if (web !== undefined) throw new InvalidArgumentError(web);
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new InvalidArgumentError(
      `unsupported URL scheme ${url.protocol} (use tls://, ws:// or wss://)`,
    );
  }
  if (url.hash !== "") throw new InvalidArgumentError(`a WebSocket URL cannot have a #fragment`);
  return url;
}

function webSocketTarget(url: URL, flags: Record<string, unknown>): WebSocketTarget {
  const headers: Record<string, string[]> = {};
  for (const [name, value] of (flags.header as [string, string][] | undefined) ?? []) {
    (headers[name.toLowerCase()] ??= []).push(value);
  }
  return {
    url: url.href,
    headers,
    subprotocols: (flags.subprotocol as string[] | undefined) ?? [],
    origin: flags.origin as string | undefined,
    pingInterval: (flags.pingInterval as number | undefined) ??
      DEFAULT_CLIENT_PING_INTERVAL_SECONDS,
    binary: flags.binary === true,
  };
}

/**
 * Parses the arguments of `client.ts`; `env` supplies `NO_COLOR`.
 *
 * @example
 * ```ts
 * import { deepEqual, equal } from "node:assert/strict";
 * import { parseClientArgs } from "./client_cli.ts";
 *
 * const outcome = parseClientArgs(["chat.example:7000", "--nick", "ann"], {});
 * deepEqual(outcome.ok && [outcome.options.hostname, outcome.options.port], ["chat.example", 7000]);
 *
 * const ws = parseClientArgs(["ws://localhost:7880/ws", "--header", "X-Token: abc"], {});
 * equal(ws.ok && ws.options.websocket?.headers["x-token"][0], "abc");
 * ```
 */
export function parseClientArgs(
  args: readonly string[],
  env: { NO_COLOR?: string },
  output?: CliOutput,
): ParseOutcome<ClientConfig> {
  return parseArgs(clientProgram(), args, (flags, operands) => {
    if (flags.password !== undefined && flags.nick === undefined) {
      throw new RangeError("--password needs --nick (the registered nick it is for)");
    }
    const common = {
      nick: flags.nick as string | undefined,
      ...(flags.password === undefined ? {} : { password: flags.password as string | true }),
      connectTimeout: flags.connectTimeout as number,
      colour: flags.color !== false && (env.NO_COLOR ?? "") === "",
    };
    const url = operands[0]?.includes("://") ? parseUrl(operands[0]) : undefined;
    const tls: TlsSettings = {
      caFile: flags.ca as string | undefined,
      insecure: flags.insecure === true,
    };
    const secure = flags.tls === true || url?.protocol === "tls:" || url?.protocol === "wss:";
    if (!secure && (tls.caFile !== undefined || tls.insecure)) {
      throw new InvalidArgumentError(
        `--${tls.insecure ? "insecure" : "ca"} needs TLS: tls://HOST:PORT, --tls, or wss://`,
      );
    }
    if (url !== undefined && url.protocol !== "tls:") {
      if (flags.tls === true) {
        throw new InvalidArgumentError("--tls is for HOST:PORT; for WebSocket over TLS use wss://");
      }
      if (flags.host !== undefined || flags.port !== undefined) {
        throw new InvalidArgumentError("--host and --port cannot be used with a URL");
      }
      return {
        ...common,
        hostname: urlHostname(url),
        port: urlPort(url)!, // ws: 80, wss: 443 when none is written
        websocket: webSocketTarget(url, flags),
        ...(secure ? { tls } : {}),
      };
    }
    const wsOnly = WS_ONLY_FLAGS.find((name) => flags[name] !== undefined);
    if (wsOnly !== undefined) {
      const flag = wsOnly.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
      throw new InvalidArgumentError(`--${flag} needs a ws:// or wss:// URL`);
    }
    const target = url !== undefined
      ? { hostname: urlHostname(url), port: urlPort(url) } // tls: no default port
      : operands[0] === undefined
      ? {}
      : parseHostPort(operands[0]);
    return {
      ...common,
      hostname: (flags.host as string | undefined) ?? target.hostname ?? DEFAULT_CLIENT_HOST,
      port: (flags.port as number | undefined) ?? target.port ?? DEFAULT_CHAT_PORT,
      ...(secure ? { tls } : {}),
    };
  }, output);
}
