import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { WebSocketServer } from "ws";
import { connectTcp } from "../lib/client/sessions.ts";
import { connectWebSocket, type WebSocketMessage } from "../lib/client/websocket.ts";
import { binaryPreview, describeClose } from "../lib/client/ws_sessions.ts";
import { serveWebSocketEcho } from "../lib/echo/serve_echo.ts";
import { serveChat } from "../lib/server/serve_chat.ts";
import { ConnectionError } from "../lib/support/errors.ts";
import { LOOPBACK, utf8, within } from "./helpers.ts";

/** Messages received, handed out in order as they arrive. */
class Inbox {
  readonly #messages: WebSocketMessage[] = [];
  #wake: (() => void) | null = null;

  push = (message: WebSocketMessage): void => {
    this.#messages.push(message);
    this.#wake?.();
  };

  async next(): Promise<WebSocketMessage> {
    while (this.#messages.length === 0) {
      await within(new Promise<void>((resolve) => (this.#wake = resolve)), "a message");
    }
    return this.#messages.shift()!;
  }

  /** Skips messages until a text one matches `pattern`. */
  async nextText(pattern: RegExp): Promise<string> {
    for (let i = 0; i < 100; i++) {
      const message = await this.next();
      if (message.kind === "text" && pattern.test(message.data)) return message.data;
    }
    throw new Error(`no text message matched ${pattern}`);
  }
}

const echoUrl = (port: number) => `ws://127.0.0.1:${port}/`;

Deno.test("connectWebSocket() calls onOpen, then onMessage with text and binary messages", async () => {
  await using server = await serveWebSocketEcho(LOOPBACK);
  const inbox = new Inbox();
  const calls: string[] = [];
  await using client = await connectWebSocket(echoUrl(server.addr.port), {
    onOpen: () => calls.push("open"),
    onMessage: (message) => {
      calls.push(message.kind);
      inbox.push(message);
    },
  });
  deepEqual(calls, ["open"]);
  equal(client.url, echoUrl(server.addr.port));
  ok(client.send("héllo"));
  ok(client.send(new Uint8Array([0, 1, 0xff])));
  deepEqual(await inbox.next(), { kind: "text", data: "héllo", bytes: utf8("héllo") });
  deepEqual(await inbox.next(), { kind: "binary", data: new Uint8Array([0, 1, 0xff]) });
  deepEqual(calls, ["open", "text", "binary"]);
});

Deno.test("connectWebSocket() reports a refused connection to onError and rejects", async () => {
  const probe = Deno.listen(LOOPBACK);
  const port = probe.addr.port;
  probe.close();
  const errors: ConnectionError[] = [];
  let opened = false;
  await rejects(
    connectWebSocket(`ws://127.0.0.1:${port}/`, {
      onOpen: () => (opened = true),
      onError: (error) => errors.push(error),
    }),
    (error) => error instanceof ConnectionError && error === errors[0],
  );
  equal(opened, false);
  equal(errors.length, 1);
  equal(errors[0].message, `cannot connect to ws://127.0.0.1:${port}/: connection refused`);
});

Deno.test("connectWebSocket() and connectTcp() try localhost as 127.0.0.1, then ::1", async () => {
  await using server = await serveWebSocketEcho({ hostname: "::1", port: 0 });
  const { port } = server.addr;
  await using client = await connectWebSocket(`ws://localhost:${port}/`);
  equal(client.url, `ws://localhost:${port}/`);
  const conn = await connectTcp({ hostname: "localhost", port });
  equal(conn.remoteAddr.hostname, "::1");
  conn.close();
  // Nobody on either: the first address's refusal is the one reported, the same way.
  const probe = Deno.listen(LOOPBACK);
  const free = probe.addr.port;
  probe.close();
  await rejects(
    connectWebSocket(`ws://localhost:${free}/`),
    { message: `cannot connect to ws://localhost:${free}/: connection refused` },
  );
  await rejects(
    connectTcp({ hostname: "localhost", port: free }),
    { message: `cannot connect to localhost:${free}: connection refused` },
  );
});

Deno.test("connectWebSocket() names the HTTP status when the path is not a WebSocket", async () => {
  await using server = await serveWebSocketEcho(LOOPBACK);
  await rejects(
    connectWebSocket(`ws://127.0.0.1:${server.addr.port}/nope`),
    /: the server has no WebSocket at \/nope \(HTTP 404\); Parley.s chat is at ws:\/\/127\.0\.0\.1:\d+\/ws$/,
  );
});

Deno.test("connectWebSocket() gives up after the timeout when the handshake never comes", async () => {
  const listener = Deno.listen(LOOPBACK); // accepts, never answers
  const accepted = listener.accept();
  await rejects(
    connectWebSocket(`ws://127.0.0.1:${listener.addr.port}/`, { timeout: 200 }),
    new RegExp(`^ConnectionError: cannot connect to .*: timed out after 200 ms$`),
  );
  (await accepted).close();
  listener.close();
});

Deno.test("connectWebSocket() reports a close code and reason to onClose", async () => {
  await using server = serveChat({ ...LOOPBACK, httpPort: 0 });
  await server.ready;
  const inbox = new Inbox();
  const closes: [number, string][] = [];
  const client = await connectWebSocket(`ws://127.0.0.1:${server.httpAddr!.port}/ws`, {
    onMessage: inbox.push,
    onClose: (code, reason) => closes.push([code, reason]),
  });
  await inbox.nextText(/\* welcome to /);
  ok(client.send("/quit"));
  await inbox.nextText(/^\* bye$/m);
  deepEqual(await within(client.closed, "the close"), { code: 1000, reason: "quit" });
  deepEqual(closes, [[1000, "quit"]]);
  equal(describeClose(1000, "quit"), "1000 quit");
});

Deno.test("connectWebSocket() reports the server's 1009 for a message over its limit", async () => {
  await using server = await serveWebSocketEcho({ ...LOOPBACK, maxMessageBytes: 16 });
  const closes: [number, string][] = [];
  const client = await connectWebSocket(echoUrl(server.addr.port), {
    onClose: (code, reason) => closes.push([code, reason]),
  });
  ok(client.send("this is longer than sixteen bytes"));
  deepEqual(await within(client.closed, "the close"), { code: 1009, reason: "" });
  deepEqual(closes, [[1009, ""]]);
  equal(describeClose(1009, ""), "1009 message too big");
  equal(client.send("after the close"), false);
});

Deno.test("WebSocketClient.close() sends its code and reason and resolves closed", async () => {
  await using server = await serveWebSocketEcho(LOOPBACK);
  const client = await connectWebSocket(echoUrl(server.addr.port));
  client.close(4001, "done here");
  deepEqual(await within(client.closed, "the close"), { code: 4001, reason: "done here" });
});

Deno.test("WebSocketClient.send() refuses what would take the queue past maxQueueBytes", async () => {
  await using server = await serveWebSocketEcho(LOOPBACK);
  const inbox = new Inbox();
  await using client = await connectWebSocket(echoUrl(server.addr.port), {
    maxQueueBytes: 10,
    onMessage: inbox.push,
  });
  equal(client.send("eleven byte"), false); // bigger than the whole queue
  ok(client.send("12345"));
  ok(client.send("67890"));
  equal(client.queuedBytes, 10);
  equal(client.send("x"), false); // the two above are still in flight
  await within(client.drained(), "the queue to drain");
  equal(client.queuedBytes, 0);
  ok(client.send("x"));
  for (const text of ["12345", "67890", "x"]) {
    deepEqual(await inbox.next(), { kind: "text", data: text, bytes: utf8(text) });
  }
});

Deno.test("WebSocketClient counts text in the queue by its UTF-8 bytes, not its characters", async () => {
  await using server = await serveWebSocketEcho(LOOPBACK);
  const inbox = new Inbox();
  await using client = await connectWebSocket(echoUrl(server.addr.port), {
    maxQueueBytes: 10,
    onMessage: inbox.push,
  });
  equal(client.send("éééééé"), false); // six characters, twelve bytes
  ok(client.send("ééééé")); // exactly ten bytes
  equal(client.queuedBytes, 10);
  await within(client.drained(), "the queue to drain");
  const echoed = await inbox.next();
  deepEqual(echoed, { kind: "text", data: "ééééé", bytes: utf8("ééééé") });
  ok(echoed.kind === "text" && echoed.bytes instanceof Uint8Array);
});

Deno.test("connectWebSocket() sends the headers, subprotocol, origin and pings it is given", async () => {
  const server = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    handleProtocols: (protocols) => protocols.has("parley.test") ? "parley.test" : false,
  });
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address() as { port: number };
  const pinged = Promise.withResolvers<void>();
  const seen = new Promise<Record<string, string | string[] | undefined>>((resolve) => {
    server.once("connection", (socket, request) => {
      let pings = 0;
      socket.on("ping", () => ++pings === 2 && pinged.resolve());
      resolve(request.headers);
    });
  });
  const client = await connectWebSocket(`ws://localhost:${port}/path?q=1`, {
    headers: { "x-token": "abc", "x-many": ["1", "2"] },
    subprotocols: ["parley.test"],
    origin: "https://chat.example",
    pingInterval: 0.02,
  });
  const headers = await within(seen, "the request");
  equal(headers["x-token"], "abc");
  equal(headers["x-many"], "1, 2");
  equal(headers.origin, "https://chat.example");
  equal(headers.host, `localhost:${port}`); // though it connected to 127.0.0.1
  equal(client.protocol, "parley.test");
  await within(pinged.promise, "two pings");
  client.close();
  await within(client.closed, "the close");
  await new Promise((resolve) => server.close(resolve));
});

Deno.test("binaryPreview() shows the size and the first bytes in hex", () => {
  equal(binaryPreview(new Uint8Array([0x61, 0x62])), "[binary 2 bytes] 61 62");
  equal(binaryPreview(new Uint8Array([0xff])), "[binary 1 byte] ff");
  equal(binaryPreview(new Uint8Array()), "[binary 0 bytes]");
  match(binaryPreview(new Uint8Array(40)), /^\[binary 40 bytes\] (00 ){15}00 …$/);
});
