/**
 * `server.ts`: Parley's chat server (TCP lines and WebSocket in the same
 * rooms), or with `--mode echo` a TCP and WebSocket echo server. Flags are
 * listed by `--help` and in the README.
 *
 * @module
 */

import { serveEcho } from "./lib/echo/serve_echo.ts";
import { parseServerArgs } from "./lib/cli/server_cli.ts";
import { formatAddr } from "./lib/net/conn.ts";
import { ListenError } from "./lib/support/errors.ts";
import { descriptorWarning, openFileLimit } from "./lib/net/limits.ts";
import { LogWriter } from "./lib/net/log_writer.ts";
import type { ParleyServer } from "./lib/net/server.ts";
import { serveChat } from "./lib/server/serve_chat.ts";
import { createLogger, silentLogger } from "./lib/support/log.ts";

async function main(): Promise<number> {
  const parsed = parseServerArgs(Deno.args);
  if (!parsed.ok) return parsed.exitCode;
  const { mode, options, quiet, logFormat } = parsed.options;
  const logWriter = new LogWriter();
  const logger = quiet ? silentLogger : createLogger({ format: logFormat, write: logWriter.write });
  let server: ParleyServer;
  try {
    server = mode === "echo"
      ? serveEcho({ ...options, logger })
      : serveChat({ ...options, logger });
    await server.ready;
  } catch (error) {
    if (!(error instanceof ListenError)) throw error;
    console.error(`server: ${error.message}`);
    return 1;
  }
  const warning = descriptorWarning(await openFileLimit(), server.descriptorsNeeded);
  if (warning !== null) console.error(`server: warning: ${warning}`);
  const http = server.httpAddr === null ? "" : ` http=${formatAddr(server.httpAddr)}`;
  console.log(`parley ${mode} server listening on tcp=${formatAddr(server.addr)}${http}`);
  let signalled = false;
  const onSignal = () => {
    if (signalled) Deno.exit(130); // a second signal: stop at once
    signalled = true;
    server.shutdown();
  };
  const signals = ["SIGINT", "SIGTERM"] as const;
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  await server.finished;
  for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
  await logWriter.flush(1000);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
