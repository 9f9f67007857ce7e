import { deepEqual, equal, ok } from "node:assert/strict";
import { Outbound } from "../lib/net/outbound.ts";

/** A writer whose writes complete only when the test says so. */
class HeldWriter {
  readonly writes: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  #release: (() => void)[] = [];
  partial = Infinity;

  write(bytes: Uint8Array): Promise<number> {
    const n = Math.min(bytes.length, this.partial);
    this.writes.push(new TextDecoder().decode(bytes.subarray(0, n)));
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise((resolve) =>
      this.#release.push(() => {
        this.inFlight--;
        resolve(n);
      })
    );
  }

  /** Completes every write in flight; resolves after the writer reacts. */
  async release(): Promise<void> {
    const pending = this.#release.splice(0);
    for (const done of pending) done();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test({
  name: "Outbound coalesces lines queued in one tick into one write",
  permissions: "none",
  async fn() {
    const writer = new HeldWriter();
    const outbound = new Outbound(writer, { maxQueueBytes: 1024 });
    for (const line of ["a\n", "b\n", "c\n"]) ok(outbound.enqueue(bytes(line)));
    await writer.release(); // let the microtask start the write
    deepEqual(writer.writes, ["a\nb\nc\n"]);
    await writer.release();
    await outbound.drained();
    equal(outbound.queuedBytes, 0);
  },
});

Deno.test({
  name: "Outbound keeps one write in flight and batches what arrives meanwhile",
  permissions: "none",
  async fn() {
    const writer = new HeldWriter();
    const outbound = new Outbound(writer, { maxQueueBytes: 1024 });
    outbound.enqueue(bytes("1\n"));
    await writer.release();
    for (const line of ["2\n", "3\n", "4\n"]) outbound.enqueue(bytes(line));
    equal(writer.inFlight, 1);
    await writer.release();
    await writer.release();
    deepEqual(writer.writes, ["1\n", "2\n3\n4\n"]);
    equal(writer.maxInFlight, 1);
  },
});

Deno.test({
  name: "Outbound refuses bytes past maxQueueBytes, counting the write in flight",
  permissions: "none",
  async fn() {
    const writer = new HeldWriter();
    const outbound = new Outbound(writer, { maxQueueBytes: 10 });
    ok(outbound.enqueue(bytes("12345")));
    await writer.release(); // "12345" now in flight, not completed
    ok(outbound.enqueue(bytes("6789")));
    equal(outbound.enqueue(bytes("ab")), false); // 5 + 4 + 2 > 10
    equal(outbound.queuedBytes, 9);
    ok(outbound.enqueue(bytes("a"))); // exactly 10
    await writer.release();
    await writer.release();
    await outbound.drained();
    deepEqual(writer.writes, ["12345", "6789a"]);
  },
});

Deno.test({
  name: "Outbound finishes partial writes in order",
  permissions: "none",
  async fn() {
    const writer = new HeldWriter();
    writer.partial = 3;
    const outbound = new Outbound(writer, { maxQueueBytes: 100 });
    outbound.enqueue(bytes("abcdefgh"));
    for (let i = 0; i < 4; i++) await writer.release();
    deepEqual(writer.writes, ["abc", "def", "gh"]);
  },
});

Deno.test({
  name: "Outbound reports a failed write once and refuses everything after",
  permissions: "none",
  async fn() {
    const errors: unknown[] = [];
    const outbound = new Outbound({ write: () => Promise.reject(new Error("reset")) }, {
      onError: (error) => errors.push(error),
    });
    outbound.enqueue(bytes("x"));
    await outbound.drained();
    equal(errors.length, 1);
    equal(outbound.failed, true);
    equal(outbound.enqueue(bytes("y")), false);
    equal(outbound.queuedBytes, 0);
  },
});

Deno.test({
  name: "Outbound.replaceQueued() drops what is not in flight and queues the last word",
  permissions: "none",
  async fn() {
    const writer = new HeldWriter();
    const outbound = new Outbound(writer, { maxQueueBytes: 100 });
    outbound.enqueue(bytes("first\n"));
    await writer.release();
    outbound.enqueue(bytes("second\n"));
    outbound.replaceQueued(bytes("bye\n"));
    await writer.release();
    await writer.release();
    deepEqual(writer.writes, ["first\n", "bye\n"]);
  },
});

Deno.test({
  name: "Outbound reuses a written buffer only once its write is complete, and frames go in whole",
  permissions: "none",
  async fn() {
    // The writer keeps the very arrays it is given and reads them when each write completes.
    const held: Uint8Array[] = [];
    const seen: string[] = [];
    let release: (() => void) | null = null;
    const writer = {
      write(batch: Uint8Array): Promise<number> {
        held.push(batch);
        return new Promise((resolve) => {
          release = () => {
            seen.push(new TextDecoder().decode(batch));
            resolve(batch.length);
          };
        });
      },
    };
    const outbound = new Outbound(writer, { maxQueueBytes: 1 << 16 });
    const drain = async () => {
      while (release !== null || outbound.queuedBytes > 0) {
        const done = release as (() => void) | null;
        release = null;
        done?.();
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    };
    for (let round = 0; round < 5; round++) {
      outbound.enqueue(bytes(`a${round}\n`));
      outbound.enqueue(bytes(`${round}\n`), bytes("[h]"));
      await new Promise((resolve) => setTimeout(resolve, 0)); // a write in flight
      outbound.enqueue(bytes(`b${round}\n`)); // queued meanwhile, maybe into a reused buffer
      await drain();
    }
    deepEqual(
      seen,
      [0, 1, 2, 3, 4].flatMap((round) => [`a${round}\n[h]${round}\n`, `b${round}\n`]),
    );
    ok(held.length === 10);
  },
});

Deno.test({
  name: "Outbound fails once when the writer throws instead of rejecting, and wakes drained()",
  permissions: "none",
  async fn() {
    const errors: unknown[] = [];
    const writer = {
      write(): Promise<number> {
        throw new Error("closed");
      },
    };
    const outbound = new Outbound(writer, { onError: (error) => errors.push(error) });
    ok(outbound.enqueue(bytes("a\n")));
    await outbound.drained();
    equal(errors.length, 1);
    ok(outbound.failed);
    equal(outbound.enqueue(bytes("b\n")), false);
  },
});

Deno.test({
  name: "Outbound reuses a busy connection's write buffers and lets a big one go once idle",
  permissions: "none",
  async fn() {
    const buffers: ArrayBufferLike[] = [];
    const release: (() => void)[] = [];
    const writer = {
      write(bytes: Uint8Array): Promise<number> {
        buffers.push(bytes.buffer);
        return new Promise((resolve) => release.push(() => resolve(bytes.length)));
      },
    };
    const settle = async () => {
      for (const done of release.splice(0)) done();
      await new Promise((resolve) => setTimeout(resolve, 0));
    };
    const outbound = new Outbound(writer, { maxQueueBytes: 1 << 20 });
    const batch = new Uint8Array(6000); // over the 4 KiB an idle connection keeps
    outbound.enqueue(batch);
    await new Promise((resolve) => setTimeout(resolve, 0)); // write 1 in flight
    outbound.enqueue(batch); // collects in a second buffer meanwhile
    await settle(); // write 1 done: write 2 in flight
    outbound.enqueue(batch);
    await settle(); // write 2 done: write 3, in write 1's buffer
    equal(buffers.length, 3);
    ok(buffers[0] !== buffers[1]);
    equal(buffers[2], buffers[0], "a busy connection reuses its buffers");
    await settle();
    await outbound.drained();
    outbound.enqueue(batch);
    await new Promise((resolve) => setTimeout(resolve, 0));
    equal(buffers.length, 4);
    ok(!buffers.slice(0, 3).includes(buffers[3]), "an idle connection let its big buffers go");
    await settle();
    await outbound.drained();
  },
});
