/**
 * Test helpers for WebSocket clients: npm `ws` as an independent client
 * that hands out received lines in order (a message may carry several,
 * LF between them), and raw HTTP over TCP for the handshake tests.
 *
 * @module
 */

import { WebSocket } from "ws";
import { LineQueue, WAIT_MS, within } from "./helpers.ts";

/** A `ws` client that queues received lines and reports its close. */
export class WsLines implements AsyncDisposable {
  readonly ws: WebSocket;
  /** The nick the server assigned (set by `connectWsChat`). */
  nick = "";
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #lines = new LineQueue();
  readonly #binary: Uint8Array[] = [];

  constructor(
    url: string,
    options: { protocols?: string[]; headers?: Record<string, string> } = {},
  ) {
    this.ws = new WebSocket(url, options.protocols ?? [], { headers: options.headers });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
      this.ws.once(
        "unexpected-response",
        (_request, response) => reject(new Error(`unexpected response ${response.statusCode}`)),
      );
    });
    this.opened.catch(() => {});
    this.ws.on("error", () => {}); // reported through `opened` or `closed`
    this.ws.on("message", (data: Uint8Array, isBinary: boolean) => {
      if (isBinary) this.#binary.push(data);
      else this.#lines.push(...new TextDecoder().decode(data).split("\n"));
    });
    this.closed = new Promise((resolve) => {
      this.ws.once("close", (code: number, reason: Uint8Array) => {
        this.#lines.end(`WebSocket closed with ${code}`);
        resolve({ code, reason: new TextDecoder().decode(reason) });
      });
    });
  }

  /** Sends one text message. */
  send(text: string): void {
    this.ws.send(text);
  }

  /** The next line; rejects on timeout or when the connection ends first. */
  nextLine(ms = WAIT_MS): Promise<string> {
    return this.#lines.next(ms);
  }

  /** Skips lines until one matches `pattern`; returns it. */
  nextMatching(pattern: RegExp, ms = WAIT_MS): Promise<string> {
    return this.#lines.nextMatching(pattern, ms);
  }

  /** Waits for the close; returns its code and reason and the lines left unread. */
  async untilClosed(ms = WAIT_MS): Promise<{ code: number; reason: string; lines: string[] }> {
    const { code, reason } = await within(this.closed, "the WebSocket to close", ms);
    return { code, reason, lines: this.#lines.takeAll() };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.ws.readyState !== this.ws.CLOSED) {
      this.ws.terminate();
      await within(this.closed, "the WebSocket to close");
    }
  }
}

/** Connects a `ws` chat client to `/ws` and reads its welcome; `nick` is then set. */
export async function connectWsChat(
  httpAddr: Deno.NetAddr,
  options: { protocols?: string[]; headers?: Record<string, string> } = {},
): Promise<WsLines> {
  const client = new WsLines(`ws://127.0.0.1:${httpAddr.port}/ws`, options);
  await within(client.opened, "the WebSocket to open");
  const welcome = await client.nextMatching(/^\* welcome to /);
  client.nick = /, (\S+)$/.exec(welcome)![1];
  await client.nextMatching(/^\* \d+ online; /);
  return client;
}

/** Sends `/who` and returns the reply, with the lines that came before it. */
export async function wsSyncWho(client: WsLines): Promise<{ who: string; before: string[] }> {
  client.send("/who");
  const before: string[] = [];
  while (true) {
    const line = await client.nextLine();
    if (/^\* \d+ in \S+: /.test(line)) return { who: line, before };
    before.push(line);
  }
}

/** Reads from `conn` until the peer closes (or `limit` bytes); returns the text. */
export async function readResponse(conn: Deno.Conn, limit = 64 * 1024): Promise<string> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buffer = new Uint8Array(16 * 1024);
  try {
    while (total < limit) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
      total += n;
    }
  } catch { /* reset: what was read is the answer */ }
  const all = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return new TextDecoder().decode(all);
}

/** A valid WebSocket upgrade request for `path` (extra header lines appended). */
export function upgradeRequest(path: string, port: number, extra: string[] = []): string {
  return [
    `GET ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
    ...extra,
    "",
    "",
  ].join("\r\n");
}

/**
 * The server-side states of TCP connections between `localPort` (the
 * server) and `remotePort` (a client), from /proc/net/tcp and tcp6.
 */
export async function serverSocketStates(localPort: number, remotePort: number): Promise<string[]> {
  const names = [
    "",
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
  ];
  const states: string[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await Deno.readTextFile(file).catch(() => "");
    for (const row of text.split("\n").slice(1)) {
      const fields = row.trim().split(/\s+/);
      if (fields.length < 4) continue;
      const local = parseInt(fields[1].split(":")[1], 16);
      const remote = parseInt(fields[2].split(":")[1], 16);
      if (local === localPort && remote === remotePort) {
        states.push(names[parseInt(fields[3], 16)] ?? fields[3]);
      }
    }
  }
  return states;
}

/**
 * True while a process holds the server side of the connection between
 * `localPort` and `remotePort` (its row in /proc/net/tcp has an inode: a
 * socket nobody holds, an orphan in FIN-WAIT or TIME-WAIT, shows 0).
 */
export async function serverSocketHeld(localPort: number, remotePort: number): Promise<boolean> {
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await Deno.readTextFile(file).catch(() => "");
    for (const row of text.split("\n").slice(1)) {
      const fields = row.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const local = parseInt(fields[1].split(":")[1], 16);
      const remote = parseInt(fields[2].split(":")[1], 16);
      if (local === localPort && remote === remotePort && fields[9] !== "0") return true;
    }
  }
  return false;
}
