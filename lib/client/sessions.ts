/**
 * The client side: connecting with a timeout, and the two sessions (over
 * plain TCP, or TLS from `tls_connect.ts`: both are a {@linkcode StreamConn}).
 *
 * - {@linkcode runPipeSession} (stdin is not a terminal): bytes from stdin
 *   go to the server unchanged and bytes from the server go to stdout
 *   unchanged, as soon as they arrive. At stdin EOF the sending side is shut
 *   (half-close) and output goes on until the server closes, like `nc -N`.
 * - {@linkcode runTerminalSession}: full duplex with a line editor on the
 *   bottom row; incoming lines print above it without disturbing the typing.
 *
 * Both resolve to the exit code: 0 after a requested quit, 1 after an error
 * or when the server drops the connection (the reason goes to stderr).
 *
 * @module
 */

import { ConnectionError } from "../support/errors.ts";
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  MAX_CLIENT_QUEUE_BYTES,
  MAX_INCOMING_LINE_BYTES,
} from "../support/constants.ts";
import {
  closeQuietly,
  connectionProblem,
  formatAddr,
  type StreamConn,
  writeAll,
} from "../net/conn.ts";
import { encodeLine, LineDecoder } from "../framing/line_codec.ts";
import { candidateHosts, connectFirst, connectProblem, ConnectTimeout } from "./endpoint.ts";
import { Outbound } from "../net/outbound.ts";
import { httpPortHint } from "./wrong_port.ts";
import {
  isQuitCommand,
  type SessionIo,
  TerminalChat,
  type TerminalChatOptions,
  type TerminalIo,
} from "./terminal_chat.ts";

export type { SessionIo, TerminalIo } from "./terminal_chat.ts";

const decoder = new TextDecoder();

/** Options of {@linkcode connectTcp}. */
export interface ConnectTcpOptions {
  hostname: string;
  port: number;
  /** Milliseconds to wait for the connection. @default {10000} */
  timeout?: number;
}

/**
 * Connects, turning failures into a {@linkcode ConnectionError} with a short
 * reason (`connection refused`, `timed out after 500 ms`, …). `localhost`
 * is tried as 127.0.0.1 and then ::1 (see `endpoint.ts`), each within
 * `timeout`.
 */
export async function connectTcp(options: ConnectTcpOptions): Promise<Deno.TcpConn> {
  const timeout = options.timeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const { port } = options;
  try {
    return await connectFirst(candidateHosts(options.hostname), async (hostname) => {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), timeout);
      try {
        const conn = await Deno.connect({ hostname, port, signal: controller.signal });
        conn.setNoDelay(true);
        return conn;
      } catch (error) {
        throw controller.signal.aborted ? new ConnectTimeout() : error;
      } finally {
        clearTimeout(timer);
      }
    });
  } catch (error) {
    throw new ConnectionError(
      `cannot connect to ${formatAddr(options)}: ${connectProblem(error, timeout)}`,
      { cause: error },
    );
  }
}

/** Options shared by both sessions. */
export interface SessionOptions {
  /** Sent as `/nick NAME` right after connecting. */
  nick?: string;
  /**
   * The server as the user named it: a first line that is an HTTP status
   * line is then explained (an HTTP port, not the chat port) with its
   * WebSocket address. @default {the connection's remote address}
   */
  target?: { hostname: string; port: number; tls: boolean };
}

/** The line for a server whose first line says it is an HTTP port, if it does. */
function wrongPort(
  conn: StreamConn,
  options: SessionOptions,
  firstLine: string,
): string | undefined {
  const target = options.target ??
    { hostname: conn.remoteAddr.hostname, port: conn.remoteAddr.port, tls: conn.secure === true };
  return httpPortHint(firstLine, target.hostname, target.port, target.tls);
}

/** Runs the pipe-mode session (see the module documentation). */
export async function runPipeSession(
  conn: StreamConn,
  io: SessionIo,
  options: SessionOptions = {},
): Promise<number> {
  let quitRequested = false;
  const quitWatcher = new LineDecoder({ maxLineBytes: 64 });
  const watch = {
    line: (bytes: Uint8Array) => {
      if (isQuitCommand(decoder.decode(bytes))) quitRequested = true;
    },
    overlong: () => {},
  };
  const sending = (async () => {
    if (options.nick !== undefined) await writeAll(conn, encodeLine(`/nick ${options.nick}`));
    const buffer = new Uint8Array(16 * 1024);
    while (true) {
      const n = await io.stdin.read(buffer);
      if (n === null) break;
      quitWatcher.push(buffer.subarray(0, n), watch);
      await writeAll(conn, buffer.subarray(0, n));
    }
    quitRequested = true;
    await conn.closeWrite();
  })();
  sending.catch(() => {}); // a failed send shows up on the receiving side
  const buffer = new Uint8Array(64 * 1024);
  let first = true;
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      if (first) {
        first = false;
        // Bytes pass unchanged, as with nc; an HTTP port is explained on stderr too.
        const hint = wrongPort(conn, options, decoder.decode(buffer.subarray(0, Math.min(n, 64))));
        if (hint !== undefined) io.reportError(hint);
      }
      await writeAll(io.stdout, buffer.subarray(0, n));
    }
  } catch (error) {
    io.reportError(connectionProblem(error));
    return 1;
  }
  if (quitRequested) return 0;
  io.reportError("server closed the connection");
  return 1;
}

/** Options of {@linkcode runTerminalSession}. */
export interface TerminalSessionOptions extends SessionOptions, TerminalChatOptions {}

/**
 * Runs the terminal session. The caller puts the terminal in raw mode
 * before and restores it after, whatever happens.
 */
export async function runTerminalSession(
  conn: StreamConn,
  io: TerminalIo,
  options: TerminalSessionOptions = {},
): Promise<number> {
  // One writer, one write in flight: lines typed or pasted quickly go out
  // whole and in order. A failed write shows up on the reading side.
  const outbound = new Outbound(conn, { maxQueueBytes: MAX_CLIENT_QUEUE_BYTES });
  const chat = new TerminalChat(io, {
    send: (text) => outbound.enqueue(encodeLine(text)),
    close: () => closeQuietly(conn),
  }, options);
  chat.start(options.nick);

  const lines = new LineDecoder({ maxLineBytes: MAX_INCOMING_LINE_BYTES });
  const received: string[] = [];
  const sink = {
    line: (bytes: Uint8Array) => received.push(decoder.decode(bytes)),
    overlong: () => received.push("! (a line over 1 MiB from the server was skipped)"),
  };
  const buffer = new Uint8Array(64 * 1024);
  let problem: string | null = null;
  let firstLine = true;
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      lines.push(buffer.subarray(0, n), sink);
      if (firstLine && received.length > 0) {
        firstLine = false;
        // Not a chat server but an HTTP port: one line saying where to go, not its answer.
        problem = wrongPort(conn, options, received[0]) ?? null;
        if (problem !== null) break;
      }
      chat.show(received.splice(0));
    }
    if (problem === null) {
      lines.end(sink);
      chat.show(received.splice(0));
    }
  } catch (error) {
    if (!chat.quitting) problem = connectionProblem(error);
  } finally {
    chat.finish();
    closeQuietly(conn);
  }
  if (chat.inputProblem !== null) problem = chat.inputProblem;
  else if (chat.quitting && problem === null) return 0;
  io.reportError(problem ?? "server closed the connection");
  return 1;
}
