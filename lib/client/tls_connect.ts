/**
 * The client side of TLS: connecting to a `tls://` server, the trust
 * options shared with `wss://` (npm `ws` takes the same `node:tls`
 * options), and one clear line when a certificate is refused.
 *
 * Trust: by default the runtime checks the chain against its default
 * roots (under Deno, Mozilla's bundled roots; `DENO_TLS_CA_STORE=system`
 * uses the operating system's store, and `DENO_CERT=FILE` adds a root to
 * them) and the host name. `ca` trusts that CA (PEM) in place of the
 * default roots, as Node's `ca` option and `curl --cacert` do: adding it
 * to them would need `tls.rootCertificates`, which under Deno 2.9.6
 * requires the unscoped `--allow-sys` (`--allow-sys=ca` is refused).
 * `insecure` turns verification off.
 *
 * Explaining a refusal: under Deno 2.9.6 `node:tls` reports every chain
 * problem (expired, unknown issuer, self-signed) as
 * `UNABLE_TO_VERIFY_LEAF_SIGNATURE`. So after a refusal the client makes a
 * second handshake with verification off, only to read the certificate
 * (nothing is ever sent over it), and says what is wrong with it:
 * `certificate for localhost has expired (…)`,
 * `certificate is for other.example, not localhost`, or
 * `certificate for localhost is not trusted: issued by "…", which is not a trusted root`.
 *
 * @module
 */

import { isIP } from "node:net";
import tls from "node:tls";
import { ConnDuplex } from "../net/conn_duplex.ts";
import { closeQuietly, errorLine, errorText, formatAddr } from "../net/conn.ts";
import { SocketConn } from "../net/socket_conn.ts";
import { DEFAULT_CONNECT_TIMEOUT_MS } from "../support/constants.ts";
import { ConnectionError } from "../support/errors.ts";
import { connectTcp, type ConnectTcpOptions } from "./sessions.ts";

/** How the client trusts a server's certificate. */
export interface TlsTrust {
  /** The CA to trust (PEM, `--ca FILE`), in place of the default roots. @default {the default roots} */
  ca?: string;
  /** Do not verify the certificate at all (`--insecure`). @default {false} */
  insecure?: boolean;
}

/**
 * The `node:tls` connect options that verify `hostname` with `trust`
 * (`servername`, `ca`, `rejectUnauthorized`), for `tls.connect()` and npm
 * `ws` alike.
 */
export function tlsClientOptions(
  hostname: string,
  trust: TlsTrust,
): Pick<tls.ConnectionOptions, "servername" | "ca" | "rejectUnauthorized"> {
  return {
    // SNI carries names only; an address is checked against the IP names.
    ...(isIP(hostname) === 0 ? { servername: hostname } : {}),
    ...(trust.ca === undefined ? {} : { ca: trust.ca }),
    rejectUnauthorized: trust.insecure !== true,
  };
}

/** Options of {@linkcode connectTls}. */
export interface ConnectTlsOptions extends ConnectTcpOptions, TlsTrust {}

/**
 * Connects and completes a TLS handshake within `timeout` (both
 * together). Failures reject with a {@linkcode ConnectionError} whose
 * message is one line: `cannot connect to host:7878: connection refused`,
 * or for a refused certificate `certificate for host has expired (…)`.
 */
export async function connectTls(options: ConnectTlsOptions): Promise<SocketConn> {
  const timeout = options.timeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const deadline = performance.now() + timeout;
  const conn = await connectTcp(options);
  const target = formatAddr({ hostname: options.hostname, port: options.port });
  let socket: tls.TLSSocket;
  const duplex = new ConnDuplex(conn);
  try {
    socket = await handshake(duplex, options, deadline - performance.now());
  } catch (error) {
    closeQuietly(conn);
    if (error instanceof HandshakeTimeout) {
      throw new ConnectionError(
        `cannot connect to ${target}: the tls handshake timed out after ${timeout} ms`,
      );
    }
    if (isCertificateRefusal(error)) {
      const message = await explainRefusal(error, {
        ...options,
        timeout: deadline - performance.now(),
      });
      throw new ConnectionError(message, { cause: error });
    }
    throw new ConnectionError(`cannot connect to ${target}: ${tlsProblem(error)}`, {
      cause: error,
    });
  }
  return new SocketConn(socket, conn.remoteAddr, duplex);
}

class HandshakeTimeout extends Error {}

function handshake(
  duplex: ConnDuplex,
  options: ConnectTlsOptions,
  leftMs: number,
): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      socket: duplex, // half-open, as the Duplex is: `nc -N` semantics
      ...tlsClientOptions(options.hostname, options),
    });
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      socket.destroy();
      reject(new HandshakeTimeout());
    }, Math.max(0, leftMs));
    socket.once("secureConnect", () => {
      settled = true;
      clearTimeout(timer);
      resolve(socket);
    });
    // Stays for the socket's life (an 'error' without a listener throws);
    // once secure, the connection's owner sees errors through its own.
    socket.on("error", (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
  });
}

/** Error codes of a certificate the client refused. */
const CERTIFICATE_CODES =
  /^(ERR_TLS_CERT_ALTNAME_INVALID|UNABLE_TO_|CERT_|DEPTH_ZERO_|SELF_SIGNED_)/;

/** True when `error` is the client refusing the server's certificate. */
export function isCertificateRefusal(error: unknown): boolean {
  return CERTIFICATE_CODES.test((error as { code?: string })?.code ?? "");
}

/** A failed handshake (not a refused certificate) in a few words. */
function tlsProblem(error: unknown): string {
  const code = (error as { code?: string })?.code ?? "";
  if (code === "ECONNRESET" || code === "EPIPE") {
    return "connection reset during the tls handshake (is it a tls port?)";
  }
  if (/WRONG_VERSION_NUMBER|InvalidContentType/i.test(`${code} ${errorText(error)}`)) {
    return "the server does not speak tls on this port";
  }
  return `tls handshake failed: ${errorLine(error)}`;
}

/**
 * Why the certificate of `options.hostname` was refused (`error`), in one
 * line: a second handshake without verification, within
 * `options.timeout`, reads the certificate (and sends nothing), then
 * {@linkcode certificateProblem} explains it.
 */
export async function explainRefusal(
  error: unknown,
  options: ConnectTcpOptions & TlsTrust,
): Promise<string> {
  const fallback = `certificate for ${options.hostname} is not trusted: ${errorText(error)}`;
  const deadline = performance.now() + (options.timeout ?? DEFAULT_CONNECT_TIMEOUT_MS);
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await connectTcp({ ...options, timeout: Math.max(1, deadline - performance.now()) });
    const left = deadline - performance.now();
    const probe = await handshake(new ConnDuplex(conn), { ...options, insecure: true }, left);
    const certificate = probe.getPeerCertificate(true);
    probe.destroy();
    return certificateProblem(options.hostname, certificate) ?? fallback;
  } catch {
    return fallback;
  } finally {
    if (conn !== undefined) closeQuietly(conn);
  }
}

/**
 * What is wrong with `certificate` for `hostname`, or null when nothing
 * shows (the caller then says what the runtime said): the name, the
 * dates, then the issuer.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import type tls from "node:tls";
 * import { certificateProblem } from "./tls_connect.ts";
 *
 * const certificate = {
 *   subject: { CN: "other.example" },
 *   issuer: { CN: "Example CA" },
 *   subjectaltname: "DNS:other.example",
 *   valid_from: "Jan  1 00:00:00 2020 GMT",
 *   valid_to: "Jan  1 00:00:00 2100 GMT",
 * } as unknown as tls.PeerCertificate;
 * equal(certificateProblem("localhost", certificate), "certificate is for other.example, not localhost");
 * ```
 */
export function certificateProblem(
  hostname: string,
  certificate: tls.PeerCertificate,
  now = Date.now(),
): string | null {
  if (certificate === undefined || certificate.subject === undefined) return null;
  if (tls.checkServerIdentity(hostname, certificate) !== undefined) {
    return `certificate is for ${certificateNames(certificate)}, not ${hostname}`;
  }
  const validTo = Date.parse(certificate.valid_to);
  if (validTo < now) {
    return `certificate for ${hostname} has expired (valid until ${
      new Date(validTo).toISOString()
    })`;
  }
  const validFrom = Date.parse(certificate.valid_from);
  if (validFrom > now) {
    return `certificate for ${hostname} is not valid yet (valid from ${
      new Date(validFrom).toISOString()
    })`;
  }
  const issuer = certificate.issuer?.CN ?? certificate.issuer?.O ?? "an unknown issuer";
  if (issuer === certificate.subject.CN && certificate.issuer?.O === certificate.subject.O) {
    return `certificate for ${hostname} is not trusted: it is self-signed ` +
      `(trust it with --ca FILE)`;
  }
  return `certificate for ${hostname} is not trusted: issued by "${issuer}", ` +
    `which is not a trusted root (add it with --ca FILE)`;
}

/** `other.example, 10.0.0.1`: the names a certificate is for. */
function certificateNames(certificate: tls.PeerCertificate): string {
  const names = (certificate.subjectaltname ?? "").split(/,\s*/)
    .map((name) => name.replace(/^(DNS|IP Address):/, ""))
    .filter((name) => name !== "");
  if (names.length > 0) return names.join(", ");
  return String(certificate.subject.CN ?? "no name");
}
