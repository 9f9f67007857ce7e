/**
 * What `deno task bench` measures: the servers (Parley and its peers), how
 * to build and start each, and the scenarios with their load-generator
 * arguments at full, quick and smoke scale.
 *
 * @module
 */

import { SERVER_V8_FLAGS } from "../scripts/compile.ts";
import { parseListening } from "../lib/cli/listening.ts";
import { chatPace, fanoutScenario, IDLE_DENO_SERVERS, seconds } from "./fanout.ts";

/** A server under test. */
export interface ServerSpec {
  /** `parley`, `go`, `rust`, `node`. */
  name: string;
  /**
   * The command; its first stdout line must say where it listens:
   * `listening on HOST:PORT` (TCP), or `listening on tcp=HOST:PORT
   * http=HOST:PORT` with either part optional (see {@linkcode listeningOn}).
   */
  command: (paths: BenchPaths) => string[];
  /** What must exist to run it (a built binary, a tool on PATH). */
  needs: (paths: BenchPaths) => string[];
  /** Environment for the command, added to the runner's. */
  env?: Record<string, string>;
  /**
   * For a server that cannot say where it listens (an IRC daemon): writes
   * its configuration and returns the command to run in place of
   * `command`, its address (the runner waits until it accepts), and what
   * to remove afterwards.
   */
  launch?: (paths: BenchPaths) => Promise<Launch>;
  /** The load generator's clients for it in the fan-out scenarios (default `tcp`). */
  clients?: "tcp" | "ws" | "irc";
  /** Its WebSocket path, where the scenario's other servers have none. */
  wsPath?: string;
  /**
   * A Deno server run with bench/peers/deno/gc_probe.ts: the runner passes
   * the load generator `--gc-dir` (the idle scenarios collect garbage).
   */
  gcProbe?: boolean;
}

/** What {@linkcode ServerSpec.launch} prepared. */
export interface Launch {
  command: string[];
  listening: Listening;
  cleanup: () => Promise<void>;
}

/** Where the built pieces are. */
export interface BenchPaths {
  root: string;
  deno: string;
  loadgen: string;
  /** Directory of compiled peers (Go and Rust binaries). */
  peers: string;
  node: string;
  /** npm `ws` for the Node WebSocket peers, installed at build time. */
  nodeWs: string;
  /** Why a needed path is missing (a failed build or install), by path. */
  unavailable: Record<string, string>;
  /** A directory for this bench run's scratch files (GC probe reports). */
  scratch?: string;
}

/**
 * Where a server listens: its TCP address, its HTTP (WebSocket) address,
 * and the Redis it uses (a cluster's `redis=redis://HOST:PORT`).
 */
export interface Listening {
  tcp?: string;
  http?: string;
  redis?: string;
}

/**
 * Reads a server's addresses from its first stdout line (see
 * `parseListening()` in lib/cli/listening.ts): `… listening on HOST:PORT`
 * (TCP only, the older form), or `… listening on tcp=HOST:PORT
 * http=HOST:PORT` (either may be missing), plus `redis=redis://HOST:PORT`
 * from a cluster (`scripts/cluster.ts`). A wildcard host becomes 127.0.0.1.
 * Undefined when the line says neither a TCP nor an HTTP address.
 */
export function listeningOn(line: string): Listening | undefined {
  const listening = parseListening(line);
  if (listening === undefined) return undefined;
  const local = (addr: string) => addr.replace(/^(0\.0\.0\.0|\[::\]):/, "127.0.0.1:");
  const { tcp, http, redis } = listening;
  return {
    ...(tcp !== undefined ? { tcp: local(tcp) } : {}),
    ...(http !== undefined ? { http: local(http) } : {}),
    ...(redis !== undefined ? { redis } : {}),
  };
}

/** Scale of a run. */
export type Scale = "full" | "quick" | "smoke";

/** One scenario. */
export interface ScenarioSpec {
  id: string;
  title: string;
  /** The load generator's scenario and arguments at a scale (for a server). */
  loadgen: (scale: Scale, server?: ServerSpec) => string[];
  servers: ServerSpec[];
  /**
   * The WebSocket path the load generator connects to, for scenarios with
   * WebSocket clients: the runner passes `--ws-url ws://HTTP_ADDR/PATH`
   * (and `--addr TCP_ADDR` whenever the server printed one).
   */
  wsPath?: string;
  /**
   * The load generator's binary, when it is not bench/loadgen (the TLS
   * scenarios: bench/tlsload, in Go; see {@linkcode tlsLoad}).
   * @default {paths.loadgen}
   */
  generator?: (paths: BenchPaths) => string;
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
  /**
   * The runner measures the server's CPU and peak RSS over all its
   * processes (a cluster: launcher, nodes, Redis) and the whole load
   * generator run, in place of the load generator's single-process figures.
   */
  wholeTree?: boolean;
}

const denoRun = (paths: BenchPaths, entry: string, args: string[]) => [
  paths.deno,
  "run",
  "--allow-net",
  "--allow-env",
  "--unstable-net",
  "--allow-run=sh", // as `deno task server` and the compiled binary have (ulimit)
  SERVER_V8_FLAGS, // as in the tasks and the compiled binaries
  `${paths.root}/${entry}`,
  ...args,
];

const tcpFlags = ["--host", "127.0.0.1", "--port", "0", "-q", "--max-per-ip", "0"];
const chatFlags = [...tcpFlags, "--max-clients", "20000", "--rate", "0", "--history", "0"];
/** Parley's TCP echo, as every echo scenario runs it. */
const echoFlags = ["--mode", "echo", ...tcpFlags, "--max-clients", "20000"];
/** TCP-only scenarios run Parley without its HTTP listener (on by default, on a fixed port). */
const noHttp = ["--no-http"];
/** WebSocket scenarios: the HTTP listener on a free port, printed as `http=HOST:PORT`. */
const anyHttpPort = ["--http-port", "0"];

/** Nodes in the `chat-cluster` scenario's cluster. */
export const CLUSTER_NODES = 2;
/** Masters of the Redis Cluster the `chat-cluster` scenarios also run on. */
export const REDIS_SHARDS = 3;

/** A Go or Rust peer built into `bench/target/peers/` (`go-echo`, `rust-udpecho`). */
function builtPeer(name: "go" | "rust", binary: string): ServerSpec {
  return {
    name,
    command: (p) => [`${p.peers}/${binary}`],
    needs: (p) => [`${p.peers}/${binary}`],
  };
}

/** A Node peer from `bench/peers/node/`; `ws` when it needs npm `ws`. */
function nodePeer(script: string, { ws = false } = {}): ServerSpec {
  return {
    name: "node",
    command: (p) => [p.node, `${p.root}/bench/peers/node/${script}`],
    needs: (p) => (ws ? [p.node, p.nodeWs] : [p.node]),
  };
}

/**
 * The TLS pieces built into `bench/target/peers/`: the Go TLS load
 * generator (bench/tlsload/tlsload.go: Rust's std has no cryptography, and
 * the Rust load generator uses no crates) and the throwaway certificate it
 * makes for both servers (`tlsload gencert`).
 */
export const tlsLoad = {
  binary: (p: Pick<BenchPaths, "peers">) => `${p.peers}/tlsload`,
  /** Where `tlsload gencert` writes `cert.pem` and `key.pem`. */
  dir: (p: Pick<BenchPaths, "peers">) => `${p.peers}/tls`,
  cert: (p: Pick<BenchPaths, "peers">) => `${p.peers}/tls/cert.pem`,
  key: (p: Pick<BenchPaths, "peers">) => `${p.peers}/tls/key.pem`,
};

/** What a TLS scenario's servers need: the load generator and the certificate. */
const tlsNeeds = (p: BenchPaths) => [tlsLoad.binary(p), tlsLoad.cert(p)];

const SERVERS = {
  parleyEcho: {
    name: "parley",
    command: (p) => denoRun(p, "server.ts", [...echoFlags, ...noHttp]),
    needs: (p) => [p.deno],
  },
  goEcho: builtPeer("go", "go-echo"),
  rustEcho: builtPeer("rust", "rust-echo"),
  nodeEcho: nodePeer("echo.mjs"),
  parleyUdp: {
    name: "parley",
    command: (p) =>
      // One load generator address sends 150k datagrams/s: the per-address
      // reply bounds (1000/s and 128 KiB/s by default) are for the internet,
      // not this.
      denoRun(p, "udp_echo.ts", [
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "-q",
        "--max-replies-per-ip",
        "0",
        "--max-reply-bytes-per-ip",
        "0",
      ]),
    needs: (p) => [p.deno],
  },
  goUdp: builtPeer("go", "go-udpecho"),
  rustUdp: builtPeer("rust", "rust-udpecho"),
  nodeUdp: nodePeer("udpecho.mjs"),
  parleyChat: {
    name: "parley",
    command: (p) => denoRun(p, "server.ts", [...chatFlags, ...noHttp]),
    needs: (p) => [p.deno],
  },
  parleyCluster: {
    // `scripts/cluster.ts N FLAGS`: a throwaway redis-server and N nodes
    // with FLAGS plus `--redis URL --reuse-port`, on the same TCP port.
    name: `parley×${CLUSTER_NODES}`,
    command: (p) => [
      p.deno,
      "run",
      "--allow-all",
      `${p.root}/scripts/cluster.ts`,
      String(CLUSTER_NODES),
      ...chatFlags,
      ...noHttp,
    ],
    needs: (p) => [p.deno, "redis-server"],
    // The nodes are started by the script without the servers' V8 flags: pass them on.
    env: { DENO_V8_FLAGS: SERVER_V8_FLAGS.replace(/^--v8-flags=/, "") },
  },
  // chat-40-store: history on (20 lines a room), kept in memory only, or also in the store.
  parleyChatHistory: {
    name: "parley",
    command: (p) =>
      denoRun(p, "server.ts", [...chatFlags, ...noHttp, "--history", "20", "--no-store"]),
    needs: (p) => [p.deno],
  },
  parleyChatStore: {
    name: "parley+store",
    // A fresh data directory each start: no history restored from the run before.
    command: (p) => {
      const dataDir = `${p.root}/bench/target/parley-data`;
      const [deno, run, ...rest] = denoRun(p, "server.ts", [
        ...chatFlags,
        ...noHttp,
        "--history",
        "20",
        "--data-dir",
        dataDir,
      ]);
      return [
        "sh",
        "-c",
        'rm -rf "$0" && exec "$@"',
        dataDir,
        deno,
        run,
        `--allow-read=${dataDir}`,
        `--allow-write=${dataDir}`,
        ...rest,
      ];
    },
    needs: (p) => [p.deno],
  },
  parleyShardedCluster: {
    // The same nodes on a throwaway Redis Cluster of REDIS_SHARDS masters.
    name: `parley×${CLUSTER_NODES} on ${REDIS_SHARDS} shards`,
    command: (p) => [
      p.deno,
      "run",
      "--allow-all",
      `${p.root}/scripts/cluster.ts`,
      String(CLUSTER_NODES),
      "--redis-shards",
      String(REDIS_SHARDS),
      ...chatFlags,
      ...noHttp,
    ],
    needs: (p) => [p.deno, "redis-server", "redis-cli"],
    env: { DENO_V8_FLAGS: SERVER_V8_FLAGS.replace(/^--v8-flags=/, "") },
  },
  goChat: builtPeer("go", "go-chat"),
  nodeChat: nodePeer("chat.mjs"),
  parleyWsEcho: {
    name: "parley",
    command: (p) => denoRun(p, "server.ts", [...echoFlags, ...anyHttpPort]),
    needs: (p) => [p.deno],
  },
  goWsEcho: builtPeer("go", "go-wsecho"),
  nodeWsEcho: nodePeer("wsecho.mjs", { ws: true }),
  parleyWsChat: {
    name: "parley",
    command: (p) => denoRun(p, "server.ts", [...chatFlags, ...anyHttpPort]),
    needs: (p) => [p.deno],
  },
  goWsChat: builtPeer("go", "go-wschat"),
  nodeWsChat: nodePeer("wschat.mjs", { ws: true }),
  parleyTlsEcho: {
    name: "parley",
    command: (p) =>
      // `--allow-read` for the certificate only, after `run`.
      denoRun(p, "server.ts", [
        ...echoFlags,
        ...noHttp,
        "--tls-cert",
        tlsLoad.cert(p),
        "--tls-key",
        tlsLoad.key(p),
      ]).toSpliced(2, 0, `--allow-read=${tlsLoad.dir(p)}`),
    needs: (p) => [p.deno, ...tlsNeeds(p)],
  },
  goTlsEcho: {
    name: "go",
    command: (p) => [`${p.peers}/go-tlsecho`, "-cert", tlsLoad.cert(p), "-key", tlsLoad.key(p)],
    needs: (p) => [`${p.peers}/go-tlsecho`, ...tlsNeeds(p)],
  },
} satisfies Record<string, ServerSpec>;

const echoServers = [SERVERS.parleyEcho, SERVERS.goEcho, SERVERS.rustEcho, SERVERS.nodeEcho];
const chatServers = [SERVERS.parleyChat, SERVERS.goChat, SERVERS.nodeChat];
/** Idle capacity: Parley and the bare Deno loop (both with the GC probe), Go, Node. */
const idleServers = [...IDLE_DENO_SERVERS, SERVERS.goChat, SERVERS.nodeChat];
const wsChatServers = [SERVERS.parleyWsChat, SERVERS.goWsChat, SERVERS.nodeWsChat];

/** The chat fan-out load: 100 clients in one room, `rate` lines/s each. */
const chatLoad = (rate: number) => (scale: Scale) => [
  "chat",
  "--clients",
  scale === "smoke" ? "5" : "100",
  ...chatPace(rate, scale),
];

/** Chat over WebSocket: `ws` clients, plus `tcp` TCP clients, in one room. */
function wsChatScenario(
  id: string,
  title: string,
  clients: { tcp: number; ws: number },
  rate: number,
): ScenarioSpec {
  const smoke = (n: number) => String(Math.min(n, 3));
  return {
    id,
    title,
    loadgen: (scale) => [
      "ws-chat",
      "--tcp-clients",
      scale === "smoke" ? smoke(clients.tcp) : String(clients.tcp),
      "--ws-clients",
      scale === "smoke" ? smoke(clients.ws) : String(clients.ws),
      ...chatPace(rate, scale),
    ],
    servers: wsChatServers,
    wsPath: "/ws",
    headline: "p99_us",
    // A p99 over 2 s swings with one stall: the median of 5 interleaved runs.
    repetitions: 5,
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
  {
    id: "ws-echo-64",
    title: "WebSocket echo ping-pong, 50 connections, 64 B text messages",
    loadgen: (
      scale,
    ) => ["ws-echo", "--conns", "50", "--size", "64", "--duration", seconds(scale, 1.5)],
    servers: [SERVERS.parleyWsEcho, SERVERS.goWsEcho, SERVERS.nodeWsEcho],
    wsPath: "/",
    headline: "ops_per_sec",
    // Echo rates swing ±10% between runs on this machine: the median of 5.
    repetitions: 5,
  },
  {
    id: "tls-echo-64",
    title: "TLS echo ping-pong over the chat port, 50 connections, 64 B",
    loadgen: (
      scale,
    ) => ["tls-echo", "--conns", "50", "--size", "64", "--duration", seconds(scale, 1.5)],
    generator: tlsLoad.binary,
    servers: [SERVERS.parleyTlsEcho, SERVERS.goTlsEcho],
    headline: "ops_per_sec",
    repetitions: 3,
  },
  {
    id: "tls-handshake",
    title: "TLS handshakes: new connections per second, 8 at a time, full handshakes",
    loadgen: (scale) => ["tls-handshake", "--conns", "8", "--duration", seconds(scale, 1.5)],
    generator: tlsLoad.binary,
    servers: [SERVERS.parleyTlsEcho, SERVERS.goTlsEcho],
    headline: "ops_per_sec",
    repetitions: 3,
  },
  fanoutScenario(10),
  fanoutScenario(40),
  fanoutScenario(80),
  {
    id: "chat-40-store",
    title: "Chat fan-out with 20 lines of history a room, in memory only and in the store",
    loadgen: chatLoad(40),
    servers: [SERVERS.parleyChatHistory, SERVERS.parleyChatStore],
    headline: "p99_us",
    repetitions: 3,
  },
  {
    id: "chat-cluster",
    title:
      `Chat fan-out over ${CLUSTER_NODES} nodes + Redis: 100 clients in one room, 40 lines/s each`,
    loadgen: chatLoad(40),
    servers: [SERVERS.parleyChat, SERVERS.parleyCluster, SERVERS.parleyShardedCluster],
    headline: "p99_us",
    repetitions: 3,
    wholeTree: true,
  },
  {
    id: "chat-cluster-rooms",
    title:
      `Chat over ${CLUSTER_NODES} nodes, one Redis or ${REDIS_SHARDS} shards: 100 clients in 12 rooms, 40 lines/s each`,
    loadgen: (scale) => [...chatLoad(40)(scale), "--rooms", scale === "smoke" ? "2" : "12"],
    servers: [SERVERS.parleyCluster, SERVERS.parleyShardedCluster],
    headline: "p99_us",
    repetitions: 3,
    wholeTree: true,
  },
  wsChatScenario(
    "chat-ws-40",
    "WebSocket chat fan-out: 100 clients in one room, 40 lines/s each",
    { tcp: 0, ws: 100 },
    40,
  ),
  wsChatScenario(
    "chat-mixed-40",
    "Mixed chat fan-out: 50 TCP + 50 WebSocket clients in one room, 40 lines/s each",
    { tcp: 50, ws: 50 },
    40,
  ),
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
    servers: idleServers,
    headline: "bytes_per_conn",
    repetitions: 1,
  },
  {
    id: "idle-10k",
    title: "Idle capacity: 10,000 connected chat clients",
    loadgen: (scale) => ["idle", "--clients", scale === "smoke" ? "50" : "10000", "--settle", "2"],
    servers: idleServers,
    headline: "bytes_per_conn",
    repetitions: 1,
  },
];

/** Scenarios a quick run skips (too long for a minute). */
export const SKIPPED_WHEN_QUICK = new Set(["idle-10k", "chat-10", "echo-4k", "bulk"]);
