/**
 * `deno task cluster N [server flags]`: a local cluster to try rooms
 * across processes: a throwaway `redis-server` (no persistence) and N
 * `server.ts` processes sharing it, all on the same TCP and HTTP ports
 * (`--reuse-port`: the kernel spreads the connections). Ctrl-C stops
 * everything.
 *
 * Prints one line when all are up, in the servers' machine-readable form:
 * `parley cluster of N listening on tcp=HOST:PORT http=HOST:PORT redis=redis://...`.
 *
 * `--redis-shards M` (first among the flags): a throwaway Redis Cluster of
 * M masters (no replicas, `redis-cli --cluster create`) instead of one
 * Redis; `redis=` then lists the M URLs, comma-separated.
 *
 * @module
 */

import {
  firstLineThenDrain,
  formatListening,
  type ListeningLine,
  parseListening,
  splitAddr,
} from "../lib/cli/listening.ts";
import { programTask } from "./tasks.ts";

const root = new URL("../", import.meta.url).pathname;
const serverTask = programTask("server");

/** Arguments of a throwaway `redis-server` on 127.0.0.1:`port`: no persistence. */
export function throwawayRedisArgs(port: number): string[] {
  return ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
}

/** A port that was free a moment ago. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** A port free now whose cluster bus port (+10000) is free too. */
export function freeClusterPort(): number {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    const opened: Deno.TcpListener[] = [];
    try {
      opened.push(Deno.listen({ hostname: "127.0.0.1", port }));
      opened.push(Deno.listen({ hostname: "127.0.0.1", port: port + 10_000 }));
      return port;
    } catch {
      /* taken: try another */
    } finally {
      for (const listener of opened) listener.close();
    }
  }
  throw new Error("no free port pair for a Redis Cluster node");
}

async function waitForRedis(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(new TextEncoder().encode("PING\r\n"));
      const buffer = new Uint8Array(16);
      const n = await conn.read(buffer);
      conn.close();
      if (n !== null && new TextDecoder().decode(buffer.subarray(0, n)).startsWith("+PONG")) return;
    } catch { /* not yet */ }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`redis-server did not answer on port ${port}`);
}

/** Makes the Redis servers on `ports` one cluster of masters and waits until it serves. */
async function createRedisCluster(ports: number[]): Promise<boolean> {
  const created = await new Deno.Command("redis-cli", {
    args: [
      "--cluster",
      "create",
      ...ports.map((port) => `127.0.0.1:${port}`),
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ],
    stdout: "null",
    stderr: "inherit",
  }).output().catch(() => null);
  if (created === null || !created.success) {
    console.error("cluster: redis-cli --cluster create failed");
    return false;
  }
  for (const port of ports) {
    for (let i = 0;; i++) {
      const info = await new Deno.Command("redis-cli", {
        args: ["-p", String(port), "CLUSTER", "INFO"],
        stdout: "piped",
        stderr: "null",
      }).output();
      if (new TextDecoder().decode(info.stdout).includes("cluster_state:ok")) break;
      if (i === 200) return false;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  return true;
}

async function main(args: string[]): Promise<number> {
  const count = Number(args[0]);
  if (!Number.isInteger(count) || count < 1 || count > 64) {
    console.error("cluster: error: the first argument is the number of servers (1 to 64)");
    console.error("Usage: deno task cluster N [--redis-shards M] [server.ts flags]");
    return 2;
  }
  let serverFlags = args.slice(1);
  let shards = 0;
  if (serverFlags[0] === "--redis-shards") {
    shards = Number(serverFlags[1]);
    serverFlags = serverFlags.slice(2);
    if (!Number.isInteger(shards) || shards < 3 || shards > 16) {
      console.error("cluster: error: --redis-shards takes 3 to 16 (Redis Cluster needs 3 masters)");
      return 2;
    }
  }
  const redisPorts = shards === 0
    ? [freePort()]
    : Array.from({ length: shards }, () => freeClusterPort());
  const redises: Deno.ChildProcess[] = [];
  const dir = shards > 0 ? await Deno.makeTempDir({ prefix: "parley-cluster-" }) : "";
  try {
    for (const port of redisPorts) {
      const clusterArgs = shards === 0 ? [] : [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        `${dir}/nodes-${port}.conf`,
        "--dir",
        dir,
      ];
      redises.push(
        new Deno.Command("redis-server", {
          args: [...throwawayRedisArgs(port), ...clusterArgs],
          stdout: "null",
          stderr: "inherit",
        }).spawn(),
      );
    }
  } catch (error) {
    console.error(
      `cluster: cannot start redis-server: ${error instanceof Error ? error.message : error}`,
    );
    for (const child of redises) child.kill("SIGTERM");
    return 1;
  }
  for (const port of redisPorts) await waitForRedis(port);
  if (shards > 0 && !(await createRedisCluster(redisPorts))) {
    for (const child of redises) child.kill("SIGTERM");
    return 1;
  }
  const url = redisPorts.map((port) => `redis://127.0.0.1:${port}`).join(",");
  const servers: Deno.ChildProcess[] = [];
  const stop = () => {
    for (const child of [...servers, ...redises]) {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
    }
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, stop);
  // The first server picks the ports (0 stays 0 only for it); the others reuse them.
  let first: ListeningLine | undefined;
  for (let i = 0; i < count; i++) {
    const ports = first === undefined ? [] : [
      ...(first.tcp === undefined ? [] : ["--port", String(splitAddr(first.tcp).port)]),
      ...(first.http === undefined ? [] : ["--http-port", String(splitAddr(first.http).port)]),
    ];
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...serverTask.flags, // the permissions of deno task server, no more
        `${root}${serverTask.entry}`,
        ...serverFlags,
        ...ports,
        "--redis",
        url,
        "--reuse-port",
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    servers.push(child);
    // The rest of its output is drained so that it never blocks on a full pipe.
    const listening = parseListening((await firstLineThenDrain(child.stdout)).line ?? "");
    if (listening === undefined) {
      console.error(`cluster: server ${i + 1} did not start`);
      stop();
      return 1;
    }
    first ??= listening;
  }
  console.log(
    `parley cluster of ${count} listening on ${formatListening({ ...first!, redis: url })}`,
  );
  const codes = await Promise.all(servers.map(async (child) => (await child.status).code));
  for (const redis of redises) {
    try {
      redis.kill("SIGTERM");
    } catch { /* gone */ }
    await redis.status;
  }
  if (dir !== "") await Deno.remove(dir, { recursive: true }).catch(() => {});
  return codes.every((code) => code === 0) ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
