/**
 * The chat fan-out scenarios (`chat-10`, `chat-40`, `chat-80`) and what
 * they run: Parley over TCP and over WebSocket, the servers people deploy
 * (ngIRCd and InspIRCd, from the system's packages, each with its own
 * configuration from `bench/peers/irc/` in a temporary directory), and a
 * bare Deno broadcaster (`bench/peers/deno/bare_chat.ts`, the runtime's
 * floor). One load generator loop for all (`ws-chat`: one epoll thread,
 * TCP, IRC or WebSocket clients). Also the Deno servers of the idle
 * scenarios, run with the GC probe (`bench/peers/deno/gc_probe.ts`).
 *
 * @module
 */

import { SERVER_V8_FLAGS } from "../scripts/compile.ts";
import type { BenchPaths, Scale, ScenarioSpec, ServerSpec } from "./scenarios.ts";

/**
 * Parley's flags in the fan-out scenarios: its limits on, set so that
 * nothing throttles 100 clients on one address at up to 80 lines/s each
 * (a client may send 200 lines/s, the address 20,000), and no history.
 */
export const PARLEY_FANOUT_FLAGS = [
  "--host",
  "127.0.0.1",
  "--port",
  "0",
  "-q",
  "--max-clients",
  "20000",
  "--rate",
  "200",
  "--burst",
  "400",
  "--ip-rate",
  "20000",
  "--ip-burst",
  "40000",
  "--max-per-ip",
  "15000",
  "--history",
  "0",
];

/** `deno run` of a Deno server as the bench runs them; `probe`: with the GC probe. */
export function denoServer(
  paths: BenchPaths,
  entry: string,
  args: string[],
  { probe = false, net = "--allow-net" } = {},
): string[] {
  const scratch = paths.scratch ?? "/tmp";
  return [
    paths.deno,
    "run",
    net,
    "--allow-env",
    "--unstable-net",
    "--allow-run=sh", // as `deno task server` and the compiled binary have (ulimit)
    ...(probe
      ? [
        `--allow-read=${scratch}`,
        `--allow-write=${scratch}`,
        `--preload=${paths.root}/bench/peers/deno/gc_probe.ts`,
        `${SERVER_V8_FLAGS},--expose-gc`,
      ]
      : [SERVER_V8_FLAGS]), // as in the tasks and the compiled binaries
    `${paths.root}/${entry}`,
    ...args,
  ];
}

/** Where a system daemon is: `/usr/sbin/NAME` (Debian) or `/usr/local/sbin/NAME`, else NAME on PATH. */
export function sbin(name: string): string {
  for (const dir of ["/usr/sbin", "/usr/local/sbin"]) {
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
    } catch { /* not there, or not allowed to look */ }
  }
  return name;
}

/** A free loopback port (the IRC daemons cannot listen on port 0 and say which). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** `template` with `@DIR@` and `@PORT@` filled in. */
export function fillConfig(template: string, dir: string, port: number): string {
  return template.replaceAll("@DIR@", dir).replaceAll("@PORT@", String(port));
}

/**
 * An IRC daemon run in the foreground on its own configuration: the
 * template `bench/peers/irc/CONFIG` filled in, in a temporary directory
 * removed after the run, on a free port.
 */
function ircDaemon(
  name: string,
  binary: string,
  config: string,
  args: (file: string) => string[],
): ServerSpec {
  return {
    name,
    clients: "irc",
    command: () => [sbin(binary)],
    needs: () => [sbin(binary)],
    async launch(paths) {
      const template = await Deno.readTextFile(`${paths.root}/bench/peers/irc/${config}`);
      const dir = await Deno.makeTempDir({ prefix: `parley-bench-${name}-` });
      const port = freePort();
      const file = `${dir}/${config}`;
      await Deno.writeTextFile(file, fillConfig(template, dir, port));
      await Deno.writeTextFile(`${dir}/motd.txt`, "Parley benchmark\n");
      return {
        command: [sbin(binary), ...args(file)],
        listening: { tcp: `127.0.0.1:${port}` },
        cleanup: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
      };
    },
  };
}

/** Runs as root only when asked to (`--runasroot`); the bench may run as root in a container. */
function isRoot(): boolean {
  try {
    return Deno.uid() === 0;
  } catch {
    return false;
  }
}

/** The servers of the fan-out scenarios, in their table order. */
export const FANOUT_SERVERS: ServerSpec[] = [
  {
    name: "parley",
    command: (p) => denoServer(p, "server.ts", [...PARLEY_FANOUT_FLAGS, "--no-http"]),
    needs: (p) => [p.deno],
  },
  {
    name: "parley-ws",
    clients: "ws",
    wsPath: "/ws",
    command: (p) => denoServer(p, "server.ts", [...PARLEY_FANOUT_FLAGS, "--http-port", "0"]),
    needs: (p) => [p.deno],
  },
  {
    name: "deno-bare",
    command: (p) => denoServer(p, "bench/peers/deno/bare_chat.ts", []),
    needs: (p) => [p.deno],
  },
  ircDaemon("ngircd", "ngircd", "ngircd.conf", (file) => ["-n", "-f", file]),
  ircDaemon(
    "inspircd",
    "inspircd",
    "inspircd.conf",
    (file) => ["--config", file, "--nofork", "--nopid", ...(isRoot() ? ["--runasroot"] : [])],
  ),
];

/** Seconds of measurement (after warm-up) at each scale. */
export const seconds = (scale: Scale, full: number): string =>
  String(scale === "full" ? full : scale === "quick" ? Math.min(full, 1) : 0.3);

/** Every chat load's pace: `rate` lines/s per client for 2 s (at full scale), then 3 s to drain. */
export const chatPace = (rate: number, scale: Scale): string[] => [
  "--rate",
  String(rate),
  "--duration",
  seconds(scale, 2),
  "--drain",
  "3",
];

/**
 * `chat-RATE`: 100 clients in one room (`#room` on IRC), RATE lines/s
 * each, 2 s of sending; every server through the same `ws-chat` loop, its
 * clients of the kind it speaks.
 */
export function fanoutScenario(rate: number): ScenarioSpec {
  return {
    id: `chat-${rate}`,
    title: `Chat fan-out: 100 clients in one room, ${rate} lines/s each`,
    loadgen: (scale, server) => {
      const kind = server?.clients ?? "tcp";
      const count = (k: string) => kind === k ? (scale === "smoke" ? "5" : "100") : "0";
      return [
        "ws-chat",
        "--tcp-clients",
        count("tcp"),
        "--irc-clients",
        count("irc"),
        "--ws-clients",
        count("ws"),
        ...chatPace(rate, scale),
      ];
    },
    servers: FANOUT_SERVERS,
    headline: "p99_us",
    repetitions: 3,
  };
}

/** The chat flags of the idle scenarios (as `chat-cluster` and `slow-reader` run Parley). */
const IDLE_FLAGS = [
  "--host",
  "127.0.0.1",
  "--port",
  "0",
  "-q",
  "--max-per-ip",
  "0",
  "--max-clients",
  "20000",
  "--rate",
  "0",
  "--history",
  "0",
  "--no-http",
];

/** The Deno servers of the idle scenarios, with the GC probe: Parley and the bare loop. */
export const IDLE_DENO_SERVERS: ServerSpec[] = [
  {
    name: "parley",
    gcProbe: true,
    command: (p) => denoServer(p, "server.ts", IDLE_FLAGS, { probe: true }),
    needs: (p) => [p.deno],
  },
  {
    name: "deno-bare",
    gcProbe: true,
    command: (p) => denoServer(p, "bench/peers/deno/bare_chat.ts", [], { probe: true }),
    needs: (p) => [p.deno],
  },
];
