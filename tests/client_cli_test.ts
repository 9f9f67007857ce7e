import { deepEqual, equal, match } from "node:assert/strict";
import { parseClientArgs } from "../lib/cli/client_cli.ts";

/** Parses `args`, capturing what would go to stderr. */
function parse(args: string[]) {
  let err = "";
  const outcome = parseClientArgs(args, {}, { out: () => {}, err: (text) => (err += text) });
  return { outcome, err };
}

Deno.test({
  name: "parseClientArgs() reads a ws:// URL and the WebSocket flags",
  permissions: "none",
  fn() {
    const { outcome } = parse([
      "ws://[::1]/ws",
      "--header",
      "X-Token: abc",
      "--header",
      "x-token:def",
      "--subprotocol",
      "parley.json",
      "--origin",
      "https://chat.example",
      "--ping-interval",
      "30",
      "--binary",
      "--nick",
      "ann",
    ]);
    equal(outcome.ok, true);
    if (!outcome.ok) return;
    equal(outcome.options.hostname, "::1");
    equal(outcome.options.port, 80);
    equal(outcome.options.nick, "ann");
    deepEqual(outcome.options.websocket, {
      url: "ws://[::1]/ws",
      headers: { "x-token": ["abc", "def"] },
      subprotocols: ["parley.json"],
      origin: "https://chat.example",
      pingInterval: 30,
      binary: true,
    });
  },
});

Deno.test({
  name: "parseClientArgs() gives wss:// port 443 and no WebSocket settings to HOST:PORT",
  permissions: "none",
  fn() {
    const wss = parse(["wss://chat.example/"]).outcome;
    equal(wss.ok && wss.options.port, 443);
    equal(wss.ok && wss.options.websocket?.pingInterval, 0);
    const tcp = parse(["chat.example:7000"]).outcome;
    equal(tcp.ok && tcp.options.websocket, undefined);
  },
});

Deno.test({
  name: "parseClientArgs() refuses bad WebSocket flags with one line, the usage and exit code 2",
  permissions: "none",
  fn() {
    const cases: [string[], RegExp][] = [
      [["ws://h/", "--header", "no-colon"], /must be NAME:VALUE/],
      [["ws://h/", "--header", "bad name:x"], /not a valid header name/],
      [["ws://h/", "--subprotocol", "a b"], /not a valid subprotocol name/],
      [["ws://h/", "--ping-interval", "-1"], /must be an integer from 0 to 86400/],
      [["ws://h/#top"], /cannot have a #fragment/],
      [["ws://h/", "--port", "80"], /--host and --port cannot be used with a URL/],
      [
        ["http://h/"],
        /http:\/\/h\/ is the web page.s address; this client speaks WebSocket there: ws:\/\/h\/ws/,
      ],
      [["ws://"], /cannot parse URL/],
      [["h:7000", "--binary"], /--binary needs a ws:\/\/ or wss:\/\/ URL/],
      [["h:7000", "--ping-interval", "5"], /--ping-interval needs a ws:\/\/ or wss:\/\/ URL/],
    ];
    for (const [args, message] of cases) {
      const { outcome, err } = parse(args);
      deepEqual(outcome, { ok: false, exitCode: 2 }, args.join(" "));
      match(err, /^client: error: [^\n]*\nUsage: client \[options\] \[HOST\[:PORT\]\|URL\]\n/);
      match(err.split("\n")[0], message);
    }
  },
});
