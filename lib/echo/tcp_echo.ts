/**
 * An RFC 862 TCP echo server: every byte comes back in order, unmodified
 * (or upper-cased with `transform: "upper"`), as soon as it arrives.
 *
 * Backpressure: each connection reads into one reused buffer and does not
 * read again until what it read has been written back, so a client that
 * sends without reading stalls only itself, and the server holds at most
 * one buffer (64 KiB) per connection whatever the client sends.
 *
 * Half-close: when the client shuts its sending side, everything read has
 * already been echoed; the server then shuts its own side and closes.
 *
 * @module
 */

import { ECHO_READ_BUFFER_BYTES } from "../support/constants.ts";
import { closeQuietly, connectionProblem, writeAll } from "../net/conn.ts";
import { createUpperCaser } from "../framing/text_transform.ts";
import {
  type ParleyServer,
  type TcpClient,
  type TcpHandler,
  TcpServer,
  type TcpServerOptions,
} from "../net/tcp_server.ts";

/** What the echo server does to the bytes before sending them back. */
export type EchoTransform = "none" | "upper";

/** Options of {@linkcode serveEcho}. */
export interface ServeEchoOptions extends TcpServerOptions {
  /** `upper` returns UTF-8 text upper-cased. @default {"none"} */
  transform?: EchoTransform;
}

interface EchoClient extends TcpClient {
  /** A write-back is in flight. */
  writing: boolean;
  /** Shutdown asked: no more echoing after the write in flight. */
  stopping: boolean;
  /** Closed by the idle sweep. */
  idle: boolean;
  closeTimer?: ReturnType<typeof setTimeout>;
}

class EchoCore implements TcpHandler<EchoClient> {
  readonly #transform: EchoTransform;

  constructor(transform: EchoTransform) {
    this.#transform = transform;
  }

  open(conn: Deno.TcpConn, peer: string): EchoClient {
    return { conn, peer, activity: 0, writing: false, stopping: false, idle: false };
  }

  async run(client: EchoClient): Promise<string> {
    const { conn } = client;
    const buffer = new Uint8Array(ECHO_READ_BUFFER_BYTES);
    const upper = this.#transform === "upper" ? createUpperCaser() : null;
    try {
      // The hot loop: read into the reused buffer, write it all back, and
      // only then read again (that is the backpressure).
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        if (client.stopping) continue; // our side is shut; wait for theirs
        client.activity++;
        client.writing = true;
        const out = upper === null ? buffer : upper(buffer.subarray(0, n));
        const length = upper === null ? n : out.length;
        // Inline rather than writeAll(): one async call less per echo.
        let offset = 0;
        while (offset < length) offset += await conn.write(out.subarray(offset, length));
        client.writing = false;
        if (client.stopping) await conn.closeWrite();
      }
      if (client.stopping) return "server shutting down";
      if (upper !== null) await writeAll(conn, upper(new Uint8Array(), true));
      await conn.closeWrite();
      return "connection closed";
    } catch (error) {
      if (client.stopping) return "server shutting down";
      if (client.idle) return "idle";
      return connectionProblem(error);
    } finally {
      clearTimeout(client.closeTimer);
    }
  }

  /** Echo never injects bytes into the stream: an idle client is just closed. */
  idle(client: EchoClient): void {
    client.idle = true;
    closeQuietly(client.conn);
  }

  shutdown(clients: readonly EchoClient[], deadline: number): void {
    for (const client of clients) {
      client.stopping = true;
      client.closeTimer = setTimeout(
        () => closeQuietly(client.conn),
        Math.max(0, deadline - performance.now()),
      );
      if (!client.writing) client.conn.closeWrite().catch(() => closeQuietly(client.conn));
    }
  }
}

/**
 * Starts an RFC 862 TCP echo server; same limits, logging and shutdown as
 * the chat server.
 *
 * @example
 * ```ts ignore
 * await using server = serveEcho({ hostname: "127.0.0.1", port: 0 });
 * ```
 */
export function serveEcho(options: ServeEchoOptions = {}): ParleyServer {
  return new TcpServer(options, new EchoCore(options.transform ?? "none"));
}
