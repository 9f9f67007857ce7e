import { deepEqual, equal } from "node:assert/strict";
import type { StreamConn } from "../lib/net/conn.ts";
import { TlsAcceptor } from "../lib/net/tls_acceptor.ts";
import type { LogEvent } from "../lib/support/log.ts";
import { testCertificates, tlsTest } from "./tls_helpers.ts";
import { clientHello, inRecords } from "./tls_hellos.ts";

/**
 * A connection that hands out `input` one byte per read, then the end of
 * stream; it keeps what is written to it.
 */
class ByteByByteConn implements StreamConn {
  readonly remoteAddr: Deno.NetAddr = { transport: "tcp", hostname: "192.0.2.1", port: 4000 };
  readonly written: number[] = [];
  reads = 0;
  closed = false;
  #at = 0;
  constructor(readonly input: Uint8Array) {}
  read(buffer: Uint8Array): Promise<number | null> {
    if (this.closed) return Promise.reject(new Deno.errors.BadResource("closed"));
    this.reads++;
    if (this.#at >= this.input.length) return Promise.resolve(null);
    buffer[0] = this.input[this.#at++];
    return Promise.resolve(1);
  }
  write(bytes: Uint8Array): Promise<number> {
    if (this.closed) return Promise.reject(new Deno.errors.BadResource("closed"));
    this.written.push(...bytes);
    return Promise.resolve(bytes.length);
  }
  closeWrite(): Promise<void> {
    return Promise.resolve();
  }
  close(): void {
    if (this.closed) throw new Deno.errors.BadResource("closed");
    this.closed = true;
  }
}

async function acceptor() {
  const certs = await testCertificates();
  const events: LogEvent[] = [];
  const tls = new TlsAcceptor({
    pair: { cert: certs.server.cert, key: certs.server.key },
    logger: (event) => events.push(event),
  });
  return { tls, events };
}

tlsTest(
  "TlsAcceptor reads a hello over many reads and refuses TLS 1.1 with an alert, never handing it on",
  async () => {
    const { tls, events } = await acceptor();
    const hello = inRecords(
      clientHello({ legacyVersion: 0x0302, versions: null, suites: [0xc013] }),
      16384,
      0x0302,
    );
    const conn = new ByteByByteConn(hello);
    equal(await tls.handshake(conn, "192.0.2.1:4000"), null);
    deepEqual(conn.written, [21, 3, 2, 0, 2, 2, 70]);
    equal(conn.closed, true);
    equal(conn.reads > hello.length, true, "read to the end, one byte at a time");
    deepEqual(events.map((e) => [e.event, e.reason]), [
      ["tls", "client offers at most TLSv1.1 (TLS 1.2 needed)"],
    ]);
    tls.close();
  },
);

tlsTest("TlsAcceptor logs a client that closes mid-hello, and sends it nothing", async () => {
  const { tls, events } = await acceptor();
  const conn = new ByteByByteConn(inRecords(clientHello()).subarray(0, 30));
  equal(await tls.handshake(conn, "192.0.2.1:4000"), null);
  deepEqual(conn.written, []);
  equal(conn.closed, true);
  deepEqual(events.map((e) => e.reason), ["closed during the tls client hello"]);
  tls.close();
});
