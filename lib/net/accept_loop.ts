/**
 * The accept loop every TCP listener runs: each connection goes to its
 * handler with the peer's address as the limits count it; a failed accept
 * (out of descriptors, a connection reset before it was accepted) is logged
 * once per run of failures and backed off, so it cannot spin a core.
 *
 * @module
 */

import type { Logger } from "../support/log.ts";
import { FailureBackoff } from "./backoff.ts";
import { errorText, formatAddr, plainAddress } from "./conn.ts";

/** What {@linkcode acceptEach} needs besides the listener. */
export interface AcceptEachOptions {
  /** True once the owner closed the listener: the loop ends. */
  closed: () => boolean;
  /** Takes an accepted connection (never throws). */
  accept: (conn: Deno.TcpConn, address: string, peer: string) => void;
  log: Logger;
  /** Names the listener in the log line (`accept failed`, `http accept failed`). */
  label: string;
}

/** Accepts until the listener is closed; resolves then. */
export async function acceptEach(
  listener: Deno.TcpListener,
  options: AcceptEachOptions,
): Promise<void> {
  const backoff = new FailureBackoff();
  while (!options.closed()) {
    let conn: Deno.TcpConn;
    try {
      conn = await listener.accept();
      backoff.reset();
    } catch (error) {
      if (options.closed() || error instanceof Deno.errors.BadResource) break;
      // Log the first of a run, then back off a little more each time.
      if (backoff.failures === 0) {
        options.log({ event: "error", reason: `${options.label}: ${errorText(error)}` });
      }
      await backoff.wait();
      continue;
    }
    const address = plainAddress(conn.remoteAddr.hostname);
    options.accept(conn, address, formatAddr({ hostname: address, port: conn.remoteAddr.port }));
  }
}
