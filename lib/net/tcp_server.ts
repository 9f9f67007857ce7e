/**
 * What the chat and echo servers share: listening, accepting, the client
 * limits (`maxClients`, `maxPerIp`) with a refusal line before the close,
 * TCP keep-alive, the idle sweep, connect/disconnect/refusal logging and
 * graceful shutdown. The protocol itself is a {@linkcode TcpHandler}.
 *
 * @module
 */

import {
  DEFAULT_CHAT_PORT,
  DEFAULT_HOST,
  DEFAULT_MAX_CLIENTS,
  DEFAULT_MAX_PER_IP,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  REFUSAL_LINGER_MS,
} from "../support/constants.ts";
import { formatError } from "../chat/protocol.ts";
import { encodeLine } from "../framing/line_codec.ts";
import { type Logger, silentLogger } from "../support/log.ts";
import { closeQuietly, errorText, formatAddr, writeAll } from "./conn.ts";

/** Options shared by every Parley TCP server. */
export interface TcpServerOptions {
  /** Interface to listen on. @default {"0.0.0.0"} */
  hostname?: string;
  /** Port to listen on; 0 picks a free one (read it back from `addr`). @default {7878} */
  port?: number;
  /** Clients served at once; one more is refused with a reason. @default {1000} */
  maxClients?: number;
  /** Clients from one IP address at once (0 = no limit). @default {20} */
  maxPerIp?: number;
  /** Seconds without input before a client is closed (0 = never). @default {0} */
  idleTimeout?: number;
  /** Milliseconds shutdown waits for clients to take their last bytes. @default {5000} */
  shutdownTimeout?: number;
  /** Receives connect, disconnect, refusal and protocol events. @default {silent} */
  logger?: Logger;
}

/** What the server knows of every connection it admitted. */
export interface TcpClient {
  readonly conn: Deno.TcpConn;
  /** Remote address as `host:port`. */
  readonly peer: string;
  /**
   * Bumped by the protocol on every read. The idle sweep compares it with
   * what it saw last time, so the hot path pays an increment, not a clock
   * read.
   */
  activity: number;
}

/** What the server keeps per admitted client. */
interface Admitted {
  /** Settles when the client has been served and its connection closed. */
  served: Promise<void>;
  /** The idle sweep: `activity` when last seen, since when, told yet. */
  seenActivity: number;
  since: number;
  told: boolean;
}

/** The protocol side of a {@linkcode TcpServer}. */
export interface TcpHandler<C extends TcpClient> {
  /** Makes the client record for an admitted connection. */
  open(conn: Deno.TcpConn, peer: string): C;
  /** Serves the client until its connection ends; resolves with the reason. */
  run(client: C): Promise<string>;
  /** The client has been idle too long: tell it and start closing it. */
  idle(client: C, idleSeconds: number): void;
  /**
   * Graceful stop: tell every client, let queued bytes drain and close,
   * finishing by `deadline` (a `performance.now()` value).
   */
  shutdown(clients: readonly C[], deadline: number): void;
  /** Extra log fields for a client (e.g. its nick). */
  describe?(client: C): Record<string, string>;
}

/** A running server: its address, a promise for its end, and `shutdown()`. */
export interface ParleyServer extends AsyncDisposable {
  /** The address actually bound (with the real port when 0 was asked). */
  readonly addr: Deno.NetAddr;
  /** Resolves when the server has stopped and every connection is closed. */
  readonly finished: Promise<void>;
  /** Stops accepting, lets clients take their last bytes, then closes all. */
  shutdown(): Promise<void>;
}

/** Listens and runs `handler` for each admitted connection. */
export class TcpServer<C extends TcpClient> implements ParleyServer {
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
  readonly #listener: Deno.TcpListener;
  readonly #handler: TcpHandler<C>;
  readonly #log: Logger;
  readonly #maxClients: number;
  readonly #maxPerIp: number;
  readonly #idleMs: number;
  readonly #shutdownMs: number;
  readonly #clients = new Map<C, Admitted>();
  readonly #perIp = new Map<string, number>();
  readonly #refusals = new Set<Promise<void>>();
  #idleTimer: ReturnType<typeof setInterval> | undefined;
  #stopping = false;

  constructor(options: TcpServerOptions, handler: TcpHandler<C>) {
    this.#handler = handler;
    this.#log = options.logger ?? silentLogger;
    this.#maxClients = options.maxClients ?? DEFAULT_MAX_CLIENTS;
    this.#maxPerIp = options.maxPerIp ?? DEFAULT_MAX_PER_IP;
    this.#idleMs = (options.idleTimeout ?? 0) * 1000;
    this.#shutdownMs = options.shutdownTimeout ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
    this.#listener = Deno.listen({
      hostname: options.hostname ?? DEFAULT_HOST,
      port: options.port ?? DEFAULT_CHAT_PORT,
      transport: "tcp",
    });
    this.addr = this.#listener.addr;
    this.#log({ event: "listen", addr: formatAddr(this.addr) });
    if (this.#idleMs > 0) {
      const every = Math.min(1000, Math.max(20, this.#idleMs / 4));
      this.#idleTimer = setInterval(() => this.#sweepIdle(), every);
    }
    this.finished = this.#acceptLoop();
  }

  /** Number of admitted clients connected now. */
  get clientCount(): number {
    return this.#clients.size;
  }

  /** The admitted clients connected now. */
  clients(): IterableIterator<C> {
    return this.#clients.keys();
  }

  shutdown(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      this.#log({ event: "shutdown", clients: this.#clients.size });
      closeQuietly(this.#listener);
    }
    return this.finished;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  async #acceptLoop(): Promise<void> {
    try {
      while (!this.#stopping) {
        let conn: Deno.TcpConn;
        try {
          conn = await this.#listener.accept();
        } catch (error) {
          if (this.#stopping) break;
          if (error instanceof Deno.errors.BadResource) break;
          this.#log({ event: "error", reason: `accept failed: ${errorText(error)}` });
          await new Promise((resolve) => setTimeout(resolve, 50));
          continue;
        }
        this.#admit(conn);
      }
    } finally {
      await this.#stopAll();
    }
  }

  #admit(conn: Deno.TcpConn): void {
    const remote = conn.remoteAddr;
    const ip = remote.hostname;
    const peer = formatAddr(remote);
    const fromIp = this.#perIp.get(ip) ?? 0;
    let refusal: string | undefined;
    if (this.#clients.size >= this.#maxClients) {
      refusal = `server full (${this.#maxClients} clients); try again later`;
    } else if (this.#maxPerIp > 0 && fromIp >= this.#maxPerIp) {
      refusal = `too many connections from ${ip} (at most ${this.#maxPerIp}); try again later`;
    }
    if (refusal !== undefined) {
      this.#log({ event: "refuse", peer, reason: refusal });
      const done = refuse(conn, refusal);
      this.#refusals.add(done);
      done.finally(() => this.#refusals.delete(done));
      return;
    }
    try {
      conn.setNoDelay(true);
      conn.setKeepAlive(true);
    } catch { /* the peer is already gone; run() will notice */ }
    this.#perIp.set(ip, fromIp + 1);
    const client = this.#handler.open(conn, peer);
    this.#log({ event: "connect", peer, ...this.#handler.describe?.(client) });
    const admitted: Admitted = {
      served: Promise.resolve(),
      seenActivity: client.activity,
      since: performance.now(),
      told: false,
    };
    // Counted before it runs, so its welcome can include itself.
    this.#clients.set(client, admitted);
    admitted.served = this.#serve(client, ip);
  }

  async #serve(client: C, ip: string): Promise<void> {
    let reason: string;
    try {
      reason = await this.#handler.run(client);
    } catch (error) {
      reason = `error: ${errorText(error)}`;
    }
    closeQuietly(client.conn);
    this.#clients.delete(client);
    const left = (this.#perIp.get(ip) ?? 1) - 1;
    if (left === 0) this.#perIp.delete(ip);
    else this.#perIp.set(ip, left);
    this.#log({
      event: "disconnect",
      peer: client.peer,
      ...this.#handler.describe?.(client),
      reason,
    });
  }

  #sweepIdle(): void {
    const now = performance.now();
    for (const [client, state] of this.#clients) {
      if (client.activity !== state.seenActivity) {
        state.seenActivity = client.activity;
        state.since = now;
      } else if (!state.told && now - state.since >= this.#idleMs) {
        state.told = true;
        this.#handler.idle(client, this.#idleMs / 1000);
      }
    }
  }

  async #stopAll(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#idleTimer);
    closeQuietly(this.#listener);
    const clients = [...this.#clients.keys()];
    const deadline = performance.now() + this.#shutdownMs;
    this.#handler.shutdown(clients, deadline);
    const all = Promise.all([
      ...[...this.#clients.values()].map((admitted) => admitted.served),
      ...this.#refusals,
    ]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => {
      // A little past the handler's deadline, whatever is left is cut off.
      timer = setTimeout(resolve, this.#shutdownMs + 100);
    });
    await Promise.race([all, late]);
    clearTimeout(timer);
    for (const client of this.#clients.keys()) closeQuietly(client.conn);
    await all;
  }
}

/**
 * Sends `! reason` to a connection the server will not serve, half-closes,
 * and reads (discarding) until the peer closes or a second passes, so the
 * refusal is not lost to a reset caused by unread input.
 */
async function refuse(conn: Deno.TcpConn, reason: string): Promise<void> {
  await lingeringClose(conn, encodeLine(formatError(reason)), REFUSAL_LINGER_MS);
}

/**
 * Writes `last` (if any), half-closes, then discards input until the peer
 * closes or `lingerMs` passes, and closes. Closing with unread input would
 * make the kernel send a reset that can destroy the last bytes in flight.
 */
export async function lingeringClose(
  conn: Deno.Conn,
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
