/**
 * An RFC 862 UDP echo server: every datagram goes back to its sender
 * unchanged, empty ones included (an empty datagram is a valid probe and
 * gets an empty reply), up to the UDP maximum of 65,507 bytes.
 *
 * Receives use `sock.receive(buffer)` into a small ring of reused buffers:
 * a send is not awaited before the next receive, but a buffer is reused
 * only after its send has completed (Deno's `send` reads the buffer while
 * in flight, it does not copy it). A failed send to one peer is counted
 * and never stops the server.
 *
 * @module
 */

import { DEFAULT_HOST, DEFAULT_UDP_PORT, MAX_UDP_PAYLOAD } from "../support/constants.ts";
import { type Logger, silentLogger } from "../support/log.ts";
import { closeQuietly, formatAddr } from "../net/conn.ts";

/** Options of {@linkcode serveUdpEcho}. */
export interface ServeUdpEchoOptions {
  /** Interface to listen on. @default {"0.0.0.0"} */
  hostname?: string;
  /** UDP port; 0 picks a free one (read it back from `addr`). @default {7879} */
  port?: number;
  /** Receives `listen`, `error` and `shutdown` events. @default {silent} */
  logger?: Logger;
}

/** What a UDP echo server has done. */
export interface UdpEchoCounters {
  datagrams: number;
  bytes: number;
  errors: number;
}

/** A running UDP echo server. */
export interface UdpEchoServer extends AsyncDisposable {
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
  /** Counters so far (datagrams and bytes echoed, failed sends). */
  readonly counters: Readonly<UdpEchoCounters>;
  shutdown(): Promise<void>;
}

/** Buffers in the receive ring: sends in flight at once. */
const RING_SIZE = 8;

/**
 * Starts a UDP echo server.
 *
 * @example
 * ```ts ignore
 * await using server = serveUdpEcho({ hostname: "127.0.0.1", port: 0 });
 * console.log(server.addr.port, server.counters.datagrams);
 * ```
 */
export function serveUdpEcho(options: ServeUdpEchoOptions = {}): UdpEchoServer {
  const log = options.logger ?? silentLogger;
  const socket = Deno.listenDatagram({
    hostname: options.hostname ?? DEFAULT_HOST,
    port: options.port ?? DEFAULT_UDP_PORT,
    transport: "udp",
  });
  const addr = socket.addr as Deno.NetAddr;
  log({ event: "listen", addr: formatAddr(addr), transport: "udp" });
  const counters: UdpEchoCounters = { datagrams: 0, bytes: 0, errors: 0 };
  let stopping = false;
  const ring = Array.from({ length: RING_SIZE }, () => ({
    buffer: new Uint8Array(MAX_UDP_PAYLOAD + 1),
    sending: null as Promise<void> | null,
  }));

  const finished = (async () => {
    let next = 0;
    try {
      while (!stopping) {
        const slot = ring[next];
        next = (next + 1) % RING_SIZE;
        if (slot.sending !== null) await slot.sending;
        let datagram: Uint8Array;
        let peer: Deno.Addr;
        try {
          [datagram, peer] = await socket.receive(slot.buffer);
        } catch (error) {
          if (stopping || error instanceof Deno.errors.BadResource) break;
          counters.errors++; // e.g. an ICMP error reported for an earlier send
          continue;
        }
        counters.datagrams++;
        counters.bytes += datagram.length;
        slot.sending = socket.send(datagram, peer).then(
          () => {},
          (error) => {
            counters.errors++;
            log({
              event: "error",
              peer: formatAddr(peer as Deno.NetAddr),
              reason: `send failed: ${error}`,
            });
          },
        );
      }
    } finally {
      await Promise.all(ring.map((slot) => slot.sending));
      closeQuietly(socket);
    }
  })();

  const shutdown = () => {
    if (!stopping) {
      stopping = true;
      log({ event: "shutdown", ...counters });
      closeQuietly(socket);
    }
    return finished;
  };
  return { addr, finished, counters, shutdown, [Symbol.asyncDispose]: shutdown };
}
