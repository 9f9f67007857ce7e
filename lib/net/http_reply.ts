/**
 * The HTTP port's small answers: complete `Connection: close` responses as
 * bytes (refusals, timeouts, bad requests, refused upgrades), replies
 * through `node:http` for the page's handler, and a close reason cut to
 * fit a WebSocket close frame.
 *
 * @module
 */

import http from "node:http";
import { Buffer } from "node:buffer";
import { utf8Length } from "../framing/utf8.ts";

const TEXT_PLAIN = "text/plain; charset=utf-8";

/**
 * A complete `Connection: close` response with a plain-text body, as bytes
 * to write to a socket outside the HTTP parser (a refusal, a timeout, a
 * malformed request).
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { httpReply } from "./http_reply.ts";
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

/** The path of a request, without its query. */
export function pathOf(request: { url?: string }): string {
  const url = request.url ?? "/";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

/**
 * A close reason fits in 123 bytes of UTF-8.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { truncateReason } from "./http_reply.ts";
 *
 * equal(truncateReason("idle"), "idle");
 * equal(truncateReason("x".repeat(200)).length, 123);
 * ```
 */
export function truncateReason(reason: string): string {
  if (utf8Length(reason) <= 123) return reason;
  const bytes = new TextEncoder().encode(reason);
  return new TextDecoder().decode(bytes.subarray(0, 120)).replace(/\ufffd$/, "") + "...";
}
