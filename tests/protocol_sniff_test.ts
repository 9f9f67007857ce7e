import { equal } from "node:assert/strict";
import { ProtocolSniffer, SNIFF_MAX_BYTES } from "../lib/framing/protocol_sniff.ts";
import { utf8 } from "./helpers.ts";

/** The verdict for `bytes` fed whole, and fed one byte at a time (they must agree). */
function verdicts(bytes: Uint8Array): [string | undefined, string | undefined] {
  const whole = new ProtocolSniffer().push(bytes);
  const sniffer = new ProtocolSniffer();
  let single: string | undefined;
  for (const byte of bytes) {
    single = sniffer.push(Uint8Array.of(byte));
    if (single !== undefined) break;
  }
  return [whole, single];
}

function assertVerdict(input: string | Uint8Array, expected: string | undefined): void {
  const [whole, single] = verdicts(typeof input === "string" ? utf8(input) : input);
  equal(whole, expected, `whole: ${JSON.stringify(input)}`);
  equal(single, expected, `byte at a time: ${JSON.stringify(input)}`);
}

Deno.test({
  name: "ProtocolSniffer finds an HTTP request line of any method, HTTP/1.x",
  permissions: "none",
  fn() {
    for (
      const line of [
        "GET / HTTP/1.1\r\nHost: x\r\nCookie: session=SECRET\r\n\r\n",
        "POST /form HTTP/1.0\r\n",
        "OPTIONS * HTTP/1.1\n",
        "PROPFIND /dav HTTP/1.1\r\n",
        "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
      ]
    ) assertVerdict(line, "http");
  },
});

Deno.test({
  name: "ProtocolSniffer finds a TLS handshake record (0x16 0x03)",
  permissions: "none",
  fn() {
    assertVerdict(Uint8Array.of(0x16, 0x03, 0x01, 0x02, 0x00, 0x01), "tls");
    assertVerdict(Uint8Array.of(0x16, 0x03), "tls");
    assertVerdict(Uint8Array.of(0x16, 0x41, 0x0a), "chat");
  },
});

Deno.test({
  name: "ProtocolSniffer takes ordinary chat lines as chat, early when it can",
  permissions: "none",
  fn() {
    for (
      const line of [
        "hello\n",
        "/nick ann\n",
        "GET me a coffee\n",
        "GET / HTTP/2\n",
        "GET / HTTP/1.1 please\n",
        "POST  / HTTP/1.1\n",
        "get / http/1.1\n",
        "\n",
        "héllo\n",
      ]
    ) assertVerdict(line, "chat");
    // Decided before the end of the line when it cannot be a request line.
    assertVerdict("hello", "chat");
    assertVerdict("GET me a", "chat");
    // Undecided while it still could be one.
    assertVerdict("GET / HTT", undefined);
    assertVerdict("G", undefined);
  },
});

Deno.test({
  name: "ProtocolSniffer looks at a bounded first line only",
  permissions: "none",
  fn() {
    assertVerdict(`GET /${"a".repeat(SNIFF_MAX_BYTES)}`, "chat");
    const sniffer = new ProtocolSniffer();
    equal(sniffer.push(utf8("hello\n")), "chat");
    // The verdict stays: a later request line is chat text.
    equal(sniffer.push(utf8("GET / HTTP/1.1\n")), "chat");
    const ended = new ProtocolSniffer();
    equal(ended.push(utf8("GET /")), undefined);
    equal(ended.end(), "chat");
  },
});
