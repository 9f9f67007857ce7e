/**
 * Server logging: one line per event on stderr, as text for people or as
 * JSON for machines.
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
  | "error";

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

/** Output format of {@linkcode createLogger}. */
export type LogFormat = "text" | "json";

/** Options of {@linkcode createLogger}. */
export interface CreateLoggerOptions {
  /** @default {"text"} */
  format?: LogFormat;
  /** Where lines go. @default {writing to stderr} */
  write?: (line: string) => void;
  /** Clock for the timestamp. @default {() => new Date()} */
  now?: () => Date;
}

/**
 * Makes a logger that writes one line per event:
 * `2026-11-21T10:00:00.000Z connect peer=127.0.0.1:50000 nick=guest-1`, or
 * with `format: "json"`, `{"time":"…","event":"connect","peer":"…",…}`.
 */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const format = options.format ?? "text";
  const now = options.now ?? (() => new Date());
  const write = options.write ?? writeStderr;
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

const stderrEncoder = new TextEncoder();

function writeStderr(line: string): void {
  try {
    Deno.stderr.writeSync(stderrEncoder.encode(line + "\n"));
  } catch {
    // stderr gone (closed pipe): logging must never take the server down.
  }
}
