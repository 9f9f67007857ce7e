import { equal, match } from "node:assert/strict";
import {
  handshakeHint,
  httpPortHint,
  isPlainTextAnswerToTls,
  webUrlHint,
} from "../lib/client/wrong_port.ts";
import { parseClientArgs } from "../lib/cli/client_cli.ts";
import { serveChat } from "../lib/server/serve_chat.ts";
import { LOOPBACK } from "./helpers.ts";
import { runToEnd } from "./process_helpers.ts";

Deno.test({
  name: "handshakeHint() names the right address for a wrong port, scheme or path",
  permissions: "none",
  fn() {
    const tcpPort = new URL("ws://chat.example:7878/ws");
    match(
      handshakeHint("Parse Error: Expected HTTP/, RTSP/ or ICE/", tcpPort)!,
      /port 7878 is not a WebSocket port\. If it is Parley's chat port, connect without a URL: client chat\.example:7878; .*ws:\/\/chat\.example:7880\/ws$/,
    );
    equal(
      handshakeHint(
        "received corrupt message of type InvalidContentType (SSL routines:ssl3_get_record:wrong version number)",
        new URL("wss://chat.example:7880/ws"),
      ),
      "the server does not speak TLS on port 7880; without TLS: ws://chat.example:7880/ws",
    );
    match(
      handshakeHint("Unexpected server response: 404", new URL("ws://[::1]:7880/chat"))!,
      /no WebSocket at \/chat \(HTTP 404\); Parley's chat is at ws:\/\/\[::1\]:7880\/ws$/,
    );
    equal(handshakeHint("Unexpected server response: 403", tcpPort), undefined);
    equal(handshakeHint("connection refused", tcpPort), undefined);
    equal(isPlainTextAnswerToTls("certificate has expired"), false);
  },
});

Deno.test({
  name: "webUrlHint() and httpPortHint() point an http:// URL and a line client at ws://",
  permissions: "none",
  fn() {
    match(webUrlHint(new URL("https://chat.example/"))!, /wss:\/\/chat\.example\/ws$/);
    equal(webUrlHint(new URL("ws://chat.example/")), undefined);
    match(
      httpPortHint("HTTP/1.1 400 Bad Request", "::1", 7880, false)!,
      /^\[::1\]:7880 is an HTTP port/,
    );
    match(httpPortHint("HTTP/1.0 404 Not Found", "h", 443, true)!, /wss:\/\/h:443\/ws/);
    equal(httpPortHint("* welcome to parley, guest-1", "h", 7878, false), undefined);
  },
});

Deno.test({
  name: "the client refuses an http:// URL and a bad --nick with one clear line",
  permissions: "none",
  fn() {
    let errors = "";
    const output = { out: () => {}, err: (text: string) => void (errors += text) };
    equal(parseClientArgs(["http://chat.example:7880/"], {}, output).ok, false);
    match(
      errors,
      /http:\/\/chat\.example:7880\/ is the web page's address; .* ws:\/\/chat\.example:7880\/ws/,
    );
    errors = "";
    equal(parseClientArgs(["--nick", "bad nick!"], {}, output).ok, false);
    match(errors, /'bad nick!' is invalid\. nick may use only letters, digits/);
  },
});

Deno.test("client.ts explains a ws:// URL to the chat port and a line client at the HTTP port", async () => {
  await using server = serveChat({ ...LOOPBACK, httpPort: 0 });
  await server.ready;
  const ws = await runToEnd("client.ts", [`ws://127.0.0.1:${server.addr.port}/ws`], "hi\n");
  equal(ws.code, 1);
  match(
    ws.stderr,
    /^client: cannot connect to ws:\/\/127\.0\.0\.1:\d+\/ws: the server did not answer HTTP: port \d+ is not a WebSocket port/,
  );
  equal(ws.stderr.trim().split("\n").length, 1);
  const path = await runToEnd("client.ts", [`ws://127.0.0.1:${server.httpAddr!.port}/chat`], "");
  match(
    path.stderr,
    /no WebSocket at \/chat \(HTTP 404\); Parley's chat is at ws:\/\/127\.0\.0\.1:\d+\/ws\n$/,
  );
  const http = await runToEnd("client.ts", [`127.0.0.1:${server.httpAddr!.port}`], "hello\n");
  match(
    http.stderr,
    new RegExp(
      `^client: 127\\.0\\.0\\.1:${
        server.httpAddr!.port
      } is an HTTP port, not Parley's chat port: for WebSocket use ws://127\\.0\\.0\\.1:${
        server.httpAddr!.port
      }/ws`,
    ),
  );
});
