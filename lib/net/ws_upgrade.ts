/**
 * A WebSocket upgrade on the HTTP port, from a parsed request head to an
 * open {@linkcode WebSocketConnection} served by its route, or a refusal
 * with its status (404 unknown path, 405, 400 a bad handshake, 426 an
 * unsupported version, 403 a foreign `Origin` or the route's verdict).
 *
 * Origin check (cross-site WebSocket hijacking, DNS rebinding): a client
 * that sends no `Origin` (not a browser) is let in; a browser's `Origin`
 * must be listed (`allowOrigins`, `*` for any), or be the server's own:
 * the same as the request's `Host`, and that host a name the server
 * answers to (a loopback name or address, an address it is bound to or was
 * reached at, or one of `hostNames`). So a page on `http://evil.example`
 * whose name was rebound to the server's address is refused.
 *
 * @module
 */

import { CLOSE_GRACE_MS } from "../support/constants.ts";
import type { Logger } from "../support/log.ts";
import { errorText, type StreamConn } from "./conn.ts";
import type { RequestHead } from "./http_head.ts";
import { httpReply } from "./http_reply.ts";
import type { InputBudget } from "./input_budget.ts";
import { lingeringClose } from "./lingering_close.ts";
import { WebSocketConnection } from "./ws_conn.ts";
import { checkUpgrade, switchingProtocols } from "./ws_handshake.ts";

/** A WebSocket endpoint on the HTTP port. */
export interface WebSocketRoute {
  /** Largest message; a bigger one closes with 1009. */
  maxMessageBytes: number;
  /** Bytes queued for one client before `send()` refuses. */
  maxQueueBytes: number;
  /**
   * Picks the subprotocol among those offered (in the client's order);
   * null for none. @default {the first offered}
   */
  selectProtocol?: (offered: readonly string[]) => string | null;
  /**
   * Accepts or refuses a client from its request (path, headers), before
   * the handshake; a string refuses with that reason (HTTP 403). Like the
   * seed's `on_connect` returning a boolean.
   */
  accept?: (request: RequestHead) => true | string;
  /** Serves an open WebSocket; resolves once it is closed. */
  serve: (connection: WebSocketConnection) => Promise<void>;
}

/** What {@linkcode upgrade} needs of the listener. */
export interface UpgradeContext {
  peer: string;
  address: string;
  /** The reason of a refusal that may linger (told with 1013), or null when admitted. */
  refusal: string | null;
  /** The route of the request's path, if any. */
  route: WebSocketRoute | undefined;
  origins: OriginCheck;
  /** The local address the client reached. */
  localAddress: string;
  opened: (connection: WebSocketConnection) => void;
  closed: (connection: WebSocketConnection) => void;
  logger: Logger;
}

/** Answers an upgrade request and, once open, serves the WebSocket until it closes. */
export async function upgrade(
  conn: StreamConn,
  head: RequestHead,
  rest: Uint8Array,
  context: UpgradeContext,
): Promise<void> {
  const refuse = (status: number, text: string, headers?: Record<string, string>) =>
    lingeringClose(
      conn,
      new TextEncoder().encode(httpReply(status, text, headers)),
      CLOSE_GRACE_MS,
    );
  const { route } = context;
  if (route === undefined) return refuse(404, `not found: ${head.path}\n`);
  const checked = checkUpgrade(head);
  if ("status" in checked) return refuse(checked.status, checked.text, checked.headers);
  const origin = head.headers.origin;
  if (
    origin !== undefined && !context.origins.allows(origin, head.headers.host, context.localAddress)
  ) {
    return refuse(
      403,
      `origin ${origin} is not allowed (the server allows its own; add others with --allow-origin)\n`,
    );
  }
  const verdict = route.accept?.(head) ?? true;
  if (verdict !== true) return refuse(403, `${verdict}\n`);
  const protocol = route.selectProtocol === undefined
    ? checked.protocols[0] ?? null
    : route.selectProtocol(checked.protocols);
  const connection = new WebSocketConnection(conn, {
    peer: context.peer,
    address: context.address,
    protocol,
    maxMessageBytes: route.maxMessageBytes,
    maxQueueBytes: route.maxQueueBytes,
    head: rest.length > 0 ? rest.slice() : undefined, // not a view of the 9 KiB head buffer
  });
  // The 101 is the first thing queued: the first frames can share its write.
  connection.outbound.enqueueOver(switchingProtocols(checked.key, protocol));
  if (context.refusal !== null) {
    // Refused but allowed to linger: say why with a close code.
    connection.end(1013, context.refusal, CLOSE_GRACE_MS);
    await connection.run(IGNORE, UNLIMITED);
    return;
  }
  context.opened(connection);
  try {
    await route.serve(connection);
  } catch (error) {
    context.logger({ event: "error", peer: context.peer, reason: errorText(error) });
  } finally {
    connection.abort();
    context.closed(connection);
  }
}

const IGNORE = { message: () => {} };
const UNLIMITED: InputBudget = { charge: () => 0, release: () => {} };

/** Which `Origin` may open a WebSocket; see the module documentation. */
export class OriginCheck {
  readonly #allowed: Set<string>;
  readonly #names: Set<string>;

  /** `boundAddresses`: the addresses the listener is bound to (a wildcard adds nothing). */
  constructor(
    options: { allowOrigins?: readonly string[]; hostNames?: readonly string[] },
    boundAddresses: readonly string[],
  ) {
    this.#allowed = new Set((options.allowOrigins ?? []).map(normaliseOrigin));
    this.#names = new Set(
      [...LOOPBACK_NAMES, ...(options.hostNames ?? []), ...boundAddresses]
        .map(normaliseHostName),
    );
  }

  /** True when a browser page at `origin` may open a WebSocket on this request. */
  allows(origin: string, host: string | undefined, localAddress: string): boolean {
    const normalised = normaliseOrigin(origin);
    if (this.#allowed.has(normalised) || this.#allowed.has("*")) return true;
    if (host === undefined) return false;
    let url: URL;
    try {
      url = new URL(normalised);
    } catch {
      return false;
    }
    if (url.host !== host.toLowerCase()) return false;
    return this.answersTo(url.hostname, localAddress);
  }

  /** True for a name the server answers to (the address the client reached counts). */
  answersTo(name: string, localAddress: string): boolean {
    const hostName = normaliseHostName(name);
    if (this.#names.has(hostName) || hostName === normaliseHostName(localAddress)) return true;
    return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostName) || hostName.endsWith(".localhost");
  }
}

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"];

function normaliseOrigin(origin: string): string {
  return origin.trim().toLowerCase().replace(/\/+$/, "");
}

/** A host name without brackets or a final dot, lower-cased; an IPv4-mapped address unwrapped. */
function normaliseHostName(name: string): string {
  const bare = name.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "");
  return bare.startsWith("::ffff:") && bare.includes(".") ? bare.slice(7) : bare;
}
