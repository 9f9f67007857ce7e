/**
 * The program of `server.ts`: Parley's chat server (TCP lines and WebSocket in the same
 * rooms), or with `--mode echo` a TCP and WebSocket echo server. Flags are
 * listed by `--help` and in the README.
 *
 * @module
 */

import { serveEcho } from "../echo/serve_echo.ts";
import { parseServerArgs } from "./server_cli.ts";
import { formatListening } from "./listening.ts";
import { formatAddr } from "../net/conn.ts";
import { CertificateError, ConnectionError, ListenError } from "../support/errors.ts";
import { DEFAULT_ANNOUNCE_LIMIT, DEFAULT_HISTORY } from "../support/constants.ts";
import { descriptorWarning, openFileLimit } from "../net/limits.ts";
import { LogWriter } from "../net/log_writer.ts";
import type { ParleyServer } from "../net/lifecycle.ts";
import { serveChat } from "../server/serve_chat.ts";
import { createLogger, type Logger, silentLogger } from "../support/log.ts";
import type { TlsFiles } from "./server_cli.ts";
import { readTlsPair } from "../net/tls_pair.ts";
import { runHashPassword } from "./hash_password.ts";
import { OperatorsFileError, readOperators } from "./operators_file.ts";

/** Runs `server.ts` with `args`; resolves with its exit code. */
export async function runServer(args: readonly string[]): Promise<number> {
  if (args[0] === "hash-password") return await runHashPassword(args.slice(1));
  const parsed = parseServerArgs(args);
  if (!parsed.ok) return parsed.exitCode;
  const { mode, quiet, logFormat, tls } = parsed.options;
  let { options } = parsed.options;
  const logWriter = new LogWriter();
  const logger = quiet ? silentLogger : createLogger({ format: logFormat, write: logWriter.write });
  let server: ParleyServer;
  try {
    if (tls !== undefined) {
      const { pair, info } = await readTlsPair(tls.certFile, tls.keyFile);
      if (info.validTo.getTime() < Date.now()) {
        console.error(
          `server: warning: certificate ${tls.certFile} expired on ${info.validTo.toISOString()}`,
        );
      }
      options = { ...options, tls: pair };
    }
    if (parsed.options.mode === "chat" && parsed.options.operatorsFile !== undefined) {
      options = { ...options, operators: await readOperators(parsed.options.operatorsFile) };
    }
    if (parsed.options.mode === "chat" && parsed.options.redis !== undefined) {
      const { url, cluster } = parsed.options.redis;
      const chat = parsed.options.options;
      // Loaded only when asked for: a server without --redis never loads the client.
      const { RedisDirectory } = await import("../cluster/redis_directory.ts");
      // Bans, registered nicks and topics too (lib/cluster/redis_moderation.ts).
      const { RedisModeration } = await import("../cluster/redis_moderation.ts");
      options = {
        ...options,
        sharedModeration: await RedisModeration.open({ url, cluster, logger }),
      };
      options = {
        ...options,
        directory: await RedisDirectory.connect({
          url,
          cluster,
          historyLines: chat.history ?? DEFAULT_HISTORY,
          announceLimit: chat.announceLimit ?? DEFAULT_ANNOUNCE_LIMIT,
          logger,
        }),
      };
    }
    server = mode === "echo"
      ? serveEcho({ ...options, logger })
      : serveChat({ ...options, logger });
    await server.ready;
  } catch (error) {
    if (
      !(error instanceof ListenError || error instanceof CertificateError ||
        error instanceof ConnectionError || error instanceof OperatorsFileError)
    ) throw error;
    console.error(`server: ${error.message}`);
    return 1;
  }
  const warning = descriptorWarning(await openFileLimit(), server.descriptorsNeeded);
  if (warning !== null) console.error(`server: warning: ${warning}`);
  if (parsed.options.mode === "chat" && parsed.options.redis !== undefined) {
    logger({
      event: "listen",
      redis: parsed.options.redis.url,
      cluster: parsed.options.redis.cluster,
    });
  }
  const addresses = formatListening({
    tcp: formatAddr(server.addr),
    ...(server.httpAddr === null ? {} : { http: formatAddr(server.httpAddr) }),
    tls: tls !== undefined,
  });
  console.log(`parley ${mode} server listening on ${addresses}`);
  let signalled = false;
  const onSignal = () => {
    if (signalled) Deno.exit(130); // a second signal: stop at once
    signalled = true;
    server.shutdown();
  };
  const signals = ["SIGINT", "SIGTERM"] as const;
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  // SIGHUP never ends the server (systemctl reload): it reloads what can be reloaded.
  const onReload = () =>
    tls === undefined
      ? logger({ event: "warning", reason: "SIGHUP: nothing to reload (no --tls-cert)" })
      : void reloadTls(server, tls, logger);
  Deno.addSignalListener("SIGHUP", onReload);
  await server.finished;
  for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
  Deno.removeSignalListener("SIGHUP", onReload);
  await logWriter.flush(1000);
  return 0;
}

/** SIGHUP: the renewed certificate and key serve new connections; on failure the old pair stays. */
async function reloadTls(server: ParleyServer, files: TlsFiles, logger: Logger): Promise<void> {
  try {
    const { pair, info } = await readTlsPair(files.certFile, files.keyFile);
    server.reloadTls(pair);
    logger({
      event: "tls",
      reason: "certificate reloaded",
      subject: info.subject,
      expires: info.validTo.toISOString(),
    });
  } catch (error) {
    // Whatever went wrong (a bad pair, an unreadable file), the server keeps serving.
    const problem = error instanceof Error ? error.message : String(error);
    logger({
      event: "tls",
      reason: `reload failed, keeping the certificate in use: ${problem}`,
    });
  }
}
