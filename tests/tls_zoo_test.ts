/**
 * Hostile and old TLS clients against a real server process (so that a
 * crash fails the test, not the runner): a zoo of raw ClientHellos on both
 * TLS ports, openssl refused for TLS 1.1, and a full sslscan when installed.
 * After each, good TLS 1.2 and TLS 1.3 clients still get through.
 */

import { equal, match, ok } from "node:assert/strict";
import { TlsAlert } from "../lib/net/client_hello.ts";
import { utf8, within } from "./helpers.ts";
import { ChildLines, type ServerProcess, startServer } from "./process_helpers.ts";
import { connectTlsChat, testCertificates, tlsTest } from "./tls_helpers.ts";
import { clientHello, inRecords, sslv2Hello } from "./tls_hellos.ts";

/** Why a hello-then-reset cannot be sent here (Deno cannot reset a connection), or null. */
const PYTHON_MISSING: string | null = (() => {
  try {
    const { success } = new Deno.Command("python3", { args: ["-c", "import socket"] }).outputSync();
    return success ? null : "python3 cannot import socket";
  } catch {
    return "python3 is not installed";
  }
})();

const SSLSCAN_MISSING: string | null = (() => {
  try {
    new Deno.Command("sslscan", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync();
    return null;
  } catch {
    return "sslscan is not installed";
  }
})();

/** One raw client: bytes to send, how it ends, and the alert it must get (null: none needed). */
interface ZooCase {
  name: string;
  bytes: Uint8Array;
  /** "eof": half-close and read the answer; "close": close at once; "reset": RST after sending. */
  end: "eof" | "close" | "reset";
  alert: number | null;
}

const good = clientHello();
const ZOO: ZooCase[] = [
  { name: "SSLv2-style hello", bytes: sslv2Hello(), end: "eof", alert: TlsAlert.protocolVersion },
  ...([[0x0300, "SSLv3"], [0x0301, "TLS 1.0"], [0x0302, "TLS 1.1"]] as const).map((
    [version, name],
  ): ZooCase => ({
    name: `${name} hello`,
    bytes: inRecords(
      clientHello({ legacyVersion: version, versions: null, suites: [0xc013, 0x002f, 0x000a] }),
      16384,
      version,
    ),
    end: "eof",
    alert: TlsAlert.protocolVersion,
  })),
  {
    name: "TLS 1.2 hello with only CBC, RC4 and 3DES suites",
    bytes: inRecords(clientHello({ versions: null, suites: [0xc013, 0x002f, 0x0005, 0x000a] })),
    end: "eof",
    alert: TlsAlert.handshakeFailure,
  },
  {
    name: "garbage after a record header",
    bytes: new Uint8Array([22, 3, 1, 0, 64, ...new Array(64).fill(0xa5)]),
    end: "eof",
    alert: TlsAlert.unexpectedMessage,
  },
  {
    name: "truncated hello (half-close)",
    bytes: inRecords(good).subarray(0, 40),
    end: "eof",
    alert: null,
  },
  {
    name: "hello split over one-byte records",
    bytes: inRecords(clientHello({ versions: null, suites: [0x002f] }), 1),
    end: "eof",
    alert: TlsAlert.handshakeFailure,
  },
  {
    // Passes the hello check, fails inside the TLS layer (no groups, no signature schemes).
    name: "TLS 1.2 AEAD hello without groups or signature algorithms",
    bytes: inRecords(clientHello({ versions: null, suites: [0xc02b, 0xc02f], groups: false })),
    end: "eof",
    alert: null,
  },
  {
    name: "half a hello, then closed",
    bytes: inRecords(good).subarray(0, 60),
    end: "close",
    alert: null,
  },
  {
    name: "half a hello, then RST",
    bytes: inRecords(good).subarray(0, 60),
    end: "reset",
    alert: null,
  },
  { name: "a whole hello, then RST", bytes: inRecords(good), end: "reset", alert: null },
];

/** Sends `zoo.bytes` to `port`; returns what came back before the close. */
async function sendRaw(port: number, zoo: ZooCase): Promise<Uint8Array> {
  if (zoo.end === "reset") {
    if (PYTHON_MISSING !== null) return new Uint8Array(); // closed abruptly instead
    const script = "import socket,struct,sys\n" +
      "s=socket.create_connection(('127.0.0.1',int(sys.argv[1])))\n" +
      "s.sendall(bytes.fromhex(sys.argv[2]))\n" +
      "s.setsockopt(socket.SOL_SOCKET,socket.SO_LINGER,struct.pack('ii',1,0))\n" +
      "s.close()\n";
    const hex = [...zoo.bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
    const { success } = await new Deno.Command("python3", {
      args: ["-c", script, String(port), hex],
    }).output();
    ok(success, "python3 sent the hello and the reset");
    return new Uint8Array();
  }
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(zoo.bytes);
    if (zoo.end === "close") return new Uint8Array();
    await conn.closeWrite();
    const got: number[] = [];
    const buffer = new Uint8Array(1024);
    while (true) {
      const n = await within(conn.read(buffer).catch(() => null), `the answer to ${zoo.name}`);
      if (n === null) return new Uint8Array(got);
      got.push(...buffer.subarray(0, n));
    }
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** Starts `openssl s_client` with `args`, verifying the test CA and the name. */
function sClient(port: number, args: string[], caFile: string) {
  const child = new Deno.Command("openssl", {
    args: [
      "s_client",
      "-quiet",
      "-connect",
      `127.0.0.1:${port}`,
      "-servername",
      "localhost",
      "-CAfile",
      caFile,
      "-verify_return_error",
      ...args,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return { child, lines: new ChildLines(child.stdout), stdin: child.stdin.getWriter() };
}

async function stopClient(client: ReturnType<typeof sClient>): Promise<void> {
  await client.stdin.close().catch(() => {});
  try {
    client.child.kill("SIGTERM");
  } catch { /* exited already */ }
  await client.child.status;
  await client.lines.cancel();
  await client.child.stderr.cancel();
}

/** A TLS 1.2 or 1.3 line client on the chat port reads its welcome. */
async function chatsOver(port: number, version: "-tls1_2" | "-tls1_3", caFile: string) {
  const client = sClient(port, [version], caFile);
  try {
    match((await client.lines.next()) ?? "", /^\* welcome to parley, /, `welcome over ${version}`);
  } finally {
    await stopClient(client);
  }
}

/** A TLS 1.2 or 1.3 HTTPS client gets the page's status line. */
async function fetchesOver(port: number, version: "-tls1_2" | "-tls1_3", caFile: string) {
  const client = sClient(port, [version, "-ign_eof"], caFile);
  try {
    await client.stdin.write(
      utf8("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    );
    match((await client.lines.next()) ?? "", /^HTTP\/1\.1 200 /, `https over ${version}`);
  } finally {
    await stopClient(client);
  }
}

async function tlsServer(): Promise<ServerProcess> {
  const certs = await testCertificates();
  return await startServer("server.ts", [
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--tls-cert",
    certs.server.certFile,
    "--tls-key",
    certs.server.keyFile,
  ]);
}

/** Fails when the server process has exited. */
async function alive(server: ServerProcess): Promise<void> {
  const exited = await Promise.race([
    server.child.status.then(() => true),
    new Promise<false>((resolve) => setTimeout(() => resolve(false), 0)),
  ]);
  if (exited) throw new Error(`the server died: ${await server.stderr}`);
}

tlsTest(
  "TLS ports answer a zoo of bad ClientHellos with an alert and a close; good TLS 1.2 and 1.3 clients still get in",
  async () => {
    const certs = await testCertificates();
    await using server = await tlsServer();
    const ports = [
      { name: "chat", port: server.addr.port, good: chatsOver },
      { name: "https", port: server.httpAddr!.port, good: fetchesOver },
    ];
    for (const { name, port, good } of ports) {
      for (const zoo of ZOO) {
        const answer = await sendRaw(port, zoo);
        if (zoo.alert !== null) {
          equal(answer.length, 7, `${name}: ${zoo.name}: one alert record, got ${answer}`);
          equal(answer[0], 21, `${name}: ${zoo.name}: an alert record`);
          equal(answer[5], 2, `${name}: ${zoo.name}: fatal`);
          equal(answer[6], zoo.alert, `${name}: ${zoo.name}: alert ${zoo.alert}`);
        }
        await alive(server);
        await good(port, "-tls1_2", certs.caFile);
        await good(port, "-tls1_3", certs.caFile);
      }
      // openssl itself, limited to TLS 1.1: a protocol_version alert, exit 1.
      const old = await new Deno.Command("openssl", {
        args: ["s_client", "-tls1_1", "-connect", `127.0.0.1:${port}`],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).output();
      equal(old.success, false);
      match(new TextDecoder().decode(old.stderr), /alert protocol version/);
      await alive(server);
    }
    const { code } = await server.stop();
    equal(code, 0);
    const log = await server.stderr;
    ok(!/Uncaught|^\s+at /m.test(log), log);
    match(log, /tls .*reason="client offers at most SSLv3 \(TLS 1\.2 needed\)"/);
    match(log, /tls .*reason="sslv2-style client hello/);
    match(log, /tls .*reason="no cipher suite in common/);
    match(log, /tls .*reason="not a handshake record|handshake message 165/);
    match(log, /tls .*reason="closed during the tls client hello"/);
    match(log, /tls .*reason="tls handshake failed: /);
  },
);

/**
 * A relay to `port` that hands on the client's first `slowBytes` bytes one
 * per write, a millisecond apart (a ClientHello in many TCP segments), then
 * relays both ways as they come. Serves one connection.
 */
function slowRelay(port: number, slowBytes: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const done = (async () => {
    const client = await listener.accept();
    listener.close();
    const server = await Deno.connect({ hostname: "127.0.0.1", port });
    const pipe = async (from: Deno.Conn, to: Deno.Conn, slow: number) => {
      const buffer = new Uint8Array(16384);
      try {
        for (let n = await from.read(buffer); n !== null; n = await from.read(buffer)) {
          let at = 0;
          for (; at < n && slow > 0; at++, slow--) {
            await to.write(buffer.subarray(at, at + 1));
            await new Promise((resolve) => setTimeout(resolve, 1));
          }
          if (at < n) await to.write(buffer.subarray(at, n));
        }
      } catch { /* the other side went away */ }
      try {
        to.close();
      } catch { /* closed */ }
    };
    await Promise.all([pipe(client, server, slowBytes), pipe(server, client, 0)]);
  })();
  return { port: (listener.addr as Deno.NetAddr).port, done };
}

tlsTest(
  "a ClientHello that arrives a byte at a time is reassembled and the client chats",
  async () => {
    const certs = await testCertificates();
    await using server = await tlsServer();
    const relay = slowRelay(server.addr.port, 400);
    const client = await connectTlsChat({ ...server.addr, port: relay.port }, certs.ca);
    await client.send("/nick slowpoke");
    await client.nextMatching(/slowpoke/);
    await client.close();
    await relay.done;
    await alive(server);
    equal((await server.stop()).code, 0);
    ok(!/tls .*reason=/.test(await server.stderr), "no TLS failure logged");
  },
);

Deno.test({
  name: SSLSCAN_MISSING === null
    ? "sslscan runs to completion against the TLS chat port: TLS 1.2 AEAD and TLS 1.3 only, server alive"
    : `sslscan against the TLS chat port (ignored: ${SSLSCAN_MISSING})`,
  ignore: SSLSCAN_MISSING !== null || (Deno.build.os === "windows"),
  async fn() {
    const certs = await testCertificates();
    await using server = await tlsServer();
    const scan = await within(
      new Deno.Command("sslscan", {
        args: ["--no-colour", `127.0.0.1:${server.addr.port}`],
        stdout: "piped",
        stderr: "piped",
      }).output(),
      "sslscan to finish",
      120_000,
    );
    const report = new TextDecoder().decode(scan.stdout);
    equal(scan.success, true, report);
    await alive(server);
    for (const version of ["SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"]) {
      match(report, new RegExp(`^${version.replace(".", "\\.")}\\s+disabled`, "m"));
    }
    match(report, /^TLSv1\.2\s+enabled/m);
    match(report, /^TLSv1\.3\s+enabled/m);
    const accepted = report.split("\n").filter((line) => /^(Preferred|Accepted)\s/.test(line));
    ok(accepted.length > 0, report);
    for (const line of accepted) match(line, /TLSv1\.[23]\s.*(GCM|CHACHA20)/, line);
    ok(!/CBC|RC4|DES|-SHA\s/.test(accepted.join("\n")), accepted.join("\n"));
    // And a good client still chats afterwards.
    await chatsOver(server.addr.port, "-tls1_3", certs.caFile);
    equal((await server.stop()).code, 0);
  },
});
