/**
 * The line a server prints once it is listening, read back by the programs
 * that start servers (`scripts/cluster.ts`, `bench/run.ts`, the tests):
 * `parley chat server listening on tcp=HOST:PORT http=HOST:PORT` (printed
 * by `server_main.ts`; ` (tls)` at the end over TLS, no `http=` without an
 * HTTP listener), a cluster's `… redis=redis://HOST:PORT`, and the older
 * `… listening on HOST:PORT` (TCP only), which other servers print too.
 * Also: reading a child's stdout up to that line and draining the rest, so
 * that the child never blocks on a full pipe.
 *
 * @module
 */

/** Where a server says it listens; addresses as written (`HOST:PORT`, `[v6]:PORT`). */
export interface ListeningLine {
  tcp?: string;
  http?: string;
  /** A cluster's Redis URL. */
  redis?: string;
  /** The line ends with ` (tls)`: the TCP port speaks TLS, the HTTP port https. */
  tls: boolean;
}

/**
 * Reads a server's addresses from its listening line. Undefined when the
 * line says neither a TCP nor an HTTP address.
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { parseListening } from "./listening.ts";
 *
 * deepEqual(
 *   parseListening("parley chat server listening on tcp=127.0.0.1:7878 http=[::1]:7880 (tls)"),
 *   { tcp: "127.0.0.1:7878", http: "[::1]:7880", tls: true },
 * );
 * deepEqual(parseListening("listening on 0.0.0.0:7"), { tcp: "0.0.0.0:7", tls: false });
 * ```
 */
export function parseListening(line: string): ListeningLine | undefined {
  const rest = /listening on (.*)/.exec(line)?.[1];
  if (rest === undefined) return undefined;
  const tcp = /(?:^|\s)tcp=(\S+:\d+)/.exec(rest)?.[1];
  const http = /(?:^|\s)http=(\S+:\d+)/.exec(rest)?.[1];
  const redis = /(?:^|\s)redis=(rediss?:\/\/\S+)/.exec(rest)?.[1];
  const tls = /(?:^|\s)\(tls\)(?:\s|$)/.test(rest);
  if (tcp !== undefined || http !== undefined) {
    return {
      ...(tcp !== undefined ? { tcp } : {}),
      ...(http !== undefined ? { http } : {}),
      ...(redis !== undefined ? { redis } : {}),
      tls,
    };
  }
  const plain = /^([^\s=]+:\d+)(?:\s|$)/.exec(rest)?.[1];
  return plain === undefined ? undefined : { tcp: plain, tls };
}

/**
 * The addresses part of a listening line, the inverse of
 * {@linkcode parseListening}: `tcp=… http=… redis=… (tls)`, each when known.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { formatListening } from "./listening.ts";
 *
 * equal(formatListening({ tcp: "0.0.0.0:7878", http: "0.0.0.0:7880", tls: true }),
 *   "tcp=0.0.0.0:7878 http=0.0.0.0:7880 (tls)");
 * ```
 */
export function formatListening(line: ListeningLine): string {
  return [
    ...(line.tcp === undefined ? [] : [`tcp=${line.tcp}`]),
    ...(line.http === undefined ? [] : [`http=${line.http}`]),
    ...(line.redis === undefined ? [] : [`redis=${line.redis}`]),
    ...(line.tls ? ["(tls)"] : []),
  ].join(" ");
}

/**
 * Splits `HOST:PORT` or `[v6]:PORT` (as {@linkcode parseListening} gives
 * them) into a hostname, without brackets, and a port.
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { splitAddr } from "./listening.ts";
 *
 * deepEqual(splitAddr("[::1]:7878"), { hostname: "::1", port: 7878 });
 * ```
 */
export function splitAddr(addr: string): { hostname: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|(.+)):(\d+)$/.exec(addr);
  if (match === null) throw new RangeError(`not an address HOST:PORT: ${addr}`);
  return { hostname: match[1] ?? match[2], port: Number(match[3]) };
}

/** What {@linkcode firstLineThenDrain} found. */
export interface FirstLine {
  /** The line, without its ending; null when the output ended or the wait ran out first. */
  line: string | null;
  /** True when `timeoutMs` ran out before such a line came. */
  timedOut: boolean;
  /** Resolves once the rest of the output is read to its end (or reading is cancelled). */
  drained: Promise<void>;
  /** Stops reading the output (what comes after is dropped); resolves once stopped. */
  cancel(): Promise<void>;
}

/** Options of {@linkcode firstLineThenDrain}. */
export interface FirstLineOptions {
  /** Which line to wait for. @default {the first} */
  match?: (line: string) => boolean;
  /** Milliseconds to wait for it. @default {no limit} */
  timeoutMs?: number;
}

/**
 * Reads a child's output up to the first line that `match`es (say, its
 * listening line), then goes on reading, and dropping, the rest in the
 * background so the child never blocks on a full pipe. Lines before the
 * match are dropped too; a last line without an ending counts.
 */
export async function firstLineThenDrain(
  stream: ReadableStream<Uint8Array>,
  options: FirstLineOptions = {},
): Promise<FirstLine> {
  const match = options.match ?? (() => true);
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = options.timeoutMs === undefined ? undefined : new Promise<"timeout">(
    (resolve) => (timer = setTimeout(() => resolve("timeout"), options.timeoutMs)),
  );
  let text = "";
  let line: string | null = null;
  let timedOut = false;
  let ended = false;
  try {
    search: while (true) {
      const read = reader.read();
      const result = timeout === undefined ? await read : await Promise.race([read, timeout]);
      if (result === "timeout") {
        read.catch(() => {}); // still pending: the drain below reads on
        timedOut = true;
        break;
      }
      if (result.done) {
        ended = true;
        text += decoder.decode();
        if (text !== "" && match(text)) line = text;
        break;
      }
      text += decoder.decode(result.value, { stream: true });
      for (let end = text.indexOf("\n"); end !== -1; end = text.indexOf("\n")) {
        const candidate = text.slice(0, end).replace(/\r$/, "");
        text = text.slice(end + 1);
        if (match(candidate)) {
          line = candidate;
          break search;
        }
      }
    }
  } catch {
    ended = true; // the stream failed: nothing more to read
  } finally {
    clearTimeout(timer);
  }
  const drained = ended ? Promise.resolve() : (async () => {
    try {
      while (!(await reader.read()).done) { /* dropped */ }
    } catch { /* the stream failed or was cancelled */ }
  })();
  return {
    line,
    timedOut,
    drained,
    async cancel() {
      await reader.cancel().catch(() => {});
      await drained;
    },
  };
}
