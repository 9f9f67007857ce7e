/**
 * The program of `udp_echo.ts`: `serve` runs a UDP echo server; `send` is its client
 * (replies with round-trip times, retries, a ping-like summary).
 *
 * @module
 */

import { createLogger, silentLogger } from "../support/log.ts";
import { LogWriter } from "../net/log_writer.ts";
import { parseUdpArgs } from "./udp_cli.ts";
import { readLines, runUdpEchoClient } from "../echo/udp_echo_client.ts";
import { serveUdpEcho } from "../echo/udp_echo_server.ts";
import { errorText, formatAddr } from "../net/conn.ts";
import { onStopSignals } from "./stop_signals.ts";
import { logOrigin } from "./log_origin.ts";

/** Runs `udp_echo.ts` with `args`; resolves with its exit code. */
export async function runUdpEcho(args: readonly string[]): Promise<number> {
  const parsed = parseUdpArgs(args);
  if (!parsed.ok) return parsed.exitCode;
  const config = parsed.options;
  const stop = new AbortController();
  onStopSignals(() => stop.abort()); // a later second signal exits at once

  if (config.command === "serve") {
    const logWriter = new LogWriter();
    const logger = config.quiet
      ? silentLogger
      : createLogger({ format: config.logFormat, write: logWriter.write, origin: logOrigin() });
    let server;
    try {
      server = serveUdpEcho({ ...config, logger });
    } catch (error) {
      console.error(
        `udp_echo: cannot listen on ${config.hostname}:${config.port}: ${errorText(error)}`,
      );
      return 1;
    }
    console.log(`parley udp echo server listening on ${formatAddr(server.addr)}`);
    stop.signal.addEventListener("abort", () => server.shutdown());
    await server.finished;
    const { datagrams, bytes, errors, droppedSelf, droppedServicePort, droppedRate } =
      server.counters;
    console.log(
      `udp echo: ${datagrams} datagrams, ${bytes} bytes, ${errors} errors; dropped: ` +
        `${droppedSelf} from itself, ${droppedServicePort} from service ports, ` +
        `${droppedRate} over the rate`,
    );
    await logWriter.flush(1000);
    return 0;
  }

  const requests = config.count !== undefined
    ? { count: config.count, size: config.size }
    : config.messages.length > 0
    ? config.messages
    : readLines(Deno.stdin, (line) => console.error(`udp_echo: ${line}`));
  const { exitCode } = await runUdpEchoClient({
    ...config,
    requests,
    print: console.log,
    signal: stop.signal,
  });
  return exitCode;
}
