/**
 * One clear line, with the likely right address, for a client pointed at
 * the wrong port or with the wrong scheme: a WebSocket URL at the chat's
 * line port, `wss://` at a plain port, a wrong WebSocket path, an `http://`
 * URL, or a line client at the HTTP port. Pure: error texts and URLs in,
 * words out.
 *
 * @module
 */

import { DEFAULT_CHAT_PORT, DEFAULT_HTTP_PORT } from "../support/constants.ts";

/** Where Parley serves its WebSocket chat. */
const CHAT_PATH = "/ws";

/** `host:port` as a URL writes it. */
function hostPort(url: URL): string {
  return url.host === "" ? "localhost" : url.host;
}

/**
 * Why a WebSocket handshake with `url` failed, in words that point to the
 * right address; undefined when the error says nothing about the address.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { handshakeHint } from "./wrong_port.ts";
 *
 * equal(
 *   handshakeHint("Unexpected server response: 404", new URL("ws://chat.example:7880/chat")),
 *   "the server has no WebSocket at /chat (HTTP 404); Parley's chat is at ws://chat.example:7880/ws",
 * );
 * ```
 */
export function handshakeHint(message: string, url: URL): string | undefined {
  const status = /^Unexpected server response: (\d+)/.exec(message);
  if (status?.[1] === "404") {
    return `the server has no WebSocket at ${url.pathname} (HTTP 404); ` +
      `Parley's chat is at ${url.protocol}//${hostPort(url)}${CHAT_PATH}`;
  }
  if (/Parse Error|Expected HTTP\//i.test(message)) {
    const port = url.port === "" ? (url.protocol === "wss:" ? "443" : "80") : url.port;
    const secure = url.protocol === "wss:";
    return `the server did not answer HTTP: port ${port} is not a WebSocket port. If it is ` +
      `Parley's chat port, connect without a URL: client ${url.hostname}:${port}` +
      `${
        secure ? " --tls" : ""
      }; WebSocket is on the HTTP port (${DEFAULT_HTTP_PORT} by default): ` +
      `${url.protocol}//${url.hostname}:${DEFAULT_HTTP_PORT}${CHAT_PATH}`;
  }
  if (url.protocol === "wss:" && isPlainTextAnswerToTls(message)) {
    return `the server does not speak TLS on port ${url.port || "443"}; ` +
      `without TLS: ws://${hostPort(url)}${url.pathname}`;
  }
  return undefined;
}

/** Whether a TLS error says the peer answered in plain text (OpenSSL's and rustls's words). */
export function isPlainTextAnswerToTls(message: string): boolean {
  return /wrong version number|InvalidContentType|packet length too long|http request/i.test(
    message,
  );
}

/**
 * The line for a URL the client does not speak (`http://`, `https://`):
 * where the WebSocket chat of that server is.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { webUrlHint } from "./wrong_port.ts";
 *
 * equal(
 *   webUrlHint(new URL("http://chat.example:7880/")),
 *   "http://chat.example:7880/ is the web page's address; this client speaks WebSocket there: ws://chat.example:7880/ws",
 * );
 * ```
 */
export function webUrlHint(url: URL): string | undefined {
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
  const ws = url.protocol === "https:" ? "wss" : "ws";
  return `${url.href} is the web page's address; this client speaks WebSocket there: ` +
    `${ws}://${hostPort(url)}${CHAT_PATH}`;
}

/**
 * The line for a line client whose server's first line is an HTTP status
 * line (`HTTP/1.1 400 Bad Request`): it reached an HTTP port.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { httpPortHint } from "./wrong_port.ts";
 *
 * equal(
 *   httpPortHint("HTTP/1.1 400 Bad Request", "chat.example", 7880, false),
 *   "chat.example:7880 is an HTTP port, not Parley's chat port: for WebSocket use ws://chat.example:7880/ws; the chat port is 7878 by default (client chat.example:7878)",
 * );
 * ```
 */
export function httpPortHint(
  firstLine: string,
  hostname: string,
  port: number,
  tls: boolean,
): string | undefined {
  if (!/^HTTP\/1\.[01] \d{3}\b/.test(firstLine)) return undefined;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return `${host}:${port} is an HTTP port, not Parley's chat port: for WebSocket use ` +
    `${tls ? "wss" : "ws"}://${host}:${port}${CHAT_PATH}; the chat port is ${DEFAULT_CHAT_PORT} ` +
    `by default (client ${tls ? "tls://" : ""}${host}:${DEFAULT_CHAT_PORT})`;
}
