/**
 * Reads a TLS ClientHello before any TLS library sees it, and decides
 * whether the server can negotiate with it: TLS 1.3, or TLS 1.2 with an
 * ECDHE AEAD suite (AES-GCM, ChaCha20-Poly1305), the only versions and
 * suites Parley serves. Pure: no I/O; bytes go in with
 * {@linkcode ClientHelloReader.push} in chunks of any size.
 *
 * Why: under Deno 2.9.6 `node:tls` has ended the process on hellos it
 * cannot negotiate. Reading the hello first means a hello the server will
 * refuse anyway (SSLv2-style, SSLv3/TLS 1.0/1.1 only, only CBC/RC4/3DES
 * suites, malformed, truncated) gets a TLS alert and a close from Parley,
 * with one clear reason, and never reaches the TLS library.
 *
 * What is checked (RFC 8446 §4.1.2, §5.1; RFC 5246 §7.4.1.2): handshake
 * records (type 22, version 3.x, 1..16384 bytes, no other record type in
 * between), a `client_hello` handshake message reassembled over as many
 * records as it takes, its fields and lengths exactly, compression `null`
 * offered, extensions well formed and never repeated, `supported_versions`.
 * What is not: signature algorithms, groups, key shares and the like are
 * left to the TLS library, which answers them with an alert.
 *
 * Bounds: the hello message at most {@linkcode MAX_CLIENT_HELLO_BYTES}, the
 * bytes read for it (record headers included) at most
 * {@linkcode MAX_CLIENT_HELLO_RAW_BYTES}; past either, the hello is refused.
 *
 * @module
 */

/** Largest ClientHello message accepted (handshake header included): 16 KiB. */
export const MAX_CLIENT_HELLO_BYTES = 16 * 1024;

/** Largest number of bytes read for one ClientHello, record headers included: 32 KiB. */
export const MAX_CLIENT_HELLO_RAW_BYTES = 32 * 1024;

/** TLS alert descriptions used here (RFC 8446 §6). */
export const TlsAlert = {
  unexpectedMessage: 10,
  recordOverflow: 22,
  handshakeFailure: 40,
  illegalParameter: 47,
  decodeError: 50,
  protocolVersion: 70,
} as const;

/** TLS 1.3 suites served: AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305. */
const TLS13_SUITES = new Set([0x1301, 0x1302, 0x1303]);

/** TLS 1.2 suites served: ECDHE (ECDSA or RSA) with AES-GCM or ChaCha20-Poly1305. */
const TLS12_SUITES = new Set([0xc02b, 0xc02c, 0xc02f, 0xc030, 0xcca8, 0xcca9]);

const RECORD_HANDSHAKE = 22;
const RECORD_HEADER_BYTES = 5;
const MAX_RECORD_PAYLOAD = 16384;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXTENSION_SUPPORTED_VERSIONS = 43;
const TLS12 = 0x0303;
const TLS13 = 0x0304;

/** What {@linkcode ClientHelloReader.push} found. */
export type HelloVerdict =
  /** Not a whole hello yet: read more. */
  | { kind: "more" }
  /** A hello the server can negotiate: hand every byte read to the TLS library. */
  | { kind: "accept"; version: "TLSv1.3" | "TLSv1.2" }
  /** Refused: send `alert` (see {@linkcode alertRecord}) and close; `reason` is for the log. */
  | { kind: "refuse"; alert: number; reason: string };

/** True when `bytes` begin like an SSL 2.0-style ClientHello (RFC 5246 Appendix E.2). */
export function isSslv2Hello(bytes: Uint8Array): boolean {
  return bytes.length >= 5 && (bytes[0] & 0x80) !== 0 && bytes[2] === 1 && bytes[3] <= 3;
}

/**
 * A fatal alert record: `[21, version, 0, 2, 2, description]`, in the
 * record version the client used (3.1 when it is not known).
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { alertRecord, TlsAlert } from "./client_hello.ts";
 *
 * deepEqual([...alertRecord(TlsAlert.protocolVersion, 0x0300)], [21, 3, 0, 0, 2, 2, 70]);
 * ```
 */
export function alertRecord(description: number, recordVersion = 0x0301): Uint8Array {
  return new Uint8Array([21, recordVersion >> 8, recordVersion & 0xff, 0, 2, 2, description]);
}

/**
 * Reads the first bytes a TLS client sends until its ClientHello is
 * whole, then judges it once. Feed it everything read, in order; after a
 * verdict other than `more`, it returns that verdict again.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { ClientHelloReader } from "./client_hello.ts";
 *
 * const reader = new ClientHelloReader();
 * equal(reader.push(new Uint8Array([22, 3, 1, 0])).kind, "more");
 * equal(reader.push(new Uint8Array([0])).kind, "refuse"); // an empty record
 * ```
 */
export class ClientHelloReader {
  /** The record version of the client's first record (for the alert), or null before it. */
  recordVersion: number | null = null;
  #raw = 0;
  /** A record header being read (fewer than 5 bytes). */
  #header: number[] = [];
  /** Payload bytes still to come in the current record. */
  #recordLeft = 0;
  /** The handshake message so far. */
  #message: Uint8Array | null = null;
  #messageLength = 0;
  #headerBytes: number[] = [];
  #verdict: HelloVerdict = { kind: "more" };

  /** The alert for the verdict, in the client's record version. */
  alert(): Uint8Array {
    const verdict = this.#verdict;
    const description = verdict.kind === "refuse" ? verdict.alert : TlsAlert.handshakeFailure;
    return alertRecord(description, this.recordVersion ?? 0x0301);
  }

  /** Takes the next bytes the client sent; says whether the hello is whole, and if so its fate. */
  push(chunk: Uint8Array): HelloVerdict {
    if (this.#verdict.kind !== "more") return this.#verdict;
    this.#raw += chunk.length;
    if (this.#raw > MAX_CLIENT_HELLO_RAW_BYTES) {
      return this.#refuse(
        TlsAlert.decodeError,
        `client hello too large (over ${MAX_CLIENT_HELLO_RAW_BYTES} bytes)`,
      );
    }
    let at = 0;
    while (at < chunk.length && this.#verdict.kind === "more") {
      if (this.#recordLeft === 0) {
        this.#header.push(chunk[at++]);
        if (this.#header.length === RECORD_HEADER_BYTES) this.#startRecord();
        continue;
      }
      const take = Math.min(this.#recordLeft, chunk.length - at);
      this.#recordLeft -= take;
      this.#payload(chunk.subarray(at, at + take));
      at += take;
    }
    return this.#verdict;
  }

  #startRecord(): void {
    const [type, major, minor, high, low] = this.#header;
    this.#header = [];
    const length = (high << 8) | low;
    if (type !== RECORD_HANDSHAKE) {
      return void this.#refuse(
        TlsAlert.unexpectedMessage,
        `not a handshake record (type ${type}) during the client hello`,
      );
    }
    if (major !== 3 || minor > 4) {
      return void this.#refuse(
        TlsAlert.protocolVersion,
        `unknown record version ${major}.${minor}`,
      );
    }
    this.recordVersion ??= (major << 8) | minor;
    if (length === 0) return void this.#refuse(TlsAlert.decodeError, "empty handshake record");
    if (length > MAX_RECORD_PAYLOAD) {
      return void this.#refuse(TlsAlert.recordOverflow, `record of ${length} bytes`);
    }
    this.#recordLeft = length;
  }

  #payload(bytes: Uint8Array): void {
    let at = 0;
    if (this.#message === null) {
      while (at < bytes.length && this.#headerBytes.length < 4) this.#headerBytes.push(bytes[at++]);
      if (this.#headerBytes.length < 4) return;
      const [type, a, b, c] = this.#headerBytes;
      if (type !== HANDSHAKE_CLIENT_HELLO) {
        return void this.#refuse(
          TlsAlert.unexpectedMessage,
          `handshake message ${type} where a client hello was expected`,
        );
      }
      this.#messageLength = (a << 16) | (b << 8) | c;
      if (this.#messageLength + 4 > MAX_CLIENT_HELLO_BYTES) {
        return void this.#refuse(
          TlsAlert.decodeError,
          `client hello too large (${this.#messageLength} bytes)`,
        );
      }
      this.#message = new Uint8Array(this.#messageLength);
      this.#messageLength = 0; // now: bytes of the message received
    }
    const message = this.#message;
    const rest = bytes.subarray(at);
    const take = Math.min(rest.length, message.length - this.#messageLength);
    message.set(rest.subarray(0, take), this.#messageLength);
    this.#messageLength += take;
    if (take < rest.length) {
      return void this.#refuse(TlsAlert.unexpectedMessage, "data after the client hello");
    }
    if (this.#messageLength === message.length) {
      if (this.#recordLeft > 0) {
        return void this.#refuse(TlsAlert.unexpectedMessage, "data after the client hello");
      }
      this.#verdict = judgeClientHello(message);
    }
  }

  #refuse(alert: number, reason: string): HelloVerdict {
    this.#verdict = { kind: "refuse", alert, reason };
    return this.#verdict;
  }
}

/** A bounds-checked reader over a ClientHello body; `null` once it ran out. */
class Fields {
  at = 0;
  constructor(readonly bytes: Uint8Array, readonly end = bytes.length) {}
  get left(): number {
    return this.end - this.at;
  }
  u8(): number | null {
    return this.left >= 1 ? this.bytes[this.at++] : null;
  }
  u16(): number | null {
    if (this.left < 2) return null;
    const value = (this.bytes[this.at] << 8) | this.bytes[this.at + 1];
    this.at += 2;
    return value;
  }
  /** A field of `length` bytes as its own reader; null when it runs past the end. */
  sub(length: number | null): Fields | null {
    if (length === null || this.left < length) return null;
    const field = new Fields(this.bytes, this.at + length);
    field.at = this.at;
    this.at += length;
    return field;
  }
}

/**
 * Judges a whole ClientHello body (the handshake message without its
 * 4-byte header).
 */
export function judgeClientHello(body: Uint8Array): HelloVerdict {
  const refuse = (alert: number, reason: string): HelloVerdict => ({
    kind: "refuse",
    alert,
    reason,
  });
  const malformed = (what: string) =>
    refuse(TlsAlert.decodeError, `malformed client hello: ${what}`);
  const fields = new Fields(body);
  const legacyVersion = fields.u16();
  if (legacyVersion === null || fields.sub(32) === null) return malformed("truncated");
  const sessionId = fields.sub(fields.u8());
  if (sessionId === null || sessionId.left > 32) return malformed("session id");
  const suitesField = fields.sub(fields.u16());
  if (suitesField === null || suitesField.left < 2 || suitesField.left % 2 !== 0) {
    return malformed("cipher suites");
  }
  const suites: number[] = [];
  while (suitesField.left > 0) suites.push(suitesField.u16()!);
  const compression = fields.sub(fields.u8());
  if (compression === null || compression.left < 1) return malformed("compression methods");
  if (!compression.bytes.subarray(compression.at, compression.end).includes(0)) {
    return refuse(TlsAlert.illegalParameter, "client hello without null compression");
  }
  let versions: number[] | null = null;
  if (fields.left > 0) {
    const extensions = fields.sub(fields.u16());
    if (extensions === null || fields.left > 0) return malformed("extensions length");
    const seen = new Set<number>();
    while (extensions.left > 0) {
      const type = extensions.u16();
      const data = extensions.sub(extensions.u16());
      if (type === null || data === null) return malformed("extension");
      if (seen.has(type)) return malformed(`extension ${type} repeated`);
      seen.add(type);
      if (type === EXTENSION_SUPPORTED_VERSIONS) {
        const list = data.sub(data.u8());
        if (list === null || data.left > 0 || list.left < 2 || list.left % 2 !== 0) {
          return malformed("supported_versions");
        }
        versions = [];
        while (list.left > 0) versions.push(list.u16()!);
      }
    }
  }
  const tls13 = versions !== null && versions.includes(TLS13);
  const tls12 = versions !== null ? versions.includes(TLS12) : legacyVersion >= TLS12;
  if (tls13 && suites.some((suite) => TLS13_SUITES.has(suite))) {
    return { kind: "accept", version: "TLSv1.3" };
  }
  if (tls12 && suites.some((suite) => TLS12_SUITES.has(suite))) {
    return { kind: "accept", version: "TLSv1.2" };
  }
  if (!tls13 && !tls12) {
    const offered = versionName(versions === null ? legacyVersion : Math.max(...versions));
    return refuse(TlsAlert.protocolVersion, `client offers at most ${offered} (TLS 1.2 needed)`);
  }
  return refuse(
    TlsAlert.handshakeFailure,
    `no cipher suite in common (only TLS 1.2 ECDHE with AES-GCM or ChaCha20-Poly1305, and TLS 1.3)`,
  );
}

/** `SSLv3`, `TLSv1.1`, or `0x7f17` for what has no name. */
function versionName(version: number): string {
  if (version === 0x0300) return "SSLv3";
  if (version >= 0x0301 && version <= 0x0304) return `TLSv1.${version - 0x0301}`;
  return `0x${version.toString(16).padStart(4, "0")}`;
}
