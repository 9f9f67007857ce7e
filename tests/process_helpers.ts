/**
 * Helpers for end-to-end tests that run Parley's programs as subprocesses.
 *
 * @module
 */

import { within } from "./helpers.ts";
import { parseListening, splitAddr } from "../lib/cli/listening.ts";
import type { BenchPaths } from "../bench/scenarios.ts";

/** Absolute path of a file in the repository root. */
/** Made-up paths for checking the bench's commands without building anything. */
export const BENCH_PATHS: BenchPaths = {
  root: "/repo",
  deno: "/bin/deno",
  loadgen: "/bin/loadgen",
  peers: "/peers",
  node: "node",
  nodeWs: "/ws",
  unavailable: {},
  scratch: "/scratch",
};

export function rootPath(name: string): string {
  return new URL(`../${name}`, import.meta.url).pathname;
}

/** Runs a TypeScript entry file of the repository with `deno run`. */
export function denoRun(
  entry: string,
  args: string[],
  options: { stdin?: "piped" | "null"; env?: Record<string, string> } = {},
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      rootPath(entry),
      ...args,
    ],
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
    // No --allow-write here: servers run memory-only (no store, no warning about it).
    env: { NO_COLOR: "1", PARLEY_NO_STORE: "1", ...options.env },
  }).spawn();
}

/** Reads a child's stdout line by line. */
export class ChildLines {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next line, or null at end of output; rejects on timeout. */
  async next(ms?: number): Promise<string | null> {
    while (!this.#buffer.includes("\n")) {
      const { value, done } = await within(this.#reader.read(), "a line of output", ms);
      if (done) {
        if (this.#buffer === "") return null;
        const last = this.#buffer;
        this.#buffer = "";
        return last;
      }
      this.#buffer += value;
    }
    const end = this.#buffer.indexOf("\n");
    const line = this.#buffer.slice(0, end);
    this.#buffer = this.#buffer.slice(end + 1);
    return line;
  }

  /** All remaining lines up to the end of output. */
  async rest(ms?: number): Promise<string[]> {
    const lines: string[] = [];
    for (let line = await this.next(ms); line !== null; line = await this.next(ms)) {
      lines.push(line);
    }
    return lines;
  }

  /** Stops reading (releases the stream). */
  async cancel(): Promise<void> {
    await this.#reader.cancel();
  }
}

/** The addresses a server prints: `listening on tcp=HOST:PORT [http=HOST:PORT]`. */
export interface ListeningAddrs {
  tcp: Deno.NetAddr;
  http: Deno.NetAddr | null;
}

/**
 * Reads the addresses from a server's first stdout line, either
 * `listening on tcp=HOST:PORT http=HOST:PORT` or `listening on HOST:PORT`
 * (lib/cli/listening.ts reads it).
 */
export async function listeningAddrs(lines: ChildLines): Promise<ListeningAddrs> {
  const first = await lines.next();
  const listening = parseListening(first ?? "");
  if (listening?.tcp === undefined) {
    throw new Error(`expected "listening on tcp=HOST:PORT", got ${JSON.stringify(first)}`);
  }
  const addr = (text: string): Deno.NetAddr => ({ transport: "tcp", ...splitAddr(text) });
  return {
    tcp: addr(listening.tcp),
    http: listening.http === undefined ? null : addr(listening.http),
  };
}

/** Reads the TCP address from a server's first stdout line. */
export async function listeningAddr(lines: ChildLines): Promise<Deno.NetAddr> {
  return (await listeningAddrs(lines)).tcp;
}

/** Collects a stream to text. */
export async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(stream).text();
}

/** Runs an entry file to its end with `input` on stdin (if given). */
export async function runToEnd(
  entry: string,
  args: string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = denoRun(entry, args, { stdin: input === undefined ? "null" : "piped" });
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const [status, stdout, stderr] = await Promise.all([
    within(child.status, `${entry} to exit`),
    readAll(child.stdout),
    readAll(child.stderr),
  ]);
  return { code: status.code, stdout, stderr };
}

/** Starts `server.ts --mode echo` on 127.0.0.1, port 0, with `args` added. */
export async function startEchoServer(args: string[] = []): Promise<ServerProcess> {
  return await startServer("server.ts", [
    "--mode",
    "echo",
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    ...args,
  ]);
}

/** The resident memory of process `pid`, in MiB (Linux `/proc`). */
export async function rssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

/**
 * Kills `child` (SIGKILL) unless it has exited, and waits for it: the
 * cleanup of a test that failed before stopping its process.
 */
export async function killChild(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch { /* exited already */ }
  await child.status;
}

/** A server started as a subprocess, with its printed address. */
export interface ServerProcess extends AsyncDisposable {
  child: Deno.ChildProcess;
  addr: Deno.NetAddr;
  /** The HTTP address, when the server has one. */
  httpAddr: Deno.NetAddr | null;
  stdout: ChildLines;
  /** Everything the server wrote to stderr, once it has exited. */
  stderr: Promise<string>;
  /** Sends `signal`, waits for the exit; returns the code and the rest of stdout. */
  stop(signal?: Deno.Signal): Promise<{ code: number; rest: string[] }>;
}

/**
 * Starts `entry` (a server) and waits for its `listening on …` line. A
 * `server.ts` without `--http-port`/`--no-http` gets `--http-port 0`, so no
 * test binds a fixed port.
 */
export async function startServer(entry: string, args: string[]): Promise<ServerProcess> {
  const fixed = entry === "server.ts" &&
    !args.some((arg) => /^--(http-port|no-http)\b/.test(arg)) && !args.includes("--help");
  const child = denoRun(entry, fixed ? [...args, "--http-port", "0"] : args);
  const stdout = new ChildLines(child.stdout);
  const stderr = readAll(child.stderr);
  let addrs: ListeningAddrs;
  try {
    addrs = await listeningAddrs(stdout);
  } catch (error) {
    await killChild(child);
    await stdout.cancel();
    throw new Error(`${entry} did not start: ${await stderr}`, { cause: error });
  }
  const { tcp: addr, http: httpAddr } = addrs;
  let exited = false;
  child.status.then(() => (exited = true));
  return {
    child,
    addr,
    httpAddr,
    stdout,
    stderr,
    async stop(signal: Deno.Signal = "SIGTERM") {
      child.kill(signal);
      const status = await within(child.status, `${entry} to exit`);
      return { code: status.code, rest: await stdout.rest() };
    },
    /** Kills the server if a failed test left it running. */
    async [Symbol.asyncDispose]() {
      if (exited) return;
      await killChild(child);
      await stdout.cancel().catch(() => {});
      await stderr;
    },
  };
}
