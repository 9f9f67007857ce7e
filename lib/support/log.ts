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
}

/**
 * Makes a logger that writes one line per event:
 * `2026-11-21T10:00:00.000Z connect peer=127.0.0.1:50000 nick=guest-1`, or
 * with `format: "json"`, `{"time":"…","event":"connect","peer":"…",…}`.
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  const format = options.format ?? "text";
  const now = options.now ?? (() => new Date());
  const write = options.write;
  return (event) => {
    const time = now().toISOString();
    if (format === "json") {
      write(JSON.stringify({ time, ...event }));
      return;
    }
    let line = `${time} ${event.event}`;
    for (const [key, value] of Object.entries(event)) {
      if (key === "event" || value === undefined) continue;
      const text = String(value);
      line += ` ${key}=${/[\s"=]/.test(text) || text === "" ? JSON.stringify(text) : text}`;
    }
    write(line);
  };
}
