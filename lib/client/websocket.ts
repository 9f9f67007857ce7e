/**
 * A WebSocket client with the seed's four callbacks (`onOpen`,
 * `onMessage`, `onError`, `onClose`), on npm `ws`: Deno's built-in
 * WebSocket cannot send pings, and `ws` runs under Deno as it does on
 * Node.
 *
 * Bounds: at most `maxQueueBytes` of messages wait to be sent
 * ({@linkcode WebSocketClient.send} refuses past that, so a server that
 * stops reading cannot make the client grow), a received message over
 * `maxMessageBytes` closes the connection with 1009, and a close waits at
 * most `closeWaitMs` for the server's answer before the socket is dropped.
 *
 * @module
 */

import type { Buffer } from "node:buffer";
import { type RawData, WebSocket } from "ws";
import { ConnectionError } from "../support/errors.ts";
import { errorText } from "../net/conn.ts";
import { handshakeHint } from "./wrong_port.ts";
import {
  candidateHosts,
  connectFirst,
  connectProblem,
  ConnectTimeout,
  urlHost,
  urlHostname,
  urlPort,
} from "./endpoint.ts";
import {
  explainRefusal,
  isCertificateRefusal,
  tlsClientOptions,
  type TlsTrust,
} from "./tls_connect.ts";
import {
  DEFAULT_CLIENT_PING_INTERVAL_SECONDS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  MAX_CLIENT_QUEUE_BYTES,
  MAX_CLIENT_WS_MESSAGE_BYTES,
  WS_CLOSE_WAIT_MS,
} from "../support/constants.ts";

/**
 * A received message: text or binary. A text message carries its UTF-8
 * `bytes` as received and, in `data`, the text they spell (decoded on
 * first use, so a caller that only passes the bytes on never decodes).
 */
export type WebSocketMessage =
  | { kind: "text"; readonly data: string; bytes: Uint8Array }
  | { kind: "binary"; data: Uint8Array };

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A text message of `bytes` (valid UTF-8: `ws` checks it), decoded when `data` is first read. */
function textMessage(bytes: Uint8Array): WebSocketMessage {
  let text: string | undefined;
  return {
    kind: "text",
    get data() {
      return text ??= decoder.decode(bytes);
    },
    bytes,
  };
}

/** The callbacks of {@linkcode connectWebSocket}; all optional. */
export interface WebSocketEvents {
  /** The handshake is done; called before any `onMessage`. */
  onOpen?(client: WebSocketClient): void;
  /** A whole message arrived (fragments are joined). */
  onMessage?(message: WebSocketMessage): void;
  /** The connection could not be made, or failed (a close follows once open). */
  onError?(error: ConnectionError): void;
  /** The connection is closed (once, after `onOpen`); 1006 when no close frame came. */
  onClose?(code: number, reason: string): void;
}

/**
 * Options of {@linkcode connectWebSocket}. For `wss://`, `ca` is the CA to
 * trust and `insecure` skips verification (see `tls_connect.ts`).
 */
export interface ConnectWebSocketOptions extends WebSocketEvents, TlsTrust {
  /** Extra request headers; an array value sends the header several times. @default {{}} */
  headers?: Record<string, string | readonly string[]>;
  /** Subprotocols to offer (`Sec-WebSocket-Protocol`). @default {[]} */
  subprotocols?: readonly string[];
  /** The `Origin` header. @default {none} */
  origin?: string;
  /** Milliseconds to wait for the connection and the handshake. @default {10000} */
  timeout?: number;
  /** Seconds between pings; no pong by the next one drops the connection (0 = off). @default {0} */
  pingInterval?: number;
  /** Bytes of messages that may wait to be sent. @default {1048576} */
  maxQueueBytes?: number;
  /** Largest message accepted; a bigger one closes with 1009. @default {16777216} */
  maxMessageBytes?: number;
  /** Milliseconds a close waits for the server's close before dropping the socket. @default {2000} */
  closeWaitMs?: number;
}

/** How a connection ended. */
export interface WebSocketClose {
  code: number;
  reason: string;
}

/** An open WebSocket connection. */
export interface WebSocketClient extends AsyncDisposable {
  /** The URL connected to. */
  readonly url: string;
  /** The subprotocol the server chose, or "". */
  readonly protocol: string;
  /** Bytes of messages waiting to be sent. */
  readonly queuedBytes: number;
  /** Resolves once the connection is closed (never rejects). */
  readonly closed: Promise<WebSocketClose>;
  /**
   * Sends a text (string) or binary (bytes) message. Returns false, sending
   * nothing, when the connection is not open or the message would take the
   * queue past `maxQueueBytes`.
   */
  send(data: string | Uint8Array): boolean;
  /** Resolves once nothing waits to be sent (or the connection is closed). */
  drained(): Promise<void>;
  /** Stops reading messages (the server then waits on TCP flow control). */
  pause(): void;
  /** Reads messages again. */
  resume(): void;
  /**
   * Starts the closing handshake (1000 by default); if the server does not
   * answer within `closeWaitMs`, the socket is dropped. `onClose` follows.
   */
  close(code?: number, reason?: string): void;
}

/**
 * Connects to a `ws://` or `wss://` URL; resolves once the handshake is
 * done (after `onOpen`), or rejects with a {@linkcode ConnectionError}
 * (after `onError`) whose message reads
 * `cannot connect to ws://host:7880/ws: connection refused`. `localhost`
 * is tried as 127.0.0.1 and then ::1. A URL of another scheme throws a
 * `TypeError`.
 *
 * @example
 * ```ts ignore
 * // (not run by `deno test --doc`: it needs --allow-net and --allow-env)
 * import { connectWebSocket } from "./websocket.ts";
 *
 * await using client = await connectWebSocket("ws://localhost:7880/ws", {
 *   onOpen: () => console.log("connected"),
 *   onMessage: (message) =>
 *     console.log(message.kind === "text" ? message.data : `${message.data.length} bytes`),
 *   onError: (error) => console.error(error.message),
 *   onClose: (code, reason) => console.log(`closed: ${code} ${reason}`),
 * });
 * client.send("/nick ann");
 * client.send("hello");
 * client.close(1000);
 * await client.closed;
 * ```
 */
export async function connectWebSocket(
  url: string | URL,
  options: ConnectWebSocketOptions = {},
): Promise<WebSocketClient> {
  const target = new URL(url);
  if (target.protocol !== "ws:" && target.protocol !== "wss:") {
    throw new TypeError(`Cannot connect: the URL must be ws:// or wss://, received ${target.href}`);
  }
  const timeout = options.timeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const headers = { ...options.headers };
  const hasHost = Object.keys(headers).some((name) => name.toLowerCase() === "host");
  const hostname = urlHostname(target);
  // With the caller's own Host header, the name is used as written.
  const hosts = hasHost ? [hostname] : candidateHosts(hostname);
  const started = performance.now();
  try {
    return await connectFirst(hosts, async (host) => {
      const attempt = new URL(target);
      if (host !== hostname) attempt.hostname = urlHost(host);
      const client = new Client(
        attempt,
        target.href,
        host === hostname ? headers : { ...headers, host: target.host },
        options,
      );
      const timer = setTimeout(() => client.abort(), timeout);
      try {
        await client.opened;
        return client;
      } finally {
        clearTimeout(timer);
      }
    });
  } catch (error) {
    const failure = new ConnectionError(
      isCertificateRefusal(error)
        ? await explainRefusal(error, {
          ...options,
          hostname,
          port: urlPort(target)!,
          timeout: timeout - (performance.now() - started),
        })
        : `cannot connect to ${target.href}: ${handshakeProblem(error, timeout, target)}`,
      { cause: error },
    );
    options.onError?.(failure);
    throw failure;
  }
}

/** Why the connection or the handshake failed, in a few words. */
function handshakeProblem(error: unknown, timeout: number, target: URL): string {
  // A wrong port, scheme or path: one line with the likely right address.
  const hint = handshakeHint(errorText(error), target);
  if (hint !== undefined) return hint;
  const status = /^Unexpected server response: (\d+)/.exec(errorText(error));
  if (status) return `the server answered HTTP ${status[1]} instead of a WebSocket handshake`;
  return connectProblem(error, timeout);
}

/** One `ws` connection: the callbacks, the send bound, pings and the bounded close. */
class Client implements WebSocketClient {
  readonly url: string;
  readonly opened: Promise<void>;
  readonly closed: Promise<WebSocketClose>;
  readonly #ws: WebSocket;
  readonly #events: WebSocketEvents;
  readonly #maxQueueBytes: number;
  readonly #closeWaitMs: number;
  #isOpen = false;
  #timedOut = false;
  #queuedBytes = 0;
  #drainWaiters: (() => void)[] = [];
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #answeredPing = true;

  constructor(
    address: URL,
    url: string,
    headers: Record<string, string | readonly string[]>,
    options: ConnectWebSocketOptions,
  ) {
    this.url = url;
    this.#events = options;
    this.#maxQueueBytes = options.maxQueueBytes ?? MAX_CLIENT_QUEUE_BYTES;
    this.#closeWaitMs = options.closeWaitMs ?? WS_CLOSE_WAIT_MS;
    const opened = Promise.withResolvers<void>();
    const closed = Promise.withResolvers<WebSocketClose>();
    this.opened = opened.promise;
    this.closed = closed.promise;
    this.#ws = new WebSocket(address, [...(options.subprotocols ?? [])], {
      headers: headers as Record<string, string>,
      origin: options.origin,
      maxPayload: options.maxMessageBytes ?? MAX_CLIENT_WS_MESSAGE_BYTES,
      perMessageDeflate: false,
      followRedirects: false,
      // wss: verify the name asked for, also when connecting to 127.0.0.1 for `localhost`.
      ...(address.protocol === "wss:" ? tlsClientOptions(urlHostname(new URL(url)), options) : {}),
    });
    this.#ws.on("open", () => {
      this.#isOpen = true;
      this.#startPings(options.pingInterval ?? DEFAULT_CLIENT_PING_INTERVAL_SECONDS);
      // Before the first message: 'message' may be emitted before a promise
      // continuation runs.
      this.#events.onOpen?.(this);
      opened.resolve();
    });
    this.#ws.on("message", (data: RawData, isBinary: boolean) => {
      // `ws` hands out Buffers (its default binaryType); a plain view is
      // friendlier to callers (assertEquals, instanceof).
      const buffer = data as Buffer;
      const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      this.#events.onMessage?.(isBinary ? { kind: "binary", data: bytes } : textMessage(bytes));
    });
    this.#ws.on("pong", () => (this.#answeredPing = true));
    this.#ws.on("error", (error: Error) => {
      if (!this.#isOpen) return opened.reject(this.#timedOut ? new ConnectTimeout() : error);
      this.#events.onError?.(new ConnectionError(errorText(error), { cause: error }));
    });
    this.#ws.on("close", (code: number, reason: Buffer) => {
      clearTimeout(this.#closeTimer);
      clearInterval(this.#pingTimer);
      this.#queuedBytes = 0;
      this.#wakeDrainWaiters();
      if (!this.#isOpen) {
        // After 'error', if there was one (then this reject changes nothing).
        return opened.reject(
          this.#timedOut ? new ConnectTimeout() : new Error("closed during the handshake"),
        );
      }
      const close = { code, reason: reason.toString("utf8") };
      closed.resolve(close);
      this.#events.onClose?.(close.code, close.reason);
    });
  }

  get protocol(): string {
    return this.#ws.protocol;
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Gives up connecting (the connect timeout). */
  abort(): void {
    this.#timedOut = true;
    this.#ws.terminate();
  }

  /** True once the connection is closed (`ws` has emitted, or is emitting, 'close'). */
  get #isClosed(): boolean {
    return this.#ws.readyState === WebSocket.CLOSED;
  }

  send(data: string | Uint8Array): boolean {
    if (this.#ws.readyState !== WebSocket.OPEN) return false;
    // Text is encoded here, once: its size is then exact, and `ws` sends the bytes as they are.
    const binary = typeof data !== "string";
    const bytes = binary ? data : encoder.encode(data);
    const size = bytes.byteLength;
    if (this.#queuedBytes + size > this.#maxQueueBytes) return false;
    this.#queuedBytes += size;
    this.#ws.send(bytes, { binary }, () => {
      if (this.#isClosed) return; // the count was reset at the close
      this.#queuedBytes -= size;
      if (this.#queuedBytes === 0) this.#wakeDrainWaiters();
    });
    return true;
  }

  drained(): Promise<void> {
    if (this.#queuedBytes === 0 || this.#isClosed) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  pause(): void {
    this.#ws.pause();
  }

  resume(): void {
    this.#ws.resume();
  }

  close(code = 1000, reason = ""): void {
    if (this.#isClosed) return;
    if (this.#ws.readyState === WebSocket.CONNECTING) return this.#ws.terminate();
    this.#ws.close(code, reason); // throws on a code a client may not send
    this.#closeTimer ??= setTimeout(() => this.#ws.terminate(), this.#closeWaitMs);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.closed;
  }

  #startPings(seconds: number): void {
    if (!(seconds > 0)) return;
    this.#pingTimer = setInterval(() => {
      if (!this.#answeredPing) return this.#ws.terminate();
      this.#answeredPing = false;
      this.#ws.ping();
    }, seconds * 1000);
  }

  #wakeDrainWaiters(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
