/**
 * The flags of `udp_echo.ts serve` and `udp_echo.ts send`.
 *
 * @module
 */

import { Command } from "commander";
import {
  type CliOutput,
  newProgram,
  numberIn,
  oneOf,
  parseArgs,
  parseHostPort,
  type ParseOutcome,
} from "./cli.ts";
import {
  DEFAULT_HOST,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_PING_SIZE,
  DEFAULT_UDP_PORT,
  DEFAULT_UDP_REPLIES_PER_SECOND,
  DEFAULT_UDP_REPLY_BYTES_PER_SECOND,
  DEFAULT_UDP_RETRIES,
  DEFAULT_UDP_TIMEOUT_MS,
  MAX_UDP_PAYLOAD,
  VERSION,
} from "../support/constants.ts";
import type { LogFormat } from "../support/log.ts";
import { PROBE_HEADER_BYTES } from "../echo/udp_probe.ts";

/** What `udp_echo.ts` was asked to do. */
export type UdpConfig =
  | {
    command: "serve";
    hostname: string;
    port: number;
    reusePort: boolean;
    maxRepliesPerSecond: number;
    maxReplyBytesPerSecond: number;
    logFormat: LogFormat;
    quiet: boolean;
  }
  | {
    command: "send";
    target: { hostname: string; port: number };
    bind?: { hostname?: string; port?: number };
    timeout: number;
    retries: number;
    interval: number;
    /** Ping mode: this many requests of `size` bytes. */
    count?: number;
    size: number;
    /** Messages to send; none means stdin lines (unless `count`). */
    messages: string[];
  };

/** The `udp_echo.ts` program with its two subcommands. */
export function udpProgram(onParsed: (config: UdpConfig) => void): Command {
  const program = newProgram("udp_echo", "Parley's UDP echo server (serve) and client (send).");
  program.addCommand(
    new Command("serve")
      .description("echo every datagram back to its sender (RFC 862)")
      .version(VERSION, "-V, --version", "print the version and exit")
      .helpOption("-h, --help", "print this help and exit")
      .option("--host <host>", "interface to listen on", DEFAULT_HOST)
      .option("--port <port>", "UDP port (0 = any free port)", numberIn(0, 65535), DEFAULT_UDP_PORT)
      .option(
        "--reuse-port",
        "let a new process bind the port while the old one runs (the newest receives everything)",
        false,
      )
      .option(
        "--max-replies-per-ip <n>",
        "replies a second to one source address; more are dropped and counted (0 = no bound)",
        numberIn(0, 10_000_000),
        DEFAULT_UDP_REPLIES_PER_SECOND,
      )
      .option(
        "--max-reply-bytes-per-ip <n>",
        "reply bytes a second to one source address; more are dropped and counted (0 = no bound)",
        numberIn(0, 1024 ** 4),
        DEFAULT_UDP_REPLY_BYTES_PER_SECOND,
      )
      .option("--log-format <format>", "text or json", oneOf("text", "json"), "text")
      .option("-q, --quiet", "no logging", false)
      .allowExcessArguments(false)
      .action((flags) =>
        onParsed({
          command: "serve",
          hostname: flags.host,
          port: flags.port,
          reusePort: flags.reusePort,
          maxRepliesPerSecond: flags.maxRepliesPerIp,
          maxReplyBytesPerSecond: flags.maxReplyBytesPerIp,
          logFormat: flags.logFormat,
          quiet: flags.quiet,
        })
      ),
  );
  program.addCommand(
    new Command("send")
      .description("send requests to an echo server and report replies, loss and round trips")
      .version(VERSION, "-V, --version", "print the version and exit")
      .helpOption("-h, --help", "print this help and exit")
      .argument("<HOST:PORT>", "the echo server")
      .argument("[MESSAGE...]", "one request per MESSAGE (default: one per stdin line)")
      .option("--bind <host:port>", "local address to send from")
      .option(
        "--timeout <ms>",
        "wait this long for each reply",
        numberIn(1, 600_000),
        DEFAULT_UDP_TIMEOUT_MS,
      )
      .option("--retries <n>", "attempts after the first", numberIn(0, 100), DEFAULT_UDP_RETRIES)
      .option("--count <n>", "ping mode: send N requests of --size bytes", numberIn(1, 10_000_000))
      .option(
        "--interval <ms>",
        `ping mode: time between requests (default ${DEFAULT_PING_INTERVAL_MS})`,
        numberIn(0, 3_600_000),
      )
      .option(
        "--size <bytes>",
        "ping mode: datagram size, header included",
        numberIn(PROBE_HEADER_BYTES, MAX_UDP_PAYLOAD),
        DEFAULT_PING_SIZE,
      )
      .allowExcessArguments(false)
      .action((target: string, messages: string[], flags) => {
        const { hostname, port } = parseHostPort(target);
        if (hostname === undefined || port === undefined || port === 0) {
          throw new RangeError(
            `HOST:PORT needs a host and a port from 1 to 65535, received ${target}`,
          );
        }
        if (flags.count !== undefined && messages.length > 0) {
          throw new RangeError(
            "--count sends generated requests; give MESSAGE or --count, not both",
          );
        }
        onParsed({
          command: "send",
          target: { hostname, port },
          bind: flags.bind === undefined ? undefined : parseHostPort(flags.bind),
          timeout: flags.timeout,
          retries: flags.retries,
          interval: flags.interval ?? (flags.count !== undefined ? DEFAULT_PING_INTERVAL_MS : 0),
          count: flags.count,
          size: flags.size,
          messages,
        });
      }),
  );
  return program;
}

/**
 * Parses the arguments of `udp_echo.ts`.
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { parseUdpArgs } from "./udp_cli.ts";
 *
 * const outcome = parseUdpArgs(["send", "127.0.0.1:7879", "--count", "3"]);
 * ok(outcome.ok && outcome.options.command === "send" && outcome.options.count === 3);
 * ```
 */
export function parseUdpArgs(args: readonly string[], output?: CliOutput): ParseOutcome<UdpConfig> {
  let config: UdpConfig | undefined;
  const program = udpProgram((parsed) => (config = parsed));
  return parseArgs(program, args.length === 0 ? ["--help"] : args, () => {
    if (config === undefined) throw new RangeError("a command is needed: serve or send");
    return config;
  }, output);
}
