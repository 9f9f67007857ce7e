/**
 * Streaming text transforms for the echo server. Pure: bytes in, bytes out.
 *
 * @module
 */

/** Turns one chunk of a byte stream into the bytes to send back. */
export type ChunkTransform = (chunk: Uint8Array) => Uint8Array;

/**
 * Upper-cases UTF-8 text arriving in arbitrary chunks. A character split
 * across chunks is held back until it is whole, so it is never mangled;
 * invalid UTF-8 comes back as U+FFFD. Call with an empty chunk and
 * `final = true` at end of stream to flush a dangling partial character.
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { createUpperCaser } from "./text_transform.ts";
 *
 * const upper = createUpperCaser();
 * const bytes = new TextEncoder().encode("привет");
 * const out = [upper(bytes.subarray(0, 3)), upper(bytes.subarray(3))];
 * deepEqual(out.map((b) => new TextDecoder().decode(b)).join(""), "ПРИВЕТ");
 * ```
 */
export function createUpperCaser(): (chunk: Uint8Array, final?: boolean) => Uint8Array {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  return (chunk, final = false) =>
    encoder.encode(decoder.decode(chunk, { stream: !final }).toUpperCase());
}
