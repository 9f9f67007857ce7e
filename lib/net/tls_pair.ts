/**
 * A server's certificate and key (PEM): reading them from files and
 * checking that they can be used, with one clear line when not.
 *
 * The check is needed because, under Deno 2.9.6, `tls.createSecureContext()`
 * accepts anything (a key that does not match the certificate, or no PEM
 * at all) and the failure would only show at the first handshake. Here the
 * certificate is parsed (`X509Certificate`), the key too
 * (`createPrivateKey`), and the key is matched with the certificate
 * (`checkPrivateKey`): all the runtime's own code, no crypto by hand.
 *
 * @module
 */

import { createPrivateKey, X509Certificate } from "node:crypto";
import { CertificateError } from "../support/errors.ts";
import { errorLine } from "./conn.ts";

/** A certificate (its chain may follow it) and its private key, both PEM. */
export interface TlsPair {
  cert: string;
  key: string;
}

/** What a checked certificate says of itself. */
export interface CertificateInfo {
  /** `CN=localhost`. */
  subject: string;
  /** Subject alternative names: `DNS:localhost, IP Address:127.0.0.1` ("" when none). */
  names: string;
  validFrom: Date;
  validTo: Date;
}

/** How the two halves of a pair are named in error messages. */
export interface TlsPairNames {
  /** @default {"certificate"} */
  cert?: string;
  /** @default {"key"} */
  key?: string;
}

const PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----";
const PEM_PRIVATE_KEY = /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/;

/**
 * Checks that `pair` can serve TLS: a PEM certificate, an unencrypted PEM
 * private key, and the key belongs to the certificate. Throws a
 * {@linkcode CertificateError} saying what is wrong, otherwise returns what
 * the certificate says of itself.
 *
 * @example
 * ```ts
 * import { throws } from "node:assert/strict";
 * import { checkTlsPair } from "./tls_pair.ts";
 *
 * throws(() => checkTlsPair({ cert: "hello", key: "" }), /certificate is not a PEM certificate/);
 * ```
 */
export function checkTlsPair(pair: TlsPair, names: TlsPairNames = {}): CertificateInfo {
  const certName = names.cert ?? "certificate";
  const keyName = names.key ?? "key";
  if (!pair.cert.includes(PEM_CERTIFICATE)) {
    throw new CertificateError(`${certName} is not a PEM certificate (no ${PEM_CERTIFICATE})`);
  }
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pair.cert);
  } catch (error) {
    throw new CertificateError(`${certName} cannot be parsed: ${errorLine(error)}`, {
      cause: error,
    });
  }
  if (/ENCRYPTED/.test(pair.key)) {
    throw new CertificateError(
      `${keyName} is encrypted with a passphrase; give the server an unencrypted key`,
    );
  }
  if (!PEM_PRIVATE_KEY.test(pair.key)) {
    throw new CertificateError(
      `${keyName} is not a PEM private key (no -----BEGIN PRIVATE KEY-----)`,
    );
  }
  let matches: boolean;
  try {
    matches = certificate.checkPrivateKey(createPrivateKey(pair.key));
  } catch (error) {
    throw new CertificateError(`${keyName} cannot be parsed: ${errorLine(error)}`, {
      cause: error,
    });
  }
  if (!matches) throw new CertificateError(`${keyName} does not match ${certName}`);
  return {
    subject: certificate.subject.replace(/\n/g, ", "),
    names: certificate.subjectAltName ?? "",
    validFrom: new Date(certificate.validFrom),
    validTo: new Date(certificate.validTo),
  };
}

/**
 * Reads and checks a certificate file and a key file (PEM). Throws a
 * {@linkcode CertificateError} naming the file and the problem:
 * `cannot read certificate /etc/parley/cert.pem: no such file`.
 */
export async function readTlsPair(
  certFile: string,
  keyFile: string,
): Promise<{ pair: TlsPair; info: CertificateInfo }> {
  const read = async (what: string, file: string) => {
    try {
      return await Deno.readTextFile(file);
    } catch (error) {
      throw new CertificateError(`cannot read ${what} ${file}: ${fileProblem(error)}`, {
        cause: error,
      });
    }
  };
  const pair = { cert: await read("certificate", certFile), key: await read("key", keyFile) };
  const info = checkTlsPair(pair, { cert: `certificate ${certFile}`, key: `key ${keyFile}` });
  return { pair, info };
}

/** Why a file cannot be read, in a few words. */
function fileProblem(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  if (error instanceof Deno.errors.NotCapable) return "no read permission (deno run --allow-read)";
  return errorLine(error);
}
