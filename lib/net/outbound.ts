/**
 * One connection's writer: a bounded queue of outbound bytes with exactly
 * one write in flight. Lines (or WebSocket frames, header and payload)
 * queued while a write is in flight (or in the same tick) are copied into
 * one buffer and go out as one write, so a broadcast to a thousand members
 * costs each member one syscall per batch, not per line, and queued memory
 * is the queued bytes themselves. Once a write is complete its buffer (up
 * to 64 KiB) is reused for the next batch: a busy connection allocates no
 * buffer per write; once the queue is empty, a buffer over 4 KiB is let go.
 *
 * The queue is bounded in bytes: {@linkcode Outbound.enqueue} refuses
 * anything that would take it past `maxQueueBytes` (counting the write in
 * flight), and the caller decides what to do with a client that cannot keep
 * up. Nothing here waits on the reader, so a stalled peer only ever fills
 * its own queue.
 *
 * @module
 */

import { DEFAULT_MAX_QUEUE_BYTES } from "../support/constants.ts";

/** What an {@linkcode Outbound} writes to (a `Deno.Conn` fits). */
export interface ByteWriter {
  write(bytes: Uint8Array): Promise<number>;
}

/** Options of {@linkcode Outbound}. */
export interface OutboundOptions {
  /**
   * Most bytes queued or in flight at once.
   *
   * @default {1048576}
   */
  maxQueueBytes?: number;
  /** Called once when a write fails; the queue then refuses everything. */
  onError?: (error: unknown) => void;
  /**
   * Called before each batch is taken, while a write is about to start: the
   * last chance to queue something held aside (a WebSocket's one waiting
   * pong). @default {none}
   */
  beforeBatch?: () => void;
}

/**
 * A bounded, coalescing, single-writer outbound queue.
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { Outbound } from "./outbound.ts";
 *
 * const writes: string[] = [];
 * const writer = {
 *   write: (bytes: Uint8Array) => {
 *     writes.push(new TextDecoder().decode(bytes));
 *     return Promise.resolve(bytes.length);
 *   },
 * };
 * const outbound = new Outbound(writer, { maxQueueBytes: 1024 });
 * outbound.enqueue(new TextEncoder().encode("a\n"));
 * outbound.enqueue(new TextEncoder().encode("b\n"));
 * await outbound.drained();
 * deepEqual(writes, ["a\nb\n"]); // one write for both lines
 * ```
 */
export class Outbound {
  readonly maxQueueBytes: number;
  #writer: ByteWriter;
  #onError: ((error: unknown) => void) | undefined;
  /** Queued bytes not yet in flight, copied into one growable buffer. */
  #pending: Uint8Array | null = null;
  #pendingLength = 0;
  #queuedBytes = 0;
  #writing = false;
  #scheduled = false;
  #failed = false;
  #drainWaiters: (() => void)[] | null = null; // allocated when someone waits
  /** The buffer of the last write, reused for the next batch when small. */
  #spare: Uint8Array | null = null;
  #beforeBatch: (() => void) | undefined;
  /** The buffer of the write in flight, its length, and how much of it is written. */
  #inFlight: Uint8Array | null = null;
  #inFlightLength = 0;
  #inFlightWritten = 0;
  /** `#run`, bound once (no closure per scheduled write). */
  readonly #runSoon = () => this.#run();

  constructor(writer: ByteWriter, options: OutboundOptions = {}) {
    this.#writer = writer;
    this.maxQueueBytes = options.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES;
    this.#onError = options.onError;
    this.#beforeBatch = options.beforeBatch;
  }

  /** Bytes queued plus bytes in flight. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** True once a write has failed; nothing more will be written. */
  get failed(): boolean {
    return this.#failed;
  }

  /**
   * Queues a copy of `bytes` for writing, after `prefix` when given (a
   * WebSocket frame's header: the frame goes straight into the buffer).
   * Returns false, queuing nothing, when that would take the queue past
   * `maxQueueBytes` or after a failed write. Copying into one buffer keeps
   * memory equal to the bytes queued (thousands of small lines cost no more
   * than their text).
   */
  enqueue(bytes: Uint8Array, prefix?: Uint8Array): boolean {
    if (this.#failed) return false;
    const size = bytes.length + (prefix?.length ?? 0);
    if (this.#queuedBytes + size > this.maxQueueBytes) return false;
    const needed = this.#pendingLength + size;
    if (this.#pending === null || this.#pending.length < needed) this.#grow(needed);
    const pending = this.#pending!;
    if (prefix !== undefined) {
      pending.set(prefix, this.#pendingLength);
      pending.set(bytes, this.#pendingLength + prefix.length);
    } else pending.set(bytes, this.#pendingLength);
    this.#pendingLength = needed;
    this.#queuedBytes += size;
    if (!this.#writing && !this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#runSoon);
    }
    return true;
  }

  /** Makes the pending buffer hold `needed` bytes (a spare one is reused when big enough). */
  #grow(needed: number): void {
    const spare = this.#spare;
    if (this.#pending === null && spare !== null && spare.length >= needed) {
      this.#spare = null;
      this.#pending = spare;
      return;
    }
    // A batch like the last one fits at once: no doubling from 256 bytes each time.
    let size = Math.max(MIN_BUFFER_BYTES, (this.#pending?.length ?? spare?.length ?? 0) * 2);
    while (size < needed) size *= 2;
    const grown = new Uint8Array(Math.min(size, Math.max(needed, this.maxQueueBytes)));
    if (this.#pending !== null) grown.set(this.#pending.subarray(0, this.#pendingLength));
    this.#pending = grown;
  }

  /**
   * Queues `bytes` even past `maxQueueBytes` (a WebSocket close frame, at
   * most 127 bytes, that must follow what is queued); false after a failed
   * write.
   */
  enqueueOver(bytes: Uint8Array): boolean {
    if (this.#failed) return false;
    const bound = this.#queuedBytes + bytes.length;
    if (bound <= this.maxQueueBytes) return this.enqueue(bytes);
    const needed = this.#pendingLength + bytes.length;
    if (this.#pending === null || this.#pending.length < needed) {
      const grown = new Uint8Array(needed);
      if (this.#pending !== null) grown.set(this.#pending.subarray(0, this.#pendingLength));
      this.#pending = grown;
    }
    this.#pending.set(bytes, this.#pendingLength);
    this.#pendingLength = needed;
    this.#queuedBytes += bytes.length;
    if (!this.#writing && !this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#runSoon);
    }
    return true;
  }

  /**
   * Drops every queued byte not yet in flight and queues `bytes` instead
   * (if it fits); used to give a client that is being dropped a last word.
   */
  replaceQueued(bytes: Uint8Array): void {
    this.#queuedBytes -= this.#pendingLength;
    this.#pending = null;
    this.#pendingLength = 0;
    this.enqueue(bytes);
  }

  /** Resolves once nothing is queued or in flight (or a write failed). */
  drained(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => (this.#drainWaiters ??= []).push(resolve));
  }

  #isIdle(): boolean {
    return this.#failed ||
      (!this.#writing && this.#pendingLength === 0);
  }

  #fail(error: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#pending = null;
    this.#pendingLength = 0;
    this.#queuedBytes = 0;
    this.#onError?.(error);
  }

  #wakeIfIdle(): void {
    if (!this.#isIdle()) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = null;
    for (const resolve of waiters ?? []) resolve();
  }

  /**
   * Takes everything queued so far as one write; what is queued meanwhile
   * collects in the other buffer for the next one. Settled writes come
   * back to `#written` (bound once: no promise chain or closure per write).
   */
  #run(): void {
    this.#scheduled = false;
    if (this.#writing) return;
    this.#writing = true;
    this.#next();
  }

  #next(): void {
    try {
      if (!this.#failed) this.#beforeBatch?.();
    } catch (error) {
      this.#fail(error);
    }
    if (this.#failed || this.#pendingLength === 0) {
      this.#writing = false;
      // Idle: a connection keeps at most a small buffer.
      if (this.#spare !== null && this.#spare.length > MAX_IDLE_SPARE_BYTES) this.#spare = null;
      return this.#wakeIfIdle();
    }
    const buffer = this.#pending!;
    this.#inFlight = buffer;
    this.#inFlightLength = this.#pendingLength;
    this.#inFlightWritten = 0;
    this.#pending = null;
    this.#pendingLength = 0;
    this.#write(buffer.subarray(0, this.#inFlightLength));
  }

  #write(bytes: Uint8Array): void {
    let written: Promise<number>;
    try {
      written = this.#writer.write(bytes);
    } catch (error) {
      return this.#writeFailed(error);
    }
    written.then(this.#written, this.#writeFailed);
  }

  readonly #written = (n: number): void => {
    const buffer = this.#inFlight!;
    this.#inFlightWritten += n;
    if (this.#inFlightWritten < this.#inFlightLength) {
      return this.#write(buffer.subarray(this.#inFlightWritten, this.#inFlightLength));
    }
    this.#queuedBytes -= this.#inFlightLength;
    this.#inFlight = null;
    if (buffer.length <= MAX_SPARE_BYTES) this.#spare = buffer;
    else this.#spare = null;
    this.#next();
  };

  readonly #writeFailed = (error: unknown): void => {
    this.#inFlight = null;
    this.#fail(error);
    this.#writing = false;
    this.#wakeIfIdle();
  };
}

/**
 * Largest buffer kept for the next batch while writes follow one another
 * (64 KiB): a busy connection allocates no buffer per write, even when its
 * batches are large (a fast room, a client catching up).
 */
const MAX_SPARE_BYTES = 64 * 1024;

/** Largest buffer an idle connection keeps (4 KiB): once its queue is empty, a bigger one goes. */
const MAX_IDLE_SPARE_BYTES = 4096;

/** Smallest queue buffer (a welcome, a line or two). */
const MIN_BUFFER_BYTES = 256;
