import { deepEqual, equal, ok } from "node:assert/strict";
import { summarise } from "../bench/report.ts";
import { SCENARIOS, tlsLoad } from "../bench/scenarios.ts";
import { targetLines } from "../bench/targets.ts";
import { within } from "./helpers.ts";
import { BENCH_PATHS as paths, rootPath } from "./process_helpers.ts";

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

Deno.test({
  name: "targetLines() gives the TLS echo and handshake ratios to Go with CPU per op",
  permissions: "none",
  fn() {
    const scenario = (id: string, parley: number, go: number, cpu: [number, number]) => ({
      id,
      title: id,
      headline: "ops_per_sec",
      servers: [
        summarise("parley", [{
          ops_per_sec: parley,
          server_cpu_us_per_op: cpu[0],
          loadgen_cpu: 0.5,
        }]),
        summarise("go", [{ ops_per_sec: go, server_cpu_us_per_op: cpu[1], loadgen_cpu: 0.5 }]),
      ],
    });
    const lines = targetLines({
      date: "2026-12-06",
      scale: "full",
      machine: {},
      command: "deno task bench",
      scenarios: [
        scenario("tls-echo-64", 24000, 48000, [27.2, 17.7]),
        scenario("tls-handshake", 1500, 1400, [300, 350]),
      ],
    });
    deepEqual(lines, [
      "- TLS echo 50×64 B, aim 1.0× Go (crypto/tls): 0.50× **missed**; server CPU per request 27.2 µs vs Go's 17.7 µs",
      "- TLS handshakes per second, aim 1.0× Go (crypto/tls): 1.07× **met**; server CPU per connection 300.0 µs vs Go's 350.0 µs",
    ]);
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
