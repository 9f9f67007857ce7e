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
  if (bytes.length === 0) return;
  // The first write takes `bytes` itself: usually it is the only one.
  let offset = await writer.write(bytes);
  while (offset < bytes.length) offset += await writer.write(bytes.subarray(offset));
}

/** Closes `conn`, ignoring that it may be closed already. */
export function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/**
 * An address as the limits count it: an IPv4-mapped IPv6 address (what a
 * socket listening on `::` reports for an IPv4 client) becomes the IPv4
 * address, so one client has one address whatever the listener.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { plainAddress } from "./conn.ts";
 *
 * equal(plainAddress("::ffff:127.0.0.1"), "127.0.0.1");
 * equal(plainAddress("::1"), "::1");
 * ```
 */
export function plainAddress(address: string | undefined): string {
  if (address === undefined) return "unknown";
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
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
 * The first line of {@linkcode errorText}, at most `max` characters: for
 * messages that may carry a stack or a dump (OpenSSL's).
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { errorLine } from "./conn.ts";
 *
 * equal(errorLine(new Error("bad key\n    at parse")), "bad key");
 * ```
 */
export function errorLine(error: unknown, max = 200): string {
  const text = errorText(error);
  const end = text.indexOf("\n");
  return (end === -1 ? text : text.slice(0, end)).slice(0, max);
}

/**
 * Why a connection failed or ended, in a few words: `connection refused`,
 * `connection reset`, `connection aborted`, `host not found`, `network
 * unreachable`, `timed out`, or `error: …`.
 */
export function connectionProblem(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionRefused) return "connection refused";
  const code = (error as { code?: string })?.code;
  const problem = code === undefined ? undefined : SOCKET_PROBLEMS[code];
  if (problem !== undefined) return problem; // node:net's errors (ws, tls) carry a code
  if (/^failed to lookup address/.test(errorText(error))) return "host not found"; // Deno.connect's
  if (error instanceof Deno.errors.ConnectionReset) return "connection reset";
  if (error instanceof Deno.errors.BrokenPipe) return "connection reset";
  if (error instanceof Deno.errors.ConnectionAborted) return "connection aborted";
  if (error instanceof Deno.errors.TimedOut) return "timed out";
  if (error instanceof Deno.errors.NetworkUnreachable) return "network unreachable";
  return `error: ${errorText(error)}`;
}

/** Socket error codes in a few words. */
const SOCKET_PROBLEMS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host not found",
  EAI_NONAME: "host not found",
  ENETUNREACH: "network unreachable",
  EHOSTUNREACH: "network unreachable",
};

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
