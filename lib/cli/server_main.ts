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
import { logOrigin } from "./log_origin.ts";
import type { TlsFiles } from "./server_cli.ts";
import { readTlsPair } from "../net/tls_pair.ts";
import { runHashPassword } from "./hash_password.ts";
import { OperatorsFileError, readOperators } from "./operators_file.ts";
import { onStopSignals } from "./stop_signals.ts";

/** Runs `server.ts` with `args`; resolves with its exit code. */
export async function runServer(args: readonly string[]): Promise<number> {
  if (args[0] === "hash-password") return await runHashPassword(args.slice(1));
  const parsed = parseServerArgs(args);
  if (!parsed.ok) return parsed.exitCode;
  const { mode, quiet, logFormat, tls } = parsed.options;
  let { options } = parsed.options;
  const logWriter = new LogWriter();
  // A cluster node's id is chosen here, so that its log lines carry it from the first.
  const nodeId = parsed.options.mode === "chat" && parsed.options.redis !== undefined
    ? crypto.randomUUID().slice(0, 8)
    : undefined;
  const logger = quiet ? silentLogger : createLogger({
    format: logFormat,
    write: logWriter.write,
    origin: logOrigin(nodeId),
  });
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
      const { url, cluster, redisCluster } = parsed.options.redis;
      const chat = parsed.options.options;
      // Loaded only when asked for: a server without --redis never loads the client.
      const { RedisDirectory } = await import("../cluster/redis_directory.ts");
      // Bans, registered nicks and topics too (lib/cluster/redis_moderation.ts).
      const { RedisModeration } = await import("../cluster/redis_moderation.ts");
      options = {
        ...options,
        sharedModeration: await RedisModeration.open({ url, cluster, redisCluster, logger }),
      };
      options = {
        ...options,
        directory: await RedisDirectory.connect({
          url,
          cluster,
          redisCluster,
          historyLines: chat.history ?? DEFAULT_HISTORY,
          announceLimit: chat.announceLimit ?? DEFAULT_ANNOUNCE_LIMIT,
          logger,
          nodeId,
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
    console.error(`server: ${startProblem(error, options)}`);
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
  // A later second signal stops at once; deno task's forwarded copy does not.
  const stopListening = onStopSignals(() => server.shutdown());
  // SIGHUP never ends the server (systemctl reload): it reloads what can be reloaded.
  const onReload = () =>
    tls === undefined
      ? logger({ event: "warning", reason: "SIGHUP: nothing to reload (no --tls-cert)" })
      : void reloadTls(server, tls, logger);
  Deno.addSignalListener("SIGHUP", onReload);
  await server.finished;
  stopListening();
  Deno.removeSignalListener("SIGHUP", onReload);
  await logWriter.flush(1000);
  return 0;
}

/**
 * The line for a server that could not start; a port that cannot be bound
 * is named by its flag (`--port`, `--http-port`), so a busy HTTP port is not
 * mistaken for the chat port.
 */
function startProblem(error: Error, options: { port?: number; httpPort?: number }): string {
  if (!(error instanceof ListenError)) return error.message;
  const port = Number(/:(\d+)$/.exec(error.address)?.[1]);
  const flag = port === options.httpPort && port !== options.port
    ? "--http-port"
    : port === options.port && port !== options.httpPort
    ? "--port"
    : undefined;
  return flag === undefined ? error.message : error.message.replace(
    `cannot listen on ${error.address}:`,
    `cannot listen on ${error.address} (${flag} ${port}):`,
  );
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
