import { deepEqual, equal } from "node:assert/strict";
import type { StreamConn } from "../lib/net/conn.ts";
import { shutWithin } from "../lib/net/lingering_close.ts";

/** A connection that records what is done to it. */
function recorder(closeWrite: () => Promise<void> = () => Promise.resolve()) {
  const calls: string[] = [];
  const conn: StreamConn = {
    remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
    read: () => new Promise(() => {}),
    write: (bytes) => Promise.resolve(bytes.length),
    closeWrite: () => {
      calls.push("closeWrite");
      return closeWrite();
    },
    close: () => void calls.push("close"),
  };
  return { conn, calls };
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("shutWithin() shuts the sending side once `after` settles, and closes at the grace", async () => {
  const { conn, calls } = recorder();
  let drained!: () => void;
  shutWithin(conn, 60, new Promise<void>((resolve) => (drained = resolve)));
  await delay(10);
  deepEqual(calls, []); // what is queued goes first
  drained();
  await delay(10);
  deepEqual(calls, ["closeWrite"]);
  await delay(80);
  deepEqual(calls, ["closeWrite", "close"]); // the peer did not close: forced
});

Deno.test("shutWithin() closes at once when shutting fails, and its cancel stops the forced close", async () => {
  const failing = recorder(() => Promise.reject(new Deno.errors.NotConnected()));
  const cancel = shutWithin(failing.conn, 10_000);
  await delay(0);
  deepEqual(failing.calls, ["closeWrite", "close"]);
  cancel(); // the op sanitizer would report the timer otherwise
  const { conn, calls } = recorder();
  shutWithin(conn, -5)(); // a negative grace is no grace; cancelled before it fires
  await delay(20);
  equal(calls.filter((call) => call === "close").length, 0);
});
