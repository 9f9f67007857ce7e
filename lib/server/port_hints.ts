/**
 * The one line a client gets when it speaks another protocol to the chat's
 * line port (an HTTP request, a TLS ClientHello: see
 * `framing/protocol_sniff.ts`): what this port is, and where to go.
 * Pure text; `serve_chat.ts` encodes it.
 *
 * @module
 */

/** What the answer names. */
export interface PortHintOptions {
  /** The server's name (`--name`). */
  name: string;
  /** The host the client reached, as it would write it in a URL (`[::1]` for IPv6). */
  host: string;
  /** The chat's line port. */
  tcpPort: number;
  /** The HTTP port, or null without one (`--no-http`). */
  httpPort: number | null;
  /** True when the line port speaks TLS (and the HTTP port https). */
  tls: boolean;
}

/** `host` as a URL writes it: an IPv6 address in brackets. */
export function urlHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/**
 * The line for a client of `protocol` on the line port.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { foreignAnswerText } from "./port_hints.ts";
 *
 * equal(
 *   foreignAnswerText("http", { name: "parley", host: "chat.example", tcpPort: 7878, httpPort: 7880, tls: false }),
 *   "! this is the chat port of parley: text lines over TCP (nc, telnet, client.ts), not HTTP; " +
 *     "the web page is at http://chat.example:7880/ (WebSocket: ws://chat.example:7880/ws)",
 * );
 * ```
 */
export function foreignAnswerText(protocol: "http" | "tls", options: PortHintOptions): string {
  const host = urlHost(options.host);
  const web = options.httpPort === null
    ? "this server has no web port"
    : `the web page is at ${options.tls ? "https" : "http"}://${host}:${options.httpPort}/ ` +
      `(WebSocket: ${options.tls ? "wss" : "ws"}://${host}:${options.httpPort}/ws)`;
  if (protocol === "tls") {
    // Only a TLS client gets here, and only a plain port can surprise it.
    return `! this is the chat port of ${options.name}: plain text lines, not TLS ` +
      `(nc ${options.host} ${options.tcpPort}, client.ts ${host}:${options.tcpPort}); ${web}`;
  }
  const lines = options.tls
    ? `text lines over TLS (client.ts tls://${host}:${options.tcpPort}, openssl s_client)`
    : "text lines over TCP (nc, telnet, client.ts)";
  return `! this is the chat port of ${options.name}: ${lines}, not HTTP; ${web}`;
}
