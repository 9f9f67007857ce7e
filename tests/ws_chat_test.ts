import { deepEqual, equal, match, ok } from "node:assert/strict";
import { serveChat, type ServeChatOptions } from "../lib/server/serve_chat.ts";
import type { LogEvent } from "../lib/support/log.ts";
import { connectChat, LineClient, LOOPBACK, syncWho, utf8, within } from "./helpers.ts";
import { closePayload, concat, encodeFrame, OP, RawWebSocket } from "./ws_frames.ts";
import {
  connectWsChat,
  readResponse,
  serverSocketHeld,
  upgradeRequest,
  WsLines,
  wsSyncWho,
} from "./ws_helpers.ts";

/** A chat server with an HTTP listener on a free port, ready. */
async function chatServer(options: ServeChatOptions = {}) {
  const server = serveChat({ ...LOOPBACK, httpPort: 0, ...options });
  await server.ready;
  return server;
}

function wsUrl(server: { httpAddr: Deno.NetAddr | null }, path = "/ws"): string {
  return `ws://127.0.0.1:${server.httpAddr!.port}${path}`;
}

Deno.test("serveChat() puts WebSocket and TCP clients in the same room, both ways", async () => {
  await using server = await chatServer();
  await using tcp = await connectChat(server.addr);
  await using ws = await connectWsChat(server.httpAddr!);
  equal(await tcp.nextLine(), `* ${ws.nick} joined lobby`);
  ws.send("hello from the web");
  equal(await tcp.nextMatching(/^</), `<${ws.nick}> hello from the web`);
  await tcp.send("hello from nc");
  equal(await ws.nextMatching(/^</), `<${tcp.nick}> hello from nc`);
  ws.send("/nick webby");
  equal(await ws.nextLine(), "* you are now known as webby");
  equal(await tcp.nextLine(), `* ${ws.nick} is now known as webby`);
  await tcp.send("/nick tcpy");
  equal(await ws.nextMatching(/known as tcpy/), `* ${tcp.nick} is now known as tcpy`);
  equal((await syncWho(tcp)).who, "* 2 in lobby: tcpy, webby");
  equal((await wsSyncWho(ws)).who, "* 2 in lobby: tcpy, webby");
  ws.send("/msg tcpy across transports");
  equal(await tcp.nextLine(), "[webby -> you] across transports");
  await tcp.send("/msg webby and back");
  equal(await ws.nextLine(), "[tcpy -> you] and back");
  equal(server.clientCount, 2);
});

Deno.test("serveChat() counts a WebSocket message of several lines as several lines", async () => {
  await using server = await chatServer({ rate: 0.01, burst: 2 });
  await using tcp = await connectChat(server.addr);
  await using ws = await connectWsChat(server.httpAddr!);
  ws.send("one\ntwo\r\nthree");
  equal(await tcp.nextMatching(/^</), `<${ws.nick}> one`);
  equal(await tcp.nextMatching(/^</), `<${ws.nick}> two`);
  match(await ws.nextMatching(/^!/), /^! rate limit: at most 0\.01 lines\/s \(burst 2\)/);
  deepEqual((await syncWho(tcp)).before.filter((line) => line.startsWith("<")), []);
});

Deno.test("serveChat() sends JSON events to a client that asks for parley.json", async () => {
  await using server = await chatServer();
  await using tcp = await connectChat(server.addr);
  const bot = new WsLines(wsUrl(server), { protocols: ["parley.json"] });
  await within(bot.opened, "open");
  equal(bot.ws.protocol, "parley.json");
  const welcome = JSON.parse(await bot.nextLine());
  deepEqual([welcome.v, welcome.type, welcome.online], [1, "welcome", 2]);
  const members = JSON.parse(await bot.nextLine());
  deepEqual(members.members, [tcp.nick, welcome.nick]);
  await tcp.send("hi bot");
  const message = JSON.parse(await bot.nextLine());
  deepEqual([message.type, message.from, message.text], ["message", tcp.nick, "hi bot"]);
  await bot[Symbol.asyncDispose]();
});

Deno.test("serveChat() switches a TCP client to JSON events with /format json", async () => {
  await using server = serveChat(LOOPBACK);
  await using alice = await connectChat(server.addr);
  await using bob = await connectChat(server.addr);
  await alice.send("/format json");
  deepEqual(JSON.parse(await alice.nextMatching(/^\{/)).format, "json");
  await bob.send("structured");
  const event = JSON.parse(await alice.nextMatching(/"type":"message"/));
  deepEqual([event.from, event.text, event.room], [bob.nick, "structured", "lobby"]);
  await alice.send("/format text");
  equal(await alice.nextLine(), "* format: text");
});

Deno.test("serveChat() completes a WebSocket handshake fed one byte at a time", async () => {
  await using server = await chatServer();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.httpAddr!.port });
  const request = utf8(upgradeRequest("/ws", server.httpAddr!.port));
  for (let i = 0; i < request.length; i++) await conn.write(request.subarray(i, i + 1));
  const buffer = new Uint8Array(4096);
  let text = "";
  while (!text.includes("welcome to parley")) {
    const n = await within(conn.read(buffer), "the handshake reply");
    if (n === null) break;
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  match(text, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  match(text, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/i);
  match(text, /welcome to parley, guest-1/);
  conn.close();
});

Deno.test("serveChat() answers HTTP misuse with the right status and closes", async () => {
  await using server = await chatServer({ headTimeout: 300 });
  const port = server.httpAddr!.port;
  const ask = async (request: string | Uint8Array) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(typeof request === "string" ? utf8(request) : request);
    const answer = await within(readResponse(conn), "the answer");
    conn.close();
    return answer;
  };
  match(await ask(upgradeRequest("/nowhere", port)), /^HTTP\/1\.1 404 /);
  match(await ask(`GET /missing HTTP/1.1\r\nHost: x\r\n\r\n`), /^HTTP\/1\.1 404 /);
  match(await ask(`POST /ws HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`), /^HTTP\/1\.1 405 /);
  match(await ask(`DELETE / HTTP/1.1\r\nHost: x\r\n\r\n`), /allow: GET, HEAD/i);
  match(await ask(`GET /ws HTTP/1.1\r\nHost: x\r\n\r\n`), /^HTTP\/1\.1 426 /);
  const index = await ask(`GET / HTTP/1.1\r\nHost: x\r\n\r\n`);
  match(index, /^HTTP\/1\.1 200 /);
  match(index, /connect a WebSocket client to ws:\/\/x\/ws/);
  // An 8 KiB head is the most: one of 20 KiB gets 431.
  const big = `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`;
  match(await ask(big), /^HTTP\/1\.1 431 /);
  // A head that never ends is cut at the time limit.
  const started = performance.now();
  match(await ask("GET / HTTP/1.1\r\nHost: x\r\n"), /^HTTP\/1\.1 408 /);
  ok(performance.now() - started >= 250, "cut before the time limit");
});

Deno.test("serveChat() refuses a WebSocket from another site unless its origin is allowed", async () => {
  await using server = await chatServer({ allowOrigins: ["https://chat.example"] });
  const port = server.httpAddr!.port;
  const attempt = async (origin?: string) => {
    const client = new WsLines(wsUrl(server), {
      headers: origin === undefined ? {} : { origin },
    });
    try {
      await within(client.opened, "the handshake");
      return "open";
    } catch (error) {
      return (error as Error).message;
    } finally {
      await client[Symbol.asyncDispose]();
    }
  };
  equal(await attempt("https://evil.example"), "unexpected response 403");
  equal(await attempt(undefined), "open"); // not a browser
  equal(await attempt(`http://127.0.0.1:${port}`), "open"); // same origin
  equal(await attempt("https://chat.example"), "open"); // listed
});

Deno.test("serveChat() closes with 1003 on a binary message and 1009 on a huge one", async () => {
  await using server = await chatServer({ maxLineBytes: 64 });
  await using tcp = await connectChat(server.addr);
  await using binary = await connectWsChat(server.httpAddr!);
  binary.ws.send(new Uint8Array([1, 2, 3]));
  const closed = await binary.untilClosed();
  deepEqual([closed.code, closed.reason], [1003, "binary messages are not accepted; send text"]);
  equal(await tcp.nextMatching(/left/), `* ${binary.nick} left (binary message)`);
  await using big = await connectWsChat(server.httpAddr!);
  big.send("x".repeat(65)); // over the line cap: refused, connection kept
  equal(await big.nextMatching(/^!/), "! line too long (over 64 bytes); it was skipped");
  big.send("y".repeat(16 * 64 + 1)); // over the message cap (16 lines): closed
  equal((await big.untilClosed()).code, 1009);
});

Deno.test("serveChat() drops a WebSocket client that stops reading and releases its socket", async () => {
  await using server = await chatServer({ rate: 0, maxQueueBytes: 64 * 1024 });
  const port = server.httpAddr!.port;
  await using alice = await connectChat(server.addr);
  // A raw client: the handshake, then it never reads again.
  const stalled = await Deno.connect({ hostname: "127.0.0.1", port });
  await stalled.write(utf8(upgradeRequest("/ws", port)));
  const nick = await alice.nextMatching(/joined lobby/);
  const stalledNick = /^\* (\S+) joined/.exec(nick)![1];
  await using bob = await connectChat(server.addr);
  await alice.nextMatching(/joined lobby/);
  const line = "z".repeat(3000);
  let dropped = "";
  for (let batch = 0; batch < 400 && dropped === ""; batch++) {
    await alice.write(utf8(`${line}\n`.repeat(20)));
    for (let i = 0; i < 20; i++) {
      const got = await bob.nextMatching(/^<|left/);
      if (got.includes("left")) dropped = got;
    }
  }
  equal(dropped, `* ${stalledNick} left (too slow)`);
  const clientPort = stalled.localAddr.port;
  // Its descriptor released within the grace (Deno.TcpConn cannot reset: the
  // kernel may keep an orphan holding the unsent bytes, owned by no process).
  await within(
    (async () => {
      while (await serverSocketHeld(port, clientPort)) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })(),
    "the server to release the stalled socket",
    3000,
  );
  equal(server.clientCount, 2);
  stalled.close();
});

Deno.test("serveChat() closes a WebSocket client that answers no ping", async () => {
  await using server = await chatServer({ pingInterval: 0.2 });
  const port = server.httpAddr!.port;
  await using alice = await connectChat(server.addr);
  await using responsive = await connectWsChat(server.httpAddr!); // ws answers pings itself
  await alice.nextMatching(/joined/);
  const silent = await Deno.connect({ hostname: "127.0.0.1", port });
  await silent.write(utf8(upgradeRequest("/ws", port)));
  const started = performance.now();
  const left = await alice.nextMatching(/left/);
  match(left, /^\* guest-\d+ left \(ping timeout\)$/);
  ok(performance.now() - started >= 200);
  responsive.send("still here");
  equal(await alice.nextMatching(/^</), `<${responsive.nick}> still here`);
  silent.close();
});

Deno.test("serveChat() counts clients of every transport against --max-clients", async () => {
  await using server = await chatServer({ maxClients: 2 });
  await using tcp = await connectChat(server.addr);
  await using ws = await connectWsChat(server.httpAddr!);
  const third = new WsLines(wsUrl(server));
  const closed = await third.untilClosed();
  deepEqual([closed.code, closed.reason], [1013, "server full (2 clients); try again later"]);
  await using fourth = await LineClient.connect(server.addr);
  deepEqual(await fourth.untilClosed(), ["! server full (2 clients); try again later"]);
  equal(server.clientCount, 2);
  deepEqual((await syncWho(tcp)).before, [`* ${ws.nick} joined lobby`]);
});

Deno.test("serveChat() closes the refusals past the lingering cap at once", async () => {
  await using server = serveChat({ ...LOOPBACK, maxClients: 1, maxLingeringRefusals: 3 });
  await using alice = await connectChat(server.addr);
  const conns = await Promise.all(
    Array.from(
      { length: 12 },
      () => Deno.connect({ hostname: "127.0.0.1", port: server.addr.port }),
    ),
  );
  const answers = await Promise.all(conns.map((conn) => within(readResponse(conn), "the refusal")));
  for (const conn of conns) conn.close();
  const told = answers.filter((answer) => answer.startsWith("! server full"));
  const silent = answers.filter((answer) => answer === "");
  ok(told.length >= 1 && told.length <= 3, `${told.length} lingering refusals`);
  equal(told.length + silent.length, 12);
  deepEqual((await syncWho(alice)).before, []);
});

Deno.test("serveChat() keeps serving when its logger throws, and stops cleanly", async () => {
  const server = serveChat({
    ...LOOPBACK,
    maxClients: 1,
    logger: () => {
      throw new Error("log disk full");
    },
  });
  const alice = await connectChat(server.addr);
  const refused = await LineClient.connect(server.addr);
  deepEqual(await refused.untilClosed(), ["! server full (1 clients); try again later"]);
  await alice.send("/who");
  equal(await alice.nextLine(), `* 1 in lobby: ${alice.nick}`);
  await alice.close();
  await within(server.shutdown(), "shutdown");
  await refused.close();
});

Deno.test("serveChat() shutdown tells WebSocket clients and closes them with 1001", async () => {
  const log: LogEvent[] = [];
  const server = await chatServer({ logger: (event) => log.push(event) });
  const tcp = await connectChat(server.addr);
  const ws = await connectWsChat(server.httpAddr!);
  await tcp.nextMatching(/joined/);
  const stopping = server.shutdown();
  const closed = await ws.untilClosed();
  equal(closed.lines.at(-1), "* server shutting down");
  deepEqual([closed.code, closed.reason], [1001, "server shutting down"]);
  equal((await tcp.untilClosed()).at(-1), "* server shutting down");
  await within(stopping, "shutdown");
  await tcp.close();
  const transports = log.filter((event) => event.event === "disconnect").map((e) => e.transport);
  deepEqual(transports.sort(), ["tcp", "ws"]);
  const listen = log.find((event) => event.event === "listen")!;
  equal(listen.http, `127.0.0.1:${server.httpAddr!.port}`);
});

Deno.test("serveChat() sends the replies to a WebSocket's last messages before answering its close", async () => {
  await using server = await chatServer();
  await using ws = await RawWebSocket.connect(server.httpAddr!, { path: "/ws" });
  const welcome = new TextDecoder().decode((await ws.nextFrame()).payload);
  equal(welcome, "* welcome to parley, guest-1"); // one line per message
  match(new TextDecoder().decode((await ws.nextFrame()).payload), /^\* 1 online; /);
  // Two commands and the close in one write, as `printf ... | client` sends them.
  await ws.write(concat([
    encodeFrame(OP.TEXT, "/nick xavier"),
    encodeFrame(OP.TEXT, "/who"),
    encodeFrame(OP.CLOSE, closePayload(1000)),
  ]));
  const texts: string[] = [];
  let close: Uint8Array | null = null;
  while (close === null) {
    const frame = await ws.nextFrame();
    if (frame.opcode === OP.CLOSE) close = frame.payload;
    else texts.push(new TextDecoder().decode(frame.payload));
  }
  deepEqual(texts.join("\n").split("\n"), [
    "* you are now known as xavier",
    "* 1 in lobby: xavier",
  ]);
  deepEqual([...close.subarray(0, 2)], [0x03, 0xe8]); // 1000
});

Deno.test("serveChat() tells a refused HTTP client that sends nothing why, within about a second", async () => {
  await using server = await chatServer({ maxClients: 1 });
  await using alice = await connectChat(server.addr);
  const silent = await Deno.connect({ hostname: "127.0.0.1", port: server.httpAddr!.port });
  const started = performance.now();
  const answer = await within(readResponse(silent), "the refusal", 3000);
  const waited = performance.now() - started;
  silent.close();
  match(answer, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  match(answer, /\r\nRetry-After: 10\r\n/i);
  ok(answer.endsWith("\r\n\r\nserver full (1 clients); try again later\n"), answer);
  ok(waited >= 900 && waited < 2500, `answered after ${waited} ms`);
  deepEqual((await syncWho(alice)).before, []);
});

Deno.test("serveChat() shut down before its HTTP port is bound releases that port", async () => {
  const server = serveChat({ ...LOOPBACK, httpPort: 0 });
  const stopped = server.shutdown(); // at once: the HTTP bind is still under way
  await server.ready;
  await within(stopped, "shutdown");
  const port = server.httpAddr!.port;
  let refused = false;
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
  } catch (error) {
    refused = error instanceof Deno.errors.ConnectionRefused;
  }
  ok(refused, `port ${port} still accepts connections after shutdown`);
});

/**
 * True when a socket listening on `::` also takes IPv4 clients (IPv6 is
 * available, in dual-stack mode): the case where a client's address comes
 * as `::ffff:127.0.0.1`.
 */
async function dualStack(): Promise<boolean> {
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: "::", port: 0 });
  } catch {
    return false; // no IPv6
  }
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    (await listener.accept()).close();
    conn.close();
    return true;
  } catch {
    return false; // IPv6 only
  } finally {
    listener.close();
  }
}

Deno.test({
  name: "serveChat() on :: counts TCP and WebSocket clients from 127.0.0.1 as one address",
  // Needs IPv6 in dual-stack mode (IPv4 clients of a socket on ::).
  ignore: !(await dualStack()),
  fn: async () => {
    const refusal = "too many connections from 127.0.0.1 (at most 1); try again later";
    const dualServer = async (log: LogEvent[]) => {
      const server = serveChat({
        hostname: "::",
        port: 0,
        httpPort: 0,
        maxPerIp: 1,
        logger: (event) => log.push(event),
      });
      await server.ready;
      return server;
    };
    // A TCP client holds the address's one place: a WebSocket is refused...
    const log: LogEvent[] = [];
    {
      await using server = await dualServer(log);
      await using tcp = await connectChat({ ...server.addr, hostname: "127.0.0.1" });
      const closed = await new WsLines(`ws://127.0.0.1:${server.httpAddr!.port}/ws`).untilClosed();
      deepEqual([closed.code, closed.reason], [1013, refusal]);
      equal(server.clientCount, 1);
      ok(tcp.nick !== "");
    }
    // ...and a WebSocket client holds it against a TCP one.
    {
      await using server = await dualServer(log);
      await using ws = await connectWsChat(server.httpAddr!);
      await using late = await LineClient.connect({ ...server.addr, hostname: "127.0.0.1" });
      deepEqual(await late.untilClosed(), [`! ${refusal}`]);
      equal(server.clientCount, 1);
      ok(ws.nick !== "");
    }
    // The log names the client as it is: 127.0.0.1, not [::ffff:127.0.0.1].
    const peers = log.filter((event) => event.event === "connect" || event.event === "refuse")
      .map((event) => String(event.peer));
    equal(peers.length, 4);
    for (const peer of peers) match(peer, /^127\.0\.0\.1:\d+$/);
  },
});

Deno.test("serveChat() sends a raw-frame WebSocket client one line per message, text and JSON", async () => {
  await using server = await chatServer({ name: "lines" });
  await using alice = await connectChat(server.addr);
  await alice.send("first");
  await alice.send("second");
  await syncWho(alice); // both lines are in the history
  for (const protocol of [null, "parley.json"]) {
    await using ws = await RawWebSocket.connect(server.httpAddr!, {
      path: "/ws",
      headers: protocol === null ? {} : { "Sec-WebSocket-Protocol": protocol },
    });
    const texts: string[] = [];
    // The welcome, the count, the two history lines: four messages, no LF in any.
    while (texts.length < 4) {
      const frame = await ws.nextFrame();
      equal(frame.opcode, OP.TEXT);
      texts.push(new TextDecoder().decode(frame.payload));
    }
    for (const text of texts) ok(!text.includes("\n"), JSON.stringify(text));
    if (protocol === null) {
      equal(texts[0], "* welcome to lines, guest-2");
      match(texts[1], /^\* 2 online; /);
    } else {
      equal(JSON.parse(texts[0]).type, "welcome");
      equal(JSON.parse(texts[1]).type, "members");
    }
  }
});

Deno.test("serveChat() lets a page's own origin in only on names the server answers to", async () => {
  await using server = await chatServer({ hostNames: ["parley.test"] });
  const port = server.httpAddr!.port;
  const upgradeWith = async (host: string) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const request = upgradeRequest("/ws", port, [`Origin: http://${host}`])
      .replace(`Host: 127.0.0.1:${port}`, `Host: ${host}`);
    await conn.write(utf8(request));
    const buffer = new Uint8Array(1024);
    const n = await within(conn.read(buffer), "the handshake answer");
    conn.close();
    return Number(new TextDecoder().decode(buffer.subarray(0, n ?? 0)).split(" ")[1]);
  };
  equal(await upgradeWith(`evil.example:${port}`), 403); // a rebound DNS name
  equal(await upgradeWith(`parley.test:${port}`), 101); // --host-name
  equal(await upgradeWith(`localhost:${port}`), 101);
  equal(await upgradeWith(`127.0.0.1:${port}`), 101);
});

Deno.test("serveChat() asks the kernel for the backlog it is given, on both listeners", async () => {
  const ss = await new Deno.Command("ss", { args: ["-ltnH"], stdout: "piped", stderr: "null" })
    .output().catch(() => null);
  if (ss === null || !ss.success) return; // no ss here: nothing to read the backlog with
  await using server = await chatServer({ backlog: 123 });
  const listening = new TextDecoder().decode(
    (await new Deno.Command("ss", { args: ["-ltnH"], stdout: "piped" }).output()).stdout,
  );
  for (const port of [server.addr.port, server.httpAddr!.port]) {
    const row = listening.split("\n").find((line) => line.includes(`127.0.0.1:${port} `));
    ok(row !== undefined, `port ${port} not in ss -ltn`);
    equal(row.trim().split(/\s+/)[2], "123", row); // Send-Q of a listener: its backlog
  }
});
