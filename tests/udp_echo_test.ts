import { deepEqual, equal, match, ok } from "node:assert/strict";
import { MAX_UDP_PAYLOAD } from "../lib/support/constants.ts";
import { runUdpEchoClient, type UdpEchoClientOptions } from "../lib/echo/udp_echo_client.ts";
import { serveUdpEcho } from "../lib/echo/udp_echo_server.ts";
import { within } from "./helpers.ts";

const LOOPBACK_UDP = { hostname: "127.0.0.1", port: 0 } as const;

function udpSocket(): Deno.DatagramConn {
  return Deno.listenDatagram({ ...LOOPBACK_UDP, transport: "udp" });
}

/**
 * A test echo peer that decides per datagram (numbered from 1) what to send
 * back: nothing, the datagram, a changed copy, or several copies.
 */
function misbehavingPeer(reply: (datagram: Uint8Array, index: number) => Uint8Array[]) {
  const socket = udpSocket();
  const done = (async () => {
    let index = 0;
    try {
      while (true) {
        const [datagram, from] = await socket.receive();
        for (const answer of reply(datagram, ++index)) await socket.send(answer, from);
      }
    } catch { /* closed */ }
  })();
  return {
    addr: socket.addr as Deno.NetAddr,
    async [Symbol.asyncDispose]() {
      socket.close();
      await done;
    },
  };
}

async function runClient(
  addr: Deno.NetAddr,
  options: Partial<UdpEchoClientOptions>,
): Promise<
  {
    lines: string[];
    exitCode: number;
    stats: Awaited<ReturnType<typeof runUdpEchoClient>>["stats"];
  }
> {
  const lines: string[] = [];
  const result = await runUdpEchoClient({
    target: { hostname: addr.hostname, port: addr.port },
    requests: ["one"],
    print: (line) => lines.push(line),
    ...options,
  });
  return { lines, ...result };
}

Deno.test("serveUdpEcho() returns empty and 65,507-byte datagrams unchanged, and counts them", async () => {
  await using server = serveUdpEcho(LOOPBACK_UDP);
  const socket = udpSocket();
  try {
    for (const size of [0, 1, 1472, MAX_UDP_PAYLOAD]) {
      const datagram = crypto.getRandomValues(new Uint8Array(size));
      await socket.send(datagram, server.addr);
      const [echo] = await within(socket.receive(), `the ${size}-byte echo`);
      deepEqual(echo, datagram);
    }
  } finally {
    socket.close();
  }
  deepEqual(server.counters, {
    datagrams: 4,
    bytes: 1 + 1472 + MAX_UDP_PAYLOAD,
    errors: 0,
    droppedSelf: 0,
    droppedServicePort: 0,
    droppedRate: 0,
  });
});

Deno.test("serveUdpEcho() gives several concurrent clients only their own replies", async () => {
  await using server = serveUdpEcho(LOOPBACK_UDP);
  const runs = await Promise.all(
    Array.from(
      { length: 6 },
      () =>
        runClient(server.addr, { requests: { count: 200, size: 64 }, interval: 0, timeout: 2000 }),
    ),
  );
  for (const { stats, exitCode } of runs) {
    equal(exitCode, 0);
    deepEqual([stats.sent, stats.received, stats.corrupt, stats.late, stats.duplicate], [
      200,
      200,
      0,
      0,
      0,
    ]);
  }
  equal(server.counters.datagrams, 1200);
});

Deno.test("runUdpEchoClient() prints one line per reply and a ping-like summary, exit 0", async () => {
  await using server = serveUdpEcho(LOOPBACK_UDP);
  const { lines, exitCode } = await runClient(server.addr, { requests: ["hello", "мир"] });
  equal(exitCode, 0);
  match(lines[0], /^PARLEY UDP ECHO 127\.0\.0\.1:\d+: one request per message/);
  match(lines[1], /^21 bytes from 127\.0\.0\.1:\d+: seq=1 time=\d+\.\d{3} ms: hello$/);
  match(lines[2], /^22 bytes from 127\.0\.0\.1:\d+: seq=2 time=\d+\.\d{3} ms: мир$/);
  match(lines[3], /^--- 127\.0\.0\.1:\d+ udp echo statistics ---$/);
  equal(lines[4], "2 sent, 2 received, 0 lost (0.0%), 0 corrupt, 0 late, 0 duplicate");
  match(lines[5], /^rtt min\/avg\/max\/p99 = [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ ms$/);
});

Deno.test("runUdpEchoClient() with no server reports the timeout after the retries, exit 1", async () => {
  const probe = udpSocket();
  const addr = probe.addr as Deno.NetAddr;
  probe.close();
  const { lines, exitCode, stats } = await runClient(addr, { timeout: 50, retries: 2 });
  equal(exitCode, 1);
  deepEqual(lines.slice(1, 4), [
    "seq=1 timed out after 50 ms; retrying (1/2)",
    "seq=1 timed out after 50 ms; retrying (2/2)",
    lines[3],
  ]);
  match(lines[3], /^seq=1 lost: no reply after 3 attempts \(\d+ ms\)$/);
  equal(lines[5], "1 sent, 0 received, 1 lost (100.0%), 0 corrupt, 0 late, 0 duplicate");
  equal(stats.rtts.length, 0);
});

Deno.test("runUdpEchoClient() counts loss exactly against a peer that drops every other datagram", async () => {
  await using peer = misbehavingPeer((datagram, index) => index % 2 === 0 ? [] : [datagram]);
  const noRetry = await runClient(peer.addr, {
    requests: { count: 10, size: 32 },
    interval: 0,
    timeout: 100,
    retries: 0,
  });
  equal(noRetry.exitCode, 1);
  deepEqual([noRetry.stats.sent, noRetry.stats.received], [10, 5]);
  equal(
    noRetry.lines.at(-2),
    "10 sent, 5 received, 5 lost (50.0%), 0 corrupt, 0 late, 0 duplicate",
  );
});

Deno.test("runUdpEchoClient() recovers every request with one retry when every other datagram is dropped", async () => {
  await using peer = misbehavingPeer((datagram, index) => index % 2 === 0 ? [] : [datagram]);
  // Datagram 1 (seq 1) is echoed; then each request's first try is dropped and its retry echoed.
  const run = await runClient(peer.addr, {
    requests: { count: 6, size: 32 },
    interval: 0,
    timeout: 100,
    retries: 1,
  });
  equal(run.exitCode, 0);
  deepEqual([run.stats.sent, run.stats.received], [6, 6]);
  equal(run.lines.filter((line) => line.endsWith("(attempt 2)")).length, 5);
});

Deno.test("runUdpEchoClient() reports a changed payload as corrupt, exit 1", async () => {
  await using peer = misbehavingPeer((datagram, index) => {
    const copy = datagram.slice();
    if (index === 2) copy[copy.length - 1] ^= 0xff;
    return [copy];
  });
  const run = await runClient(peer.addr, { requests: ["a", "b", "c"] });
  equal(run.exitCode, 1);
  equal(run.lines[2], "seq=2 corrupt reply: payload differs from what was sent");
  deepEqual([run.stats.received, run.stats.corrupt], [2, 1]);
});

Deno.test("runUdpEchoClient() recognises duplicate and late replies and does not count them as answers", async () => {
  const held: Uint8Array[] = [];
  await using peer = misbehavingPeer((datagram, index) => {
    if (index === 1) return [datagram, datagram]; // seq 1 twice
    if (index === 2) {
      held.push(datagram); // seq 2: answered only later, after its timeout
      return [];
    }
    return [...held.splice(0), datagram]; // seq 2 late, then seq 3
  });
  const run = await runClient(peer.addr, {
    requests: ["one", "two", "three"],
    timeout: 150,
    retries: 0,
  });
  equal(run.exitCode, 1);
  deepEqual(
    [run.stats.sent, run.stats.received, run.stats.duplicate, run.stats.late],
    [3, 2, 1, 1],
  );
  ok(run.lines.includes("duplicate reply for seq=1"));
  ok(run.lines.includes("late reply for seq=2 (already counted as lost)"));
  match(run.lines.find((line) => line.includes("seq=3 time="))!, /: three$/);
});

Deno.test("serveUdpEcho() with reusePort lets a new server take the port over: the newest answers", async () => {
  await using old = serveUdpEcho({ hostname: "127.0.0.1", port: 0, reusePort: true });
  const client = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  const probe = async (text: string) => {
    await client.send(new TextEncoder().encode(text), old.addr);
    const [reply] = await within(client.receive(), `the reply to ${text}`);
    equal(new TextDecoder().decode(reply), text);
  };
  try {
    await probe("before");
    await using newer = serveUdpEcho({
      hostname: "127.0.0.1",
      port: old.addr.port,
      reusePort: true,
    });
    for (let i = 0; i < 5; i++) await probe(`during ${i}`);
    equal(newer.counters.datagrams, 5, "the server bound last receives every datagram");
    equal(old.counters.datagrams, 1);
    await newer.shutdown();
    await probe("after"); // the old one still listens, and answers again
    equal(old.counters.datagrams, 2);
  } finally {
    client.close();
  }
});
