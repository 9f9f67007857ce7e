/**
 * The head of an HTTP/1.x request as the HTTP port reads it itself: at
 * most `MAX_HTTP_HEAD_BYTES` (8 KiB) up to the blank line, within a time
 * limit. Parsing is strict and small: a request line `METHOD TARGET
 * HTTP/1.x`, then `name: value` lines; header names are lower-cased and
 * repeated headers joined with `, ` (as `node:http` does for most). What
 * follows the blank line is kept: for a WebSocket it is the start of the
 * first frame.
 *
 * @module
 */

import type { StreamConn } from "./conn.ts";

/** A parsed request head. */
export interface RequestHead {
  method: string;
  /** The request target as sent (`/ws?x=1`). */
  url: string;
  /** The target without its query. */
  path: string;
  /** `HTTP/1.1` or `HTTP/1.0`. */
  version: string;
  /** Header values by lower-cased name. */
  headers: Record<string, string>;
}

/** What reading a head gave. */
export type HeadRead =
  | { kind: "head"; bytes: Uint8Array; end: number }
  | { kind: "too-large" }
  | { kind: "timeout" }
  | { kind: "closed" }
  /** The first line is in and is no HTTP request line (a chat line, say). */
  | { kind: "not-http" };

/**
 * Reads from `conn` until a complete head (CRLF CRLF, or LF LF) is in,
 * at most `maxBytes`; `bytes` holds everything read, the head ends at
 * `end`. Stops at `signal` (`timeout`), the peer's end (`closed`), or a
 * first line that is no request line (`not-http`: answered at once rather
 * than after the head's time limit).
 */
export async function readHead(
  conn: StreamConn,
  maxBytes: number,
  signal: AbortSignal,
): Promise<HeadRead> {
  // Room for the head plus the start of what follows it.
  const buffer = new Uint8Array(maxBytes + 1024);
  let length = 0;
  const aborted = new Promise<"timeout">((resolve) => {
    if (signal.aborted) resolve("timeout");
    signal.addEventListener("abort", () => resolve("timeout"), { once: true });
  });
  while (true) {
    let n: number | null;
    try {
      const read = await Promise.race([conn.read(buffer.subarray(length)), aborted]);
      if (read === "timeout") return { kind: "timeout" };
      n = read;
    } catch {
      return { kind: "closed" };
    }
    if (n === null) return { kind: "closed" };
    const from = Math.max(0, length - 3);
    const firstLineDone = buffer.subarray(0, length).includes(0x0a);
    length += n;
    if (!firstLineDone) {
      const lineEnd = buffer.subarray(0, length).indexOf(0x0a);
      if (lineEnd !== -1 && !isRequestLine(buffer.subarray(0, lineEnd))) {
        return { kind: "not-http" };
      }
    }
    const end = headEnd(buffer, from, length);
    if (end !== -1) {
      if (end > maxBytes) return { kind: "too-large" };
      return { kind: "head", bytes: buffer.subarray(0, length), end };
    }
    if (length >= maxBytes) return { kind: "too-large" };
  }
}

/** `METHOD target HTTP/1.x` (a CR at its end allowed). */
function isRequestLine(line: Uint8Array): boolean {
  const text = new TextDecoder().decode(line).replace(/\r$/, "");
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ \S+ HTTP\/\d\.\d$/.test(text);
}

/** The index just past the blank line ending a head in `bytes[0, length)`, or -1. */
function headEnd(bytes: Uint8Array, from: number, length: number): number {
  for (let i = from; i < length; i++) {
    if (bytes[i] !== 0x0a) continue;
    if (i >= 1 && bytes[i - 1] === 0x0a) return i + 1;
    if (i >= 3 && bytes[i - 1] === 0x0d && bytes[i - 2] === 0x0a && bytes[i - 3] === 0x0d) {
      return i + 1;
    }
  }
  return -1;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Parses a head (the bytes up to and including its blank line); null when
 * it is not a well-formed HTTP/1.x request head.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { parseHead } from "./http_head.ts";
 *
 * const head = parseHead(new TextEncoder().encode("GET /ws?a=1 HTTP/1.1\r\nHost: x\r\n\r\n"));
 * equal(head?.path, "/ws");
 * equal(head?.headers.host, "x");
 * ```
 */
export function parseHead(bytes: Uint8Array): RequestHead | null {
  // Latin-1: every byte is one character, so no input can fail to decode.
  let text = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    text += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  const lines = text.split(/\r?\n/);
  const requestLine = /^([A-Za-z]+) (\S+) (HTTP\/1\.[01])$/.exec(lines[0]);
  if (requestLine === null) return null;
  const headers: Record<string, string> = Object.create(null); // no __proto__ surprises
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line === "") break;
    const colon = line.indexOf(":");
    if (colon <= 0) return null;
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return null;
    const key = name.toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[key] = key in headers ? `${headers[key]}, ${value}` : value;
  }
  const url = requestLine[2];
  const query = url.indexOf("?");
  return {
    method: requestLine[1],
    url,
    path: query === -1 ? url : url.slice(0, query),
    version: requestLine[3],
    headers,
  };
}
