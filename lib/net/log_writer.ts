/**
 * Where the programs' log lines go: stderr, written asynchronously through
 * a bounded queue, so logging never blocks serving. With stderr on a pipe
 * that nobody reads (a service manager misconfigured), lines wait in the
 * queue; once it is full they are dropped and counted, and the count is
 * logged as soon as a line fits again.
 *
 * @module
 */

import { DEFAULT_LOG_QUEUE_BYTES } from "../support/constants.ts";
import { settleWithin } from "../support/deadline.ts";
import { type ByteWriter, Outbound } from "./outbound.ts";

const encoder = new TextEncoder();

/** Options of {@linkcode LogWriter}. */
export interface LogWriterOptions {
  /** Where lines go. @default {Deno.stderr} */
  output?: ByteWriter;
  /** Bytes of log lines waiting at most. @default {1048576} */
  maxQueueBytes?: number;
}

/** An asynchronous, bounded, line-oriented writer for logs. */
export class LogWriter {
  readonly #outbound: Outbound;
  #dropped = 0;

  constructor(options: LogWriterOptions = {}) {
    this.#outbound = new Outbound(options.output ?? Deno.stderr, {
      maxQueueBytes: options.maxQueueBytes ?? DEFAULT_LOG_QUEUE_BYTES,
    });
  }

  /** Lines dropped so far because the queue was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Queues one line (a line ending is added); never blocks. */
  write = (line: string): void => {
    if (this.#dropped > 0) {
      const note = `${new Date().toISOString()} warning dropped=${this.#dropped} ` +
        `reason="log output was not being read; lines were dropped"\n`;
      if (!this.#outbound.enqueue(encoder.encode(note))) {
        this.#dropped++;
        return;
      }
      this.#dropped = 0;
    }
    if (!this.#outbound.enqueue(encoder.encode(line + "\n"))) this.#dropped++;
  };

  /** Waits until what is queued is written, for at most `ms`. */
  async flush(ms: number): Promise<void> {
    await settleWithin(this.#outbound.drained(), ms, undefined);
  }
}
