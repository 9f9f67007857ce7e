/**
 * Frame floods against a server subprocess: every kind of frame that
 * carries no message bytes (or one byte) costs input budget, so a flood of
 * it from 20 connections on one address is throttled and then closed,
 * while two TCP clients on another address chat with bounded delay and the
 * server's memory stays bounded.
 *
 * The flooders bind their own source address (127.0.0.2 … 127.0.0.6, one
 * per kind, so each kind has an address budget of its own); the chatters
 * come from 127.0.0.1.
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import net from "node:net";
import { Buffer } from "node:buffer";
import { connectChat, LineClient, within } from "./helpers.ts";
import { rssMiB, startServer } from "./process_helpers.ts";
import { concat, encodeFrame, OP } from "./ws_frames.ts";
import { upgradeRequest } from "./ws_helpers.ts";

/** Largest resident memory of the server during the floods (it starts near 60 MiB). */
const RSS_BOUND_MIB = 200;
/** Longest a chat line between the two TCP clients may take during the floods. */
const CHAT_DELAY_BOUND_MS = 3000;
const FLOODERS_PER_KIND = 20;

/** A flood kind: the frames repeated, after an optional opening frame. */
interface FloodKind {
  name: string;
  source: string;
  opening?: Uint8Array;
  frame: Uint8Array;
}

const KINDS: FloodKind[] = [
  {
    name: "pings (pongs never read)",
    source: "127.0.0.2",
    frame: encodeFrame(OP.PING, "p".repeat(125)),
  },
  { name: "pongs", source: "127.0.0.3", frame: encodeFrame(OP.PONG, "") },
  { name: "empty messages", source: "127.0.0.4", frame: encodeFrame(OP.TEXT, "") },
  {
    name: "zero-length continuations",
    source: "127.0.0.5",
    opening: encodeFrame(OP.TEXT, "a", { fin: false }),
    frame: encodeFrame(OP.CONTINUATION, "", { fin: false }),
  },
  {
    name: "one-byte continuations",
    source: "127.0.0.6",
    opening: encodeFrame(OP.TEXT, "a", { fin: false }),
    frame: encodeFrame(OP.CONTINUATION, "b", { fin: false }),
  },
];

/** A raw WebSocket client from `source` that writes `kind`'s frames as fast as it may, never reading. */
class Flooder {
  readonly socket: net.Socket;
  /** Resolves once the server has ended the connection. */
  readonly closed: Promise<void>;
  /** Resolves once the handshake is answered (rejects if it is not a 101). */
  readonly opened: Promise<void>;

  constructor(port: number, kind: FloodKind) {
    this.socket = net.connect({ host: "127.0.0.1", port, localAddress: kind.source });
    this.socket.on("error", () => {}); // a reset is how a flooder usually learns it is closed
    this.closed = new Promise((resolve) => this.socket.once("close", () => resolve()));
    const chunk = Buffer.from(concat(Array.from({ length: 256 }, () => kind.frame)));
    this.opened = new Promise((resolve, reject) => {
      let head = "";
      const onData = (data: Buffer) => {
        head += data.toString("latin1");
        if (!head.includes("\r\n\r\n")) return;
        this.socket.off("data", onData);
        this.socket.pause(); // never reads again
        if (!head.startsWith("HTTP/1.1 101")) return reject(new Error(head.split("\r\n")[0]));
        resolve();
        if (kind.opening !== undefined) this.socket.write(kind.opening);
        const pump = () => {
          while (!this.socket.destroyed && this.socket.write(chunk)) {
            /* until the buffer is full */
          }
        };
        this.socket.on("drain", pump);
        pump();
      };
      this.socket.on("data", onData);
      this.socket.once("connect", () => this.socket.write(upgradeRequest("/ws", port)));
      this.socket.once("close", () => reject(new Error("closed before the handshake")));
    });
    this.opened.catch(() => {});
  }
}

Deno.test("server.ts throttles and closes every kind of WebSocket frame flood while TCP clients chat", async () => {
  await using server = await startServer("server.ts", ["--host", "127.0.0.1", "--port", "0"]);
  const flooders: Flooder[] = [];
  let peakRss = 0;
  let sampling = true;
  try {
    const alice = await connectChat(server.addr);
    const bob = await connectChat(server.addr);
    await alice.nextMatching(/joined lobby/);
    const baseline = await rssMiB(server.child.pid);
    const sampler = (async () => {
      while (sampling) {
        peakRss = Math.max(peakRss, await rssMiB(server.child.pid));
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    for (const kind of KINDS) {
      for (let i = 0; i < FLOODERS_PER_KIND; i++) {
        flooders.push(new Flooder(server.httpAddr!.port, kind));
      }
    }
    await within(
      Promise.all(flooders.map((flooder) => flooder.opened)),
      "the flooders' handshakes",
    );
    // Alice talks, five lines a second, until every flooder is closed (at least 3 s).
    const allClosed = Promise.all(flooders.map((flooder) => flooder.closed));
    let over = false;
    allClosed.then(() => (over = true));
    const started = performance.now();
    let worstDelay = 0;
    let sent = 0;
    for (; !over || performance.now() - started < 3000; sent++) {
      ok(performance.now() - started < 30_000, "the flooders were not all closed within 30 s");
      const at = performance.now();
      await alice.send(`tick ${sent}`);
      equal(
        await bob.nextMatching(/^<.*tick/, CHAT_DELAY_BOUND_MS),
        `<${alice.nick}> tick ${sent}`,
      );
      worstDelay = Math.max(worstDelay, performance.now() - at);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // A newcomer is welcomed at once, and the server is still small.
    await using carol = await LineClient.connect(server.addr);
    await carol.nextMatching(/^\* welcome to /, CHAT_DELAY_BOUND_MS);
    sampling = false;
    await sampler;
    ok(
      peakRss < RSS_BOUND_MIB,
      `server RSS peaked at ${peakRss.toFixed(0)} MiB (from ${baseline.toFixed(0)})`,
    );
    console.log(
      `  ${flooders.length} flooders closed after ${
        ((performance.now() - started) / 1000).toFixed(1)
      } s; ` +
        `${sent} chat lines, worst delay ${worstDelay.toFixed(0)} ms; RSS ${
          baseline.toFixed(0)
        } -> peak ${peakRss.toFixed(0)} MiB`,
    );
    await alice.close();
    await bob.close();
    const { code } = await server.stop();
    equal(code, 0);
  } finally {
    sampling = false;
    for (const flooder of flooders) flooder.socket.destroy();
    await Promise.all(flooders.map((flooder) => flooder.closed));
  }
});
