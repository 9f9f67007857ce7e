import { deepEqual, equal, match, ok } from "node:assert/strict";
import { serveChat } from "../lib/server/serve_chat.ts";
import type { LogEvent } from "../lib/support/log.ts";
import { connectChat, LineClient, LOOPBACK, syncWho, utf8 } from "./helpers.ts";

/** A ClientHello's first bytes, as curl https:// or openssl s_client send them. */
const CLIENT_HELLO = Uint8Array.of(
  0x16,
  0x03,
  0x01,
  0x02,
  0x00,
  0x01,
  0x00,
  0x01,
  0xfc,
  0x03,
  0x03,
);

const FOREIGN: [string, Uint8Array, RegExp][] = [
  [
    "an HTTP request with a cookie",
    utf8("GET / HTTP/1.1\r\nHost: x\r\nCookie: session=SECRET\r\n\r\n"),
    /^! this is the chat port of parley: text lines over TCP .*, not HTTP; the web page is at http:\/\/127\.0\.0\.1:\d+\/ \(WebSocket: ws:\/\/127\.0\.0\.1:\d+\/ws\)$/,
  ],
  ["a cross-site POST", utf8("POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nsay=hello"), /not HTTP/],
  [
    "a WebSocket handshake",
    utf8("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
    /ws:\/\/127\.0\.0\.1:\d+\/ws/,
  ],
  ["a TLS ClientHello", CLIENT_HELLO, /plain text lines, not TLS/],
];

for (const [what, bytes, answer] of FOREIGN) {
  for (const pieces of ["whole", "byte at a time"]) {
    Deno.test(`serveChat() answers ${what} on the chat port with one line and the close (${pieces})`, async () => {
      const events: LogEvent[] = [];
      await using server = serveChat({
        ...LOOPBACK,
        httpPort: 0,
        history: 10,
        logger: (event) => events.push(event),
      });
      await server.ready;
      await using alice = await connectChat(server.addr);
      await syncWho(alice);
      events.length = 0;
      const stranger = await LineClient.connect(server.addr);
      if (pieces === "whole") await stranger.write(bytes);
      else for (const byte of bytes) await stranger.write(Uint8Array.of(byte));
      const lines = await stranger.untilClosed();
      await stranger.close();
      const said = lines.filter((line) => !line.startsWith("* "));
      equal(said.length, 1, lines.join("\n"));
      match(said[0], answer);
      // Nothing of it reached the room or its history.
      const { before } = await syncWho(alice);
      ok(
        !before.some((line) => /SECRET|Cookie|GET|POST|say=|\ufffd/.test(line)),
        before.join("\n"),
      );
      await using bob = await connectChat(server.addr);
      const { before: replay } = await syncWho(bob);
      ok(
        !replay.some((line) => /SECRET|Cookie|GET|POST|say=|\ufffd/.test(line)),
        replay.join("\n"),
      );
      if (pieces === "whole") {
        // Refused before joining: one log line, no join or leave.
        deepEqual(before, []);
        const strangerEvents = events.filter((event) =>
          event.peer?.endsWith(`:${stranger.conn.localAddr.port}`)
        );
        equal(strangerEvents.length, 1, JSON.stringify(strangerEvents));
        equal(strangerEvents[0].event, "refuse");
        match(strangerEvents[0].reason ?? "", /^not a chat client: /);
      }
    });
  }
}

Deno.test("serveChat() without an HTTP port says so to an HTTP client of the chat port", async () => {
  await using server = serveChat({ ...LOOPBACK });
  await server.ready;
  const stranger = await LineClient.connect(server.addr);
  await stranger.write(utf8("GET / HTTP/1.1\r\n\r\n"));
  const lines = await stranger.untilClosed();
  await stranger.close();
  match(lines.join("\n"), /this server has no web port/);
});

Deno.test("serveChat() takes a chat line that only looks like HTTP as chat", async () => {
  await using server = serveChat({ ...LOOPBACK });
  await server.ready;
  await using alice = await connectChat(server.addr);
  await using bob = await connectChat(server.addr);
  await syncWho(alice);
  await alice.send("GET me a coffee");
  equal(await bob.nextMatching(/coffee/), `<${alice.nick}> GET me a coffee`);
});

Deno.test("serveChat() joins silent clients after the first-bytes wait, in the order they came, while a foreign one is refused", async () => {
  await using server = serveChat({ ...LOOPBACK, httpPort: 0 });
  await server.ready;
  // Connected one after another, faster than the wait: they wait together (one shared timer).
  const silent: LineClient[] = [];
  for (let i = 0; i < 12; i++) silent.push(await LineClient.connect(server.addr));
  const stranger = await LineClient.connect(server.addr);
  await stranger.write(utf8("GET / HTTP/1.1\r\n\r\n"));
  const talker = await LineClient.connect(server.addr);
  await talker.send("hello at once");
  try {
    const nicks: number[] = [];
    for (const client of silent) {
      const welcome = await client.nextMatching(/^\* welcome to parley, guest-\d+$/);
      nicks.push(Number(welcome.split("guest-")[1]));
    }
    // Joined in the order they connected.
    deepEqual(nicks, nicks.toSorted((a, b) => a - b));
    equal(new Set(nicks).size, 12);
    const refused = (await stranger.untilClosed()).filter((line) => !line.startsWith("* "));
    equal(refused.length, 1, refused.join("\n"));
    match(refused[0], /not HTTP/);
    // A client that speaks at once joins, and its line reaches the room (those
    // that joined after it read it as history).
    await talker.nextMatching(/^\* welcome to parley, guest-\d+$/);
    match(
      await silent[0].nextMatching(/hello at once/),
      /^(\* history: )?<guest-\d+> hello at once$/,
    );
  } finally {
    for (const client of [...silent, stranger, talker]) await client.close();
  }
});
