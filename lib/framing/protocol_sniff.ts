/**
 * Recognises, from the first bytes of a connection to the chat's line
 * port, a client that speaks another protocol: a TLS ClientHello (a TLS
 * handshake record, `0x16 0x03`), or an HTTP/1.x request line (any method,
 * a WebSocket handshake included). Such a client gets one line saying
 * where to go and the close; nothing it sent reaches a room. Without this,
 * a web page could make its visitor's browser POST lines into the chat
 * (cross-protocol scripting), and `curl` would put its headers, cookies
 * included, into a room's history.
 *
 * Pure: feed bytes as they arrive, in any pieces; the verdict is the same.
 * It looks at the first line only, and at most {@linkcode SNIFF_MAX_BYTES}
 * of it: a first line that is longer, or that cannot be the start of an
 * HTTP request line, is chat.
 *
 * @module
 */

/** What the first bytes say the peer speaks. */
export type FirstBytesVerdict = "chat" | "tls" | "http";

/**
 * Bytes of a first line looked at (a request line longer than this is taken
 * as chat; real clients send far shorter ones for the chat port's paths).
 */
export const SNIFF_MAX_BYTES = 2048;

const SPACE = 0x20;
const CR = 0x0d;
const LF = 0x0a;
/** Longest method name considered (`PROPPATCH`, `MKCALENDAR`, with room). */
const MAX_METHOD = 16;
const HTTP_VERSION = /^HTTP\/1\.\d$/;

/**
 * Decides, from the first bytes of a connection, whether the peer speaks
 * chat lines or another protocol.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { ProtocolSniffer } from "./protocol_sniff.ts";
 *
 * const enc = (text: string) => new TextEncoder().encode(text);
 * equal(new ProtocolSniffer().push(enc("POST / HTTP/1.1\r\n")), "http");
 * equal(new ProtocolSniffer().push(new Uint8Array([0x16, 0x03, 0x01])), "tls");
 * equal(new ProtocolSniffer().push(enc("hello\n")), "chat");
 * const sniffer = new ProtocolSniffer();
 * equal(sniffer.push(enc("GET /")), undefined); // not known yet
 * equal(sniffer.push(enc(" HTTP/1.0\n")), "http");
 * ```
 */
export class ProtocolSniffer {
  /** The first line so far (only while undecided). */
  #line: number[] = [];
  #verdict: FirstBytesVerdict | undefined;

  /** The verdict, once known. */
  get verdict(): FirstBytesVerdict | undefined {
    return this.#verdict;
  }

  /** Feeds the next bytes; returns the verdict once it is known, undefined before. */
  push(bytes: Uint8Array): FirstBytesVerdict | undefined {
    for (let i = 0; i < bytes.length && this.#verdict === undefined; i++) {
      this.#verdict = this.#byte(bytes[i]);
    }
    if (this.#verdict !== undefined) this.#line = [];
    return this.#verdict;
  }

  /** The peer ended its input before a verdict: whatever it sent is chat. */
  end(): FirstBytesVerdict {
    this.#verdict ??= "chat";
    this.#line = [];
    return this.#verdict;
  }

  #byte(byte: number): FirstBytesVerdict | undefined {
    const line = this.#line;
    if (line.length === 0 && byte === 0x16) {
      line.push(byte);
      return undefined;
    }
    if (line.length === 1 && line[0] === 0x16) return byte === 0x03 ? "tls" : "chat";
    if (byte === LF || (byte === CR && line.length > 0)) {
      return this.#requestLine() ? "http" : "chat";
    }
    line.push(byte);
    if (line.length > SNIFF_MAX_BYTES) return "chat";
    return this.#couldBeRequestLine() ? undefined : "chat";
  }

  /** Whether the line so far is the start of `METHOD SP TARGET SP HTTP/1.x`. */
  #couldBeRequestLine(): boolean {
    const line = this.#line;
    const firstSpace = line.indexOf(SPACE);
    const methodLength = firstSpace === -1 ? line.length : firstSpace;
    if (methodLength > MAX_METHOD) return false;
    for (let i = 0; i < methodLength; i++) {
      if (line[i] < 0x41 || line[i] > 0x5a) return false; // A-Z
    }
    if (firstSpace === -1) return true;
    if (firstSpace === 0) return false;
    const secondSpace = line.indexOf(SPACE, firstSpace + 1);
    for (let i = firstSpace + 1; i < (secondSpace === -1 ? line.length : secondSpace); i++) {
      if (line[i] < 0x21 || line[i] > 0x7e) return false; // a target has no controls or spaces
    }
    if (secondSpace === -1) return true;
    if (secondSpace === firstSpace + 1) return false;
    const version = String.fromCharCode(...line.slice(secondSpace + 1));
    return version.length <= 7 ? "HTTP/1.".startsWith(version) : HTTP_VERSION.test(version);
  }

  /** Whether the whole first line is `METHOD SP TARGET SP HTTP/1.x`. */
  #requestLine(): boolean {
    if (!this.#couldBeRequestLine()) return false;
    const text = String.fromCharCode(...this.#line);
    const parts = text.split(" ");
    return parts.length === 3 && HTTP_VERSION.test(parts[2]);
  }
}
