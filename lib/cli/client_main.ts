/**
 * The program of `client.ts`: Parley's chat client. In a terminal, a full-duplex line
 * editor; in a pipe, `nc -N`-like. Given a `ws://` URL it speaks WebSocket
 * (in a pipe, like wscat); `tls://` (or `--tls`) and `wss://` are the same
 * over TLS. Flags: `--help` and the README.
 *
 * @module
 */

import { connectTcp, runPipeSession, runTerminalSession } from "../client/sessions.ts";
import type { SessionIo, TerminalIo } from "../client/terminal_chat.ts";
import { connectWebSocket } from "../client/websocket.ts";
import { connectTls, type TlsTrust } from "../client/tls_connect.ts";
import {
  runWebSocketPipeSession,
  runWebSocketTerminalSession,
  type WebSocketConnector,
} from "../client/ws_sessions.ts";
import { type ClientConfig, parseClientArgs, type TlsSettings } from "./client_cli.ts";
import { ConnectionError } from "../support/errors.ts";
import { readHidden } from "./hidden_input.ts";
import { errorText } from "../net/conn.ts";

const encoder = new TextEncoder();

const io: SessionIo = {
  stdin: Deno.stdin,
  stdout: Deno.stdout,
  reportError: (message) => console.error(`client: ${message}`),
};

/** Runs `client.ts` with `args`; resolves with its exit code. */
export async function runClient(args: readonly string[]): Promise<number> {
  const parsed = parseClientArgs(args, { NO_COLOR: Deno.env.get("NO_COLOR") });
  if (!parsed.ok) return parsed.exitCode;
  const config = parsed.options;
  let { nick } = config;
  if (nick !== undefined && config.password !== undefined) {
    let password = config.password;
    if (password === true) { // asked for, without echo
      const typed = Deno.stdin.isTerminal() ? await readHidden(`password for ${nick}: `) : null;
      if (typed === null || typed === "") {
        io.reportError("--password without a value needs a terminal to type it in");
        return 1;
      }
      password = typed;
    }
    nick = `${nick} ${password}`; // sent as /nick NAME PASSWORD
  }
  const colour = config.colour && Deno.stdout.isTerminal();
  const trust = config.tls === undefined ? undefined : await tlsTrust(config.tls);
  if (trust === null) return 1;
  if (config.websocket !== undefined) {
    const connect = webSocketConnector(config, trust);
    if (!Deno.stdin.isTerminal()) {
      return await runWebSocketPipeSession(connect, io, { nick, binary: config.websocket.binary });
    }
    return await inRawTerminal((terminal) =>
      runWebSocketTerminalSession(connect, terminal, { nick, colour })
    );
  }

  let conn;
  try {
    const target = { hostname: config.hostname, port: config.port, timeout: config.connectTimeout };
    conn = trust === undefined
      ? await connectTcp(target)
      : await connectTls({ ...target, ...trust });
  } catch (error) {
    if (!(error instanceof ConnectionError)) throw error;
    io.reportError(error.message);
    return 1;
  }
  const target = { hostname: config.hostname, port: config.port, tls: trust !== undefined };
  if (!Deno.stdin.isTerminal()) return await runPipeSession(conn, io, { nick, target });
  return await inRawTerminal((terminal) =>
    runTerminalSession(conn, terminal, { nick, colour, target })
  );
}

/**
 * The trust of `--ca` and `--insecure` (warned about on every run); null,
 * after one line on stderr, when the `--ca` file cannot be used.
 */
async function tlsTrust(settings: TlsSettings): Promise<TlsTrust | null> {
  if (settings.insecure) {
    io.reportError("warning: --insecure: the server's certificate is not verified");
  }
  if (settings.caFile === undefined) return { insecure: settings.insecure };
  let ca: string;
  try {
    ca = await Deno.readTextFile(settings.caFile);
  } catch (error) {
    const problem = error instanceof Deno.errors.NotFound ? "no such file" : errorText(error);
    io.reportError(`cannot read --ca ${settings.caFile}: ${problem}`);
    return null;
  }
  if (!ca.includes("-----BEGIN CERTIFICATE-----")) {
    io.reportError(`--ca ${settings.caFile} is not a PEM certificate`);
    return null;
  }
  return { ca, insecure: settings.insecure };
}

function webSocketConnector(config: ClientConfig, trust: TlsTrust | undefined): WebSocketConnector {
  const target = config.websocket!;
  return (events) =>
    connectWebSocket(target.url, {
      ...events,
      ...trust,
      headers: target.headers,
      subprotocols: target.subprotocols,
      origin: target.origin,
      pingInterval: target.pingInterval,
      timeout: config.connectTimeout,
    });
}

/** Runs a terminal session with stdin in raw mode, restoring it whatever happens. */
async function inRawTerminal(run: (terminal: TerminalIo) => Promise<number>): Promise<number> {
  const restore = () => Deno.stdin.setRaw(false);
  const onSignal = () => {
    restore();
    Deno.exit(1);
  };
  Deno.stdin.setRaw(true);
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGHUP", onSignal);
  try {
    return await run({
      ...io,
      columns: () => Deno.consoleSize().columns,
      draw: (text) => {
        const bytes = encoder.encode(text);
        let offset = 0;
        while (offset < bytes.length) offset += Deno.stdout.writeSync(bytes.subarray(offset));
      },
    });
  } finally {
    restore();
  }
}
