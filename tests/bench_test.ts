import { deepEqual, equal, ok } from "node:assert/strict";
import { chartSvg, headlineTable, median, ratioToGo, summarise } from "../bench/report.ts";
import { targetLines } from "../bench/targets.ts";
import { within } from "./helpers.ts";
import { rootPath } from "./process_helpers.ts";

Deno.test({
  name: "median() and summarise() take medians per field and flag a saturated load generator",
  permissions: "none",
  fn() {
    equal(median([3, 1, 2]), 2);
    equal(median([4, 1, 3, 2]), 2.5);
    const summary = summarise("parley", [
      { ops_per_sec: 100, loadgen_cpu: 0.5, rss_samples_kib: [1024, 2048, 3072] },
      { ops_per_sec: 300, loadgen_cpu: 0.95, rss_samples_kib: [1024, 1024] },
      { ops_per_sec: 200, loadgen_cpu: 0.4, rss_samples_kib: [1024, 1024] },
    ]);
    equal(summary.median.ops_per_sec, 200);
    equal(summary.median.rss_growth_mib, 0);
    equal(summary.saturated, true);
  },
});

Deno.test({
  name: "the report ranks servers against Go and says plainly when a target is missed",
  permissions: "none",
  fn() {
    const results = {
      date: "2026-11-21",
      scale: "full",
      machine: {},
      command: "deno task bench",
      scenarios: [{
        id: "echo-64",
        title: "TCP echo",
        headline: "ops_per_sec",
        servers: [
          summarise("parley", [{ ops_per_sec: 90, server_cpu_us_per_op: 6 }]),
          summarise("go", [{ ops_per_sec: 100, server_cpu_us_per_op: 5 }]),
          summarise("node", [{ ops_per_sec: 80, server_cpu_us_per_op: 7 }]),
          summarise("rust", [], "rust-echo not available"),
        ],
      }],
    };
    equal(ratioToGo(results.scenarios[0], results.scenarios[0].servers[0]), 0.9);
    deepEqual(targetLines(results), [
      "- TCP echo 50×64 B, at least 1.0× Go: 0.90× **missed**",
      "- TCP echo 50×64 B, at least 1.2× Node: 1.13× **missed**",
      "- TCP echo server CPU per request no higher than Go's: 6.00 µs vs 5.00 µs **missed**",
    ]);
    ok(headlineTable(results).includes("| echo-64 | ops/s | 90 | 100 | – | 80 | 0.90× |"));
    ok(chartSvg(results).startsWith("<svg"));
  },
});

const hasCargo = await new Deno.Command("cargo", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
})
  .output().then((out) => out.success, () => false);

Deno.test({
  name: `deno task bench --smoke builds the load generator and writes a well-formed result${
    hasCargo ? "" : " (ignored: cargo is not installed)"
  }`,
  ignore: !hasCargo,
  async fn() {
    const out = await Deno.makeTempFile({ suffix: ".json" });
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", rootPath("bench/run.ts"), "--smoke", "--out", out, "echo-64"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const result = await within(child, "the smoke benchmark", 120_000);
      equal(result.code, 0, new TextDecoder().decode(result.stderr));
      const results = JSON.parse(await Deno.readTextFile(out));
      equal(results.scale, "smoke");
      equal(results.scenarios.length, 1);
      const [scenario] = results.scenarios;
      equal(scenario.id, "echo-64");
      const parley = scenario.servers.find((s: { name: string }) => s.name === "parley");
      equal(parley.skipped, undefined);
      equal(parley.runs.length, 1);
      for (const field of ["ops", "ops_per_sec", "p50_us", "p99_us", "loadgen_cpu", "seconds"]) {
        equal(typeof parley.median[field], "number", field);
      }
      ok(parley.median.ops > 0, "no request was echoed");
      equal(parley.runs[0].errors, 0);
    } finally {
      await Deno.remove(out);
    }
  },
});
