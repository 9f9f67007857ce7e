/**
 * `server.ts`: Parley's TCP chat server, or with `--mode echo` an RFC 862
 * echo server. Flags are listed by `--help` and in the README.
 *
 * @module
 */

import { serveChat } from "./lib/server/serve_chat.ts";
import { serveEcho } from "./lib/echo/tcp_echo.ts";
import { createLogger, silentLogger } from "./lib/support/log.ts";
import { parseServerArgs } from "./lib/cli/server_cli.ts";
import { errorText, formatAddr } from "./lib/net/conn.ts";

async function main(): Promise<number> {
  const parsed = parseServerArgs(Deno.args);
  if (!parsed.ok) return parsed.exitCode;
  const { mode, options, quiet, logFormat } = parsed.options;
  const logger = quiet ? silentLogger : createLogger({ format: logFormat });
  let server;
  try {
    server = mode === "echo"
      ? serveEcho({ ...options, logger })
      : serveChat({ ...options, logger });
  } catch (error) {
    console.error(
      `server: cannot listen on ${options.hostname}:${options.port}: ${errorText(error)}`,
    );
    return 1;
  }
  console.log(`parley ${mode} server listening on ${formatAddr(server.addr)}`);
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
  return 0;
}

if (import.meta.main) Deno.exit(await main());
