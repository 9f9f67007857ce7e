/**
 * `deno task compile`: builds each Parley program into one executable in
 * `dist/` with the permissions it needs baked in.
 *
 * `deno compile` needs Deno's compile runtime (`denort`). It downloads it
 * unless `DENORT_BIN` names a local copy; set that where the internet is out
 * of reach. Run with program names to build only those.
 *
 * @module
 */

/**
 * V8 flags of the servers: a 4 MiB young generation instead of V8's default
 * of up to 16 MiB per semi-space. Measured: no throughput cost, and 10,000
 * idle chat clients take ~8 KiB each instead of ~10.
 */
export const SERVER_V8_FLAGS = "--v8-flags=--max-semi-space-size=4";

/**
 * Environment variables the programs read: `NO_COLOR`, and the two `ws`
 * checks for optional native add-ons (never installed here).
 */
export const ENV_PERMISSION = "--allow-env=NO_COLOR,WS_NO_BUFFER_UTIL,WS_NO_UTF_8_VALIDATE";

/**
 * Each program, the permissions (and runtime flags) baked into its binary,
 * and the folders embedded in it (`--include`), relative to the repository.
 * An embedded folder keeps its place relative to the modules, and the
 * binary may read its embedded files without `--allow-read` (Deno grants
 * read access to the binary's own virtual file system).
 */
export const PROGRAMS: Record<
  string,
  { entry: string; permissions: string[]; include?: string[] }
> = {
  "parley-server": {
    entry: "server.ts",
    permissions: [
      "--allow-net",
      `${ENV_PERMISSION},PARLEY_*`, // PARLEY_*: every flag's variable (lib/cli/env_options.ts)
      "--allow-read", // --tls-cert and --tls-key (the page is embedded: no permission needed)
      "--allow-write", // --data-dir, wherever the operator puts it (the unit confines it)
      "--allow-run=sh", // ulimit, for the descriptor warning
      SERVER_V8_FLAGS,
    ],
    include: ["web"], // the chat page (lib/server/page.ts serves it)
  },
  "parley-client": {
    entry: "client.ts",
    permissions: ["--allow-net", "--allow-read", ENV_PERMISSION], // --allow-read: --ca
  },
  "parley-udp-echo": {
    entry: "udp_echo.ts",
    permissions: ["--allow-net", "--allow-sys=networkInterfaces", SERVER_V8_FLAGS],
  },
};

/** Where the compile runtime can come from, or why it cannot. */
export async function compileRuntime(): Promise<{ available: boolean; reason: string }> {
  const denort = Deno.env.get("DENORT_BIN");
  if (denort) {
    try {
      await Deno.stat(denort);
      return { available: true, reason: `DENORT_BIN=${denort}` };
    } catch {
      return { available: false, reason: `DENORT_BIN=${denort} does not exist` };
    }
  }
  if (Deno.env.get("PARLEY_COMPILE") === "1") {
    return { available: true, reason: "PARLEY_COMPILE=1 (runtime downloaded by deno compile)" };
  }
  return {
    available: false,
    reason:
      "no Deno compile runtime: set DENORT_BIN to a denort binary, or PARLEY_COMPILE=1 where it can be downloaded",
  };
}

async function main(names: string[]): Promise<number> {
  const root = new URL("../", import.meta.url).pathname;
  const selected = names.length > 0 ? names : Object.keys(PROGRAMS);
  for (const name of selected) {
    const program = PROGRAMS[name];
    if (program === undefined) {
      console.error(`compile: unknown program ${name}; known: ${Object.keys(PROGRAMS).join(", ")}`);
      return 2;
    }
    const output = `${root}dist/${name}`;
    const { code } = await new Deno.Command(Deno.execPath(), {
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
      stderr: "inherit",
    }).output();
    if (code !== 0) {
      const { reason } = await compileRuntime();
      console.error(`compile: deno compile failed for ${name} (${reason})`);
      return 1;
    }
    console.log(`compile: ${output}`);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
