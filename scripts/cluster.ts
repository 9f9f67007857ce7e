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

async function main(args: string[]): Promise<number> {
  const count = Number(args[0]);
  if (!Number.isInteger(count) || count < 1 || count > 64) {
    console.error("cluster: error: the first argument is the number of servers (1 to 64)");
    console.error("Usage: deno task cluster N [server.ts flags]");
    return 2;
  }
  const serverFlags = args.slice(1);
  const redisPort = freePort();
  let redis: Deno.ChildProcess;
  try {
    redis = new Deno.Command("redis-server", {
      args: throwawayRedisArgs(redisPort),
      stdout: "null",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    console.error(
      `cluster: cannot start redis-server: ${error instanceof Error ? error.message : error}`,
    );
    return 1;
  }
  await waitForRedis(redisPort);
  const url = `redis://127.0.0.1:${redisPort}`;
  const servers: Deno.ChildProcess[] = [];
  const stop = () => {
    for (const child of [...servers, redis]) {
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
  try {
    redis.kill("SIGTERM");
  } catch { /* gone */ }
  await redis.status;
  return codes.every((code) => code === 0) ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
