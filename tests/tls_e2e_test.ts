import { deepEqual, equal, match, ok } from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { utf8, within } from "./helpers.ts";
import {
  ChildLines,
  denoRun,
  listeningAddrs,
  runToEnd,
  startEchoServer,
  startServer,
} from "./process_helpers.ts";
import {
  chatServing,
  connectTlsChat,
  connectWssChat,
  servedFingerprint,
  testCertificates,
  tlsTest,
} from "./tls_helpers.ts";

/** Runs client.ts with `input` on stdin (then EOF). */
const runClient = (args: string[], input = "") => runToEnd("client.ts", args, input);

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

/** The log lines of a reload (success or failure). */
const RELOAD = /tls reason="(certificate reloaded|reload failed)/;

tlsTest(
  "server.ts --tls-cert/--tls-key: client.ts tls://, openssl s_client and Deno's TLS client chat",
  async () => {
    const certs = await testCertificates();
    const server = await startServer("server.ts", [
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--tls-cert",
      certs.server.certFile,
      "--tls-key",
      certs.server.keyFile,
      "--tls-handshake-timeout",
      "300",
    ]);
    const port = server.addr.port;
    const bob = await connectTlsChat(server.addr, certs.ca);
    // openssl s_client, verifying the chain and the name.
    const openssl = new Deno.Command("openssl", {
      args: [
        "s_client",
        "-quiet",
        "-connect",
        `127.0.0.1:${port}`,
        "-servername",
        "localhost",
        "-verify_hostname",
        "localhost",
        "-CAfile",
        certs.caFile,
        "-verify_return_error",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const opensslOut = new ChildLines(openssl.stdout);
    const opensslIn = openssl.stdin.getWriter();
    match(await opensslOut.next() ?? "", /^\* welcome to parley, guest-2$/);
    await opensslIn.write(utf8("hello from openssl\n"));
    equal(await bob.nextMatching(/^</), "<guest-2> hello from openssl");
    await bob.send("hi openssl");
    for (let line = await opensslOut.next(); line !== `<${bob.nick}> hi openssl`;) {
      line = await opensslOut.next();
    }
    // client.ts in a pipe, trusting the test CA.
    const piped = await runClient(
      [`tls://localhost:${port}`, "--ca", certs.caFile, "--nick", "piper"],
      "hello from client.ts\n",
    );
    equal(piped.code, 0, piped.stderr);
    equal(piped.stderr, "");
    match(piped.stdout, /^\* welcome to parley, piper\n/); // --nick: named as it joins
    equal(await bob.nextMatching(/^<piper>/), "<piper> hello from client.ts");
    // The handshake bound of the flag holds.
    const silent = await Deno.connect({ hostname: "127.0.0.1", port });
    equal(await within(silent.read(new Uint8Array(16)), "the silent client to be cut"), null);
    silent.close();
    await opensslIn.close();
    openssl.kill("SIGTERM");
    await openssl.status;
    await opensslOut.cancel();
    const stopping = server.stop();
    await bob.untilClosed();
    await bob.close();
    equal((await stopping).code, 0);
    const log = await server.stderr;
    match(log, /listen addr=127\.0\.0\.1:\d+ http=127\.0\.0\.1:\d+ tls=true/);
    match(log, /connect peer=127\.0\.0\.1:\d+ nick=guest-2 transport=tls/);
    match(log, /tls peer=127\.0\.0\.1:\d+ reason="tls handshake timed out"/);
    ok(!/^\s+at /m.test(log), log);
  },
);

tlsTest(
  "client.ts refuses a certificate for another name, an expired one, an untrusted one",
  async () => {
    const certs = await testCertificates();
    await using other = await chatServing(certs.other);
    await using expired = await chatServing(certs.expired);
    await using untrusted = await chatServing(certs.server);
    const cases: [string[], string][] = [
      [
        [`tls://localhost:${other.addr.port}`, "--ca", certs.caFile],
        "client: certificate is for other.example, not localhost\n",
      ],
      [
        [`wss://localhost:${other.httpAddr!.port}/ws`, "--ca", certs.caFile],
        "client: certificate is for other.example, not localhost\n",
      ],
      [
        ["--tls", `localhost:${expired.addr.port}`, "--ca", certs.caFile],
        "client: certificate for localhost has expired (valid until 2020-01-02T00:00:00.000Z)\n",
      ],
      [
        [`tls://localhost:${untrusted.addr.port}`],
        'client: certificate for localhost is not trusted: issued by "Parley Test CA", ' +
        "which is not a trusted root (add it with --ca FILE)\n",
      ],
    ];
    for (const [args, stderr] of cases) {
      const result = await runClient(args);
      deepEqual([result.code, result.stderr, result.stdout], [1, stderr, ""], args.join(" "));
    }
    equal(untrusted.clientCount, 0); // nothing was sent over the refused connections
  },
);

tlsTest("client.ts --insecure connects to an untrusted server and warns every time", async () => {
  const certs = await testCertificates();
  await using server = await chatServing(certs.other);
  const warning = "client: warning: --insecure: the server's certificate is not verified\n";
  for (
    const target of [
      `tls://localhost:${server.addr.port}`,
      `wss://localhost:${server.httpAddr!.port}/ws`,
    ]
  ) {
    const result = await runClient([target, "--insecure"], "/who\n");
    equal(result.code, 0, result.stderr);
    equal(result.stderr, warning);
    match(result.stdout, /^\* welcome to parley, guest-\d+\n/);
  }
});

tlsTest(
  "server.ts on SIGHUP serves a renewed certificate to new clients; old ones keep talking",
  async () => {
    const certs = await testCertificates();
    const live = await Deno.makeTempDir({ dir: certs.dir }); // removed with the certificates
    const [certFile, keyFile] = [`${live}/cert.pem`, `${live}/key.pem`];
    await Deno.copyFile(certs.server.certFile, certFile);
    await Deno.copyFile(certs.server.keyFile, keyFile);
    const child = denoRun("server.ts", [
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--http-port",
      "0",
      "--tls-cert",
      certFile,
      "--tls-key",
      keyFile,
    ]);
    const stdout = new ChildLines(child.stdout);
    const stderr = new ChildLines(child.stderr);
    const { tcp, http } = await listeningAddrs(stdout);
    const logged = async (pattern: RegExp) => {
      for (let line = await stderr.next(); line !== null; line = await stderr.next()) {
        if (pattern.test(line)) return line;
      }
      throw new Error(`the server ended without logging ${pattern}`);
    };
    equal(await servedFingerprint(tcp.port, certs.ca), fingerprint(certs.server.cert));
    const old = await connectTlsChat(tcp, certs.ca);
    await using oldWeb = await connectWssChat(http!, certs.ca);
    // Renewal: new files in place, then SIGHUP.
    await Deno.copyFile(certs.renewed.certFile, certFile);
    await Deno.copyFile(certs.renewed.keyFile, keyFile);
    child.kill("SIGHUP");
    match(
      await logged(RELOAD),
      /tls reason="certificate reloaded" subject="CN=localhost" expires=/,
    );
    equal(await servedFingerprint(tcp.port, certs.ca), fingerprint(certs.renewed.cert));
    equal(await servedFingerprint(http!.port, certs.ca), fingerprint(certs.renewed.cert));
    const fresh = await connectTlsChat(tcp, certs.ca);
    await old.send("still talking");
    equal(await fresh.nextMatching(/^</), `<${old.nick}> still talking`);
    oldWeb.ws.send("me too");
    equal(await fresh.nextMatching(/^</), `<${oldWeb.nick}> me too`);
    // A bad pair (the key of another certificate) is refused; the renewed one stays.
    await Deno.copyFile(certs.other.keyFile, keyFile);
    child.kill("SIGHUP");
    match(
      await logged(RELOAD),
      /tls reason="reload failed, keeping the certificate in use: key \S+key\.pem does not match certificate \S+cert\.pem"/,
    );
    equal(await servedFingerprint(tcp.port, certs.ca), fingerprint(certs.renewed.cert));
    await old.send("after a bad reload");
    equal(await fresh.nextMatching(/^</), `<${old.nick}> after a bad reload`);
    child.kill("SIGTERM");
    equal((await within(child.status, "the server to exit")).code, 0);
    for (const client of [old, fresh]) {
      await client.untilClosed();
      await client.close();
    }
    await stdout.rest();
    ok(!(await stderr.rest()).some((line) => /^\s+at /.test(line)));
  },
);

tlsTest(
  "server.ts exits 1 with one line for a missing, non-PEM or mismatched certificate",
  async () => {
    const certs = await testCertificates();
    const { certFile, keyFile } = certs.server;
    const cases: [string[], string][] = [
      [
        ["--tls-cert", `${certs.dir}/missing.pem`, "--tls-key", keyFile],
        `server: cannot read certificate ${certs.dir}/missing.pem: no such file\n`,
      ],
      [
        ["--tls-cert", keyFile, "--tls-key", keyFile],
        `server: certificate ${keyFile} is not a PEM certificate (no -----BEGIN CERTIFICATE-----)\n`,
      ],
      [
        ["--tls-cert", certFile, "--tls-key", certs.other.keyFile],
        `server: key ${certs.other.keyFile} does not match certificate ${certFile}\n`,
      ],
    ];
    for (const [args, stderr] of cases) {
      const result = await runToEnd("server.ts", ["--host", "127.0.0.1", "--port", "0", ...args]);
      deepEqual([result.code, result.stderr, result.stdout], [1, stderr, ""], args.join(" "));
    }
    const alone = await runToEnd("server.ts", ["--tls-cert", certFile]);
    equal(alone.code, 2);
    match(alone.stderr, /^server: error: --tls-cert and --tls-key go together \(no --tls-key\)\n/);
  },
);

tlsTest(
  "server.ts --mode echo over TLS: client.ts tls:// in a pipe gets its bytes back, like nc -N",
  async () => {
    const certs = await testCertificates();
    const server = await startEchoServer([
      "--tls-cert",
      certs.server.certFile,
      "--tls-key",
      certs.server.keyFile,
    ]);
    const input = "hello\nover tls\n" + "x".repeat(100_000) + "\n";
    const result = await runClient(
      [`tls://localhost:${server.addr.port}`, "--ca", certs.caFile],
      input,
    );
    equal(result.code, 0, result.stderr);
    equal(result.stdout, input);
    equal((await server.stop()).code, 0);
    match(
      await server.stderr,
      /disconnect peer=127\.0\.0\.1:\d+ reason="connection closed" transport=tls/,
    );
  },
);
