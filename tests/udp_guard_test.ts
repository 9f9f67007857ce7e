import { equal } from "node:assert/strict";
import { MAX_TRACKED_SOURCES, REFLECTING_PORTS, UdpReplyGuard } from "../lib/echo/udp_guard.ts";
import { serveUdpEcho } from "../lib/echo/udp_echo_server.ts";
import { within } from "./helpers.ts";
import { DEFAULT_UDP_REPLY_BYTES_PER_SECOND, MAX_UDP_PAYLOAD } from "../lib/support/constants.ts";

const pure = { permissions: "none" } as const;

Deno.test({
  ...pure,
  name: "UdpReplyGuard drops datagrams from the server's own address and port",
  fn() {
    const bound = new UdpReplyGuard({ port: 7879, ownAddresses: ["127.0.0.1"] });
    equal(bound.check("127.0.0.1", 7879, 0), "self");
    equal(bound.check("127.0.0.1", 7880, 0), "reply"); // another port: a client
    const wildcard = new UdpReplyGuard({ port: 7879, ownAddresses: ["0.0.0.0", "10.0.0.5"] });
    equal(wildcard.check("10.0.0.5", 7879, 0), "self");
    equal(wildcard.check("127.0.0.42", 7879, 0), "self"); // all of loopback is ours
    equal(wildcard.check("::1", 7879, 0), "self");
    equal(wildcard.check("10.0.0.6", 7879, 0), "reply");
  },
});

Deno.test({
  ...pure,
  name: "UdpReplyGuard drops datagrams from reflecting service ports",
  fn() {
    const guard = new UdpReplyGuard({ port: 7879, ownAddresses: ["127.0.0.1"] });
    for (const port of [0, 7, 13, 17, 19, 37, 53, 123]) {
      equal(REFLECTING_PORTS.has(port), true, String(port));
      equal(guard.check("192.0.2.1", port, 0), "service-port", String(port));
    }
    equal(guard.check("192.0.2.1", 1024, 0), "reply");
  },
});

Deno.test({
  ...pure,
  name: "UdpReplyGuard bounds replies per source address per second",
  fn() {
    const guard = new UdpReplyGuard({
      port: 7879,
      ownAddresses: [],
      maxRepliesPerSecond: 3,
    });
    const verdicts = Array.from({ length: 5 }, () => guard.check("192.0.2.1", 5000, 0));
    equal(verdicts.join(), "reply,reply,reply,rate,rate");
    equal(guard.check("192.0.2.2", 5000, 0), "reply"); // another address: its own budget
    equal(guard.check("192.0.2.1", 5000, 1000), "reply"); // a second later
    const unbounded = new UdpReplyGuard({ port: 1, ownAddresses: [], maxRepliesPerSecond: 0 });
    for (let i = 0; i < 10_000; i++) equal(unbounded.check("192.0.2.1", 5000, 0), "reply");
  },
});

Deno.test({
  ...pure,
  name: "UdpReplyGuard tracks a bounded number of source addresses",
  fn() {
    const guard = new UdpReplyGuard({ port: 7879, ownAddresses: [], maxRepliesPerSecond: 1 });
    for (let i = 0; i < MAX_TRACKED_SOURCES + 500; i++) {
      guard.check(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 5000, 0);
    }
    equal(guard.trackedSources, MAX_TRACKED_SOURCES);
  },
});

Deno.test("serveUdpEcho() does not answer a datagram forged with its own address as the source", async () => {
  // The server on 127.0.0.1:P; a second socket on 0.0.0.0:P (address reuse)
  // sends from 127.0.0.1:P, the server's own address, as an attacker would.
  await using server = serveUdpEcho({ hostname: "127.0.0.1", port: 0, reusePort: true });
  const forger = Deno.listenDatagram({
    hostname: "0.0.0.0",
    port: server.addr.port,
    transport: "udp",
    reuseAddress: true,
  });
  const client = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  try {
    await forger.send(new TextEncoder().encode("loop?"), server.addr);
    // A real client's probe is answered, and the forged datagram was seen.
    await client.send(new TextEncoder().encode("probe"), server.addr);
    const [reply] = await within(client.receive(), "the reply to the probe");
    equal(new TextDecoder().decode(reply), "probe");
    await within(
      (async () => {
        while (server.counters.droppedSelf === 0) await new Promise((r) => setTimeout(r, 5));
      })(),
      "the forged datagram to be dropped",
    );
    equal(server.counters.droppedSelf, 1);
    equal(server.counters.datagrams, 1, "only the probe was echoed: no loop");
  } finally {
    forger.close();
    client.close();
  }
});

Deno.test("serveUdpEcho() drops replies over the per-address rate and counts them", async () => {
  await using server = serveUdpEcho({ hostname: "127.0.0.1", port: 0, maxRepliesPerSecond: 5 });
  const client = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  try {
    for (let i = 0; i < 20; i++) await client.send(new Uint8Array([i]), server.addr);
    await within(
      (async () => {
        while (server.counters.datagrams + server.counters.droppedRate < 20) {
          await new Promise((r) => setTimeout(r, 5));
        }
      })(),
      "all 20 datagrams to be handled",
    );
    // Tokens come back at 5 a second, so a slow machine may answer one more.
    equal(server.counters.datagrams >= 5 && server.counters.datagrams <= 6, true);
    equal(server.counters.datagrams + server.counters.droppedRate, 20);
  } finally {
    client.close();
  }
});

Deno.test({
  ...pure,
  name: "UdpReplyGuard bounds reply bytes per source address per second, not only datagrams",
  fn() {
    const guard = new UdpReplyGuard({ port: 7879, ownAddresses: [] }); // the defaults
    equal(guard.maxReplyBytesPerSecond, DEFAULT_UDP_REPLY_BYTES_PER_SECOND);
    // Large datagrams: the byte budget runs out long before the 1,000 datagrams a second.
    let replied = 0;
    for (let i = 0; i < 1000; i++) {
      if (guard.check("192.0.2.1", 5000, 0, MAX_UDP_PAYLOAD) === "reply") replied++;
    }
    equal(replied, Math.floor(DEFAULT_UDP_REPLY_BYTES_PER_SECOND / MAX_UDP_PAYLOAD));
    equal(guard.check("192.0.2.2", 5000, 0, MAX_UDP_PAYLOAD), "reply"); // its own budget
    // One datagram of the largest size always fits a smaller byte budget.
    const small = new UdpReplyGuard({ port: 1, ownAddresses: [], maxReplyBytesPerSecond: 1000 });
    equal(small.check("192.0.2.1", 5000, 0, MAX_UDP_PAYLOAD), "reply");
    equal(small.check("192.0.2.1", 5000, 1, 100), "rate");
    const unbounded = new UdpReplyGuard({ port: 1, ownAddresses: [], maxReplyBytesPerSecond: 0 });
    for (let i = 0; i < 100; i++) {
      equal(unbounded.check("192.0.2.1", 5000, 0, MAX_UDP_PAYLOAD), "reply");
    }
  },
});
