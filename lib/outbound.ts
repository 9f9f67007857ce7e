/**
 * One connection's writer: a bounded queue of outbound bytes with exactly
 * one write in flight. Lines queued while a write is in flight (or in the
 * same tick) are coalesced into one write, so a broadcast to a thousand
 * members costs each member one syscall per batch, not per line.
 *
 * The queue is bounded in bytes: {@linkcode Outbound.enqueue} refuses
 * anything that would take it past `maxQueueBytes` (counting the write in
 * flight), and the caller decides what to do with a client that cannot keep
 * up. Nothing here waits on the reader, so a stalled peer only ever fills
 * its own queue.
 *
 * @module
 */

import { DEFAULT_MAX_QUEUE_BYTES, MAX_COALESCED_WRITE_BYTES } from "./constants.ts";

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
  #chunks: Uint8Array[] = [];
  #queuedBytes = 0;
  #writing = false;
  #scheduled = false;
  #failed = false;
  #drainWaiters: (() => void)[] | null = null; // allocated when someone waits

  constructor(writer: ByteWriter, options: OutboundOptions = {}) {
    this.#writer = writer;
    this.maxQueueBytes = options.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES;
    this.#onError = options.onError;
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
   * Queues `bytes` for writing. Returns false, queuing nothing, when that
   * would take the queue past `maxQueueBytes` or after a failed write.
   * `bytes` must not be changed afterwards (it may be shared by many queues).
   */
  enqueue(bytes: Uint8Array): boolean {
    if (this.#failed) return false;
    if (this.#queuedBytes + bytes.length > this.maxQueueBytes) return false;
    this.#chunks.push(bytes);
    this.#queuedBytes += bytes.length;
    if (!this.#writing && !this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#run());
    }
    return true;
  }

  /**
   * Drops every queued chunk not yet in flight and queues `bytes` instead
   * (if it fits); used to give a client that is being dropped a last word.
   */
  replaceQueued(bytes: Uint8Array): void {
    for (const chunk of this.#chunks) this.#queuedBytes -= chunk.length;
    this.#chunks = [];
    this.enqueue(bytes);
  }

  /** Resolves once nothing is queued or in flight (or a write failed). */
  drained(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => (this.#drainWaiters ??= []).push(resolve));
  }

  #isIdle(): boolean {
    return this.#failed || (!this.#writing && this.#chunks.length === 0);
  }

  async #run(): Promise<void> {
    this.#scheduled = false;
    if (this.#writing) return;
    this.#writing = true;
    try {
      while (this.#chunks.length > 0 && !this.#failed) {
        const batch = this.#takeBatch();
        let offset = 0;
        while (offset < batch.length) {
          offset += await this.#writer.write(
            offset === 0 ? batch : batch.subarray(offset),
          );
        }
        this.#queuedBytes -= batch.length;
      }
    } catch (error) {
      this.#failed = true;
      this.#chunks = [];
      this.#queuedBytes = 0;
      this.#onError?.(error);
    } finally {
      this.#writing = false;
    }
    const waiters = this.#drainWaiters;
    this.#drainWaiters = null;
    for (const resolve of waiters ?? []) resolve();
  }

  /** Takes queued chunks for one write, joining several into one buffer. */
  #takeBatch(): Uint8Array {
    const chunks = this.#chunks;
    if (chunks.length === 1 || chunks[0].length >= MAX_COALESCED_WRITE_BYTES) {
      return chunks.shift()!;
    }
    let count = 0;
    let size = 0;
    while (
      count < chunks.length &&
      size + chunks[count].length <= MAX_COALESCED_WRITE_BYTES
    ) {
      size += chunks[count].length;
      count++;
    }
    const batch = new Uint8Array(size);
    let offset = 0;
    for (let i = 0; i < count; i++) {
      batch.set(chunks[i], offset);
      offset += chunks[i].length;
    }
    this.#chunks = count === chunks.length ? [] : chunks.slice(count);
    return batch;
  }
}
