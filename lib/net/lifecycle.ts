/**
 * What every Parley server shares: the shape of the object it returns
 * (like `Deno.serve`'s), and the shutdown choreography over its listeners.
 *
 * @module
 */

import {
  DEFAULT_PING_INTERVAL_SECONDS,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
} from "../support/constants.ts";
import { type Logger, safeLogger, silentLogger } from "../support/log.ts";
import { checkNumber, TIMER_MS, TIMER_SECONDS } from "../support/options.ts";
import type { Admission } from "./admission.ts";
import type { HttpListener } from "./http_listener.ts";
import type { TcpListener } from "./tcp_listener.ts";
import { TlsAcceptor } from "./tls_acceptor.ts";
import type { CertificateInfo, TlsPair } from "./tls_pair.ts";
import { formatAddr } from "./conn.ts";
import { settleWithin } from "../support/deadline.ts";

/** A running server: its addresses, a promise for its end, and `shutdown()`. */
export interface ParleyServer extends AsyncDisposable {
  /** The TCP address actually bound (with the real port when 0 was asked). */
  readonly addr: Deno.NetAddr;
  /** The HTTP address once `ready` (null without an HTTP listener). */
  readonly httpAddr: Deno.NetAddr | null;
  /** Resolves once every listener is bound; rejects if one cannot be. */
  readonly ready: Promise<void>;
  /** Resolves when the server has stopped and every connection is closed. */
  readonly finished: Promise<void>;
  /** File descriptors the server may need at most (see `Admission`). */
  readonly descriptorsNeeded: number;
  /** Stops accepting, lets clients take their last bytes, then closes all. */
  shutdown(): Promise<void>;
  /**
   * Serves TLS handshakes with a new certificate and key from now on
   * (renewal without a restart); clients already connected keep talking.
   * Throws a `CertificateError`, keeping the pair in use, when the new one
   * cannot serve, and a `TypeError` on a server started without `tls`.
   */
  reloadTls(pair: TlsPair): CertificateInfo;
}

/** The options every Parley server takes besides its limits and ports. */
export interface ServerBaseOptions {
  /** Milliseconds shutdown waits for clients to take their last bytes. @default {5000} */
  shutdownTimeout?: number;
  /** Seconds between WebSocket pings; no pong by the next one closes (0 = off). @default {30} */
  pingInterval?: number;
  /** Certificate (chain) and key, PEM: every port speaks TLS. @default {plain TCP and HTTP} */
  tls?: TlsPair;
  /** Milliseconds a TLS client gets from connecting to a complete handshake. @default {10000} */
  tlsHandshakeTimeout?: number;
  /** Receives the server's events. @default {silent} */
  logger?: Logger;
}

/** {@linkcode ServerBaseOptions}, checked and with their defaults. */
export interface ServerBase {
  /** The logger, made safe (a throwing logger never stops serving). */
  logger: Logger;
  /** The TLS side of every listener, or undefined for plain TCP and HTTP. */
  tls: TlsAcceptor | undefined;
  shutdownTimeoutMs: number;
  pingIntervalMs: number;
}

/**
 * Checks the options every server takes, before anything is started:
 * throws a `RangeError` starting with `what` (`Cannot start the server`),
 * or a `CertificateError` when the TLS pair cannot serve.
 */
export function serverBase(what: string, options: ServerBaseOptions): ServerBase {
  const shutdownTimeoutMs = checkNumber(
    what,
    "shutdownTimeout",
    options.shutdownTimeout ?? DEFAULT_SHUTDOWN_TIMEOUT_MS,
    TIMER_MS,
  );
  const pingSeconds = checkNumber(
    what,
    "pingInterval",
    options.pingInterval ?? DEFAULT_PING_INTERVAL_SECONDS,
    TIMER_SECONDS,
  );
  const logger = safeLogger(options.logger ?? silentLogger);
  const tls = options.tls === undefined ? undefined : new TlsAcceptor({
    pair: options.tls,
    handshakeTimeoutMs: options.tlsHandshakeTimeout,
    logger,
  });
  return { logger, tls, shutdownTimeoutMs, pingIntervalMs: pingSeconds * 1000 };
}

/** Options of {@linkcode ServerLifecycle}. */
export interface ServerLifecycleOptions {
  tcp: TcpListener | null;
  http: HttpListener | null;
  admission: Admission;
  /** The TLS side of both listeners, if they speak TLS. @default {null} */
  tls?: TlsAcceptor | null;
  /** Milliseconds clients get to take their last bytes. */
  shutdownTimeoutMs: number;
  logger: Logger;
  /** Fields of the `shutdown` log event (`clients=3`). */
  describe: () => Record<string, string | number>;
  /** Tells every client the server is stopping, giving them `graceMs`. */
  stopClients: (graceMs: number) => void;
  /** Stops timers of the protocol (idle sweeps). */
  stopTimers?: () => void;
}

/** Starts, tracks and stops a server's listeners. */
export class ServerLifecycle {
  readonly ready: Promise<void>;
  readonly finished: Promise<void>;
  #httpAddr: Deno.NetAddr | null = null;
  #stopping = false;
  /** Listening: only a server that started logs its shutdown. */
  #started = false;
  #stop!: () => void;
  readonly #options: ServerLifecycleOptions;

  constructor(options: ServerLifecycleOptions) {
    this.#options = options;
    const { tcp, http, logger } = options;
    this.ready = (async () => {
      if (http !== null) this.#httpAddr = await http.ready;
      logger({
        event: "listen",
        ...(tcp ? { addr: formatAddr(tcp.addr) } : {}),
        ...(this.#httpAddr ? { http: formatAddr(this.#httpAddr) } : {}),
        ...(options.tls ? { tls: true } : {}),
      });
      this.#started = true;
    })();
    const stopRequested = new Promise<void>((resolve) => (this.#stop = resolve));
    // A listener that could not be bound stops the server.
    this.ready.catch(() => this.shutdown());
    this.finished = (async () => {
      await Promise.race([stopRequested, ...(tcp ? [tcp.finished] : [])]);
      this.shutdown();
      const all = Promise.all([tcp?.finished, http?.finished]);
      // A little past the clients' deadline, whatever is left is cut off.
      await settleWithin(all, options.shutdownTimeoutMs + 100, undefined);
      tcp?.closeAll();
      http?.closeAll();
      await all;
    })();
  }

  /** The HTTP address once ready. */
  get httpAddr(): Deno.NetAddr | null {
    return this.#httpAddr;
  }

  /** See {@linkcode ParleyServer.reloadTls}. */
  reloadTls(pair: TlsPair): CertificateInfo {
    if (!this.#options.tls) {
      throw new TypeError("Cannot reload TLS: the server was started without tls");
    }
    return this.#options.tls.reload(pair);
  }

  /**
   * The server object callers get: `addr` is the TCP address (the HTTP one
   * when there is no TCP listener); `after` runs once the listeners are
   * done (closing a Redis link) and is part of `finished`.
   */
  server(
    descriptorsNeeded: number,
    after: () => Promise<void> = () => Promise.resolve(),
  ): ParleyServer {
    const finished = this.finished.then(after);
    const shutdown = () => this.shutdown().then(() => finished);
    const tcp = this.#options.tcp;
    const httpAddr = () => this.#httpAddr;
    return {
      get addr() {
        return tcp?.addr ?? httpAddr()!;
      },
      get httpAddr() {
        return httpAddr();
      },
      ready: this.ready,
      finished,
      descriptorsNeeded,
      reloadTls: (pair) => this.reloadTls(pair),
      shutdown,
      [Symbol.asyncDispose]: shutdown,
    };
  }

  /** Starts the graceful stop (once); resolves when finished. */
  shutdown(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      const { tcp, http, admission, logger } = this.#options;
      if (this.#started) logger({ event: "shutdown", ...this.#options.describe() });
      tcp?.close();
      http?.close();
      this.#options.stopTimers?.();
      this.#options.stopClients(this.#options.shutdownTimeoutMs);
      admission.close();
      this.#options.tls?.close();
      this.#stop();
    }
    return this.finished;
  }
}
