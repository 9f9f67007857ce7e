/**
 * Hand-built TLS ClientHellos for the tests: good ones, old ones, and
 * broken ones, as raw bytes (RFC 8446 §4.1.2).
 *
 * @module
 */

/** What a built hello offers, and what is wrong with it. */
export interface HelloSpec {
  /** @default {0x0303} */
  legacyVersion?: number;
  /** `supported_versions`, or null for none. @default {[0x0304, 0x0303]} */
  versions?: number[] | null;
  /** Raw data of `supported_versions` (overrides `versions`). @default {none} */
  versionsRaw?: number[];
  /** @default {[0x1301, 0xc02b, 0xc02f]} */
  suites?: number[];
  /** One stray byte at the end of the suites. @default {false} */
  oddSuites?: boolean;
  /** @default {32} */
  sessionIdLength?: number;
  /** @default {[0]} */
  compression?: number[];
  /** A padding extension of this many bytes. @default {none} */
  padding?: number;
  /** `supported_groups` and `signature_algorithms` (what a TLS 1.2 server needs). @default {true} */
  groups?: boolean;
  /** The last extension appears twice. @default {false} */
  repeatExtension?: boolean;
  /** The last extension says it is longer than it is. @default {false} */
  extensionsOverrun?: boolean;
  /** Bytes after the extensions. @default {0} */
  trailing?: number;
}

const u16 = (value: number) => [value >> 8, value & 0xff];
const u24 = (value: number) => [value >> 16, (value >> 8) & 0xff, value & 0xff];

function extension(type: number, data: number[]): number[] {
  return [...u16(type), ...u16(data.length), ...data];
}

/** A ClientHello handshake message (4-byte header included). */
export function clientHello(spec: HelloSpec = {}): Uint8Array {
  const suites = (spec.suites ?? [0x1301, 0xc02b, 0xc02f]).flatMap(u16);
  if (spec.oddSuites) suites.push(0);
  const sessionId = new Array(spec.sessionIdLength ?? 32).fill(7);
  const compression = spec.compression ?? [0];
  const extensions: number[] = [];
  if (spec.groups ?? true) {
    extensions.push(...extension(10, [0, 4, ...u16(0x001d), ...u16(0x0017)]));
    extensions.push(...extension(13, [0, 6, 4, 3, 8, 4, 4, 1]));
  }
  const versions = spec.versions === undefined ? [0x0304, 0x0303] : spec.versions;
  if (spec.versionsRaw !== undefined) extensions.push(...extension(43, spec.versionsRaw));
  else if (versions !== null) {
    extensions.push(...extension(43, [versions.length * 2, ...versions.flatMap(u16)]));
  }
  if (spec.padding !== undefined) {
    extensions.push(...extension(21, new Array(spec.padding).fill(0)));
  }
  if (spec.repeatExtension) extensions.push(...extension(21, [0, 0]), ...extension(21, [0, 0]));
  if (spec.extensionsOverrun) extensions.push(...u16(21), ...u16(10), 0, 0);
  const body = [
    ...u16(spec.legacyVersion ?? 0x0303),
    ...new Array(32).fill(1),
    sessionId.length,
    ...sessionId,
    ...u16(suites.length),
    ...suites,
    compression.length,
    ...compression,
    ...u16(extensions.length),
    ...extensions,
    ...new Array(spec.trailing ?? 0).fill(0),
  ];
  return new Uint8Array([1, ...u24(body.length), ...body]);
}

/** `message` in handshake records of at most `size` bytes each. */
export function inRecords(message: Uint8Array, size = 16384, recordVersion = 0x0301): Uint8Array {
  const out: number[] = [];
  for (let at = 0; at < message.length; at += size) {
    const part = message.subarray(at, at + size);
    out.push(22, ...u16(recordVersion), ...u16(part.length), ...part);
  }
  return new Uint8Array(out);
}

/** An SSL 2.0-style ClientHello offering TLS 1.0 (what very old clients sent first). */
export function sslv2Hello(): Uint8Array {
  const specs = [0x00, 0x00, 0x2f, 0x01, 0x00, 0x80];
  const challenge = new Array(16).fill(9);
  const body = [
    1,
    3,
    1,
    ...u16(specs.length),
    0,
    0,
    ...u16(challenge.length),
    ...specs,
    ...challenge,
  ];
  return new Uint8Array([0x80 | (body.length >> 8), body.length & 0xff, ...body]);
}
