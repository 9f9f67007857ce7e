/**
 * Test helpers for rooms across processes: a real `redis-server` on a free
 * loopback port, started and stopped by the test, and chat nodes that
 * share it.
 *
 * @module
 */

import { RedisDirectory } from "../lib/cluster/redis_directory.ts";
import { type ChatServer, serveChat, type ServeChatOptions } from "../lib/server/serve_chat.ts";
import { within } from "./helpers.ts";
import { type ServerProcess, startServer } from "./process_helpers.ts";
import { freeClusterPort, throwawayRedisArgs } from "../scripts/cluster.ts";

/**
 * Why the Redis tests cannot run here, or null when they can. (`Deno.Command`
 * throws at once, not later, when the program is missing.)
 */
export const redisMissing: string | null = (() => {
  try {
    const { success } = new Deno.Command("redis-server", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return success ? null : "redis-server --version failed";
  } catch {
    return "redis-server is not installed";
  }
})();

/** A port that was free a moment ago (Redis cannot be told to pick one). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Ports tried before {@linkcode RedisProcess.start} gives up. */
const START_ATTEMPTS = 5;

/** A redis-server for one test. */
export class RedisProcess implements AsyncDisposable {
  readonly port: number;
  #child: Deno.ChildProcess | null = null;

  private constructor(port: number) {
    this.port = port;
  }

  /**
   * Starts an empty, non-persistent redis-server and waits until it
   * answers. The port is chosen free, but another process may take it
   * before Redis binds it: then Redis exits, or another server answers,
   * and another port is tried.
   */
  static async start(): Promise<RedisProcess> {
    for (let attempt = 1;; attempt++) {
      const redis = new RedisProcess(freePort());
      if (await redis.#spawn()) return redis;
      if (attempt === START_ATTEMPTS) {
        throw new Error(`redis-server did not start on any of ${START_ATTEMPTS} ports`);
      }
    }
  }

  /** `redis://127.0.0.1:PORT`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Runs one command with a fresh connection; returns the raw reply. */
  command(...args: string[]): Promise<string> {
    return this.transaction([args], /^[+:\-$*]/);
  }

  /**
   * Sends `commands` in one write on a fresh connection and reads until the
   * raw replies match `done`; returns them.
   */
  async transaction(commands: string[][], done: RegExp): Promise<string> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
    try {
      const request = commands.map((args) =>
        `*${args.length}\r\n` +
        args.map((arg) => `$${new TextEncoder().encode(arg).length}\r\n${arg}\r\n`).join("")
      ).join("");
      await conn.write(new TextEncoder().encode(request));
      const buffer = new Uint8Array(64 * 1024);
      let reply = "";
      while (!done.test(reply)) {
        const n = await within(conn.read(buffer), "Redis to answer");
        if (n === null) break;
        reply += new TextDecoder().decode(buffer.subarray(0, n));
      }
      return reply;
    } finally {
      conn.close();
    }
  }

  /** `kill -9`, as a crash would. */
  async kill(): Promise<void> {
    try {
      this.#child?.kill("SIGKILL");
    } catch { /* it has exited already */ }
    await this.#child?.status;
    this.#child = null;
  }

  /** Starts it again on the same port, empty. */
  async restart(): Promise<void> {
    if (!(await this.#spawn())) throw new Error(`port ${this.port} was taken meanwhile`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill();
  }

  /**
   * Spawns redis-server on this port; true once it answers as the process
   * spawned (its pid in `INFO server`), false when it exited first (the
   * port was taken) or another process answers there.
   */
  async #spawn(): Promise<boolean> {
    const child = new Deno.Command("redis-server", {
      args: [...throwawayRedisArgs(this.port), "--protected-mode", "no"],
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#child = child;
    let exited = false;
    const status = child.status.then(() => (exited = true));
    const ours = await within(
      (async () => {
        while (!exited) {
          try {
            const info = await this.command("INFO", "server");
            const pid = /process_id:(\d+)/.exec(info)?.[1];
            if (pid !== undefined) return Number(pid) === child.pid;
          } catch { /* not yet listening */ }
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return false;
      })(),
      "redis-server to start",
    );
    if (!ours) {
      await this.kill();
      await status;
    }
    return ours;
  }
}

/** A chat node on the shared Redis, with TCP and HTTP on free ports. */
export async function startNode(
  redis: { url: string },
  options: ServeChatOptions = {},
  cluster = "test",
): Promise<ChatServer> {
  const directory = await RedisDirectory.connect({ url: redis.url, cluster });
  const server = serveChat({
    hostname: "127.0.0.1",
    port: 0,
    httpPort: 0,
    rate: 0,
    maxPerIp: 0,
    ...options,
    directory,
  });
  await server.ready;
  return server;
}

/** A `server.ts` process on the shared Redis, killed with `kill -9` at will. */
export async function startNodeProcess(
  redis: RedisProcess,
  args: string[] = [],
): Promise<ServerProcess> {
  return await startServer("server.ts", [...nodeArgs(redis.url, "test"), ...args]);
}

/** The flags of a test's `server.ts` node on Redis `url` (seeds too), in cluster `cluster`. */
export function nodeArgs(url: string, cluster: string): string[] {
  return [
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--rate",
    "0",
    "--max-per-ip",
    "0",
    "--redis",
    url,
    "--cluster",
    cluster,
  ];
}

/** What {@linkcode clusterTest} gives its test: a fresh Redis and nodes on it. */
export interface ClusterTestContext {
  redis: RedisProcess;
  nodes: ChatServer[];
}

/**
 * A test against a real redis-server and chat nodes on it (`nodes` of
 * them, or one per options object), all stopped afterwards; ignored, with
 * the reason in its name, where redis-server is missing.
 */
export function clusterTest(
  name: string,
  nodes: number | ServeChatOptions[],
  fn: (context: ClusterTestContext) => Promise<void>,
): void {
  Deno.test({
    name: redisMissing === null
      ? `cluster: ${name}`
      : `cluster: ${name} (ignored: ${redisMissing})`,
    ignore: redisMissing !== null,
    async fn() {
      await using redis = await RedisProcess.start();
      const options = typeof nodes === "number" ? Array.from({ length: nodes }, () => ({})) : nodes;
      const started: ChatServer[] = [];
      try {
        for (const each of options) started.push(await startNode(redis, each));
        await fn({ redis, nodes: started });
      } finally {
        await Promise.all(started.map((node) => node.shutdown()));
      }
    },
  });
}

/** Sends one command to the Redis on `port` (fresh connection); the raw reply. */
export async function rawCommand(port: number, ...args: string[]): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const request = `*${args.length}\r\n` +
      args.map((arg) => `$${new TextEncoder().encode(arg).length}\r\n${arg}\r\n`).join("");
    await conn.write(new TextEncoder().encode(request));
    const buffer = new Uint8Array(64 * 1024);
    let reply = "";
    // A bulk reply is whole once its announced length has come.
    while (true) {
      const n = await within(conn.read(buffer), "Redis to answer");
      if (n === null) break;
      reply += new TextDecoder().decode(buffer.subarray(0, n));
      const bulk = /^\$(\d+)\r\n/.exec(reply);
      if (
        bulk === null
          ? reply.endsWith("\r\n")
          : reply.length >= bulk[0].length + Number(bulk[1]) + 2
      ) {
        break;
      }
    }
    return reply;
  } finally {
    conn.close();
  }
}

/** Why Redis Cluster tests cannot run here, or null when they can. */
export const redisClusterMissing: string | null = redisMissing ?? (() => {
  try {
    const { success } = new Deno.Command("redis-cli", { args: ["--version"], stdout: "null" })
      .outputSync();
    return success ? null : "redis-cli --version failed";
  } catch {
    return "redis-cli is not installed";
  }
})();

/**
 * A Redis Cluster on loopback for one test file: 3 masters and 3 replicas
 * (`redis-cli --cluster create --cluster-replicas 1`), a short
 * `cluster-node-timeout` (failover within about a second), in a temporary
 * directory; all stopped and removed on dispose.
 */
export class RedisClusterProcess implements AsyncDisposable {
  readonly ports: number[];
  readonly #dir: string;
  readonly #children = new Map<number, Deno.ChildProcess>();

  private constructor(ports: number[], dir: string) {
    this.ports = ports;
    this.#dir = dir;
  }

  /** `cluster-node-timeout` of the nodes, in ms. */
  static readonly NODE_TIMEOUT_MS = 1000;

  /** Starts six nodes, makes them a cluster, and waits until it is whole. */
  static async start(): Promise<RedisClusterProcess> {
    const ports = Array.from({ length: 6 }, () => freeClusterPort());
    const cluster = new RedisClusterProcess(
      ports,
      await Deno.makeTempDir({ prefix: "parley-rc-" }),
    );
    try {
      for (const port of ports) await cluster.#spawn(port);
      const created = await new Deno.Command("redis-cli", {
        args: [
          "--cluster",
          "create",
          ...ports.map((port) => `127.0.0.1:${port}`),
          "--cluster-replicas",
          "1",
          "--cluster-yes",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!created.success) {
        throw new Error(`redis-cli --cluster create: ${new TextDecoder().decode(created.stderr)}`);
      }
      await within(
        (async () => {
          for (const port of ports) {
            while (!(await rawCommand(port, "CLUSTER", "INFO")).includes("cluster_state:ok")) {
              await new Promise((resolve) => setTimeout(resolve, 50));
            }
          }
          for (const port of await cluster.replicas()) {
            while (
              !(await rawCommand(port, "INFO", "replication")).includes("master_link_status:up")
            ) {
              await new Promise((resolve) => setTimeout(resolve, 50));
            }
          }
        })(),
        "the Redis Cluster to be whole",
        30_000,
      );
      return cluster;
    } catch (error) {
      await cluster[Symbol.asyncDispose]();
      throw error;
    }
  }

  /** Seed URLs, comma-separated (as `--redis` takes them). */
  get url(): string {
    return this.ports.map((port) => `redis://127.0.0.1:${port}`).join(",");
  }

  /** Ports of the nodes that are replicas now (asked of a live node). */
  async replicas(): Promise<number[]> {
    return (await this.#nodes()).filter((node) => node.flags.includes("slave")).map((node) =>
      node.port
    );
  }

  /** The port of the master serving `key`'s slot now. */
  async masterOf(key: string): Promise<number> {
    const live = [...this.#children.keys()][0];
    const slot = Number(/:(\d+)/.exec(await rawCommand(live, "CLUSTER", "KEYSLOT", key))![1]);
    const master = (await this.#nodes()).find((node) =>
      node.flags.includes("master") && !node.flags.includes("fail") &&
      node.slots.some(([from, to]) => from <= slot && slot <= to)
    );
    if (master === undefined) throw new Error(`no master serves slot ${slot}`);
    return master.port;
  }

  /** `kill -9` of one node. */
  async kill(port: number): Promise<void> {
    const child = this.#children.get(port);
    this.#children.delete(port);
    try {
      child?.kill("SIGKILL");
    } catch { /* exited */ }
    await child?.status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const port of [...this.#children.keys()]) await this.kill(port);
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }

  async #nodes(): Promise<{ port: number; flags: string; slots: [number, number][] }[]> {
    const live = [...this.#children.keys()][0];
    const reply = await rawCommand(live, "CLUSTER", "NODES");
    return reply.split("\n").filter((line) => /^[0-9a-f]{40} /.test(line)).map((line) => {
      const fields = line.trim().split(" ");
      const port = Number(/:(\d+)@/.exec(fields[1])![1]);
      const slots = fields.slice(8).filter((range) => /^\d/.test(range)).map((range) => {
        const [from, to] = range.split("-").map(Number);
        return [from, to ?? from] as [number, number];
      });
      return { port, flags: fields[2], slots };
    });
  }

  async #spawn(port: number): Promise<void> {
    const dir = `${this.#dir}/${port}`;
    await Deno.mkdir(dir);
    const child = new Deno.Command("redis-server", {
      args: [
        ...throwawayRedisArgs(port),
        "--protected-mode",
        "no",
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        `${dir}/nodes.conf`,
        "--cluster-node-timeout",
        String(RedisClusterProcess.NODE_TIMEOUT_MS),
        "--dir",
        dir,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#children.set(port, child);
    await within(
      (async () => {
        while (true) {
          try {
            if ((await rawCommand(port, "PING")).startsWith("+PONG")) return;
          } catch { /* not yet */ }
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })(),
      `redis-server on ${port} to start`,
    );
  }
}
