/**
 * Server logging: one line per event, as text for people or as JSON for
 * machines. Pure: where the lines go is the caller's choice (the programs
 * use `net/log_writer.ts`, which never blocks serving).
 *
 * @module
 */

/** What happened; each kind carries the fields listed in {@linkcode LogEvent}. */
export type LogEventKind =
  | "listen"
  | "connect"
  | "disconnect"
  | "refuse"
  | "nick"
  | "shutdown"
  | "warning"
  | "error"
  | "tls"
  | "moderation";

/** One log record. */
export interface LogEvent {
  event: LogEventKind;
  /** Peer address as `host:port`. */
  peer?: string;
  nick?: string;
  /** New nick, for `nick` events. */
  to?: string;
  reason?: string;
  /** Any other detail (address listened on, counts). */
  [field: string]: string | number | boolean | undefined;
}

/** Receives log events; servers call it synchronously. */
export type Logger = (event: LogEvent) => void;

/** A logger that drops everything (the default of the server cores). */
export const silentLogger: Logger = () => {};

/**
 * Wraps `logger` so that an exception it throws is swallowed: logging must
 * never take a server, or the connection being logged, down.
 */
export function safeLogger(logger: Logger): Logger {
  if (logger === silentLogger) return logger;
  return (event) => {
    try {
      logger(event);
    } catch { /* a broken logger loses its line, nothing else */ }
  };
}

/** Output format of {@linkcode createLogger}. */
export type LogFormat = "text" | "json";

/** Options of {@linkcode createLogger}. */
export interface CreateLoggerOptions {
  /** @default {"text"} */
  format?: LogFormat;
  /** Where each line goes (without a line ending). */
  write: (line: string) => void;
  /** Clock for the timestamp. @default {() => new Date()} */
  now?: () => Date;
  /**
   * Who logs: the process id, the host's name, and on a cluster node its
   * node id. JSON lines carry all three (as log collectors expect); text
   * lines only `node=`, where several processes write to one place.
   * @default {{}}
   */
  origin?: LogOrigin;
}

/** Who writes a log: see {@linkcode CreateLoggerOptions.origin}. */
export interface LogOrigin {
  pid?: number;
  hostname?: string;
  /** A cluster node's id (its Redis directory's). */
  node?: string;
}

/** The severity log tools expect (`level`): `error`, `warn`, or `info`. */
export function logLevel(kind: LogEventKind): "error" | "warn" | "info" {
  return kind === "error" ? "error" : kind === "warning" ? "warn" : "info";
}

/**
 * Makes a logger that writes one line per event:
 * `2026-11-21T10:00:00.000Z connect peer=127.0.0.1:50000 nick=guest-1`, or
 * with `format: "json"`, `{"time":"…","level":"info","msg":"connect peer=…",
 * "pid":…,"hostname":"…","event":"connect","peer":"…",…}` (the fields log
 * collectors look for, then the event's own).
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { createLogger } from "./log.ts";
 *
 * const lines: string[] = [];
 * const log = createLogger({
 *   format: "json",
 *   write: (line) => lines.push(line),
 *   now: () => new Date(0),
 *   origin: { pid: 42, hostname: "box", node: "n1" },
 * });
 * log({ event: "warning", reason: "low" });
 * deepEqual(JSON.parse(lines[0]), {
 *   time: "1970-01-01T00:00:00.000Z",
 *   level: "warn",
 *   msg: "warning reason=low",
 *   pid: 42,
 *   hostname: "box",
 *   node: "n1",
 *   event: "warning",
 *   reason: "low",
 * });
 * ```
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  const format = options.format ?? "text";
  const now = options.now ?? (() => new Date());
  const write = options.write;
  const origin = options.origin ?? {};
  const node = origin.node === undefined ? "" : ` node=${origin.node}`;
  return (event) => {
    const time = now().toISOString();
    let text = event.event;
    for (const [key, value] of Object.entries(event)) {
      if (key === "event" || value === undefined) continue;
      const shown = String(value);
      text += ` ${key}=${/[\s"=]/.test(shown) || shown === "" ? JSON.stringify(shown) : shown}`;
    }
    if (format === "json") {
      write(JSON.stringify({ time, level: logLevel(event.event), msg: text, ...origin, ...event }));
      return;
    }
    write(`${time}${node} ${text}`);
  };
}
