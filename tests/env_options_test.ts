import { deepEqual, equal, match, ok } from "node:assert/strict";
import { envName, envTable, withEnvVariables } from "../lib/cli/env_options.ts";
import { parseServerArgs, serverProgram } from "../lib/cli/server_cli.ts";
import type { ServeChatOptions } from "../lib/server/serve_chat.ts";
import { connectChat, LineClient, syncWho } from "./helpers.ts";
import { spawnServer } from "./service_helpers.ts";

/** Runs `fn` with `variables` set, then restores the environment. */
function withEnv<T>(variables: Record<string, string>, fn: () => T): T {
  const saved = Object.keys(variables).map((name) => [name, Deno.env.get(name)] as const);
  for (const [name, value] of Object.entries(variables)) Deno.env.set(name, value);
  try {
    return fn();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
  }
}

function chatOptions(args: string[], errors: string[] = []): ServeChatOptions | null {
  const outcome = parseServerArgs(args, { out: () => {}, err: (text) => errors.push(text) });
  if (!outcome.ok) return null;
  ok(outcome.options.mode === "chat");
  return outcome.options.options;
}

Deno.test({
  name: "envName() derives a variable from a flag",
  permissions: "none",
  fn() {
    equal(envName("--port"), "PARLEY_PORT");
    equal(envName("--max-per-ip"), "PARLEY_MAX_PER_IP");
    equal(envName("--no-store"), "PARLEY_NO_STORE");
  },
});

Deno.test("parseServerArgs() takes every flag from its PARLEY_ variable, and a flag wins", () => {
  const options = withEnv({
    PARLEY_PORT: "7000",
    PARLEY_MAX_CLIENTS: "7",
    PARLEY_NAME: "from-env",
    PARLEY_ALLOW_ORIGIN: "https://a.example, https://b.example",
    PARLEY_NO_HTTP: "1",
    PARLEY_METRICS: "true",
    PARLEY_DATA_DIR: "/var/lib/parley",
  }, () => chatOptions(["--max-clients", "9"]))!;
  equal(options.port, 7000);
  equal(options.maxClients, 9); // the flag wins
  equal(options.name, "from-env");
  deepEqual(options.allowOrigins, ["https://a.example", "https://b.example"]);
  equal(options.httpPort, undefined); // PARLEY_NO_HTTP
  equal(options.metrics, true);
  equal(options.dataDir, "/var/lib/parley");
  // A switch set to 0, false, no or nothing is off; --no-store from its variable.
  const off = withEnv(
    { PARLEY_NO_HTTP: "0", PARLEY_METRICS: "false", PARLEY_NO_STORE: "yes" },
    () => chatOptions([]),
  )!;
  equal(off.httpPort, 7880);
  equal(off.metrics, false);
  equal(off.dataDir, undefined);
  // Without variables: the defaults.
  const plain = chatOptions([])!;
  deepEqual([plain.port, plain.maxClients, plain.dataDir], [7878, 1000, "./parley-data"]);
});

Deno.test("parseServerArgs() refuses a bad variable as it refuses a bad flag, naming the variable", () => {
  const errors: string[] = [];
  equal(withEnv({ PARLEY_PORT: "99999" }, () => chatOptions([], errors)), null);
  match(
    errors.join(""),
    /^server: error: PARLEY_PORT=99999 \(for --port\): must be an integer from 0 to 65535\nUsage: /,
  );
  errors.length = 0;
  equal(withEnv({ PARLEY_MODE: "chatty" }, () => chatOptions([], errors)), null);
  match(errors.join(""), /PARLEY_MODE=chatty \(for --mode\): must be one of: chat, echo/);
});

Deno.test("every server flag but --help and --version has a variable, listed in --help", () => {
  const program = withEnvVariables(serverProgram());
  const longs = program.options.map((option) => option.long!).filter((long) =>
    long !== "--help" && long !== "--version"
  );
  ok(longs.length > 30);
  for (const long of longs) {
    equal(program.options.find((option) => option.long === long)!.envVar, envName(long));
  }
  const table = envTable(program);
  ok(table.includes("| `PARLEY_DATA_DIR` | `--data-dir` |"), table);
  let help = "";
  parseServerArgs(["--help"], { out: (text) => (help += text), err: () => {} });
  match(help, /env: PARLEY_MAX_CLIENTS/);
});

Deno.test("deno task server reads PARLEY_ variables with the task's own permissions; a flag wins", async () => {
  await using server = await spawnServer(Deno.execPath(), [
    "task",
    "--quiet",
    "server",
    "--log-format",
    "text",
  ], {
    PARLEY_HOST: "127.0.0.1",
    PARLEY_PORT: "0",
    PARLEY_HTTP_PORT: "0",
    PARLEY_NAME: "env-named",
    PARLEY_LOG_FORMAT: "json",
    PARLEY_NO_STORE: "1",
    PARLEY_METRICS: "1",
  });
  await using alice = await connectChat(server.tcp);
  await syncWho(alice);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.http!.port });
  await conn.write(new TextEncoder().encode("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
  const response = await new Response(conn.readable).text();
  match(response, /^HTTP\/1\.1 200 /);
  match(response, /parley_members 1/);
  await alice.close();
  const status = await server.stop();
  equal(status.code, 0);
  const log = await server.stderr;
  match(log, /listen addr=127\.0\.0\.1:\d+/); // text, as the flag says, not JSON
  ok(!log.includes("store:"), log); // PARLEY_NO_STORE: no store, no warning
});

Deno.test("the welcome line names the server from PARLEY_NAME", async () => {
  await using server = await spawnServer(Deno.execPath(), ["task", "--quiet", "server"], {
    PARLEY_HOST: "127.0.0.1",
    PARLEY_PORT: "0",
    PARLEY_NO_HTTP: "1",
    PARLEY_NAME: "env-named",
    PARLEY_NO_STORE: "1",
  });
  equal(server.http, null);
  await using client = await LineClient.connect(server.tcp);
  match(await client.nextLine(), /^\* welcome to env-named, guest-\d+$/);
  await client.close();
  equal((await server.stop()).code, 0);
});

Deno.test({
  name: "parseServerArgs() without env permission takes the variables as unset",
  permissions: "none",
  fn() {
    const options = chatOptions(["--port", "0"])!;
    deepEqual([options.port, options.maxClients], [0, 1000]);
  },
});

Deno.test("parseServerArgs() refuses --metrics in echo mode", () => {
  const errors: string[] = [];
  const outcome = parseServerArgs(["--mode", "echo", "--metrics"], {
    out: () => {},
    err: (text) => errors.push(text),
  });
  equal(outcome.ok, false);
  match(errors.join(""), /^server: error: --metrics applies only to --mode chat\n/);
});
