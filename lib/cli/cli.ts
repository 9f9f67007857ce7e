/**
 * Flag parsing shared by the entry files: number and choice validators, and
 * {@linkcode parseArgs}, which turns a bad flag into a one-line error plus
 * the usage line and exit code 2 (no stack trace).
 *
 * @module
 */

import { Command, CommanderError, InvalidArgumentError } from "commander";
import { VERSION } from "../support/constants.ts";
import { checkNumber, type NumberRule, optionProblem } from "../support/options.ts";

/** Exit code for a bad flag or value. */
export const EXIT_USAGE = 2;

/** The outcome of parsing: run with options, or exit with a code. */
export type ParseOutcome<T> = { ok: true; options: T } | { ok: false; exitCode: number };

/** The number a flag's value spells; NaN for a blank one (`Number("")` is 0). */
function toNumber(value: string): number {
  return value.trim() === "" ? Number.NaN : Number(value);
}

/**
 * A commander value parser for a number in `[min, max]`; `integer` refuses
 * fractions. The check is `checkNumber()`'s (lib/support/options.ts), as
 * the constructors make it; errors read "must be an integer from 1 to
 * 65535" (commander adds the flag and the value).
 *
 * @example
 * ```ts
 * import { equal, throws } from "node:assert/strict";
 * import { numberIn } from "./cli.ts";
 *
 * equal(numberIn(1, 65535)("8080"), 8080);
 * throws(() => numberIn(1, 65535)("0"), { message: "must be an integer from 1 to 65535" });
 * throws(() => numberIn(0, 1, false)("x"), { message: "must be a number from 0 to 1" });
 * ```
 */
export function numberIn(
  min: number,
  max: number,
  integer = true,
): (value: string) => number {
  const rule: NumberRule = { min, max, integer };
  return (value: string) => {
    try {
      return checkNumber("flag", "value", toNumber(value), rule);
    } catch (error) {
      const carried = optionProblem(error);
      if (carried === undefined) throw error;
      throw new InvalidArgumentError(carried.problem); // commander adds the flag and the value
    }
  };
}

/**
 * A commander value parser for any finite number, for a flag whose range
 * its options' owner checks (and words) after parsing.
 */
export function anyNumber(value: string): number {
  const number = toNumber(value);
  if (!Number.isFinite(number)) throw new InvalidArgumentError("must be a number");
  return number;
}

/** A commander value parser accepting only the listed words. */
export function oneOf<T extends string>(...choices: T[]): (value: string) => T {
  return (value: string) => {
    if (!(choices as string[]).includes(value)) {
      throw new InvalidArgumentError(`must be one of: ${choices.join(", ")}`);
    }
    return value as T;
  };
}

/**
 * Splits `HOST:PORT`, `[v6]:PORT`, `HOST` or `:PORT`. Missing parts come
 * back undefined; a bad port throws `InvalidArgumentError`.
 */
export function parseHostPort(text: string): { hostname?: string; port?: number } {
  let host = text;
  let port: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1];
    port = bracketed[2];
  } else if ((text.match(/:/g) ?? []).length === 1) {
    [host, port] = text.split(":");
  }
  return {
    hostname: host === "" ? undefined : host,
    port: port === undefined ? undefined : numberIn(0, 65535)(port),
  };
}

/** Makes a commander program with Parley's name, version and help style. */
export function newProgram(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .version(VERSION, "-V, --version", "print the version and exit")
    .helpOption("-h, --help", "print this help and exit")
    .allowExcessArguments(false);
}

/** Where {@linkcode parseArgs} writes. */
export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}

const consoleOutput: CliOutput = {
  out: (text) => Deno.stdout.writeSync(new TextEncoder().encode(text)),
  err: (text) => Deno.stderr.writeSync(new TextEncoder().encode(text)),
};

/**
 * Parses `args` with `program`. `--help` and `--version` print and end with
 * exit code 0; a bad flag prints `name: error: …` and the usage line to
 * stderr and ends with {@linkcode EXIT_USAGE}.
 */
export function parseArgs<T>(
  program: Command,
  args: readonly string[],
  build: (options: Record<string, unknown>, operands: string[]) => T,
  output: CliOutput = consoleOutput,
): ParseOutcome<T> {
  // The usage shown is that of the command whose flags were wrong (a subcommand's own).
  let failing: Command = program;
  const label = () => failing === program ? program.name() : `${program.name()} ${failing.name()}`;
  const usage = () =>
    `Usage: ${label()} ${failing.usage()}\nRun '${label()} --help' for every option.\n`;
  // A subcommand's action may throw too (a bad operand): it is the one failing then.
  program.hook("preAction", (_, action) => void (failing = action));
  for (const command of [program, ...program.commands]) {
    command.exitOverride((error) => {
      failing = command;
      throw error;
    });
    command.configureOutput({
      writeOut: output.out,
      writeErr: output.err,
      outputError: () => {}, // written below, with the usage
      // Parley's help has no colours: answered here, so that commander never
      // probes NO_COLOR, FORCE_COLOR or CLICOLOR_FORCE (which the shipped
      // permissions do not grant: the probe would crash `--help`).
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    });
  }
  try {
    program.parse([...args], { from: "user" });
    return { ok: true, options: build(program.opts(), program.args) };
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return { ok: false, exitCode: 0 };
      const message = error.message.replace(/^error: /, "");
      output.err(`${label()}: error: ${message}\n${usage()}`);
      return { ok: false, exitCode: EXIT_USAGE };
    }
    if (error instanceof InvalidArgumentError || error instanceof RangeError) {
      output.err(`${label()}: error: ${error.message}\n${usage()}`);
      return { ok: false, exitCode: EXIT_USAGE };
    }
    throw error;
  }
}
