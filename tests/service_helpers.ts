/**
 * Helpers for the tests of Parley as a service: a server subprocess started
 * from any command line (a `deno task`, a namespace with a read-only
 * mount), with its addresses read from the `listening on` line.
 *
 * @module
 */

import {
  ChildLines,
  killChild,
  type ListeningAddrs,
  listeningAddrs,
  readAll,
  rootPath,
} from "./process_helpers.ts";
import { within } from "./helpers.ts";

/** A server subprocess and its addresses. */
export interface SpawnedServer extends AsyncDisposable, ListeningAddrs {
  child: Deno.ChildProcess;
  stdout: ChildLines;
  /** Everything written to stderr, once it has exited. */
  stderr: Promise<string>;
  /** Sends `signal` and waits for the exit. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Starts `command args` (in the repository root) and waits for its `listening on` line. */
export async function spawnServer(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<SpawnedServer> {
  const child = new Deno.Command(command, {
    args,
    cwd: rootPath(""),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  const stdout = new ChildLines(child.stdout);
  const stderr = readAll(child.stderr);
  let addrs: ListeningAddrs;
  try {
    addrs = await listeningAddrs(stdout);
  } catch (error) {
    await killChild(child);
    await stdout.cancel().catch(() => {});
    throw new Error(`${command} ${args.join(" ")} did not start: ${await stderr}`, {
      cause: error,
    });
  }
  let exited = false;
  child.status.then(() => (exited = true));
  return {
    ...addrs,
    child,
    stdout,
    stderr,
    async stop(signal: Deno.Signal = "SIGTERM") {
      if (!exited) child.kill(signal);
      const status = await within(child.status, "the server to exit");
      await stdout.cancel().catch(() => {});
      await stderr;
      return status;
    },
    async [Symbol.asyncDispose]() {
      // SIGTERM first: `deno task` passes it on to the server (SIGKILL would orphan it).
      if (!exited) child.kill("SIGTERM");
      if (!exited) await within(child.status, "the server to stop").catch(() => killChild(child));
      await stdout.cancel().catch(() => {});
      await stderr;
    },
  };
}

/** `deno run` of `server.ts` with the permissions of a service writing `dataDir`. */
export function serverArgs(dataDir: string, args: string[] = []): string[] {
  return [
    "run",
    "--quiet",
    "--allow-net",
    "--allow-read",
    `--allow-write=${dataDir}`,
    "--allow-env",
    rootPath("server.ts"),
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--http-port",
    "0",
    "--data-dir",
    dataDir,
    ...args,
  ];
}
