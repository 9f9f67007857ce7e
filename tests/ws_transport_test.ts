import { deepEqual, equal, ok } from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as ws from "ws";
import { parseHead, type RequestHead } from "../lib/net/http_head.ts";
import {
  frameHeader,
  frameHeaderLength,
  FrameScanner,
  OPCODE,
  textFrames,
} from "../lib/net/ws_frame.ts";
import { checkUpgrade, switchingProtocols, wantsWebSocket } from "../lib/net/ws_handshake.ts";
import { OriginCheck } from "../lib/net/ws_upgrade.ts";
import { concat, encodeFrame, OP } from "./ws_frames.ts";

const encoder = new TextEncoder();
/** ws's Sender (exported by ws 8.18, absent from its type declarations). */
const Sender = (ws as unknown as {
  Sender: { frame(data: Buffer, options: Record<string, unknown>): Buffer[] };
}).Sender;

Deno.test({
  name: "frameHeader() writes what ws's Sender.frame() writes, for every length encoding",
  permissions: "none",
  fn() {
    for (const length of [0, 1, 125, 126, 127, 65535, 65536, 70_000, 16 * 1024 * 1024]) {
      for (const opcode of [OPCODE.TEXT, OPCODE.BINARY, OPCODE.PING, OPCODE.PONG, OPCODE.CLOSE]) {
        const [expected] = Sender.frame(Buffer.alloc(length), {
          fin: true,
          opcode,
          mask: false,
          readOnly: true,
          rsv1: false,
        });
        const target = new Uint8Array(10);
        const n = frameHeader(target, 0, opcode, length);
        equal(n, frameHeaderLength(length));
        deepEqual([...target.subarray(0, n)], [...expected], `length ${length}`);
      }
    }
  },
});

Deno.test({
  name: "textFrames() makes one text frame per line, without its LF, as ws's Sender would",
  permissions: "none",
  fn() {
    const long = "x".repeat(300);
    const frame = (text: string) =>
      Sender.frame(Buffer.from(text), {
        fin: true,
        opcode: OPCODE.TEXT,
        mask: false,
        readOnly: true,
        rsv1: false,
      }).flatMap((part: Uint8Array) => [...part]);
    const cases: [string, string[]][] = [
      ["hi\n", ["hi"]],
      ["a\n\nb\n", ["a", "", "b"]],
      [`${long}\nend`, [long, "end"]],
      ["", []],
    ];
    for (const [lines, messages] of cases) {
      deepEqual(
        [...textFrames(new TextEncoder().encode(lines))],
        messages.flatMap(frame),
        JSON.stringify(lines),
      );
    }
  },
});

/** Feeds `bytes` whole, then one byte at a time; both scans must agree. */
function scanBothWays(bytes: Uint8Array): { frames: number; fragments: number } {
  const whole = new FrameScanner().push(bytes);
  const scanner = new FrameScanner();
  let frames = 0;
  let fragments = 0;
  for (const byte of bytes) {
    const result = scanner.push(new Uint8Array([byte]));
    frames += result.frames;
    fragments = Math.max(fragments, result.fragments);
  }
  deepEqual({ frames, fragments }, whole);
  return whole;
}

Deno.test({
  name: "FrameScanner counts every frame, control and empty ones too, whole or byte by byte",
  permissions: "none",
  fn() {
    const stream = concat([
      encodeFrame(OP.PING, ""),
      encodeFrame(OP.PONG, "x"),
      encodeFrame(OP.TEXT, ""),
      encodeFrame(OP.TEXT, "a".repeat(200)), // 16-bit length
      encodeFrame(OP.BINARY, new Uint8Array(70_000)), // 64-bit length
      encodeFrame(OP.TEXT, "unmasked", { mask: false }),
    ]);
    deepEqual(scanBothWays(stream), { frames: 6, fragments: 1 });
  },
});

Deno.test({
  name: "FrameScanner counts the fragments of the message in progress across chunks",
  permissions: "none",
  fn() {
    const fragments = [
      encodeFrame(OP.TEXT, "a", { fin: false }),
      ...Array.from({ length: 10 }, () => encodeFrame(OP.CONTINUATION, "", { fin: false })),
      encodeFrame(OP.PING, "p"), // a control frame in between is no fragment
      encodeFrame(OP.CONTINUATION, "z"),
      encodeFrame(OP.TEXT, "next"),
    ];
    deepEqual(scanBothWays(concat(fragments)), { frames: 14, fragments: 12 });
    const scanner = new FrameScanner();
    deepEqual(scanner.push(concat(fragments.slice(0, 6))), { frames: 6, fragments: 6 });
    deepEqual(scanner.push(concat(fragments.slice(6))), { frames: 8, fragments: 12 });
    deepEqual(scanner.push(encodeFrame(OP.TEXT, "")), { frames: 1, fragments: 1 });
  },
});

function head(text: string): RequestHead {
  const parsed = parseHead(encoder.encode(text));
  ok(parsed !== null, text);
  return parsed;
}

const UPGRADE = "GET /ws?x=1 HTTP/1.1\r\nHost: 127.0.0.1:7880\r\nUpgrade: websocket\r\n" +
  "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: parley.json, other\r\n\r\n";

Deno.test({
  name: "parseHead() reads a request head, lower-cases names and joins repeats; refuses junk",
  permissions: "none",
  fn() {
    const parsed = head(UPGRADE);
    equal(parsed.method, "GET");
    equal(parsed.path, "/ws");
    equal(parsed.url, "/ws?x=1");
    equal(parsed.headers["sec-websocket-version"], "13");
    equal(head("GET / HTTP/1.0\nA: 1\nA: 2\n\n").headers.a, "1, 2");
    equal(head("GET / HTTP/1.1\r\n__proto__: x\r\n\r\n").headers["__proto__"], "x");
    for (
      const bad of ["GET /\r\n\r\n", "GET / HTTP/2\r\n\r\n", "GET / HTTP/1.1\r\nno colon\r\n\r\n"]
    ) {
      equal(parseHead(encoder.encode(bad)), null, bad);
    }
  },
});

Deno.test({
  name: "checkUpgrade() takes a valid handshake and names what is wrong with a bad one",
  permissions: "none",
  fn() {
    const good = head(UPGRADE);
    ok(wantsWebSocket(good));
    deepEqual(checkUpgrade(good), {
      key: "dGhlIHNhbXBsZSBub25jZQ==",
      protocols: ["parley.json", "other"],
    });
    const without = (name: string) =>
      head(UPGRADE.replace(new RegExp(`${name}: [^\\r]*\\r\\n`), ""));
    ok(!wantsWebSocket(without("Upgrade")));
    deepEqual(
      [without("Connection"), without("Sec-WebSocket-Key"), without("Sec-WebSocket-Version")]
        .map((request) => (checkUpgrade(request) as { status: number }).status),
      [400, 400, 426],
    );
    equal((checkUpgrade(head(UPGRADE.replace("GET", "POST"))) as { status: number }).status, 405);
    const response = new TextDecoder().decode(switchingProtocols("dGhlIHNhbXBsZSBub25jZQ==", null));
    ok(response.includes("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), response);
  },
});

Deno.test({
  name: "OriginCheck counts the same origin only on names the server answers to",
  permissions: "none",
  fn() {
    const check = new OriginCheck(
      { allowOrigins: ["https://chat.example/"], hostNames: ["Parley.Example"] },
      ["10.0.0.5"],
    );
    const allows = (origin: string, host: string) => check.allows(origin, host, "192.168.1.9");
    ok(allows("http://localhost:7880", "localhost:7880"));
    ok(allows("http://127.0.0.1:7880", "127.0.0.1:7880"));
    ok(allows("http://[::1]:7880", "[::1]:7880"));
    ok(allows("http://10.0.0.5:7880", "10.0.0.5:7880")); // bound to it
    ok(allows("http://192.168.1.9:7880", "192.168.1.9:7880")); // reached at it
    ok(allows("https://parley.example", "parley.example")); // --host-name
    ok(allows("https://chat.example", "anything:1")); // --allow-origin
    ok(!allows("http://evil.example:7880", "evil.example:7880")); // DNS rebinding
    ok(!allows("http://localhost:7880", "127.0.0.1:7880")); // not the same origin
    ok(!allows("not a url", "localhost"));
  },
});
