/**
 * What `deno task bench` measures: the servers (Parley and its peers), how
 * to build and start each, and the scenarios with their load-generator
 * arguments at full, quick and smoke scale.
 *
 * @module
 */

import { SERVER_V8_FLAGS } from "../scripts/compile.ts";

/** A server under test. */
export interface ServerSpec {
  /** `parley`, `go`, `rust`, `node`. */
  name: string;
  /** The command; it must print `listening on HOST:PORT` first on stdout. */
  command: (paths: BenchPaths) => string[];
  /** What must exist to run it (a built binary, a tool on PATH). */
  needs: (paths: BenchPaths) => string[];
}

/** Where the built pieces are. */
export interface BenchPaths {
  root: string;
  deno: string;
  loadgen: string;
  /** Directory of compiled peers (Go and Rust binaries). */
  peers: string;
  node: string;
}

/** Scale of a run. */
export type Scale = "full" | "quick" | "smoke";

/** One scenario. */
export interface ScenarioSpec {
  id: string;
  title: string;
  /** The load generator's scenario and arguments at a scale. */
  loadgen: (scale: Scale) => string[];
  servers: ServerSpec[];
  /** The metric that ranks servers in the tables and chart. */
  headline:
    | "ops_per_sec"
    | "mib_per_sec"
    | "delivered_ratio"
    | "p99_us"
    | "bytes_per_conn"
    | "rss_growth_mib";
  /** Repetitions at full scale (quick and smoke run once). */
  repetitions: number;
}

const denoRun = (paths: BenchPaths, entry: string, args: string[]) => [
  paths.deno,
  "run",
  "--allow-net",
  "--allow-env",
  "--unstable-net",
  SERVER_V8_FLAGS, // as in the tasks and the compiled binaries
  `${paths.root}/${entry}`,
  ...args,
];

const tcpFlags = ["--host", "127.0.0.1", "--port", "0", "-q", "--max-per-ip", "0"];

const SERVERS = {
  parleyEcho: {
    name: "parley",
    command: (p) =>
      denoRun(p, "server.ts", ["--mode", "echo", ...tcpFlags, "--max-clients", "20000"]),
    needs: (p) => [p.deno],
  },
  goEcho: {
    name: "go",
    command: (p) => [`${p.peers}/go-echo`],
    needs: (p) => [`${p.peers}/go-echo`],
  },
  rustEcho: {
    name: "rust",
    command: (p) => [`${p.peers}/rust-echo`],
    needs: (p) => [`${p.peers}/rust-echo`],
  },
  nodeEcho: {
    name: "node",
    command: (p) => [p.node, `${p.root}/bench/peers/node/echo.mjs`],
    needs: (p) => [p.node],
  },
  parleyUdp: {
    name: "parley",
    command: (p) =>
      denoRun(p, "udp_echo.ts", ["serve", "--host", "127.0.0.1", "--port", "0", "-q"]),
    needs: (p) => [p.deno],
  },
  goUdp: {
    name: "go",
    command: (p) => [`${p.peers}/go-udpecho`],
    needs: (p) => [`${p.peers}/go-udpecho`],
  },
  rustUdp: {
    name: "rust",
    command: (p) => [`${p.peers}/rust-udpecho`],
    needs: (p) => [`${p.peers}/rust-udpecho`],
  },
  nodeUdp: {
    name: "node",
    command: (p) => [p.node, `${p.root}/bench/peers/node/udpecho.mjs`],
    needs: (p) => [p.node],
  },
  parleyChat: {
    name: "parley",
    command: (p) =>
      denoRun(p, "server.ts", [
        ...tcpFlags,
        "--max-clients",
        "20000",
        "--rate",
        "0",
        "--history",
        "0",
      ]),
    needs: (p) => [p.deno],
  },
  goChat: {
    name: "go",
    command: (p) => [`${p.peers}/go-chat`],
    needs: (p) => [`${p.peers}/go-chat`],
  },
  nodeChat: {
    name: "node",
    command: (p) => [p.node, `${p.root}/bench/peers/node/chat.mjs`],
    needs: (p) => [p.node],
  },
} satisfies Record<string, ServerSpec>;

const echoServers = [SERVERS.parleyEcho, SERVERS.goEcho, SERVERS.rustEcho, SERVERS.nodeEcho];
const chatServers = [SERVERS.parleyChat, SERVERS.goChat, SERVERS.nodeChat];

/** Seconds of measurement (after warm-up) at each scale. */
const seconds = (scale: Scale, full: number) =>
  String(scale === "full" ? full : scale === "quick" ? Math.min(full, 1) : 0.3);

function chatScenario(rate: number): ScenarioSpec {
  return {
    id: `chat-${rate}`,
    title: `Chat fan-out: 100 clients in one room, ${rate} lines/s each`,
    loadgen: (scale) => [
      "chat",
      "--clients",
      scale === "smoke" ? "5" : "100",
      "--rate",
      String(rate),
      "--duration",
      seconds(scale, 2),
      "--drain",
      "3",
    ],
    servers: chatServers,
    headline: "p99_us",
    repetitions: 1,
  };
}

/** Every scenario, in the order they run. */
export const SCENARIOS: ScenarioSpec[] = [
  {
    id: "echo-64",
    title: "TCP echo ping-pong, 50 connections, 64 B",
    loadgen: (
      scale,
    ) => ["tcp-echo", "--conns", "50", "--size", "64", "--duration", seconds(scale, 1.5)],
    servers: echoServers,
    headline: "ops_per_sec",
    repetitions: 3,
  },
  {
    id: "echo-4k",
    title: "TCP echo ping-pong, 50 connections, 4 KiB",
    loadgen: (
      scale,
    ) => ["tcp-echo", "--conns", "50", "--size", "4096", "--duration", seconds(scale, 1.5)],
    servers: echoServers,
    headline: "ops_per_sec",
    repetitions: 3,
  },
  {
    id: "bulk",
    title: "TCP echo bulk throughput, 1 connection",
    loadgen: (scale) => ["tcp-bulk", "--duration", seconds(scale, 1.5)],
    servers: echoServers,
    headline: "mib_per_sec",
    repetitions: 3,
  },
  {
    id: "udp-64",
    title: "UDP echo ping-pong, 50 sockets, 64 B",
    loadgen: (
      scale,
    ) => ["udp-echo", "--sockets", "50", "--size", "64", "--duration", seconds(scale, 1.5)],
    servers: [SERVERS.parleyUdp, SERVERS.goUdp, SERVERS.rustUdp, SERVERS.nodeUdp],
    headline: "ops_per_sec",
    repetitions: 3,
  },
  chatScenario(10),
  chatScenario(40),
  chatScenario(80),
  {
    id: "slow-reader",
    title: "Slow reader: 50 clients at 40 lines/s plus one that never reads",
    loadgen: (scale) => [
      "chat",
      "--clients",
      scale === "smoke" ? "5" : "50",
      "--rate",
      "40",
      "--slow",
      "1",
      "--duration",
      scale === "full" ? "30" : scale === "quick" ? "5" : "0.5",
      "--sample-ms",
      "1000",
      "--drain",
      "3",
    ],
    servers: chatServers,
    headline: "delivered_ratio",
    repetitions: 1,
  },
  {
    id: "idle-1k",
    title: "Idle capacity: 1,000 connected chat clients",
    loadgen: (scale) => ["idle", "--clients", scale === "smoke" ? "50" : "1000"],
    servers: chatServers,
    headline: "bytes_per_conn",
    repetitions: 1,
  },
  {
    id: "idle-10k",
    title: "Idle capacity: 10,000 connected chat clients",
    loadgen: (scale) => ["idle", "--clients", scale === "smoke" ? "50" : "10000", "--settle", "2"],
    servers: chatServers,
    headline: "bytes_per_conn",
    repetitions: 1,
  },
];

/** Scenarios a quick run skips (too long for a minute). */
export const SKIPPED_WHEN_QUICK = new Set(["idle-10k", "chat-10", "echo-4k", "bulk"]);
