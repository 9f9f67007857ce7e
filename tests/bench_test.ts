import { deepEqual, equal, ok, throws } from "node:assert/strict";
import {
  benchmarksMarkdown,
  chartSvg,
  headlineTable,
  median,
  ratioToGo,
  scenarioTable,
  summarise,
} from "../bench/report.ts";
import { bulkReply, infoField, parseProcStat, processTree } from "../bench/probes.ts";
import { listeningOn, SCENARIOS } from "../bench/scenarios.ts";
import { targetLines } from "../bench/targets.ts";
import { fillConfig } from "../bench/fanout.ts";
import { fanoutChartSvg, fanoutTables, fanoutTargets } from "../bench/fanout_report.ts";
import { firstLineThenDrain, parseListening, splitAddr } from "../lib/cli/listening.ts";
import { within } from "./helpers.ts";
import { BENCH_PATHS as PATHS, rootPath } from "./process_helpers.ts";

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

Deno.test({
  name: "the runner reads a server's TCP and HTTP addresses from its first line, old form too",
  permissions: "none",
  fn() {
    deepEqual(
      listeningOn("parley chat server listening on tcp=127.0.0.1:41234 http=127.0.0.1:41235"),
      {
        tcp: "127.0.0.1:41234",
        http: "127.0.0.1:41235",
      },
    );
    deepEqual(listeningOn("listening on http=0.0.0.0:8080"), { http: "127.0.0.1:8080" });
    deepEqual(listeningOn("listening on tcp=[::1]:7878"), { tcp: "[::1]:7878" });
    deepEqual(listeningOn("parley echo server listening on 0.0.0.0:7878"), {
      tcp: "127.0.0.1:7878",
    });
    deepEqual(listeningOn("listening on 127.0.0.1:5000"), { tcp: "127.0.0.1:5000" });
    equal(listeningOn("listening on nothing"), undefined);
    equal(listeningOn("starting"), undefined);
  },
});

Deno.test({
  name: "parseListening() and splitAddr() read the line server.ts prints, TLS included",
  permissions: "none",
  fn() {
    deepEqual(
      parseListening("parley chat server listening on tcp=[::]:7878 http=0.0.0.0:7880 (tls)"),
      { tcp: "[::]:7878", http: "0.0.0.0:7880", tls: true },
    );
    deepEqual(parseListening("parley echo server listening on tcp=127.0.0.1:9"), {
      tcp: "127.0.0.1:9",
      tls: false,
    });
    deepEqual(splitAddr("[::]:7878"), { hostname: "::", port: 7878 });
    deepEqual(splitAddr("127.0.0.1:9"), { hostname: "127.0.0.1", port: 9 });
    throws(() => splitAddr("nowhere"), RangeError);
  },
});

/** A stream of `chunks`, then its end unless `open`; counts the chunks read. */
function chunkStream(chunks: string[], open = false) {
  const encoder = new TextEncoder();
  const state = { pulled: 0 };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (state.pulled < chunks.length) controller.enqueue(encoder.encode(chunks[state.pulled++]));
      else if (!open) controller.close();
    },
  }, { highWaterMark: 0 });
  return { stream, state };
}

Deno.test({
  name: "firstLineThenDrain() finds the line asked for across chunks, then drains the rest",
  permissions: "none",
  async fn() {
    const { stream, state } = chunkStream([
      "warming up\r\nparley chat ser",
      "ver listening on tcp=127.0.0.1:1\nmore\n",
      "and more",
    ]);
    const first = await firstLineThenDrain(stream, {
      match: (line) => line.includes("listening on"),
    });
    equal(first.line, "parley chat server listening on tcp=127.0.0.1:1");
    equal(first.timedOut, false);
    await within(first.drained, "the rest to be read");
    equal(state.pulled, 3);
    // The first line by default; a last line without an ending counts; the end of output is null.
    equal((await firstLineThenDrain(chunkStream(["a\nb\n"]).stream)).line, "a");
    equal((await firstLineThenDrain(chunkStream(["no ending"]).stream)).line, "no ending");
    equal((await firstLineThenDrain(chunkStream([]).stream)).line, null);
  },
});

Deno.test({
  name: "firstLineThenDrain() gives up after timeoutMs and can be cancelled",
  permissions: "none",
  async fn() {
    const first = await firstLineThenDrain(chunkStream(["partial"], true).stream, {
      timeoutMs: 20,
    });
    deepEqual([first.line, first.timedOut], [null, true]);
    await within(first.cancel(), "reading to stop");
  },
});

Deno.test({
  name: "the runner reads a cluster's Redis URL from its listening line",
  permissions: "none",
  fn() {
    deepEqual(
      listeningOn(
        "parley cluster of 2 listening on tcp=127.0.0.1:41234 redis=redis://127.0.0.1:6399",
      ),
      { tcp: "127.0.0.1:41234", redis: "redis://127.0.0.1:6399" },
    );
    deepEqual(
      listeningOn(
        "parley cluster of 3 listening on tcp=0.0.0.0:7878 http=0.0.0.0:8080 redis=redis://127.0.0.1:45935",
      ),
      { tcp: "127.0.0.1:7878", http: "127.0.0.1:8080", redis: "redis://127.0.0.1:45935" },
    );
    // A single server prints no Redis; a Redis alone is no address to load.
    equal(listeningOn("listening on tcp=127.0.0.1:1 http=127.0.0.1:2")?.redis, undefined);
    equal(listeningOn("listening on redis=redis://127.0.0.1:6379"), undefined);
  },
});

Deno.test({
  name: "the probes parse Redis's INFO reply and /proc stat lines, and find a process tree",
  permissions: "none",
  fn() {
    const info = "# Stats\r\ntotal_connections_received:3\r\ntotal_commands_processed:20418\r\n" +
      "instantaneous_ops_per_sec:12\r\n";
    const bytes = new TextEncoder().encode(`$${info.length}\r\n${info}\r\n`);
    equal(bulkReply(bytes.subarray(0, 10)), undefined);
    equal(bulkReply(bytes.subarray(0, bytes.length - 1)), undefined);
    equal(bulkReply(bytes), info);
    equal(infoField(info, "total_commands_processed"), 20418);
    equal(infoField(info, "total_commands"), undefined);
    throws(() => bulkReply(new TextEncoder().encode("-NOAUTH Authentication required.\r\n")));

    const stat = (pid: number, name: string, ppid: number, utime: number, stime: number) =>
      `${pid} (${name}) S ${ppid} 1 1 0 -1 4194560 100 0 0 0 ${utime} ${stime} 0 0 20 0 4 0 7 0`;
    deepEqual(parseProcStat(stat(42, "deno (main) x", 7, 30, 12)), { pid: 42, ppid: 7, ticks: 42 });
    equal(parseProcStat("garbage"), undefined);
    const table = [
      { pid: 1, ppid: 0, ticks: 5 },
      { pid: 10, ppid: 1, ticks: 1 }, // the cluster launcher
      { pid: 11, ppid: 10, ticks: 2 }, // redis-server
      { pid: 12, ppid: 10, ticks: 3 }, // node 1
      { pid: 13, ppid: 10, ticks: 4 }, // node 2
      { pid: 14, ppid: 12, ticks: 1 }, // a child of node 1
      { pid: 20, ppid: 1, ticks: 9 }, // someone else
    ];
    deepEqual(processTree(10, table).map((p) => p.pid), [10, 11, 12, 13, 14]);
    deepEqual(processTree(99, table), []);
  },
});

Deno.test({
  name: "udp-64 runs Parley's UDP echo without its per-address reply bounds",
  permissions: "none",
  fn() {
    const udp = SCENARIOS.find((s) => s.id === "udp-64")!;
    const parley = udp.servers.find((s) => s.name === "parley")!;
    const command = parley.command(PATHS);
    // One load generator address: either bound (1000 replies/s, 128 KiB/s) would cap the run.
    for (const flag of ["--max-replies-per-ip", "--max-reply-bytes-per-ip"]) {
      const at = command.indexOf(flag);
      ok(at > 0, `${flag} missing from ${command.join(" ")}`);
      equal(command[at + 1], "0", flag);
    }
  },
});

Deno.test({
  name: "chat-cluster runs 100 clients at 40 lines/s against one Parley and a 2-node cluster",
  permissions: "none",
  fn() {
    const cluster = SCENARIOS.find((s) => s.id === "chat-cluster")!;
    ok(cluster, "no chat-cluster scenario");
    deepEqual(cluster.loadgen("full"), [
      "chat",
      "--clients",
      "100",
      "--rate",
      "40",
      "--duration",
      "2",
      "--drain",
      "3",
    ]);
    equal(cluster.headline, "p99_us");
    equal(cluster.wholeTree, true);
    deepEqual(cluster.servers.map((s) => s.name), ["parley", "parley×2", "parley×2 on 3 shards"]);
    const [single, nodes] = cluster.servers;
    const command = nodes.command(PATHS);
    const script = command.indexOf("/repo/scripts/cluster.ts");
    ok(script > 0, command.join(" "));
    equal(command[script + 1], "2");
    // The same server flags as the single process, after N.
    const flags = single.command(PATHS).slice(single.command(PATHS).indexOf("/repo/server.ts") + 1);
    deepEqual(command.slice(script + 2), flags);
    for (const flag of ["--rate", "--history", "--max-per-ip", "--max-clients", "--no-http"]) {
      ok(flags.includes(flag), flag);
    }
    deepEqual(nodes.needs(PATHS), ["/bin/deno", "redis-server"]);
    // On a Redis Cluster: the same, with `--redis-shards 3` first among the flags.
    const sharded = cluster.servers[2].command(PATHS);
    deepEqual(sharded.slice(sharded.indexOf("/repo/scripts/cluster.ts") + 1), [
      "2",
      "--redis-shards",
      "3",
      ...flags,
    ]);
    deepEqual(cluster.servers[2].needs(PATHS), ["/bin/deno", "redis-server", "redis-cli"]);
    // chat-cluster-rooms: the same load spread over 12 rooms, on both.
    const rooms = SCENARIOS.find((s) => s.id === "chat-cluster-rooms")!;
    deepEqual(rooms.loadgen("full"), [...cluster.loadgen("full"), "--rooms", "12"]);
    deepEqual(rooms.servers.map((s) => s.name), ["parley×2", "parley×2 on 3 shards"]);
  },
});

Deno.test({
  name:
    "chat-10/40/80 run Parley over TCP and WebSocket, the bare Deno loop, ngIRCd and InspIRCd through one loop",
  permissions: "none",
  fn() {
    for (const rate of [10, 40, 80]) {
      const scenario = SCENARIOS.find((s) => s.id === `chat-${rate}`)!;
      ok(scenario, `chat-${rate}`);
      deepEqual(scenario.servers.map((s) => s.name), [
        "parley",
        "parley-ws",
        "deno-bare",
        "ngircd",
        "inspircd",
      ]);
      equal(scenario.repetitions, 3);
      const [parley, ws, bare, ngircd, inspircd] = scenario.servers;
      const args = (server: typeof parley, scale: "full" | "smoke" = "full") =>
        scenario.loadgen(scale, server);
      deepEqual(args(parley), [
        "ws-chat",
        "--tcp-clients",
        "100",
        "--irc-clients",
        "0",
        "--ws-clients",
        "0",
        "--rate",
        String(rate),
        "--duration",
        "2",
        "--drain",
        "3",
      ]);
      deepEqual(args(ws).slice(1, 7), [
        "--tcp-clients",
        "0",
        "--irc-clients",
        "0",
        "--ws-clients",
        "100",
      ]);
      deepEqual(args(bare).slice(1, 3), ["--tcp-clients", "100"]);
      deepEqual(args(ngircd).slice(3, 5), ["--irc-clients", "100"]);
      deepEqual(args(inspircd, "smoke").slice(3, 5), ["--irc-clients", "5"]);
      equal(ws.wsPath, "/ws");
      ok(ngircd.launch && inspircd.launch, "the daemons are launched on their own configuration");
      // Parley's limits are on, set so that nothing throttles the load.
      const command = parley.command(PATHS).join(" ");
      ok(
        command.includes(
          "--rate 200 --burst 400 --ip-rate 20000 --ip-burst 40000 --max-per-ip 15000 --history 0",
        ),
        command,
      );
      ok(command.endsWith("--no-http"), command);
      ok(ws.command(PATHS).join(" ").endsWith("--http-port 0"));
      ok(bare.command(PATHS).includes("/repo/bench/peers/deno/bare_chat.ts"));
    }
  },
});

Deno.test({
  name: "the idle scenarios run Parley and the bare Deno loop with the GC probe",
  permissions: "none",
  fn() {
    const idle = SCENARIOS.find((s) => s.id === "idle-10k")!;
    deepEqual(idle.servers.map((s) => s.name), ["parley", "deno-bare", "go", "node"]);
    for (const server of idle.servers.slice(0, 2)) {
      equal(server.gcProbe, true);
      const command = server.command(PATHS);
      ok(command.includes("--preload=/repo/bench/peers/deno/gc_probe.ts"), command.join(" "));
      ok(command.some((arg) => /^--v8-flags=.*--expose-gc/.test(arg)), command.join(" "));
      ok(command.includes("--allow-write=/scratch"), command.join(" "));
    }
  },
});

Deno.test({
  name: "the IRC configurations are filled in and switch off what would throttle the load",
  permissions: { read: true },
  async fn() {
    const read = (name: string) => Deno.readTextFile(rootPath(`bench/peers/irc/${name}`));
    const ngircd = fillConfig(await read("ngircd.conf"), "/tmp/x", 4321);
    ok(!/@(DIR|PORT)@/.test(ngircd), "placeholders left");
    for (
      const setting of [
        "Ports = 4321",
        "Listen = 127.0.0.1",
        "MaxPenaltyTime = 0",
        "MaxConnectionsIP = 0",
        "DNS = no",
        "Ident = no",
        "PidFile = /tmp/x/ngircd.pid",
      ]
    ) ok(ngircd.includes(setting), setting);
    const inspircd = fillConfig(await read("inspircd.conf"), "/tmp/x", 4321);
    ok(!/@(DIR|PORT)@/.test(inspircd), "placeholders left");
    for (
      const setting of [
        'port="4321"',
        'commandrate="200000"',
        'threshold="200"',
        'fakelag="no"',
        'softsendq="65536"',
        'localmax="20000"',
        'globalmax="20000"',
        'resolvehostnames="no"',
        'logdir="/tmp/x"',
      ]
    ) ok(inspircd.includes(setting), setting);
    equal(inspircd.match(/<connect /g)?.length, 1, "one connect class");
  },
});

Deno.test({
  name: "the fan-out report shows p50/p99, cost and RSS per server and checks the InspIRCd targets",
  permissions: "none",
  fn() {
    const chat = (id: string, rows: [string, number, number, number][]) => ({
      id,
      title: id,
      headline: "p99_us",
      servers: [
        ...rows.map(([name, p50, p99, cpu]) =>
          summarise(name, [{
            p50_us: p50,
            p99_us: p99,
            delivered_ratio: 1,
            server_cpu_us_per_op: cpu,
            server_peak_rss_kib: 70 * 1024,
          }])
        ),
        summarise("ngircd", [], "ngircd not available"),
      ],
    });
    const results = {
      date: "2026-12-06",
      scale: "full",
      machine: {},
      command: "deno task bench",
      scenarios: [
        chat("chat-10", [["parley", 820, 7270, 9], ["deno-bare", 600, 3000, 5], [
          "inspircd",
          8180,
          18100,
          4.4,
        ]]),
        chat("chat-40", [["parley", 1170, 15300, 5], ["inspircd", 3350, 7280, 3]]),
      ],
    };
    const tables = fanoutTables(results);
    ok(
      tables.includes("| 10 | 0.82 / 7.27 ms | – | 0.60 / 3.00 ms | skipped | 8.18 / 18.10 ms |"),
      tables,
    );
    ok(tables.includes("| 10: CPU µs/delivery | 9.00 | – | 5.00 | skipped | 4.40 |"), tables);
    ok(tables.includes("| 40: peak RSS MiB | 70.0 |"), tables);
    deepEqual(fanoutTargets(results), [
      "- Chat 100×40 lines/s, p99 at or under InspIRCd's, 100% delivered: 15.30 ms vs 7.28 ms, 100.000% **missed**",
      "- Chat 100×10 lines/s, server CPU per delivery within 1.5× InspIRCd's: 9.00 µs vs 4.40 µs (2.05×) **missed**",
      "- Chat 100×10 lines/s, for information: the bare Deno loop costs 5.00 µs per delivery, Parley 1.80× that",
    ]);
    const markdown = benchmarksMarkdown(results, "");
    ok(markdown.includes("### Chat fan-out against the IRC servers"));
    ok(markdown.includes("`MaxPenaltyTime = 0`"));
    ok(markdown.includes('`commandrate="200000"`'));
    // Without go/node the fan-out scenarios compare with Parley, not Go.
    ok(scenarioTable(results.scenarios[0]).includes("vs parley"));
    equal(fanoutTables({ ...results, scenarios: [] }), "");
    const chart = fanoutChartSvg(results)!;
    ok(chart.startsWith("<svg") && chart.includes("18.10 ms (p50 8.18)"), chart);
    equal(fanoutChartSvg({ ...results, scenarios: [] }), undefined);
  },
});

Deno.test({
  name: "the idle table shows RSS per connection as left, after a full GC, and live heap bytes",
  permissions: "none",
  fn() {
    const table = scenarioTable({
      id: "idle-10k",
      title: "idle",
      headline: "bytes_per_conn",
      servers: [
        summarise("parley", [{
          connected: 10000,
          bytes_per_conn: 10752,
          bytes_per_conn_after_gc: 6144,
          live_bytes_per_conn: 4403,
          baseline_rss_kib: 70000,
          rss_kib: 175000,
        }]),
        summarise("go", [{ connected: 10000, bytes_per_conn: 7577 }]),
      ],
    });
    ok(table.includes("| RSS per connection | … after GC | live JS heap |"), table);
    ok(table.includes("| parley | 10000 | 10.5 KiB | 6.0 KiB | 4.3 KiB |"), table);
    ok(table.includes("| go | 10000 | 7.4 KiB | – | – |"), table);
  },
});

Deno.test({
  name: "the chat-cluster report shows Redis ops per line, compares with one process, scales",
  permissions: "none",
  fn() {
    const results = {
      date: "2026-11-23",
      scale: "full",
      machine: {},
      command: "deno task bench",
      scenarios: [{
        id: "chat-cluster",
        title: "Chat fan-out over 2 nodes + Redis",
        headline: "p99_us",
        servers: [
          summarise("parley", [{ p99_us: 4000, delivered_ratio: 1, sent: 8000 }]),
          summarise("parley×2", [{
            p99_us: 9200,
            delivered_ratio: 0.999,
            sent: 8000,
            redis_ops_per_line: 5.004,
            redis_ops_per_line_with_joins: 5.43,
          }]),
        ],
      }],
    };
    const table = scenarioTable(results.scenarios[0]);
    ok(table.includes("| Redis ops/line | … with joins, leaves | vs parley |"), table);
    ok(table.includes("| parley | 4.00 ms | 100.00% |"), table);
    ok(table.includes("| parley×2 | 9.20 ms | 99.90% |"), table);
    ok(table.includes("| 5.00 | 5.43 | 0.43× |"), table);
    deepEqual(targetLines(results), [
      "- Chat 100×40 lines/s over 2 nodes + Redis on one core, 100% delivered: 99.900% **missed**",
      "- Chat 100×40 lines/s over 2 nodes + Redis on one core, for information: p99 2.3× the single process (9.20 ms vs 4.00 ms); 5.00 Redis commands per line",
    ]);
    // No peers: not in the README's Parley-vs-Go table.
    ok(!headlineTable(results).includes("chat-cluster"));
    const markdown = benchmarksMarkdown(results, targetLines(results).join("\n"));
    ok(markdown.includes("(`chat-cluster`)"));
    ok(markdown.includes("not how it\n  scales"), "the one-core caveat");
    ok(markdown.includes("#### How it scales"));
    ok(markdown.includes("~100k pub/sub deliveries/s per Redis core"));
  },
});

Deno.test({
  name: "the WebSocket targets compare Parley with Node + ws and Go, and chat p99 with both peers",
  permissions: "none",
  fn() {
    const chat = (id: string, p99: [number, number, number], delivered = 1) => ({
      id,
      title: id,
      headline: "p99_us",
      servers: [
        summarise("parley", [{ p99_us: p99[0], delivered_ratio: delivered }]),
        summarise("go", [{ p99_us: p99[1], delivered_ratio: 1 }]),
        summarise("node", [{ p99_us: p99[2], delivered_ratio: 1 }]),
      ],
    });
    const results = {
      date: "2026-11-22",
      scale: "quick",
      machine: {},
      command: "deno task bench --quick",
      scenarios: [
        {
          id: "ws-echo-64",
          title: "WebSocket echo",
          headline: "ops_per_sec",
          servers: [
            summarise("parley", [{ ops_per_sec: 90, server_cpu_us_per_op: 11 }]),
            summarise("go", [{ ops_per_sec: 100, server_cpu_us_per_op: 12 }]),
            summarise("node", [], "npm install ws@8.18.3 failed: offline"),
          ],
        },
        chat("chat-ws-40", [2500, 3000, 9000]),
        chat("chat-mixed-40", [12_000, 3000, 9000], 0.995),
      ],
    };
    deepEqual(targetLines(results), [
      "- WebSocket echo 50×64 B, at least 1.0× Node + ws: no Node result **missed**",
      // Fewer messages a second than Go, though less CPU per message: missed.
      "- WebSocket echo 50×64 B, at least 1.0× Go (gorilla/websocket) in ops/s and CPU per message: 0.90×, CPU 11.00 vs 12.00 µs per message (0.92×) **missed**",
      "- WebSocket chat 100×40 lines/s, 100% delivered: 100.000% **met**",
      "- WebSocket chat 100×40 lines/s, p99 under 10 ms: 2.50 ms **met**",
      "- WebSocket chat 100×40 lines/s, p99 ahead of the Go and Node peers: 2.50 ms vs go 3.00 ms, node 9.00 ms **met**",
      "- Mixed chat 50 TCP + 50 WebSocket ×40 lines/s, 100% delivered: 99.500% **missed**",
      "- Mixed chat 50 TCP + 50 WebSocket ×40 lines/s, p99 under 10 ms: 12.00 ms **missed**",
      "- Mixed chat 50 TCP + 50 WebSocket ×40 lines/s, p99 ahead of the Go and Node peers: 12.00 ms vs go 3.00 ms, node 9.00 ms **missed**",
    ]);
    ok(headlineTable(results).includes("| ws-echo-64 | ops/s | 90 | 100 | – | – | 0.90× |"));
  },
});

const hasCargo = await new Deno.Command("cargo", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
})
  .output().then((out) => out.success, () => false);

/** Runs `deno task bench --smoke ID` and checks Parley's result in it. */
async function smoke(id: string): Promise<void> {
  const out = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", rootPath("bench/run.ts"), "--smoke", "--out", out, id],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const result = await within(child, "the smoke benchmark", 120_000);
    equal(result.code, 0, new TextDecoder().decode(result.stderr));
    const results = JSON.parse(await Deno.readTextFile(out));
    equal(results.scale, "smoke");
    equal(results.scenarios.length, 1);
    const [scenario] = results.scenarios;
    equal(scenario.id, id);
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
}

Deno.test({
  name: `deno task bench --smoke builds the load generator and writes a well-formed result${
    hasCargo ? "" : " (ignored: cargo is not installed)"
  }`,
  ignore: !hasCargo,
  fn: () => smoke("echo-64"),
});

/** Whether server.ts has a WebSocket listener (its --help lists --http-port). */
const hasWebSocket = await new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", rootPath("server.ts"), "--help"],
  stdout: "piped",
  stderr: "null",
  env: { NO_COLOR: "1" },
})
  .output().then(
    (out) => new TextDecoder().decode(out.stdout).includes("--http-port"),
    () => false,
  );

Deno.test({
  name: `deno task bench --smoke ws-echo-64 measures WebSocket echo${
    !hasCargo
      ? " (ignored: cargo is not installed)"
      : hasWebSocket
      ? ""
      : " (ignored: server.ts has no WebSocket support yet: --help lists no --http-port)"
  }`,
  ignore: !hasCargo || !hasWebSocket,
  fn: () => smoke("ws-echo-64"),
});

/** Runs `deno task bench --smoke IDS` and returns the results. */
async function smokeResults(ids: string[]) {
  const out = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", rootPath("bench/run.ts"), "--smoke", "--out", out, ...ids],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const result = await within(child, "the smoke benchmark", 180_000);
    equal(result.code, 0, new TextDecoder().decode(result.stderr));
    return JSON.parse(await Deno.readTextFile(out));
  } finally {
    await Deno.remove(out);
  }
}

Deno.test({
  name:
    `deno task bench --smoke chat-10 idle-1k: the fan-out servers (IRC daemons skipped when missing) and the GC probe${
      hasCargo ? "" : " (ignored: cargo is not installed)"
    }`,
  ignore: !hasCargo,
  async fn() {
    const results = await smokeResults(["chat-10", "idle-1k"]);
    const [chat, idle] = results.scenarios;
    equal(chat.id, "chat-10");
    type Server = {
      name: string;
      skipped?: string;
      runs: Record<string, unknown>[];
      median: Record<string, number>;
    };
    const byName = (scenario: { servers: Server[] }, name: string) =>
      scenario.servers.find((s) => s.name === name)!;
    for (const name of ["parley", "parley-ws", "deno-bare", "ngircd", "inspircd"]) {
      const server = byName(chat, name);
      ok(server, name);
      // A daemon that is not installed is skipped, with the reason; everything else ran.
      if (server.skipped !== undefined && ["ngircd", "inspircd"].includes(name)) {
        ok(/not available/.test(server.skipped), server.skipped);
        continue;
      }
      equal(server.skipped, undefined, `${name}: ${server.skipped}`);
      equal(server.runs.length, 1, name);
      const fields = ["ops", "p50_us", "p99_us", "delivered_ratio", "sent", "warmup_p99_us"];
      for (const field of fields) {
        equal(typeof server.median[field], "number", `${name} ${field}`);
      }
      ok(server.median.ops > 0, `${name}: nothing delivered`);
      // The warm-up's lines are delivered but not timed: fewer timed deliveries than expected ones.
      ok(server.median.ops < server.median.expected, `${name}: the warm-up was timed`);
      equal(server.runs[0].errors, 0, name);
    }
    equal(idle.id, "idle-1k");
    for (const name of ["parley", "deno-bare"]) {
      const server = byName(idle, name);
      equal(server.skipped, undefined, name);
      for (
        const field of [
          "bytes_per_conn",
          "bytes_per_conn_after_gc",
          "live_bytes_per_conn",
          "heap_bytes_per_conn",
        ]
      ) {
        equal(typeof server.median[field], "number", `${name} ${field}`);
      }
      ok(server.median.connected > 0, name);
    }
  },
});
