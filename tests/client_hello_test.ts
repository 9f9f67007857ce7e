import { deepEqual, equal } from "node:assert/strict";
import {
  alertRecord,
  ClientHelloReader,
  type HelloVerdict,
  isSslv2Hello,
  MAX_CLIENT_HELLO_RAW_BYTES,
  TlsAlert,
} from "../lib/net/client_hello.ts";
import { clientHello, type HelloSpec, inRecords, sslv2Hello } from "./tls_hellos.ts";

/** Feeds `bytes` whole, then one byte at a time; both must agree; returns the verdict. */
function verdictOf(bytes: Uint8Array): HelloVerdict & { record: number[] } {
  const whole = new ClientHelloReader();
  const verdict = whole.push(bytes);
  const byByte = new ClientHelloReader();
  let last: HelloVerdict = { kind: "more" };
  for (let i = 0; i < bytes.length; i++) {
    const step = byByte.push(bytes.subarray(i, i + 1));
    // Once decided, the verdict never changes.
    if (last.kind !== "more") deepEqual(step, last);
    last = step;
  }
  deepEqual(last, verdict);
  deepEqual([...byByte.alert()], [...whole.alert()]);
  return { ...verdict, record: [...whole.alert()] };
}

const hello = (spec: HelloSpec = {}) => inRecords(clientHello(spec));

const pure = (name: string, fn: () => void) => Deno.test({ name, permissions: "none", fn });

pure("ClientHelloReader accepts TLS 1.3 and TLS 1.2 AEAD hellos, whole and byte by byte", () => {
  equal((verdictOf(hello()) as { version: string }).version, "TLSv1.3");
  equal(verdictOf(hello({ versions: null, suites: [0xc02b] })).kind, "accept");
  equal(
    (verdictOf(hello({ versions: null, suites: [0x002f, 0xcca9] })) as { version: string }).version,
    "TLSv1.2",
  );
  // TLS 1.3 offered with TLS 1.2 suites only: TLS 1.2 is negotiated.
  equal(
    (verdictOf(hello({ versions: [0x0304, 0x0303], suites: [0xc030] })) as { version: string })
      .version,
    "TLSv1.2",
  );
});

pure("ClientHelloReader reassembles a hello split over several records", () => {
  const body = clientHello({ padding: 3000 });
  for (const size of [1, 7, 100, 1000]) {
    equal(verdictOf(inRecords(body, size)).kind, "accept", `records of ${size}`);
  }
});

pure(
  "ClientHelloReader refuses SSLv3, TLS 1.0 and 1.1 with protocol_version in their record version",
  () => {
    for (const version of [0x0300, 0x0301, 0x0302]) {
      const bytes = inRecords(
        clientHello({ legacyVersion: version, versions: null, suites: [0xc02b] }),
        16384,
        version,
      );
      const verdict = verdictOf(bytes);
      equal(verdict.kind, "refuse");
      deepEqual(verdict.record, [21, 3, version & 0xff, 0, 2, 2, TlsAlert.protocolVersion]);
    }
    // supported_versions rules over the legacy field.
    const verdict = verdictOf(hello({ versions: [0x0302, 0x0301], suites: [0xc02b] }));
    equal(
      verdict.kind === "refuse" && verdict.reason,
      "client offers at most TLSv1.1 (TLS 1.2 needed)",
    );
  },
);

pure(
  "ClientHelloReader refuses a TLS 1.2 hello with only CBC, RC4 and 3DES suites (handshake_failure)",
  () => {
    // AES128-SHA, ECDHE-RSA-AES128-SHA, RC4-SHA, DES-CBC3-SHA, ECDHE-ECDSA-AES128-SHA256.
    const suites = [0x002f, 0xc013, 0x0005, 0x000a, 0xc023];
    for (const versions of [null, [0x0303]]) {
      const verdict = verdictOf(hello({ versions, suites }));
      equal(verdict.kind, "refuse");
      equal(verdict.record[6], TlsAlert.handshakeFailure);
    }
    // TLS 1.3 offered, but no TLS 1.3 suite and no AEAD TLS 1.2 suite.
    equal(
      verdictOf(hello({ versions: [0x0304], suites: [0x002f] })).record[6],
      TlsAlert.handshakeFailure,
    );
  },
);

pure("ClientHelloReader refuses malformed records and garbage after a record header", () => {
  const cases: [number[], number][] = [
    [[22, 3, 1, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff], TlsAlert.unexpectedMessage], // not a client_hello
    [[22, 3, 1, 0, 0], TlsAlert.decodeError], // empty record
    [[23, 3, 1, 0, 1, 0], TlsAlert.unexpectedMessage], // application data first
    [[22, 4, 0, 0, 1, 1], TlsAlert.protocolVersion], // record version 4.0
    [[22, 3, 1, 0x40, 0x01, 1], TlsAlert.recordOverflow], // 16385 bytes
    [[22, 3, 1, 0, 4, 1, 0, 0x50, 0], TlsAlert.decodeError], // a 20 KiB hello
    [[22, 3, 1, 0, 8, 1, 0, 0, 4, 3, 3, 0, 0], TlsAlert.decodeError], // truncated fields
  ];
  for (const [bytes, alert] of cases) {
    const verdict = verdictOf(new Uint8Array(bytes));
    equal(verdict.kind, "refuse", JSON.stringify(bytes));
    equal(verdict.record[6], alert, JSON.stringify(bytes));
  }
});

pure("ClientHelloReader refuses malformed hello fields", () => {
  const cases: [HelloSpec, number, RegExp][] = [
    [{ sessionIdLength: 33 }, TlsAlert.decodeError, /session id/],
    [{ suites: [] }, TlsAlert.decodeError, /cipher suites/],
    [{ oddSuites: true }, TlsAlert.decodeError, /cipher suites/],
    [{ compression: [1] }, TlsAlert.illegalParameter, /null compression/],
    [{ repeatExtension: true }, TlsAlert.decodeError, /repeated/],
    [{ extensionsOverrun: true }, TlsAlert.decodeError, /extension/],
    [{ trailing: 1 }, TlsAlert.decodeError, /extensions length/],
    [{ versionsRaw: [3, 3, 4] }, TlsAlert.decodeError, /supported_versions/],
  ];
  for (const [spec, alert, reason] of cases) {
    const verdict = verdictOf(hello(spec));
    equal(verdict.kind, "refuse", JSON.stringify(spec));
    equal(verdict.record[6], alert, JSON.stringify(spec));
    equal(verdict.kind === "refuse" && reason.test(verdict.reason), true, JSON.stringify(spec));
  }
});

pure(
  "ClientHelloReader refuses data after the hello in its record, and says more for a prefix",
  () => {
    const body = clientHello();
    const withExtra = new Uint8Array(body.length + 1);
    withExtra.set(body);
    equal(verdictOf(inRecords(withExtra)).record[6], TlsAlert.unexpectedMessage);
    const whole = hello();
    const reader = new ClientHelloReader();
    equal(reader.push(whole.subarray(0, whole.length - 1)).kind, "more");
    equal(reader.push(whole.subarray(whole.length - 1)).kind, "accept");
    // Bytes after a judged hello (a TLS 1.3 change_cipher_spec) change nothing.
    equal(reader.push(new Uint8Array([20, 3, 3, 0, 1, 1])).kind, "accept");
  },
);

pure("ClientHelloReader bounds the bytes read for a hello", () => {
  // One-byte records of a hello that never ends: refused past the bound, never buffered whole.
  const reader = new ClientHelloReader();
  let verdict = reader.push(new Uint8Array([22, 3, 1, 0, 4, 1, 0, 0x3f, 0xf0]));
  let sent = 9;
  while (verdict.kind === "more" && sent < 2 * MAX_CLIENT_HELLO_RAW_BYTES) {
    verdict = reader.push(new Uint8Array([22, 3, 1, 0, 1, 0]));
    sent += 6;
  }
  equal(verdict.kind, "refuse");
  equal(verdict.kind === "refuse" && /too large/.test(verdict.reason), true);
  equal(sent > MAX_CLIENT_HELLO_RAW_BYTES && sent <= MAX_CLIENT_HELLO_RAW_BYTES + 6, true);
});

pure("isSslv2Hello() and alertRecord()", () => {
  equal(isSslv2Hello(sslv2Hello()), true);
  equal(isSslv2Hello(hello()), false);
  equal(isSslv2Hello(new TextEncoder().encode("GET / HTTP/1.1\r\n")), false);
  deepEqual([...alertRecord(TlsAlert.decodeError)], [21, 3, 1, 0, 2, 2, 50]);
});
