/**
 * The small pieces of RFC 6455 framing that Parley does itself; the strict
 * parsing of what clients send stays with npm `ws`'s `Receiver`.
 *
 * - {@linkcode frameHeader}: the header of a server frame (unmasked, FIN
 *   set, no extension), written straight into an outbound buffer in front
 *   of its payload, byte for byte what `ws`'s `Sender.frame()` makes;
 *   {@linkcode textFrames}: lines as text frames, built once per event.
 * - {@linkcode FrameScanner}: walks the frame headers of what a client
 *   sends, so every frame is charged to the input budgets (a ping, a pong,
 *   an empty message or a zero-length continuation carries no message
 *   bytes, yet costs the server work), and counts the fragments of the
 *   message in progress (each costs `ws` an object until the message ends).
 *
 * Pure: no I/O.
 *
 * @module
 */

/** Opcodes the server sends (RFC 6455 5.2). */
export const OPCODE = {
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

/** Bytes of the header of a server frame with `length` payload bytes (2, 4 or 10). */
export function frameHeaderLength(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10;
}

/**
 * Writes the header of a final, unmasked frame into `target` at `offset`;
 * returns its length.
 *
 * @example
 * ```ts
 * import { deepEqual, equal } from "node:assert/strict";
 * import { frameHeader, OPCODE } from "./ws_frame.ts";
 *
 * const target = new Uint8Array(10);
 * equal(frameHeader(target, 0, OPCODE.TEXT, 5), 2);
 * deepEqual([...target.subarray(0, 2)], [0x81, 5]);
 * equal(frameHeader(target, 0, OPCODE.BINARY, 300), 4);
 * deepEqual([...target.subarray(0, 4)], [0x82, 126, 1, 44]);
 * ```
 */
export function frameHeader(
  target: Uint8Array,
  offset: number,
  opcode: number,
  length: number,
): number {
  target[offset] = 0x80 | opcode;
  if (length < 126) {
    target[offset + 1] = length;
    return 2;
  }
  if (length < 65536) {
    target[offset + 1] = 126;
    target[offset + 2] = length >>> 8;
    target[offset + 3] = length & 0xff;
    return 4;
  }
  target[offset + 1] = 127;
  const high = Math.floor(length / 0x1_0000_0000);
  target[offset + 2] = 0;
  target[offset + 3] = 0;
  target[offset + 4] = (high >>> 8) & 0xff;
  target[offset + 5] = high & 0xff;
  target[offset + 6] = (length >>> 24) & 0xff;
  target[offset + 7] = (length >>> 16) & 0xff;
  target[offset + 8] = (length >>> 8) & 0xff;
  target[offset + 9] = length & 0xff;
  return 10;
}

/**
 * LF-terminated lines as server text frames, one frame per line (without
 * its LF), header and payload together in one buffer: what a broadcast
 * builds once and copies into every member's queue. A last line without LF
 * is a frame too.
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { textFrames } from "./ws_frame.ts";
 *
 * const frames = textFrames(new TextEncoder().encode("hi\nyo\n"));
 * deepEqual([...frames], [0x81, 2, 0x68, 0x69, 0x81, 2, 0x79, 0x6f]);
 * ```
 */
export function textFrames(lines: Uint8Array): Uint8Array {
  let size = 0;
  for (let start = 0; start < lines.length;) {
    let end = lines.indexOf(LF, start);
    if (end === -1) end = lines.length;
    size += frameHeaderLength(end - start) + end - start;
    start = end + 1;
  }
  const frames = new Uint8Array(size);
  let at = 0;
  for (let start = 0; start < lines.length;) {
    let end = lines.indexOf(LF, start);
    if (end === -1) end = lines.length;
    at += frameHeader(frames, at, OPCODE.TEXT, end - start);
    frames.set(lines.subarray(start, end), at);
    at += end - start;
    start = end + 1;
  }
  return frames;
}

const LF = 0x0a;

/** What {@linkcode FrameScanner.push} found in a chunk. */
export interface ScanResult {
  /** Frame headers completed in the chunk. */
  frames: number;
  /** Most fragments (data frames) of one message seen so far in the chunk. */
  fragments: number;
}

/**
 * Follows frame boundaries in a client's byte stream, whatever the chunk
 * boundaries. It does not validate: `ws` does, on the same bytes; a stream
 * it cannot follow (a length over 2^53) is left to `ws`'s error.
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { FrameScanner } from "./ws_frame.ts";
 *
 * const scanner = new FrameScanner();
 * // A masked ping with no payload, then the first 3 bytes of another frame.
 * const result = scanner.push(new Uint8Array([0x89, 0x80, 1, 2, 3, 4, 0x01, 0x81, 9]));
 * deepEqual(result, { frames: 1, fragments: 0 });
 * ```
 */
export class FrameScanner {
  /** Header bytes gathered of the frame being read (0 between frames). */
  #header = new Uint8Array(14);
  #headerLength = 0;
  /** Payload bytes still to skip. */
  #skip = 0;
  /** Data frames of the message in progress. */
  #fragments = 0;

  /** Scans `chunk`; see {@linkcode ScanResult}. */
  push(chunk: Uint8Array): ScanResult {
    let frames = 0;
    let fragments = this.#fragments;
    let i = 0;
    const end = chunk.length;
    while (i < end) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, end - i);
        this.#skip -= n;
        i += n;
        continue;
      }
      const header = this.#header;
      header[this.#headerLength++] = chunk[i++];
      if (this.#headerLength < 2) continue;
      const code = header[1] & 0x7f;
      const needed = 2 + (code === 126 ? 2 : code === 127 ? 8 : 0) +
        ((header[1] & 0x80) !== 0 ? 4 : 0);
      if (this.#headerLength < needed) continue;
      let length = code;
      if (code === 126) length = (header[2] << 8) | header[3];
      else if (code === 127) {
        length = 0;
        for (let k = 2; k < 10; k++) length = length * 256 + header[k];
      }
      this.#headerLength = 0;
      this.#skip = length;
      frames++;
      const opcode = header[0] & 0x0f;
      if (opcode < 8) {
        // A data frame: a fragment of the message in progress; FIN ends it.
        this.#fragments++;
        if (this.#fragments > fragments) fragments = this.#fragments;
        if ((header[0] & 0x80) !== 0) this.#fragments = 0;
      }
    }
    return { frames, fragments };
  }
}
