/**
 * `deno task compile`: builds each Parley program into one executable in
 * `dist/` with the permissions it needs baked in: the flags of its
 * `deno.json` task (scripts/tasks.ts), so the binary and `deno task` grant
 * the same.
 *
 * `deno compile` needs Deno's compile runtime (`denort`) of exactly the
 * running Deno's version. It uses `DENORT_BIN` when set; otherwise the copy
 * in Deno's cache, or it downloads one. When none of these can work, the
 * task says so in one paragraph within seconds (no backtrace). Run with
 * program names to build only those.
 *
 * @module
 */

import { type ProgramTask, programTask } from "./tasks.ts";

/**
 * V8 flags of the servers: a 4 MiB young generation instead of V8's default
 * of up to 16 MiB per semi-space. Measured: no throughput cost, and 10,000
 * idle chat clients take ~8 KiB each instead of ~10. (The tasks in
 * `deno.json` carry it; the benchmark uses this constant.)
 */
export const SERVER_V8_FLAGS = "--v8-flags=--max-semi-space-size=4";

/** Each binary, the tasks whose flags it gets, and the folders embedded in it. */
const BINARIES: Record<string, { tasks: ProgramTask[]; include?: string[] }> = {
  // The page is embedded: a binary reads its own files without --allow-read
  // (--allow-read stays for --tls-cert and --tls-key).
  "parley-server": { tasks: ["server"], include: ["web"] },
  "parley-client": { tasks: ["client"] },
  "parley-udp-echo": { tasks: ["udp-echo", "udp-send"] },
};

/**
 * Each program, the permissions (and runtime flags) baked into its binary
 * (those of its tasks, together), and the folders embedded in it
 * (`--include`), relative to the repository. An embedded folder keeps its
 * place relative to the modules.
 */
export const PROGRAMS: Record<
  string,
  { entry: string; permissions: string[]; include?: string[] }
> = Object.fromEntries(
  Object.entries(BINARIES).map(([name, { tasks, include }]) => {
    const runs = tasks.map(programTask);
    const permissions = [...new Set(runs.flatMap((run) => run.flags))];
    return [name, { entry: runs[0].entry, permissions, ...(include ? { include } : {}) }];
  }),
);

/** The runtime `deno compile` needs here: `denort-x86_64-unknown-linux-gnu.zip` of Deno 2.9.6. */
export function runtimeArchive(): { version: string; file: string; url: string } {
  const version = Deno.version.deno;
  const file = `denort-${Deno.build.target}.zip`;
  return { version, file, url: `https://dl.deno.land/release/v${version}/${file}` };
}

/** Where Deno keeps what it downloads (`DENO_DIR`, or the platform's cache folder). */
function denoDir(): string | undefined {
  const explicit = Deno.env.get("DENO_DIR");
  if (explicit) return explicit;
  const cache = Deno.env.get("XDG_CACHE_HOME") ??
    (Deno.env.get("HOME") === undefined ? undefined : `${Deno.env.get("HOME")}/.cache`);
  return cache === undefined ? undefined : `${cache}/deno`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** One paragraph: what is missing, which file to fetch and how to pass it. */
export function runtimeAdvice(problem: string): string {
  const { version, file, url } = runtimeArchive();
  return `compile: ${problem}. deno compile needs Deno's compile runtime, denort, of exactly ` +
    `the version running this task (${version}). Fetch ${file} from Deno's release downloads ` +
    `(${url}, or the v${version} release on https://github.com/denoland/deno/releases), unzip ` +
    `it, and pass the binary: DENORT_BIN=/path/to/denort deno task compile.`;
}

/**
 * Why `deno compile` cannot get its runtime (one paragraph), or null when
 * it can: `DENORT_BIN` names a file, the runtime is in Deno's cache, or its
 * download address answers within `timeoutMs`.
 */
export async function runtimeProblem(timeoutMs = 5000): Promise<string | null> {
  const denort = Deno.env.get("DENORT_BIN");
  if (denort) {
    return await exists(denort) ? null : runtimeAdvice(`DENORT_BIN=${denort}: no such file`);
  }
  const { version, file, url } = runtimeArchive();
  const dir = denoDir();
  if (dir !== undefined && await exists(`${dir}/dl/release/v${version}/${file}`)) return null;
  try {
    const response = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    if (response.ok) return null;
    return runtimeAdvice(
      `the runtime is not in Deno's cache and ${url} answered ${response.status}`,
    );
  } catch (error) {
    const why = error instanceof DOMException && error.name === "TimeoutError"
      ? `no answer within ${timeoutMs / 1000} s`
      : (error instanceof Error ? error.message.split("\n")[0] : String(error));
    return runtimeAdvice(`the runtime is not in Deno's cache and cannot be downloaded (${why})`);
  }
}

async function main(names: string[]): Promise<number> {
  const root = new URL("../", import.meta.url).pathname;
  const selected = names.length > 0 ? names : Object.keys(PROGRAMS);
  const unknown = selected.find((name) => PROGRAMS[name] === undefined);
  if (unknown !== undefined) {
    console.error(
      `compile: unknown program ${unknown}; known: ${Object.keys(PROGRAMS).join(", ")}`,
    );
    return 2;
  }
  const problem = await runtimeProblem();
  if (problem !== null) {
    console.error(problem);
    return 1;
  }
  for (const name of selected) {
    const program = PROGRAMS[name];
    const output = `${root}dist/${name}`;
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "compile",
        "--quiet",
        ...program.permissions,
        ...(program.include ?? []).flatMap((path) => ["--include", `${root}${path}`]),
        "--output",
        output,
        `${root}${program.entry}`,
      ],
      stdout: "inherit",
      stderr: "piped",
    }).output();
    if (code !== 0) {
      // deno compile's own report ends in a backtrace: its first line is the news.
      const first = new TextDecoder().decode(stderr).split("\n").find((line) => line.trim() !== "");
      // deno-lint-ignore no-control-regex
      const plain = (first ?? `exit code ${code}`).replace(/\x1b\[[0-9;]*m/g, "");
      console.error(runtimeAdvice(`deno compile failed for ${name}: ${plain}`));
      return 1;
    }
    console.log(`compile: ${output}`);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
