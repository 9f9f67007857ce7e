/**
 * Closing a connection without destroying its last bytes.
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
