/**
 * The client's sessions over WebSocket (`client.ts ws://HOST:PORT/PATH`).
 *
 * - {@linkcode runWebSocketPipeSession} (stdin is not a terminal), like
 *   wscat or websocat: each stdin line is one text message (with `binary`,
 *   stdin goes as binary messages of up to 64 KiB); each received message
 *   goes to stdout followed by a newline (binary ones raw with `binary`).
 *   At stdin EOF the client sends a close (1000) and waits, bounded, for
 *   the server's.
 * - {@linkcode runWebSocketTerminalSession}: the same terminal as over TCP
 *   ({@linkcode TerminalChat}); each typed line is one text message, a
 *   received text message shows as its lines (a Parley server puts several
 *   lines, LF-separated, in one message under load), a binary one as
 *   `[binary N bytes] 61 62 …`, and the close as `* closed: 1000 normal`.
 *
 * Both resolve to the exit code: 0 after a requested quit or a close with
 * 1000, 1001 or 1005 (no code: a clean close all the same); 1 when the
 * connection fails, input or output fails, or the close has another code,
 * with one line on stderr (`connection closed: 1009 message too big`).
 *
 * @module
 */

import { sanitizeText } from "../chat/protocol.ts";
import { LineDecoder } from "../framing/line_codec.ts";
import { errorText, writeAll } from "../net/conn.ts";
import { MAX_CLIENT_QUEUE_BYTES, WS_BINARY_CHUNK_BYTES } from "../support/constants.ts";
import { ConnectionError } from "../support/errors.ts";
import {
  type SessionIo,
  TerminalChat,
  type TerminalChatOptions,
  type TerminalIo,
} from "./terminal_chat.ts";
import type { WebSocketClient, WebSocketClose, WebSocketEvents } from "./websocket.ts";

/**
 * Connects with the session's callbacks (`connectWebSocket` with the
 * program's options), so no message can arrive before the session listens.
 */
export type WebSocketConnector = (events: WebSocketEvents) => Promise<WebSocketClient>;

const CLOSE_NAMES: Record<number, string> = {
  1000: "normal",
  1001: "going away",
  1002: "protocol error",
  1003: "unsupported data",
  1005: "no status code",
  1006: "abnormal closure",
  1007: "invalid data",
  1008: "policy violation",
  1009: "message too big",
  1010: "missing extension",
  1011: "server error",
  1012: "service restart",
  1013: "try again later",
  1014: "bad gateway",
};

/** `1000 normal`, `1000 quit`: the code and the reason (or the code's name when none). */
export function describeClose(code: number, reason: string): string {
  return `${code} ${sanitizeText(reason) || (CLOSE_NAMES[code] ?? "unknown")}`;
}

/** True for the close codes of an intended end: 1000, 1001, and 1005 (no code at all). */
export function isCleanClose(code: number): boolean {
  return code === 1000 || code === 1001 || code === 1005;
}

const PREVIEW_BYTES = 16;

/**
 * How the terminal shows a binary message: its size and the first bytes in
 * hex.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { binaryPreview } from "./ws_sessions.ts";
 *
 * equal(binaryPreview(new Uint8Array([0x61, 0x62, 0x00])), "[binary 3 bytes] 61 62 00");
 * ```
 */
export function binaryPreview(bytes: Uint8Array): string {
  const hex = Array.from(
    bytes.subarray(0, PREVIEW_BYTES),
    (byte) => byte.toString(16).padStart(2, "0"),
  );
  const more = bytes.length > PREVIEW_BYTES ? " …" : "";
  return `[binary ${bytes.length} byte${bytes.length === 1 ? "" : "s"}] ${hex.join(" ")}${more}`
    .trimEnd();
}

/** Options of {@linkcode runWebSocketPipeSession}. */
export interface WebSocketPipeOptions {
  /** Sent as `/nick NAME` right after connecting. */
  nick?: string;
  /** Send stdin as binary messages; write received binary messages without a newline. @default {false} */
  binary?: boolean;
}

/** Bytes waiting for stdout above which the pipe session stops reading messages. */
const OUTPUT_HIGH_WATER = 1024 * 1024;
const OUTPUT_LOW_WATER = 256 * 1024;
const NEWLINE = new Uint8Array([0x0a]);
const decoder = new TextDecoder();

/**
 * Connects with `events`; on a failure to connect, `report`s its one line
 * and resolves to undefined (any other error is thrown).
 */
async function connectOrReport(
  connect: WebSocketConnector,
  events: WebSocketEvents,
  report: (message: string) => void,
): Promise<WebSocketClient | undefined> {
  try {
    return await connect(events);
  } catch (error) {
    if (!(error instanceof ConnectionError)) throw error;
    report(error.message);
    return undefined;
  }
}

/** How a session ended, for {@linkcode exitCode}. */
interface SessionEnd {
  close: WebSocketClose;
  /** What went wrong on this side (input, output), if anything: reported, exit code 1. */
  problem: string | null;
  /** True when this close was asked for, whatever its code. */
  expected: boolean;
  /** The last connection error, said when the close has no reason. */
  lastError: string;
}

/**
 * The exit code of a session that has ended: 0 for a clean or expected
 * close; otherwise 1, after one line on stderr (`connection closed: 1009
 * message too big`).
 */
function exitCode(io: SessionIo, end: SessionEnd): number {
  if (end.problem !== null) {
    io.reportError(end.problem);
    return 1;
  }
  const { code, reason } = end.close;
  if (end.expected || isCleanClose(code)) return 0;
  io.reportError(`connection closed: ${describeClose(code, reason || end.lastError)}`);
  return 1;
}

/** Runs the pipe-mode session (see the module documentation). */
export async function runWebSocketPipeSession(
  connect: WebSocketConnector,
  io: SessionIo,
  options: WebSocketPipeOptions = {},
): Promise<number> {
  const binary = options.binary ?? false;
  const ended = Promise.withResolvers<WebSocketClose>();
  let client: WebSocketClient | undefined = undefined; // set once connected
  let problem: string | null = null;
  let lastError = "";
  let isClosed = false;
  // stdout: one write at a time, in order; reading pauses while too much waits.
  let output = Promise.resolve();
  let waiting = 0;
  let paused = false;
  const write = (bytes: Uint8Array) => {
    waiting += bytes.length;
    output = output.then(() => problem === null ? writeAll(io.stdout, bytes) : undefined).then(
      () => {
        waiting -= bytes.length;
        if (paused && waiting <= OUTPUT_LOW_WATER) {
          paused = false;
          client?.resume();
        }
      },
      (error) => {
        problem ??= `cannot write output: ${errorText(error)}`;
        client?.close(1001);
      },
    );
    if (!paused && waiting > OUTPUT_HIGH_WATER) {
      paused = true;
      client?.pause();
    }
  };
  const events: WebSocketEvents = {
    onMessage: (message) => {
      if (message.kind === "text") {
        write(message.bytes);
        write(NEWLINE);
      } else {
        write(message.data);
        if (!binary) write(NEWLINE);
      }
    },
    onError: (error) => (lastError = error.message),
    onClose: (code, reason) => {
      isClosed = true;
      ended.resolve({ code, reason });
    },
  };
  const open = await connectOrReport(connect, events, (message) => io.reportError(message));
  if (open === undefined) return 1;
  client = open;

  // Sends, waiting while the queue is full.
  const send = async (data: string | Uint8Array): Promise<void> => {
    while (!open.send(data)) {
      if (open.queuedBytes === 0) { // closed, or bigger than the whole queue
        if (!isClosed) io.reportError("a message over 1 MiB was not sent");
        return;
      }
      await open.drained();
    }
  };
  let closeRequested = false;
  const sending = (async () => {
    if (options.nick !== undefined) await send(`/nick ${options.nick}`);
    const lines: string[] = [];
    const sink = {
      line: (bytes: Uint8Array) => lines.push(decoder.decode(bytes)),
      overlong: () => io.reportError("a line over 1 MiB was not sent"),
    };
    const lineDecoder = new LineDecoder({ maxLineBytes: MAX_CLIENT_QUEUE_BYTES });
    const buffer = new Uint8Array(WS_BINARY_CHUNK_BYTES);
    while (true) {
      const n = await io.stdin.read(buffer);
      if (n === null) break;
      if (binary) await send(buffer.slice(0, n));
      else lineDecoder.push(buffer.subarray(0, n), sink);
      for (const line of lines.splice(0)) await send(line);
    }
    lineDecoder.end(sink);
    for (const line of lines.splice(0)) await send(line);
    closeRequested = true;
    open.close(1000);
  })();
  sending.catch((error) => {
    problem ??= `cannot read input: ${errorText(error)}`;
    open.close(1001);
  });

  const close = await ended.promise;
  await output;
  return exitCode(io, {
    close,
    problem,
    // 1006 after our close: the server did not answer within the wait.
    expected: closeRequested && close.code === 1006,
    lastError,
  });
}

/** Options of {@linkcode runWebSocketTerminalSession}. */
export interface WebSocketTerminalOptions extends TerminalChatOptions {
  /** Sent as `/nick NAME` right after connecting. */
  nick?: string;
}

/**
 * Runs the terminal session over WebSocket. The caller puts the terminal
 * in raw mode before and restores it after, whatever happens.
 */
export async function runWebSocketTerminalSession(
  connect: WebSocketConnector,
  io: TerminalIo,
  options: WebSocketTerminalOptions = {},
): Promise<number> {
  let client: WebSocketClient | undefined = undefined; // set once connected
  const chat = new TerminalChat(io, {
    send: (text) => client?.send(text) ?? false,
    close: () => client?.close(1000),
  }, options);
  const ended = Promise.withResolvers<WebSocketClose>();
  let lastError = "";
  const events: WebSocketEvents = {
    onMessage: (message) =>
      chat.show(
        message.kind === "text"
          ? message.data.replace(/(\r\n|\r|\n)$/, "").split(/\r\n|\r|\n/)
          : [binaryPreview(message.data)],
      ),
    onError: (error) => (lastError = error.message),
    onClose: (code, reason) => {
      chat.show([`* closed: ${describeClose(code, reason)}`]);
      ended.resolve({ code, reason });
    },
  };
  const open = await connectOrReport(connect, events, (message) => {
    chat.finish();
    io.reportError(message);
  });
  if (open === undefined) return 1;
  client = open;
  chat.start(options.nick);
  const close = await ended.promise;
  chat.finish();
  return exitCode(io, { close, problem: chat.inputProblem, expected: chat.quitting, lastError });
}
