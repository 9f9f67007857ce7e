import { equal, match, ok, rejects, throws } from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { serveEcho } from "../lib/echo/serve_echo.ts";
import { serveChat, type ServeChatOptions } from "../lib/server/serve_chat.ts";
import { CertificateError } from "../lib/support/errors.ts";
import type { LogEvent } from "../lib/support/log.ts";
import { LineClient, LOOPBACK, syncWho, utf8, within } from "./helpers.ts";
import {
  connectTlsChat,
  connectTlsLines,
  connectWssChat,
  servedFingerprint,
  testCertificates,
  tlsTest,
} from "./tls_helpers.ts";

/**
 * A TLS chat server (both ports) on free ports, ready, with its log and a
 * way to wait for the first event of a kind.
 */
async function tlsChatServer(options: ServeChatOptions = {}) {
  const certs = await testCertificates();
  const log: LogEvent[] = [];
  const waiters: { kind: string; resolve: (event: LogEvent) => void }[] = [];
  const server = serveChat({
    ...LOOPBACK,
    httpPort: 0,
    tls: { cert: certs.server.cert, key: certs.server.key },
    logger: (event) => {
      log.push(event);
      for (const waiter of waiters.filter((waiter) => waiter.kind === event.event)) {
        waiter.resolve(event);
      }
    },
    ...options,
  });
  await server.ready;
  const firstLogged = (kind: string): Promise<LogEvent> => {
    const seen = log.find((event) => event.event === kind);
    if (seen !== undefined) return Promise.resolve(seen);
    return within(new Promise((resolve) => waiters.push({ kind, resolve })), `a ${kind} event`);
  };
  return { server, log, certs, firstLogged };
}

/** Resolves once `conn` is closed by the server (end of stream or reset). */
async function closedByServer(conn: Deno.Conn): Promise<void> {
  const scratch = new Uint8Array(1024);
  try {
    while ((await conn.read(scratch)) !== null) { /* discard */ }
  } catch { /* a reset counts */ }
}

tlsTest("serveChat() with tls: TLS line clients and a wss client chat in one room", async () => {
  const { server, log, certs } = await tlsChatServer();
  await using _ = server;
  await using alice = await connectTlsChat(server.addr, certs.ca);
  await using bob = await connectTlsChat(server.addr, certs.ca);
  await using web = await connectWssChat(server.httpAddr!, certs.ca);
  await alice.send("hello over tls");
  equal(await bob.nextMatching(/^</), `<${alice.nick}> hello over tls`);
  equal(await web.nextMatching(/^</), `<${alice.nick}> hello over tls`);
  web.ws.send("hello over wss");
  equal(await alice.nextMatching(/^<guest-3>/), `<${web.nick}> hello over wss`);
  equal((await syncWho(bob)).who, `* 3 in lobby: ${alice.nick}, ${bob.nick}, ${web.nick}`);
  const transports = log.filter((event) => event.event === "connect").map((e) => e.transport);
  equal(transports.join(","), "tls,tls,wss");
  equal(log[0].tls, true);
});

tlsTest("a TLS handshake that does not complete within the bound is cut", async () => {
  const { server, log } = await tlsChatServer({ tlsHandshakeTimeout: 300 });
  await using _ = server;
  const silent = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  const started = performance.now();
  await within(closedByServer(silent), "the silent client to be cut", 5000);
  const elapsed = performance.now() - started;
  silent.close();
  ok(elapsed >= 250 && elapsed < 3000, `cut after ${elapsed} ms`);
  // The same on the HTTPS port.
  const silentHttps = await Deno.connect({ hostname: "127.0.0.1", port: server.httpAddr!.port });
  await within(closedByServer(silentHttps), "the silent https client to be cut", 5000);
  silentHttps.close();
  const failures = log.filter((event) => event.event === "tls");
  equal(failures[0].reason, "tls handshake timed out");
  equal(server.clientCount, 0);
});

tlsTest(
  "a handshake holds a place: the next TLS client is told `! server full` over TLS",
  async () => {
    const { server, log, certs } = await tlsChatServer({ maxClients: 1, tlsHandshakeTimeout: 400 });
    await using _ = server;
    // A client that connects and never starts its handshake holds the only place...
    const silent = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
    // ...so a real client completes its handshake, reads why, and is closed.
    await using refused = await connectTlsLines(server.addr, certs.ca);
    equal(await refused.nextLine(), "! server full (1 clients); try again later");
    await refused.untilClosed();
    match(JSON.stringify(log.find((event) => event.event === "refuse")), /"transport":"tls"/);
    // Once the silent one is cut at the bound, the place is free again.
    await within(closedByServer(silent), "the silent client to be cut", 5000);
    silent.close();
    await using admitted = await connectTlsChat(server.addr, certs.ca);
    equal((await syncWho(admitted)).who, `* 1 in lobby: ${admitted.nick}`);
  },
);

tlsTest(
  "a plain-text client on the TLS ports is answered in clear and closed, one log line",
  async () => {
    const { server, log } = await tlsChatServer();
    await using _ = server;
    await using plain = await LineClient.connect(server.addr);
    await plain.send("hello, is this chat?");
    equal(
      await plain.nextLine(),
      "! this port speaks TLS; connect with a TLS client " +
        "(client.ts tls://HOST:PORT, openssl s_client -connect HOST:PORT)",
    );
    await plain.untilClosed();
    const http = await Deno.connect({ hostname: "127.0.0.1", port: server.httpAddr!.port });
    await http.write(utf8("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    const response = await within(new Response(http.readable).text(), "the 400 in clear");
    match(response, /^HTTP\/1\.1 400 Bad Request\r\n[^]*this port speaks HTTPS/);
    const failures = log.filter((event) => event.event === "tls");
    equal(failures.length, 1); // the second is summed into the next line, within the second
    equal(failures[0].reason, "not a tls client (plain text on a tls port)");
    equal(server.clientCount, 0);
  },
);

tlsTest(
  "reloadTls() serves the new certificate to new connections; old ones keep talking",
  async () => {
    const { server, certs } = await tlsChatServer();
    await using _ = server;
    const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
    equal(await servedFingerprint(server.addr.port, certs.ca), fingerprint(certs.server.cert));
    await using old = await connectTlsChat(server.addr, certs.ca);
    const info = server.reloadTls({ cert: certs.renewed.cert, key: certs.renewed.key });
    equal(info.subject, "CN=localhost");
    equal(await servedFingerprint(server.addr.port, certs.ca), fingerprint(certs.renewed.cert));
    await using fresh = await connectTlsChat(server.addr, certs.ca);
    await old.send("still here");
    equal(await fresh.nextMatching(/^</), `<${old.nick}> still here`);
    // A pair that does not match is refused; the renewed one stays in use.
    throws(
      () => server.reloadTls({ cert: certs.server.cert, key: certs.renewed.key }),
      (error) => error instanceof CertificateError && /key does not match/.test(error.message),
    );
    equal(await servedFingerprint(server.addr.port, certs.ca), fingerprint(certs.renewed.cert));
  },
);

tlsTest(
  "serveChat() refuses, before listening, a key that does not match the certificate",
  async () => {
    const certs = await testCertificates();
    throws(
      () => serveChat({ ...LOOPBACK, tls: { cert: certs.server.cert, key: certs.other.key } }),
      (error) =>
        error instanceof CertificateError && error.message === "key does not match certificate",
    );
    await using plain = serveChat(LOOPBACK);
    throws(() => plain.reloadTls({ cert: certs.server.cert, key: certs.server.key }), TypeError);
  },
);

tlsTest("serveEcho() with tls echoes bytes, half-closes, and echoes over wss", async () => {
  const certs = await testCertificates();
  await using server = serveEcho({
    ...LOOPBACK,
    httpPort: 0,
    tls: { cert: certs.server.cert, key: certs.server.key },
  });
  await server.ready;
  const conn = await Deno.connectTls({
    hostname: "localhost",
    port: server.addr.port,
    caCerts: [certs.ca],
  });
  const payload = new Uint8Array(300_000).map((_, i) => (i * 31) & 0xff);
  const writing = (async () => {
    let offset = 0;
    while (offset < payload.length) offset += await conn.write(payload.subarray(offset));
    await conn.closeWrite();
  })();
  const echoed = await within(new Response(conn.readable).bytes(), "the echo and its end");
  await writing;
  equal(echoed.length, payload.length);
  ok(echoed.every((byte, i) => byte === payload[i]));
  const { WebSocket } = await import("ws");
  const ws = new WebSocket(`wss://127.0.0.1:${server.httpAddr!.port}/`, { ca: certs.ca });
  const reply = new Promise<string>((resolve) => ws.once("message", (data) => resolve(`${data}`)));
  ws.once("open", () => ws.send("ping over wss"));
  equal(await within(reply, "the wss echo"), "ping over wss");
  const closed = new Promise((resolve) => ws.once("close", resolve));
  ws.close();
  await closed;
});

tlsTest("a TLS client that does not trust the certificate is logged as one line", async () => {
  const { server, firstLogged } = await tlsChatServer();
  await using _ = server;
  await rejects(
    Deno.connectTls({ hostname: "localhost", port: server.addr.port }).then(
      async (conn) => {
        try {
          await conn.handshake();
        } finally {
          conn.close();
        }
      },
    ),
  );
  const failure = await firstLogged("tls");
  match(String(failure.reason), /^tls handshake failed: .*(UnknownIssuer|UnknownCA|alert)/i);
  ok(!String(failure.reason).includes("\n"));
});
