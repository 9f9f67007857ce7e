/**
 * The process's descriptor limit, for the warning a server prints at start
 * when `--max-clients` needs more descriptors than it may open.
 *
 * Deno 2.9 reads `/proc/self/limits` only with `--allow-all`, and has no
 * `getrlimit`, so the limit is asked of a shell (`ulimit -Sn; ulimit -Hn`),
 * which inherits it: the programs need `--allow-run=sh` for this. Without
 * that permission, or without `sh`, the limit is unknown and no warning is
 * printed.
 *
 * @module
 */

/** The soft and hard `RLIMIT_NOFILE`, or null when unknown. */
export async function openFileLimit(): Promise<{ soft: number; hard: number } | null> {
  try {
    const { success, stdout } = await new Deno.Command("sh", {
      args: ["-c", "ulimit -Sn; ulimit -Hn"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return success ? parseUlimit(new TextDecoder().decode(stdout)) : null;
  } catch {
    return null; // no permission, or no sh
  }
}

/** Reads the two lines of `ulimit -Sn; ulimit -Hn`. */
export function parseUlimit(text: string): { soft: number; hard: number } | null {
  const match = /^(\d+|unlimited)\s+(\d+|unlimited)\s*$/.exec(text.trim());
  if (match === null) return null;
  const value = (field: string) => field === "unlimited" ? Infinity : Number(field);
  return { soft: value(match[1]), hard: value(match[2]) };
}

/**
 * The warning to print when the soft limit is below `needed`, or null.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { descriptorWarning } from "./limits.ts";
 *
 * equal(descriptorWarning({ soft: 65536, hard: 65536 }, 1096), null);
 * ```
 */
export function descriptorWarning(
  limit: { soft: number; hard: number } | null,
  needed: number,
): string | null {
  if (limit === null || limit.soft >= needed) return null;
  const raise = limit.hard >= needed
    ? `raise it with \`ulimit -n ${needed}\` (the hard limit is ${limit.hard})`
    : `raise the hard limit (${limit.hard}) too, e.g. LimitNOFILE=${needed} in a systemd unit`;
  return `the descriptor limit (${limit.soft}) is below the ${needed} that --max-clients needs ` +
    `(clients + lingering refusals + reserve); ${raise}, or lower --max-clients`;
}
