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
  hasPeers,
  headlineTable,
  type RunResult,
  type ScenarioResult,
  scenarioTable,
  summarise,
} from "./report.ts";
import { targetLines } from "./targets.ts";
import { firstLineThenDrain } from "../lib/cli/listening.ts";
import { sbin } from "./fanout.ts";
import { FANOUT_CAPTION, fanoutChartSvg, fanoutTables } from "./fanout_report.ts";
import { peakRssKib, redisCommands, sampleTree, settledRedisCommands } from "./probes.ts";
import {
  type BenchPaths,
  listeningOn,
  type Scale,
  SCENARIOS,
  type ScenarioSpec,
  type ServerSpec,
  SKIPPED_WHEN_QUICK,
  tlsLoad,
} from "./scenarios.ts";

const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const target = `${root}/bench/target`;
/** npm `ws` for the Node WebSocket peers (bench/peers/node/ws.mjs loads it from here). */
const NODE_WS = "ws@8.18.3";

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

/** First line of a tool's error output, for a "skipped" reason. */
function firstLine(text: string, otherwise: string): string {
  return text.split("\n").map((line) => line.trim()).find((line) => line !== "") ?? otherwise;
}

/**
 * Installs npm `ws` under bench/target/node-peer (not a dependency of the
 * repository) unless that version is already there. Returns why not, on failure.
 */
async function installNodeWs(prefix: string): Promise<string | undefined> {
  const version = NODE_WS.split("@")[1];
  try {
    const installed = JSON.parse(
      await Deno.readTextFile(`${prefix}/node_modules/ws/package.json`),
    );
    if (installed.version === version) return undefined;
  } catch { /* not installed yet */ }
  log(`installing npm ${NODE_WS} for the Node WebSocket peers (npm install --prefix ${prefix})`);
  const npm = await run([
    "npm",
    "install",
    "--prefix",
    prefix,
    "--no-save",
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
    "--fetch-retries=1",
    "--fetch-timeout=20000",
    NODE_WS,
  ]);
  if (npm.ok && await exists(`${prefix}/node_modules/ws/package.json`)) return undefined;
  // npm's first error lines are often `code …`, `errno …`: skip to the message.
  const errors = npm.stderr.split("\n").map((line) =>
    line.replace(/^npm (error|ERR!)\s*/, "").trim()
  )
    .filter((line) => line !== "" && !/^(npm warn|code|errno|syscall)\b/i.test(line));
  return `npm install ${NODE_WS} failed: ${errors[0] ?? firstLine(npm.stderr, "npm missing")}`;
}

/**
 * Builds the load generator (required) and every peer that can be built;
 * the WebSocket peers (and npm `ws`) only when `websocket` scenarios will run.
 */
async function build(websocket: boolean): Promise<BenchPaths> {
  const env = { CARGO_TARGET_DIR: target };
  log("building the load generator (cargo build --release --offline)");
  const cargo = await run(["cargo", "build", "--release", "--offline", "--quiet"], {
    cwd: `${root}/bench/loadgen`,
    env,
  });
  if (!cargo.ok) throw new Error(`cannot build the load generator:\n${cargo.stderr}`);
  const peers = `${target}/peers`;
  const unavailable: Record<string, string> = {};
  await Deno.mkdir(peers, { recursive: true });
  // GOPATH mode (no modules, no network): the WebSocket peers find
  // gorilla/websocket in Debian's golang-github-gorilla-websocket-dev.
  const gopath = [Deno.env.get("GOPATH"), "/usr/share/gocode"].filter(Boolean).join(":");
  const goPeers = ["echo", "udpecho", "chat", ...(websocket ? ["wsecho", "wschat"] : [])];
  for (const name of goPeers) {
    const go = await run(["go", "build", "-o", `${peers}/go-${name}`, `${name}.go`], {
      cwd: `${root}/bench/peers/go`,
      env: {
        GOFLAGS: "-mod=mod",
        GO111MODULE: "off",
        GOPATH: gopath,
        GOCACHE: `${target}/go-cache`,
      },
    });
    if (!go.ok) {
      const why = firstLine(go.stderr, "go missing");
      unavailable[`${peers}/go-${name}`] = `not built: ${why}`;
      log(`Go peer ${name} not built (${why})`);
    }
  }
  await buildTlsLoad(peers, gopath, unavailable);
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
  if (!(await exists("redis-server"))) {
    unavailable["redis-server"] = "redis-server not installed (the cluster's Redis)";
  }
  if (!(await exists("redis-cli"))) {
    unavailable["redis-cli"] = "redis-cli not installed (makes the Redis Cluster)";
  }
  const nodeWs = `${target}/node-peer/node_modules/ws`;
  const npm = websocket ? await installNodeWs(`${target}/node-peer`) : undefined;
  if (npm !== undefined) {
    unavailable[nodeWs] = npm;
    log(`Node WebSocket peers skipped (${npm})`);
  }
  return {
    root,
    deno: Deno.execPath(),
    loadgen: `${target}/release/parley-loadgen`,
    peers,
    node: "node",
    nodeWs,
    unavailable,
    scratch: await Deno.makeTempDir({ prefix: "parley-bench-" }),
  };
}

/**
 * The Go TLS echo peer, the TLS load generator (Go: Rust's std has no
 * cryptography) and the throwaway certificate both TLS servers use, made by it.
 */
async function buildTlsLoad(
  peers: string,
  gopath: string,
  unavailable: Record<string, string>,
): Promise<void> {
  const env = {
    GOFLAGS: "-mod=mod",
    GO111MODULE: "off",
    GOPATH: gopath,
    GOCACHE: `${target}/go-cache`,
  };
  const peer = await run(["go", "build", "-o", `${peers}/go-tlsecho`, "tlsecho.go"], {
    cwd: `${root}/bench/peers/go`,
    env,
  });
  if (!peer.ok) {
    const why = firstLine(peer.stderr, "go missing");
    unavailable[`${peers}/go-tlsecho`] = `not built: ${why}`;
    log(`Go peer tlsecho not built (${why})`);
  }
  const binary = tlsLoad.binary({ peers });
  const go = await run(["go", "build", "-o", binary, "tlsload.go"], {
    cwd: `${root}/bench/tlsload`,
    env,
  });
  const made = go.ok ? await run([binary, "gencert", tlsLoad.dir({ peers })]) : go;
  if (!made.ok) {
    const why = firstLine(made.stderr, "go missing");
    const problem = `TLS load generator not built: ${why}`;
    unavailable[binary] = unavailable[tlsLoad.cert({ peers })] = problem;
    log(`TLS load generator not built (${why})`);
  }
}

/** `ulimit -n` raised to the hard limit, pinned to `core` when taskset exists. */
function pinned(core: number, command: string[], pin: boolean): string[] {
  const taskset = pin ? `taskset -c ${core} ` : "";
  return ["sh", "-c", `ulimit -n "$(ulimit -Hn)"; exec ${taskset}"$@"`, "sh", ...command];
}

/** Reads a stream to its end, keeping only its last `keep` characters. */
async function tail(stream: ReadableStream<Uint8Array>, keep = 4096): Promise<string> {
  let text = "";
  try {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text = (text + chunk).slice(-keep);
    }
  } catch { /* the process went away */ }
  return text;
}

/** Whether `addr` accepts a TCP connection before `child` exits, trying for `ms`. */
async function accepting(addr: string, child: Deno.ChildProcess, ms: number): Promise<boolean> {
  const [hostname, port] = [
    addr.slice(0, addr.lastIndexOf(":")),
    addr.slice(addr.lastIndexOf(":") + 1),
  ];
  let exited = false;
  child.status.then(() => (exited = true));
  for (const deadline = Date.now() + ms; Date.now() < deadline && !exited;) {
    try {
      (await Deno.connect({ hostname, port: Number(port) })).close();
      return true;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return false;
}

/** Starts a server and reads its addresses; resolves to a handle to stop it. */
async function startServer(server: ServerSpec, paths: BenchPaths, pin: boolean) {
  // A daemon that cannot print its address: its own configuration, a known port.
  const launched = await server.launch?.(paths);
  const command = pinned(0, launched?.command ?? server.command(paths), pin);
  const child = new Deno.Command(command[0], {
    args: command.slice(1),
    stdout: "piped",
    stderr: "piped",
    cwd: root,
    env: {
      NO_COLOR: "1", // plain error lines for the report
      ...(server.gcProbe && paths.scratch ? { PARLEY_BENCH_GC_DIR: paths.scratch } : {}),
      ...server.env,
    },
  }).spawn();
  // Stderr is kept (its end) to say why a server did not start.
  const stderr = tail(child.stderr);
  // Stdout: up to the listening line, then drained so the server never blocks on it.
  const stdout = await firstLineThenDrain(child.stdout, {
    match: (line) => launched !== undefined || line.includes("listening on"),
    timeoutMs: launched !== undefined ? 0 : 30_000,
  });
  const failed = async (why: string) => {
    await launched?.cleanup();
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    await stdout.cancel();
    // The first error line (Deno's, a flag parser's), else the last line.
    const lines = (await stderr).split("\n")
      .map((line) => line.trim()).filter((line) => line !== "");
    const said = lines.find((line) => /error/i.test(line)) ?? lines.at(-1);
    return new Error(`${server.name} ${why}${said ? `: ${said}` : ""}`);
  };
  let listening;
  if (launched !== undefined) {
    listening = launched.listening;
    if (!(await accepting(listening.tcp!, child, 30_000))) {
      throw await failed(`did not accept connections on ${listening.tcp} in 30 s`);
    }
  } else {
    if (stdout.timedOut) throw await failed("did not print its address in 30 s");
    if (stdout.line === null) throw await failed("exited before listening");
    listening = listeningOn(stdout.line);
    if (listening === undefined) throw await failed(`printed no address: ${stdout.line.trim()}`);
  }
  // Its processes (a cluster: nodes and Redis), to end them if it is killed.
  const { pids } = await sampleTree(child.pid);
  return {
    listening,
    pid: child.pid,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      let killed = false;
      const timer = setTimeout(() => {
        killed = true;
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 5000);
      await child.status;
      clearTimeout(timer);
      if (killed) {
        for (const pid of pids.slice(1)) {
          try {
            Deno.kill(pid, "SIGKILL");
          } catch { /* already gone */ }
        }
      }
      await stdout.cancel();
      await stderr;
      await launched?.cleanup();
    },
  };
}

async function measure(
  server: ServerSpec,
  scenario: ScenarioSpec,
  scale: Scale,
  paths: BenchPaths,
  pin: boolean,
): Promise<RunResult> {
  const handle = await startServer(server, paths, pin);
  try {
    const { tcp, http } = handle.listening;
    const addresses = tcp === undefined ? [] : ["--addr", tcp];
    const wsPath = server.wsPath ?? scenario.wsPath;
    if (wsPath !== undefined) {
      if (http === undefined) {
        throw new Error(`${server.name} printed no http= address (no WebSocket listener)`);
      }
      addresses.push("--ws-url", `ws://${http}${wsPath}`);
    } else if (tcp === undefined) {
      throw new Error(`${server.name} printed no TCP address`);
    }
    const redis = handle.listening.redis;
    const command = pinned(1, [
      scenario.generator?.(paths) ?? paths.loadgen,
      ...scenario.loadgen(scale, server),
      ...addresses,
      "--server-pid",
      String(handle.pid),
      // A Deno server with the GC probe: the idle scenarios collect garbage.
      ...(server.gcProbe && paths.scratch ? ["--gc-dir", paths.scratch] : []),
      // The chat load generator reads Redis's command count around the lines.
      ...(redis === undefined ? [] : ["--redis", redis]),
    ], pin);
    // Redis's figures are extras: a Redis that cannot be asked costs them, not the run.
    const unasked = (error: unknown) => {
      log(`${server.name}: cannot read Redis's command count (${error})`);
      return undefined;
    };
    const redisBefore = redis === undefined ? undefined : await redisCommands(redis).catch(unasked);
    const treeBefore = scenario.wholeTree ? await sampleTree(handle.pid) : undefined;
    const out = await run(command);
    if (!out.ok) throw new Error(`load generator failed: ${out.stderr.trim()}`);
    const result: RunResult = JSON.parse(out.stdout.trim().split("\n").at(-1)!);
    if (treeBefore !== undefined) {
      // The load generator measured the launcher only: measure every process.
      const after = await sampleTree(handle.pid);
      const ops = Number(result.ops);
      delete result.server_cpu_us_per_op;
      delete result.server_peak_rss_kib;
      delete result.rss_samples_kib;
      result.tree_processes = after.pids.length;
      result.tree_cpu_us_per_delivery = ops > 0 ? (after.cpuUs - treeBefore.cpuUs) / ops : null;
      result.tree_peak_rss_kib = await peakRssKib(after.pids);
    }
    if (redis !== undefined && redisBefore !== undefined) {
      // Redis commands per line sent: from the first line to the end of the
      // drain (the load generator's redis_commands), and over the whole run,
      // the clients' joins and leaves included (less the INFO that took
      // redisBefore, counted by the next one).
      const after = await settledRedisCommands(redis).catch(unasked);
      const sent = Number(result.sent);
      const perLine = (commands: number) => sent > 0 ? commands / sent : null;
      if (typeof result.redis_commands === "number") {
        result.redis_ops_per_line = perLine(result.redis_commands);
      }
      if (after !== undefined) {
        const infos = redis.split(",").length; // the INFOs that took redisBefore
        result.redis_commands_with_joins = after - redisBefore - infos;
        result.redis_ops_per_line_with_joins = perLine(after - redisBefore - infos);
      }
    }
    return result;
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
    ngircd: (await version([sbin("ngircd"), "--version"])).split("-")[0],
    inspircd: await version([sbin("inspircd"), "--version"]),
    // Other work on the machine shows in every figure: say how busy it was.
    "load average at start": (await Deno.readTextFile("/proc/loadavg").catch(() => ""))
      .split(" ").slice(0, 3).join(" ") || "unknown",
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
  const paths = await build(scenarios.some((s) => s.wsPath !== undefined));
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
          if (!(await exists(need))) {
            return paths.unavailable[need] ?? `${need.split("/").pop()} not available`;
          }
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
          runs.get(server)!.push(await measure(server, scenario, scale, paths, pin));
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
  if (paths.scratch) await Deno.remove(paths.scratch, { recursive: true }).catch(() => {});
  // The headline table leaves out scenarios without peers: none left, no table.
  const headline = results.scenarios.some(hasPeers) ? `\n${headlineTable(results)}\n` : "";
  console.log(`${headline}\n${targetLines(results).join("\n")}`);
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
  const fanoutChart = fanoutChartSvg(results);
  if (fanoutChart) await Deno.writeTextFile(`${root}/bench/results/fanout.svg`, fanoutChart);
  await Deno.writeTextFile(
    `${root}/BENCHMARKS.md`,
    benchmarksMarkdown(results, targetLines(results).join("\n")),
  );
  await updateReadme(`${root}/README.md`, results);
  // The generators wrap prose loosely; `deno fmt` makes the documents pass `deno task check`.
  const fmt = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", `${root}/BENCHMARKS.md`, `${root}/README.md`],
    stdout: "inherit",
    stderr: "inherit",
  });
  if (!(await fmt.output()).success) log("deno fmt failed on the written documents");
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
  const fanout = fanoutTables(results);
  const table = `${start}\n${headlineTable(results)}\n\n${
    fanout ? `Chat fan-out, 100 clients in one room: ${FANOUT_CAPTION}\n\n${fanout}\n\n` : ""
  }${results.date.slice(0, 10)}, ${results.machine.cpu}, ${results.machine.cores} cores${
    results.machine["load average at start"]
      ? `, load average ${results.machine["load average at start"]} at the start`
      : ""
  }; * = load generator saturated (a lower bound).\n${end}`;
  await Deno.writeTextFile(path, readme.slice(0, from) + table + readme.slice(to + end.length));
}

if (import.meta.main) Deno.exit(await main(Deno.args));
