/**
 * A raw RFC 6455 client for conformance tests: it writes any frame the
 * test asks for (any opcode, reserved bits, masked or not, any length
 * encoding) and parses the server's frames incrementally from one reused
 * buffer, every wait under a timeout. Nothing here is lenient: the opening
 * handshake checks `Sec-WebSocket-Accept`, and a server frame that breaks
 * the protocol (masked, reserved bits, non-minimal length) is an error.
 *
 * @module
 */

import { within } from "./helpers.ts";

/** Opcodes (RFC 6455 5.2). */
export const OP = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

/** Reserved bits, to be or-ed into `FrameOptions.rsv`. */
export const RSV1 = 4;
export const RSV2 = 2;
export const RSV3 = 1;

/** Default time one expected event may take. */
export const FRAME_WAIT_MS = 10_000;

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Largest server frame the reader accepts (bigger is a protocol error here). */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** How to build one client frame. */
export interface FrameOptions {
  /** FIN bit. @default {true} */
  fin?: boolean;
  /** RSV1..3 as a 3-bit number (`RSV1 | RSV3`). @default {0} */
  rsv?: number;
  /** Mask the payload (a client must); a 4-byte key, or true for a random one. @default {true} */
  mask?: boolean | Uint8Array;
  /** Length field: 7, 16 or 64 bits; "auto" uses the minimal one. @default {"auto"} */
  length?: "auto" | 7 | 16 | 64;
  /** Length written in the header instead of the payload's (a frame that lies). */
  claimedLength?: number;
}

/** Bytes of a string as UTF-8, or bytes as they are. */
export function bytesOf(payload: string | Uint8Array): Uint8Array {
  return typeof payload === "string" ? encoder.encode(payload) : payload;
}

/** One frame on the wire: header, masking key, (masked) payload. */
export function encodeFrame(
  opcode: number,
  payload: string | Uint8Array = new Uint8Array(0),
  options: FrameOptions = {},
): Uint8Array {
  const data = bytesOf(payload);
  const claimed = options.claimedLength ?? data.length;
  const encoding = options.length === undefined || options.length === "auto"
    ? (claimed < 126 ? 7 : claimed < 65536 ? 16 : 64)
    : options.length;
  if (encoding === 7 && claimed > 125) throw new RangeError(`${claimed} does not fit 7 bits`);
  if (encoding === 16 && claimed > 65535) throw new RangeError(`${claimed} does not fit 16 bits`);
  const mask = options.mask ?? true;
  const key = mask === false
    ? null
    : mask === true
    ? crypto.getRandomValues(new Uint8Array(4))
    : mask;
  if (key !== null && key.length !== 4) throw new RangeError("a masking key has 4 bytes");
  const extended = encoding === 7 ? 0 : encoding === 16 ? 2 : 8;
  const headerLength = 2 + extended + (key === null ? 0 : 4);
  const frame = new Uint8Array(headerLength + data.length);
  frame[0] = (options.fin ?? true ? 0x80 : 0) | ((options.rsv ?? 0) & 7) << 4 | (opcode & 0xf);
  frame[1] = (key === null ? 0 : 0x80) | (encoding === 7 ? claimed : encoding === 16 ? 126 : 127);
  const view = new DataView(frame.buffer);
  if (encoding === 16) view.setUint16(2, claimed);
  if (encoding === 64) view.setBigUint64(2, BigInt(claimed));
  if (key === null) frame.set(data, headerLength);
  else {
    frame.set(key, 2 + extended);
    const masked = data.slice(); // word-aligned, so masking goes 4 bytes at a time
    maskInPlace(masked, key);
    frame.set(masked, headerLength);
  }
  return frame;
}

/** XORs `bytes` with the 4-byte `key` (RFC 6455 5.3); masking twice unmasks. */
export function maskInPlace(bytes: Uint8Array, key: Uint8Array): void {
  const whole = bytes.length & ~3;
  if (bytes.byteOffset % 4 === 0 && whole > 0) {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, whole / 4);
    const word = new Uint32Array(key.slice().buffer)[0];
    for (let i = 0; i < words.length; i++) words[i] ^= word;
  } else {
    for (let i = 0; i < whole; i++) bytes[i] ^= key[i & 3];
  }
  for (let i = whole; i < bytes.length; i++) bytes[i] ^= key[i & 3];
}

/** The payload of a close frame: the code (big-endian) and the reason. */
export function closePayload(code: number, reason: string | Uint8Array = ""): Uint8Array {
  const said = bytesOf(reason);
  const payload = new Uint8Array(2 + said.length);
  new DataView(payload.buffer).setUint16(0, code);
  payload.set(said, 2);
  return payload;
}

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A frame received from the server (payload copied out of the read buffer). */
export interface Frame {
  fin: boolean;
  rsv: number;
  opcode: number;
  payload: Uint8Array;
}

/** The server's answer to the opening handshake. */
export interface HandshakeResponse {
  status: number;
  statusText: string;
  headers: Headers;
}

/** Options of the opening handshake. */
export interface HandshakeOptions {
  /** Request target. @default {"/"} */
  path?: string;
  /** Extra request headers (`Origin`). */
  headers?: Record<string, string>;
  /** Leave out these standard headers (to send a broken request). */
  omit?: readonly string[];
  /** Write the request this many bytes at a time. @default {whole} */
  chop?: number;
  /** Milliseconds for the response head. @default {FRAME_WAIT_MS} */
  ms?: number;
}

/** `base64(SHA-1(key + GUID))`, the `Sec-WebSocket-Accept` a key calls for. */
export async function acceptFor(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + GUID));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

/**
 * A TCP connection speaking raw WebSocket frames. Reads happen only inside
 * the calls that wait for something, each under a deadline; a timeout
 * closes the connection, so no read is ever left pending.
 */
export class RawWebSocket implements AsyncDisposable {
  readonly conn: Deno.TcpConn;
  #buffer = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;
  #eof = false;
  #closed = false;

  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Opens a TCP connection to `addr` (no handshake yet). */
  static async open(addr: Deno.NetAddr): Promise<RawWebSocket> {
    const conn = await Deno.connect({
      hostname: addr.hostname === "0.0.0.0" ? "127.0.0.1" : addr.hostname,
      port: addr.port,
    });
    conn.setNoDelay(true);
    return new RawWebSocket(conn);
  }

  /** Opens a connection and completes the handshake; throws unless it gets 101. */
  static async connect(addr: Deno.NetAddr, options: HandshakeOptions = {}): Promise<RawWebSocket> {
    const ws = await RawWebSocket.open(addr);
    try {
      const response = await ws.handshake(options);
      if (response.status !== 101) {
        throw new Error(`handshake refused: ${response.status} ${response.statusText}`);
      }
      return ws;
    } catch (error) {
      ws.close();
      throw error;
    }
  }

  /**
   * Sends the opening handshake and reads the response head. A 101 must
   * carry the right `Sec-WebSocket-Accept`, `Upgrade` and `Connection`
   * (else this throws); any other status is returned for the test to check.
   */
  async handshake(options: HandshakeOptions = {}): Promise<HandshakeResponse> {
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    const { port, hostname } = this.conn.remoteAddr;
    const omit = new Set((options.omit ?? []).map((name) => name.toLowerCase()));
    const headers: [string, string][] = [
      ["Host", `${hostname}:${port}`],
      ["Upgrade", "websocket"],
      ["Connection", "Upgrade"],
      ["Sec-WebSocket-Key", key],
      ["Sec-WebSocket-Version", "13"],
      ...Object.entries(options.headers ?? {}),
    ];
    const request = `GET ${options.path ?? "/"} HTTP/1.1\r\n` +
      headers.filter(([name]) => !omit.has(name.toLowerCase()))
        .map(([name, value]) => `${name}: ${value}\r\n`).join("") +
      "\r\n";
    await this.write(encoder.encode(request), { chop: options.chop, ms: options.ms });
    const deadline = performance.now() + (options.ms ?? FRAME_WAIT_MS);
    let headEnd: number;
    while ((headEnd = this.#find("\r\n\r\n")) === -1) {
      if (this.#end - this.#start > 16 * 1024) throw new Error("response head over 16 KiB");
      if (!await this.#fill(deadline, "the handshake response")) {
        throw new Error("connection ended during the handshake response");
      }
    }
    const head = decoder.decode(this.#buffer.subarray(this.#start, headEnd));
    this.#start = headEnd + 4; // bytes after the head are already frames
    const [statusLine, ...lines] = head.split("\r\n");
    const status = /^HTTP\/1\.1 (\d{3}) ?(.*)$/.exec(statusLine);
    if (status === null) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
    const response: HandshakeResponse = {
      status: Number(status[1]),
      statusText: status[2],
      headers: new Headers(lines.map((line) => {
        const colon = line.indexOf(":");
        return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()] as [string, string];
      })),
    };
    if (response.status === 101) {
      const expected = await acceptFor(key);
      const got = response.headers.get("sec-websocket-accept");
      if (got !== expected) throw new Error(`Sec-WebSocket-Accept ${got}, expected ${expected}`);
      if (response.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        throw new Error(`Upgrade: ${response.headers.get("upgrade")}`);
      }
      if (!/(^|,)\s*upgrade\s*(,|$)/i.test(response.headers.get("connection") ?? "")) {
        throw new Error(`Connection: ${response.headers.get("connection")}`);
      }
    }
    return response;
  }

  /** Writes `bytes` (all of them, `chop` bytes per write when given) under a deadline. */
  async write(bytes: Uint8Array, options: { chop?: number; ms?: number } = {}): Promise<void> {
    const deadline = performance.now() + (options.ms ?? FRAME_WAIT_MS);
    const chop = options.chop ?? bytes.length;
    for (let offset = 0; offset < bytes.length;) {
      const end = Math.min(bytes.length, offset + chop);
      const written = await this.#bounded(
        this.conn.write(bytes.subarray(offset, end)),
        deadline,
        "a write",
      );
      offset += written;
    }
  }

  /** Builds and sends one frame. */
  async send(
    opcode: number,
    payload?: string | Uint8Array,
    options?: FrameOptions & { chop?: number; ms?: number },
  ): Promise<void> {
    await this.write(encodeFrame(opcode, payload, options), options);
  }

  /** The next frame; throws if the connection ends first, or on timeout. */
  async nextFrame(ms = FRAME_WAIT_MS): Promise<Frame> {
    const frame = await this.nextFrameOrEnd(ms);
    if (frame === null) throw new Error("the connection ended while a frame was expected");
    return frame;
  }

  /** The next frame, or null if the connection ends cleanly before one starts. */
  async nextFrameOrEnd(ms = FRAME_WAIT_MS): Promise<Frame | null> {
    const deadline = performance.now() + ms;
    while (true) {
      const frame = this.#parse();
      if (frame !== undefined) return frame;
      if (!await this.#fill(deadline, "a frame")) {
        if (this.#end > this.#start) {
          throw new Error(`the connection ended inside a frame (${this.#end - this.#start} bytes)`);
        }
        return null;
      }
    }
  }

  /** Waits for the server to end the connection; throws if any byte comes first. */
  async expectEnd(ms = FRAME_WAIT_MS): Promise<void> {
    const frame = await this.nextFrameOrEnd(ms);
    if (frame !== null) {
      throw new Error(
        `expected the connection to end, got a frame: opcode ${frame.opcode}, ` +
          `${frame.payload.length} bytes`,
      );
    }
  }

  /** Reads everything until the server ends the connection (an HTTP response body). */
  async readToEnd(ms = FRAME_WAIT_MS): Promise<Uint8Array> {
    const deadline = performance.now() + ms;
    while (await this.#fill(deadline, "the end of the response")) { /* keep reading */ }
    const rest = this.#buffer.slice(this.#start, this.#end);
    this.#start = this.#end;
    return rest;
  }

  /** Closes the TCP connection (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  /** Parses one frame from the buffer, or returns undefined if it is not all there. */
  #parse(): Frame | undefined {
    const available = this.#end - this.#start;
    if (available < 2) return undefined;
    const b = this.#buffer;
    const s = this.#start;
    const fin = (b[s] & 0x80) !== 0;
    const rsv = (b[s] >> 4) & 7;
    const opcode = b[s] & 0xf;
    if ((b[s + 1] & 0x80) !== 0) throw new Error("the server sent a masked frame");
    let length = b[s + 1] & 0x7f;
    let headerLength = 2;
    if (length === 126) {
      if (available < 4) return undefined;
      length = (b[s + 2] << 8) | b[s + 3];
      headerLength = 4;
      if (length < 126) throw new Error(`non-minimal 16-bit length ${length}`);
    } else if (length === 127) {
      if (available < 10) return undefined;
      const big = new DataView(b.buffer, b.byteOffset + s + 2, 8).getBigUint64(0);
      if (big > BigInt(MAX_FRAME_BYTES)) throw new Error(`server frame of ${big} bytes`);
      length = Number(big);
      headerLength = 10;
      if (length < 65536) throw new Error(`non-minimal 64-bit length ${length}`);
    }
    if (available < headerLength + length) {
      this.#reserve(headerLength + length);
      return undefined;
    }
    const from = this.#start + headerLength;
    const payload = this.#buffer.slice(from, from + length);
    this.#start = from + length;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return { fin, rsv, opcode, payload };
  }

  /** Makes room for a frame of `total` bytes starting at `#start`. */
  #reserve(total: number): void {
    if (this.#buffer.length - this.#start >= total) return;
    if (this.#buffer.length >= total) {
      this.#buffer.copyWithin(0, this.#start, this.#end);
    } else {
      const bigger = new Uint8Array(Math.max(total, this.#buffer.length * 2));
      bigger.set(this.#buffer.subarray(this.#start, this.#end));
      this.#buffer = bigger;
    }
    this.#end -= this.#start;
    this.#start = 0;
  }

  /** Reads more bytes; false at the end of the connection. */
  async #fill(deadline: number, what: string): Promise<boolean> {
    if (this.#eof) return false;
    if (this.#end === this.#buffer.length) {
      if (this.#start > 0) this.#reserve(this.#end - this.#start + 1);
      else this.#reserve(this.#buffer.length + 1);
    }
    let n: number | null;
    try {
      n = await this.#bounded(this.conn.read(this.#buffer.subarray(this.#end)), deadline, what);
    } catch (error) {
      if (error instanceof Deno.errors.ConnectionReset) {
        this.#eof = true;
        throw new Error(`the connection was reset while waiting for ${what}`);
      }
      throw error;
    }
    if (n === null) {
      this.#eof = true;
      return false;
    }
    this.#end += n;
    return true;
  }

  /** Waits for `operation` until `deadline`; on timeout closes the connection and waits it out. */
  async #bounded<T>(operation: Promise<T>, deadline: number, what: string): Promise<T> {
    const left = deadline - performance.now();
    try {
      return await within(operation, what, Math.max(1, left));
    } catch (error) {
      if (error instanceof Error && error.message.startsWith("timed out")) {
        this.close();
        await operation.catch(() => {});
      }
      throw error;
    }
  }

  #find(text: string): number {
    const needle = encoder.encode(text);
    const b = this.#buffer;
    outer: for (let i = this.#start; i + needle.length <= this.#end; i++) {
      for (let j = 0; j < needle.length; j++) if (b[i + j] !== needle[j]) continue outer;
      return i;
    }
    return -1;
  }
}
