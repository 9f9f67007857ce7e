/**
 * What the chat's HTTP port answers to a plain GET or HEAD (not a
 * WebSocket upgrade): for now a short text saying where the WebSocket is.
 *
 * @module
 */

import type http from "node:http";
import { CHAT_WS_PATH } from "../support/constants.ts";

/** What the page needs to know of the server. */
export interface PageOptions {
  /** Server name, for the page title. */
  name: string;
  /** The TCP port of the line protocol, to mention. */
  tcpPort: number;
}

/**
 * Makes the request handler of the HTTP port; it returns false for a path
 * it does not serve (the listener answers 404).
 */
export function createPageHandler(
  options: PageOptions,
): (request: http.IncomingMessage, response: http.ServerResponse) => boolean {
  return (request, response) => {
    if ((request.url ?? "/").split("?")[0] !== "/") return false;
    const host = request.headers.host ?? "localhost";
    const text = `Parley chat server ${options.name}: connect a WebSocket client to ` +
      `ws://${host}${CHAT_WS_PATH} (text lines, as over TCP on port ${options.tcpPort})\n`;
    response.writeHead(200, {
      "content-type": "text/plain; charset=utf-8",
      "content-length": String(new TextEncoder().encode(text).length),
    });
    response.end(request.method === "HEAD" ? undefined : text);
    return true;
  };
}
