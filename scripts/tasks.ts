/**
 * The permissions of each Parley program, read from one place: the
 * `deno.json` tasks (`deno task server`, `client`, `udp-echo`, `udp-send`).
 * `scripts/compile.ts` bakes the same flags into the binaries and
 * `scripts/cluster.ts` starts its servers with them, so a program runs with
 * the same permissions however it is started; the README lists them
 * (tests/e2e_as_users_test.ts checks that it does).
 *
 * @module
 */

import config from "../deno.json" with { type: "json" };

/** A `deno run` task split into its parts. */
export interface TaskRun {
  /** Permission and runtime flags, in the task's order (`--allow-net`, `--v8-flags=…`). */
  flags: string[];
  /** The entry file, relative to the repository (`server.ts`). */
  entry: string;
  /** Arguments the task passes before the user's (`serve`). */
  args: string[];
}

/**
 * Splits a task's command, `deno run FLAGS ENTRY [ARGS]` (no quoting).
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { parseTaskCommand } from "./tasks.ts";
 *
 * deepEqual(parseTaskCommand("deno run --allow-net udp_echo.ts send"), {
 *   flags: ["--allow-net"],
 *   entry: "udp_echo.ts",
 *   args: ["send"],
 * });
 * ```
 */
export function parseTaskCommand(command: string): TaskRun {
  const words = command.trim().split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "run") {
    throw new RangeError(`Cannot read task: expected "deno run …", received "${command}"`);
  }
  const entryAt = words.findIndex((word, i) => i >= 2 && !word.startsWith("-"));
  if (entryAt === -1) {
    throw new RangeError(`Cannot read task: no entry file in "${command}"`);
  }
  return { flags: words.slice(2, entryAt), entry: words[entryAt], args: words.slice(entryAt + 1) };
}

/** The tasks that run a shipped program, by name. */
export const PROGRAM_TASKS = ["server", "client", "udp-echo", "udp-send"] as const;

/** A program task's name. */
export type ProgramTask = typeof PROGRAM_TASKS[number];

/** The `deno.json` task `name`, split into flags, entry and arguments. */
export function programTask(name: ProgramTask): TaskRun {
  const tasks: Record<string, string> = config.tasks;
  const command = tasks[name];
  if (command === undefined) throw new RangeError(`Cannot read task: deno.json has no "${name}"`);
  return parseTaskCommand(command);
}

/** Only the permission flags of `flags` (`--allow-…`), without runtime flags such as `--v8-flags`. */
export function permissionFlags(flags: readonly string[]): string[] {
  return flags.filter((flag) => flag.startsWith("--allow-"));
}
