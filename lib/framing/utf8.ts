/**
 * Decoding a received line as UTF-8 without letting invalid input grow.
 * Pure.
 *
 * The WHATWG decoder turns every invalid byte into U+FFFD, three bytes in
 * UTF-8: a line of 4,000 bytes of 0xFF would become 12,000 bytes when
 * relayed. {@linkcode decodeLine} replaces each *run* of invalid bytes with
 * a single U+FFFD instead, so invalid input never gets larger than it came.
 *
 * @module
 */

const decoder = new TextDecoder(); // not fatal
const REPLACEMENT = "\ufffd";

/**
 * Decodes `bytes` as UTF-8, replacing each run of invalid bytes with one
 * U+FFFD (a U+FFFD that was sent as valid UTF-8 is kept as is).
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { decodeLine } from "./utf8.ts";
 *
 * equal(decodeLine(new Uint8Array([0x68, 0xff, 0xfe, 0xff, 0x69])), "h\ufffdi");
 * equal(decodeLine(new TextEncoder().encode("héllo")), "héllo");
 * ```
 */
export function decodeLine(bytes: Uint8Array): string {
  const text = decoder.decode(bytes);
  if (!text.includes(REPLACEMENT)) return text; // valid (the usual case)
  let out = "";
  let start = 0; // start of the current valid stretch
  let i = 0;
  while (i < bytes.length) {
    const length = validSequenceLength(bytes, i);
    if (length > 0) {
      i += length;
      continue;
    }
    if (i > start) out += decoder.decode(bytes.subarray(start, i));
    out += REPLACEMENT;
    do i++; while (i < bytes.length && validSequenceLength(bytes, i) === 0);
    start = i;
  }
  if (start < bytes.length) out += decoder.decode(bytes.subarray(start));
  return out;
}

/**
 * Length (1 to 4) of the well-formed UTF-8 sequence at `i`, or 0 when the
 * byte there does not start one (Unicode Table 3-7: no overlongs, no
 * surrogates, nothing above U+10FFFF).
 */
export function validSequenceLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i];
  if (b0 < 0x80) return 1;
  if (b0 < 0xc2 || b0 > 0xf4) return 0;
  const continuation = (k: number, low = 0x80, high = 0xbf) =>
    i + k < bytes.length && bytes[i + k] >= low && bytes[i + k] <= high;
  if (b0 < 0xe0) return continuation(1) ? 2 : 0;
  if (b0 < 0xf0) {
    const low = b0 === 0xe0 ? 0xa0 : 0x80;
    const high = b0 === 0xed ? 0x9f : 0xbf;
    return continuation(1, low, high) && continuation(2) ? 3 : 0;
  }
  const low = b0 === 0xf0 ? 0x90 : 0x80;
  const high = b0 === 0xf4 ? 0x8f : 0xbf;
  return continuation(1, low, high) && continuation(2) && continuation(3) ? 4 : 0;
}

/** Bytes of `text` in UTF-8 (lone surrogates count as U+FFFD, 3 bytes). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}
