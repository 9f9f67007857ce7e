/**
 * What the chat's HTTP port answers to a plain GET or HEAD (not a
 * WebSocket upgrade): the chat page and its assets, the files of `web/`.
 *
 * The files are served by npm `sirv` on `node:http`: content types, a weak
 * ETag and `Last-Modified` per file, 304 for a matching `If-None-Match`,
 * HEAD and ranges. `web/` is listed once, when the handler is made (sirv's
 * production mode), so a request never walks the disk and only listed
 * files can be served (`/../x` or `/.hidden` are not found, and the HTTP
 * listener answers 404); edit `web/` and restart to serve the edits. Every
 * file is sent with `Cache-Control: public,max-age=0,must-revalidate`:
 * browsers revalidate (a 304 when unchanged), so a new server is never
 * hidden behind an old page. The page's responses carry a strict
 * Content-Security-Policy (only its own scripts, styles and WebSocket), a
 * second line of defence behind the page's rule of showing what it
 * receives as text.
 *
 * `/` answers a client that does not ask for HTML (`curl`, `nc`) with one
 * line of text saying where the WebSocket is; browsers get the page.
 *
 * The files are found beside this module (`../../web`), which also holds
 * in a binary built with `deno compile --include web`: the embedded files
 * keep their place relative to the embedded modules.
 *
 * @module
 */

import type http from "node:http";
import { join } from "node:path";
import sirv from "sirv";
import { pathOf, replyText } from "../net/http_reply.ts";
import { CHAT_WS_PATH } from "../support/constants.ts";

/** The page's files: `web/` at the root of the repository (or of the binary). */
export const WEB_DIR: string = join(import.meta.dirname!, "..", "..", "web");

/** Headers of every file of the page. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; " +
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/** What the page needs to know of the server. */
export interface PageOptions {
  /** Server name, for the text answer. */
  name: string;
  /** Served over TLS: the text answer names `wss://` and `https://`. @default {false} */
  secure?: boolean;
  /** The TCP port of the line protocol, to mention. */
  tcpPort: number;
  /** Folder of the page's files. @default {WEB_DIR} */
  webDir?: string;
}

/**
 * Makes the request handler of the HTTP port; it returns false for a path
 * it does not serve (the listener answers 404). When the page's folder
 * cannot be listed (no read permission, or a binary built without
 * `--include web`), `/` answers with the text and the reason, and the
 * server runs without its page.
 */
export function createPageHandler(
  options: PageOptions,
): (request: http.IncomingMessage, response: http.ServerResponse) => boolean {
  const webDir = options.webDir ?? WEB_DIR;
  let serveFile: ReturnType<typeof sirv> | null = null;
  let missing = "";
  try {
    serveFile = sirv(webDir, {
      dev: false, // list the folder once, now
      etag: true,
      maxAge: 0, // public,max-age=0,must-revalidate: always revalidate, 304 when unchanged
      extensions: ["html"],
      dotfiles: false,
      setHeaders: (response) => {
        for (const [name, value] of Object.entries(PAGE_HEADERS)) response.setHeader(name, value);
      },
    });
  } catch (error) {
    missing = `the page is not available: cannot read ${webDir} (${
      error instanceof Error ? error.name : error
    })`;
  }
  return (request, response) => {
    if (pathOf(request) === "/") {
      response.setHeader("vary", "Accept");
      if (serveFile === null || !/\btext\/html\b/i.test(request.headers.accept ?? "")) {
        textAnswer(request, response, options, missing);
        return true;
      }
    }
    if (serveFile === null) return false;
    let found = true;
    serveFile(request, response, () => {
      found = false; // sirv calls this at once, before answering anything
    });
    return found;
  };
}

function textAnswer(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  options: PageOptions,
  missing: string,
): void {
  const host = request.headers.host ?? "localhost";
  // Over TLS the addresses to give are wss:// and https://.
  const secure = options.secure === true;
  const [ws, web] = secure ? ["wss", "https"] : ["ws", "http"];
  const text = `Parley chat server ${options.name}: connect a WebSocket client to ` +
    `${ws}://${host}${CHAT_WS_PATH} (text lines, as over ${secure ? "TLS" : "TCP"} on port ` +
    `${options.tcpPort}), ` +
    (missing === "" ? `or open ${web}://${host}/ in a browser\n` : `${missing}\n`);
  replyText(request, response, 200, text);
}
