/**
 * The programs as people run them: through `deno task`, with exactly the
 * permissions of `deno.json` (never `-A`), with and without `NO_COLOR`,
 * and stopped by Ctrl-C as a terminal delivers it (SIGINT to the whole
 * process group, which `deno task` forwards once more).
 *
 * @module
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { parseListening, splitAddr } from "../lib/cli/listening.ts";
import { serveChat } from "../lib/server/serve_chat.ts";
import { serveUdpEcho } from "../lib/echo/udp_echo_server.ts";
import { VERSION } from "../lib/support/constants.ts";
import { permissionFlags, PROGRAM_TASKS, programTask } from "../scripts/tasks.ts";
import { connectChat, LineClient, within } from "./helpers.ts";
import { ChildLines, readAll, rootPath } from "./process_helpers.ts";
import { connectWsChat, WsLines } from "./ws_helpers.ts";
import { redisMissing } from "./redis_helpers.ts";

const decoder = new TextDecoder();

/** The user's environment, with `NO_COLOR` as asked and no colour forcing. */
function userEnv(noColor: boolean): Record<string, string> {
  const env = Deno.env.toObject();
  for (const name of ["NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE"]) delete env[name];
  return noColor ? { ...env, NO_COLOR: "1" } : env;
}

/** `deno task NAME ARGS` as a user types it (Deno.execPath() is the pinned 2.9.6). */
function taskCommand(
  name: string,
  args: string[],
  noColor: boolean,
  options: { stdin?: "piped" | "null"; group?: boolean } = {},
): Deno.Command {
  const deno = [Deno.execPath(), "task", name, ...args];
  // setsid: a process group of its own, as a terminal gives a foreground job.
  const [command, ...rest] = options.group ? ["setsid", ...deno] : deno;
  return new Deno.Command(command, {
    args: rest,
    cwd: rootPath(""),
    clearEnv: true,
    env: userEnv(noColor),
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** stderr without `deno task`'s own `Task NAME COMMAND` line (coloured or not). */
function programStderr(bytes: Uint8Array): string {
  return decoder.decode(bytes).split("\n")
    // deno-lint-ignore no-control-regex
    .filter((line) => !/^(\x1b\[[0-9;]*m)*Task\b/.test(line))
    .join("\n");
}

/**
 * Kills a task started with `group` and everything in its process group
 * (deno task and the program it runs), and waits for it: the cleanup.
 */
async function killGroup(child: Deno.ChildProcess): Promise<void> {
  try {
    Deno.kill(-child.pid, "SIGKILL");
  } catch { /* all gone already */ }
  await child.status;
}

/** Runs a task to its end. */
async function runTask(
  name: string,
  args: string[],
  noColor: boolean,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await within(
    taskCommand(name, args, noColor).output(),
    `deno task ${name} ${args.join(" ")}`,
  );
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: programStderr(output.stderr),
  };
}

/** The program name each task's usage lines carry. */
const USAGE_NAME: Record<string, string> = {
  server: "server",
  client: "client",
  "udp-echo": "udp_echo serve",
  "udp-send": "udp_echo send",
};

for (const noColor of [false, true]) {
  const env = noColor ? "NO_COLOR=1" : "NO_COLOR unset";
  for (const name of PROGRAM_TASKS) {
    Deno.test(`deno task ${name} --help, -h, --version and a bad flag answer (${env})`, async () => {
      for (const flag of ["--help", "-h"]) {
        const help = await runTask(name, [flag], noColor);
        equal(help.code, 0, help.stderr);
        match(help.stdout, new RegExp(`^Usage: ${USAGE_NAME[name]} `));
        match(help.stdout, /-h, --help/);
        equal(help.stderr.trim(), "");
      }
      const version = await runTask(name, ["--version"], noColor);
      equal(version.code, 0, version.stderr);
      equal(version.stdout, `${VERSION}\n`);
      const bad = await runTask(name, ["--no-such-flag"], noColor);
      equal(bad.code, 2);
      equal(bad.stdout, "");
      const lines = bad.stderr.trim().split("\n");
      deepEqual(lines.length, 3, bad.stderr);
      equal(lines[0], `${USAGE_NAME[name]}: error: unknown option '--no-such-flag'`);
      match(lines[1], /^Usage: /);
      match(lines[2], /^Run '.* --help' for every option\.$/);
      ok(!/NotCapable|at .*:\d+:\d+/.test(bad.stderr), bad.stderr);
    });
  }

  Deno.test(`deno task server starts and serves a TCP and a WebSocket client (${env})`, async () => {
    const child = taskCommand(
      "server",
      ["--host", "127.0.0.1", "--port", "0", "--http-port", "0", "--quiet"],
      noColor,
      { group: true },
    ).spawn();
    const stdout = new ChildLines(child.stdout);
    const stderr = readAll(child.stderr);
    try {
      const listening = parseListening((await stdout.next()) ?? "");
      ok(listening?.tcp !== undefined && listening.http !== undefined, "no listening line");
      await using tcp = await connectChat({ transport: "tcp", ...splitAddr(listening.tcp) });
      await using ws = await connectWsChat({ transport: "tcp", ...splitAddr(listening.http) });
      await tcp.send("hello from tcp");
      match(await ws.nextMatching(/hello from tcp/), new RegExp(`<${tcp.nick}> hello from tcp`));
    } finally {
      await killGroup(child);
      await stdout.cancel();
      await stderr;
    }
  });

  Deno.test(`deno task client talks to a server in a pipe (${env})`, async () => {
    await using server = serveChat({ hostname: "127.0.0.1", port: 0, logger: () => {} });
    await server.ready;
    const child = taskCommand(
      "client",
      [`127.0.0.1:${server.addr.port}`, "--nick", "ann"],
      noColor,
      { stdin: "piped" },
    ).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("hi there\n"));
    await writer.close();
    const [status, out, err] = await Promise.all([
      within(child.status, "the client to exit"),
      readAll(child.stdout),
      readAll(child.stderr),
    ]);
    equal(status.code, 0, err);
    match(out, /^\* welcome to parley/m);
    match(out, /ann/);
  });

  Deno.test(`deno task udp-echo serves and deno task udp-send gets the echo (${env})`, async () => {
    const child = taskCommand("udp-echo", ["--host", "127.0.0.1", "--port", "0", "-q"], noColor, {
      group: true,
    }).spawn();
    const stdout = new ChildLines(child.stdout);
    const stderr = readAll(child.stderr);
    try {
      const first = (await stdout.next()) ?? "";
      const found = /listening on (\S+)$/.exec(first);
      ok(found, first);
      const sent = await runTask("udp-send", [found[1], "ping one"], noColor);
      equal(sent.code, 0, sent.stderr);
      match(sent.stdout, /ping one/);
    } finally {
      await killGroup(child);
      await stdout.cancel();
      await stderr;
    }
  });
}

Deno.test("deno task udp-send reaches an in-process echo server", async () => {
  await using server = serveUdpEcho({ hostname: "127.0.0.1", port: 0, logger: () => {} });
  const sent = await runTask("udp-send", [`127.0.0.1:${server.addr.port}`, "a", "b"], true);
  equal(sent.code, 0, sent.stderr);
  match(sent.stdout, /\ba\b[\s\S]*\bb\b/);
});

Deno.test({
  name: "the README lists each program's permissions as deno.json's tasks grant them",
  permissions: { read: true },
  async fn() {
    const readme = await Deno.readTextFile(rootPath("README.md"));
    const binaries = readme.slice(readme.indexOf("## Binaries"));
    for (const name of PROGRAM_TASKS) {
      const task = programTask(name);
      ok(!task.flags.includes("--allow-all") && !task.flags.includes("-A"), name);
      for (const flag of permissionFlags(task.flags)) {
        ok(binaries.includes(`\`${flag}\``), `README's Binaries section lacks ${flag} (${name})`);
      }
    }
  },
});

/** Sends SIGINT to process group `pgid`, as Ctrl-C in a terminal does. */
function ctrlC(pgid: number): void {
  Deno.kill(-pgid, "SIGINT");
}

const SIGNAL_ROUNDS = 4;

/**
 * One round of Ctrl-C on `deno task TASK` in its own process group, with
 * `clients` TCP and WebSocket clients each: TCP clients get `* server
 * shutting down`, WebSocket clients 1001, and the task exits 0.
 */
async function ctrlCDrains(
  task: "server" | "cluster",
  args: string[],
  clients: number,
  round: number,
  timeoutMs?: number,
): Promise<void> {
  const child = taskCommand(task, args, true, { group: true }).spawn();
  const stdout = new ChildLines(child.stdout);
  const stderr = readAll(child.stderr);
  try {
    const listening = parseListening((await stdout.next(timeoutMs)) ?? "");
    ok(listening?.tcp !== undefined && listening.http !== undefined, "no listening line");
    const tcps: LineClient[] = [];
    const wss: WsLines[] = [];
    for (let i = 0; i < clients; i++) {
      tcps.push(await connectChat({ transport: "tcp", ...splitAddr(listening.tcp) }));
      wss.push(await connectWsChat({ transport: "tcp", ...splitAddr(listening.http) }));
    }
    ctrlC(child.pid);
    for (const tcp of tcps) {
      const rest = await tcp.untilClosed();
      ok(rest.includes("* server shutting down"), `round ${round}: ${rest.join(" | ")}`);
    }
    for (const ws of wss) equal((await ws.untilClosed()).code, 1001, `round ${round}`);
    const { code } = await within(child.status, `deno task ${task} to exit`, timeoutMs);
    equal(code, 0, `round ${round}: ${await stderr}`);
    await Promise.all([
      ...tcps.map((c) => c.close()),
      ...wss.map((w) => w[Symbol.asyncDispose]()),
    ]);
  } finally {
    await killGroup(child);
    await stdout.cancel();
    await stderr;
  }
}

Deno.test(`Ctrl-C on deno task server drains: WebSocket 1001, TCP notice, exit 0 (${SIGNAL_ROUNDS} times)`, async () => {
  const args = ["--host", "127.0.0.1", "--port", "0", "--http-port", "0", "--quiet"];
  for (let round = 0; round < SIGNAL_ROUNDS; round++) await ctrlCDrains("server", args, 3, round);
});

Deno.test({
  name: `Ctrl-C on deno task cluster drains every server${
    redisMissing ? ` (ignored: ${redisMissing})` : ""
  }`,
  ignore: redisMissing !== null,
  async fn() {
    const args = ["2", "--host", "127.0.0.1", "--port", "0", "--http-port", "0"];
    for (let round = 0; round < 2; round++) await ctrlCDrains("cluster", args, 4, round, 30_000);
  },
});
