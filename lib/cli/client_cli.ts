/**
 * The flags of `client.ts`.
 *
 * @module
 */

import type { Command } from "commander";
import {
  type CliOutput,
  newProgram,
  numberIn,
  parseArgs,
  parseHostPort,
  type ParseOutcome,
} from "./cli.ts";
import {
  DEFAULT_CHAT_PORT,
  DEFAULT_CLIENT_HOST,
  DEFAULT_CONNECT_TIMEOUT_MS,
} from "../support/constants.ts";

/** What `client.ts` was asked to do. */
export interface ClientConfig {
  hostname: string;
  port: number;
  nick?: string;
  connectTimeout: number;
  /** False with `--no-color` or when `NO_COLOR` is set (and non-empty). */
  colour: boolean;
}

/** The `client.ts` program: every flag with its default. */
export function clientProgram(): Command {
  return newProgram(
    "client",
    "Parley's terminal chat client: full duplex, never clobbers what you type; in a pipe it behaves like nc -N.",
  )
    .argument(
      "[HOST[:PORT]]",
      `server to connect to (default ${DEFAULT_CLIENT_HOST}:${DEFAULT_CHAT_PORT})`,
    )
    .option("--host <host>", "server host (overrides HOST)")
    .option("--port <port>", "server port (overrides PORT)", numberIn(1, 65535))
    .option("--nick <name>", "set this nick right after connecting")
    .option(
      "--connect-timeout <ms>",
      "how long to wait for the connection",
      numberIn(1, 3_600_000),
      DEFAULT_CONNECT_TIMEOUT_MS,
    )
    .option("--no-color", "no colours (also when NO_COLOR is set)");
}

/**
 * Parses the arguments of `client.ts`; `env` supplies `NO_COLOR`.
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { parseClientArgs } from "./client_cli.ts";
 *
 * const outcome = parseClientArgs(["chat.example:7000", "--nick", "ann"], {});
 * deepEqual(outcome.ok && [outcome.options.hostname, outcome.options.port], ["chat.example", 7000]);
 * ```
 */
export function parseClientArgs(
  args: readonly string[],
  env: { NO_COLOR?: string },
  output?: CliOutput,
): ParseOutcome<ClientConfig> {
  return parseArgs(clientProgram(), args, (flags, operands) => {
    const target = operands[0] === undefined ? {} : parseHostPort(operands[0]);
    return {
      hostname: (flags.host as string | undefined) ?? target.hostname ?? DEFAULT_CLIENT_HOST,
      port: (flags.port as number | undefined) ?? target.port ?? DEFAULT_CHAT_PORT,
      nick: flags.nick as string | undefined,
      connectTimeout: flags.connectTimeout as number,
      colour: flags.color !== false && (env.NO_COLOR ?? "") === "",
    };
  }, output);
}
