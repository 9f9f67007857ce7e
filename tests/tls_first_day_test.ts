import { match } from "node:assert/strict";
import { chatServing, testCertificates, tlsTest } from "./tls_helpers.ts";

tlsTest("the TLS server's plain-text / answer names wss:// and https://", async () => {
  const certs = await testCertificates();
  await using server = await chatServing(certs.server);
  using client = Deno.createHttpClient({ caCerts: [certs.ca] });
  const response = await fetch(`https://localhost:${server.httpAddr!.port}/`, {
    client,
    headers: { accept: "text/plain" },
  });
  const text = await response.text();
  match(text, /connect a WebSocket client to wss:\/\/localhost:\d+\/ws \(text lines, as over TLS/);
  match(text, /open https:\/\/localhost:\d+\/ in a browser/);
});

tlsTest(
  "the TLS chat port answers an HTTP request with the https:// and wss:// addresses",
  async () => {
    const certs = await testCertificates();
    await using server = await chatServing(certs.server);
    const conn = await Deno.connectTls({
      hostname: "localhost",
      port: server.addr.port,
      caCerts: [certs.ca],
    });
    await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    const text = await new Response(conn.readable).text();
    match(
      text,
      /^! this is the chat port of parley: text lines over TLS .*, not HTTP; the web page is at https:\/\/127\.0\.0\.1:\d+\/ \(WebSocket: wss:\/\/127\.0\.0\.1:\d+\/ws\)\n$/,
    );
  },
);
