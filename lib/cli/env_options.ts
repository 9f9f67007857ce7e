/**
 * Flags from environment variables: every long flag of a program can also
 * be set by a variable whose name is derived from it (`--max-clients` →
 * `PARLEY_MAX_CLIENTS`, `--no-http` → `PARLEY_NO_HTTP`). A flag on the
 * command line wins over its variable; a variable wins over the default.
 * Values are checked as the flag's are, and a bad one is a usage error
 * naming the variable. A switch (a flag without a value) is on when its
 * variable is set to anything but an empty string, `0`, `false` or `no`;
 * a repeatable flag (`--allow-origin`) takes a list separated by commas or
 * spaces.
 *
 * Applied in one loop over a program's options (commander's
 * `Option.env()`), so a new flag gets its variable without a line more.
 * The programs need `--allow-env=PARLEY_*` (a prefix grant) to read them;
 * a variable the process may not read is taken as unset.
 *
 * @module
 */

import { type Command, InvalidArgumentError, type Option } from "commander";

/** Flags given several times on the command line (a collector): a list in their variable. */
const REPEATABLE: ReadonlySet<string> = new Set(["--allow-origin"]);

/** The prefix of every variable. */
export const ENV_PREFIX = "PARLEY_";

/** Flags that have no variable: they print and exit. */
const NO_VARIABLE = new Set(["--help", "--version"]);

/**
 * The variable of a long flag.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { envName } from "./env_options.ts";
 *
 * equal(envName("--max-clients"), "PARLEY_MAX_CLIENTS");
 * equal(envName("--no-http"), "PARLEY_NO_HTTP");
 * ```
 */
export function envName(long: string): string {
  return ENV_PREFIX + long.replace(/^--/, "").replace(/-/g, "_").toUpperCase();
}

/** Whether this process may read `variable` (granted, not to be asked for). */
function mayRead(variable: string): boolean {
  return Deno.permissions.querySync({ name: "env", variable }).state === "granted";
}

/** True for a switch variable's value that turns it off. */
function isOff(value: string): boolean {
  return /^(|0|false|no)$/i.test(value.trim());
}

/**
 * Gives every long flag of `program` its variable (see the module doc);
 * returns `program`. Call once every option is defined.
 */
export function withEnvVariables(program: Command): Command {
  for (const option of program.options as Option[]) {
    if (option.long === undefined || NO_VARIABLE.has(option.long)) continue;
    const variable = envName(option.long);
    if (!mayRead(variable)) continue; // as if unset: no permission prompt, no crash
    option.env(variable);
    const key = option.attributeName();
    // commander listens for `optionEnv:` only on options given a variable
    // before they were added; this listener does the same for the rest.
    program.on(`optionEnv:${option.name()}`, (value?: string) => {
      const raw = value ?? Deno.env.get(variable) ?? "";
      if (!option.required && !option.optional) {
        if (isOff(raw)) return;
        program.setOptionValueWithSource(key, !option.negate, "env");
        return;
      }
      let parsed: unknown = raw;
      try {
        if (option.variadic) parsed = raw.split(/[\s,]+/).filter((part) => part !== "");
        else if (option.parseArg && REPEATABLE.has(option.long ?? "")) {
          // A repeatable flag's collector takes one value at a time, as on the command line.
          const parse = option.parseArg as (value: string, previous: unknown) => unknown;
          parsed = raw.split(/[\s,]+/).filter((part) => part !== "")
            .reduce<unknown>((previous, part) => parse(part, previous), undefined);
        } else if (option.parseArg) parsed = option.parseArg(raw, undefined as unknown as never);
      } catch (error) {
        if (!(error instanceof InvalidArgumentError)) throw error;
        program.error(`${variable}=${raw} (for ${option.long}): ${error.message}`, {
          code: "commander.invalidArgument",
          exitCode: 2,
        });
      }
      program.setOptionValueWithSource(key, parsed, "env");
    });
  }
  return program;
}

/**
 * Every variable of `program` with its flag and description, as Markdown
 * table rows (the README's table is made with it).
 */
export function envTable(program: Command): string {
  const rows = (program.options as Option[])
    .filter((option) => option.envVar !== undefined)
    .map((option) => `| \`${option.envVar}\` | \`${option.long}\` | ${option.description} |`);
  return ["| Variable | Flag | Meaning |", "| --- | --- | --- |", ...rows].join("\n");
}
