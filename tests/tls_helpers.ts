/**
 * Helpers for the TLS tests: throwaway certificates made with `openssl` at
 * test time (a CA, and certificates it signs), in a temporary directory
 * removed when the test process ends; and TLS line clients. Nothing here is
 * ever committed: every key is generated for one test run.
 *
 * Where `openssl` is missing, {@linkcode tlsTest} registers each test as
 * ignored, with the reason in its name.
 *
 * @module
 */

import tls from "node:tls";
import { WebSocket } from "ws";
import { LineClient, LOOPBACK, within } from "./helpers.ts";
import { serveChat } from "../lib/server/serve_chat.ts";

/** Why the TLS tests cannot run here, or null when they can. */
export const OPENSSL_MISSING: string | null = (() => {
  try {
    const { success } = new Deno.Command("openssl", { args: ["version"], stdout: "null" })
      .outputSync();
    return success ? null : "openssl version failed";
  } catch {
    return "openssl is not installed";
  }
})();

/**
 * `Deno.test`, ignored (with the reason in its name) where `openssl` is
 * missing.
 */
export function tlsTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name: OPENSSL_MISSING === null ? name : `${name} (ignored: ${OPENSSL_MISSING})`,
    ignore: OPENSSL_MISSING !== null,
    fn,
  });
}

/** A certificate and its key: the files, and their PEM text. */
export interface TestPair {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

/** Everything the TLS tests need, made once per test file. */
export interface TestCertificates {
  dir: string;
  /** The test CA's certificate (PEM) and its file. */
  ca: string;
  caFile: string;
  /** For `localhost` and 127.0.0.1, signed by the CA. */
  server: TestPair;
  /** A second pair for the same names (the reload test). */
  renewed: TestPair;
  /** For `other.example` only. */
  other: TestPair;
  /** For `localhost`, valid only in January 2020. */
  expired: TestPair;
}

const CA_CONFIG = `
[ ca ]
default_ca = test_ca
[ test_ca ]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any_name
copy_extensions = none
unique_subject = no
[ any_name ]
commonName = supplied
[ localhost ]
subjectAltName = DNS:localhost, IP:127.0.0.1
basicConstraints = critical, CA:FALSE
extendedKeyUsage = serverAuth
[ other ]
subjectAltName = DNS:other.example
basicConstraints = critical, CA:FALSE
extendedKeyUsage = serverAuth
`;

async function openssl(dir: string, args: string[]): Promise<void> {
  const { success, stderr } = await new Deno.Command("openssl", {
    args,
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(stderr)}`);
  }
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

/** Makes a key and a certificate signed by the CA in `dir`. */
async function signed(
  dir: string,
  name: string,
  subject: string,
  extensions: string,
  dates: string[],
): Promise<TestPair> {
  await openssl(dir, [
    "req",
    ...EC_KEY,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    `/CN=${subject}`,
  ]);
  await openssl(dir, [
    "ca",
    "-batch",
    "-config",
    "ca.cnf",
    "-cert",
    "ca.pem",
    "-keyfile",
    "ca.key",
    "-in",
    `${name}.csr`,
    "-out",
    `${name}.pem`,
    "-extensions",
    extensions,
    "-notext",
    ...dates,
  ]);
  const certFile = `${dir}/${name}.pem`;
  const keyFile = `${dir}/${name}.key`;
  return {
    certFile,
    keyFile,
    cert: await Deno.readTextFile(certFile),
    key: await Deno.readTextFile(keyFile),
  };
}

async function makeCertificates(): Promise<TestCertificates> {
  const dir = await Deno.makeTempDir({ prefix: "parley-tls-" });
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch { /* removed already */ }
  });
  await Deno.writeTextFile(`${dir}/ca.cnf`, CA_CONFIG);
  await Deno.writeTextFile(`${dir}/index.txt`, "");
  await Deno.writeTextFile(`${dir}/serial`, "1000\n");
  await openssl(dir, [
    "req",
    "-x509",
    ...EC_KEY,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=Parley Test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  const valid = ["-days", "2"];
  return {
    dir,
    ca: await Deno.readTextFile(`${dir}/ca.pem`),
    caFile: `${dir}/ca.pem`,
    server: await signed(dir, "server", "localhost", "localhost", valid),
    renewed: await signed(dir, "renewed", "localhost", "localhost", valid),
    other: await signed(dir, "other", "other.example", "other", valid),
    expired: await signed(dir, "expired", "localhost", "localhost", [
      "-startdate",
      "20200101000000Z",
      "-enddate",
      "20200102000000Z",
    ]),
  };
}

let made: Promise<TestCertificates> | undefined;

/** The test certificates, made on first use (once per test file). */
export function testCertificates(): Promise<TestCertificates> {
  made ??= makeCertificates();
  return made;
}

/**
 * Connects a line client over TLS with Deno's own TLS client (rustls, not
 * the server's `node:tls`), trusting `ca`, and checking the name `localhost`.
 */
export async function connectTlsLines(addr: Deno.NetAddr, ca: string): Promise<LineClient> {
  const conn = await Deno.connectTls({ hostname: "localhost", port: addr.port, caCerts: [ca] });
  await conn.handshake();
  // LineClient reads, writes and closes: a TlsConn does all three.
  return new LineClient(conn as unknown as Deno.TcpConn);
}

/** Connects over TLS and reads the welcome lines; `nick` is then the assigned nick. */
export async function connectTlsChat(addr: Deno.NetAddr, ca: string): Promise<LineClient> {
  const client = await connectTlsLines(addr, ca);
  const welcome = await client.nextMatching(/^\* welcome to /);
  client.nick = /, (\S+)$/.exec(welcome)![1];
  await client.nextMatching(/^\* \d+ online; /);
  return client;
}

/** A `wss://` client on npm `ws` (trusting `ca`) that hands out received lines in order. */
export class WssLines implements AsyncDisposable {
  readonly ws: WebSocket;
  nick = "";
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;
  readonly #lines: string[] = [];
  #wake: (() => void) | null = null;

  constructor(url: string, ca: string) {
    this.ws = new WebSocket(url, { ca });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
    });
    this.opened.catch(() => {});
    this.ws.on("error", () => {}); // reported through `opened`
    this.ws.on("message", (data: Uint8Array) => {
      this.#lines.push(...new TextDecoder().decode(data).split("\n"));
      this.#wake?.();
    });
    this.closed = new Promise((resolve) => this.ws.once("close", (code: number) => resolve(code)));
  }

  /** Skips lines until one matches `pattern`; returns it. */
  async nextMatching(pattern: RegExp): Promise<string> {
    while (true) {
      const line = this.#lines.shift();
      if (line !== undefined && pattern.test(line)) return line;
      if (line === undefined) {
        await within(new Promise<void>((resolve) => (this.#wake = resolve)), `a line ${pattern}`);
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close();
    await this.closed;
  }
}

/** Opens `wss://127.0.0.1:PORT/ws` trusting `ca`, and reads the welcome. */
export async function connectWssChat(httpAddr: Deno.NetAddr, ca: string): Promise<WssLines> {
  const client = new WssLines(`wss://127.0.0.1:${httpAddr.port}/ws`, ca);
  await within(client.opened, "the wss handshake");
  const welcome = await client.nextMatching(/^\* welcome to /);
  client.nick = /, (\S+)$/.exec(welcome)![1];
  return client;
}

/** The SHA-256 fingerprint of the certificate a new TLS connection is served. */
export function servedFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.on("error", reject);
  });
}

/** An in-process TLS chat server (both ports) serving `pair`. */
export async function chatServing(pair: TestPair) {
  const server = serveChat({ ...LOOPBACK, httpPort: 0, tls: { cert: pair.cert, key: pair.key } });
  await server.ready;
  return server;
}
