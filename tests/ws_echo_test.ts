/**
 * WebSocket echo beyond the protocol cases of ws_conformance_test.ts: the
 * limits it shares with TCP echo, its close codes, and its backpressure.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { serveEcho, serveWebSocketEcho } from "../lib/echo/serve_echo.ts";
import type { LogEvent } from "../lib/support/log.ts";
import { writeAll } from "../lib/net/conn.ts";
import { LineClient, LOOPBACK, within } from "./helpers.ts";
import { rssMiB, startEchoServer } from "./process_helpers.ts";
import { concat, encodeFrame, OP, RawWebSocket } from "./ws_frames.ts";
import { WsLines } from "./ws_helpers.ts";

Deno.test("serveEcho() counts TCP and WebSocket clients together, refusing a WebSocket with 1013", async () => {
  const log: LogEvent[] = [];
  await using server = serveEcho({
    ...LOOPBACK,
    httpPort: 0,
    maxClients: 1,
    logger: (event) => log.push(event),
  });
  await server.ready;
  await using tcp = await LineClient.connect(server.addr);
  await tcp.send("ping");
  equal(await tcp.nextLine(), "ping");
  const ws = new WsLines(`ws://127.0.0.1:${server.httpAddr!.port}/`);
  const closed = await ws.untilClosed();
  deepEqual([closed.code, closed.reason], [1013, "server full (1 clients); try again later"]);
  ok(log.some((event) => event.event === "refuse" && event.transport === "http"));
});

Deno.test("serveWebSocketEcho() closes an idle client with 1001 and a talking one never", async () => {
  await using server = await serveWebSocketEcho({ ...LOOPBACK, idleTimeout: 0.3 });
  const url = `ws://127.0.0.1:${server.addr.port}/`;
  const idle = new WsLines(url);
  const talker = new WsLines(url);
  await within(Promise.all([idle.opened, talker.opened]), "both to open");
  const chatter = setInterval(() => talker.send("still here"), 100);
  try {
    const closed = await idle.untilClosed();
    deepEqual([closed.code, closed.reason], [1001, "idle"]);
    equal(talker.ws.readyState, talker.ws.OPEN);
  } finally {
    clearInterval(chatter);
    await talker[Symbol.asyncDispose]();
  }
});

Deno.test("serveWebSocketEcho() shutdown closes every client with 1001", async () => {
  const server = await serveWebSocketEcho(LOOPBACK);
  const clients = [1, 2, 3].map(() => new WsLines(`ws://127.0.0.1:${server.addr.port}/`));
  await within(Promise.all(clients.map((client) => client.opened)), "the clients to open");
  const stopping = server.shutdown();
  for (const client of clients) {
    const closed = await client.untilClosed();
    deepEqual([closed.code, closed.reason], [1001, "server shutting down"]);
  }
  await within(stopping, "shutdown");
});

Deno.test("server.ts --mode echo holds a bounded amount for a WebSocket client that sends without reading", async () => {
  const server = await startEchoServer(["-q"]);
  const ws = await RawWebSocket.connect(server.httpAddr!, { path: "/" });
  const before = await rssMiB(server.child.pid);
  const frame = encodeFrame(OP.BINARY, new Uint8Array(1024 * 1024).fill(0x61));
  let pushedMiB = 0;
  // Up to 256 MiB of binary messages, never reading an echo: the server
  // stops reading once 1 MiB of echoes waits, so our writes stall.
  while (pushedMiB < 256) {
    const writing = writeAll(ws.conn, frame); // whole frames, or the stream is broken
    writing.catch(() => {}); // a stalled write fails when the connection is closed
    const wrote = await within(writing, "a write", 2000).then(() => true, () => false);
    if (!wrote) break;
    pushedMiB += 1;
  }
  const after = await rssMiB(server.child.pid);
  ws.close();
  await server.stop();
  ok(pushedMiB < 64, `the server kept reading: ${pushedMiB} MiB pushed`);
  ok(after - before < 48, `server RSS grew by ${(after - before).toFixed(1)} MiB`);
});

Deno.test("serveWebSocketEcho() closes with 1008 a message sent in more than 1024 frames", async () => {
  await using server = await serveWebSocketEcho(LOOPBACK);
  await using ws = await RawWebSocket.connect(server.addr, { path: "/" });
  await ws.write(concat([
    encodeFrame(OP.TEXT, "a", { fin: false }),
    ...Array.from({ length: 1100 }, () => encodeFrame(OP.CONTINUATION, "", { fin: false })),
  ]));
  const frame = await ws.nextFrame();
  equal(frame.opcode, OP.CLOSE);
  equal((frame.payload[0] << 8) | frame.payload[1], 1008);
  equal(new TextDecoder().decode(frame.payload.subarray(2)), "message in more than 1024 frames");
});
