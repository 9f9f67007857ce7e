import type { LogEvent } from "../lib/support/log.ts";
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { ListenError } from "../lib/support/errors.ts";
import { serveEcho } from "../lib/echo/serve_echo.ts";
import { LineClient, LOOPBACK, utf8, within } from "./helpers.ts";
import { rssMiB, startEchoServer } from "./process_helpers.ts";

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  return bytes;
}

/** Reads from `conn` into odd-sized buffers until EOF; returns everything. */
async function readToEnd(conn: Deno.Conn, total: number): Promise<Uint8Array<ArrayBuffer>> {
  const received = new Uint8Array(total + 1);
  let length = 0;
  const sizes = [1, 7, 4093, 65_537, 333];
  for (let i = 0;; i++) {
    const room = Math.min(sizes[i % sizes.length], received.length - length);
    const n = await conn.read(received.subarray(length, length + Math.max(room, 1)));
    if (n === null) break;
    length += n;
  }
  return received.subarray(0, length);
}

Deno.test("serveEcho() returns 10 MiB byte-identical with odd read and write sizes, then closes after the half-close", async () => {
  await using server = serveEcho(LOOPBACK);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  const data = randomBytes(10 * 1024 * 1024);
  const writing = (async () => {
    const sizes = [3, 65_536, 1, 9_999, 131_071];
    for (let offset = 0, i = 0; offset < data.length; i++) {
      const end = Math.min(data.length, offset + sizes[i % sizes.length]);
      let at = offset;
      while (at < end) at += await conn.write(data.subarray(at, end));
      offset = end;
    }
    await conn.closeWrite(); // half-close: the server finishes echoing, then closes
  })();
  const echoed = await within(readToEnd(conn, data.length), "the echo and the close", 60_000);
  await writing;
  conn.close();
  equal(echoed.length, data.length);
  equal(await sha256(echoed), await sha256(data));
});

Deno.test("serveEcho() with transform upper upper-cases UTF-8 split across reads", async () => {
  await using server = serveEcho({ ...LOOPBACK, transform: "upper" });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  conn.setNoDelay(true);
  const text = "привет, мир! straße 😀 ǆ";
  const bytes = utf8(text);
  for (let i = 0; i < bytes.length; i++) await conn.write(bytes.subarray(i, i + 1));
  await conn.closeWrite();
  const echoed = new TextDecoder().decode(await within(readToEnd(conn, 1024), "the echo"));
  conn.close();
  equal(echoed, text.toUpperCase());
});

Deno.test("serveEcho() refuses a client over --max-clients without injecting bytes, and logs why", async () => {
  const log: LogEvent[] = [];
  await using server = serveEcho({
    ...LOOPBACK,
    maxClients: 1,
    logger: (event) => log.push(event),
  });
  await using first = await LineClient.connect(server.addr);
  await first.send("ping");
  equal(await first.nextLine(), "ping");
  await using second = await LineClient.connect(server.addr);
  await second.send("not echoed");
  deepEqual(await second.untilClosed(), []); // RFC 862: nothing but the echo
  equal(
    log.find((event) => event.event === "refuse")?.reason,
    "server full (1 clients); try again later",
  );
  await first.send("still served");
  equal(await first.nextLine(), "still served");
});

Deno.test("serveEcho() shutdown stops promptly, after echoing what it read", async () => {
  const server = serveEcho(LOOPBACK);
  const client = await LineClient.connect(server.addr);
  await client.send("last words");
  equal(await client.nextLine(), "last words");
  await within(server.shutdown(), "shutdown", 3000);
  deepEqual(await client.untilClosed(), []);
  await client.close();
});

Deno.test("serveEcho() closes an idle client without injecting bytes", async () => {
  await using server = serveEcho({ ...LOOPBACK, idleTimeout: 0.2 });
  const client = await LineClient.connect(server.addr);
  await client.send("x");
  equal(await client.nextLine(), "x");
  deepEqual(await client.untilClosed(), []);
  await client.close();
});

Deno.test("server.ts --mode echo does not grow its memory for a client that sends without reading", async () => {
  const server = await startEchoServer(["-q"]);
  const { child, addr } = server;
  const before = await rssMiB(child.pid);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: addr.port });
  const chunk = new Uint8Array(1024 * 1024).fill(0x61);
  let pushedMiB = 0;
  // Push up to 256 MiB, never reading. The server reads only as fast as it
  // can write back, so once the kernel buffers fill our writes stall.
  while (pushedMiB < 256) {
    const written = await within(conn.write(chunk), "a write", 2000).catch(() => null);
    if (written === null) break; // stalled: the server stopped reading
    pushedMiB += written / (1024 * 1024);
  }
  const after = await rssMiB(child.pid);
  conn.close();
  await server.stop();
  ok(pushedMiB < 64, `the server kept reading: ${pushedMiB} MiB pushed`);
  ok(after - before < 16, `server RSS grew by ${(after - before).toFixed(1)} MiB`);
});

Deno.test("serveEcho() refuses bad options before binding anything", () => {
  for (
    const [options, pattern] of [
      [{ maxMessageBytes: 0 }, /maxMessageBytes must be an integer >= 1, received 0/],
      [{ idleTimeout: -1 }, /idleTimeout must be a number >= 0/],
      [{ pingInterval: Number.NaN }, /pingInterval must be a number from 0 to 2147483/],
      [{ pingInterval: 3e6 }, /pingInterval must be a number from 0 to 2147483, received 3000000/],
      [{ shutdownTimeout: -5 }, /shutdownTimeout/],
      [{ maxClients: 0 }, /maxClients must be an integer >= 1/],
      [{ transform: "lower" as "upper" }, /transform must be "none" or "upper"/],
    ] as const
  ) {
    // Would bind the TCP port if validation came late; the resource
    // sanitizer would then report the leaked Deno listener.
    throws(
      () => serveEcho({ ...LOOPBACK, httpPort: 0, ...options }),
      pattern,
      JSON.stringify(options),
    );
  }
});

Deno.test("serveEcho() on a port in use throws and leaves no listener or timer behind", async () => {
  // The idle sweep and ping timers start only once the ports are bound (the
  // op sanitizer reports a leaked interval), and the HTTP port is bound only
  // after the TCP one.
  await using taken = serveEcho(LOOPBACK);
  throws(
    () =>
      serveEcho({
        ...LOOPBACK,
        port: taken.addr.port,
        httpPort: 0,
        idleTimeout: 5,
        pingInterval: 1,
      }),
    ListenError,
  );
});
