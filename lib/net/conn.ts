/**
 * Small socket helpers shared by the servers and the client.
 *
 * @module
 */

/** Something bytes can be written to in pieces (a `Deno.Conn`, stdout). */
export interface PartialWriter {
  write(bytes: Uint8Array): Promise<number>;
}

/** Writes all of `bytes`, continuing after partial writes. */
export async function writeAll(writer: PartialWriter, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await writer.write(bytes.subarray(offset));
}

/** Closes `conn`, ignoring that it may be closed already. */
export function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/** `host:port`, with brackets around an IPv6 host. */
export function formatAddr(addr: { hostname: string; port: number }): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

/** A short description of a thrown value, for logs and messages. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Why a connection failed or ended, in a few words: `connection refused`,
 * `connection reset`, `connection aborted`, `timed out`, or `error: …`.
 */
export function connectionProblem(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionRefused) return "connection refused";
  if (error instanceof Deno.errors.ConnectionReset) return "connection reset";
  if (error instanceof Deno.errors.BrokenPipe) return "connection reset";
  if (error instanceof Deno.errors.ConnectionAborted) return "connection aborted";
  if (error instanceof Deno.errors.TimedOut) return "timed out";
  return `error: ${errorText(error)}`;
}

/** Why a listener could not be bound, in a few words. */
export function listenProblem(error: unknown): string {
  const code = (error as { code?: string })?.code;
  if (error instanceof Deno.errors.AddrInUse || code === "EADDRINUSE") {
    return "address already in use";
  }
  if (error instanceof Deno.errors.AddrNotAvailable || code === "EADDRNOTAVAIL") {
    return "address not available";
  }
  if (error instanceof Deno.errors.PermissionDenied || code === "EACCES") {
    return "permission denied";
  }
  return errorText(error);
}
