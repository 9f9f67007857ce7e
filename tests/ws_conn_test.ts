import { deepEqual, equal, ok } from "node:assert/strict";
import type { StreamConn } from "../lib/net/conn.ts";
import type { InputBudget } from "../lib/net/input_budget.ts";
import { WebSocketConnection } from "../lib/net/ws_conn.ts";
import { concat, encodeFrame, OP } from "./ws_frames.ts";
import { within } from "./helpers.ts";

/**
 * A connection driven by the test: reads return the chunks it is given,
 * writes are recorded and complete only while it is not `stalled`.
 */
class ScriptedConn implements StreamConn {
  readonly remoteAddr: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 1 };
  readonly written: Uint8Array[] = [];
  stalled = false;
  closed = false;
  #chunks: (Uint8Array | null)[] = [];
  #wakeReader: (() => void) | null = null;
  #blocked: (() => void)[] = [];

  feed(chunk: Uint8Array | null): void {
    this.#chunks.push(chunk);
    this.#wakeReader?.();
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.closed) throw new Deno.errors.BadResource("closed");
      await new Promise<void>((resolve) => (this.#wakeReader = resolve));
    }
    if (this.closed) throw new Deno.errors.BadResource("closed");
    const chunk = this.#chunks.shift()!;
    if (chunk === null) return null;
    const n = Math.min(buffer.length, chunk.length);
    buffer.set(chunk.subarray(0, n));
    if (n < chunk.length) this.#chunks.unshift(chunk.subarray(n));
    return n;
  }

  async write(bytes: Uint8Array): Promise<number> {
    while (this.stalled && !this.closed) await new Promise<void>((r) => this.#blocked.push(r));
    if (this.closed) throw new Deno.errors.BadResource("closed");
    this.written.push(bytes.slice());
    return bytes.length;
  }

  unstall(): void {
    this.stalled = false;
    for (const wake of this.#blocked.splice(0)) wake();
  }

  closeWrite(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {
    this.closed = true;
    this.#wakeReader?.();
    this.unstall();
  }

  /** Server frames written so far: opcode and payload. */
  frames(): { opcode: number; payload: Uint8Array }[] {
    const bytes = concat(this.written);
    const frames = [];
    let i = 0;
    while (i < bytes.length) {
      let length = bytes[i + 1] & 0x7f;
      let offset = i + 2;
      if (length === 126) {
        length = (bytes[i + 2] << 8) | bytes[i + 3];
        offset += 2;
      }
      frames.push({ opcode: bytes[i] & 0x0f, payload: bytes.slice(offset, offset + length) });
      i = offset + length;
    }
    return frames;
  }
}

const FREE: InputBudget = { charge: () => 0, release: () => {} };

function open(conn: ScriptedConn): WebSocketConnection {
  return new WebSocketConnection(conn, {
    peer: "127.0.0.1:1",
    address: "127.0.0.1",
    protocol: null,
    maxMessageBytes: 1 << 20,
    maxQueueBytes: 1 << 20,
  });
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test({
  name:
    "WebSocketConnection keeps at most 16 pongs and then the newest waiting for a peer that does not read",
  permissions: "none",
  async fn() {
    const conn = new ScriptedConn();
    const ws = open(conn);
    const ended = ws.run({ message: () => {} }, FREE);
    conn.feed(encodeFrame(OP.PING, "first"));
    await tick();
    equal(conn.written.length, 1); // answered at once
    conn.stalled = true;
    conn.feed(encodeFrame(OP.PING, "blocks"));
    await tick();
    // 1000 pings while the write of the last pong hangs.
    for (let i = 0; i < 10; i++) {
      conn.feed(
        concat(Array.from({ length: 100 }, (_, k) => encodeFrame(OP.PING, `p${i * 100 + k}`))),
      );
      await tick();
    }
    ok(ws.outbound.queuedBytes < 18 * 8, `${ws.outbound.queuedBytes} bytes queued`);
    conn.unstall();
    await within(ws.outbound.drained(), "the pongs to go");
    const pongs = conn.frames().map((frame) => new TextDecoder().decode(frame.payload));
    equal(pongs[0], "first");
    equal(pongs[1], "blocks");
    ok(pongs.length <= 2 + 17, `${pongs.length} pongs`);
    equal(pongs.at(-1), "p999"); // the newest ping is answered
    conn.feed(null);
    equal((await ended).code, 1006);
  },
});

Deno.test({
  name: "WebSocketConnection closes with 1008 a client that stays over its input budget",
  permissions: "none",
  async fn() {
    const conn = new ScriptedConn();
    const ws = open(conn);
    const charged: number[] = [];
    const overBudget: InputBudget = {
      charge: (bytes) => (charged.push(bytes), 6000), // each read: 6 s of debt
      release: () => {},
    };
    const ended = ws.run({ message: () => {} }, overBudget);
    conn.feed(concat([encodeFrame(OP.PONG, ""), encodeFrame(OP.TEXT, "")]));
    await within(
      (async () => {
        while (!conn.frames().some((frame) => frame.opcode === OP.CLOSE)) await tick();
      })(),
      "the close",
    );
    const close = conn.frames().find((frame) => frame.opcode === OP.CLOSE)!;
    equal((close.payload[0] << 8) | close.payload[1], 1008);
    ok(new TextDecoder().decode(close.payload.subarray(2)).startsWith("sending too fast"));
    deepEqual(charged, [6 + 6 + 2 * 64]); // bytes plus 64 per frame
    ws.abort();
    equal((await ended).problem, "sending too fast: over the input budget for too long");
  },
});

Deno.test({
  name: "WebSocketConnection closes with 1008 a message in more than 1024 frames",
  permissions: "none",
  async fn() {
    const conn = new ScriptedConn();
    const ws = open(conn);
    const messages: string[] = [];
    const ended = ws.run(
      { message: (data) => messages.push(new TextDecoder().decode(data)) },
      FREE,
    );
    const fragments = (count: number) => [
      encodeFrame(OP.TEXT, "a", { fin: false }),
      ...Array.from({ length: count - 2 }, () => encodeFrame(OP.CONTINUATION, "", { fin: false })),
      encodeFrame(OP.CONTINUATION, "z"),
    ];
    conn.feed(concat(fragments(1024))); // at the bound: one message
    conn.feed(concat(fragments(1025)));
    await within(
      (async () => {
        while (!conn.frames().some((frame) => frame.opcode === OP.CLOSE)) await tick();
      })(),
      "the close",
    );
    deepEqual(messages, ["az"]);
    const close = conn.frames().find((frame) => frame.opcode === OP.CLOSE)!;
    equal((close.payload[0] << 8) | close.payload[1], 1008);
    ws.abort();
    equal((await ended).problem, "message in more than 1024 frames");
  },
});
