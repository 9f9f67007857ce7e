/**
 * One connection's writer: a bounded queue of outbound bytes with exactly
 * one write in flight. Lines queued while a write is in flight (or in the
 * same tick) are copied into one buffer and go out as one write, so a
 * broadcast to a thousand members costs each member one syscall per batch,
 * not per line, and queued memory is the queued bytes themselves.
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
import { writeAll } from "./conn.ts";

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
  /** Queued bytes not yet in flight, copied into one growable buffer. */
  #pending: Uint8Array | null = null;
  #pendingLength = 0;
  #queuedBytes = 0;
  #writing = false;
  /** Extra writes started by `flushNow()` while another was in flight. */
  #extraWrites = 0;
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
   * Queues a copy of `bytes` for writing. Returns false, queuing nothing,
   * when that would take the queue past `maxQueueBytes` or after a failed
   * write. Copying into one buffer keeps memory equal to the bytes queued
   * (thousands of small lines cost no more than their text).
   */
  enqueue(bytes: Uint8Array): boolean {
    if (this.#failed) return false;
    if (this.#queuedBytes + bytes.length > this.maxQueueBytes) return false;
    const needed = this.#pendingLength + bytes.length;
    if (this.#pending === null || this.#pending.length < needed) {
      let size = Math.max(MIN_BUFFER_BYTES, (this.#pending?.length ?? 0) * 2);
      while (size < needed) size *= 2;
      const grown = new Uint8Array(Math.min(size, Math.max(needed, this.maxQueueBytes)));
      if (this.#pending !== null) grown.set(this.#pending.subarray(0, this.#pendingLength));
      this.#pending = grown;
    }
    this.#pending.set(bytes, this.#pendingLength);
    this.#pendingLength = needed;
    this.#queuedBytes += bytes.length;
    if (!this.#writing && !this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#run());
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

  /**
   * Writes what is queued now, instead of at the end of the tick, even
   * while another write is in flight. Only for writers whose writes are
   * whole messages kept in order (a WebSocket): a peer's close right behind
   * its last message is answered at once, and nothing can be sent after
   * that, so the replies to that message must already be on their way.
   * The bytes count against `maxQueueBytes` until written, as always.
   */
  flushNow(): void {
    if (this.#failed || this.#pendingLength === 0) return;
    if (!this.#writing) {
      this.#scheduled = false;
      void this.#run();
      return;
    }
    const batch = this.#pending!.subarray(0, this.#pendingLength);
    this.#pending = null;
    this.#pendingLength = 0;
    this.#extraWrites++;
    this.#writer.write(batch).then(
      () => {
        if (!this.#failed) this.#queuedBytes -= batch.length;
        this.#extraWrites--;
        this.#wakeIfIdle();
      },
      (error) => {
        this.#extraWrites--;
        this.#fail(error);
        this.#wakeIfIdle();
      },
    );
  }

  /** Resolves once nothing is queued or in flight (or a write failed). */
  drained(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => (this.#drainWaiters ??= []).push(resolve));
  }

  #isIdle(): boolean {
    return this.#failed ||
      (!this.#writing && this.#extraWrites === 0 && this.#pendingLength === 0);
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

  async #run(): Promise<void> {
    this.#scheduled = false;
    if (this.#writing) return;
    this.#writing = true;
    try {
      while (this.#pendingLength > 0 && !this.#failed) {
        // Everything queued so far goes out in one write; what is queued
        // meanwhile collects in a fresh buffer for the next one.
        const batch = this.#pending!.subarray(0, this.#pendingLength);
        this.#pending = null;
        this.#pendingLength = 0;
        await writeAll(this.#writer, batch);
        this.#queuedBytes -= batch.length;
      }
    } catch (error) {
      this.#fail(error);
    } finally {
      this.#writing = false;
    }
    this.#wakeIfIdle();
  }
}

/** Smallest queue buffer (a welcome, a line or two). */
const MIN_BUFFER_BYTES = 256;
