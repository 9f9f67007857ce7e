import { deepEqual, equal, match, ok } from "node:assert/strict";
import { parseClientArgs } from "../lib/cli/client_cli.ts";
import { parseServerArgs } from "../lib/cli/server_cli.ts";

/** Parses client `args`, capturing what would go to stderr. */
function client(args: string[]) {
  let err = "";
  const outcome = parseClientArgs(args, {}, { out: () => {}, err: (text) => (err += text) });
  return { outcome, err };
}

/** Parses server `args`, capturing what would go to stderr. */
function server(args: string[]) {
  let err = "";
  const outcome = parseServerArgs(args, { out: () => {}, err: (text) => (err += text) });
  return { outcome, err };
}

Deno.test({
  name: "parseClientArgs() reads tls://HOST:PORT, --tls, --ca and --insecure",
  permissions: "none",
  fn() {
    const cases: [string[], object][] = [
      [["tls://chat.example:7000"], { hostname: "chat.example", port: 7000, caFile: undefined }],
      [["tls://[::1]"], { hostname: "::1", port: 7878, caFile: undefined }],
      [["--tls", "chat.example:7000", "--ca", "ca.pem"], {
        hostname: "chat.example",
        port: 7000,
        caFile: "ca.pem",
      }],
    ];
    for (const [args, expected] of cases) {
      const { outcome } = client(args);
      if (!outcome.ok) throw new Error(`refused ${args.join(" ")}`);
      const { hostname, port, tls, websocket } = outcome.options;
      deepEqual({ hostname, port, caFile: tls?.caFile }, expected);
      equal(tls?.insecure, false);
      equal(websocket, undefined);
    }
    const wss = client(["wss://chat.example/ws", "--insecure"]);
    equal(wss.outcome.ok && wss.outcome.options.tls?.insecure, true);
    equal(wss.outcome.ok && wss.outcome.options.port, 443);
    const plain = client(["chat.example:7000"]);
    equal(plain.outcome.ok && plain.outcome.options.tls, undefined);
  },
});

Deno.test({
  name: "parseClientArgs() refuses TLS flags that do not fit, with one line and exit code 2",
  permissions: "none",
  fn() {
    const cases: [string[], RegExp][] = [
      [
        ["localhost:7878", "--ca", "ca.pem"],
        /--ca needs TLS: tls:\/\/HOST:PORT, --tls, or wss:\/\//,
      ],
      [["ws://localhost/ws", "--insecure"], /--insecure needs TLS/],
      [
        ["ws://localhost/ws", "--tls"],
        /--tls is for HOST:PORT; for WebSocket over TLS use wss:\/\//,
      ],
      [["tls://localhost:7878/path"], /a tls:\/\/ URL is tls:\/\/HOST\[:PORT\]/],
      [
        ["http://localhost"],
        /is the web page.s address; this client speaks WebSocket there: ws:\/\/localhost\/ws/,
      ],
      [["tls://localhost", "--header", "a:b"], /--header needs a ws:\/\/ or wss:\/\/ URL/],
    ];
    for (const [args, pattern] of cases) {
      const { outcome, err } = client(args);
      deepEqual(outcome, { ok: false, exitCode: 2 }, args.join(" "));
      match(err.split("\n")[0], pattern);
    }
  },
});

Deno.test({
  name: "parseServerArgs() reads --tls-cert, --tls-key and --tls-handshake-timeout",
  permissions: "none",
  fn() {
    const { outcome } = server([
      "--tls-cert",
      "cert.pem",
      "--tls-key",
      "key.pem",
      "--tls-handshake-timeout",
      "300",
    ]);
    if (!outcome.ok) throw new Error("refused");
    deepEqual(outcome.options.tls, { certFile: "cert.pem", keyFile: "key.pem" });
    equal(outcome.options.options.tlsHandshakeTimeout, 300);
    const plain = server([]);
    equal(plain.outcome.ok && plain.outcome.options.tls, undefined);
    equal(plain.outcome.ok && plain.outcome.options.options.tlsHandshakeTimeout, 10_000);
    for (const args of [["--tls-key", "key.pem"], ["--tls-handshake-timeout", "0"]]) {
      const { outcome, err } = server(args);
      deepEqual(outcome, { ok: false, exitCode: 2 }, args.join(" "));
      match(err, /^server: error: /);
    }
  },
});

Deno.test({
  name: "parseServerArgs() refuses a value the hub would refuse, naming the flag",
  permissions: "none",
  fn() {
    for (
      const [args, pattern] of [
        [["--name", ""], /^server: error: --name must not be empty\n/],
        [["--name", "   "], /^server: error: --name must not be empty\n/],
      ] as const
    ) {
      const { outcome, err } = server([...args]);
      deepEqual(outcome, { ok: false, exitCode: 2 });
      match(err, pattern);
    }
    equal(server(["--name", "lobby"]).outcome.ok, true);
  },
});

Deno.test({
  name: "parseServerArgs() checks the chat flags with the hub's own ranges, naming the flag",
  permissions: "none",
  fn() {
    for (
      const [args, pattern] of [
        [
          ["--burst", "0"],
          /^server: error: --burst must be an integer from 1 to 1000000000, received 0\n/,
        ],
        [
          ["--max-queue-bytes", "100"],
          /^server: error: --max-queue-bytes must be an integer from 4096 to 1099511627776, received 100\n/,
        ],
        [
          ["--history", "1.5"],
          /^server: error: --history must be an integer from 0 to \d+, received 1.5\n/,
        ],
        [
          ["--rate", "abc"],
          /^server: error: option '--rate <n>' argument 'abc' is invalid\. must be a number\n/,
        ],
        [
          ["--ip-burst", ""],
          /^server: error: option '--ip-burst <n>' argument '' is invalid\. must be a number\n/,
        ],
        // Echo mode ignores them, but a value out of range is still refused.
        [
          ["--mode", "echo", "--burst", "0"],
          /^server: error: --burst must be an integer from 1 to 1000000000, received 0\n/,
        ],
        [
          ["--port", "1.5"],
          /^server: error: option '--port <port>' argument '1\.5' is invalid\. must be an integer from 0 to 65535\n/,
        ],
      ] as const
    ) {
      const { outcome, err } = server([...args]);
      deepEqual(outcome, { ok: false, exitCode: 2 }, args.join(" "));
      match(err, pattern);
    }
    // Values the hub takes are taken (the flags used to stop lower).
    const big = server(["--burst", "2000000", "--max-queue-bytes", String(2 ** 31)]).outcome;
    ok(big.ok && big.options.mode === "chat");
    equal(big.ok && big.options.mode === "chat" && big.options.options.burst, 2_000_000);
  },
});
