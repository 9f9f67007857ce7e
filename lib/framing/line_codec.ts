/**
 * Line framing with a byte cap: bytes in, lines out. Pure (no `Deno.*`).
 *
 * TCP has no message boundaries, so a line may arrive split over any number
 * of reads, even inside a multi-byte UTF-8 character. {@linkcode LineDecoder}
 * keeps the unfinished tail between pushes and hands out only whole lines,
 * as bytes, so decoding to text happens once per line and a split character
 * is never mangled.
 *
 * Line endings: LF, CRLF, a lone CR, and telnet's CR NUL all end a line and
 * are never part of it (the CR/LF pair may itself be split across pushes).
 *
 * Over-long lines: the decoder never holds more than `maxLineBytes` bytes.
 * When a line grows past the cap, `sink.overlong()` is called once, the bytes
 * seen so far are dropped and the rest of that line is skipped up to its
 * ending; the next line is decoded normally.
 *
 * @module
 */

import { DEFAULT_MAX_LINE_BYTES } from "../support/constants.ts";
import { checkNumber } from "../support/options.ts";

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;

/** Receives what a {@linkcode LineDecoder} finds. */
export interface LineSink {
  /**
   * A complete line without its ending. `bytes` may be a view into the
   * pushed chunk or into the decoder's buffer: it is valid only during the
   * call, so decode or copy it before returning.
   */
  line(bytes: Uint8Array): void;
  /** A line went past the cap; it is being skipped up to its ending. */
  overlong(): void;
}

/** Options of {@linkcode LineDecoder}. */
export interface LineDecoderOptions {
  /**
   * Longest accepted line in bytes, its ending excluded. A line of exactly
   * this many bytes is accepted; one byte more is over-long.
   *
   * @default {4096}
   */
  maxLineBytes?: number;
}

/** Size the pending buffer starts at when a line is split across pushes. */
const INITIAL_PENDING_BYTES = 256;
/** A pending buffer grown past this is released after its line is done. */
const KEEP_PENDING_BYTES = 1024;

/**
 * Splits a byte stream into lines, holding at most `maxLineBytes` bytes.
 *
 * @example Feeding chunks that split a line and a character
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { LineDecoder } from "./line_codec.ts";
 *
 * const lines: string[] = [];
 * const decoder = new LineDecoder({ maxLineBytes: 16 });
 * const sink = {
 *   line: (bytes: Uint8Array) => lines.push(new TextDecoder().decode(bytes)),
 *   overlong: () => lines.push("(too long)"),
 * };
 * const bytes = new TextEncoder().encode("héllo\r\nworld\n");
 * decoder.push(bytes.subarray(0, 2), sink); // ends inside "é"
 * decoder.push(bytes.subarray(2), sink);
 * deepEqual(lines, ["héllo", "world"]);
 * ```
 */
export class LineDecoder {
  readonly maxLineBytes: number;
  #pending: Uint8Array | null = null;
  #pendingLength = 0;
  #skipping = false;
  #afterCR = false;

  /** Creates a decoder; throws `RangeError` for a cap below 1. */
  constructor(options: LineDecoderOptions = {}) {
    this.maxLineBytes = checkNumber(
      "Cannot create LineDecoder",
      "maxLineBytes",
      options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
      { min: 1, integer: true },
    );
  }

  /** Bytes of an unfinished line currently held (never above the cap). */
  get pendingBytes(): number {
    return this.#pendingLength;
  }

  /** Decodes `chunk`, calling `sink` for each line or over-long line found. */
  push(chunk: Uint8Array, sink: LineSink): void {
    const length = chunk.length;
    let start = 0;
    if (this.#afterCR && length > 0) {
      this.#afterCR = false;
      if (chunk[0] === LF || chunk[0] === NUL) start = 1;
    }
    let nextLF = chunk.indexOf(LF, start);
    let nextCR = chunk.indexOf(CR, start);
    while (nextLF !== -1 || nextCR !== -1) {
      let end: number;
      let after: number;
      if (nextCR === -1 || (nextLF !== -1 && nextLF < nextCR)) {
        end = nextLF;
        after = end + 1;
      } else {
        end = nextCR;
        after = end + 1;
        if (after < length) {
          if (chunk[after] === LF || chunk[after] === NUL) after++;
        } else {
          this.#afterCR = true;
        }
      }
      this.#finishLine(chunk.subarray(start, end), sink);
      start = after;
      if (nextLF !== -1 && nextLF < start) nextLF = chunk.indexOf(LF, start);
      if (nextCR !== -1 && nextCR < start) nextCR = chunk.indexOf(CR, start);
    }
    if (start < length) this.#keep(chunk.subarray(start), sink);
  }

  /**
   * Ends the stream: an unfinished last line (no ending) is delivered as a
   * line. The decoder is then empty and may be reused.
   */
  end(sink: LineSink): void {
    if (this.#pendingLength > 0 && !this.#skipping) {
      const line = this.#pending!.subarray(0, this.#pendingLength);
      this.#resetPending();
      sink.line(line);
    }
    this.#resetPending();
    this.#skipping = false;
    this.#afterCR = false;
  }

  #finishLine(segment: Uint8Array, sink: LineSink): void {
    if (this.#skipping) {
      this.#skipping = false;
      return;
    }
    if (this.#pendingLength === 0) {
      if (segment.length > this.maxLineBytes) sink.overlong();
      else sink.line(segment);
      return;
    }
    const total = this.#pendingLength + segment.length;
    if (total > this.maxLineBytes) {
      this.#resetPending();
      sink.overlong();
      return;
    }
    this.#append(segment);
    const line = this.#pending!.subarray(0, this.#pendingLength);
    this.#pendingLength = 0;
    sink.line(line);
    if (this.#pending !== null && this.#pending.length > KEEP_PENDING_BYTES) {
      this.#pending = null;
    }
  }

  #keep(tail: Uint8Array, sink: LineSink): void {
    if (this.#skipping) return;
    if (this.#pendingLength + tail.length > this.maxLineBytes) {
      this.#resetPending();
      this.#skipping = true;
      sink.overlong();
      return;
    }
    this.#append(tail);
  }

  #append(bytes: Uint8Array): void {
    const needed = this.#pendingLength + bytes.length;
    if (this.#pending === null || this.#pending.length < needed) {
      let size = Math.max(this.#pending?.length ?? 0, INITIAL_PENDING_BYTES);
      while (size < needed) size *= 2;
      const grown = new Uint8Array(Math.min(size, this.maxLineBytes));
      if (this.#pending !== null) {
        grown.set(this.#pending.subarray(0, this.#pendingLength));
      }
      this.#pending = grown;
    }
    this.#pending.set(bytes, this.#pendingLength);
    this.#pendingLength = needed;
  }

  #resetPending(): void {
    this.#pendingLength = 0;
    if (this.#pending !== null && this.#pending.length > KEEP_PENDING_BYTES) {
      this.#pending = null;
    }
  }
}

const encoder = new TextEncoder();

/** Encodes `text` plus a LF line ending as UTF-8 bytes. */
export function encodeLine(text: string): Uint8Array {
  return encoder.encode(text + "\n");
}
