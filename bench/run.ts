/**
 * `deno task bench [--quick|--smoke] [--out FILE] [SCENARIO...]`
 *
 * Builds the load generator (`cargo build --release --offline`) and the
 * peers that can be built here, then runs each scenario against Parley and
 * its peers: server pinned to core 0, load generator to core 1, a fresh
 * server per run, repetitions interleaved. Writes the results as JSON and,
 * for a full run, BENCHMARKS.md and the SVG chart.
 *
 * @module
 */

import {
  benchmarksMarkdown,
  type BenchResults,
  chartSvg,
  headlineTable,
  type RunResult,
  type ScenarioResult,
  scenarioTable,
  summarise,
} from "./report.ts";
import { targetLines } from "./targets.ts";
import {
  type BenchPaths,
  type Scale,
  SCENARIOS,
  type ServerSpec,
  SKIPPED_WHEN_QUICK,
} from "./scenarios.ts";

const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const target = `${root}/bench/target`;

function log(message: string): void {
  console.error(`bench: ${message}`);
}

async function run(
  command: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  try {
    const out = await new Deno.Command(command[0], {
      args: command.slice(1),
      cwd: options.cwd,
      env: options.env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { ok: out.success, stdout: decode(out.stdout), stderr: decode(out.stderr) };
  } catch (error) {
    return { ok: false, stdout: "", stderr: String(error) };
  }
}

async function exists(path: string): Promise<boolean> {
  if (!path.includes("/")) return (await run(["sh", "-c", `command -v ${path}`])).ok;
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Builds the load generator (required) and every peer that can be built. */
async function build(): Promise<BenchPaths> {
  const env = { CARGO_TARGET_DIR: target };
  log("building the load generator (cargo build --release --offline)");
  const cargo = await run(["cargo", "build", "--release", "--offline", "--quiet"], {
    cwd: `${root}/bench/loadgen`,
    env,
  });
  if (!cargo.ok) throw new Error(`cannot build the load generator:\n${cargo.stderr}`);
  const peers = `${target}/peers`;
  await Deno.mkdir(peers, { recursive: true });
  for (const name of ["echo", "udpecho", "chat"]) {
    const go = await run(["go", "build", "-o", `${peers}/go-${name}`, `${name}.go`], {
      cwd: `${root}/bench/peers/go`,
      env: { GOFLAGS: "-mod=mod", GO111MODULE: "off", GOCACHE: `${target}/go-cache` },
    });
    if (!go.ok) log(`Go peer ${name} not built (${go.stderr.split("\n")[0] || "go missing"})`);
  }
  for (const name of ["echo", "udpecho"]) {
    const rust = await run([
      "rustc",
      "-O",
      "-o",
      `${peers}/rust-${name}`,
      `${root}/bench/peers/rust/${name}.rs`,
    ]);
    if (!rust.ok) log(`Rust peer ${name} not built (${rust.stderr.split("\n")[0]})`);
  }
  return {
    root,
    deno: Deno.execPath(),
    loadgen: `${target}/release/parley-loadgen`,
    peers,
    node: "node",
  };
}

/** `ulimit -n` raised to the hard limit, pinned to `core` when taskset exists. */
function pinned(core: number, command: string[], pin: boolean): string[] {
  const taskset = pin ? `taskset -c ${core} ` : "";
  return ["sh", "-c", `ulimit -n "$(ulimit -Hn)"; exec ${taskset}"$@"`, "sh", ...command];
}

/** Starts a server and reads its address; resolves to a handle to stop it. */
async function startServer(server: ServerSpec, paths: BenchPaths, pin: boolean) {
  const command = pinned(0, server.command(paths), pin);
  const child = new Deno.Command(command[0], {
    args: command.slice(1),
    stdout: "piped",
    stderr: "null",
    cwd: root,
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const deadline = Date.now() + 20_000;
  let addr: string | undefined;
  while (addr === undefined) {
    if (Date.now() > deadline) throw new Error(`${server.name} did not print its address`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`${server.name} exited before listening`);
    buffer += value;
    addr = /listening on (\S+:\d+)/.exec(buffer)?.[1];
  }
  // Keep draining stdout so the server never blocks on it.
  const draining = (async () => {
    try {
      while (!(await reader.read()).done) { /* discard */ }
    } catch { /* cancelled */ }
  })();
  return {
    addr: addr.replace(/^0\.0\.0\.0:/, "127.0.0.1:"),
    pid: child.pid,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 5000);
      await child.status;
      clearTimeout(timer);
      await reader.cancel().catch(() => {});
      await draining;
    },
  };
}

async function measure(
  server: ServerSpec,
  args: string[],
  paths: BenchPaths,
  pin: boolean,
): Promise<RunResult> {
  const handle = await startServer(server, paths, pin);
  try {
    const command = pinned(1, [
      paths.loadgen,
      ...args,
      "--addr",
      handle.addr,
      "--server-pid",
      String(handle.pid),
    ], pin);
    const out = await run(command);
    if (!out.ok) throw new Error(`load generator failed: ${out.stderr.trim()}`);
    return JSON.parse(out.stdout.trim().split("\n").at(-1)!);
  } finally {
    await handle.stop();
  }
}

async function machine(pin: boolean): Promise<Record<string, string>> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const version = async (command: string[]) =>
    (await run(command)).stdout.split("\n")[0].trim() || "not available";
  return {
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "unknown",
    cores: String(navigator.hardwareConcurrency),
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    go: await version(["go", "version"]),
    rustc: await version(["rustc", "--version"]),
    node: await version(["node", "--version"]),
    pinning: pin
      ? "server on core 0, load generator on core 1 (taskset)"
      : "none (taskset missing)",
  };
}

async function main(args: string[]): Promise<number> {
  let scale: Scale = "full";
  let outFile: string | undefined;
  const wanted: string[] = [];
  if (args.includes("--report")) {
    // Regenerate BENCHMARKS.md, the chart and the README table from latest.json.
    const results = JSON.parse(await Deno.readTextFile(`${root}/bench/results/latest.json`));
    await writeDocuments(results);
    return 0;
  }
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--smoke" || args[i] === "--quick") scale = args[i].slice(2) as Scale;
    else if (args[i] === "--out") outFile = args[++i];
    else if (args[i].startsWith("--")) {
      console.error(
        `bench: unknown flag ${
          args[i]
        }; usage: deno task bench [--quick|--smoke] [--out FILE] [SCENARIO...] | --report`,
      );
      return 2;
    } else wanted.push(args[i]);
  }
  const unknown = wanted.filter((id) => !SCENARIOS.some((s) => s.id === id));
  if (unknown.length > 0) {
    console.error(
      `bench: unknown scenario ${unknown.join(", ")}; known: ${
        SCENARIOS.map((s) => s.id).join(", ")
      }`,
    );
    return 2;
  }
  const scenarios = SCENARIOS.filter((s) =>
    wanted.length > 0 ? wanted.includes(s.id) : !(scale !== "full" && SKIPPED_WHEN_QUICK.has(s.id))
  );
  const paths = await build();
  const pin = await exists("taskset");
  const results: BenchResults = {
    date: new Date().toISOString(),
    scale,
    machine: await machine(pin),
    command: `deno task bench${scale === "full" ? "" : ` --${scale}`}${
      wanted.length ? ` ${wanted.join(" ")}` : ""
    }`,
    scenarios: [],
  };
  for (const scenario of scenarios) {
    log(`${scenario.id}: ${scenario.title}`);
    const available = await Promise.all(
      scenario.servers.map(async (server) => {
        for (const need of server.needs(paths)) {
          if (!(await exists(need))) return `${need.split("/").pop()} not available`;
        }
        return undefined;
      }),
    );
    const runs = new Map<ServerSpec, RunResult[]>(scenario.servers.map((s) => [s, []]));
    const failures = new Map<ServerSpec, string>();
    const repetitions = scale === "full" ? scenario.repetitions : 1;
    for (let rep = 0; rep < repetitions; rep++) {
      // Interleave: every server once per repetition, starting at a different one.
      for (let k = 0; k < scenario.servers.length; k++) {
        const index = (k + rep) % scenario.servers.length;
        const server = scenario.servers[index];
        if (available[index] !== undefined || failures.has(server)) continue;
        try {
          runs.get(server)!.push(await measure(server, scenario.loadgen(scale), paths, pin));
        } catch (error) {
          failures.set(
            server,
            error instanceof Error ? error.message.split("\n")[0] : String(error),
          );
          log(`${scenario.id}/${server.name} failed: ${failures.get(server)}`);
        }
      }
    }
    const result: ScenarioResult = {
      id: scenario.id,
      title: scenario.title,
      headline: scenario.headline,
      servers: scenario.servers.map((server, i) =>
        summarise(server.name, runs.get(server)!, available[i] ?? failures.get(server))
      ),
    };
    results.scenarios.push(result);
    console.log(`\n### ${scenario.title}\n\n${scenarioTable(result)}`);
  }
  console.log(`\n${headlineTable(results)}\n\n${targetLines(results).join("\n")}`);
  const resultsDir = `${root}/bench/results`;
  await Deno.mkdir(resultsDir, { recursive: true });
  const file = outFile ?? `${resultsDir}/${scale === "full" ? "latest" : scale}.json`;
  await Deno.writeTextFile(file, JSON.stringify(results, null, 2) + "\n");
  log(`results: ${file}`);
  if (scale === "full" && outFile === undefined && wanted.length === 0) {
    await writeDocuments(results);
  }
  return 0;
}

/** Writes BENCHMARKS.md, the chart and the README's table from `results`. */
async function writeDocuments(results: BenchResults): Promise<void> {
  await Deno.writeTextFile(`${root}/bench/results/chart.svg`, chartSvg(results));
  await Deno.writeTextFile(
    `${root}/BENCHMARKS.md`,
    benchmarksMarkdown(results, targetLines(results).join("\n")),
  );
  await updateReadme(`${root}/README.md`, results);
  log("wrote BENCHMARKS.md, bench/results/chart.svg and the README's table");
}

/** Replaces the table between the README's bench markers. */
async function updateReadme(path: string, results: BenchResults): Promise<void> {
  const readme = await Deno.readTextFile(path);
  const start = "<!-- bench:start -->";
  const end = "<!-- bench:end -->";
  const from = readme.indexOf(start);
  const to = readme.indexOf(end);
  if (from < 0 || to < from) return log("README has no bench markers; table not updated");
  const table = `${start}\n${headlineTable(results)}\n\n${
    results.date.slice(0, 10)
  }, ${results.machine.cpu}, ${results.machine.cores} cores; * = load generator saturated (a lower bound).\n${end}`;
  await Deno.writeTextFile(path, readme.slice(0, from) + table + readme.slice(to + end.length));
}

if (import.meta.main) Deno.exit(await main(Deno.args));
