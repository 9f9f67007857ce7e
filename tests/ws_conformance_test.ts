/**
 * RFC 6455 conformance of the WebSocket echo server, in raw frames over
 * loopback. The case groups mirror the Autobahn testsuite's (which needs
 * Python 2 or Docker and cannot run here): 1 framing, 2 pings and pongs,
 * 3 reserved bits, 4 opcodes, 5 fragmentation, 6 UTF-8, 7 close handling,
 * 9 big messages, 10 misc; then the server's refusals, and two independent
 * clients (npm `ws`, and Python's `websockets` where installed).
 *
 * Every case runs on its own server and connection and asserts the exact
 * outcome: each echoed frame's opcode and bytes, or the close frame's code
 * and reason and then the end of the TCP connection. A case that does not
 * end in a close finishes with a close handshake (1000 answered by 1000),
 * which also proves the server sent nothing else in between.
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import { WebSocket } from "ws";
import { serveEcho, serveWebSocketEcho } from "../lib/echo/serve_echo.ts";
import type { ServeWebSocketEchoOptions } from "../lib/echo/serve_echo.ts";
import { within } from "./helpers.ts";
import {
  bytesOf,
  closePayload,
  concat,
  encodeFrame,
  type FrameOptions,
  OP,
  RawWebSocket,
  RSV1,
  RSV2,
  RSV3,
} from "./ws_frames.ts";

const MiB = 1024 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Every server here: loopback, a free port, no server pings, no per-IP limit. */
const BASE: ServeWebSocketEchoOptions = {
  hostname: "127.0.0.1",
  port: 0,
  pingInterval: 0,
  maxPerIp: 0,
};

// ---------------------------------------------------------------- the runner

/** What the server must send next. */
type Expect =
  | { echo: number; payload: Uint8Array }
  | { pong: Uint8Array }
  /** A close frame with exactly this payload (code and reason), then the end of TCP. */
  | { close: Uint8Array };

interface Case {
  /** Test name, after `serveWebSocketEcho() `. */
  name: string;
  /** Frames (or any bytes) written in order; a function for big ones, built when the case runs. */
  send: Uint8Array[] | (() => Uint8Array[]);
  /** Write them this many bytes at a time (Autobahn's "chopped"). */
  chop?: number;
  expect: Expect[];
  options?: Partial<ServeWebSocketEchoOptions>;
  /** Milliseconds for each expected frame. */
  ms?: number;
}

const text = (payload: string | Uint8Array): Expect => ({
  echo: OP.TEXT,
  payload: bytesOf(payload),
});
const binary = (payload: Uint8Array): Expect => ({ echo: OP.BINARY, payload });
const pong = (payload: string | Uint8Array = ""): Expect => ({ pong: bytesOf(payload) });
const closeWith = (code: number, reason: string | Uint8Array = ""): Expect => ({
  close: closePayload(code, reason),
});
const emptyClose: Expect = { close: new Uint8Array(0) };

/** A masked client frame. */
const frame = (opcode: number, payload?: string | Uint8Array, options?: FrameOptions) =>
  encodeFrame(opcode, payload, options);
const close = (code: number, reason: string | Uint8Array = "") =>
  frame(OP.CLOSE, closePayload(code, reason));

const OPCODE_NAMES: Record<number, string> = {
  0: "continuation",
  1: "text",
  2: "binary",
  8: "close",
  9: "ping",
  10: "pong",
};

function describe(opcode: number, payload: Uint8Array): string {
  const name = OPCODE_NAMES[opcode] ?? `opcode ${opcode}`;
  const shown = payload.length <= 32
    ? ` [${Array.from(payload, (b) => b.toString(16).padStart(2, "0")).join(" ")}]`
    : "";
  return `${name} frame of ${payload.length} bytes${shown}`;
}

/** Fails with the first differing offset instead of dumping megabytes. */
function sameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  const n = Math.min(actual.length, expected.length);
  let i = 0;
  while (i < n && actual[i] === expected[i]) i++;
  if (i < n || actual.length !== expected.length) {
    throw new Error(
      `${what}: ${actual.length} bytes, expected ${expected.length}; ` +
        `first difference at offset ${i}` +
        (actual.length <= 64 && expected.length <= 64
          ? ` (got ${describe(0, actual)}, expected ${describe(0, expected)})`
          : ""),
    );
  }
}

/** Reads the next frame and checks it against `expect`. */
async function check(ws: RawWebSocket, expect: Expect, ms?: number): Promise<void> {
  const got = await ws.nextFrame(ms);
  equal(got.fin, true, `expected a final frame, got ${describe(got.opcode, got.payload)}`);
  equal(got.rsv, 0, `reserved bits set on ${describe(got.opcode, got.payload)}`);
  if ("echo" in expect) {
    equal(
      got.opcode,
      expect.echo,
      `expected the echo (${describe(expect.echo, expect.payload)}), ` +
        `got ${describe(got.opcode, got.payload)}`,
    );
    sameBytes(got.payload, expect.payload, `echoed ${OPCODE_NAMES[expect.echo]} payload`);
  } else if ("pong" in expect) {
    equal(
      got.opcode,
      OP.PONG,
      `expected ${describe(OP.PONG, expect.pong)}, got ${describe(got.opcode, got.payload)}`,
    );
    sameBytes(got.payload, expect.pong, "pong payload");
  } else {
    equal(
      got.opcode,
      OP.CLOSE,
      `expected a close with ${closeText(expect.close)}, got ${describe(got.opcode, got.payload)}`,
    );
    equal(closeText(got.payload), closeText(expect.close), "close frame");
    await ws.expectEnd(ms);
  }
}

/** `code 1002 reason "..."`, or `an empty payload`. */
function closeText(payload: Uint8Array): string {
  if (payload.length === 0) return "an empty payload";
  if (payload.length === 1) return `a 1-byte payload ${payload[0]}`;
  const code = (payload[0] << 8) | payload[1];
  const reason = payload.subarray(2);
  return `code ${code}` +
    (reason.length ? ` reason ${JSON.stringify(decoder.decode(reason))}` : "");
}

async function runCase(c: Case): Promise<void> {
  await using server = await serveWebSocketEcho({ ...BASE, ...c.options });
  await using ws = await RawWebSocket.connect(server.addr);
  await ws.write(concat(typeof c.send === "function" ? c.send() : c.send), {
    chop: c.chop,
    ms: c.ms,
  });
  for (const expect of c.expect) await check(ws, expect, c.ms);
  const last = c.expect.at(-1);
  if (last === undefined || !("close" in last)) {
    await ws.write(close(1000), { ms: c.ms });
    await check(ws, closeWith(1000), c.ms);
  }
}

function conformance(group: string, cases: Case[]): void {
  for (const c of cases) {
    Deno.test(`serveWebSocketEcho() ${group}: ${c.name}`, () => runCase(c));
  }
}

// ---------------------------------------------------------------- payloads

/** `n` bytes of printable ASCII. */
function ascii(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = 0x21 + (i % 94);
  return out;
}

/** `n` random bytes. */
function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

/** `n` bytes of valid UTF-8 mixing 1- to 4-byte characters. */
function utf8Text(n: number): Uint8Array {
  const unit = encoder.encode("aµ€😀"); // 1 + 2 + 3 + 4 bytes
  const out = new Uint8Array(n);
  const whole = n - (n % unit.length);
  for (let i = 0; i < whole; i += unit.length) out.set(unit, i);
  out.fill(0x2e, whole);
  return out;
}

function hex(text: string): Uint8Array {
  return new Uint8Array(text.split(/\s+/).filter(Boolean).map((b) => parseInt(b, 16)));
}

/** Splits `bytes` into frames: the first with `opcode`, the rest continuations, FIN on the last. */
function fragments(opcode: number, bytes: Uint8Array, size: number): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let at = 0; at < bytes.length || frames.length === 0; at += size) {
    const end = Math.min(bytes.length, at + size);
    frames.push(frame(frames.length === 0 ? opcode : OP.CONTINUATION, bytes.subarray(at, end), {
      fin: end === bytes.length,
    }));
  }
  return frames;
}

/** Splits `bytes` at the given offsets into a fragmented message. */
function splitAt(opcode: number, bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const edges = [0, ...cuts, bytes.length];
  return edges.slice(0, -1).map((from, i) =>
    frame(i === 0 ? opcode : OP.CONTINUATION, bytes.subarray(from, edges[i + 1]), {
      fin: i === edges.length - 2,
    })
  );
}

const PROTOCOL_ERROR = closeWith(1002);

// ---------------------------------------------------------------- 1 framing

const lengths = [0, 125, 126, 127, 128, 65535, 65536];
const encodingOf = (n: number) => n < 126 ? "7-bit" : n < 65536 ? "16-bit" : "64-bit";
const binary65536 = randomBytes(65536);
const binary1MiB = randomBytes(MiB);

conformance("1 framing", [
  ...lengths.map((n): Case => ({
    name: `echoes a ${n}-byte text message (${encodingOf(n)} length)`,
    send: [frame(OP.TEXT, ascii(n))],
    expect: [text(ascii(n))],
  })),
  ...lengths.map((n): Case => {
    const payload = randomBytes(n);
    return {
      name: `echoes a ${n}-byte binary message (${encodingOf(n)} length)`,
      send: [frame(OP.BINARY, payload)],
      expect: [binary(payload)],
    };
  }),
  {
    name: "echoes a 65536-byte text message written in 997-byte chops",
    send: [frame(OP.TEXT, ascii(65536))],
    chop: 997,
    expect: [text(ascii(65536))],
  },
  {
    name: "echoes a 65536-byte binary message written in 997-byte chops",
    send: [frame(OP.BINARY, binary65536)],
    chop: 997,
    expect: [binary(binary65536)],
  },
  {
    name: "echoes a 1 MiB text message and a 1 MiB binary message, each in one frame",
    send: [frame(OP.TEXT, utf8Text(MiB)), frame(OP.BINARY, binary1MiB)],
    expect: [text(utf8Text(MiB)), binary(binary1MiB)],
  },
  {
    name: "echoes three messages sent in one write, in order",
    send: [frame(OP.TEXT, "one"), frame(OP.BINARY, hex("00 ff")), frame(OP.TEXT, "three")],
    expect: [text("one"), binary(hex("00 ff")), text("three")],
  },
]);

// ---------------------------------------------------------------- 2 pings and pongs

const bytes125 = randomBytes(125);
const tenPings = Array.from({ length: 10 }, (_, i) => `payload-${i}`);

conformance("2 pings", [
  { name: "answers an empty ping with an empty pong", send: [frame(OP.PING)], expect: [pong()] },
  {
    name: "answers a ping with a small text payload with the same payload",
    send: [frame(OP.PING, "Hello, world!")],
    expect: [pong("Hello, world!")],
  },
  {
    name: "answers a ping with a small binary payload with the same payload",
    send: [frame(OP.PING, hex("00 ff fe fd fc fb 00 ff"))],
    expect: [pong(hex("00 ff fe fd fc fb 00 ff"))],
  },
  {
    name: "answers a ping with a 125-byte payload with the same payload",
    send: [frame(OP.PING, bytes125)],
    expect: [pong(bytes125)],
  },
  {
    name: "answers a 125-byte ping written one byte at a time",
    send: [frame(OP.PING, bytes125)],
    chop: 1,
    expect: [pong(bytes125)],
  },
  {
    name: "closes with 1002 on a 126-byte ping (oversized control frame)",
    send: [frame(OP.PING, randomBytes(126))],
    expect: [PROTOCOL_ERROR],
  },
  {
    name: "ignores an unsolicited empty pong",
    send: [frame(OP.PONG), frame(OP.TEXT, "after")],
    expect: [text("after")],
  },
  {
    name: "ignores an unsolicited pong with a payload",
    send: [frame(OP.PONG, "unsolicited"), frame(OP.TEXT, "after")],
    expect: [text("after")],
  },
  {
    name: "answers a ping that follows an unsolicited pong, and only the ping",
    send: [frame(OP.PONG, "unsolicited"), frame(OP.PING, "solicited")],
    expect: [pong("solicited")],
  },
  {
    name: "answers 10 pings in order",
    send: tenPings.map((p) => frame(OP.PING, p)),
    expect: tenPings.map((p) => pong(p)),
  },
  {
    name: "answers 10 pings written one byte at a time, in order",
    send: tenPings.map((p) => frame(OP.PING, p)),
    chop: 1,
    expect: tenPings.map((p) => pong(p)),
  },
  {
    name: "answers a ping between two data messages in order",
    send: [frame(OP.TEXT, "before"), frame(OP.PING, "between"), frame(OP.BINARY, hex("01 02"))],
    expect: [text("before"), pong("between"), binary(hex("01 02"))],
  },
]);

// ---------------------------------------------------------------- 3 reserved bits

conformance("3 reserved bits", [
  {
    name: "closes with 1002 on a text frame with RSV1 set",
    send: [frame(OP.TEXT, "Hello", { rsv: RSV1 })],
    expect: [PROTOCOL_ERROR],
  },
  {
    name: "echoes a valid text frame, then closes with 1002 on one with RSV2 set",
    send: [frame(OP.TEXT, "valid"), frame(OP.TEXT, "Hello", { rsv: RSV2 })],
    expect: [text("valid"), PROTOCOL_ERROR],
  },
  {
    name: "closes with 1002 on a text frame with RSV3 set, and answers no ping after it",
    send: [frame(OP.TEXT, "valid"), frame(OP.TEXT, "Hello", { rsv: RSV3 }), frame(OP.PING, "x")],
    expect: [text("valid"), PROTOCOL_ERROR],
  },
  {
    name: "closes with 1002 on a text frame with RSV1 and RSV3 set, written one byte at a time",
    send: [frame(OP.TEXT, "valid"), frame(OP.TEXT, "Hello", { rsv: RSV1 | RSV3 })],
    chop: 1,
    expect: [text("valid"), PROTOCOL_ERROR],
  },
  {
    name: "closes with 1002 on a binary frame with RSV1 and RSV2 set",
    send: [frame(OP.BINARY, hex("00 ff"), { rsv: RSV1 | RSV2 })],
    expect: [PROTOCOL_ERROR],
  },
  {
    name: "closes with 1002 on a ping frame with RSV1, RSV2 and RSV3 set",
    send: [frame(OP.PING, "ping", { rsv: RSV1 | RSV2 | RSV3 })],
    expect: [PROTOCOL_ERROR],
  },
  {
    name: "closes with 1002 on a ping frame with RSV1 set",
    send: [frame(OP.PING, "ping", { rsv: RSV1 })],
    expect: [PROTOCOL_ERROR],
  },
  {
    name: "closes with 1002 on a close frame with RSV1, RSV2 and RSV3 set",
    send: [frame(OP.CLOSE, closePayload(1000), { rsv: RSV1 | RSV2 | RSV3 })],
    expect: [PROTOCOL_ERROR],
  },
  {
    name: "closes with 1002 on a continuation frame with RSV1 set",
    send: [frame(OP.TEXT, "frag", { fin: false }), frame(OP.CONTINUATION, "ment", { rsv: RSV1 })],
    expect: [PROTOCOL_ERROR],
  },
]);

// ---------------------------------------------------------------- 4 opcodes

conformance("4 opcodes", [
  ...[3, 4, 5, 6, 7].map((opcode): Case => ({
    name: `closes with 1002 on reserved non-control opcode ${opcode}`,
    send: [frame(OP.TEXT, "valid"), frame(opcode, "reserved"), frame(OP.PING, "x")],
    expect: [text("valid"), PROTOCOL_ERROR],
  })),
  ...[0xb, 0xc, 0xd, 0xe, 0xf].map((opcode): Case => ({
    name: `closes with 1002 on reserved control opcode 0x${opcode.toString(16).toUpperCase()}`,
    send: [frame(OP.TEXT, "valid"), frame(opcode, "reserved"), frame(OP.PING, "x")],
    expect: [text("valid"), PROTOCOL_ERROR],
  })),
  {
    name: "closes with 1002 on reserved opcode 3 with an empty payload",
    send: [frame(3)],
    expect: [PROTOCOL_ERROR],
  },
]);

// ---------------------------------------------------------------- 5 fragmentation

const fragmentedText = encoder.encode("fragment1fragment2");
const fragmentedBinary = randomBytes(300);

conformance("5 fragmentation", [
  {
    name: "echoes a text message in 2 fragments as one text message",
    send: splitAt(OP.TEXT, fragmentedText, [9]),
    expect: [text(fragmentedText)],
  },
  {
    name: "echoes a text message in 2 fragments written one byte at a time",
    send: splitAt(OP.TEXT, fragmentedText, [9]),
    chop: 1,
    expect: [text(fragmentedText)],
  },
  {
    name: "echoes a binary message in 3 fragments as one binary message",
    send: splitAt(OP.BINARY, fragmentedBinary, [100, 200]),
    expect: [binary(fragmentedBinary)],
  },
  {
    name: "echoes a text message in 18 one-byte fragments",
    send: fragments(OP.TEXT, fragmentedText, 1),
    expect: [text(fragmentedText)],
  },
  {
    name: "echoes a binary message in 300 one-byte fragments",
    send: fragments(OP.BINARY, fragmentedBinary, 1),
    expect: [binary(fragmentedBinary)],
  },
  {
    name: "answers a ping between fragments and still echoes the message",
    send: [
      frame(OP.TEXT, "fragment1", { fin: false }),
      frame(OP.PING, "between"),
      frame(OP.CONTINUATION, "fragment2"),
    ],
    expect: [pong("between"), text(fragmentedText)],
  },
  {
    name: "answers a ping between fragments written one byte at a time",
    send: [
      frame(OP.BINARY, hex("01 02"), { fin: false }),
      frame(OP.PING, "between"),
      frame(OP.CONTINUATION, hex("03 04")),
    ],
    chop: 1,
    expect: [pong("between"), binary(hex("01 02 03 04"))],
  },
  {
    name: "answers two pings among five fragments, then echoes the message",
    send: [
      frame(OP.TEXT, "fragment1", { fin: false }),
      frame(OP.CONTINUATION, "fragment2", { fin: false }),
      frame(OP.PING, "pongme 1!"),
      frame(OP.CONTINUATION, "fragment3", { fin: false }),
      frame(OP.PING, "pongme 2!"),
      frame(OP.CONTINUATION, "fragment4", { fin: false }),
      frame(OP.CONTINUATION, "fragment5"),
    ],
    expect: [
      pong("pongme 1!"),
      pong("pongme 2!"),
      text("fragment1fragment2fragment3fragment4fragment5"),
    ],
  },
  {
    name: "ignores an unsolicited pong between fragments",
    send: [
      frame(OP.TEXT, "fragment1", { fin: false }),
      frame(OP.PONG, "unsolicited"),
      frame(OP.CONTINUATION, "fragment2"),
    ],
    expect: [text(fragmentedText)],
  },
  {
    name: "closes with 1002 on a final continuation frame with no message started",
    send: [frame(OP.CONTINUATION, "fragment1")],
    expect: [PROTOCOL_ERROR],
  },
  {
    name: "closes with 1002 on a non-final continuation frame with no message started",
    send: [frame(OP.CONTINUATION, "fragment1", { fin: false })],
    expect: [PROTOCOL_ERROR],
  },
  {
    name: "closes with 1002 on a continuation frame after a complete message",
    send: [...splitAt(OP.TEXT, fragmentedText, [9]), frame(OP.CONTINUATION, "fragment3")],
    expect: [text(fragmentedText), PROTOCOL_ERROR],
  },
  {
    name: "closes with 1002 on a text frame while a text message is in progress",
    send: [frame(OP.TEXT, "fragment1", { fin: false }), frame(OP.TEXT, "fragment2")],
    expect: [PROTOCOL_ERROR],
  },
  {
    name: "closes with 1002 on a binary frame while a text message is in progress",
    send: [frame(OP.TEXT, "fragment1", { fin: false }), frame(OP.BINARY, hex("00"))],
    expect: [PROTOCOL_ERROR],
  },
  {
    name: "closes with 1002 on a non-final text frame while a binary message is in progress",
    send: [frame(OP.BINARY, hex("00"), { fin: false }), frame(OP.TEXT, "x", { fin: false })],
    expect: [PROTOCOL_ERROR],
  },
  {
    name: "closes with 1002 on a fragmented ping (FIN=0)",
    send: [frame(OP.PING, "frag", { fin: false }), frame(OP.CONTINUATION, "ment")],
    expect: [PROTOCOL_ERROR],
  },
  {
    name: "closes with 1002 on a fragmented pong (FIN=0)",
    send: [frame(OP.PONG, "frag", { fin: false }), frame(OP.CONTINUATION, "ment")],
    expect: [PROTOCOL_ERROR],
  },
  {
    name: "closes with 1002 on a fragmented ping inside a fragmented message",
    send: [frame(OP.TEXT, "fragment1", { fin: false }), frame(OP.PING, "x", { fin: false })],
    expect: [PROTOCOL_ERROR],
  },
  {
    name: "echoes an empty text frame",
    send: [frame(OP.TEXT)],
    expect: [text("")],
  },
  {
    name: "echoes an empty binary frame",
    send: [frame(OP.BINARY)],
    expect: [binary(new Uint8Array(0))],
  },
  {
    name: "echoes a text message of three empty fragments as one empty message",
    send: [
      frame(OP.TEXT, "", { fin: false }),
      frame(OP.CONTINUATION, "", { fin: false }),
      frame(0),
    ],
    expect: [text("")],
  },
  {
    name: "echoes a text message of empty first and last fragments around a middle one",
    send: [
      frame(OP.TEXT, "", { fin: false }),
      frame(OP.CONTINUATION, "middle", { fin: false }),
      frame(OP.CONTINUATION, ""),
    ],
    expect: [text("middle")],
  },
]);

// ---------------------------------------------------------------- 6 UTF-8

const VALID_UTF8: [string, Uint8Array][] = [
  ["Hello-µ@ßöäüàá-UTF-8!! (Autobahn 6.2)", encoder.encode("Hello-µ@ßöäüàá-UTF-8!!")],
  ["κόσμε (2-byte characters)", encoder.encode("κόσμε")],
  ["€ and 日本語 (3-byte characters)", encoder.encode("€ 日本語")],
  ["😀 and 𝄞 (4-byte characters)", encoder.encode("😀 𝄞")],
  [
    "the first 2-, 3- and 4-byte characters (U+0080 U+0800 U+10000)",
    hex("c2 80 e0 a0 80 f0 90 80 80"),
  ],
  [
    "the last 1- to 4-byte characters (U+007F U+07FF U+FFFF U+10FFFF)",
    hex("7f df bf ef bf bf f4 8f bf bf"),
  ],
  [
    "the characters around the surrogates (U+D7FF U+E000 U+FFFD)",
    hex("ed 9f bf ee 80 80 ef bf bd"),
  ],
  [
    "noncharacters (U+FDD0 U+FFFE U+1FFFF U+10FFFE)",
    hex("ef b7 90 ef bf be f0 9f bf bf f4 8f bf be"),
  ],
  ["a NUL character", hex("61 00 62")],
];

const INVALID_UTF8: [string, Uint8Array][] = [
  [
    "κόσμε with the surrogate U+D800 (Autobahn 6.3.1)",
    hex("ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64"),
  ],
  ["a lone continuation byte 0x80", hex("80")],
  ["a lone continuation byte 0xBF", hex("bf")],
  ["a lone start byte 0xC0 followed by a space", hex("c0 20")],
  ["a lone start byte 0xE0 followed by a space", hex("e0 20")],
  ["the impossible byte 0xFE", hex("fe")],
  ["the impossible byte 0xFF", hex("ff")],
  ["the impossible bytes FE FE FF FF", hex("fe fe ff ff")],
  ["an overlong '/' in 2 bytes (C0 AF)", hex("c0 af")],
  ["an overlong '/' in 3 bytes (E0 80 AF)", hex("e0 80 af")],
  ["an overlong '/' in 4 bytes (F0 80 80 AF)", hex("f0 80 80 af")],
  ["an overlong U+007F (C1 BF)", hex("c1 bf")],
  ["an overlong U+07FF (E0 9F BF)", hex("e0 9f bf")],
  ["an overlong U+FFFF (F0 8F BF BF)", hex("f0 8f bf bf")],
  ["an overlong NUL (C0 80)", hex("c0 80")],
  ["the surrogate half U+D800 (ED A0 80)", hex("ed a0 80")],
  ["the surrogate half U+DFFF (ED BF BF)", hex("ed bf bf")],
  ["a surrogate pair encoded as two halves (ED A0 80 ED B0 80)", hex("ed a0 80 ed b0 80")],
  ["a code point above U+10FFFF (F4 90 80 80)", hex("f4 90 80 80")],
  ["a 5-byte sequence (F8 88 80 80 80)", hex("f8 88 80 80 80")],
  ["a 2-byte character truncated at the end (C2)", hex("c2")],
  ["a 3-byte character truncated at the end (E2 82)", hex("e2 82")],
  ["a 4-byte character truncated at the end (F0 9F 98)", hex("f0 9f 98")],
  ["a truncated 3-byte character followed by ASCII (E2 82 41)", hex("e2 82 41")],
];

/** ws checks messages under 24 bytes in JS and longer ones with `buffer.isUtf8`: test both. */
const PADDING = encoder.encode("padding to 24+ bytes: ");

const splitSample = encoder.encode("aµ€😀z"); // 61 | c2 b5 | e2 82 ac | f0 9f 98 80 | 7a
const kosme = encoder.encode("κόσμε");

conformance("6 UTF-8", [
  ...VALID_UTF8.map(([name, bytes]): Case => ({
    name: `echoes valid UTF-8: ${name}`,
    send: [frame(OP.TEXT, bytes)],
    expect: [text(bytes)],
  })),
  ...VALID_UTF8.slice(0, 4).map(([name, bytes]): Case => ({
    name: `echoes valid UTF-8 sent one byte per fragment: ${name}`,
    send: fragments(OP.TEXT, bytes, 1),
    expect: [text(bytes)],
  })),
  ...Array.from({ length: splitSample.length - 1 }, (_, i): Case => ({
    name: `echoes "aµ€😀z" split into 2 fragments after byte ${i + 1}`,
    send: splitAt(OP.TEXT, splitSample, [i + 1]),
    expect: [text(splitSample)],
  })),
  {
    name: `echoes "aµ€😀z" with its 4-byte character split over 3 fragments`,
    send: splitAt(OP.TEXT, splitSample, [7, 9]),
    expect: [text(splitSample)],
  },
  ...Array.from({ length: kosme.length - 1 }, (_, i): Case => ({
    name: `echoes "κόσμε" split into 2 fragments after byte ${i + 1}, written one byte at a time`,
    send: splitAt(OP.TEXT, kosme, [i + 1]),
    chop: 1,
    expect: [text(kosme)],
  })),
  ...INVALID_UTF8.map(([name, bytes]): Case => ({
    name: `closes with 1007 on invalid UTF-8 in a short message: ${name}`,
    send: [frame(OP.TEXT, bytes)],
    expect: [closeWith(1007)],
  })),
  ...INVALID_UTF8.map(([name, bytes]): Case => ({
    name: `closes with 1007 on invalid UTF-8 in a message of 24+ bytes: ${name}`,
    send: [frame(OP.TEXT, concat([PADDING, bytes]))],
    expect: [closeWith(1007)],
  })),
  ...INVALID_UTF8.slice(0, 3).map(([name, bytes]): Case => ({
    name: `closes with 1007 on invalid UTF-8 sent one byte per fragment: ${name}`,
    send: fragments(OP.TEXT, concat([PADDING, bytes]), 1),
    expect: [closeWith(1007)],
  })),
  {
    name: "closes with 1007 on invalid UTF-8 in the middle one of three fragments",
    send: splitAt(OP.TEXT, concat([kosme, hex("f4 90 80 80"), encoder.encode("edited")]), [11, 15]),
    expect: [closeWith(1007)],
  },
  {
    name: "echoes a valid text message after a binary message that is not UTF-8",
    send: [frame(OP.BINARY, hex("ff fe c0 af")), frame(OP.TEXT, kosme)],
    expect: [binary(hex("ff fe c0 af")), text(kosme)],
  },
]);

// ---------------------------------------------------------------- 7 close handling

const VALID_CODES = [
  1000,
  1001,
  1002,
  1003,
  1007,
  1008,
  1009,
  1010,
  1011,
  1012,
  1013,
  1014,
  3000,
  3999,
  4000,
  4999,
];
const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
const reason123 = "r".repeat(123);
const invalidReason = hex("ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64");

conformance("7 close", [
  {
    name: "echoes a text message, then answers a close with 1000",
    send: [frame(OP.TEXT, "Hello World!"), close(1000)],
    expect: [text("Hello World!"), closeWith(1000)],
  },
  {
    name: "answers only the first of two close frames",
    send: [close(1000), close(1001)],
    expect: [closeWith(1000)],
  },
  {
    name: "ignores a ping after the close",
    send: [close(1000), frame(OP.PING, "after close")],
    expect: [closeWith(1000)],
  },
  {
    name: "ignores a text message after the close",
    send: [close(1000), frame(OP.TEXT, "after close")],
    expect: [closeWith(1000)],
  },
  {
    name: "drops a fragmented message the close interrupts, and ignores its last fragment",
    send: [frame(OP.TEXT, "fragment1", { fin: false }), close(1000), frame(0, "fragment2")],
    expect: [closeWith(1000)],
  },
  {
    name: "echoes a 256 KiB message, then answers a close sent in the same write",
    send: [frame(OP.TEXT, ascii(256 * 1024)), close(1000)],
    expect: [text(ascii(256 * 1024)), closeWith(1000)],
  },
  {
    name: "answers a close with an empty payload with an empty close payload",
    send: [frame(OP.CLOSE)],
    expect: [emptyClose],
  },
  {
    name: "closes with 1002 on a close with a 1-byte payload",
    send: [frame(OP.CLOSE, hex("03"))],
    expect: [PROTOCOL_ERROR],
  },
  {
    name: "answers a close with a code and a reason with the same code and reason",
    send: [close(1000, "Hello World! κόσμε")],
    expect: [closeWith(1000, "Hello World! κόσμε")],
  },
  {
    name: "answers a close with a 123-byte reason (125-byte payload) with the same",
    send: [close(1000, reason123)],
    expect: [closeWith(1000, reason123)],
  },
  {
    name: "closes with 1002 on a close with a 124-byte reason (oversized control frame)",
    send: [close(1000, reason123 + "r")],
    expect: [PROTOCOL_ERROR],
  },
  {
    name: "closes with 1007 on a close reason of invalid UTF-8 (under 24 bytes)",
    send: [close(1000, invalidReason)],
    expect: [closeWith(1007)],
  },
  {
    name: "closes with 1007 on a close reason of invalid UTF-8 (24+ bytes)",
    send: [close(1000, concat([PADDING, invalidReason]))],
    expect: [closeWith(1007)],
  },
  ...VALID_CODES.map((code): Case => ({
    name: `answers a close with code ${code} with the same code`,
    send: [close(code)],
    expect: [closeWith(code)],
  })),
  ...INVALID_CODES.map((code): Case => ({
    name: `closes with 1002 on a close with the invalid code ${code}`,
    send: [close(code)],
    expect: [PROTOCOL_ERROR],
  })),
]);

// ---------------------------------------------------------------- 9 big messages

const BIG = 16 * MiB;
const bigText = utf8Text(BIG);
const bigBinary = randomBytes(BIG);

conformance("9 big messages", [
  {
    name: "echoes a 16 MiB text message in one frame, byte-exact",
    send: () => [frame(OP.TEXT, bigText)],
    expect: [text(bigText)],
    ms: 30_000,
  },
  {
    name: "echoes a 16 MiB binary message in one frame, byte-exact",
    send: () => [frame(OP.BINARY, bigBinary)],
    expect: [binary(bigBinary)],
    ms: 30_000,
  },
  {
    name: "echoes a 16 MiB text message in 64 KiB fragments, byte-exact",
    send: () => fragments(OP.TEXT, bigText, 64 * 1024),
    expect: [text(bigText)],
    ms: 30_000,
  },
  {
    name: "echoes a 16 MiB binary message in 1 MiB fragments, byte-exact",
    send: () => fragments(OP.BINARY, bigBinary, MiB),
    expect: [binary(bigBinary)],
    ms: 30_000,
  },
  {
    name: "echoes a 1 MiB binary message written in 4 KiB chops",
    send: [frame(OP.BINARY, binary1MiB)],
    chop: 4096,
    expect: [binary(binary1MiB)],
  },
  {
    name: "echoes 1000 small text messages sent in one write, in order",
    send: Array.from({ length: 1000 }, (_, i) => frame(OP.TEXT, `message ${i}`)),
    expect: Array.from({ length: 1000 }, (_, i) => text(`message ${i}`)),
  },
  {
    name: "closes with 1009 on a header announcing 16 MiB + 1 bytes, before any payload",
    send: [frame(OP.BINARY, new Uint8Array(0), { claimedLength: BIG + 1 })],
    expect: [closeWith(1009)],
  },
  {
    name: "echoes a message of exactly maxMessageBytes (1024)",
    send: [frame(OP.TEXT, ascii(1024))],
    expect: [text(ascii(1024))],
    options: { maxMessageBytes: 1024 },
  },
  {
    name: "closes with 1009 on a text frame one byte over maxMessageBytes (1024)",
    send: [frame(OP.TEXT, ascii(1025))],
    expect: [closeWith(1009)],
    options: { maxMessageBytes: 1024 },
  },
  {
    name: "closes with 1009 on a binary frame one byte over maxMessageBytes (1024)",
    send: [frame(OP.BINARY, randomBytes(1025))],
    expect: [closeWith(1009)],
    options: { maxMessageBytes: 1024 },
  },
  {
    name: "closes with 1009 on fragments adding up to one byte over maxMessageBytes (1024)",
    send: splitAt(OP.BINARY, randomBytes(1025), [512]),
    expect: [closeWith(1009)],
    options: { maxMessageBytes: 1024 },
  },
  {
    name: "counts maxMessageBytes per message, not per connection",
    send: [frame(OP.TEXT, ascii(1000)), frame(OP.TEXT, ascii(1000))],
    expect: [text(ascii(1000)), text(ascii(1000))],
    options: { maxMessageBytes: 1024 },
  },
  {
    name: "does not count a 125-byte ping inside a fragmented message toward maxMessageBytes",
    send: [
      frame(OP.TEXT, ascii(1000), { fin: false }),
      frame(OP.PING, bytes125),
      frame(OP.CONTINUATION, ascii(24)),
    ],
    expect: [pong(bytes125), text(concat([ascii(1000), ascii(24)]))],
    options: { maxMessageBytes: 1024 },
  },
]);

// ---------------------------------------------------------------- 10 misc

const misc65536 = ascii(65536);

conformance("10 misc", [
  {
    name: "closes with 1002 on an unmasked text frame (RFC 6455 5.1)",
    send: [frame(OP.TEXT, "unmasked", { mask: false })],
    expect: [PROTOCOL_ERROR],
  },
  {
    name: "closes with 1002 on an unmasked ping (RFC 6455 5.1)",
    send: [frame(OP.PING, "unmasked", { mask: false })],
    expect: [PROTOCOL_ERROR],
  },
  {
    name: "closes with 1002 on an unmasked continuation of a masked message",
    send: [frame(OP.TEXT, "masked", { fin: false }), frame(0, "unmasked", { mask: false })],
    expect: [PROTOCOL_ERROR],
  },
  {
    name: "echoes a 65536-byte text message in 1300-byte fragments (Autobahn 10.1.1)",
    send: fragments(OP.TEXT, misc65536, 1300),
    expect: [text(misc65536)],
  },
  {
    name: "echoes a message masked with an all-zero key",
    send: [frame(OP.TEXT, "zero key", { mask: new Uint8Array(4) })],
    expect: [text("zero key")],
  },
]);

// ---------------------------------------------------------------- refusals and handshake

/** Sends a handshake and returns the status and the body the server sent before closing. */
async function refusal(
  addr: Deno.NetAddr,
  options: Parameters<RawWebSocket["handshake"]>[0],
): Promise<{ status: number; body: string }> {
  await using ws = await RawWebSocket.open(addr);
  const response = await ws.handshake(options);
  if (response.status === 101) return { status: 101, body: "" }; // accepted: nothing to read
  const body = decoder.decode(await ws.readToEnd());
  return { status: response.status, body };
}

Deno.test("serveWebSocketEcho() refuses a path other than the configured one with 404", async () => {
  await using server = await serveWebSocketEcho({ ...BASE, path: "/echo" });
  const { status, body } = await refusal(server.addr, { path: "/other" });
  equal(status, 404);
  equal(body, "not found: /other\n");
  const root = await refusal(server.addr, { path: "/" });
  equal(root.status, 404);
  await using ws = await RawWebSocket.connect(server.addr, { path: "/echo?query=ignored" });
  await ws.send(OP.TEXT, "on /echo");
  await check(ws, text("on /echo"));
  await ws.send(OP.CLOSE, closePayload(1000));
  await check(ws, closeWith(1000));
});

Deno.test("serveWebSocketEcho() refuses with 403 and the reason when accept() returns one", async () => {
  const seen: string[] = [];
  await using server = await serveWebSocketEcho({
    ...BASE,
    accept: (request) => {
      seen.push(request.headers["x-token"] as string);
      return request.headers["x-token"] === "let me in" || "bad token";
    },
  });
  const { status, body } = await refusal(server.addr, { headers: { "X-Token": "wrong" } });
  equal(status, 403);
  equal(body, "bad token\n");
  await using ws = await RawWebSocket.connect(server.addr, { headers: { "X-Token": "let me in" } });
  await ws.send(OP.TEXT, "accepted");
  await check(ws, text("accepted"));
  await ws.send(OP.CLOSE, closePayload(1000));
  await check(ws, closeWith(1000));
  equal(seen.join(","), "wrong,let me in");
});

Deno.test("serveWebSocketEcho() refuses with 403 when accept() returns false", async () => {
  await using server = await serveWebSocketEcho({ ...BASE, accept: () => false });
  const { status, body } = await refusal(server.addr, {});
  equal(status, 403);
  equal(body, "refused by the server\n");
});

Deno.test("serveWebSocketEcho() refuses a cross-site Origin with 403 and accepts its own", async () => {
  await using server = await serveWebSocketEcho(BASE);
  const { status, body } = await refusal(server.addr, {
    headers: { Origin: "https://evil.example" },
  });
  equal(status, 403);
  equal(
    body,
    "origin https://evil.example is not allowed (the server allows its own; add others with --allow-origin)\n",
  );
  const own = `http://127.0.0.1:${server.addr.port}`;
  await using ws = await RawWebSocket.connect(server.addr, { headers: { Origin: own } });
  await ws.send(OP.TEXT, "same origin");
  await check(ws, text("same origin"));
  await ws.send(OP.CLOSE, closePayload(1000));
  await check(ws, closeWith(1000));
});

Deno.test("serveWebSocketEcho() accepts an Origin listed in allowOrigins", async () => {
  await using server = await serveWebSocketEcho({
    ...BASE,
    allowOrigins: ["https://chat.example"],
  });
  await using ws = await RawWebSocket.connect(server.addr, {
    headers: { Origin: "https://chat.example" },
  });
  await ws.send(OP.PING, "listed");
  await check(ws, pong("listed"));
  await ws.send(OP.CLOSE, closePayload(1000));
  await check(ws, closeWith(1000));
});

Deno.test("serveWebSocketEcho() answers 400 to an upgrade without Sec-WebSocket-Key", async () => {
  await using server = await serveWebSocketEcho(BASE);
  const { status } = await refusal(server.addr, { omit: ["Sec-WebSocket-Key"] });
  equal(status, 400);
});

Deno.test("serveWebSocketEcho() completes a handshake fed one byte at a time", async () => {
  await using server = await serveWebSocketEcho(BASE);
  await using ws = await RawWebSocket.connect(server.addr, { chop: 1 });
  await ws.send(OP.TEXT, "after a slow handshake");
  await check(ws, text("after a slow handshake"));
  await ws.send(OP.CLOSE, closePayload(1000));
  await check(ws, closeWith(1000));
});

Deno.test("serveWebSocketEcho() echoes a frame sent right behind the handshake, before the 101", async () => {
  await using server = await serveWebSocketEcho(BASE);
  await using ws = await RawWebSocket.open(server.addr);
  // The handshake is written first; the frame follows at once, before the 101 is read.
  const handshake = ws.handshake();
  await ws.send(OP.TEXT, "eager");
  equal((await handshake).status, 101);
  await check(ws, text("eager"));
  await ws.send(OP.CLOSE, closePayload(1000));
  await check(ws, closeWith(1000));
});

Deno.test("serveEcho() with httpPort serves the same WebSocket echo", async () => {
  await using server = serveEcho({ ...BASE, port: 0, httpPort: 0 });
  await server.ready;
  ok(server.httpAddr !== null);
  await using ws = await RawWebSocket.connect(server.httpAddr);
  await ws.write(concat([
    frame(OP.TEXT, "frag", { fin: false }),
    frame(OP.PING, "p"),
    frame(OP.CONTINUATION, "ment"),
    frame(OP.TEXT, "x", { rsv: RSV1 }),
  ]));
  await check(ws, pong("p"));
  await check(ws, text("fragment"));
  await check(ws, PROTOCOL_ERROR);
});

// ---------------------------------------------------------------- independent clients

Deno.test("serveWebSocketEcho() round-trips with npm ws as the client", async () => {
  await using server = await serveWebSocketEcho(BASE);
  const client = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
  const messages: { data: Uint8Array; isBinary: boolean }[] = [];
  let wake: (() => void) | null = null;
  client.on("message", (data: Uint8Array, isBinary: boolean) => {
    messages.push({ data: new Uint8Array(data), isBinary });
    wake?.();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    client.on(
      "close",
      (code: number, reason: Uint8Array) => resolve({ code, reason: decoder.decode(reason) }),
    )
  );
  const errors: Error[] = [];
  client.on("error", (error: Error) => errors.push(error));
  const next = async (what: string) => {
    await within(
      new Promise<void>((resolve) => {
        if (messages.length > 0) return resolve();
        wake = resolve;
      }),
      what,
    );
    wake = null;
    return messages.shift()!;
  };
  try {
    await within(new Promise((resolve) => client.once("open", resolve)), "the ws client to open");
    client.send("héllo κόσμε 😀");
    const echoedText = await next("the text echo");
    equal(echoedText.isBinary, false);
    equal(decoder.decode(echoedText.data), "héllo κόσμε 😀");
    client.send(hex("00 ff 80 7f"));
    const echoedBinary = await next("the binary echo");
    equal(echoedBinary.isBinary, true);
    sameBytes(echoedBinary.data, hex("00 ff 80 7f"), "binary echo");
    client.send(binary1MiB);
    const echoedBig = await next("the 1 MiB echo");
    equal(echoedBig.isBinary, true);
    sameBytes(echoedBig.data, binary1MiB, "1 MiB echo");
    client.close(4000, "bye");
    const { code, reason } = await within(closed, "the close");
    equal(code, 4000);
    equal(reason, "bye");
    equal(errors.length, 0, errors.map((error) => error.message).join("; "));
  } finally {
    client.terminate();
  }
});

const PYTHON = "/usr/bin/python3";
const python = await (async () => {
  try {
    const probe = await new Deno.Command(PYTHON, {
      args: ["-c", "import websockets"],
      stdout: "null",
      stderr: "null",
    }).output();
    return probe.success
      ? { available: true, reason: "" }
      : { available: false, reason: `${PYTHON} cannot import websockets` };
  } catch {
    return { available: false, reason: `${PYTHON} not found` };
  }
})();

const PYTHON_CLIENT = `
import asyncio, sys, websockets

async def main(uri):
    async with websockets.connect(uri, max_size=2**24) as ws:
        await ws.send("héllo κόσμε 😀")
        got = await ws.recv()
        assert got == "héllo κόσμε 😀", repr(got)
        data = bytes(range(256)) * 4096
        await ws.send(data)
        got = await ws.recv()
        assert isinstance(got, bytes) and got == data, "binary echo differs"
        await asyncio.wait_for(await ws.ping(b"python"), 10)
        await ws.close(code=4001, reason="bye")
        assert ws.close_code == 4001, ws.close_code
        assert ws.close_reason == "bye", repr(ws.close_reason)
    print("ok")

asyncio.run(asyncio.wait_for(main(sys.argv[1]), 20))
`;

Deno.test({
  name: `serveWebSocketEcho() round-trips with Python's websockets as the client${
    python.available ? "" : ` (ignored: ${python.reason})`
  }`,
  ignore: !python.available,
  async fn() {
    await using server = await serveWebSocketEcho(BASE);
    const child = new Deno.Command(PYTHON, {
      args: ["-c", PYTHON_CLIENT, `ws://127.0.0.1:${server.addr.port}/`],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    const run = await within(output, "the python client", 30_000).catch(async (error) => {
      child.kill();
      await output;
      throw error;
    });
    const stderr = decoder.decode(run.stderr);
    equal(run.code, 0, stderr);
    equal(decoder.decode(run.stdout), "ok\n", stderr);
  },
});
