import { deepEqual, equal, ok } from "node:assert/strict";
import { type BenchPaths, SCENARIOS, tlsLoad } from "../bench/scenarios.ts";
import { within } from "./helpers.ts";
import { rootPath } from "./process_helpers.ts";

const paths: BenchPaths = {
  root: "/repo",
  deno: "/bin/deno",
  loadgen: "/bin/loadgen",
  peers: "/peers",
  node: "node",
  nodeWs: "/ws",
  unavailable: {},
};

Deno.test({
  name:
    "tls-echo-64 and tls-handshake run the Go TLS load generator against Parley and Go, one certificate",
  permissions: "none",
  fn() {
    for (const id of ["tls-echo-64", "tls-handshake"]) {
      const scenario = SCENARIOS.find((s) => s.id === id)!;
      ok(scenario, `no ${id} scenario`);
      equal(scenario.generator?.(paths), "/peers/tlsload");
      equal(scenario.headline, "ops_per_sec");
      deepEqual(scenario.servers.map((s) => s.name), ["parley", "go"]);
      const [parley, go] = scenario.servers.map((s) => s.command(paths));
      // Parley: the chat port in echo mode, TLS with the bench certificate, reading only its folder.
      ok(parley.includes("--allow-read=/peers/tls"), parley.join(" "));
      const flag = (command: string[], name: string) => command[command.indexOf(name) + 1];
      equal(flag(parley, "--mode"), "echo");
      equal(flag(parley, "--tls-cert"), "/peers/tls/cert.pem");
      equal(flag(parley, "--tls-key"), "/peers/tls/key.pem");
      ok(parley.includes("--no-http"));
      deepEqual(go, [
        "/peers/go-tlsecho",
        "-cert",
        "/peers/tls/cert.pem",
        "-key",
        "/peers/tls/key.pem",
      ]);
      for (const server of scenario.servers) {
        ok(server.needs(paths).includes(tlsLoad.binary(paths)), server.name);
        ok(server.needs(paths).includes(tlsLoad.cert(paths)), server.name);
      }
    }
    deepEqual(
      SCENARIOS.find((s) => s.id === "tls-echo-64")!.loadgen("full"),
      ["tls-echo", "--conns", "50", "--size", "64", "--duration", "1.5"],
    );
  },
});

const has = (command: string, args: string[]) =>
  new Deno.Command(command, { args, stdout: "null", stderr: "null" }).output().then(
    (out) => out.success,
    () => false,
  );
const missing = !(await has("cargo", ["--version"]))
  ? "cargo is not installed"
  : !(await has("go", ["version"]))
  ? "go is not installed"
  : null;

Deno.test({
  name: `deno task bench --smoke tls-echo-64 measures TLS echo on Parley and Go${
    missing === null ? "" : ` (ignored: ${missing})`
  }`,
  ignore: missing !== null,
  async fn() {
    const out = await Deno.makeTempFile({ suffix: ".json" });
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", rootPath("bench/run.ts"), "--smoke", "--out", out, "tls-echo-64"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const result = await within(child, "the smoke benchmark", 180_000);
      equal(result.code, 0, new TextDecoder().decode(result.stderr));
      const [scenario] = JSON.parse(await Deno.readTextFile(out)).scenarios;
      equal(scenario.id, "tls-echo-64");
      for (const name of ["parley", "go"]) {
        const server = scenario.servers.find((s: { name: string }) => s.name === name);
        equal(server.skipped, undefined, `${name}: ${server.skipped}`);
        ok(server.median.ops > 0, `${name}: nothing echoed`);
        equal(server.runs[0].errors, 0, name);
        equal(typeof server.median.server_cpu_us_per_op, "number", name);
      }
    } finally {
      await Deno.remove(out);
    }
  },
});
