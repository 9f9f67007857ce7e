/**
 * The server side of the WebSocket opening handshake (RFC 6455 4.2), on a
 * request head the HTTP port has parsed itself: the checks `ws`'s
 * `handleUpgrade()` makes (GET, `Upgrade: websocket`, a 16-byte base64
 * `Sec-WebSocket-Key`, version 13), the subprotocol choice, and the 101
 * answer. No extension is offered (no permessage-deflate).
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { RequestHead } from "./http_head.ts";

/** The GUID of RFC 6455 1.3. */
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const KEY = /^[+/0-9A-Za-z]{22}==$/;

/** True when `head` asks for a WebSocket (`Upgrade: websocket`), valid or not. */
export function wantsWebSocket(head: RequestHead): boolean {
  const upgrade = head.headers.upgrade;
  return upgrade !== undefined && /(^|,)\s*websocket\s*(,|$)/i.test(upgrade);
}

/** A handshake that cannot go on: the status and text of the answer. */
export interface HandshakeProblem {
  status: number;
  text: string;
  headers?: Record<string, string>;
}

/** The checked parts of an upgrade request. */
export interface UpgradeRequest {
  key: string;
  /** Subprotocols offered, in the client's order. */
  protocols: string[];
}

/**
 * Checks an upgrade request; returns its key and offered subprotocols, or
 * the problem to answer with.
 */
export function checkUpgrade(head: RequestHead): UpgradeRequest | HandshakeProblem {
  if (head.method !== "GET") return { status: 405, text: "use GET\n", headers: { allow: "GET" } };
  if (head.version !== "HTTP/1.1") return { status: 400, text: "WebSocket needs HTTP/1.1\n" };
  if (!/(^|,)\s*upgrade\s*(,|$)/i.test(head.headers.connection ?? "")) {
    return { status: 400, text: "missing Connection: upgrade\n" };
  }
  const key = head.headers["sec-websocket-key"];
  if (key === undefined || !KEY.test(key)) {
    return { status: 400, text: "missing or invalid Sec-WebSocket-Key\n" };
  }
  if (head.headers["sec-websocket-version"] !== "13") {
    return {
      status: 426,
      text: "unsupported Sec-WebSocket-Version; use 13\n",
      headers: { "sec-websocket-version": "13" },
    };
  }
  const offered = head.headers["sec-websocket-protocol"];
  const protocols = offered === undefined
    ? []
    : offered.split(",").map((protocol) => protocol.trim()).filter((p) => p !== "");
  return { key, protocols };
}

/**
 * The `Sec-WebSocket-Accept` value for `key`.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { acceptValue } from "./ws_handshake.ts";
 *
 * // RFC 6455 1.3's example.
 * equal(acceptValue("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
 * ```
 */
export function acceptValue(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

/** The 101 answer that opens the WebSocket, with `protocol` when one was chosen. */
export function switchingProtocols(key: string, protocol: string | null): Uint8Array {
  return new TextEncoder().encode(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Accept: ${acceptValue(key)}\r\n` +
      (protocol === null ? "" : `Sec-WebSocket-Protocol: ${protocol}\r\n`) + "\r\n",
  );
}
