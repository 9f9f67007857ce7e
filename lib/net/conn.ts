/**
 * Small socket helpers shared by the servers and the client.
 *
 * @module
 */

/** Something bytes can be written to in pieces (a `Deno.Conn`, stdout). */
export interface PartialWriter {
  write(bytes: Uint8Array): Promise<number>;
}

/**
 * A byte stream to one peer, as the line and echo protocols use it: a
 * `Deno.TcpConn` fits as it is (the fast path of plain TCP), and
 * `SocketConn` gives a TLS socket the same surface.
 */
export interface StreamConn {
  /** The peer's address. */
  readonly remoteAddr: Deno.NetAddr;
  /** True over TLS. @default {false} */
  readonly secure?: boolean;
  /** Reads into `buffer`; resolves with the byte count, or null at the peer's end of stream. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes some of `bytes`; resolves with how many, once they are handed on. */
  write(bytes: Uint8Array): Promise<number>;
  /** Shuts the sending side (the peer reads its end of stream). */
  closeWrite(): Promise<void>;
  /** Closes at once; a read or write in flight then rejects. */
  close(): void;
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
  const code = (error as { code?: string })?.code;
  if (code === "ECONNRESET" || code === "EPIPE") return "connection reset";
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
