/**
 * Closing a connection without destroying its last bytes, and within a bound.
 *
 * @module
 */

import { closeQuietly, type StreamConn, writeAll } from "./conn.ts";

/**
 * Writes `last` (if any), half-closes, then discards input until the peer
 * closes or `lingerMs` passes, and closes. Closing with unread input would
 * make the kernel send a reset that can destroy the last bytes in flight.
 */
export async function lingeringClose(
  conn: StreamConn,
  last: Uint8Array | null,
  lingerMs: number,
): Promise<void> {
  const timer = setTimeout(() => closeQuietly(conn), lingerMs);
  try {
    if (last !== null) await writeAll(conn, last);
    await conn.closeWrite();
    const scratch = new Uint8Array(1024);
    while ((await conn.read(scratch)) !== null) { /* discard */ }
  } catch {
    /* reset or closed by the timer: either way, done */
  } finally {
    clearTimeout(timer);
    closeQuietly(conn);
  }
}

/**
 * Ends `conn` within `graceMs`: shuts its sending side (once `after`
 * settles, when given: what is queued goes first; if that fails, closes
 * it), and closes it for good once `graceMs` have passed from now, whatever
 * the peer does. Returns the cancel of that last close: call it once the
 * connection is done, so no timer outlives it.
 */
export function shutWithin(
  conn: StreamConn,
  graceMs: number,
  after?: Promise<unknown>,
): () => void {
  const timer = setTimeout(() => closeQuietly(conn), Math.max(0, graceMs));
  const shut = () => conn.closeWrite().catch(() => closeQuietly(conn));
  if (after === undefined) shut();
  else after.then(shut, shut);
  return () => clearTimeout(timer);
}
