/**
 * `client.ts`: Parley's chat client. In a terminal, a full-duplex line
 * editor; in a pipe, `nc -N`-like. Flags: `--help` and the README.
 *
 * @module
 */

import {
  connectTcp,
  runPipeSession,
  runTerminalSession,
  type SessionIo,
} from "./lib/client/sessions.ts";
import { parseClientArgs } from "./lib/cli/client_cli.ts";
import { ConnectionError } from "./lib/support/errors.ts";

const encoder = new TextEncoder();

async function main(): Promise<number> {
  const parsed = parseClientArgs(Deno.args, { NO_COLOR: Deno.env.get("NO_COLOR") });
  if (!parsed.ok) return parsed.exitCode;
  const { hostname, port, connectTimeout, colour, nick } = parsed.options;
  let conn;
  try {
    conn = await connectTcp({ hostname, port, timeout: connectTimeout });
  } catch (error) {
    if (!(error instanceof ConnectionError)) throw error;
    console.error(`client: ${error.message}`);
    return 1;
  }
  const io: SessionIo = {
    stdin: Deno.stdin,
    stdout: Deno.stdout,
    reportError: (message) => console.error(`client: ${message}`),
  };
  if (!Deno.stdin.isTerminal()) return await runPipeSession(conn, io, { nick });

  const restore = () => Deno.stdin.setRaw(false);
  const onSignal = () => {
    restore();
    Deno.exit(1);
  };
  Deno.stdin.setRaw(true);
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGHUP", onSignal);
  try {
    return await runTerminalSession(conn, {
      ...io,
      columns: () => Deno.consoleSize().columns,
      draw: (text) => {
        const bytes = encoder.encode(text);
        let offset = 0;
        while (offset < bytes.length) offset += Deno.stdout.writeSync(bytes.subarray(offset));
      },
    }, { nick, colour: colour && Deno.stdout.isTerminal() });
  } finally {
    restore();
  }
}

if (import.meta.main) Deno.exit(await main());
