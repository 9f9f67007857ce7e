/**
 * WebSocket clients that stop reading, against a server subprocess: each is
 * dropped once its queue passes `--max-queue-bytes`, and the server's
 * descriptors go back to what they were (counted in /proc/PID/fd) while
 * the stalled clients are still connected, over `ws://` and `wss://`.
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import { connectChat, LineClient, utf8, within } from "./helpers.ts";
import { type ServerProcess, startServer } from "./process_helpers.ts";
import { connectTlsChat, testCertificates, tlsTest } from "./tls_helpers.ts";
import { upgradeRequest } from "./ws_helpers.ts";

const STALLED = 8;

/** The server's open sockets. */
async function socketCount(pid: number): Promise<number> {
  let count = 0;
  for await (const entry of Deno.readDir(`/proc/${pid}/fd`)) {
    const target = await Deno.readLink(`/proc/${pid}/fd/${entry.name}`).catch(() => "");
    if (target.startsWith("socket:")) count++;
  }
  return count;
}

/** Waits (bounded) until `check` holds, polling. */
async function until(check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  await within(
    (async () => {
      while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 50));
    })(),
    what,
    ms,
  );
}

/** Stalls `STALLED` WebSocket clients, floods the room, checks drops and descriptors. */
async function stallAndCount(
  server: ServerProcess,
  connect: () => Promise<Deno.Conn>,
  chat: () => Promise<LineClient>,
): Promise<void> {
  const pid = server.child.pid;
  const alice = await chat();
  const bob = await chat();
  await alice.nextMatching(/joined lobby/);
  const baseline = await socketCount(pid);
  const stalled: Deno.Conn[] = [];
  try {
    for (let i = 0; i < STALLED; i++) {
      const conn = await connect();
      await conn.write(utf8(upgradeRequest("/ws", server.httpAddr!.port)));
      stalled.push(conn); // never read
      await bob.nextMatching(/joined lobby/);
    }
    ok((await socketCount(pid)) >= baseline + STALLED);
    const line = "z".repeat(3000);
    let dropped = 0;
    for (let batch = 0; batch < 400 && dropped < STALLED; batch++) {
      await alice.write(utf8(`${line}\n`.repeat(20)));
      for (let i = 0; i < 20; i++) {
        const got = await bob.nextMatching(/^<|left/);
        if (/ left \(too slow\)$/.test(got)) dropped++;
      }
    }
    equal(dropped, STALLED);
    // Released within the grace, though the stalled clients are still connected.
    await until(async () => (await socketCount(pid)) <= baseline, "the descriptors to be released");
  } finally {
    for (const conn of stalled) conn.close();
    await alice.close();
    await bob.close();
  }
}

const SERVER_ARGS = ["--host", "127.0.0.1", "--port", "0", "--rate", "0"];

Deno.test("server.ts drops stalled ws:// readers and releases their descriptors", async () => {
  await using server = await startServer("server.ts", [
    ...SERVER_ARGS,
    "--max-queue-bytes",
    "65536",
  ]);
  await stallAndCount(
    server,
    () => Deno.connect({ hostname: "127.0.0.1", port: server.httpAddr!.port }),
    () => connectChat(server.addr),
  );
});

tlsTest("server.ts drops stalled wss:// readers and releases their descriptors", async () => {
  const certificates = await testCertificates();
  await using server = await startServer("server.ts", [
    ...SERVER_ARGS,
    "--max-queue-bytes",
    "65536",
    "--tls-cert",
    certificates.server.certFile,
    "--tls-key",
    certificates.server.keyFile,
  ]);
  await stallAndCount(
    server,
    async () => {
      const conn = await Deno.connectTls({
        hostname: "localhost",
        port: server.httpAddr!.port,
        caCerts: [certificates.ca],
      });
      await conn.handshake();
      return conn;
    },
    () => connectTlsChat(server.addr, certificates.ca),
  );
});
