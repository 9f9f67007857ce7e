/**
 * Benchmark results: their shape, medians, and the Markdown tables and SVG
 * chart made from them. Pure: results in, text out.
 *
 * @module
 */

import { FANOUT_CAPTION, FANOUT_METHOD, fanoutTables } from "./fanout_report.ts";
import { SCENARIO_NOTES } from "./scenario_notes.ts";

/** One load-generator result (its JSON line), plus what the runner adds. */
export type RunResult = Record<string, number | string | number[] | boolean | null>;

/** One server in one scenario. */
export interface ServerResult {
  name: string;
  /** Why it did not run (a peer that could not be built, a failure). */
  skipped?: string;
  runs: RunResult[];
  /** Median of each numeric field over the runs. */
  median: Record<string, number>;
  /** The load generator used over 90% of its core in some run: a lower bound. */
  saturated: boolean;
}

/** One scenario. */
export interface ScenarioResult {
  id: string;
  title: string;
  headline: string;
  servers: ServerResult[];
}

/** A whole run of `deno task bench`. */
export interface BenchResults {
  date: string;
  scale: string;
  machine: Record<string, string>;
  command: string;
  scenarios: ScenarioResult[];
}

/** Median of `values` (mean of the middle two for an even count); NaN if empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Loadgen CPU share above which a run is flagged as generator-bound. */
export const SATURATION = 0.9;

/** Summarises the runs of one server. */
export function summarise(name: string, runs: RunResult[], skipped?: string): ServerResult {
  const fields = new Set(runs.flatMap((run) => Object.keys(run)));
  const medianOf: Record<string, number> = {};
  for (const field of fields) {
    const values = runs.map((run) => run[field]).filter((v): v is number => typeof v === "number");
    if (values.length > 0) medianOf[field] = median(values);
  }
  const rss = runs.flatMap((run) =>
    Array.isArray(run.rss_samples_kib) ? [run.rss_samples_kib] : []
  );
  if (rss.length > 0) {
    medianOf.rss_growth_mib = median(
      rss.map((samples) => samples.length < 2 ? 0 : (Math.max(...samples) - samples[0]) / 1024),
    );
  }
  const saturated = runs.some((run) =>
    typeof run.loadgen_cpu === "number" && run.loadgen_cpu > SATURATION
  );
  return { name, runs, median: medianOf, saturated, ...(skipped ? { skipped } : {}) };
}

const ms = (us: number) => `${(us / 1000).toFixed(2)} ms`;

/** Columns shown for a scenario (by id, else by headline): [field, heading, format]. */
const COLUMNS: Record<string, [string, string, (v: number) => string][]> = {
  ops_per_sec: [
    ["ops_per_sec", "ops/s", (v) => Math.round(v).toLocaleString("en-US")],
    ["p50_us", "p50 µs", (v) => String(Math.round(v))],
    ["p99_us", "p99 µs", (v) => String(Math.round(v))],
    ["server_cpu_us_per_op", "server CPU µs/op", (v) => v.toFixed(2)],
    ["server_peak_rss_kib", "peak RSS MiB", (v) => (v / 1024).toFixed(1)],
  ],
  mib_per_sec: [
    ["mib_per_sec", "MiB/s", (v) => v.toFixed(0)],
    ["server_cpu_us_per_op", "server CPU µs/64 KiB", (v) => v.toFixed(1)],
    ["server_peak_rss_kib", "peak RSS MiB", (v) => (v / 1024).toFixed(1)],
  ],
  delivered_ratio: [
    ["delivered_ratio", "delivered", (v) => `${(v * 100).toFixed(2)}%`],
    ["ops_per_sec", "deliveries/s", (v) => Math.round(v).toLocaleString("en-US")],
    ["p50_us", "p50 µs", (v) => String(Math.round(v))],
    ["p99_us", "p99 µs", (v) => String(Math.round(v))],
    ["server_cpu_us_per_op", "server CPU µs/delivery", (v) => v.toFixed(2)],
    ["rss_growth_mib", "RSS growth MiB", (v) => v.toFixed(1)],
    ["server_peak_rss_kib", "peak RSS MiB", (v) => (v / 1024).toFixed(1)],
  ],
  p99_us: [
    ["p99_us", "p99 latency", (v) => v >= 10_000 ? `${(v / 1000).toFixed(0)} ms` : ms(v)],
    ["delivered_ratio", "delivered", (v) => `${(v * 100).toFixed(2)}%`],
    ["ops_per_sec", "deliveries/s", (v) => Math.round(v).toLocaleString("en-US")],
    ["p50_us", "p50 µs", (v) => String(Math.round(v))],
    ["server_cpu_us_per_op", "server CPU µs/delivery", (v) => v.toFixed(2)],
    ["rss_growth_mib", "RSS growth MiB", (v) => v.toFixed(1)],
    ["server_peak_rss_kib", "peak RSS MiB", (v) => (v / 1024).toFixed(1)],
  ],
  // Peak RSS over all of a server's processes (tree_*), and the Redis commands per line.
  "chat-cluster": [
    ["p99_us", "p99 latency", (v) => v >= 10_000 ? `${(v / 1000).toFixed(0)} ms` : ms(v)],
    ["delivered_ratio", "delivered", (v) => `${(v * 100).toFixed(2)}%`],
    ["ops_per_sec", "deliveries/s", (v) => Math.round(v).toLocaleString("en-US")],
    ["p50_us", "p50 µs", (v) => String(Math.round(v))],
    ["tree_peak_rss_kib", "peak RSS MiB, all processes", (v) => (v / 1024).toFixed(1)],
    ["redis_ops_per_line", "Redis ops/line", (v) => v.toFixed(2)],
    ["redis_ops_per_line_with_joins", "… with joins, leaves", (v) => v.toFixed(2)],
  ],
  bytes_per_conn: [
    ["connected", "connected", (v) => String(v)],
    ["bytes_per_conn", "RSS per connection", (v) => `${(v / 1024).toFixed(1)} KiB`],
    ["bytes_per_conn_after_gc", "… after GC", (v) => `${(v / 1024).toFixed(1)} KiB`],
    ["live_bytes_per_conn", "live JS heap", (v) => `${(v / 1024).toFixed(1)} KiB`],
    ["heap_bytes_per_conn", "V8 heap kept", (v) => `${(v / 1024).toFixed(1)} KiB`],
    ["baseline_rss_kib", "baseline RSS MiB", (v) => (v / 1024).toFixed(1)],
    ["rss_kib", "RSS MiB", (v) => (v / 1024).toFixed(1)],
  ],
};

/** Whether a larger headline value is better. */
function higherIsBetter(headline: string): boolean {
  return headline !== "bytes_per_conn" && headline !== "rss_growth_mib" && headline !== "p99_us";
}

/**
 * Headline value of a server relative to server `name`'s (NaN without one),
 * so that above 1 is better.
 */
export function ratioTo(scenario: ScenarioResult, server: ServerResult, name: string): number {
  const other = scenario.servers.find((s) => s.name === name && !s.skipped);
  const mine = server.median[scenario.headline];
  const theirs = other?.median[scenario.headline];
  if (mine === undefined || theirs === undefined || theirs === 0) return NaN;
  return higherIsBetter(scenario.headline) ? mine / theirs : theirs / mine;
}

/** Headline value of a server relative to the Go peer's (NaN without one). */
export function ratioToGo(scenario: ScenarioResult, server: ServerResult): number {
  return ratioTo(scenario, server, "go");
}

/** Columns of a scenario's table. */
function columnsOf(scenario: ScenarioResult): [string, string, (v: number) => string][] {
  return COLUMNS[scenario.id] ?? COLUMNS[scenario.headline] ?? COLUMNS.ops_per_sec;
}

/** Whether a scenario compares Parley with peers (else it compares Parley's setups). */
export function hasPeers(scenario: ScenarioResult): boolean {
  return scenario.servers.some((s) => ["go", "rust", "node"].includes(s.name));
}

/**
 * The Markdown table of one scenario. The last column compares with Go, or
 * in a scenario without peers with its first server (single-process Parley).
 */
export function scenarioTable(scenario: ScenarioResult): string {
  const columns = columnsOf(scenario);
  const baseline = hasPeers(scenario) ? "go" : scenario.servers[0]?.name ?? "go";
  const head = [
    "server",
    ...columns.map(([, heading]) => heading),
    baseline === "go" ? "vs Go" : `vs ${baseline}`,
  ];
  const rows = scenario.servers.map((server) => {
    if (server.skipped) {
      return [
        server.name,
        ...columns.map(() => "–"),
        `skipped: ${server.skipped}`,
      ];
    }
    const cells = columns.map(([field, , format]) =>
      server.median[field] === undefined || Number.isNaN(server.median[field])
        ? "–"
        : format(server.median[field])
    );
    const ratio = ratioTo(scenario, server, baseline);
    const flag = server.saturated ? " (load generator saturated)" : "";
    return [server.name, ...cells, `${Number.isNaN(ratio) ? "–" : `${ratio.toFixed(2)}×`}${flag}`];
  });
  return [head, head.map(() => "---"), ...rows].map((row) => `| ${row.join(" | ")} |`).join("\n");
}

/**
 * The README's headline table: each scenario's headline metric per server.
 * Scenarios without peers (`chat-cluster`) are left to BENCHMARKS.md.
 */
export function headlineTable(results: BenchResults): string {
  const names = ["parley", "go", "rust", "node"];
  const head = ["scenario", "metric", ...names, "Parley vs Go"];
  const rows = results.scenarios.filter(hasPeers).map((scenario) => {
    const columns = columnsOf(scenario);
    const [, heading, format] = columns.find(([field]) => field === scenario.headline) ??
      [scenario.headline, scenario.headline, (v: number) => v.toFixed(2)];
    const cells = names.map((name) => {
      const server = scenario.servers.find((s) => s.name === name);
      if (!server || server.skipped || server.median[scenario.headline] === undefined) return "–";
      return format(server.median[scenario.headline]) + (server.saturated ? "*" : "");
    });
    const parley = scenario.servers.find((s) => s.name === "parley");
    const ratio = parley ? ratioToGo(scenario, parley) : NaN;
    return [scenario.id, heading, ...cells, Number.isNaN(ratio) ? "–" : `${ratio.toFixed(2)}×`];
  });
  return [head, head.map(() => "---"), ...rows].map((row) => `| ${row.join(" | ")} |`).join("\n");
}

/** BENCHMARKS.md: method, machine, every table, the chart, the command. */
export function benchmarksMarkdown(results: BenchResults, targets: string): string {
  const machine = Object.entries(results.machine).map(([k, v]) => `- ${k}: ${v}`).join("\n");
  const sections = results.scenarios.map((scenario) => {
    const notes = SCENARIO_NOTES[scenario.id];
    return `### ${scenario.title} (\`${scenario.id}\`)\n\n${scenarioTable(scenario)}\n${
      notes ? `\n${notes}` : ""
    }`;
  }).join("\n");
  const fanout = fanoutTables(results);
  return `# Benchmarks

Generated by \`${results.command}\` on ${results.date} (${results.scale} scale) from
\`bench/results/latest.json\`; rerun it to regenerate this file and the chart.

![Parley relative to the Go peer](bench/results/chart.svg)

## Method

- Each server runs pinned to core 0 (\`taskset -c 0\`) and the load generator
  (\`bench/loadgen\`, Rust, standard library only, one epoll thread for the
  ping-pong scenarios) to core 1; a fresh server for every run.
- Chat scenarios are ranked by p99 delivery latency (lower is better; the
  tables also show the share of lines delivered).
- Each run warms up for 0.5 s, then measures; repetitions are interleaved
  (every server once, then again) and the tables show medians. The chat
  scenarios send lines through the warm-up too: delivered and counted in
  "delivered", not timed. A fresh Deno process spends its first 100–200 ms
  under load compiling, and its p99 over the warm-up alone is several
  milliseconds higher (\`warmup_p99_us\` in \`bench/results/latest.json\`),
  where a Go or C binary has none.
- Server CPU comes from \`/proc/PID/stat\` over the measured window; peak RSS
  is \`VmHWM\`. "vs Go" is the headline metric relative to the Go peer (for
  RSS per connection, Go's divided by ours, so higher is better everywhere).
- A run in which the load generator used over 90% of its core is marked
  "load generator saturated": its figure is a lower bound for that server.
- WebSocket scenarios use the load generator's own RFC 6455 client (masked
  frames, pings answered), one epoll thread for every connection; chat lines
  carry their send time and sender, and a server message may hold several
  lines (each is counted).
- Peers (\`bench/peers/\`): Go \`io.Copy\` echo, UDP \`ReadFrom\`/\`WriteTo\`,
  and the channel-based broadcaster of *The Go Programming Language* §8.10;
  Rust standard library, a thread per connection; Node \`net\` (\`pipe\`),
  \`dgram\`, and a \`net\` broadcast chat (the Go and Node TCP chats, written
  for the purpose, run only in \`slow-reader\` and the idle scenarios; the
  chat fan-out scenarios compare with ngIRCd and InspIRCd). WebSocket peers: Go on
  gorilla/websocket (its echo example; the §8.10 broadcaster with TCP and
  WebSocket clients, each client's writer putting the lines queued for it into
  one write or message, as gorilla's chat example does) and Node on npm
  \`ws\` (echo; the \`net\` chat plus \`ws\` clients, a message per line).
  A peer that cannot be built is reported as skipped.

${FANOUT_METHOD}
## Machine

${machine}

## Targets

${targets}

## Results
${
    fanout
      ? `\n### Chat fan-out against the IRC servers\n\n![p99 and p50 per server](bench/results/fanout.svg)\n\n${FANOUT_CAPTION}\n\n${fanout}\n\nA figure marked * is from a run where the load generator was saturated.\n`
      : ""
  }
${sections}`;
}

/** An SVG bar chart of each scenario's headline, Parley and peers relative to Go. */
export function chartSvg(results: BenchResults): string {
  const names = ["parley", "go", "rust", "node"];
  const colours: Record<string, string> = {
    parley: "#2b8a3e",
    go: "#1c7ed6",
    rust: "#e8590c",
    node: "#868e96",
  };
  const scenarios = results.scenarios.filter((s) =>
    s.servers.some((server) => server.name === "go" && !server.skipped)
  );
  const rowHeight = 64;
  const left = 150;
  const width = 760;
  const barArea = width - left - 70;
  const ratios = scenarios.flatMap((s) => s.servers.map((server) => ratioToGo(s, server)))
    .filter((r) => Number.isFinite(r));
  // Bars stop at 3× so one huge ratio does not flatten the rest; labels keep the real value.
  const maxRatio = Math.min(3, Math.max(1.5, ...ratios));
  const height = 50 + scenarios.length * rowHeight + 30;
  const x = (ratio: number) => left + (Math.min(ratio, maxRatio) / maxRatio) * barArea;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">Headline metric relative to the Go peer (higher is better)</text>`,
  ];
  names.forEach((name, i) => {
    parts.push(
      `<rect x="${left + i * 90}" y="30" width="12" height="12" fill="${colours[name]}"/>`,
      `<text x="${left + i * 90 + 16}" y="40">${name}</text>`,
    );
  });
  scenarios.forEach((scenario, row) => {
    const top = 50 + row * rowHeight;
    parts.push(`<text x="${left - 8}" y="${top + 30}" text-anchor="end">${scenario.id}</text>`);
    names.forEach((name, i) => {
      const server = scenario.servers.find((s) => s.name === name);
      if (!server || server.skipped) return;
      const ratio = ratioToGo(scenario, server);
      if (!Number.isFinite(ratio)) return;
      const y = top + 6 + i * 13;
      parts.push(
        `<rect x="${left}" y="${y}" width="${(x(ratio) - left).toFixed(1)}" height="11" fill="${
          colours[name]
        }"/>`,
        `<text x="${(x(ratio) + 4).toFixed(1)}" y="${y + 9}">${ratio.toFixed(2)}×</text>`,
      );
    });
  });
  parts.push(
    `<line x1="${x(1)}" y1="46" x2="${x(1)}" y2="${
      height - 24
    }" stroke="#333" stroke-dasharray="4 3"/>`,
    `<text x="${x(1)}" y="${height - 10}" text-anchor="middle">1.0× Go</text>`,
    `</svg>`,
  );
  return parts.join("\n") + "\n";
}
