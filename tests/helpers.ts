/**
 * Test helpers: a line-oriented TCP client that waits on events under a
 * timeout (never sleeps), and small utilities.
 *
 * @module
 */

import { LineDecoder } from "../lib/framing/line_codec.ts";
import { writeAll } from "../lib/net/conn.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Default time a test waits for one expected event. */
export const WAIT_MS = 10_000;

/** Rejects with a clear message if `promise` does not settle in `ms`. */
export async function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Lines received in the background, handed out in order to a waiter that
 * gives up after a timeout (never a sleep). Shared by the test clients.
 */
export class LineQueue {
  readonly #lines: string[] = [];
  #waiter: (() => void) | null = null;
  #ended: string | null = null;

  /** Adds received lines and wakes the waiter. */
  push(...lines: string[]): void {
    this.#lines.push(...lines);
    this.#wake();
  }

  /** No more lines will come, for `reason`. */
  end(reason: string): void {
    this.#ended = reason;
    this.#wake();
  }

  /** Lines received and not yet taken. */
  get size(): number {
    return this.#lines.length;
  }

  /** True once ended and emptied. */
  get done(): boolean {
    return this.#ended !== null && this.#lines.length === 0;
  }

  /** Takes every line not yet taken. */
  takeAll(): string[] {
    return this.#lines.splice(0);
  }

  /** The next line; rejects on timeout or when the lines end first. */
  async next(ms = WAIT_MS): Promise<string> {
    const deadline = performance.now() + ms;
    while (this.#lines.length === 0) {
      if (this.#ended !== null) {
        throw new Error(`connection ended (${this.#ended}) while waiting for a line`);
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for a line`);
      await within(new Promise<void>((resolve) => (this.#waiter = resolve)), "a line", left)
        .catch((error) => {
          this.#waiter = null;
          throw error;
        });
    }
    return this.#lines.shift()!;
  }

  /** Skips lines until one matches `pattern`; returns it. */
  async nextMatching(pattern: RegExp, ms = WAIT_MS): Promise<string> {
    const deadline = performance.now() + ms;
    while (true) {
      const line = await this.next(Math.max(1, deadline - performance.now()));
      if (pattern.test(line)) return line;
    }
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }
}

/** A TCP client that reads lines in the background and hands them out in order. */
export class LineClient implements AsyncDisposable {
  readonly conn: Deno.TcpConn;
  /** The nick the server assigned (set by `connectChat`). */
  nick = "";
  readonly #lines = new LineQueue();
  readonly reading: Promise<void>;

  constructor(conn: Deno.TcpConn, readBufferBytes = 16 * 1024) {
    this.conn = conn;
    this.reading = this.#readLoop(readBufferBytes);
  }

  /** Connects to `addr` (hostname and port of a running server). */
  static async connect(addr: Deno.NetAddr): Promise<LineClient> {
    const conn = await Deno.connect({
      hostname: addr.hostname === "0.0.0.0" ? "127.0.0.1" : addr.hostname,
      port: addr.port,
    });
    conn.setNoDelay(true);
    return new LineClient(conn);
  }

  async #readLoop(size: number): Promise<void> {
    const buffer = new Uint8Array(size);
    const lines = new LineDecoder({ maxLineBytes: 1024 * 1024 });
    const received: string[] = [];
    const sink = {
      line: (bytes: Uint8Array) => received.push(decoder.decode(bytes)),
      overlong: () => received.push("<overlong>"),
    };
    let reason: string;
    try {
      while (true) {
        const n = await this.conn.read(buffer);
        if (n === null) break;
        lines.push(buffer.subarray(0, n), sink);
        this.#lines.push(...received.splice(0));
      }
      lines.end(sink);
      this.#lines.push(...received.splice(0));
      reason = "closed by peer";
      this.conn.close(); // as nc and telnet do when the server closes
    } catch (error) {
      reason = `read failed: ${error instanceof Error ? error.name : error}`;
    }
    this.#lines.end(reason);
  }

  /** Lines received and not yet taken. */
  get buffered(): number {
    return this.#lines.size;
  }

  /** True once the connection has been closed by the peer or has failed. */
  get ended(): boolean {
    return this.#lines.done;
  }

  /** Sends `text` plus LF. */
  async send(text: string): Promise<void> {
    await this.write(encoder.encode(text + "\n"));
  }

  /** Sends raw bytes. */
  async write(bytes: Uint8Array): Promise<void> {
    await writeAll(this.conn, bytes);
  }

  /** The next line; rejects on timeout or when the connection ends first. */
  nextLine(ms = WAIT_MS): Promise<string> {
    return this.#lines.next(ms);
  }

  /** Skips lines until one matches `pattern`; returns it. */
  nextMatching(pattern: RegExp, ms = WAIT_MS): Promise<string> {
    return this.#lines.nextMatching(pattern, ms);
  }

  /** Waits for the server to close the connection; returns the lines left unread. */
  async untilClosed(ms = WAIT_MS): Promise<string[]> {
    await within(this.reading, "the connection to close", ms);
    return this.#lines.takeAll();
  }

  /** Closes the connection (if still open) and waits for the reader to stop. */
  async close(): Promise<void> {
    try {
      this.conn.close();
    } catch { /* already closed */ }
    await this.reading;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Connects to a chat server and reads its two welcome lines; `nick` is then
 * the assigned nick.
 */
export async function connectChat(addr: Deno.NetAddr): Promise<LineClient> {
  const client = await LineClient.connect(addr);
  const welcome = await client.nextMatching(/^\* welcome to /);
  client.nick = /, (\S+)$/.exec(welcome)![1];
  await client.nextMatching(/^\* \d+ online; /);
  return client;
}

/**
 * Connects `count` chat clients and consumes the join notices each saw, so
 * every client starts with nothing unread.
 */
export async function connectMany(
  addr: Deno.NetAddr,
  count: number,
): Promise<{ clients: LineClient[] } & AsyncDisposable> {
  const clients: LineClient[] = [];
  for (let i = 0; i < count; i++) clients.push(await connectChat(addr));
  for (const client of clients) await syncWho(client);
  return {
    clients,
    [Symbol.asyncDispose]: async () => {
      await Promise.all(clients.map((client) => client.close()));
    },
  };
}

/**
 * Sends `/who` and returns the reply; anything received before it is
 * returned too, so a test can prove nothing else arrived.
 */
export async function syncWho(client: LineClient): Promise<{ who: string; before: string[] }> {
  await client.send("/who");
  const before: string[] = [];
  while (true) {
    const line = await client.nextLine();
    if (/^\* \d+ in \S+: /.test(line)) return { who: line, before };
    before.push(line);
  }
}

/** Bytes of a UTF-8 string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** The chat server options every in-process test starts from. */
export const LOOPBACK = { hostname: "127.0.0.1", port: 0 } as const;
